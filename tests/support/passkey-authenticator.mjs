// A software authenticator for the HTTP tests: it answers the edge's WebAuthn options the way a
// browser and an ES256 authenticator do (real keys, real signatures, CBOR as CTAP2 writes it),
// and lets a test forge any part of a response. Chromium's virtual authenticator covers the real
// browser path (tests/passkeys-browser.test.mjs); this one reaches the negatives a browser never
// sends.
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";

const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
const sha256 = (bytes) => createHash("sha256").update(bytes).digest();

/** CBOR for the few types WebAuthn uses: unsigned and negative integers, bytes, text, maps. */
export function cbor(value) {
  const head = (major, n) => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
    if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
    const b = Buffer.alloc(5);
    b[0] = (major << 5) | 26;
    b.writeUInt32BE(n, 1);
    return b;
  };
  if (typeof value === "number") return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === "string") return Buffer.concat([head(3, Buffer.byteLength(value)), Buffer.from(value)]);
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.concat([head(2, value.length), Buffer.from(value)]);
  if (value instanceof Map) {
    return Buffer.concat([head(5, value.size), ...[...value].flatMap(([k, v]) => [cbor(k), cbor(v)])]);
  }
  throw new Error(`cannot encode ${typeof value}`);
}

export const FLAGS = { UP: 0x01, UV: 0x04, BE: 0x08, BS: 0x10, AT: 0x40 };

export class SoftAuthenticator {
  constructor({ rpId = "localhost", synced = true } = {}) {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.privateKey = privateKey;
    this.jwk = publicKey.export({ format: "jwk" });
    this.credentialId = randomBytes(16);
    this.rpId = rpId;
    this.synced = synced;
    this.signCount = 0;
    this.userHandle = undefined;
  }

  get id() {
    return b64url(this.credentialId);
  }

  /** The credential's public key as a COSE_Key (EC2, P-256, ES256). */
  coseKey() {
    return cbor(new Map([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(this.jwk.x, "base64url")], [-3, Buffer.from(this.jwk.y, "base64url")]]));
  }

  flags(extra = 0) {
    return FLAGS.UP | FLAGS.UV | (this.synced ? FLAGS.BE : 0) | extra;
  }

  authData({ flags, signCount, rpId = this.rpId, attested = false }) {
    const head = Buffer.alloc(37);
    sha256(rpId).copy(head, 0);
    head[32] = flags;
    head.writeUInt32BE(signCount >>> 0, 33);
    if (!attested) return head;
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(this.credentialId.length);
    return Buffer.concat([head, Buffer.alloc(16), idLength, this.credentialId, this.coseKey()]);
  }

  static clientData({ type, challenge, origin, extra = {} }) {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false, ...extra }));
  }

  /** A registration for `publicKey` (creation options), as `PublicKeyCredential.toJSON()` gives it. */
  create(publicKey, { origin, type = "webauthn.create", challenge = publicKey.challenge, flags = this.flags(FLAGS.AT), rpId } = {}) {
    this.userHandle = Buffer.from(publicKey.user.id, "base64url");
    const clientDataJSON = SoftAuthenticator.clientData({ type, challenge, origin });
    const authData = this.authData({ flags: flags | FLAGS.AT, signCount: 0, rpId, attested: true });
    const attestationObject = cbor(new Map([["fmt", "none"], ["attStmt", new Map()], ["authData", authData]]));
    return {
      id: this.id,
      rawId: this.id,
      type: "public-key",
      response: { clientDataJSON: b64url(clientDataJSON), attestationObject: b64url(attestationObject), transports: ["internal"] },
      authenticatorAttachment: "platform",
      clientExtensionResults: {},
    };
  }

  /** An assertion for `publicKey` (request options); each part may be forged. */
  get(publicKey, { origin, type = "webauthn.get", challenge = publicKey.challenge, flags = this.flags(), rpId, signCount = ++this.signCount, signOver, userHandle = this.userHandle } = {}) {
    const clientDataJSON = SoftAuthenticator.clientData({ type, challenge, origin });
    const authenticatorData = this.authData({ flags, signCount, rpId });
    const message = signOver ?? Buffer.concat([authenticatorData, sha256(clientDataJSON)]);
    const signature = sign("sha256", message, this.privateKey);
    return {
      id: this.id,
      rawId: this.id,
      type: "public-key",
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authenticatorData),
        signature: b64url(signature),
        ...(userHandle ? { userHandle: b64url(userHandle) } : {}),
      },
      authenticatorAttachment: "platform",
      clientExtensionResults: {},
    };
  }
}

// A token issuer for tests: real key pairs (ES256, RS256, EdDSA) made with `jose`, a JWKS server
// on 127.0.0.1 that can rotate keys, fail on demand and count its fetches, and a signer that can
// also forge the bad tokens the negative tests need.
import http from "node:http";
import { randomUUID } from "node:crypto";
import { SignJWT, exportJWK, generateKeyPair, base64url } from "jose";

export const ALGORITHMS = ["ES256", "RS256", "EdDSA"];

async function makeKey(alg, kid) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === "EdDSA" ? { crv: "Ed25519" } : {}) });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg };
  return { alg, kid, publicKey, privateKey, publicJwk, privateJwk };
}

export async function startIssuer() {
  const keys = [];
  for (const alg of ALGORITHMS) keys.push(await makeKey(alg, `${alg.toLowerCase()}-1`));
  const state = { failing: false, fetches: 0, cacheControl: "max-age=600" };
  const server = http.createServer((req, res) => {
    if (req.url !== "/jwks.json") {
      res.writeHead(404).end();
      return;
    }
    state.fetches += 1;
    if (state.failing) {
      res.writeHead(503, { "content-type": "text/plain" }).end("down");
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "cache-control": state.cacheControl });
    res.end(JSON.stringify({ keys: keys.map((k) => k.publicJwk) }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  const issuer = `${url}/`;

  const keyFor = (alg) => keys.findLast((k) => k.alg === alg);
  return {
    issuer,
    jwksUrl: `${url}/jwks.json`,
    state,
    keys,
    keyFor,
    /** A correctly signed token; `claims` and `header` override the defaults. */
    async sign(alg, { claims = {}, header = {}, key = keyFor(alg), expiresIn = 300 } = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ sub: "user-42", email: "ada@example.com", groups: ["admins", "billing"], scope: "read write", tenant: "acme", ...claims })
        .setProtectedHeader({ alg, kid: key.kid, typ: "JWT", ...header })
        .setIssuer(claims.iss ?? issuer)
        .setAudience(claims.aud ?? "api://portcullis")
        .setIssuedAt(claims.iat ?? now)
        .setExpirationTime(claims.exp ?? now + expiresIn)
        .sign(key.privateKey);
    },
    /** Adds a new key for `alg` (the old one stays published), and returns it. */
    async rotate(alg) {
      const key = await makeKey(alg, `${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`);
      keys.push(key);
      return key;
    },
    /** A key the issuer does not publish, with a kid it does: for forged signatures. */
    async attackerKey(alg) {
      return makeKey(alg, keyFor(alg).kid);
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Signs arbitrary header and claims with WebCrypto, for tokens `jose` refuses to make. */
export async function signRaw(header, claims, key) {
  const enc = (value) => base64url.encode(JSON.stringify(value));
  const input = `${enc(header)}.${enc(claims)}`;
  const params = { ES256: { name: "ECDSA", hash: "SHA-256" }, RS256: { name: "RSASSA-PKCS1-v1_5" }, EdDSA: { name: "Ed25519" } }[key.alg];
  const signature = await crypto.subtle.sign(params, key.privateKey, new TextEncoder().encode(input));
  return `${input}.${base64url.encode(new Uint8Array(signature))}`;
}

/** Builds a compact JWS from raw parts, for tokens no library would sign. */
export function rawToken(header, claims, signature = new Uint8Array()) {
  const enc = (value) => base64url.encode(typeof value === "string" ? value : JSON.stringify(value));
  return `${enc(header)}.${enc(claims)}.${base64url.encode(signature)}`;
}

// Signing keys, their JWKS and bearer tokens for the JWT scenarios, made fresh on every run with
// `jose`. Both contenders verify the same tokens against the same public keys.
import { SignJWT, exportJWK, generateKeyPair } from "jose";

export const ISSUER = "https://issuer.bench.invalid";
export const AUDIENCE = "portcullis-bench";
export const SUBJECT = "bench-user";
export const ALGORITHMS = ["ES256", "RS256", "EdDSA"];

/** Returns { jwks, tokens: { ES256, RS256, EdDSA } }; tokens are valid for `validForS` seconds. */
export async function makeJwtMaterial({ validForS = 3600 } = {}) {
  const keys = [];
  const tokens = {};
  for (const alg of ALGORITHMS) {
    // EdDSA here means Ed25519, the only EdDSA curve Workers' WebCrypto implements.
    const options = alg === "EdDSA" ? { crv: "Ed25519" } : { modulusLength: 2048 };
    const { publicKey, privateKey } = await generateKeyPair(alg, options);
    const kid = `bench-${alg.toLowerCase()}`;
    keys.push({ ...(await exportJWK(publicKey)), kid, alg, use: "sig" });
    tokens[alg] = await new SignJWT({ scope: "bench:read" })
      .setProtectedHeader({ alg, kid, typ: "JWT" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(SUBJECT)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + validForS)
      .sign(privateKey);
  }
  return { jwks: { keys }, tokens };
}

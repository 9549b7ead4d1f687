// How an origin verifies Portcullis's identity assertion (this is the code the README shows).
// Checks: signature against the gateway's JWKS, typ, issuer, audience, lifetime, the method and
// path it was issued for, and that its jti was not seen before (replay).
import { createRemoteJWKSet, jwtVerify } from "jose";

export function assertionVerifier({ jwksUrl, audience, issuer = "portcullis" }) {
  const jwks = createRemoteJWKSet(new URL(jwksUrl));
  const seen = new Map(); // jti -> exp; a real origin would share this (e.g. Redis SET NX EX)
  return async function verify(token, { method, path }) {
    const { payload } = await jwtVerify(token, jwks, {
      issuer,
      audience,
      typ: "portcullis+jwt",
      algorithms: ["ES256", "EdDSA"],
      maxTokenAge: "60s",
    });
    if (payload.htm !== method) throw new Error(`assertion was issued for ${payload.htm}, not ${method}`);
    if (new URL(payload.htu).pathname !== path) throw new Error(`assertion was issued for ${payload.htu}, not ${path}`);
    const now = Math.floor(Date.now() / 1000);
    for (const [jti, exp] of seen) if (exp < now) seen.delete(jti);
    if (seen.has(payload.jti)) throw new Error("assertion replayed");
    seen.set(payload.jti, payload.exp);
    return payload;
  };
}

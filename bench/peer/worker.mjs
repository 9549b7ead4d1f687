// COMPARISON ONLY — NOT PORTCULLIS PRODUCT CODE.
//
// The "jose peer" of the benchmark (bench/run.mjs): the JWT gateway a team might write in a few
// lines of JavaScript with the `jose` library, run in the same workerd as Portcullis, so that
// Portcullis's JWT rows have a point of comparison. It is deliberately minimal: it does what a
// JWT-verifying proxy must do and nothing more (no audit log, no signed identity assertion for the
// origin, no security headers, no request id, no size limits or path checks, none of Portcullis's
// edge guard).
//
// Routes: /es256/*, /rs256/* and /eddsa/* each accept exactly one algorithm (config decides trust,
// never the token). The token must verify against the JWKS at JWKS_URL (fetched once, then cached
// by jose, as Portcullis caches it) and carry the configured iss and aud; the request is then
// forwarded to ORIGIN with the subject in X-Auth-Subject. Anything else gets 401.
import { createRemoteJWKSet, jwtVerify } from "jose";

const ROUTE_ALGORITHMS = { es256: "ES256", rs256: "RS256", eddsa: "EdDSA" };

// Built once per isolate: jose caches the fetched JWKS and the imported CryptoKeys inside it.
let keySet;

function unauthenticated() {
  return Response.json({ error: "unauthenticated" }, { status: 401, headers: { "www-authenticate": 'Bearer realm="peer"' } });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const algorithm = ROUTE_ALGORITHMS[url.pathname.split("/")[1]];
    if (!algorithm) return Response.json({ error: "no_route" }, { status: 404 });

    const match = /^Bearer ([A-Za-z0-9_.-]+)$/.exec(request.headers.get("authorization") ?? "");
    if (!match) return unauthenticated();
    keySet ??= createRemoteJWKSet(new URL(env.JWKS_URL));
    let payload;
    try {
      ({ payload } = await jwtVerify(match[1], keySet, { algorithms: [algorithm], issuer: env.ISSUER, audience: env.AUDIENCE }));
    } catch {
      return unauthenticated();
    }

    const headers = new Headers(request.headers);
    for (const name of [...headers.keys()]) if (name.startsWith("x-auth-")) headers.delete(name);
    headers.delete("authorization");
    headers.set("x-auth-subject", String(payload.sub ?? ""));
    headers.set("x-forwarded-for", request.headers.get("cf-connecting-ip") ?? "");
    const target = new URL(url.pathname + url.search, env.ORIGIN);
    return fetch(target, { method: request.method, headers, body: request.body, redirect: "manual" });
  },
};

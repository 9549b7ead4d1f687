// COMPARISON ONLY — NOT PORTCULLIS PRODUCT CODE.
//
// The JavaScript peers of the benchmark (bench/run.mjs), run in the same workerd as Portcullis so
// that its rows have points of comparison. Three kinds of route:
//
// - /pass/*: a plain JavaScript passthrough, `fetch(origin, request)` and nothing else: the
//   runtime's ceiling for a worker in this setup.
// - /es256/*, /rs256/*, /eddsa/*: the "jose peer", the JWT gateway a team might write in a few
//   lines with `jose`. Deliberately minimal: it verifies and forwards (no audit log, no signed
//   identity assertion, no security headers, no request id, none of Portcullis's edge guard).
// - /full-es256/*, /full-rs256/*, /full-eddsa/*: the "equal-work peer": the same verification,
//   then what Portcullis also does on an authenticated request: strip inbound identity headers,
//   sign an ES256 identity assertion for the origin (with Portcullis's claim set), add the
//   identity headers and a request id, and log one JSON line per request.
//
// Each JWT route accepts exactly one algorithm (config decides trust, never the token). The token
// must verify against the JWKS at JWKS_URL (fetched once, then cached by jose, as Portcullis
// caches it) and carry the configured iss and aud. Anything else gets 401.
import { SignJWT, createRemoteJWKSet, importJWK, jwtVerify } from "jose";

const ROUTE_ALGORITHMS = { es256: "ES256", rs256: "RS256", eddsa: "EdDSA" };

// Built once per isolate: jose caches the fetched JWKS and the imported CryptoKeys inside it.
let keySet;
// The equal-work peer's assertion key, imported once per isolate.
let assertionKey;

function unauthenticated() {
  return Response.json({ error: "unauthenticated" }, { status: 401, headers: { "www-authenticate": 'Bearer realm="peer"' } });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const first = url.pathname.split("/")[1];
    if (first === "pass") return fetch(new URL(url.pathname + url.search, env.ORIGIN), request);
    const equalWork = first.startsWith("full-");
    const algorithm = ROUTE_ALGORITHMS[equalWork ? first.slice(5) : first];
    if (!algorithm) return Response.json({ error: "no_route" }, { status: 404 });
    if (equalWork) return equalWorkGateway(request, env, url, algorithm);

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

/** The equal-work peer: verification, then the assertion, the headers and the log line. */
async function equalWorkGateway(request, env, url, algorithm) {
  const started = Date.now();
  const requestId = crypto.randomUUID().replaceAll("-", "");
  const log = (decision, status, reason, subject) =>
    console.log(JSON.stringify({ ts_ms: started, request_id: requestId, method: request.method, host: url.host, path: url.pathname,
      route: `full-${algorithm.toLowerCase()}`, decision, reason, status, principal: subject ?? null, auth_method: "jwt",
      client_ip: request.headers.get("cf-connecting-ip"), duration_ms: Date.now() - started }));
  const match = /^Bearer ([A-Za-z0-9_.-]+)$/.exec(request.headers.get("authorization") ?? "");
  if (!match) {
    log("deny", 401, "unauthenticated");
    return unauthenticated();
  }
  keySet ??= createRemoteJWKSet(new URL(env.JWKS_URL));
  let payload;
  try {
    ({ payload } = await jwtVerify(match[1], keySet, { algorithms: [algorithm], issuer: env.ISSUER, audience: env.AUDIENCE }));
  } catch {
    log("deny", 401, "invalid_token");
    return unauthenticated();
  }
  assertionKey ??= await importJWK(JSON.parse(env.ASSERTION_JWK), "ES256");
  const now = Math.floor(started / 1000);
  const target = new URL(url.pathname + url.search, env.ORIGIN);
  const assertion = await new SignJWT({
    htm: request.method, htu: `${url.origin}${url.pathname}`, auth_method: "jwt", groups: [], roles: [],
    scope: String(payload.scope ?? ""), rid: requestId, route: `full-${algorithm.toLowerCase()}`, idp: payload.iss,
  })
    .setProtectedHeader({ alg: "ES256", kid: "peer-assertion", typ: "JWT" })
    .setIssuer("https://peer.bench.invalid")
    .setAudience(target.origin)
    .setSubject(String(payload.sub ?? ""))
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .setJti(crypto.randomUUID())
    .sign(assertionKey);

  const headers = new Headers(request.headers);
  for (const name of [...headers.keys()]) if (name.startsWith("x-auth-") || name.startsWith("x-portcullis-")) headers.delete(name);
  headers.delete("authorization");
  headers.set("x-auth-subject", String(payload.sub ?? ""));
  headers.set("x-auth-issuer", String(payload.iss ?? ""));
  headers.set("x-auth-method", "jwt");
  headers.set("x-portcullis-assertion", assertion);
  headers.set("x-request-id", requestId);
  headers.set("x-forwarded-for", request.headers.get("cf-connecting-ip") ?? "");
  const response = await fetch(target, { method: request.method, headers, body: request.body, redirect: "manual" });
  log("allow", response.status, "authenticated", payload.sub);
  return response;
}

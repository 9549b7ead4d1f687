// What the benchmark measures: one entry per table row.
//
//   id, label   stable id (JSON, --only) and the table's label
//   gateway     "origin" (wrk straight at the bench origin), "portcullis" or "peer" (the jose peer)
//   path        the request path; headers: the request's headers (the credential, if any)
//   config      Portcullis only: merged into baseConfig() to make this instance's PORTCULLIS_CONFIG
//   seed(mf)    Portcullis only, optional: puts state (KV, ...) in place before the probe
//   credential  true when `headers` carry a credential: the probe then also checks that the same
//               request without it is refused, so an open route cannot pass for a verifier
//   peer        the id of the JavaScript peer row to compare with (the table's "vs peer"): the
//               plain JS passthrough for passthrough, the plain jose peer for the JWT rows
//   equal       the id of the equal-work peer row (verify, sign an assertion, strip headers, log
//               a line: the table's "vs equal")
//   reference   the id of another row to compare with, in a note under the table
//
// A Portcullis row whose probe does not get the origin's 200 is reported as "not built", with the
// gateway's own reason (its error code, and the configuration problem when there is one). Nothing
// here needs changing when a feature lands, except to make its `config` match the format it
// finally got in README.md, "Configuration".
import { createCipheriv, createHash, createHmac, randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";

/** The part of PORTCULLIS_CONFIG every Portcullis row shares. */
function baseConfig(ctx) {
  return { environment: "development", origin: ctx.originUrl };
}

// ─── Portcullis configuration for features being built ────────────────────────────────────────
// The one place to edit as authentication features land. Each function returns the config for
// one row. Until the gateway accepts a config, its row prints "not built" (today: 503
// config_invalid, "unknown field"), so a guess here can never produce a number. JWT follows the
// `jwt` section as built in src/authn/jwt/issuer.rs; the others are the expected shapes.

/** Bearer JWT: one trusted issuer accepting one algorithm, keys from the bench JWKS URL (the
 *  peer fetches the same URL, so both verify with cached keys). */
function jwtSection(ctx, alg) {
  return { issuers: [{ issuer: ctx.issuer, audiences: [ctx.audience], jwks_url: ctx.jwksUrl, algorithms: [alg] }] };
}
function jwtConfig(ctx, alg, routeId, extra = {}) {
  return { jwt: { ...jwtSection(ctx, alg), ...extra }, routes: [{ id: routeId, path: `/${routeId}/*`, policy: "authenticated" }] };
}

/** A valid API key in Portcullis's format (`<prefix>_<id>_<secret><crc32 base62>`), and its KV
 *  record as the management API would store it (hashed with the development pepper, since the
 *  bench runs with environment "development" and no pepper secret). */
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const DEVELOPMENT_PEPPER = "portcullis-development-pepper, not a secret";
export function benchApiKey() {
  const id = "BenchKey0001";
  const secret = "BenchSecretBenchSecret42";
  const body = `pk_test_${id}_${secret}`;
  let value = crc32(Buffer.from(body));
  let sum = "";
  for (let i = 0; i < 6; i++) {
    sum = BASE62[value % 62] + sum;
    value = Math.floor(value / 62);
  }
  return { key: body + sum, id, secret };
}
function apiKeyConfig() {
  return { api_keys: { prefix: "pk_test", header: "x-api-key" }, routes: [{ id: "apikey", path: "/apikey/*", policy: "authenticated" }] };
}
async function seedApiKey(mf, ctx) {
  const { id, secret } = benchApiKey();
  const hash = createHmac("sha256", DEVELOPMENT_PEPPER).update(`${id}:${secret}`).digest("base64url");
  const record = { id, hash, name: null, owner: ctx.subject, tenant: null, scopes: [], tier: null, created_at_ms: Date.now(),
    expires_at_ms: null, status: "active", valid_until_ms: null, rotated_to: null };
  const kv = await mf.getKVNamespace("PORTCULLIS_KV");
  await kv.put(`apikey:${id}`, JSON.stringify(record));
}

/** A browser session as `/auth/callback` would leave it: a login section (its provider is never
 *  called: the bench does not log in), and a record sealed the way src/session/mod.rs seals it
 *  (AES-256-GCM under the cookie's key, the KV key as associated data) under
 *  `session:<base64url(SHA-256(id))>`. `cacheTtlS` 0 makes every request read KV and the
 *  revocation Durable Object. */
function sessionConfig(ctx, routeId, cacheTtlS) {
  return {
    login: {
      redirect_uri: "http://127.0.0.1:1/auth/callback",
      providers: [{ id: "bench", type: "oidc", issuer: "http://127.0.0.1:1", client_id: "bench", client_secret: "BENCH_CLIENT_SECRET" }],
      session: { cache_ttl_s: cacheTtlS },
    },
    routes: [{ id: routeId, path: `/${routeId}/*`, policy: "authenticated" }],
  };
}
export function benchSession(ctx) {
  const id = Buffer.from(ctx.sessionId, "base64url").subarray(0, 16);
  const key = Buffer.from(ctx.sessionId, "base64url").subarray(16, 48);
  const kvKey = `session:${createHash("sha256").update(id).digest("base64url")}`;
  return { id, key, kvKey, cookie: `__Host-portcullis=${id.toString("base64url")}.${key.toString("base64url")}` };
}
/** The same session as a tenant's directory user: its provider provisions into tenant
 *  "bench", and the record carries the directory id and the roles the tenant's group mappings
 *  granted at login, which the route requires. No request reads D1. */
function directorySessionConfig(ctx) {
  const config = sessionConfig(ctx, "session-directory", 10);
  config.login.providers[0].directory = { tenant: "bench" };
  config.roles = { "bench-role": { tenant_assignable: true } };
  config.routes[0].roles = ["bench-role"];
  return config;
}
async function seedSession(mf, ctx, directory = {}) {
  const { key, kvKey } = benchSession(ctx);
  const now = Date.now();
  const record = {
    subject: ctx.subject, email: "bench@example.com", name: "Bench", groups: [], tenant: null, provider: "bench",
    created_at_s: Math.floor(now / 1000), created_at_ms: now, last_seen_s: Math.floor(now / 1000),
    expires_at_s: Math.floor(now / 1000) + 3600, tokens: null, ...directory,
  };
  const nonce = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  cipher.setAAD(Buffer.from(kvKey));
  const sealed = Buffer.concat([nonce, cipher.update(JSON.stringify(record)), cipher.final(), cipher.getAuthTag()]);
  const kv = await mf.getKVNamespace("PORTCULLIS_KV");
  await kv.put(kvKey, sealed.buffer.slice(sealed.byteOffset, sealed.byteOffset + sealed.byteLength));
}

/** A public route with a per-IP limit far above what the run can reach: it measures the Durable
 *  Object round trip, not 429s. */
function rateLimitConfig() {
  return {
    routes: [{ id: "limited", path: "/limited/*", policy: "public", rate_limits: [{ id: "bench", key: "ip", limit: 1_000_000_000, period_s: 60 }] }],
  };
}

/** An ES256 JWT route among `count` routes (rules), each with its own path and requirements:
 *  the request must be matched among them and its route's requirements evaluated. */
function policyConfig(ctx, count) {
  const routes = Array.from({ length: count - 1 }, (_, i) => ({
    id: `other-${i}`, path: `/other-${i}/:tenant/*`, policy: "authenticated", tenant: "path:tenant", scopes: [`bench:other-${i}`],
  }));
  routes.push({ id: `policy${count}`, path: "/policy/*", policy: "authenticated", scopes: ["bench:read"], claims: [{ claim: "scope", contains: "bench:read" }] });
  return { jwt: jwtSection(ctx, "ES256"), routes };
}
// ─── end of the Portcullis feature configuration ───────────────────────────────────────────────

/** The rows, in table order. `ctx` holds the origin URL, the JWT material and test credentials. */
export function scenarios(ctx) {
  const bearer = (alg) => ({ authorization: `Bearer ${ctx.tokens[alg]}` });
  const jwtRows = ["ES256", "RS256", "EdDSA"].flatMap((alg) => {
    const id = `jwt-${alg.toLowerCase()}`;
    // The uncached rows verify every signature, as the peer does; the others use the
    // verified-token cache (the default), which pays for a repeated token's signature once.
    const uncached = () => jwtConfig(ctx, alg, id, { verified_cache_entries: 0 });
    const equal = `${id}-equal`;
    return [
      { id, label: `JWT ${alg}`, gateway: "portcullis", path: `/${id}/x`, headers: bearer(alg), credential: true, config: jwtConfig(ctx, alg, id), peer: `${id}-peer`, equal },
      { id: `${id}-nocache`, label: `JWT ${alg}, no token cache`, gateway: "portcullis", path: `/${id}/x`, headers: bearer(alg), credential: true, config: uncached(), peer: `${id}-peer`, equal },
      { id: `${id}-peer`, label: `JWT ${alg}`, gateway: "peer", path: `/${alg.toLowerCase()}/x`, headers: bearer(alg), credential: true },
      { id: equal, label: `JWT ${alg}, equal work`, gateway: "peer", path: `/full-${alg.toLowerCase()}/x`, headers: bearer(alg), credential: true },
    ];
  });
  return [
    { id: "origin", label: "origin direct (ceiling)", gateway: "origin", path: "/x" },
    { id: "passthrough", label: "passthrough (public route)", gateway: "portcullis", path: "/pass/x", config: { routes: [{ id: "pass", path: "/pass/*", policy: "public" }] }, peer: "js-passthrough" },
    { id: "js-passthrough", label: "passthrough, plain JS worker", gateway: "peer", path: "/pass/x" },
    ...jwtRows,
    { id: "api-key", label: "API key", gateway: "portcullis", path: "/apikey/x", headers: { "x-api-key": benchApiKey().key }, credential: true, config: apiKeyConfig(), seed: (mf) => seedApiKey(mf, ctx) },
    { id: "session", label: "session cookie", gateway: "portcullis", path: "/session/x", headers: { cookie: benchSession(ctx).cookie }, credential: true, config: sessionConfig(ctx, "session", 10), seed: (mf) => seedSession(mf, ctx) },
    { id: "session-directory", label: "session cookie, directory user", gateway: "portcullis", path: "/session-directory/x", headers: { cookie: benchSession(ctx).cookie }, credential: true, config: directorySessionConfig(ctx),
      seed: (mf) => seedSession(mf, ctx, { tenant: "bench", user_id: "usr_benchbenchbenchbenchbe", directory_roles: ["bench-role"] }), reference: "session" },
    { id: "session-nocache", label: "session cookie, KV + DO read each time", gateway: "portcullis", path: "/session-nocache/x", headers: { cookie: benchSession(ctx).cookie }, credential: true, config: sessionConfig(ctx, "session-nocache", 0), seed: (mf) => seedSession(mf, ctx), reference: "session" },
    { id: "rate-limited", label: "rate-limited route", gateway: "portcullis", path: "/limited/x", config: rateLimitConfig() },
    { id: "policy-10", label: "policy, 10 rules", gateway: "portcullis", path: "/policy/x", headers: bearer("ES256"), credential: true, config: policyConfig(ctx, 10) },
    { id: "policy-1000", label: "policy, 1,000 rules", gateway: "portcullis", path: "/policy/x", headers: bearer("ES256"), credential: true, config: policyConfig(ctx, 1000), reference: "policy-10" },
  ].map((row) => (row.gateway === "portcullis" ? { ...row, config: { ...baseConfig(ctx), ...row.config } } : row));
}

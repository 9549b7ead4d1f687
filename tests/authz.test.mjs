// Authorisation at the edge, end to end: the same principal is allowed on its own tenant and
// refused on another's, for each authenticator kind, and the origin never sees a refusal. Roles
// from IdP groups reach the origin in X-Auth-Roles and the signed assertion.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startGateway } from "./support/gateway.mjs";
import { startOrigin } from "./support/origin.mjs";
import { startIssuer } from "./support/idp-keys.mjs";
import { assertionVerifier } from "./support/assertion-verifier.mjs";
import { createApiKey } from "./support/api-keys.mjs";
import { TEST_ADMIN_KEY, baseConfig, jwtIssuer } from "./support/config.mjs";

let origin;
let idp;
let idp2;
let gateway;

before(async () => {
  origin = await startOrigin();
  idp = await startIssuer();
  idp2 = await startIssuer();
  gateway = await startGateway({
    config: baseConfig(
      origin,
      [
        { id: "tenant-read", path: "/tenants/:tenant/invoices/*", methods: ["GET"], policy: "authenticated", tenant: "path:tenant" },
        { id: "keys-only", path: "/keys-only/*", policy: "authenticated", authenticators: ["api_key"] },
        { id: "idp-only", path: "/idp-only/*", policy: "authenticated", authenticators: [`jwt:${idp.issuer}`] },
        { id: "any-jwt", path: "/any-jwt/*", policy: "authenticated", authenticators: ["jwt"] },
        { id: "keeps-jwt", path: "/keeps-jwt/*", policy: "authenticated", authenticators: ["jwt"], forward_authorization: "keep" },
        { id: "tenant-write", path: "/tenants/:tenant/invoices/*", methods: ["POST"], policy: "authenticated", tenant: "path:tenant", permissions: ["invoices:write"] },
      ],
      {
        api_keys: { prefix: "pk_test" },
        jwt: { issuers: [idp, idp2].map((i) => jwtIssuer(i)) },
        roles: { "billing-admin": { permissions: ["invoices:write"], groups: ["finance"] } },
      },
    ),
    secrets: { PORTCULLIS_ADMIN_KEY: TEST_ADMIN_KEY },
  });
  origin.verifyAssertionsWith(assertionVerifier({ jwksUrl: `${gateway.url}/.well-known/jwks.json`, audience: origin.url }));
});

after(async () => {
  await gateway?.close();
  await idp?.close();
  await idp2?.close();
  await origin?.close();
});

async function apiKeyFor(tenant) {
  return (await createApiKey(gateway.url, { owner: `svc-${tenant}`, tenant })).key;
}

async function call(method, path, headers) {
  const before = origin.requests.length;
  const response = await fetch(`${gateway.url}${path}`, { method, headers });
  const body = await response.text();
  return { status: response.status, body, seen: origin.requests.slice(before) };
}

describe("tenant isolation, for each authenticator", () => {
  const credentials = {
    jwt: async () => ({ authorization: `Bearer ${await idp.sign("ES256", { claims: { tenant: "acme", groups: ["finance"] } })}` }),
    api_key: async () => ({ "x-api-key": await apiKeyFor("acme") }),
  };
  for (const [kind, make] of Object.entries(credentials)) {
    test(`${kind}: its own tenant passes, another tenant's gets 403 tenant_mismatch`, async () => {
      const headers = await make();
      const own = await call("GET", "/tenants/acme/invoices/7", headers);
      assert.equal(own.status, 200);
      assert.equal(own.seen.length, 1);
      for (const path of ["/tenants/globex/invoices/7", "/tenants/ACME/invoices/7", "/tenants/acme/../globex/invoices/7"]) {
        const other = await call("GET", path, headers);
        assert.equal(other.status, 403, path);
        assert.equal(JSON.parse(other.body).error, "tenant_mismatch");
        assert.equal(other.seen.length, 0, `the origin saw nothing for ${path}`);
      }
      const audit = gateway.auditEvents().at(-1);
      assert.equal(audit.route, "tenant-read");
      assert.equal(audit.reason, "tenant_mismatch");
    });
  }

  test("roles from IdP groups grant permissions, and reach the origin", async () => {
    const finance = await idp.sign("ES256", { claims: { tenant: "acme", groups: ["finance"] } });
    const allowed = await call("POST", "/tenants/acme/invoices/7", { authorization: `Bearer ${finance}` });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.seen[0].headers["x-auth-roles"], "billing-admin");
    assert.deepEqual(allowed.seen[0].assertion.claims.roles, ["billing-admin"]);
    const staff = await idp.sign("ES256", { claims: { tenant: "acme", groups: ["staff"] } });
    const refused = await call("POST", "/tenants/acme/invoices/7", { authorization: `Bearer ${staff}` });
    assert.equal(refused.status, 403);
    assert.equal(JSON.parse(refused.body).error, "missing_permission");
    assert.equal(refused.seen.length, 0);
  });

  test("a method override header is refused before any rule sees the request", async () => {
    const headers = { ...(await credentials.jwt()), "x-http-method-override": "POST" };
    const result = await call("GET", "/tenants/acme/invoices/7", headers);
    assert.equal(result.status, 400);
    assert.equal(JSON.parse(result.body).error, "method_override_refused");
    assert.equal(result.seen.length, 0);
  });

  test("so is a _method query parameter, in any case or encoding, which some frameworks read as the method", async () => {
    const headers = await credentials.jwt();
    for (const query of ["_method=POST", "a=1&%5Fmethod=DELETE", "_METHOD=put"]) {
      const result = await call("GET", `/tenants/acme/invoices/7?${query}`, headers);
      assert.equal(result.status, 400, query);
      assert.equal(JSON.parse(result.body).error, "method_override_refused", query);
      assert.equal(result.seen.length, 0, query);
    }
    const plain = await call("GET", "/tenants/acme/invoices/7?q=_method", headers);
    assert.notEqual(plain.status, 400, "a value is not a name");
  });
});

describe("only the route's authenticators run", () => {
  test("a credential the route does not take is refused before it is verified: no JWKS is fetched", async () => {
    const token = await idp2.sign("ES256");
    const cases = [
      ["/keys-only/x", { authorization: `Bearer ${token}` }],
      ["/idp-only/x", { authorization: `Bearer ${token}` }],
      ["/any-jwt/x", { "x-api-key": await apiKeyFor("acme") }],
    ];
    for (const [path, headers] of cases) {
      const result = await call("GET", path, headers);
      assert.equal(result.status, 403, path);
      assert.equal(JSON.parse(result.body).error, "authenticator_not_allowed", path);
      assert.equal(result.seen.length, 0, `the origin saw nothing for ${path}`);
    }
    assert.equal(idp2.state.fetches, 0, "the second issuer's keys were never fetched");
    const accepted = await call("GET", "/any-jwt/x", { authorization: `Bearer ${token}` });
    assert.equal(accepted.status, 200);
    assert.equal(accepted.seen[0].headers["x-auth-issuer"], idp2.issuer);
    assert.equal(idp2.state.fetches, 1, "a route that takes the token fetches its issuer's keys");
  });

  test("a credential that did not authenticate the request never reaches the origin", async () => {
    const token = await idp.sign("ES256");
    const key = await apiKeyFor("acme");
    const result = await call("GET", "/any-jwt/x", { authorization: `Bearer ${token}`, "x-api-key": key });
    assert.equal(result.status, 200);
    assert.equal(result.seen[0].headers["x-auth-method"], "jwt");
    assert.equal(result.seen[0].headers.authorization, undefined, "by default the origin gets the assertion, not the token");
    assert.equal(result.seen[0].assertion.claims.sub, result.seen[0].headers["x-auth-subject"], "the assertion carries the identity");
    assert.equal(result.seen[0].headers["x-api-key"], undefined, "the unused API key is not forwarded");
  });

  test("a route with forward_authorization keep passes the verified JWT on as it came", async () => {
    const token = await idp.sign("ES256");
    const key = await apiKeyFor("acme");
    const result = await call("GET", "/keeps-jwt/x", { authorization: `Bearer ${token}`, "x-api-key": key });
    assert.equal(result.status, 200);
    assert.equal(result.seen[0].headers.authorization, `Bearer ${token}`);
    assert.equal(result.seen[0].headers["x-api-key"], undefined, "the unused API key still is not");
    const viaKey = await call("GET", "/keeps-jwt/x", { authorization: "Bearer not-a-jwt", "x-api-key": key });
    assert.equal(viaKey.status, 401, "keep does not make the route accept other authenticators");
  });
});

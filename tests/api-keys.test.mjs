// API keys end to end: created through the management API, stored hashed in local KV, verified
// at the edge with revocation in a local Durable Object, in front of the recording origin.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { startGateway } from "./support/gateway.mjs";
import { startOrigin } from "./support/origin.mjs";
import { assertionVerifier } from "./support/assertion-verifier.mjs";
import { startIssuer } from "./support/idp-keys.mjs";

import { TEST_ADMIN_KEY as ADMIN_KEY, TEST_PEPPER as PEPPER, baseConfig, jwtIssuer } from "./support/config.mjs";
import { assertRefused } from "./support/assertions.mjs";
import { rawRequest } from "./support/login.mjs";

let origin;
let idp;
let gateway;

before(async () => {
  origin = await startOrigin();
  idp = await startIssuer();
  gateway = await startGateway({
    config: baseConfig(
      origin,
      [
        { id: "orders", path: "/orders/*", policy: "authenticated", scopes: ["orders:read"] },
        { id: "any", path: "/any/*", policy: "authenticated" },
        { id: "open", path: "/open/*", policy: "public" },
      ],
      { api_keys: { prefix: "pk_test", header: "x-api-key" }, jwt: { issuers: [jwtIssuer(idp)] } },
    ),
    secrets: { PORTCULLIS_ADMIN_KEY: ADMIN_KEY, PORTCULLIS_API_KEY_PEPPER: PEPPER },
  });
  origin.verifyAssertionsWith(assertionVerifier({ jwksUrl: `${gateway.url}/.well-known/jwks.json`, audience: origin.url }));
});

after(async () => {
  await gateway?.close();
  await idp?.close();
  await origin?.close();
});

/**
 * Calls the management API, each call on a connection of its own: a refusal that does not read an
 * oversized upload closes its connection, which must not fail the next call.
 */
async function admin(method, path, body, token = ADMIN_KEY) {
  const response = await rawRequest(`${gateway.url}/auth/api-keys${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json(), headers: response.headers };
}

async function createKey(fields = {}) {
  const created = await admin("POST", "", { owner: "svc-billing", tenant: "acme", scopes: ["orders:read"], tier: "gold", ...fields });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body;
}

async function use(key, { path = "/orders/1", header = "authorization" } = {}) {
  const before = origin.requests.length;
  const headers = header === "authorization" ? { authorization: `Bearer ${key}` } : { [header]: key };
  const response = await fetch(`${gateway.url}${path}`, { headers });
  return {
    status: response.status,
    headers: response.headers,
    requestId: response.headers.get("x-request-id"),
    body: await response.json(),
    seen: origin.requests.slice(before),
  };
}

/** A key with a valid checksum but a secret the store never issued. */
function forgeSecret(key) {
  const [prefixA, prefixB, id, tail] = key.split("_");
  const secret = tail.slice(0, 24).split("").reverse().join("");
  const body = `${prefixA}_${prefixB}_${id}_${secret}`;
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  let value = crc32(Buffer.from(body));
  let sum = "";
  for (let i = 0; i < 6; i++) {
    sum = alphabet[value % 62] + sum;
    value = Math.floor(value / 62);
  }
  return body + sum;
}

describe("create and use", () => {
  test("a created key reaches the origin as its owner, with scopes, tenant and a verified assertion", async () => {
    const created = await createKey();
    assert.match(created.key, /^pk_test_[0-9A-Za-z]{12}_[0-9A-Za-z]{30}$/);
    assert.equal(created.hash, undefined, "the hash is never shown");
    for (const header of ["authorization", "x-api-key"]) {
      const { status, seen } = await use(created.key, { header });
      assert.equal(status, 200);
      const received = seen[0].headers;
      assert.equal(received["x-auth-subject"], "svc-billing");
      assert.equal(received["x-auth-method"], "api_key");
      assert.equal(received["x-auth-key-id"], created.id);
      assert.equal(received["x-auth-tenant"], "acme");
      assert.equal(received["x-auth-scopes"], "orders:read");
      assert.equal(received["x-api-key"], undefined, "the key itself never reaches the origin");
      assert.equal(received.authorization, undefined, "the key itself never reaches the origin");
      assert.equal(seen[0].assertion.valid, true);
      assert.equal(seen[0].assertion.claims.key_id, created.id);
      assert.equal(seen[0].assertion.claims.tier, "gold");
    }
  });

  test("the key is shown once: get and list return metadata only", async () => {
    const created = await createKey({ name: "nightly export" });
    await use(created.key);
    const got = await admin("GET", `/${created.id}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.key, undefined);
    assert.equal(got.body.hash, undefined);
    assert.equal(got.body.name, "nightly export");
    assert.equal(got.body.status, "active");
    const listed = await admin("GET", "?owner=svc-billing");
    assert.ok(listed.body.keys.some((k) => k.id === created.id));
    assert.ok(listed.body.keys.every((k) => k.key === undefined && k.hash === undefined));
    assert.ok(!JSON.stringify(listed.body).includes(created.key.slice(-30)));
  });

  test("the key is never logged", async () => {
    const created = await createKey();
    const used = await use(created.key);
    // Look only once that request's audit line is in: everything it logged is there by then.
    const decision = await gateway.eventFor("auth_decision", used.requestId);
    assert.equal(decision.status, 200);
    assert.ok(gateway.logs.every(({ message }) => !message.includes(created.key.slice(-30, -6))));
  });
});

describe("a public route", () => {
  test("never passes an API key on, in its header or in Authorization; other credentials go on as sent", async () => {
    const { key } = await createKey();
    const inHeader = await use(key, { path: "/open/x", header: "x-api-key" });
    assert.equal(inHeader.status, 200);
    assert.equal(inHeader.seen[0].headers["x-api-key"], undefined);
    const inAuthorization = await use(key, { path: "/open/x" });
    assert.equal(inAuthorization.status, 200);
    assert.equal(inAuthorization.seen[0].headers.authorization, undefined);
    const other = await use("eyJhbGciOiJFUzI1NiJ9.e30.c2ln", { path: "/open/x" });
    assert.equal(other.seen[0].headers.authorization, "Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "not a key: the origin may do its own authentication");
  });
});

describe("refusals: 401 or 403, and the origin sees nothing", () => {
  test("a typo is caught by the checksum", async () => {
    const { key } = await createKey();
    const typo = key.slice(0, -8) + (key.at(-8) === "a" ? "b" : "a") + key.slice(-7);
    assertRefused(await use(typo));
  });

  test("a wrong secret with a valid checksum", async () => {
    const { key } = await createKey();
    assertRefused(await use(forgeSecret(key)));
    const event = gateway.auditEvents().at(-1);
    assert.equal(event.reason, "invalid_token: api_key_wrong_secret");
  });

  test("an unknown id", async () => {
    const { key } = await createKey();
    const unknown = forgeSecret(key.replace(/_([0-9A-Za-z]{12})_/, "_ZZZZZZZZZZZZ_"));
    assertRefused(await use(unknown));
  });

  test("an expired key", async () => {
    const { key } = await createKey({ expires_in_s: 1 });
    assert.equal((await use(key)).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    assertRefused(await use(key));
  });

  test("a revoked key, on the very next request", async () => {
    const { key, id } = await createKey();
    assert.equal((await use(key)).status, 200);
    const revoked = await admin("POST", `/${id}/revoke`);
    assert.equal(revoked.status, 200);
    assert.equal(revoked.body.status, "revoked");
    assertRefused(await use(key));
  });

  test("a rotated key works through its grace period, then dies; the new key works", async () => {
    const { key, id } = await createKey();
    const rotated = await admin("POST", `/${id}/rotate`, { grace_s: 1 });
    assert.equal(rotated.status, 201);
    assert.notEqual(rotated.body.id, id);
    assert.equal(rotated.body.previous.id, id);
    assert.equal((await use(key)).status, 200, "within grace");
    assert.equal((await use(rotated.body.key)).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    assertRefused(await use(key));
    assert.equal((await use(rotated.body.key)).status, 200);
    assert.equal((await admin("GET", `/${id}`)).body.rotated_to, rotated.body.id);
  });

  test("a key without the route's scope gets 403 insufficient_scope", async () => {
    const { key } = await createKey({ scopes: ["invoices:read"] });
    const result = await use(key);
    assertRefused(result, 403, "insufficient_scope");
    assert.equal((await use(key, { path: "/any/thing" })).status, 200, "a route without scopes accepts it");
  });

  test("a key in the query string is never accepted", async () => {
    const { key } = await createKey();
    const before = origin.requests.length;
    const response = await fetch(`${gateway.url}/orders/1?api_key=${key}`);
    assert.equal(response.status, 401);
    assert.equal(origin.requests.length, before);
  });
});

describe("the management API", () => {
  test("refuses anonymous callers, API keys and JWTs without the admin scope", async () => {
    assert.equal((await fetch(`${gateway.url}/auth/api-keys`)).status, 401);
    const { key } = await createKey({ scopes: ["portcullis:admin"] });
    assert.equal((await admin("GET", "", undefined, key)).status, 403, "an API key is never an administrator");
    const userToken = await idp.sign("ES256", { claims: { scope: "orders:read" } });
    const refused = await admin("POST", "", { owner: "x" }, userToken);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, "forbidden");
    assert.equal((await admin("GET", "", undefined, "wrong-admin-key-0123456789abcdefghijkl")).status, 401);
  });

  test("accepts a JWT with the admin scope", async () => {
    const adminToken = await idp.sign("ES256", { claims: { scope: "portcullis:admin" } });
    const created = await admin("POST", "", { owner: "made-by-jwt" }, adminToken);
    assert.equal(created.status, 201);
  });

  const badBodies = [
    ["malformed JSON", "{not json", 400, "invalid_request_body"],
    ["an unknown field", { owner: "a", admin: true }, 400, "invalid_request_body"],
    ["a missing owner", { scopes: ["x"] }, 400, "invalid_request_body"],
    ["a bad scope", { owner: "a", scopes: ["has space"] }, 400, "invalid_request_body"],
    ["no body", "", 400, "invalid_request_body"],
    ["an oversized body", { owner: "a", name: "x".repeat(70 * 1024) }, 413, "body_too_large"],
  ];
  for (const [name, body, status, code] of badBodies) {
    test(`${name} gets ${status} ${code}`, async () => {
      const result = await admin("POST", "", body);
      assert.equal(result.status, status);
      assert.equal(result.body.error, code);
    });
  }

  test("validation reports every problem", async () => {
    const result = await admin("POST", "", { owner: "", scopes: ["a b"], expires_in_s: 0 });
    assert.deepEqual(result.body.problems.map((p) => p.split(":")[0]), ["owner", "scopes[0]", "expires_in_s"]);
  });

  test("unknown ids get 404", async () => {
    assert.equal((await admin("GET", "/ZZZZZZZZZZZZ")).status, 404);
    assert.equal((await admin("POST", "/ZZZZZZZZZZZZ/revoke")).status, 404);
  });
});

describe("the command line", () => {
  const cli = (...args) =>
    promisify(execFile)("node", ["scripts/keys.mjs", ...args, "--url", gateway.url], { env: { ...process.env, PORTCULLIS_ADMIN_KEY: ADMIN_KEY } });

  test("creates, lists, rotates and revokes keys", async () => {
    const created = JSON.parse((await cli("create", "--owner", "cli-user", "--scopes", "orders:read", "--tier", "gold")).stdout);
    assert.match(created.key, /^pk_test_/);
    assert.equal((await use(created.key)).status, 200);
    const listed = JSON.parse((await cli("list", "--owner", "cli-user")).stdout);
    assert.deepEqual(listed.keys.map((k) => k.id), [created.id]);
    const rotated = JSON.parse((await cli("rotate", created.id, "--grace", "0")).stdout);
    assert.equal(rotated.previous.id, created.id);
    assertRefused(await use(created.key));
    assert.equal((await use(rotated.key)).status, 200);
    const revoked = JSON.parse((await cli("revoke", rotated.id)).stdout);
    assert.equal(revoked.status, "revoked");
    assertRefused(await use(rotated.key));
  });

  test("reports a refusal with a non-zero exit", async () => {
    await assert.rejects(cli("get", "ZZZZZZZZZZZZ"), (error) => error.code === 1 && /not_found/.test(error.stdout));
    await assert.rejects(cli("create"), (error) => error.code === 2);
  });
});

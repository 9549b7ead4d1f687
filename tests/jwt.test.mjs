// Bearer JWT verification and the signed identity assertion, end to end: the built worker in
// workerd, a real JWKS server that rotates keys and fails on demand, and a recording origin that
// verifies every assertion it receives, the way the README tells origins to.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { SignJWT, exportJWK, generateKeyPair, decodeProtectedHeader } from "jose";
import { startGateway } from "./support/gateway.mjs";
import { startOrigin } from "./support/origin.mjs";
import { ALGORITHMS, rawToken, signRaw, startIssuer } from "./support/idp-keys.mjs";
import { assertionVerifier } from "./support/assertion-verifier.mjs";
import { baseConfig, jwtIssuer } from "./support/config.mjs";
import { assertRefused } from "./support/assertions.mjs";

let origin;
let idp;
let gateway;
let assertionKeys;

function jwtConfig(overrides = {}) {
  const routes = [
    { id: "public", path: "/public/*", policy: "public" },
    { id: "api", path: "/api/*", policy: "authenticated" },
  ];
  return baseConfig(origin, routes, { jwt: { issuers: [jwtIssuer(idp, { algorithms: ALGORITHMS })], ...overrides } });
}

async function signingKeySecret(kids) {
  const keys = [];
  for (const kid of kids) {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    keys.push({ ...(await exportJWK(privateKey)), kid });
  }
  return JSON.stringify({ keys });
}

before(async () => {
  origin = await startOrigin();
  idp = await startIssuer();
  assertionKeys = await signingKeySecret(["assert-2", "assert-1"]);
  gateway = await startGateway({ config: jwtConfig(), secrets: { PORTCULLIS_ASSERTION_KEYS: assertionKeys } });
  origin.verifyAssertionsWith(assertionVerifier({ jwksUrl: `${gateway.url}/.well-known/jwks.json`, audience: origin.url }));
});

after(async () => {
  await gateway?.close();
  await idp?.close();
  await origin?.close();
});

async function call(target, token, init = {}) {
  const before = origin.requests.length;
  const headers = { ...(init.headers ?? {}) };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${target.url}${init.path ?? "/api/orders"}`, { ...init, headers });
  const body = await response.text();
  return { response, status: response.status, headers: response.headers, body, seen: origin.requests.slice(before) };
}

describe("valid tokens", () => {
  for (const alg of ALGORITHMS) {
    test(`an ${alg} token reaches the origin with identity headers and a verifiable assertion`, async () => {
      const { response, seen } = await call(gateway, await idp.sign(alg), { path: "/api/orders?page=2" });
      assert.equal(response.status, 200);
      assert.equal(seen.length, 1);
      const headers = seen[0].headers;
      assert.equal(headers["x-auth-subject"], "user-42");
      assert.equal(headers["x-auth-email"], "ada@example.com");
      assert.equal(headers["x-auth-groups"], "admins,billing");
      assert.equal(headers["x-auth-scopes"], "read write");
      assert.equal(headers["x-auth-tenant"], "acme");
      assert.equal(headers["x-auth-method"], "jwt");
      assert.equal(headers["x-auth-issuer"], idp.issuer);
      assert.deepEqual(seen[0].assertion?.error, undefined);
      assert.equal(seen[0].assertion.valid, true);
      const claims = seen[0].assertion.claims;
      assert.equal(claims.sub, "user-42");
      assert.equal(claims.aud, origin.url);
      assert.equal(claims.htm, "GET");
      assert.equal(new URL(claims.htu).pathname, "/api/orders");
      assert.equal(claims.rid, response.headers.get("x-request-id"));
      assert.ok(claims.exp - claims.iat <= 60);
      assert.equal(decodeProtectedHeader(headers["x-portcullis-assertion"]).kid, "assert-2", "the first key signs");
    });
  }

  test("spoofed identity headers are replaced by the verified identity", async () => {
    const { response, seen } = await call(gateway, await idp.sign("ES256"), {
      headers: { "x-auth-subject": "admin", "x-auth-groups": "root", "x-portcullis-assertion": "forged" },
    });
    assert.equal(response.status, 200);
    assert.equal(seen[0].headers["x-auth-subject"], "user-42");
    assert.equal(seen[0].headers["x-auth-groups"], "admins,billing");
    assert.equal(seen[0].assertion.valid, true);
  });

  test("the audit line names the principal and method, and never the token", async () => {
    const token = await idp.sign("EdDSA");
    const { response } = await call(gateway, token);
    const event = gateway.auditEvents().find((e) => e.request_id === response.headers.get("x-request-id"));
    assert.equal(event.decision, "allow");
    assert.equal(event.principal, "user-42");
    assert.equal(event.auth_method, "jwt");
    assert.ok(gateway.logs.every(({ message }) => !message.includes(token.split(".")[2])));
  });
});

describe("the assertion at the origin", () => {
  test("a replayed assertion is caught by the origin's jti check", async () => {
    const { seen } = await call(gateway, await idp.sign("ES256"));
    const assertion = seen[0].headers["x-portcullis-assertion"];
    const verify = assertionVerifier({ jwksUrl: `${gateway.url}/.well-known/jwks.json`, audience: origin.url });
    await verify(assertion, { method: "GET", path: "/api/orders" });
    await assert.rejects(verify(assertion, { method: "GET", path: "/api/orders" }), /replayed/);
  });

  test("an assertion used for another method or path is refused by the origin", async () => {
    const { seen } = await call(gateway, await idp.sign("ES256"));
    const assertion = seen[0].headers["x-portcullis-assertion"];
    const verify = assertionVerifier({ jwksUrl: `${gateway.url}/.well-known/jwks.json`, audience: origin.url });
    await assert.rejects(verify(assertion, { method: "DELETE", path: "/api/orders" }), /issued for GET/);
    await assert.rejects(verify(assertion, { method: "GET", path: "/api/admin" }), /issued for/);
  });

  test("an assertion forged with another key is refused by the origin", async () => {
    const { privateKey } = await generateKeyPair("ES256");
    const forged = await new SignJWT({ sub: "admin", htm: "GET", htu: `${gateway.url}/api/orders`, jti: "x" })
      .setProtectedHeader({ alg: "ES256", kid: "assert-2", typ: "portcullis+jwt" })
      .setIssuer("portcullis").setAudience(origin.url).setIssuedAt().setExpirationTime("30s")
      .sign(privateKey);
    const verify = assertionVerifier({ jwksUrl: `${gateway.url}/.well-known/jwks.json`, audience: origin.url });
    await assert.rejects(verify(forged, { method: "GET", path: "/api/orders" }), /signature/);
  });

  test("the published JWKS holds both assertion keys, public parts only", async () => {
    const response = await fetch(`${gateway.url}/.well-known/jwks.json`);
    assert.equal(response.status, 200);
    const jwks = await response.json();
    assert.deepEqual(jwks.keys.map((k) => k.kid), ["assert-2", "assert-1"]);
    for (const key of jwks.keys) {
      assert.equal(key.d, undefined);
      assert.equal(key.alg, "ES256");
      assert.equal(key.use, "sig");
    }
  });
});

describe("attacks are refused and the origin sees nothing", () => {
  const now = () => Math.floor(Date.now() / 1000);
  const cases = [
    ["an expired token", () => idp.sign("ES256", { claims: { exp: now() - 120, iat: now() - 600 } })],
    ["a token not yet valid", () => idp.sign("ES256", { claims: { nbf: now() + 600 } })],
    ["a token issued in the future", () => idp.sign("ES256", { claims: { iat: now() + 600, exp: now() + 900 } })],
    ["a wrong issuer", () => idp.sign("ES256", { claims: { iss: "https://evil.example/" } })],
    ["a wrong audience", () => idp.sign("ES256", { claims: { aud: "api://someone-else" } })],
    ["alg none", async () => rawToken({ alg: "none" }, { iss: idp.issuer, aud: "api://portcullis", sub: "admin", exp: now() + 300 })],
    ["a tampered payload", async () => {
      const [h, , s] = (await idp.sign("RS256")).split(".");
      const payload = Buffer.from(JSON.stringify({ iss: idp.issuer, aud: "api://portcullis", sub: "admin", exp: now() + 300 })).toString("base64url");
      return `${h}.${payload}.${s}`;
    }],
    ["a tampered signature", async () => {
      const token = await idp.sign("EdDSA");
      const sig = Buffer.from(token.split(".")[2], "base64url");
      sig[5] ^= 1;
      return `${token.split(".").slice(0, 2).join(".")}.${sig.toString("base64url")}`;
    }],
    ["a signature by another key under a published kid", async () => idp.sign("ES256", { key: await idp.attackerKey("ES256") })],
    ["HS256 signed with the issuer's RSA public key", async () => {
      const pem = Buffer.from(JSON.stringify(idp.keyFor("RS256").publicJwk));
      const { createHmac } = await import("node:crypto");
      const header = Buffer.from(JSON.stringify({ alg: "HS256", kid: idp.keyFor("RS256").kid })).toString("base64url");
      const body = Buffer.from(JSON.stringify({ iss: idp.issuer, aud: "api://portcullis", sub: "admin", exp: now() + 300 })).toString("base64url");
      const mac = createHmac("sha256", pem).update(`${header}.${body}`).digest("base64url");
      return `${header}.${body}.${mac}`;
    }],
    ["an embedded jwk header with the attacker's own key", async () => {
      const attacker = await idp.attackerKey("ES256");
      return idp.sign("ES256", { key: attacker, header: { jwk: attacker.publicJwk } });
    }],
    ["a jku header pointing elsewhere", () => idp.sign("ES256", { header: { jku: "https://evil.example/jwks.json" } })],
    ["an unknown critical header", () => {
      const key = idp.keyFor("ES256");
      return signRaw({ alg: "ES256", kid: key.kid, crit: ["x-ext"], "x-ext": 1 }, { iss: idp.issuer, aud: "api://portcullis", sub: "u", exp: now() + 300 }, key);
    }],
    ["a malformed token", async () => "abc.def.ghi"],
    ["a token from a JWKS key of another type", () => idp.sign("ES256", { header: { kid: idp.keyFor("RS256").kid } })],
  ];
  for (const [name, make] of cases) {
    test(name, async () => assertRefused(await call(gateway, await make())));
  }

  test("no token gets 401 unauthenticated with a bare challenge", async () => {
    const result = await call(gateway, undefined);
    assertRefused(result, 401, "unauthenticated");
    assert.equal(result.response.headers.get("www-authenticate"), 'Bearer realm="portcullis"');
  });

  test("a malformed Authorization header gets 400 invalid_request", async () => {
    const result = await call(gateway, "a b");
    assertRefused(result, 400, "invalid_request");
  });
});

describe("keys", () => {
  test("a key rotation at the IdP is picked up without a restart", async () => {
    const rotating = await startGateway({ config: jwtConfig(), secrets: { PORTCULLIS_ASSERTION_KEYS: assertionKeys } });
    try {
      assert.equal((await call(rotating, await idp.sign("ES256"))).response.status, 200);
      const fresh = await idp.rotate("ES256");
      const { response, seen } = await call(rotating, await idp.sign("ES256", { key: fresh }));
      assert.equal(response.status, 200);
      assert.equal(seen[0].headers["x-auth-subject"], "user-42");
    } finally {
      await rotating.close();
    }
  });

  test("a token verified before its key was withdrawn is refused once the JWKS is refreshed", async () => {
    const config = jwtConfig({ jwks_cache: { default_ttl_s: 1, min_ttl_s: 1, max_ttl_s: 1 } });
    const withdrawing = await startGateway({ config, secrets: { PORTCULLIS_ASSERTION_KEYS: assertionKeys } });
    const doomed = await idp.rotate("EdDSA");
    try {
      const token = await idp.sign("EdDSA", { key: doomed });
      assert.equal((await call(withdrawing, token)).response.status, 200);
      assert.equal((await call(withdrawing, token)).response.status, 200, "served from the verified-token cache");
      idp.keys.splice(idp.keys.indexOf(doomed), 1);
      await new Promise((resolve) => setTimeout(resolve, 1200));
      assertRefused(await call(withdrawing, token));
    } finally {
      if (idp.keys.includes(doomed)) idp.keys.splice(idp.keys.indexOf(doomed), 1);
      await withdrawing.close();
    }
  });

  test("a flood of unknown kids causes at most one JWKS refetch per cooldown", async () => {
    const flooded = await startGateway({ config: jwtConfig(), secrets: { PORTCULLIS_ASSERTION_KEYS: assertionKeys } });
    try {
      assert.equal((await call(flooded, await idp.sign("ES256"))).response.status, 200);
      const fetchesBefore = idp.state.fetches;
      const attacker = await idp.attackerKey("ES256");
      const tokens = await Promise.all(
        Array.from({ length: 60 }, (_, i) => idp.sign("ES256", { key: { ...attacker, kid: `random-kid-${i}` } })),
      );
      const results = await Promise.all(tokens.map((token) => call(flooded, token)));
      for (const result of results) assertRefused(result);
      const refetches = idp.state.fetches - fetchesBefore;
      assert.ok(refetches <= 1, `${refetches} refetches`);
      assert.equal(refetches, 1, "the first unknown kid did refresh once");
    } finally {
      await flooded.close();
    }
  });

  test("a JWKS outage with no cached keys fails closed with 503", async () => {
    idp.state.failing = true;
    const cold = await startGateway({ config: jwtConfig(), secrets: { PORTCULLIS_ASSERTION_KEYS: assertionKeys } });
    try {
      const result = await call(cold, await idp.sign("ES256"));
      assertRefused(result, 503, "temporarily_unavailable");
    } finally {
      idp.state.failing = false;
      await cold.close();
    }
  });

  test("stale keys are served within max_stale_s during an outage, then refused", async () => {
    const config = jwtConfig({ jwks_cache: { default_ttl_s: 1, min_ttl_s: 1, max_ttl_s: 1, max_stale_s: 2 } });
    const stale = await startGateway({ config, secrets: { PORTCULLIS_ASSERTION_KEYS: assertionKeys } });
    try {
      assert.equal((await call(stale, await idp.sign("ES256"))).response.status, 200);
      idp.state.failing = true;
      await new Promise((resolve) => setTimeout(resolve, 1500)); // expired, within the stale window
      assert.equal((await call(stale, await idp.sign("ES256"))).response.status, 200);
      await new Promise((resolve) => setTimeout(resolve, 2000)); // past expiry + max_stale_s
      assertRefused(await call(stale, await idp.sign("ES256")), 503, "temporarily_unavailable");
    } finally {
      idp.state.failing = false;
      await stale.close();
    }
  });
});

describe("an HMAC issuer", () => {
  test("accepts HS256 tokens signed with its secret, and nothing else", async () => {
    const secret = "an-hmac-secret-of-at-least-32-bytes!";
    const config = jwtConfig();
    config.jwt.issuers = [{ issuer: "https://internal.test/", audiences: ["internal"], hmac_secret: "INTERNAL_JWT_SECRET", algorithms: ["HS256"] }];
    const hmac = await startGateway({ config, secrets: { PORTCULLIS_ASSERTION_KEYS: assertionKeys, INTERNAL_JWT_SECRET: secret } });
    const sign = (key, claims = {}) =>
      new SignJWT({ sub: "svc", ...claims }).setProtectedHeader({ alg: "HS256" }).setIssuer("https://internal.test/").setAudience("internal")
        .setIssuedAt().setExpirationTime("5m").sign(new TextEncoder().encode(key));
    try {
      const ok = await call(hmac, await sign(secret));
      assert.equal(ok.response.status, 200);
      assert.equal(ok.seen[0].headers["x-auth-subject"], "svc");
      assertRefused(await call(hmac, await sign("a-different-secret-of-32-bytes-or-more")));
      assertRefused(await call(hmac, await idp.sign("ES256", { claims: { iss: "https://internal.test/", aud: "internal" } })));
    } finally {
      await hmac.close();
    }
  });
});

describe("production without an assertion key", () => {
  test("authenticated traffic fails closed with 503", async () => {
    const config = { ...jwtConfig(), environment: "production", origin: "https://origin.invalid" };
    config.jwt.issuers[0].jwks = { keys: idp.keys.map((k) => k.publicJwk) };
    delete config.jwt.issuers[0].jwks_url;
    config.jwt.issuers[0].issuer = "https://idp.invalid/";
    const prod = await startGateway({ config });
    try {
      const token = await idp.sign("ES256", { claims: { iss: "https://idp.invalid/" } });
      assertRefused(await call(prod, token), 503, "temporarily_unavailable");
      assert.ok(prod.logs.some(({ message }) => message.includes("assertion_key_unavailable")));
    } finally {
      await prod.close();
    }
  });
});

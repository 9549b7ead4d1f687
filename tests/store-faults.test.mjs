// Fault injection for the worker's own stores: KV, each Durable Object class (the rate limiter and
// the revocation ledger) and D1, each made to fail, to stall past the store deadline, or (a
// Durable Object) to be overloaded, through wrapped bindings in front of the real local ones (see
// support/faulty-bindings.mjs). Every cell is asserted: what the client gets, the audit reason,
// what the origin saw, and that nothing was left half-written. The default everywhere is to fail
// closed; one route opts into failing open on a rate-limiter failure.
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { freePort, startGateway } from "./support/gateway.mjs";
import { startOrigin } from "./support/origin.mjs";
import { startFaultControl } from "./support/faulty-bindings.mjs";
import { createApiKey } from "./support/api-keys.mjs";
import { Browser, sessionSetCookie } from "./support/login.mjs";
import { followAuthorize, forgedProviderEntry, startForgingProvider } from "./support/forging-provider.mjs";
import { TEST_ADMIN_KEY, TEST_DIRECTORY_KEY, TEST_LOGIN_SECRET, TEST_PEPPER, baseConfig } from "./support/config.mjs";

const KV = "PORTCULLIS_KV";
const LEDGER = "API_KEY_REVOCATIONS";
const LIMITER = "RATE_LIMITER";
const D1 = "PORTCULLIS_DB";
// The store deadline is 2 s; a stalled store is given far longer than that.
const STALL = { mode: "delay", ms: 8_000 };
const ANSWERED_WITHIN_MS = 4_500;

let origin;
let forging;
let faults;
let gateway;

before(async () => {
  origin = await startOrigin();
  forging = await startForgingProvider();
  faults = await startFaultControl();
  const port = await freePort();
  const gatewayUrl = `http://127.0.0.1:${port}`;
  const config = baseConfig(
    origin,
    [
      { id: "app", path: "/app/*", policy: "authenticated" },
      { id: "limited", path: "/limited/*", policy: "public", rate_limits: [{ id: "per-ip", key: "ip", limit: 1000, period_s: 60 }] },
      {
        id: "limited-open",
        path: "/limited-open/*",
        policy: "public",
        rate_limits: [{ id: "per-ip-open", key: "ip", limit: 1000, period_s: 60 }],
        rate_limit_failure: "open",
      },
    ],
    {
      // No isolate caches: every request reads the stores, so a fault shows at once.
      api_keys: { prefix: "pk_test", cache_ttl_s: 0 },
      login: {
        redirect_uri: `${gatewayUrl}/auth/callback`,
        providers: [
          forgedProviderEntry(forging, { directory: { tenant: "acme" } }),
        ],
        session: { cache_ttl_s: 0 },
        rate_limits: [{ id: "login", key: "ip", limit: 100000, period_s: 60 }],
      },
    },
  );
  gateway = await startGateway({
    config,
    port,
    faults,
    secrets: {
      FORGED_CLIENT_SECRET: "forged-client-secret",
      PORTCULLIS_LOGIN_SECRET: TEST_LOGIN_SECRET,
      PORTCULLIS_ADMIN_KEY: TEST_ADMIN_KEY,
      PORTCULLIS_API_KEY_PEPPER: TEST_PEPPER,
      PORTCULLIS_DIRECTORY_KEY: TEST_DIRECTORY_KEY,
    },
  });
});

after(async () => {
  await gateway?.close();
  await faults?.close();
  await forging?.close();
  await origin?.close();
});

afterEach(() => faults.clear());

/** Signs the forging provider's user in; returns the browser (with its session cookie) and the callback. */
async function signIn(browser = new Browser()) {
  const start = await browser.request(`${gateway.url}/auth/login?provider=forged&return_to=/app/home`);
  assert.equal(start.status, 302, await start.text());
  const callbackUrl = await followAuthorize(start.headers.get("location"));
  const callback = await browser.request(callbackUrl, { api: true });
  return { browser, callback };
}

/** A request, timed, with what the origin saw of it and its audit line. */
async function send(request) {
  const originBefore = origin.requests.length;
  const started = Date.now();
  const response = await request();
  const elapsedMs = Date.now() - started;
  const body = await response.text();
  const event = await gateway.eventFor("auth_decision", response.headers.get("x-request-id")).catch(() => null);
  return { response, body, elapsedMs, event, originSaw: origin.requests.length - originBefore };
}

function assertFailedClosed({ response, body, elapsedMs, event, originSaw }, { status = 503, code = "temporarily_unavailable", reason }) {
  assert.equal(response.status, status, body);
  assert.equal(JSON.parse(body).error, code);
  assert.equal(originSaw, 0, "the origin saw nothing");
  assert.ok(elapsedMs < ANSWERED_WITHIN_MS, `answered in ${elapsedMs} ms`);
  if (reason) {
    assert.equal(event?.decision, "deny");
    assert.match(event.reason, reason);
  }
}

/**
 * The cells of a credential read from KV (its record, as `kvName`) and the revocation ledger: each
 * fault refuses the request with 503, naming the store, and the credential works again after.
 */
function storeReadCells(kvName, request) {
  const cells = [
    [KV, "get", { mode: "error" }, `${kvName}_unavailable`],
    [KV, "get", STALL, `${kvName}_unavailable`],
    [LEDGER, "fetch", { mode: "error" }, "revocations_unavailable"],
    [LEDGER, "fetch", { mode: "overload" }, "revocations_unavailable"],
    [LEDGER, "fetch", STALL, "revocations_unavailable"],
  ];
  for (const [binding, op, fault, reason] of cells) {
    test(`${binding}.${op} ${fault.mode}: 503 temporarily_unavailable, audit ${reason}`, async () => {
      faults.set(binding, op, fault);
      assertFailedClosed(await send(request), { reason: new RegExp(`^${reason}$`) });
      faults.clear();
      const recovered = await send(request);
      assert.equal(recovered.response.status, 200, "it works again once the store does");
    });
  }
}

const withKey = (key) => () => fetch(`${gateway.url}/app/x`, { headers: { authorization: `Bearer ${key}` } });

describe("API keys: a failing or stalled store refuses the key with 503", () => {
  let key;
  before(async () => {
    key = (await createApiKey(gateway.url, { name: "faults", owner: "svc-faults", scopes: [] })).key;
  });

  test("healthy: the key works, reading its record (KV) and revocation (ledger)", async () => {
    faults.resetCalls();
    const sent = await send(withKey(key));
    assert.equal(sent.response.status, 200, sent.body);
    assert.equal(sent.originSaw, 1);
    assert.ok(faults.callsTo(KV, "get") >= 1 && faults.callsTo(LEDGER, "fetch") >= 1, "both stores were read");
  });

  storeReadCells("key_store", () => withKey(key)());
});

describe("sessions: a failing or stalled store refuses the session with 503", () => {
  let browser;
  before(async () => {
    ({ browser } = await signIn());
  });
  const load = () => browser.request(`${gateway.url}/app/page`, { api: true });

  test("healthy: the session works", async () => {
    const sent = await send(load);
    assert.equal(sent.response.status, 200, sent.body);
    assert.equal(sent.originSaw, 1);
  });

  storeReadCells("session_store", load);
});

describe("rate limits: a failing limiter refuses with 503 unless the route fails open", () => {
  for (const fault of [{ mode: "error" }, { mode: "overload" }, STALL]) {
    test(`${LIMITER}.fetch ${fault.mode}: 503, audit rate_limiter_unavailable; a fail-open route is served`, async () => {
      faults.set(LIMITER, "fetch", fault);
      assertFailedClosed(await send(() => fetch(`${gateway.url}/limited/x`)), { reason: /^rate_limiter_unavailable: / });
      const open = await send(() => fetch(`${gateway.url}/limited-open/x`));
      assert.equal(open.response.status, 200, open.body);
      assert.equal(open.originSaw, 1, "the fail-open route reached the origin");
      assert.equal(open.event.decision, "allow");
      assert.match(open.event.reason, /rate limiter unavailable .*failed open/);
    });
  }
});

describe("sign-in: a store that fails while a login completes leaves no session behind", () => {
  const cells = [
    // (binding, op, fault, status, code, the login_failed outcome, the warning logged with it)
    [KV, "put", { mode: "error" }, 503, "temporarily_unavailable", /^temporarily_unavailable$/, "session_write_failed"],
    [KV, "put", STALL, 503, "temporarily_unavailable", /^temporarily_unavailable$/, "session_write_failed"],
    [D1, "first", { mode: "error" }, 503, "directory_unavailable", /^directory_unavailable: .*injected fault/, null],
    [D1, "all", STALL, 503, "directory_unavailable", /^directory_unavailable: .*timed out/, null],
  ];
  for (const [binding, op, fault, status, code, outcome, warning] of cells) {
    test(`${binding}.${op} ${fault.mode} at the callback: ${status} ${code}, no session cookie`, async () => {
      const browser = new Browser();
      const start = await browser.request(`${gateway.url}/auth/login?provider=forged&return_to=/app/home`);
      const callbackUrl = await followAuthorize(start.headers.get("location"));
      faults.set(binding, op, fault);
      const warningsBefore = warning ? gateway.events(warning).length : 0;
      const started = Date.now();
      const callback = await browser.request(callbackUrl, { api: true });
      const elapsedMs = Date.now() - started;
      const body = await callback.text();
      assert.equal(callback.status, status, body);
      assert.equal(JSON.parse(body).error, code);
      assert.ok(elapsedMs < 2 * ANSWERED_WITHIN_MS, `answered in ${elapsedMs} ms`);
      assert.equal(sessionSetCookie(callback)?.match(/^__Host-portcullis=[^;]/), undefined, "no session cookie");
      const failed = await gateway.eventFor("login_failed", callback.headers.get("x-request-id"));
      assert.match(failed.outcome, outcome);
      if (warning) assert.equal(gateway.events(warning).length, warningsBefore + 1, `a ${warning} warning was logged`);
      faults.clear();
      const check = await browser.request(`${gateway.url}/app/page`, { api: true });
      assert.equal(check.status, 401, "the browser is still signed out");
    });
  }
});

describe("logout: a ledger that fails leaves the session alive, never half-ended", () => {
  test(`${LEDGER}.fetch error at logout: 503, and the session still works until a logout succeeds`, async () => {
    const { browser } = await signIn();
    const page = await browser.request(`${gateway.url}/auth/logout`);
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(await page.text())?.[1];
    assert.ok(csrf, "the logout page carries a CSRF token");
    const logout = () =>
      browser.request(`${gateway.url}/auth/logout`, {
        method: "POST",
        api: true,
        headers: { "content-type": "application/x-www-form-urlencoded", origin: gateway.url },
        body: `csrf_token=${encodeURIComponent(csrf)}`,
      });
    faults.set(LEDGER, "fetch", { mode: "error" });
    const refused = await logout();
    assert.equal(refused.status, 503);
    const body = await refused.json();
    assert.equal(body.error, "logout_failed", "the user is told they are still signed in");
    assert.match(body.error_description, /still signed in/);
    assert.equal(refused.headers.get("set-cookie"), null, "the cookie of a live session is not cleared");
    faults.clear();
    const still = await browser.request(`${gateway.url}/app/page`, { api: true });
    assert.equal(still.status, 200, "the session was not half-ended");
    const ended = await logout();
    assert.ok([200, 302, 303].includes(ended.status), `logout answered ${ended.status}`);
    const after = await browser.request(`${gateway.url}/app/page`, { api: true });
    assert.equal(after.status, 401, "the session ended with the logout that succeeded");
  });
});

describe("API key management: nothing is half-written", () => {
  const adminCall = (method, path, body) =>
    fetch(`${gateway.url}/auth/api-keys${path}`, {
      method,
      headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  test(`${KV}.put error at create: 503, no key is shown and none is listed`, async () => {
    faults.set(KV, "put", { mode: "error" });
    const created = await adminCall("POST", "", { name: "half", owner: "svc-half", scopes: [] });
    const body = await created.json();
    assert.equal(created.status, 503, JSON.stringify(body));
    assert.equal(body.error, "temporarily_unavailable");
    assert.equal(body.key, undefined, "no key is shown");
    faults.clear();
    const listed = await (await adminCall("GET", "")).json();
    assert.ok(!JSON.stringify(listed).includes("svc-half"), "no record of the key was kept");
  });

  test(`${LEDGER}.fetch error at revoke: 503, and the key still works until a revoke succeeds`, async () => {
    const minted = await createApiKey(gateway.url, { name: "revoke-me", owner: "svc-revoke", scopes: [] });
    faults.set(LEDGER, "fetch", { mode: "error" });
    const refused = await adminCall("DELETE", `/${minted.id}`);
    assert.equal(refused.status, 503, await refused.text());
    faults.clear();
    assert.equal((await withKey(minted.key)()).status, 200, "a refused revoke changed nothing");
    const revoked = await adminCall("DELETE", `/${minted.id}`);
    assert.ok(revoked.status < 300, `revoke answered ${revoked.status}`);
    assert.equal((await withKey(minted.key)()).status, 401, "the key stopped working when the revoke succeeded");
  });

  test(`${KV}.put lost reply at revoke: 503, yet the key is dead, since the ledger took the revocation first`, async () => {
    const minted = await createApiKey(gateway.url, { name: "revoke-lost", owner: "svc-revoke-lost", scopes: [] });
    assert.equal((await withKey(minted.key)()).status, 200);
    faults.set(KV, "put", { mode: "lost_reply" });
    const reported = await adminCall("DELETE", `/${minted.id}`);
    faults.clear();
    assert.equal(reported.status, 503, "the failure is reported");
    assert.equal((await withKey(minted.key)()).status, 401, "a revoke that may have landed is never undone");
    const retried = await adminCall("DELETE", `/${minted.id}`);
    assert.ok(retried.status < 300, `a retry succeeds (${retried.status})`);
  });
});

describe("the directory API: a failing or stalled D1 answers 503 directory_unavailable", () => {
  const directory = (path) => fetch(`${gateway.url}/auth/directory/tenants/acme${path}`, { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
  let userId;
  before(async () => {
    await signIn(); // provisions the forging provider's user into tenant acme
    const listed = await (await directory("/users")).json();
    userId = listed.users[0]?.id;
    assert.ok(userId, JSON.stringify(listed));
  });

  const cells = [
    ["/users", D1, "all", { mode: "error" }],
    ["/users", D1, "all", STALL],
    ["/users/:id/sessions", D1, "first", { mode: "error" }],
    ["/users/:id/sessions", D1, "first", STALL],
  ];
  for (const [path, binding, op, fault] of cells) {
    test(`GET ${path} with ${binding}.${op} ${fault.mode}`, async () => {
      faults.set(binding, op, fault);
      const started = Date.now();
      const response = await directory(path.replace(":id", userId));
      const elapsedMs = Date.now() - started;
      const body = await response.json();
      assert.equal(response.status, 503, JSON.stringify(body));
      assert.equal(body.error, "directory_unavailable");
      assert.ok(elapsedMs < ANSWERED_WITHIN_MS, `answered in ${elapsedMs} ms`);
      faults.clear();
      assert.equal((await directory(path.replace(":id", userId))).status, 200, "it answers again once D1 does");
    });
  }
});

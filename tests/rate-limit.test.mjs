// Rate limiting end to end: GCRA counters in local Durable Objects, in front of the recording
// origin. Exactness under concurrency, independent keys, tiers, headers, and both failure modes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startGateway } from "./support/gateway.mjs";
import { startOrigin } from "./support/origin.mjs";
import { createApiKey } from "./support/api-keys.mjs";
import { TEST_ADMIN_KEY, baseConfig } from "./support/config.mjs";

let origin;
let gateway;

function config(overrides = {}) {
  const routes = [
      { id: "burst", path: "/burst/*", policy: "public", rate_limits: [{ id: "route-wide", key: "route", limit: 100, period_s: 600 }] },
      // One unit every 50 ms, bursts of 400: fast enough to lease 16 units at a time for 1 s.
      { id: "leased", path: "/leased/*", policy: "public", rate_limits: [{ id: "fast", key: "route", limit: 2000, period_s: 100, burst: 400 }] },
      { id: "slow", path: "/slow/*", policy: "public", rate_limits: [{ id: "per-ip", key: "ip", limit: 2, period_s: 2 }] },
      {
        id: "keyed",
        path: "/keyed/*",
        policy: "authenticated",
        rate_limits: [{ id: "per-key", key: "api_key", limit: 2, period_s: 600, tiers: { gold: { limit: 5, period_s: 600 } } }],
      },
      {
        id: "multi",
        path: "/multi/*",
        policy: "authenticated",
        rate_limits: [
          { id: "per-ip", key: "ip", limit: 3, period_s: 600 },
          { id: "per-key", key: "api_key", limit: 1, period_s: 600 },
        ],
      },
      { id: "closed", path: "/closed/*", policy: "public", rate_limits: [{ id: "c", key: "ip", limit: 1000, period_s: 60 }] },
      { id: "open", path: "/open/*", policy: "public", rate_limit_failure: "open", rate_limits: [{ id: "o", key: "ip", limit: 1000, period_s: 60 }] },
  ];
  return baseConfig(origin, routes, { api_keys: { prefix: "pk_test" }, ...overrides });
}

before(async () => {
  origin = await startOrigin();
  gateway = await startGateway({ config: config(), secrets: { PORTCULLIS_ADMIN_KEY: TEST_ADMIN_KEY } });
});

after(async () => {
  await gateway?.close();
  await origin?.close();
});

async function createKey(tier) {
  return (await createApiKey(gateway.url, { owner: `svc-${tier ?? "plain"}`, ...(tier ? { tier } : {}) })).key;
}

describe("exactness", () => {
  test("300 concurrent requests against a limit of 100 (too slow to lease): exactly 100 reach the origin", async () => {
    const before = origin.requests.length;
    const responses = await Promise.all(Array.from({ length: 300 }, () => fetch(`${gateway.url}/burst/x`)));
    const statuses = responses.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 100);
    assert.equal(statuses.filter((s) => s === 429).length, 200);
    assert.equal(origin.requests.length - before, 100, "the origin saw exactly the admitted requests");
    for (const response of responses.filter((r) => r.status === 429)) {
      const body = await response.json();
      assert.equal(body.error, "rate_limited");
      const retryAfter = Number(response.headers.get("retry-after"));
      assert.ok(retryAfter >= 1 && retryAfter <= 6, `retry-after ${retryAfter}: one unit of 600 s / 100`);
      assert.match(response.headers.get("ratelimit"), /^"route-wide";r=0;t=\d+$/);
    }
    for (const response of responses.filter((r) => r.status === 200)) await response.text();
  });

  test("allowed responses carry RateLimit-Policy and RateLimit", async () => {
    const response = await fetch(`${gateway.url}/slow/headers`, { headers: { "x-test": "1" } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("ratelimit-policy"), '"per-ip";q=2;w=2');
    assert.match(response.headers.get("ratelimit"), /^"per-ip";r=1;t=\d+$/);
  });

  test("waiting Retry-After is enough", async () => {
    let refused;
    for (let i = 0; i < 5 && !refused; i++) {
      const response = await fetch(`${gateway.url}/slow/retry`);
      await response.text();
      if (response.status === 429) refused = response;
    }
    assert.ok(refused, "the third request within the period is refused");
    const wait = Number(refused.headers.get("retry-after"));
    assert.ok(wait >= 1 && wait <= 2);
    await new Promise((resolve) => setTimeout(resolve, wait * 1000 + 50));
    assert.equal((await fetch(`${gateway.url}/slow/retry`)).status, 200);
  });

  test("refusals are audited with the rule that refused", async () => {
    const events = gateway.auditEvents().filter((e) => e.route === "burst" && e.decision === "deny");
    assert.ok(events.length >= 200);
    assert.equal(events[0].reason, "rate_limited: route-wide");
    assert.equal(events[0].status, 429);
  });
});

describe("leases", () => {
  test("a fast counter is spent from leases: never over the quota, short of it by at most the lease's costs", async (t) => {
    const before = origin.requests.length;
    const auditedBefore = gateway.auditEvents().length;
    const started = Date.now();
    const statuses = [];
    for (let wave = 0; wave < 30; wave++) {
      const responses = await Promise.all(Array.from({ length: 20 }, () => fetch(`${gateway.url}/leased/x`)));
      for (const response of responses) {
        statuses.push(response.status);
        if (response.status === 429) {
          assert.ok(Number(response.headers.get("retry-after")) >= 1);
          assert.match(response.headers.get("ratelimit"), /^"fast";r=0;t=\d+$/);
        } else {
          assert.equal(response.status, 200, await response.clone().text());
          assert.match(response.headers.get("ratelimit"), /^"fast";r=\d+;t=\d+$/);
        }
        await response.text();
      }
    }
    const elapsedMs = Date.now() - started;
    const admitted = statuses.filter((s) => s === 200).length;
    assert.equal(statuses.filter((s) => s !== 200 && s !== 429).length, 0);
    // GCRA's bound: the burst, plus one unit per 50 ms that passed.
    assert.ok(admitted <= 400 + Math.ceil(elapsedMs / 50), `admitted ${admitted} in ${elapsedMs} ms`);
    // The window costs ⌈1000 ms / 50 ms⌉ = 20 units of burst; one isolate strands at most 15.
    assert.ok(admitted >= 400 - 20 - 15, `admitted ${admitted}`);
    assert.equal(origin.requests.length - before, admitted, "the origin saw exactly the admitted requests");
    const allowed = gateway.auditEvents().slice(auditedBefore).filter((e) => e.route === "leased" && e.decision === "allow");
    assert.equal(allowed.length, admitted);
    const onLease = allowed.filter((e) => e.rate_limit === "lease").length;
    const asked = allowed.filter((e) => e.rate_limit === "limiter").length;
    assert.equal(onLease + asked, admitted, "every allowed request says how it was counted");
    t.diagnostic(`admitted ${admitted} of 600 in ${elapsedMs} ms: ${onLease} on a lease, ${asked} asked the limiter`);
    assert.ok(onLease >= 4 * asked, `${onLease} on a lease, ${asked} asked the limiter`);
  });
});

describe("keys and tiers", () => {
  test("each API key has its own budget, and a tier raises it", async () => {
    const [plain, other, gold] = [await createKey(), await createKey(), await createKey("gold")];
    const run = async (key, n) => {
      const statuses = [];
      for (let i = 0; i < n; i++) statuses.push((await fetch(`${gateway.url}/keyed/x`, { headers: { "x-api-key": key } })).status);
      return statuses;
    };
    assert.deepEqual(await run(plain, 3), [200, 200, 429]);
    assert.deepEqual(await run(other, 3), [200, 200, 429], "another key is not affected");
    assert.deepEqual(await run(gold, 6), [200, 200, 200, 200, 200, 429], "the gold tier allows 5");
  });
});

describe("several limits on one route", () => {
  // per-ip (3) is listed before per-key (1). Were per-ip charged when per-key refuses, key A's
  // refused retries would use up the IP's budget and lock out keys B and C.
  for (const shards of [32, 1]) {
    test(`a request one limit refuses is charged to none (${shards} shard${shards > 1 ? "s" : ""})`, async () => {
      const own = shards === 32 ? gateway : await startGateway({ config: config({ rate_limiting: { shards } }), secrets: { PORTCULLIS_ADMIN_KEY: TEST_ADMIN_KEY } });
      try {
        const key = async () => (await createApiKey(own.url, { owner: "svc-multi" })).key;
        const [a, b, c, d] = [await key(), await key(), await key(), await key()];
        const statuses = [];
        for (const k of [a, a, a, a, b, c, d]) {
          const response = await fetch(`${own.url}/multi/x`, { headers: { "x-api-key": k } });
          statuses.push(response.status);
          if (response.status === 429) {
            const rule = statuses.length <= 4 ? "per-key" : "per-ip";
            assert.match(response.headers.get("ratelimit"), new RegExp(`"${rule}";r=0;t=\\d+$`), `request ${statuses.length}`);
          }
        }
        assert.deepEqual(statuses, [200, 429, 429, 429, 200, 200, 429], "the IP's budget of 3 went to a, b and c");
      } finally {
        if (own !== gateway) await own.close();
      }
    });
  }
});

describe("failure modes", () => {
  let broken;
  before(async () => {
    // A binding that does not exist: every call to the limiter fails, as an outage would.
    broken = await startGateway({ config: config({ rate_limiting: { binding: "NO_SUCH_LIMITER" } }) });
  });
  after(async () => broken?.close());

  test("fail closed (the default): 503, and the origin sees nothing", async () => {
    const before = origin.requests.length;
    const response = await fetch(`${broken.url}/closed/x`);
    assert.equal(response.status, 503);
    assert.equal((await response.json()).error, "temporarily_unavailable");
    assert.equal(origin.requests.length, before);
    const event = broken.auditEvents().at(-1);
    assert.match(event.reason, /^rate_limiter_unavailable/);
  });

  test("fail open when the route says so: the request passes, and the audit line says why", async () => {
    const response = await fetch(`${broken.url}/open/x`);
    assert.equal(response.status, 200);
    await response.text();
    const event = broken.auditEvents().at(-1);
    assert.equal(event.decision, "allow");
    assert.match(event.reason, /failed open/);
  });
});

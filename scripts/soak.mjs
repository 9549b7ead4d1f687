// Soak: a steady load across every authenticator for `--minutes` (default 10), through the built
// worker in workerd (Miniflare, local KV, Durable Objects and D1), not in CI. `npm run soak`.
//
// The mix, from `--concurrency` (default 8) loops: bearer JWTs (a pool of distinct tokens, three
// algorithms), API keys (a pool of keys made through the management API), browser sessions (made
// by real sign-ins through a local OpenID Provider, one more every few seconds), a public route, a
// rate-limited route whose limit is meant to be hit (429 by design), and forged credentials (401
// by design). It reports the requests served, the answers by status, every answer that is not the
// one expected (the target is 0), and workerd's resident memory over time: the caches are bounded,
// so it must level off.
import { readFileSync, readdirSync } from "node:fs";
import { Miniflare } from "miniflare";
import { miniflareOptions, applyD1Migrations } from "../tests/support/wrangler-config.mjs";
import { freePort } from "../tests/support/gateway.mjs";
import { startIssuer, ALGORITHMS } from "../tests/support/idp-keys.mjs";
import { startForgingProvider, followAuthorize, forgedProviderEntry } from "../tests/support/forging-provider.mjs";
import { Browser } from "../tests/support/login.mjs";
import { createApiKey } from "../tests/support/api-keys.mjs";
import { TEST_ADMIN_KEY, TEST_AUDIENCE, TEST_DIRECTORY_KEY, TEST_LOGIN_SECRET, TEST_PEPPER } from "../tests/support/config.mjs";
import { startBenchOrigin } from "../bench/origin.mjs";
import { workerdLogs } from "../bench/workerd-logs.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const minutes = option("minutes", 10);
const concurrency = option("concurrency", 8);
const sampleEveryS = option("sample-every", 30);

/** The resident memory of this process's workerd children, in MiB. */
function workerdRssMiB() {
  let kib = 0;
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8").trim();
      const [, comm, rest] = /^\d+ \((.*)\) (.*)$/.exec(stat);
      const ppid = Number(rest.split(" ")[1]);
      if (ppid !== process.pid || !comm.startsWith("workerd")) continue;
      kib += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
    } catch {
      // the process ended while we looked
    }
  }
  return kib / 1024;
}

const origin = await startBenchOrigin({ jwks: '{"keys":[]}' });
const idp = await startIssuer();
const forging = await startForgingProvider();
const port = await freePort();
const gatewayUrl = `http://127.0.0.1:${port}`;
const config = {
  environment: "development",
  origin: origin.url,
  routes: [
    { id: "jwt", path: "/jwt/*", policy: "authenticated", authenticators: ["jwt"] },
    { id: "keys", path: "/keys/*", policy: "authenticated", authenticators: ["api_key"] },
    { id: "app", path: "/app/*", policy: "authenticated", authenticators: ["session"] },
    { id: "public", path: "/public/*", policy: "public" },
    { id: "limited", path: "/limited/*", policy: "public", rate_limits: [{ id: "soak", key: "route", limit: 50, period_s: 1 }] },
  ],
  jwt: { issuers: [{ issuer: idp.issuer, audiences: [TEST_AUDIENCE], jwks_url: idp.jwksUrl, algorithms: ALGORITHMS }] },
  api_keys: { prefix: "pk_test" },
  login: {
    redirect_uri: `${gatewayUrl}/auth/callback`,
    providers: [
      forgedProviderEntry(forging, { directory: { tenant: "soak" } }),
    ],
    rate_limits: [{ id: "login", key: "ip", limit: 100000, period_s: 60 }],
  },
};
const logs = workerdLogs();
const secrets = {
  FORGED_CLIENT_SECRET: "forged-client-secret",
  PORTCULLIS_LOGIN_SECRET: TEST_LOGIN_SECRET,
  PORTCULLIS_ADMIN_KEY: TEST_ADMIN_KEY,
  PORTCULLIS_API_KEY_PEPPER: TEST_PEPPER,
  PORTCULLIS_DIRECTORY_KEY: TEST_DIRECTORY_KEY,
};
const mf = new Miniflare({ ...miniflareOptions({ bindings: { ...secrets, PORTCULLIS_CONFIG: JSON.stringify(config) }, port }), ...logs.options });
await mf.ready;
await applyD1Migrations(mf);

async function signIn() {
  const browser = new Browser();
  const start = await browser.request(`${gatewayUrl}/auth/login?provider=forged&return_to=/app/`);
  const callback = await browser.request(await followAuthorize(start.headers.get("location")), { api: true });
  if (callback.status !== 302) throw new Error(`sign-in answered ${callback.status}: ${await callback.text()}`);
  return browser.jar.header(`${gatewayUrl}/app/`);
}

// Pools of distinct credentials, larger than the isolate caches keep.
const tokens = [];
for (let i = 0; i < 600; i++) {
  tokens.push(await idp.sign(ALGORITHMS[i % ALGORITHMS.length], { claims: { sub: `soak-user-${i}` }, expiresIn: 3600 }));
}
const apiKeys = [];
for (let i = 0; i < 60; i++) apiKeys.push((await createApiKey(gatewayUrl, { name: `soak-${i}`, owner: `svc-${i}`, scopes: [] })).key);
const sessions = [];
for (let i = 0; i < 10; i++) sessions.push(await signIn());

const pick = (list) => list[Math.floor(Math.random() * list.length)];
/** (name, request, the statuses it may answer with by design) */
const kinds = [
  ["jwt", () => ({ path: "/jwt/x", headers: { authorization: `Bearer ${pick(tokens)}` } }), [200]],
  ["api_key", () => ({ path: "/keys/x", headers: { authorization: `Bearer ${pick(apiKeys)}` } }), [200]],
  ["session", () => ({ path: "/app/x", headers: { cookie: pick(sessions), accept: "application/json", "sec-fetch-mode": "cors" } }), [200]],
  ["public", () => ({ path: "/public/x", headers: {} }), [200]],
  ["rate_limited", () => ({ path: "/limited/x", headers: {} }), [200, 429]],
  ["forged", () => ({ path: "/jwt/x", headers: { authorization: `Bearer ${pick(tokens).slice(0, -4)}AAAA` } }), [401]],
];
const counts = Object.fromEntries(kinds.map(([name]) => [name, { requests: 0, statuses: {}, unexpected: 0 }]));
const unexpectedSamples = [];
let logins = 0;
let loginFailures = 0;

const startedAt = Date.now();
const deadline = startedAt + minutes * 60_000;
const memory = [{ atS: 0, rssMiB: workerdRssMiB(), served: 0 }];
const served = () => Object.values(counts).reduce((sum, c) => sum + c.requests, 0);
const sampler = setInterval(() => {
  const sample = { atS: Math.round((Date.now() - startedAt) / 1000), rssMiB: workerdRssMiB(), served: served() };
  memory.push(sample);
  console.error(`${sample.atS} s: ${sample.served} served, workerd ${sample.rssMiB.toFixed(1)} MiB`);
}, sampleEveryS * 1000);
const loginTicker = setInterval(async () => {
  try {
    sessions.push(await signIn());
    if (sessions.length > 200) sessions.shift();
    logins++;
  } catch (error) {
    loginFailures++;
    unexpectedSamples.push(`login: ${error.message}`.slice(0, 200));
  }
}, 3000);

async function loop(index) {
  let turn = index;
  while (Date.now() < deadline) {
    const [name, make, expected] = kinds[turn++ % kinds.length];
    const { path, headers } = make();
    const count = counts[name];
    count.requests++;
    try {
      const response = await fetch(`${gatewayUrl}${path}`, { headers });
      await response.arrayBuffer();
      count.statuses[response.status] = (count.statuses[response.status] ?? 0) + 1;
      if (!expected.includes(response.status)) {
        count.unexpected++;
        if (unexpectedSamples.length < 20) unexpectedSamples.push(`${name}: ${response.status}`);
      }
    } catch (error) {
      count.unexpected++;
      count.statuses.network = (count.statuses.network ?? 0) + 1;
      if (unexpectedSamples.length < 20) unexpectedSamples.push(`${name}: ${error.message}`);
    }
  }
}
await Promise.all(Array.from({ length: concurrency }, (_, i) => loop(i)));
clearInterval(sampler);
clearInterval(loginTicker);
memory.push({ atS: Math.round((Date.now() - startedAt) / 1000), rssMiB: workerdRssMiB(), served: served() });

const elapsedS = (Date.now() - startedAt) / 1000;
const total = served();
const unexpected = Object.values(counts).reduce((sum, c) => sum + c.unexpected, 0) + loginFailures;
console.log(`\nsoak: ${minutes} min, ${concurrency} loops, ${total} requests (${(total / elapsedS).toFixed(0)}/s), ${logins} sign-ins during the run`);
console.log(`${"authenticator".padEnd(14)}${"requests".padStart(10)}  statuses${" ".repeat(24)}unexpected`);
for (const [name, count] of Object.entries(counts)) {
  const statuses = Object.entries(count.statuses).map(([status, n]) => `${status}:${n}`).join(" ");
  console.log(`${name.padEnd(14)}${String(count.requests).padStart(10)}  ${statuses.padEnd(32)}${String(count.unexpected).padStart(10)}`);
}
console.log(`unexpected answers: ${unexpected}${unexpected ? ` (first: ${unexpectedSamples.join("; ")})` : ""}`);
console.log("\nworkerd resident memory");
console.log(`${"at (s)".padStart(7)}${"served".padStart(10)}${"MiB".padStart(9)}`);
for (const sample of memory) console.log(`${String(sample.atS).padStart(7)}${String(sample.served).padStart(10)}${sample.rssMiB.toFixed(1).padStart(9)}`);
const lastHalf = memory.filter((s) => s.atS >= elapsedS / 2).map((s) => s.rssMiB);
if (lastHalf.length > 1) {
  console.log(`second half: ${Math.min(...lastHalf).toFixed(1)}–${Math.max(...lastHalf).toFixed(1)} MiB`);
}

await mf.dispose();
await forging.close();
await idp.close();
await origin.close();
process.exit(unexpected === 0 ? 0 : 1);

// `npm run bench:password`: what a password sign-in costs in workerd, against the Workers CPU
// limits (10 ms per request on the Free plan; 30 s by default on Paid, `limits.cpu_ms`).
//
// The built worker runs in workerd through Miniflare with local accounts. For each argon2id cost,
// the same account (made once per cost, through the real sign-up and verification) signs in with a
// wrong password, serially, N times: each attempt runs one argon2id verification plus the same
// store calls. Sign-in time grows linearly with the passes (t), so a straight line through the
// costs splits each median into the hash and the rest (the intercept): the hash's share is the
// CPU a sign-in needs beyond an ordinary page. workerd runs the hash synchronously on one core, so
// its wall time here is its CPU time on this machine; these machines are noisy, so the table
// shows medians and the ratio to the cheapest cost, and the fit's residual.
import { performance } from "node:perf_hooks";
import { spread } from "./stats.mjs";
import { GOOD_PASSWORD, createAccount, startAccountsStack, submit } from "../tests/support/accounts.mjs";
import { Browser } from "../tests/support/login.mjs";

const ATTEMPTS = Number(process.env.BENCH_PASSWORD_ATTEMPTS ?? 25);
const COSTS = [
  { memory_kib: 19456, iterations: 2, parallelism: 1, note: "the default (OWASP minimum)" },
  { memory_kib: 19456, iterations: 4, parallelism: 1 },
  { memory_kib: 19456, iterations: 8, parallelism: 1 },
  { memory_kib: 65536, iterations: 3, parallelism: 1, note: "RFC 9106's second choice is 64 MiB, t = 3" },
];
// Throttling off for the run: every attempt must reach the hash.
const quiet = { free_failures: 9000, base_delay_ms: 0, lock_after: 9999, lock_s: 60, window_s: 60 };

async function measure(cost) {
  const { note, ...hash } = cost;
  const stack = await startAccountsStack({ overrides: { hash, throttle: { account: quiet, ip: quiet } } });
  try {
    const email = `bench.${cost.memory_kib}.${cost.iterations}@example.test`;
    await createAccount(stack, email, GOOD_PASSWORD);
    const page = [];
    const signIn = [];
    for (let i = 0; i < ATTEMPTS + 3; i++) {
      const started = performance.now();
      await (await new Browser().request(`${stack.url}/auth/accounts/sign-in`)).arrayBuffer();
      const between = performance.now();
      const response = await submit(new Browser(), stack.url, "sign-in", { email, password: "a wrong password, sorry", tenant: "trial" });
      await response.arrayBuffer();
      if (response.status !== 401) throw new Error(`sign-in answered ${response.status}`);
      // The first attempts warm the isolate and the stores.
      if (i >= 3) {
        page.push(between - started);
        signIn.push(performance.now() - between);
      }
    }
    return { ...cost, page: spread(page).median, signIn: spread(signIn).median };
  } finally {
    await stack.close();
  }
}

const results = [];
for (const cost of COSTS) results.push(await measure(cost));

// Least squares of sign-in time over memory × passes (argon2id's work), across the costs.
const work = (r) => (r.memory_kib / 1024) * r.iterations;
const n = results.length;
const mx = results.reduce((s, r) => s + work(r), 0) / n;
const my = results.reduce((s, r) => s + r.signIn, 0) / n;
const slope = results.reduce((s, r) => s + (work(r) - mx) * (r.signIn - my), 0) / results.reduce((s, r) => s + (work(r) - mx) ** 2, 0);
const intercept = my - slope * mx;

const base = results[0];
console.log(`\npassword sign-in in workerd (${ATTEMPTS} wrong-password attempts per cost, medians)\n`);
console.log("| argon2id cost | sign-in ms | ÷ default | account page ms | hash ms (fit) | vs Free plan 10 ms CPU |");
console.log("| --- | ---: | ---: | ---: | ---: | --- |");
for (const r of results) {
  const hashMs = slope * work(r);
  const fits = hashMs <= 10 ? "fits" : `${(hashMs / 10).toFixed(1)}× over`;
  console.log(
    `| m=${r.memory_kib},t=${r.iterations},p=${r.parallelism}${r.note ? ` (${r.note})` : ""} | ${r.signIn.toFixed(1)} | ${(r.signIn / base.signIn).toFixed(2)}× | ${r.page.toFixed(1)} | ${hashMs.toFixed(1)} | ${fits} |`,
  );
}
const residual = Math.sqrt(results.reduce((s, r) => s + (r.signIn - (intercept + slope * work(r))) ** 2, 0) / n);
console.log(`\nfit: sign-in ms ≈ ${intercept.toFixed(1)} + ${slope.toFixed(2)} × (MiB × passes); residual ${residual.toFixed(1)} ms`);

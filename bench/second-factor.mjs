// `npm run bench:mfa` (and the end of `npm run bench`): what a TOTP check and a passkey
// assertion cost at the edge.
//
// The built worker runs in workerd through Miniflare with local accounts. One account enrols an
// authenticator app through the real pages; then, serially and interleaved so that both see the
// same noise, a browser holding a second-factor ticket (a) loads the challenge page and (b) posts a
// wrong code. (b) is the whole check: the ticket opened, the user's throttle counted in the ledger
// Durable Object, the factor read from D1, its secret unsealed and three HMAC-SHA-1 codes compared.
// A right code adds two writes (the ledger's step and D1's last step) and cannot be repeated, so
// it is timed a few times on its own. Passkeys: a second account registers an ES256 passkey from
// the software authenticator of the tests, then each round asks for passwordless options and
// answers them, (c) with a signature over other data (the whole verification, refused: the
// ceremony opened and spent in the ledger, the passkey read from D1, the CBOR and client data
// checked, WebCrypto's ECDSA verify) and (d) with a good assertion (the same, plus the counter's
// D1 update and a new session). Medians, and the ratio to the page load.
import { performance } from "node:perf_hooks";
import { generateSync } from "otplib";
import { spread } from "./stats.mjs";
import { GOOD_PASSWORD, createAccount, signIn, startAccountsStack, submit } from "../tests/support/accounts.mjs";
import { SoftAuthenticator } from "../tests/support/passkey-authenticator.mjs";
import { Browser } from "../tests/support/login.mjs";

const ROUNDS = Number(process.env.BENCH_MFA_ROUNDS ?? 60);
const quiet = { free_failures: 9000, base_delay_ms: 0, lock_after: 9999, lock_s: 60, window_s: 60 };

const stack = await startAccountsStack({ passkeys: true, overrides: { throttle: { account: quiet, ip: quiet } } });
try {
  const email = `bench.mfa.${process.pid}@example.test`;
  await createAccount(stack, email, GOOD_PASSWORD);
  const { browser } = await signIn(stack, email, GOOD_PASSWORD);
  const enrolPage = await (await browser.request(`${stack.url}/auth/accounts/totp`)).text();
  const secret = /id="totp-secret" class="secret">([A-Z2-7 ]+)</.exec(enrolPage)[1].replaceAll(" ", "");
  const field = (html, name) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];
  const code = (offset = 0) => generateSync({ secret, epoch: Math.floor(Date.now() / 1000) + offset * 30, algorithm: "sha1", digits: 6, period: 30 });
  const enrolled = await submit(browser, stack.url, "totp", { code: code(), enrolment: field(enrolPage, "enrolment"), csrf_token: field(enrolPage, "csrf_token") });
  if (enrolled.status !== 200) throw new Error(`enrolment answered ${enrolled.status}`);

  const ticketHolder = async () => (await signIn(stack, email, GOOD_PASSWORD)).browser;
  const holder = await ticketHolder();
  const wrong = (c) => (c === "000000" ? "111111" : "000000");
  const page = [];
  const check = [];
  for (let i = 0; i < ROUNDS + 5; i++) {
    const started = performance.now();
    const shown = await holder.request(`${stack.url}/auth/accounts/mfa`);
    await shown.arrayBuffer();
    const between = performance.now();
    const refused = await submit(holder, stack.url, "mfa", { code: wrong(code()) });
    await refused.arrayBuffer();
    if (shown.status !== 200 || refused.status !== 401) throw new Error(`answered ${shown.status} / ${refused.status}`);
    if (i >= 5) {
      page.push(between - started);
      check.push(performance.now() - between);
    }
  }
  // Right codes: one per step of the ±1 window that is later than the last accepted one.
  const accepted = [];
  for (const offset of [1]) {
    const fresh = await ticketHolder();
    const started = performance.now();
    const done = await submit(fresh, stack.url, "mfa", { code: code(offset) });
    await done.arrayBuffer();
    if (done.status !== 303) throw new Error(`a right code answered ${done.status}`);
    accepted.push(performance.now() - started);
  }
  // Passkeys: register one, then passwordless sign-ins, refused and accepted, interleaved.
  const post = (who, step, body) =>
    who.request(`${stack.url}/auth/accounts/passkeys/${step}`, { method: "POST", api: true, headers: { "content-type": "application/json", origin: stack.passkeyOrigin }, body: JSON.stringify(body) });
  const passkeyEmail = `bench.passkey.${process.pid}@example.test`;
  await createAccount(stack, passkeyEmail, GOOD_PASSWORD);
  const owner = (await signIn(stack, passkeyEmail, GOOD_PASSWORD)).browser;
  const security = await (await owner.request(`${stack.url}/auth/accounts/security`)).text();
  const csrf = /data-csrf-token="([^"]*)"/.exec(security)[1];
  const authenticator = new SoftAuthenticator();
  const creation = await (await post(owner, "registration-options", { csrf_token: csrf })).json();
  const registered = await post(owner, "register", { ceremony: creation.ceremony, credential: authenticator.create(creation.publicKey, { origin: stack.passkeyOrigin }), csrf_token: csrf });
  if (registered.status !== 200) throw new Error(`passkey registration answered ${registered.status}`);
  const visitor = new Browser();
  const refusedAssertion = [];
  const goodAssertion = [];
  for (let i = 0; i < ROUNDS + 5; i++) {
    for (const good of [false, true]) {
      const options = await (await post(visitor, "sign-in-options", { mode: "passwordless", tenant: "trial" })).json();
      const credential = authenticator.get(options.publicKey, { origin: stack.passkeyOrigin, ...(good ? {} : { signOver: Buffer.from("other data") }) });
      const started = performance.now();
      const answer = await post(visitor, "sign-in", { ceremony: options.ceremony, credential });
      await answer.arrayBuffer();
      if (answer.status !== (good ? 200 : 401)) throw new Error(`a passkey assertion answered ${answer.status}`);
      if (i >= 5) (good ? goodAssertion : refusedAssertion).push(performance.now() - started);
    }
  }
  const p = spread(page).median;
  const c = spread(check).median;
  console.log(`\nsecond factors in workerd (${ROUNDS} interleaved rounds, medians)\n`);
  console.log("| request | ms | ÷ challenge page |");
  console.log("| --- | ---: | ---: |");
  console.log(`| GET the challenge page (ticket opened, template) | ${p.toFixed(2)} | 1.00× |`);
  console.log(`| POST a wrong TOTP code (the whole check) | ${c.toFixed(2)} | ${(c / p).toFixed(2)}× |`);
  console.log(`| POST the right code (check, spend the step, make the session; n=${accepted.length}) | ${accepted[0].toFixed(2)} | ${(accepted[0] / p).toFixed(2)}× |`);
  const r = spread(refusedAssertion).median;
  const g = spread(goodAssertion).median;
  console.log(`| POST a passkey assertion signed over other data (the whole verification, refused) | ${r.toFixed(2)} | ${(r / p).toFixed(2)}× |`);
  console.log(`| POST a good passkey assertion (verification, counter update, session) | ${g.toFixed(2)} | ${(g / p).toFixed(2)}× |`);
} finally {
  await stack.close();
}

// Second factors of local accounts end to end: the built worker in workerd with local KV, Durable
// Objects and D1, the mail capture and the recording origin. Codes come from npm otplib (the
// reference generator) reading the secret the enrolment page shows, as an authenticator app would.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { generateSync } from "otplib";
import { GOOD_PASSWORD, createAccount, errorCode, signIn, startAccountsStack, submit } from "./support/accounts.mjs";
import { Browser, sessionSetCookie } from "./support/login.mjs";

let stack;
let counter = 0;
const fresh = () => `mfa${++counter}.${process.pid}@example.test`;

before(async () => {
  stack = await startAccountsStack();
});
after(async () => {
  await stack?.close();
});

const TICKET = "__Host-portcullis-mfa";

/** A hidden field's value in a page. */
function field(html, name) {
  return new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];
}

/** The code an authenticator app shows for `secret` at `offsetSteps` steps from now. */
function codeFor(secret, offsetSteps = 0) {
  return generateSync({ secret, epoch: Math.floor(Date.now() / 1000) + offsetSteps * 30, algorithm: "sha1", digits: 6, period: 30 });
}

function ticketCookie(response) {
  return response.headers.getSetCookie().find((line) => line.startsWith(`${TICKET}=`));
}

async function rows(sql, ...values) {
  const db = await stack.db();
  return (await db.prepare(sql).bind(...values).all()).results;
}

/** Reads the enrolment page: the base32 secret it shows, its sealed form field and CSRF token. */
async function openEnrolment(browser, query = "") {
  const page = await browser.request(`${stack.url}/auth/accounts/totp${query}`);
  assert.equal(page.status, 200, await page.clone().text());
  const html = await page.text();
  assert.match(html, /<svg[^>]*viewBox/, "a QR code, as SVG");
  assert.equal(page.headers.get("referrer-policy"), "no-referrer");
  assert.equal(page.headers.get("cache-control"), "no-store");
  const secret = /id="totp-secret" class="secret">([A-Z2-7 ]+)</.exec(html)[1].replaceAll(" ", "");
  return { html, secret, enrolment: field(html, "enrolment"), csrf: field(html, "csrf_token") };
}

/** An account with an authenticator app, enrolled from its security page; returns the secret and codes. */
async function accountWithTotp() {
  const email = fresh();
  await createAccount(stack, email);
  const { browser, response } = await signIn(stack, email, GOOD_PASSWORD);
  assert.equal(response.status, 303);
  const { secret, enrolment, csrf } = await openEnrolment(browser);
  const done = await submit(browser, stack.url, "totp", { code: codeFor(secret), enrolment, csrf_token: csrf });
  assert.equal(done.status, 200, await done.clone().text());
  const codes = [...(await done.text()).matchAll(/<li><code>([a-z2-9-]+)<\/code><\/li>/g)].map((m) => m[1]);
  return { email, secret, codes, browser };
}

/** Signs in with the password; returns the browser holding only the second-factor ticket. */
async function passwordStep(email) {
  const { browser, response } = await signIn(stack, email, GOOD_PASSWORD, { returnTo: "/app/after" });
  assert.equal(response.status, 303);
  assert.equal(response.headers.get("location"), "/auth/accounts/mfa");
  assert.equal(sessionSetCookie(response), undefined, "no session before the second factor");
  assert.match(ticketCookie(response), /; Secure; HttpOnly; SameSite=Lax; Max-Age=300$/);
  return browser;
}

describe("enrolment", () => {
  test("a signed-in account enrols an authenticator app: the first code proves it, ten recovery codes are shown once, the secret is sealed at rest", async () => {
    const email = fresh();
    await createAccount(stack, email);
    const { browser } = await signIn(stack, email, GOOD_PASSWORD);
    const security = await (await browser.request(`${stack.url}/auth/accounts/security`)).text();
    assert.match(security, /data-state="off"/);
    const { secret, enrolment, csrf } = await openEnrolment(browser);
    assert.equal(secret.length, 32, "160 bits in base32");
    // A wrong code shows the same secret again, to retry.
    const wrong = await submit(browser, stack.url, "totp", { code: "000000", enrolment, csrf_token: csrf });
    assert.equal(wrong.status, 401);
    assert.equal(await errorCode(wrong), "code_incorrect");
    assert.equal(field(await wrong.text(), "enrolment"), enrolment);
    const since = Date.now();
    const done = await submit(browser, stack.url, "totp", { code: codeFor(secret), enrolment, csrf_token: csrf });
    assert.equal(done.status, 200);
    const html = await done.text();
    const codes = [...html.matchAll(/<li><code>([a-z2-9-]+)<\/code><\/li>/g)].map((m) => m[1]);
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    for (const code of codes) assert.match(code, /^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/);
    assert.ok(sessionSetCookie(done), "the account's first factor joins the session");
    const app = await browser.request(`${stack.url}/app/x`);
    assert.equal(app.status, 200);
    assert.equal(stack.origin.requests.at(-1).headers["x-auth-amr"], "pwd,mfa", "an enrolment proves no otp: a route asking for otp steps up");
    const user = stack.origin.requests.at(-1).headers["x-auth-subject"];
    const stored = await rows("SELECT kind, sealed_secret, last_step FROM mfa_factors WHERE user_id = ?", user);
    assert.equal(stored.length, 1);
    assert.equal(stored[0].kind, "totp");
    assert.ok(!stored[0].sealed_secret.includes(secret) && stored[0].sealed_secret.includes("."), "sealed, not the secret");
    assert.ok(stored[0].last_step > 0, "the enrolling code's step is spent");
    const digests = await rows("SELECT digest FROM recovery_codes WHERE user_id = ? AND used_at_ms IS NULL", user);
    assert.equal(digests.length, 10);
    assert.ok(digests.every((row) => /^[0-9a-f]{64}$/.test(row.digest) && !codes.includes(row.digest)), "stored hashed");
    const mail = await stack.mail.next(email, { subject: /Security alert/, after: since });
    assert.match(mail.text, /turned on/);
    // The enrolment form cannot be replayed to add a second app.
    const again = await submit(browser, stack.url, "totp", { code: codeFor(secret, 1), enrolment, csrf_token: csrf });
    assert.ok([303, 403].includes(again.status), `answered ${again.status}`);
    assert.equal((await rows("SELECT COUNT(*) AS n FROM mfa_factors WHERE user_id = ?", user))[0].n, 1);
  });

  test("an enrolment form is bound to its account, and a tampered one is refused", async () => {
    const a = fresh();
    const b = fresh();
    await createAccount(stack, a);
    await createAccount(stack, b);
    const { browser: browserA } = await signIn(stack, a, GOOD_PASSWORD);
    const { browser: browserB } = await signIn(stack, b, GOOD_PASSWORD);
    const formA = await openEnrolment(browserA);
    const formB = await openEnrolment(browserB);
    // B submits A's sealed secret (with B's own CSRF token): it does not open for B.
    const swapped = await submit(browserB, stack.url, "totp", { code: codeFor(formA.secret), enrolment: formA.enrolment, csrf_token: formB.csrf });
    assert.equal(await errorCode(swapped), "enrolment_expired");
    const tampered = formB.enrolment.slice(0, -2) + (formB.enrolment.endsWith("AA") ? "AB" : "AA");
    const refused = await submit(browserB, stack.url, "totp", { code: codeFor(formB.secret), enrolment: tampered, csrf_token: formB.csrf });
    assert.equal(await errorCode(refused), "enrolment_expired");
    const noCsrf = await submit(browserB, stack.url, "totp", { code: codeFor(formB.secret), enrolment: formB.enrolment });
    assert.equal(await errorCode(noCsrf), "csrf_rejected");
  });

  test("a tenant that requires MFA enrols at the next sign-in, before any session exists", async () => {
    const email = fresh();
    await createAccount(stack, email, GOOD_PASSWORD, { tenant: "strict" });
    const { browser, response } = await signIn(stack, email, GOOD_PASSWORD, { tenant: "strict", returnTo: "/app/welcome" });
    assert.equal(response.status, 303);
    assert.equal(response.headers.get("location"), "/auth/accounts/totp");
    assert.equal(sessionSetCookie(response), undefined);
    const app = await browser.request(`${stack.url}/app/welcome`);
    assert.equal(app.status, 302, "no session yet: the app sends the browser to log in");
    const { secret, enrolment, csrf } = await openEnrolment(browser);
    assert.equal(csrf, "", "the ticket is the proof");
    const done = await submit(browser, stack.url, "totp", { code: codeFor(secret), enrolment });
    assert.equal(done.status, 200);
    assert.match(await done.clone().text(), /href="\/app\/welcome"/);
    assert.ok(ticketCookie(done).includes("Max-Age=0"), "the ticket is cleared");
    const after = await browser.request(`${stack.url}/app/welcome`);
    assert.equal(after.status, 200);
    assert.equal(stack.origin.requests.at(-1).headers["x-auth-amr"], "pwd,mfa", "a required enrolment completes the sign-in as mfa, not otp");
  });
});

describe("the second factor at sign-in", () => {
  test("a password alone gets a ticket, not a session; the code completes the sign-in", async () => {
    const { email, secret } = await accountWithTotp();
    const browser = await passwordStep(email);
    const app = await browser.request(`${stack.url}/app/after`);
    assert.equal(app.status, 302, "the ticket is not a session");
    const page = await browser.request(`${stack.url}/auth/accounts/mfa`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /autocomplete="one-time-code"/);
    const wrong = await submit(browser, stack.url, "mfa", { code: "123456" === codeFor(secret) ? "654321" : "123456" });
    assert.equal(wrong.status, 401);
    assert.equal(await errorCode(wrong), "code_incorrect");
    // The next step's code is within ±1 step, and later than the enrolling code's.
    const done = await submit(browser, stack.url, "mfa", { code: codeFor(secret, 1) });
    assert.equal(done.status, 303, await done.clone().text());
    assert.equal(done.headers.get("location"), "/app/after");
    assert.ok(sessionSetCookie(done));
    const reached = await browser.request(`${stack.url}/app/after`);
    assert.equal(reached.status, 200);
    const seen = stack.origin.requests.at(-1).headers;
    assert.equal(seen["x-auth-amr"], "pwd,otp,mfa");
    const assertion = JSON.parse(Buffer.from(seen["x-portcullis-assertion"].split(".")[1], "base64url"));
    assert.deepEqual(assertion.amr, ["pwd", "otp", "mfa"]);
    assert.ok(Math.abs(assertion.auth_time - Date.now() / 1000) < 60);
  });

  test("a code is accepted once, and no older code after it (RFC 6238 §5.2)", async () => {
    const { email, secret } = await accountWithTotp();
    const code = codeFor(secret, 1);
    const first = await passwordStep(email);
    assert.equal((await submit(first, stack.url, "mfa", { code })).status, 303);
    const second = await passwordStep(email);
    const replay = await submit(second, stack.url, "mfa", { code });
    assert.equal(await errorCode(replay), "code_incorrect");
    // The previous step's code is within the window, but older than the one accepted.
    const older = await submit(second, stack.url, "mfa", { code: codeFor(secret, -1) });
    assert.equal(await errorCode(older), "code_incorrect");
  });

  test("a ticket is spent once, dies with tampering, and cannot be made from a session cookie", async () => {
    const { email, secret } = await accountWithTotp();
    const browser = await passwordStep(email);
    const ticket = browser.jar.header(`${stack.url}/auth/accounts/mfa`).split("; ").find((c) => c.startsWith(`${TICKET}=`));
    const done = await submit(browser, stack.url, "mfa", { code: codeFor(secret, 1) });
    assert.equal(done.status, 303);
    // The same ticket again, with a fresh browser (no session), is spent.
    const replay = await new Browser().request(`${stack.url}/auth/accounts/mfa`, {
      method: "POST",
      body: new URLSearchParams({ recovery_code: "aaaa-bbbb-cccc" }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded", origin: stack.url, cookie: ticket },
    });
    assert.ok(["code_incorrect", "second_factor_expired"].includes(await errorCode(replay)));
    const value = ticket.slice(TICKET.length + 1);
    for (const forged of [`${value.slice(0, -1)}${value.endsWith("A") ? "B" : "A"}`, "x.y", ""]) {
      const refused = await new Browser().request(`${stack.url}/auth/accounts/mfa`, {
        method: "POST",
        body: new URLSearchParams({ code: codeFor(secret) }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded", origin: stack.url, cookie: `${TICKET}=${forged}` },
      });
      assert.equal(refused.status, 401, forged);
      assert.equal(await errorCode(refused), "second_factor_expired", forged);
    }
    const crossSite = await submit(await passwordStep(email), stack.url, "mfa", { code: codeFor(secret) }, { origin: "https://evil.test" });
    assert.equal(await errorCode(crossSite), "csrf_rejected");
  });

  test("guessing codes is throttled, then locked, and the lock holds against the right code", async () => {
    const { email, secret } = await accountWithTotp();
    const browser = await passwordStep(email);
    const right = codeFor(secret, 1);
    const wrongs = ["111111", "222222", "333333", "444444", "555555", "666666"].filter((c) => c !== right && c !== codeFor(secret) && c !== codeFor(secret, -1));
    const codes = [];
    for (const code of wrongs.slice(0, 5)) codes.push(await errorCode(await submit(browser, stack.url, "mfa", { code })));
    assert.deepEqual(codes.slice(0, 4), ["code_incorrect", "code_incorrect", "code_incorrect", "code_incorrect"]);
    const locked = await submit(browser, stack.url, "mfa", { code: right });
    assert.equal(locked.status, 429);
    assert.equal(await errorCode(locked), "too_many_attempts");
    assert.ok(Number(locked.headers.get("retry-after")) > 0);
  });
});

describe("recovery codes", () => {
  test("a recovery code signs in once and tells the owner; regenerated codes replace the old set", async () => {
    const { email, codes } = await accountWithTotp();
    const since = Date.now();
    const browser = await passwordStep(email);
    const used = await submit(browser, stack.url, "mfa", { recovery_code: codes[0].toUpperCase().replaceAll("-", " ") });
    assert.equal(used.status, 303, await used.clone().text());
    assert.equal((await browser.request(`${stack.url}/app/r`)).status, 200);
    assert.equal(stack.origin.requests.at(-1).headers["x-auth-amr"], "pwd,mfa", "a recovery code is not an otp");
    const mail = await stack.mail.next(email, { subject: /Security alert/, after: since });
    assert.match(mail.text, /recovery code was just used[\s\S]*9 unused codes/);
    const again = await submit(await passwordStep(email), stack.url, "mfa", { recovery_code: codes[0] });
    assert.equal(await errorCode(again), "code_incorrect", "single use");
    // Regenerate from the security page (this session passed a second factor).
    const security = await (await browser.request(`${stack.url}/auth/accounts/security`)).text();
    assert.match(security, /data-left="9"/);
    const csrf = field(security, "csrf_token");
    const regenerated = await submit(browser, stack.url, "security", { action: "regenerate_codes", csrf_token: csrf });
    assert.equal(regenerated.status, 200);
    const fresh = [...(await regenerated.text()).matchAll(/<li><code>([a-z2-9-]+)<\/code><\/li>/g)].map((m) => m[1]);
    assert.equal(fresh.length, 10);
    const old = await submit(await passwordStep(email), stack.url, "mfa", { recovery_code: codes[1] });
    assert.equal(await errorCode(old), "code_incorrect", "the old set stopped working");
    const next = await submit(await passwordStep(email), stack.url, "mfa", { recovery_code: fresh[0] });
    assert.equal(next.status, 303);
  });
});

describe("managing factors and stepping up", () => {
  test("changing factors needs the session's CSRF token and a session that passed the second factor", async () => {
    const { browser } = await accountWithTotp();
    const noToken = await submit(browser, stack.url, "security", { action: "remove_totp" });
    assert.equal(await errorCode(noToken), "csrf_rejected");
    const html = await (await browser.request(`${stack.url}/auth/accounts/security`)).text();
    const removed = await submit(browser, stack.url, "security", { action: "remove_totp", csrf_token: field(html, "csrf_token") });
    assert.equal(removed.status, 303);
    const after = await (await browser.request(`${stack.url}/auth/accounts/security`)).text();
    assert.match(after, /data-state="off"/);
  });

  test("after removal the password signs in alone again, and the recovery codes are gone", async () => {
    const { email, browser, codes } = await accountWithTotp();
    const html = await (await browser.request(`${stack.url}/auth/accounts/security`)).text();
    await submit(browser, stack.url, "security", { action: "remove_totp", csrf_token: field(html, "csrf_token") });
    const { response } = await signIn(stack, email, GOOD_PASSWORD, { returnTo: "/app/y" });
    assert.equal(response.headers.get("location"), "/app/y");
    assert.ok(sessionSetCookie(response));
    const left = await rows("SELECT COUNT(*) AS n FROM recovery_codes rc JOIN users u ON u.id = rc.user_id WHERE u.email = ?", email);
    assert.equal(left[0].n, 0);
    const old = await submit(new Browser(), stack.url, "mfa", { recovery_code: codes[0] });
    assert.equal(await errorCode(old), "second_factor_expired", "no ticket, no session: nothing to complete");
  });

  test("a page load on a route that needs a recent code is sent to the second-factor page and comes back", async () => {
    const { email, secret, codes } = await accountWithTotp();
    // A session that used a recovery code has mfa but not otp.
    const browser = await passwordStep(email);
    assert.equal((await submit(browser, stack.url, "mfa", { recovery_code: codes[0] })).status, 303);
    const before = stack.origin.requests.length;
    const load = await browser.request(`${stack.url}/payouts/run?x=1`);
    assert.equal(load.status, 302);
    assert.equal(load.headers.get("location"), "/auth/accounts/mfa?return_to=%2Fpayouts%2Frun%3Fx%3D1");
    const api = await browser.request(`${stack.url}/payouts/run`, { api: true });
    assert.equal(api.status, 401);
    assert.match(api.headers.get("www-authenticate"), /error="insufficient_user_authentication".*acr_values="otp", max_age=300/);
    assert.equal(stack.origin.requests.length, before, "the origin saw neither");
    const page = await browser.request(`${stack.url}${load.headers.get("location")}`);
    const html = await page.text();
    const csrf = field(html, "csrf_token");
    assert.ok(csrf, "a session steps up with its CSRF token");
    assert.equal(field(html, "return_to"), "/payouts/run?x=1");
    const noToken = await submit(browser, stack.url, "mfa", { code: codeFor(secret, 1), return_to: "/payouts/run?x=1" });
    assert.equal(await errorCode(noToken), "csrf_rejected");
    const stepped = await submit(browser, stack.url, "mfa", { code: codeFor(secret, 1), csrf_token: csrf, return_to: "/payouts/run?x=1" });
    assert.equal(stepped.status, 303);
    assert.equal(stepped.headers.get("location"), "/payouts/run?x=1");
    const reached = await browser.request(`${stack.url}/payouts/run?x=1`);
    assert.equal(reached.status, 200);
    assert.equal(stack.origin.requests.at(-1).headers["x-auth-amr"], "pwd,otp,mfa");
  });

  test("a session without a factor that must step up is sent to enrol one", async () => {
    const email = fresh();
    await createAccount(stack, email);
    const { browser } = await signIn(stack, email, GOOD_PASSWORD);
    const load = await browser.request(`${stack.url}/payouts/run`);
    assert.equal(load.status, 302);
    const challenge = await browser.request(`${stack.url}${load.headers.get("location")}`);
    assert.equal(challenge.status, 303);
    assert.match(challenge.headers.get("location"), /^\/auth\/accounts\/totp\?return_to=%2Fpayouts%2Frun$/);
  });
});

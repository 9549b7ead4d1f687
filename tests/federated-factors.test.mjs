// Portcullis's own second factors for federated users (`providers[].authentication.local_factors`),
// end to end: the built worker in workerd with local KV, Durable Objects and D1, the real OpenID
// Provider (oidc-provider@8), the mail capture and the recording origin. A provider's sign-in that
// it is not believed to have done with a second factor is held (no session) until the user presents
// one of Portcullis's factors, or enrols one when MFA is required. Codes come from npm otplib
// reading the secret the enrolment page shows, as an authenticator app would.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { generateSync } from "otplib";
import { startOrigin } from "./support/origin.mjs";
import { ACCOUNTS, Browser, OIDC_SECRET, oidcProviderEntry, rawRequest, sessionSetCookie, startLoginStack } from "./support/login.mjs";
import { TEST_ADMIN_KEY } from "./support/config.mjs";
import { loginAtProvider } from "./support/oidc-provider.mjs";
import { MAIL_API_TOKEN, TEST_PASSWORD_PEPPER, accountsSection, errorCode, submit } from "./support/accounts.mjs";
import { startMailCapture } from "./support/mail-capture.mjs";
import { startBreachStub } from "./support/breach-stub.mjs";
import { assertionVerifier } from "./support/assertion-verifier.mjs";

const TICKET = "__Host-portcullis-mfa";

let origin;
let mail;
let breach;
let stack;
let gw;
// How the provider says each login authenticated.
const authentications = {};
const people = {
  ann: { email: "ann@corp.test", email_verified: true, name: "Ann", groups: [], tenant: "acme" },
  ben: { email: "ben@corp.test", email_verified: true, name: "Ben", groups: [], tenant: "acme" },
  cat: { email: "cat@corp.test", email_verified: true, name: "Cat", groups: [], tenant: "acme" },
  dan: { email: "dan@corp.test", email_verified: true, name: "Dan", groups: [], tenant: "acme" },
  fay: { email: "fay@corp.test", email_verified: true, name: "Fay", groups: [], tenant: "acme" },
  gus: { email: "gus@corp.test", email_verified: true, name: "Gus", groups: [], tenant: "acme" },
};

before(async () => {
  origin = await startOrigin();
  mail = await startMailCapture({ token: MAIL_API_TOKEN });
  breach = await startBreachStub();
  const provider = (idp, id, authentication, extra = {}) =>
    oidcProviderEntry(idp, id, { directory: { tenant: "acme" }, authentication, ...extra });
  stack = await startLoginStack({
    origin,
    withGithub: false,
    idpOptions: { authentications, accounts: { ...ACCOUNTS, ...people } },
    // Tenant "strict" (whose local_accounts entry requires MFA) signs in at its own IdP, through a
    // connection stored in the directory.
    extraIdps: [{ accounts: { eve: { email: "eve@strict.test", email_verified: true, name: "Eve", groups: [] } } }],
    routes: [
      { id: "home", path: "/", methods: ["GET"], policy: "public" },
      { id: "payouts", path: "/payouts/*", policy: "authenticated", mfa: { required: true, methods: ["otp"], max_age_s: 300 } },
      { id: "app", path: "/*", policy: "authenticated" },
    ],
    extraProviders: ({ idp }) => [
      provider(idp, "corp-required", { local_factors: true, require_mfa: true }),
      // Asking for max_age makes the provider send auth_time: a session's first factor has an age.
      provider(idp, "corp-local", { local_factors: true }, { authorization_params: { max_age: "86400" } }),
      provider(idp, "corp-trusted", { local_factors: true, require_mfa: true, trust_amr: true }),
    ],
    configFields: { local_accounts: accountsSection({ mail, breach }) },
    extraSecrets: { PORTCULLIS_PASSWORD_PEPPER: TEST_PASSWORD_PEPPER, MAIL_API_TOKEN },
  });
  gw = stack.gateway.url;
  origin.verifyAssertionsWith(assertionVerifier({ jwksUrl: `${gw}/.well-known/jwks.json`, audience: origin.url }));
});

after(async () => {
  await stack?.close();
  await origin?.close();
  await mail?.close();
  await breach?.close();
});

/** A hidden field's value in a page. */
function field(html, name) {
  return new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];
}

/**
 * A code the gateway accepts now, for a 30-second step not used before: each step is accepted
 * once, so `used` records the steps this user's codes were for.
 */
function freshCode(secret, used) {
  const now = Math.floor(Date.now() / 30_000);
  const step = [now - 1, now, now + 1].find((candidate) => !used.has(candidate));
  assert.notEqual(step, undefined, "three codes already used in this minute and a half");
  used.add(step);
  return generateSync({ secret, epoch: step * 30, algorithm: "sha1", digits: 6, period: 30 });
}

function ticketCookie(response) {
  return response.headers.getSetCookie().find((line) => line.startsWith(`${TICKET}=`));
}

/** Signs `login` in through `provider`; returns the browser and the callback. */
async function signIn(login, provider, said = { amr: ["pwd"] }) {
  authentications[login] = said;
  const browser = new Browser();
  const { callback } = await browser.loginWithOidc(gw, { login, provider, returnTo: "/app/home" });
  return { browser, callback };
}

/** Reads the enrolment page: the base32 secret it shows, its sealed form field and CSRF token. */
async function openEnrolment(browser, query = "") {
  const page = await browser.request(`${gw}/auth/accounts/totp${query}`);
  assert.equal(page.status, 200, await page.clone().text());
  const html = await page.text();
  assert.match(html, /<svg[^>]*viewBox/, "a QR code, as SVG");
  const secret = /id="totp-secret" class="secret">([A-Z2-7 ]+)</.exec(html)[1].replaceAll(" ", "");
  return { html, secret, enrolment: field(html, "enrolment"), csrf: field(html, "csrf_token") };
}

/** The directory's admin API. */
async function admin(method, path, body) {
  const headers = { authorization: `Bearer ${TEST_ADMIN_KEY}`, ...(body ? { "content-type": "application/json" } : {}) };
  const response = await fetch(`${gw}/auth/directory${path}`, { method, headers, body: body && JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** What the origin received for a page the browser loads (which must pass). */
async function seenByOrigin(browser, path = "/app/home") {
  const before = origin.requests.length;
  const response = await browser.request(`${gw}${path}`);
  assert.equal(response.status, 200, await response.clone().text());
  assert.equal(origin.requests.length, before + 1);
  return origin.requests.at(-1);
}

test("require_mfa with Portcullis's factors: a provider's sign-in without a believed factor enrols one before any session; the next is challenged; a spent ticket completes nothing", async () => {
  const since = Date.now();
  const { browser, callback } = await signIn("ann", "corp-required");
  assert.equal(callback.status, 302, await callback.clone().text());
  assert.equal(callback.headers.get("location"), "/auth/accounts/totp");
  assert.equal(sessionSetCookie(callback), undefined, "no session before the second factor");
  assert.match(ticketCookie(callback), /; Secure; HttpOnly; SameSite=Lax; Max-Age=300$/);
  const before = origin.requests.length;
  assert.equal((await browser.request(`${gw}/app/home`)).status, 302, "the ticket grants nothing");
  assert.equal(origin.requests.length, before);

  const used = new Set();
  const { secret, enrolment } = await openEnrolment(browser);
  const wrong = await submit(browser, gw, "totp", { code: "000000", enrolment });
  assert.equal(await errorCode(wrong), "code_incorrect");
  const done = await submit(browser, gw, "totp", { code: freshCode(secret, used), enrolment });
  assert.equal(done.status, 200, await done.clone().text());
  assert.ok(sessionSetCookie(done), "the enrolment completes the sign-in");
  const html = await done.text();
  assert.equal([...html.matchAll(/<li><code>[a-z2-9-]+<\/code><\/li>/g)].length, 10, "ten recovery codes, shown once");
  assert.match(html, /href="\/app\/home"/, "then on to where the sign-in was going");
  const seen = await seenByOrigin(browser);
  assert.equal(seen.headers["x-auth-amr"], "mfa", "an enrolment proves a factor, not which kind");
  assert.match(seen.headers["x-auth-user-id"], /^usr_/);
  assert.equal(seen.assertion.claims.amr.join(","), "mfa");
  const notice = await mail.next("ann@corp.test", { subject: /Security alert/, after: since });
  assert.match(notice.text, /authenticator app was turned on/);

  // The next sign-in is challenged, and passes with a code.
  const second = await signIn("ann", "corp-required");
  assert.equal(second.callback.status, 302);
  assert.equal(second.callback.headers.get("location"), "/auth/accounts/mfa");
  const ticket = ticketCookie(second.callback).split(";")[0];
  const challenge = await second.browser.request(`${gw}/auth/accounts/mfa`);
  assert.equal(challenge.status, 200);
  const passed = await submit(second.browser, gw, "mfa", { code: freshCode(secret, used) });
  assert.equal(passed.status, 303, await passed.clone().text());
  assert.equal(passed.headers.get("location"), "/app/home");
  assert.ok(sessionSetCookie(passed));
  const stepped = await seenByOrigin(second.browser);
  assert.equal(stepped.headers["x-auth-amr"], "otp,mfa");
  assert.equal(stepped.headers["x-auth-method"], "session");
  assert.equal(stepped.headers["x-auth-issuer"], stack.idp.issuer, "still the provider's session: its issuer");
  assert.equal(stepped.headers["x-auth-user-id"], seen.headers["x-auth-user-id"], "the same directory user");

  // The same ticket again (a copied cookie) completes nothing, even with a good code.
  const replay = await rawRequest(`${gw}/auth/accounts/mfa`, {
    method: "POST",
    body: new URLSearchParams({ code: freshCode(secret, used) }).toString(),
    headers: { "content-type": "application/x-www-form-urlencoded", origin: gw, cookie: ticket },
  });
  assert.equal(await errorCode(replay), "second_factor_expired");
  assert.equal(sessionSetCookie(replay), undefined);
});

test("local_factors alone: a user without a factor signs in straight away, enrols from the security page, is then challenged at sign-in, and a route's step-up comes to Portcullis's page", async () => {
  const { browser, callback } = await signIn("ben", "corp-local");
  assert.equal(callback.status, 302, await callback.clone().text());
  assert.equal(callback.headers.get("location"), "/app/home");
  assert.ok(sessionSetCookie(callback), "no factor, none required: a session");
  assert.equal((await seenByOrigin(browser)).headers["x-auth-amr"], undefined);

  const security = await browser.request(`${gw}/auth/accounts/security`);
  assert.equal(security.status, 200, await security.clone().text());
  const page = await security.text();
  assert.match(page, /id="totp-state" data-state="off"/);
  assert.match(page, /<p class="hint" hidden><a id="password-link"/, "a provider's user has no password here");

  const used = new Set();
  const { secret, enrolment, csrf } = await openEnrolment(browser);
  const enrolled = await submit(browser, gw, "totp", { code: freshCode(secret, used), enrolment, csrf_token: csrf });
  assert.equal(enrolled.status, 200, await enrolled.clone().text());
  assert.equal((await seenByOrigin(browser)).headers["x-auth-amr"], "mfa");

  // The route asks for a recent one-time code: the page load goes to Portcullis's challenge.
  const short = await browser.request(`${gw}/payouts/run?id=7`);
  assert.equal(short.status, 302);
  assert.equal(short.headers.get("location"), "/auth/accounts/mfa?return_to=%2Fpayouts%2Frun%3Fid%3D7");
  const challenge = await browser.request(`${gw}${short.headers.get("location")}`);
  assert.equal(challenge.status, 200);
  const challengeHtml = await challenge.text();
  const stepped = await submit(browser, gw, "mfa", {
    code: freshCode(secret, used),
    csrf_token: field(challengeHtml, "csrf_token"),
    return_to: "/payouts/run?id=7",
  });
  assert.equal(stepped.status, 303, await stepped.clone().text());
  assert.equal(stepped.headers.get("location"), "/payouts/run?id=7");
  const reached = await seenByOrigin(browser, "/payouts/run?id=7");
  assert.equal(reached.headers["x-auth-amr"], "otp,mfa");

  // Now that the user has a factor, a sign-in is held for it.
  const next = await signIn("ben", "corp-local");
  assert.equal(next.callback.headers.get("location"), "/auth/accounts/mfa");
  assert.equal(sessionSetCookie(next.callback), undefined);
});

test("a factor the provider is believed to have done needs none of Portcullis's; one it is not believed about is held", async () => {
  const believed = await signIn("cat", "corp-trusted", { amr: ["pwd", "otp"] });
  assert.equal(believed.callback.status, 302, await believed.callback.clone().text());
  assert.equal(believed.callback.headers.get("location"), "/app/home");
  assert.equal((await seenByOrigin(believed.browser)).headers["x-auth-amr"], "pwd,otp");
  const unbelieved = await signIn("cat", "corp-trusted", { amr: ["pwd"] });
  assert.equal(unbelieved.callback.headers.get("location"), "/auth/accounts/totp");
  assert.equal(sessionSetCookie(unbelieved.callback), undefined);
});

test("a held sign-in completes only for a user who is still active", async () => {
  const { browser, callback } = await signIn("dan", "corp-required");
  assert.equal(callback.headers.get("location"), "/auth/accounts/totp");
  const { secret, enrolment } = await openEnrolment(browser);
  const db = await stack.gateway.mf.getD1Database("PORTCULLIS_DB");
  await db.prepare("UPDATE users SET status = 'blocked' WHERE id IN (SELECT user_id FROM identities WHERE subject = 'dan')").run();
  const refused = await submit(browser, gw, "totp", { code: freshCode(secret, new Set()), enrolment });
  assert.equal(refused.status, 403, await refused.clone().text());
  assert.equal(await errorCode(refused), "account_disabled");
  assert.equal(sessionSetCookie(refused), undefined);
  const stored = await db
    .prepare("SELECT COUNT(*) AS n FROM mfa_factors WHERE user_id IN (SELECT user_id FROM identities WHERE subject = 'dan')")
    .first();
  assert.equal(stored.n, 0, "nothing enrolled for a refused sign-in");
});

test("a tenant that must use a second factor holds its own connections' sign-ins for Portcullis's factors, and steps their sessions up on Portcullis's page", async () => {
  assert.equal((await admin("POST", "/tenants", { id: "strict" })).status, 201);
  const made = await admin("POST", "/tenants/strict/connections", {
    type: "oidc", display_name: "Strict SSO", issuer: stack.idps[0].issuer, client_id: "portcullis",
    client_secret: OIDC_SECRET, scopes: ["openid", "email", "profile"],
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const browser = new Browser();
  const { callback } = await browser.loginWithOidc(gw, { login: "eve", provider: made.body.id, returnTo: "/app/home" });
  assert.equal(callback.status, 302, await callback.clone().text());
  assert.equal(callback.headers.get("location"), "/auth/accounts/totp", "the tenant requires MFA: enrol before any session");
  assert.equal(sessionSetCookie(callback), undefined);
  const used = new Set();
  const { secret, enrolment } = await openEnrolment(browser);
  const done = await submit(browser, gw, "totp", { code: freshCode(secret, used), enrolment });
  assert.equal(done.status, 200, await done.clone().text());
  const seen = await seenByOrigin(browser);
  assert.equal(seen.headers["x-auth-tenant"], "strict");
  assert.equal(seen.headers["x-auth-amr"], "mfa");
  const short = await browser.request(`${gw}/payouts/run`);
  assert.equal(short.status, 302);
  assert.equal(short.headers.get("location"), "/auth/accounts/mfa?return_to=%2Fpayouts%2Frun");
  const challenge = await (await browser.request(`${gw}${short.headers.get("location")}`)).text();
  const stepped = await submit(browser, gw, "mfa", {
    code: freshCode(secret, used),
    csrf_token: field(challenge, "csrf_token"),
    return_to: "/payouts/run",
  });
  assert.equal(stepped.status, 303, await stepped.clone().text());
  assert.equal((await seenByOrigin(browser, "/payouts/run")).headers["x-auth-amr"], "otp,mfa");
});

test("a session whose sign-in is old cannot add a first factor (a stolen cookie cannot bind the thief's app): it signs in again at its provider first", async () => {
  const hourAgo = Math.floor(Date.now() / 1000) - 3600;
  const { browser, callback } = await signIn("fay", "corp-local", { amr: ["pwd"], ts: hourAgo });
  assert.equal(callback.headers.get("location"), "/app/home");
  const stale = await browser.request(`${gw}/auth/accounts/totp?return_to=%2Fapp%2Fhome`);
  assert.equal(stale.status, 303, await stale.clone().text());
  const again = stale.headers.get("location");
  assert.equal(
    again,
    `/auth/login?provider=corp-local&max_age=60&return_to=${encodeURIComponent("/auth/accounts/totp?return_to=%2Fapp%2Fhome")}`,
  );
  // The provider is asked for a fresh sign-in; after it, the enrolment page opens.
  authentications.fay = { amr: ["pwd"] };
  const start = await browser.request(`${gw}${again}`);
  assert.equal(start.status, 302, await start.clone().text());
  assert.equal(new URL(start.headers.get("location")).searchParams.get("max_age"), "60");
  const back = await browser.request(await loginAtProvider(start.headers.get("location"), { login: "fay", jar: browser.idpJar }));
  assert.equal(back.status, 302, await back.clone().text());
  assert.equal(back.headers.get("location"), "/auth/accounts/totp?return_to=%2Fapp%2Fhome");
  const { secret, enrolment, csrf } = await openEnrolment(browser, "?return_to=%2Fapp%2Fhome");
  const done = await submit(browser, gw, "totp", { code: freshCode(secret, new Set()), enrolment, csrf_token: csrf });
  assert.equal(done.status, 200, await done.clone().text());
});

test("a held sign-in whose user's sessions were revoked meanwhile completes nothing", async () => {
  const { browser, callback } = await signIn("gus", "corp-required");
  assert.equal(callback.headers.get("location"), "/auth/accounts/totp");
  const { secret, enrolment } = await openEnrolment(browser);
  const revoked = await rawRequest(`${gw}/auth/sessions/revoke`, {
    method: "POST",
    headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ provider: "corp-required", subject: "gus" }),
  });
  assert.equal(revoked.status, 200, await revoked.clone().text());
  const refused = await submit(browser, gw, "totp", { code: freshCode(secret, new Set()), enrolment });
  assert.equal(await errorCode(refused), "second_factor_expired");
  assert.equal(sessionSetCookie(refused), undefined);
  const db = await stack.gateway.mf.getD1Database("PORTCULLIS_DB");
  const stored = await db
    .prepare("SELECT COUNT(*) AS n FROM mfa_factors WHERE user_id IN (SELECT user_id FROM identities WHERE subject = 'gus')")
    .first();
  assert.equal(stored.n, 0, "nothing enrolled");
});

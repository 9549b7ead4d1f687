// Passkeys end to end over HTTP: the built worker in workerd with local KV, Durable Objects and
// D1, answering a software ES256 authenticator (tests/support/passkey-authenticator.mjs) that
// forges what a browser never sends. Every response the edge is given is also given to npm
// @simplewebauthn/server, and the two verifiers must agree, accepted or refused. Chromium's
// virtual authenticator runs the real browser path in tests/passkeys-browser.test.mjs.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { verifyAuthenticationResponse, verifyRegistrationResponse } from "@simplewebauthn/server";
import { GOOD_PASSWORD, createAccount, signIn, startAccountsStack, submit } from "./support/accounts.mjs";
import { FLAGS, SoftAuthenticator } from "./support/passkey-authenticator.mjs";
import { Browser, sessionSetCookie } from "./support/login.mjs";

let stack;
let counter = 0;
const fresh = () => `pk${++counter}.${process.pid}@example.test`;

before(async () => {
  stack = await startAccountsStack({ passkeys: true });
});
after(async () => {
  await stack?.close();
});

const RP_ID = "localhost";

/** A step of a ceremony, posted as www/static/passkeys.js posts it. */
function ceremonyStep(browser, step, body, { origin = stack.passkeyOrigin, cookie } = {}) {
  return browser.request(`${stack.url}/auth/accounts/passkeys/${step}`, {
    method: "POST",
    api: true,
    headers: { "content-type": "application/json", origin, ...(cookie ? { cookie } : {}) },
    body: JSON.stringify(body),
  });
}

async function json(response, status = 200) {
  const text = await response.text();
  assert.equal(response.status, status, text);
  return JSON.parse(text);
}

/** The CSRF token a page hands the passkey script. */
async function pageCsrf(browser, page) {
  const html = await (await browser.request(`${stack.url}/auth/accounts/${page}`)).text();
  return /data-csrf-token="([^"]*)"/.exec(html)?.[1] ?? "";
}

/** What @simplewebauthn/server says of a registration. */
async function theirRegistration(credential, challenge, { requireUserVerification = false } = {}) {
  try {
    const result = await verifyRegistrationResponse({
      response: credential,
      expectedChallenge: challenge,
      expectedOrigin: stack.passkeyOrigin,
      expectedRPID: RP_ID,
      requireUserVerification,
    });
    return result.verified ? result.registrationInfo : null;
  } catch {
    return null;
  }
}

/** What @simplewebauthn/server says of an assertion of `registered` with `storedCount`. */
async function theirAssertion(credential, challenge, registered, storedCount, { requireUserVerification = false } = {}) {
  try {
    const result = await verifyAuthenticationResponse({
      response: credential,
      expectedChallenge: challenge,
      expectedOrigin: stack.passkeyOrigin,
      expectedRPID: RP_ID,
      credential: { id: registered.credential.id, publicKey: registered.credential.publicKey, counter: storedCount },
      requireUserVerification,
    });
    return result.verified;
  } catch {
    return false;
  }
}

/** A signed-in account with one passkey, registered from its security page. */
async function accountWithPasskey() {
  const email = fresh();
  await createAccount(stack, email);
  const { browser, response } = await signIn(stack, email, GOOD_PASSWORD);
  assert.equal(response.status, 303);
  const csrf = await pageCsrf(browser, "security");
  assert.ok(csrf, "the security page hands the script its CSRF token");
  const authenticator = new SoftAuthenticator();
  const options = await json(await ceremonyStep(browser, "registration-options", { csrf_token: csrf }));
  const credential = authenticator.create(options.publicKey, { origin: stack.passkeyOrigin });
  const theirs = await theirRegistration(credential, options.publicKey.challenge);
  assert.ok(theirs, "@simplewebauthn/server accepts the registration too");
  const done = await ceremonyStep(browser, "register", { ceremony: options.ceremony, credential, name: "Laptop <b>", csrf_token: csrf, return_to: "/auth/accounts/security" });
  const body = await json(done);
  return { email, browser, authenticator, options, registered: theirs, body, done };
}

/** Signs in with the password: the browser holds only the second-factor ticket. */
async function passwordStep(email) {
  const { browser, response } = await signIn(stack, email, GOOD_PASSWORD, { returnTo: "/app/after" });
  assert.equal(response.headers.get("location"), "/auth/accounts/mfa");
  return browser;
}

/** Second-factor options for a ticket (or a session, with its CSRF token). */
async function signInOptions(browser, body = {}) {
  return json(await ceremonyStep(browser, "sign-in-options", { mode: "second_factor", ...body }));
}

describe("registration", () => {
  test("a signed-in account registers a passkey: both verifiers accept it, ten recovery codes come once, the owner is emailed, the page lists it escaped", async () => {
    const after = Date.now();
    const { email, browser, options, body, done } = await accountWithPasskey();
    assert.equal(options.publicKey.rp.id, RP_ID);
    assert.equal(options.publicKey.authenticatorSelection.residentKey, "required");
    assert.equal(options.publicKey.attestation, "none");
    assert.deepEqual(options.publicKey.pubKeyCredParams.map((p) => p.alg), [-8, -7, -257]);
    assert.equal(body.recovery_codes.length, 10, "the first factor comes with recovery codes");
    assert.equal(body.next, "/auth/accounts/security");
    assert.equal(done.headers.get("cache-control"), "no-store");
    assert.ok(sessionSetCookie(done), "the session now has the factor it enrolled");
    const mail = await stack.mail.next(email, { subject: /security/i, after });
    assert.match(mail.text, /A passkey \(Laptop <b>\) was added/);
    const page = await (await browser.request(`${stack.url}/auth/accounts/security`)).text();
    assert.match(page, /data-count="1"/);
    assert.match(page, /Laptop &lt;b&gt;/, "the name is escaped");
    assert.doesNotMatch(page, /Laptop <b>/);
  });

  test("a second registration needs a recent second factor, the same credential twice is refused, and a registration ceremony spends once", async () => {
    const { browser, authenticator } = await accountWithPasskey();
    const csrf = await pageCsrf(browser, "security");
    // The session passed its factor moments ago: it may add another passkey.
    const options = await json(await ceremonyStep(browser, "registration-options", { csrf_token: csrf }));
    assert.equal(options.publicKey.excludeCredentials[0].id, authenticator.id, "the browser is told not to register it again");
    const again = authenticator.create(options.publicKey, { origin: stack.passkeyOrigin });
    const refused = await json(await ceremonyStep(browser, "register", { ceremony: options.ceremony, credential: again, csrf_token: csrf }), 409);
    assert.equal(refused.error, "passkey_exists");
    const other = new SoftAuthenticator();
    const replay = await ceremonyStep(browser, "register", { ceremony: options.ceremony, credential: other.create(options.publicKey, { origin: stack.passkeyOrigin }), csrf_token: csrf });
    assert.equal((await json(replay, 400)).error, "ceremony_expired");
    // Without the CSRF token the session's request is refused.
    const forged = await ceremonyStep(browser, "registration-options", {});
    assert.equal((await json(forged, 403)).error, "csrf_rejected");
    // From another origin, refused before anything else.
    const crossSite = await ceremonyStep(browser, "registration-options", { csrf_token: csrf }, { origin: "https://evil.example" });
    assert.equal((await json(crossSite, 403)).error, "csrf_rejected");
  });

  test("registration negatives: wrong origin, RP ID, type, challenge, user presence, malformed CBOR; both verifiers refuse each", async () => {
    const email = fresh();
    await createAccount(stack, email);
    const { browser } = await signIn(stack, email, GOOD_PASSWORD);
    const csrf = await pageCsrf(browser, "security");
    const authenticator = new SoftAuthenticator();
    const cases = [
      ["origin_mismatch", { origin: "http://localhost:1" }],
      ["rp_id_mismatch", { rpId: "evil.example" }],
      ["wrong_type", { type: "webauthn.get" }],
      ["challenge_mismatch", { challenge: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }],
      ["user_not_present", { flags: FLAGS.UV | FLAGS.AT }],
    ];
    for (const [reason, forge] of cases) {
      const options = await json(await ceremonyStep(browser, "registration-options", { csrf_token: csrf }));
      const credential = authenticator.create(options.publicKey, { origin: stack.passkeyOrigin, ...forge });
      assert.equal(await theirRegistration(credential, options.publicKey.challenge), null, `@simplewebauthn/server refuses ${reason}`);
      const refused = await json(await ceremonyStep(browser, "register", { ceremony: options.ceremony, credential, csrf_token: csrf }), 401);
      assert.equal(refused.reason, reason);
    }
    const options = await json(await ceremonyStep(browser, "registration-options", { csrf_token: csrf }));
    const credential = authenticator.create(options.publicKey, { origin: stack.passkeyOrigin });
    credential.response.attestationObject = Buffer.from([0xa3, 0x63, 0x66, 0x6d]).toString("base64url");
    const malformed = await json(await ceremonyStep(browser, "register", { ceremony: options.ceremony, credential, csrf_token: csrf }), 400);
    assert.equal(malformed.error, "passkey_malformed");
    const db = await stack.db();
    const stored = await db.prepare("SELECT COUNT(*) AS n FROM passkeys WHERE credential_id = ?").bind(authenticator.id).first();
    assert.equal(stored.n, 0, "nothing refused was stored");
  });
});

describe("required enrolment", () => {
  test("a tenant that requires MFA offers a passkey beside the app; its ticket registers one, the sign-in completes as mfa, and a stale ticket stores nothing", async () => {
    const email = fresh();
    await createAccount(stack, email, GOOD_PASSWORD, { tenant: "strict" });
    const { browser, response } = await signIn(stack, email, GOOD_PASSWORD, { tenant: "strict", returnTo: "/app/welcome" });
    assert.equal(response.headers.get("location"), "/auth/accounts/totp");
    const page = await (await browser.request(`${stack.url}/auth/accounts/totp`)).text();
    assert.match(page, /id="enrol-passkey"/);
    assert.equal(/data-csrf-token="([^"]*)"/.exec(page)?.[1], "", "the ticket is the proof");
    const db = await stack.db();
    const user = (await db.prepare("SELECT id FROM users WHERE email = ?").bind(email).first()).id;
    const count = async (table) => (await db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE user_id = ?`).bind(user).first()).n;
    // The password changes while the ceremony runs (a reset elsewhere): the ticket completes
    // nothing, and nothing is stored.
    const stale = await json(await ceremonyStep(browser, "registration-options", {}));
    await db.prepare("UPDATE password_credentials SET changed_at_ms = changed_at_ms + 1 WHERE user_id = ?").bind(user).run();
    const early = new SoftAuthenticator();
    const refused = await ceremonyStep(browser, "register", { ceremony: stale.ceremony, credential: early.create(stale.publicKey, { origin: stack.passkeyOrigin }) });
    assert.equal((await json(refused, 401)).error, "second_factor_expired");
    assert.deepEqual([await count("passkeys"), await count("recovery_codes")], [0, 0], "a stale ticket enrols nothing");
    // The refusal spent that ticket; the password again gives a new one.
    const again = await signIn(stack, email, GOOD_PASSWORD, { tenant: "strict", returnTo: "/app/welcome", browser });
    assert.equal(again.response.headers.get("location"), "/auth/accounts/totp");
    const ticket = browser.jar.header(`${stack.url}/auth/accounts/totp`);
    const options = await json(await ceremonyStep(browser, "registration-options", {}));
    const spare = await json(await ceremonyStep(browser, "registration-options", {}));
    const authenticator = new SoftAuthenticator();
    const done = await ceremonyStep(browser, "register", { ceremony: options.ceremony, credential: authenticator.create(options.publicKey, { origin: stack.passkeyOrigin }) });
    const body = await json(done);
    assert.equal(body.next, "/app/welcome");
    assert.equal(body.recovery_codes.length, 10);
    assert.ok(sessionSetCookie(done));
    assert.equal((await browser.request(`${stack.url}/app/welcome`)).status, 200);
    assert.equal(stack.origin.requests.at(-1).headers["x-auth-amr"], "pwd,mfa", "an enrolment proves no kind of factor: no swk");
    // A copy of the spent ticket adds nothing: the account has a factor now, which a ticket never passed.
    const copy = await ceremonyStep(new Browser(), "register", { ceremony: spare.ceremony, credential: new SoftAuthenticator().create(spare.publicKey, { origin: stack.passkeyOrigin }) }, { cookie: ticket });
    assert.equal((await json(copy, 403)).error, "second_factor_needed");
    assert.deepEqual([await count("passkeys"), await count("recovery_codes")], [1, 10]);
  });
});

describe("sign-in", () => {
  test("after the password the passkey completes the sign-in: the ticket is spent once, the origin learns swk, and the webauthn step-up route lets it in", async () => {
    const { email, authenticator, registered } = await accountWithPasskey();
    const browser = await passwordStep(email);
    const mfaPage = await (await browser.request(`${stack.url}/auth/accounts/mfa`)).text();
    assert.match(mfaPage, /id="use-passkey"/);
    assert.match(mfaPage, /<form class="email-form" method="post" action="\/auth\/accounts\/mfa" hidden>/, "no code form for a user with only passkeys");
    const options = await signInOptions(browser);
    assert.deepEqual(options.publicKey.allowCredentials.map((c) => c.id), [authenticator.id]);
    assert.equal(options.publicKey.rpId, RP_ID);
    const credential = authenticator.get(options.publicKey, { origin: stack.passkeyOrigin });
    assert.ok(await theirAssertion(credential, options.publicKey.challenge, registered, 0), "@simplewebauthn/server accepts it");
    const done = await ceremonyStep(browser, "sign-in", { ceremony: options.ceremony, credential });
    assert.equal((await json(done)).next, "/app/after");
    assert.ok(sessionSetCookie(done));
    const app = await browser.request(`${stack.url}/vault/keys`);
    assert.equal(app.status, 200, await app.text());
    assert.equal(stack.origin.requests.at(-1).headers["x-auth-amr"], "pwd,swk,mfa");
    // The same response again: its ceremony is spent.
    const replay = await ceremonyStep(browser, "sign-in", { ceremony: options.ceremony, credential });
    assert.equal((await json(replay, 400)).error, "ceremony_expired");
  });

  test("assertion negatives, each refused by both verifiers: origin, RP ID, type, challenge, UP, a signature over other data, a regressed counter, malformed and truncated data", async () => {
    const { email, authenticator, registered } = await accountWithPasskey();
    const db = await stack.db();
    const storedCount = async () => (await db.prepare("SELECT sign_count FROM passkeys WHERE credential_id = ?").bind(authenticator.id).first()).sign_count;
    const cases = [
      ["origin_mismatch", { origin: "https://evil.example" }],
      ["rp_id_mismatch", { rpId: "evil.example" }],
      ["wrong_type", { type: "webauthn.create" }],
      ["challenge_mismatch", { challenge: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }],
      ["user_not_present", { flags: FLAGS.UV | FLAGS.BE }],
      ["signature_invalid", { signOver: Buffer.from("something else") }],
      ["sign_count_regressed", { signCount: 0 }],
    ];
    // The counter is above zero first, so that going back to zero is a regression.
    const warmUp = await passwordStep(email);
    const first = await signInOptions(warmUp);
    await json(await ceremonyStep(warmUp, "sign-in", { ceremony: first.ceremony, credential: authenticator.get(first.publicKey, { origin: stack.passkeyOrigin }) }));
    assert.equal(await storedCount(), 1);
    for (const [reason, forge] of cases) {
      const browser = await passwordStep(email);
      const options = await signInOptions(browser);
      const credential = authenticator.get(options.publicKey, { origin: stack.passkeyOrigin, ...forge });
      assert.equal(await theirAssertion(credential, options.publicKey.challenge, registered, await storedCount()), false, `@simplewebauthn/server refuses ${reason}`);
      const refused = await ceremonyStep(browser, "sign-in", { ceremony: options.ceremony, credential });
      assert.equal((await json(refused, 401)).reason, reason);
      assert.equal(sessionSetCookie(refused), undefined);
    }
    for (const [name, mutate] of [
      ["truncated authenticatorData", (c) => { c.response.authenticatorData = Buffer.from(c.response.authenticatorData, "base64url").subarray(0, 36).toString("base64url"); }],
      ["not JSON client data", (c) => { c.response.clientDataJSON = Buffer.from("{not json").toString("base64url"); }],
      ["no signature", (c) => { delete c.response.signature; }],
    ]) {
      const browser = await passwordStep(email);
      const options = await signInOptions(browser);
      const credential = authenticator.get(options.publicKey, { origin: stack.passkeyOrigin });
      mutate(credential);
      assert.equal(await theirAssertion(credential, options.publicKey.challenge, registered, await storedCount()), false, name);
      const refused = await json(await ceremonyStep(browser, "sign-in", { ceremony: options.ceremony, credential }), 400);
      assert.equal(refused.error, "passkey_malformed", name);
    }
    // The backup-eligible flag is fixed at registration (WebAuthn §6.1.3): a synced passkey that
    // comes back device-bound is another authenticator. @simplewebauthn/server does not check it.
    const flipped = await passwordStep(email);
    const flippedOptions = await signInOptions(flipped);
    const deviceBound = authenticator.get(flippedOptions.publicKey, { origin: stack.passkeyOrigin, flags: FLAGS.UP | FLAGS.UV });
    assert.equal((await json(await ceremonyStep(flipped, "sign-in", { ceremony: flippedOptions.ceremony, credential: deviceBound }), 401)).reason, "backup_eligibility_changed");
    const garbage = await passwordStep(email);
    const notJson = await garbage.request(`${stack.url}/auth/accounts/passkeys/sign-in`, { method: "POST", api: true, headers: { "content-type": "application/json", origin: stack.passkeyOrigin }, body: "\u0000{" });
    assert.equal((await json(notJson, 400)).error, "passkey_malformed");
  });

  test("another user's credential is refused in this user's ceremony, even signed correctly", async () => {
    const ann = await accountWithPasskey();
    const bob = await accountWithPasskey();
    const browser = await passwordStep(bob.email);
    const options = await signInOptions(browser);
    const annCredential = ann.authenticator.get(options.publicKey, { origin: stack.passkeyOrigin });
    assert.equal(await theirAssertion(annCredential, options.publicKey.challenge, bob.registered, 0), false);
    const refused = await ceremonyStep(browser, "sign-in", { ceremony: options.ceremony, credential: annCredential });
    assert.equal((await json(refused, 401)).reason, "wrong_user");
    // A ceremony made for Bob's ticket does not answer from Ann's browser either.
    const annBrowser = await passwordStep(ann.email);
    const stolen = await ceremonyStep(annBrowser, "sign-in", { ceremony: options.ceremony, credential: bob.authenticator.get(options.publicKey, { origin: stack.passkeyOrigin }) });
    assert.equal((await json(stolen, 400)).error, "ceremony_expired");
  });

  test("passwordless: a discoverable passkey signs in on its own with user verification, and without it is refused", async () => {
    const { authenticator, registered } = await accountWithPasskey();
    const browser = new Browser();
    const signInPage = await (await browser.request(`${stack.url}/auth/accounts/sign-in`)).text();
    assert.match(signInPage, /autocomplete="username webauthn"/);
    assert.match(signInPage, /<div class="passkey-choice" >/, "the passkey button's container is shown");
    const options = await json(await ceremonyStep(browser, "sign-in-options", { mode: "passwordless", tenant: "trial" }));
    assert.deepEqual(options.publicKey.allowCredentials, []);
    assert.equal(options.publicKey.userVerification, "required");
    const unverified = authenticator.get(options.publicKey, { origin: stack.passkeyOrigin, flags: FLAGS.UP | FLAGS.BE });
    assert.equal(await theirAssertion(unverified, options.publicKey.challenge, registered, authenticator.signCount - 1, { requireUserVerification: true }), false);
    assert.equal((await json(await ceremonyStep(browser, "sign-in", { ceremony: options.ceremony, credential: unverified }), 401)).reason, "user_not_verified");
    const again = await json(await ceremonyStep(browser, "sign-in-options", { mode: "passwordless", tenant: "trial" }));
    const credential = authenticator.get(again.publicKey, { origin: stack.passkeyOrigin });
    assert.ok(await theirAssertion(credential, again.publicKey.challenge, registered, authenticator.signCount - 1, { requireUserVerification: true }));
    const done = await ceremonyStep(browser, "sign-in", { ceremony: again.ceremony, credential, return_to: "/app/home" });
    assert.equal((await json(done)).next, "/app/home");
    const app = await browser.request(`${stack.url}/app/home`);
    assert.equal(app.status, 200);
    assert.equal(stack.origin.requests.at(-1).headers["x-auth-amr"], "swk,mfa");
    // A passkey without a user handle cannot name its user.
    const third = await json(await ceremonyStep(browser, "sign-in-options", { mode: "passwordless", tenant: "trial" }));
    const anonymous = authenticator.get(third.publicKey, { origin: stack.passkeyOrigin, userHandle: null });
    assert.equal((await json(await ceremonyStep(browser, "sign-in", { ceremony: third.ceremony, credential: anonymous }), 400)).error, "passkey_malformed");
    // In another tenant, the credential is unknown.
    const elsewhere = await json(await ceremonyStep(browser, "sign-in-options", { mode: "passwordless", tenant: "strict" }));
    const crossTenant = authenticator.get(elsewhere.publicKey, { origin: stack.passkeyOrigin });
    assert.equal((await json(await ceremonyStep(browser, "sign-in", { ceremony: elsewhere.ceremony, credential: crossTenant }), 401)).error, "passkey_unknown");
  });

  test("step-up: a session without a passkey is challenged on the webauthn route (RFC 9470 for API calls, the step-up page for page loads), and a passkey steps it up", async () => {
    const { email, authenticator, body } = await accountWithPasskey();
    // Signed in with the password and a recovery code: a second factor, but not a passkey.
    const browser = await passwordStep(email);
    const recovered = await submit(browser, stack.url, "mfa", { recovery_code: body.recovery_codes[0] });
    assert.equal(recovered.status, 303, await recovered.text());
    const api = await browser.request(`${stack.url}/vault/keys`, { api: true });
    assert.equal(api.status, 401);
    assert.match(api.headers.get("www-authenticate"), /error="insufficient_user_authentication".*acr_values="phr", max_age=300/);
    const page = await browser.request(`${stack.url}/vault/keys`);
    assert.equal(page.status, 302);
    assert.match(page.headers.get("location"), /^\/auth\/accounts\/mfa\?return_to=%2Fvault%2Fkeys/);
    const csrf = await pageCsrf(browser, "mfa?return_to=%2Fvault%2Fkeys");
    assert.ok(csrf, "a session's step-up page hands the script its CSRF token");
    assert.equal((await json(await ceremonyStep(browser, "sign-in-options", { mode: "second_factor" }), 403)).error, "csrf_rejected");
    const options = await signInOptions(browser, { csrf_token: csrf });
    const credential = authenticator.get(options.publicKey, { origin: stack.passkeyOrigin });
    const done = await ceremonyStep(browser, "sign-in", { ceremony: options.ceremony, credential, csrf_token: csrf, return_to: "/vault/keys" });
    assert.equal((await json(done)).next, "/vault/keys");
    const now = await browser.request(`${stack.url}/vault/keys`, { api: true });
    assert.equal(now.status, 200);
    assert.equal(stack.origin.requests.at(-1).headers["x-auth-amr"], "pwd,swk,mfa", "the step-up's fresh auth_time vouches for the passkey alone");
  });
});

describe("management", () => {
  test("a passkey is renamed and removed from the security page; the owner is emailed; a removed passkey signs in nowhere", async () => {
    const { email, browser, authenticator } = await accountWithPasskey();
    const csrf = await pageCsrf(browser, "security");
    const renamed = await submit(browser, stack.url, "security", { csrf_token: csrf, action: "rename_passkey", passkey: authenticator.id, name: "Work laptop" });
    assert.equal(renamed.status, 303);
    assert.match(await (await browser.request(`${stack.url}/auth/accounts/security`)).text(), /Work laptop/);
    const after = Date.now();
    const removed = await submit(browser, stack.url, "security", { csrf_token: csrf, action: "remove_passkey", passkey: authenticator.id });
    assert.equal(removed.status, 303);
    assert.match((await stack.mail.next(email, { subject: /security/i, after })).text, /A passkey was removed/);
    const page = await (await browser.request(`${stack.url}/auth/accounts/security`)).text();
    assert.match(page, /data-count="0"/);
    assert.match(page, /id="recovery-left" data-left="0"/, "with no factor left, the recovery codes went too");
    // No factor left: the password alone signs in again, and the old passkey is unknown.
    const { response } = await signIn(stack, email, GOOD_PASSWORD);
    assert.equal(response.status, 303);
    assert.notEqual(response.headers.get("location"), "/auth/accounts/mfa");
    const anon = new Browser();
    const options = await json(await ceremonyStep(anon, "sign-in-options", { mode: "passwordless", tenant: "trial" }));
    const refused = await ceremonyStep(anon, "sign-in", { ceremony: options.ceremony, credential: authenticator.get(options.publicKey, { origin: stack.passkeyOrigin }) });
    assert.equal((await json(refused, 401)).error, "passkey_unknown");
  });
});

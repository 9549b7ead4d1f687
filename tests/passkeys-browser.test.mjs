// Passkeys in headless Chromium with a virtual authenticator (the DevTools protocol's WebAuthn
// domain: CTAP2, resident keys, user verification), on http://localhost (an IP address is not a
// valid RP ID). Register from the security page, sign in with the passkey after the password,
// step up on a route that asks for one, sign in without a password, and remove it. Every
// registration and assertion Chromium produces is also verified by npm @simplewebauthn/server:
// both verifiers must agree.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { verifyAuthenticationResponse, verifyRegistrationResponse } from "@simplewebauthn/server";
import { GOOD_PASSWORD, createAccount, startAccountsStack } from "./support/accounts.mjs";
import { launchBrowser } from "./support/browser.mjs";

let stack;
let browser;

before(async () => {
  stack = await startAccountsStack({ passkeys: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stack?.close();
});

/**
 * A page with a virtual authenticator, recording problems (page errors, CSP violations, console
 * errors other than the 4xx answers some steps get by design) and every ceremony's exchange.
 */
async function openPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on("console", (message) => {
    const expected = /Failed to load resource/.test(message.text()) && /\/favicon\.ico$/.test(message.location()?.url ?? "");
    if ((message.type() === "error" && !expected) || /Content Security Policy/i.test(message.text())) problems.push(message.text());
  });
  page.on("pageerror", (error) => problems.push(error.message));
  const exchanges = [];
  page.on("response", async (response) => {
    const url = new URL(response.url());
    if (!url.pathname.startsWith("/auth/accounts/passkeys/")) return;
    const step = url.pathname.split("/").at(-1);
    // Recorded at once: a navigation may follow before the body is read.
    const exchange = { step, status: response.status(), request: JSON.parse(response.request().postData() ?? "{}"), answer: null };
    exchanges.push(exchange);
    exchange.answer = await response.json().catch(() => null);
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  const credentials = async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
  // Off, the authenticator waits for a touch that never comes: the sign-in page's autofill request
  // (conditional UI) then stays pending while a test types a password.
  const presence = (enabled) => cdp.send("WebAuthn.setAutomaticPresenceSimulation", { authenticatorId, enabled });
  return { page, context, problems, exchanges, credentials, presence };
}

const at = (path) => `${stack.passkeyOrigin}${path}`;

/** The last options and response of a ceremony, as the page exchanged them. */
function lastCeremony(exchanges, optionsStep, responseStep) {
  const options = exchanges.findLast((e) => e.step === optionsStep);
  const response = exchanges.findLast((e) => e.step === responseStep);
  assert.ok(options && response, `${optionsStep} then ${responseStep}`);
  return { options: options.answer.publicKey, credential: response.request.credential, status: response.status };
}

/** The page's last registration, as @simplewebauthn/server judges it. */
async function theirRegistration(exchanges) {
  const registration = lastCeremony(exchanges, "registration-options", "register");
  assert.equal(registration.status, 200);
  const theirs = await verifyRegistrationResponse({
    response: registration.credential,
    expectedChallenge: registration.options.challenge,
    expectedOrigin: stack.passkeyOrigin,
    expectedRPID: "localhost",
    requireUserVerification: false,
  });
  return { registration, theirs };
}

async function signInWithPassword(page, email, returnTo, presence) {
  await presence?.(false);
  await page.goto(at(`/auth/accounts/sign-in?return_to=${encodeURIComponent(returnTo)}`));
  await page.fill("#email", email);
  await page.fill("#password", GOOD_PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click("#submit")]);
  await presence?.(true);
}

test("register a passkey, sign in with it after the password, step up with it, sign in without a password, remove it; @simplewebauthn/server agrees with every response", async () => {
  const email = `passkey.${process.pid}@example.test`;
  await createAccount(stack, email);
  const { page, context, problems, exchanges, credentials, presence } = await openPage();

  // Register from the security page: the recovery codes are shown once, then the list has it.
  await signInWithPassword(page, email, "/app/dashboard");
  assert.equal(new URL(page.url()).pathname, "/app/dashboard");
  await page.goto(at("/auth/accounts/security"));
  assert.ok(await page.isVisible("#add-passkey"), "the module showed the button");
  await page.fill("#passkey-name", "Virtual key");
  await page.click("#add-passkey");
  await page.waitForSelector("#recovery-codes li");
  const codes = await page.$$eval("#recovery-codes code", (items) => items.map((i) => i.textContent));
  assert.equal(codes.length, 10);
  const { registration, theirs } = await theirRegistration(exchanges);
  assert.ok(theirs.verified, "@simplewebauthn/server verifies Chromium's registration too");
  assert.equal(theirs.registrationInfo.credential.id, registration.credential.id);
  const stored = await credentials();
  assert.equal(stored.length, 1);
  assert.equal(stored[0].isResidentCredential, true, "a discoverable credential");
  await Promise.all([page.waitForNavigation(), page.click("#continue")]);
  assert.match(await page.textContent("#passkey-list"), /Virtual key/);
  let counter = 0;
  const theyVerify = async ({ options, credential }) => {
    const result = await verifyAuthenticationResponse({
      response: credential,
      expectedChallenge: options.challenge,
      expectedOrigin: stack.passkeyOrigin,
      expectedRPID: "localhost",
      credential: { id: theirs.registrationInfo.credential.id, publicKey: theirs.registrationInfo.credential.publicKey, counter },
      requireUserVerification: false,
    });
    counter = result.authenticationInfo.newCounter;
    return result.verified;
  };

  // Autofill (conditional UI): the sign-in page offers the passkey in the email field; the virtual
  // authenticator picks it at once, and the page signs in without a password.
  await context.clearCookies();
  await page.goto(at("/auth/accounts/sign-in?return_to=%2Fapp%2Fautofill"));
  await page.waitForURL(at("/app/autofill"));
  const autofill = lastCeremony(exchanges, "sign-in-options", "sign-in");
  assert.equal(autofill.status, 200);
  assert.ok(await theyVerify(autofill));
  assert.equal(stack.origin.requests.at(-1).headers["x-auth-amr"], "hwk,mfa");

  // Signed out, the password is followed by the passkey: no code field, one button.
  await context.clearCookies();
  await signInWithPassword(page, email, "/app/after", presence);
  assert.equal(new URL(page.url()).pathname, "/auth/accounts/mfa");
  assert.ok(await page.isVisible("#use-passkey"));
  assert.equal(await page.isVisible("#code"), false, "no code field for a user with only a passkey");
  await Promise.all([page.waitForURL(at("/app/after")), page.click("#use-passkey")]);
  const second = lastCeremony(exchanges, "sign-in-options", "sign-in");
  assert.equal(second.status, 200);
  assert.ok(await theyVerify(second), "@simplewebauthn/server verifies the assertion too");
  assert.equal(stack.origin.requests.at(-1).headers["x-auth-amr"], "pwd,hwk,mfa", "Chromium's virtual key is not backup eligible: hwk");

  // Step-up: a session that used a recovery code is sent to the step-up page by the passkey route.
  await context.clearCookies();
  await signInWithPassword(page, email, "/app/after", presence);
  await page.click("summary");
  await page.fill("#recovery_code", codes[0]);
  await Promise.all([page.waitForNavigation(), page.click("#submit-recovery")]);
  assert.equal(stack.origin.requests.at(-1).headers["x-auth-amr"], "pwd,mfa");
  await page.goto(at("/vault/keys"));
  assert.equal(new URL(page.url()).pathname, "/auth/accounts/mfa", "sent to the step-up page");
  await Promise.all([page.waitForURL(at("/vault/keys")), page.click("#use-passkey")]);
  assert.ok(await theyVerify(lastCeremony(exchanges, "sign-in-options", "sign-in")));
  assert.equal(stack.origin.requests.at(-1).path, "/vault/keys");
  assert.equal(stack.origin.requests.at(-1).headers["x-auth-amr"], "pwd,hwk,mfa", "the step-up keeps no stale second-factor values");

  // Passwordless with the sign-in page's button (the autofill request waits meanwhile).
  await context.clearCookies();
  await presence(false);
  await page.goto(at("/auth/accounts/sign-in?return_to=%2Fapp%2Fhome"));
  assert.ok(await page.isVisible("#passkey-sign-in"));
  await presence(true);
  // A DOM click: Playwright's own waits for a stable, scrolled-into-view button can hang when the
  // page navigates under them (the pending autofill request may finish the ceremony first).
  await Promise.all([page.waitForURL(at("/app/home")), page.$eval("#passkey-sign-in", (button) => button.click())]);
  const passwordless = lastCeremony(exchanges, "sign-in-options", "sign-in");
  assert.deepEqual(passwordless.options.allowCredentials, []);
  assert.ok(passwordless.credential.response.userHandle, "a discoverable credential names its user");
  assert.ok(await theyVerify(passwordless));
  assert.equal(stack.origin.requests.at(-1).headers["x-auth-amr"], "hwk,mfa");
  assert.equal(stack.origin.requests.at(-1).headers["x-auth-email"], email);

  // Remove it: the list is empty, and the passkey no longer signs in.
  await page.goto(at("/auth/accounts/security"));
  await Promise.all([page.waitForNavigation(), page.click(".remove-passkey")]);
  assert.equal(await page.getAttribute("#passkeys-state", "data-count"), "0");
  await context.clearCookies();
  await page.goto(at("/auth/accounts/sign-in"));
  await page.click("#passkey-sign-in");
  await page.waitForSelector('#notice [data-error="passkey_unknown"]');
  assert.equal(exchanges.at(-1).status, 401);

  assert.deepEqual(problems.filter((p) => !/status of 401/.test(p)), [], "no console error or CSP violation");
  await context.close();
});

test("a tenant that requires MFA: the enrolment page offers a passkey beside the app, and registering one completes the sign-in", async () => {
  const email = `passkey.strict.${process.pid}@example.test`;
  await createAccount(stack, email, GOOD_PASSWORD, { tenant: "strict" });
  const { page, context, problems, exchanges, credentials, presence } = await openPage();
  await presence(false);
  await page.goto(at(`/auth/accounts/sign-in?tenant=strict&return_to=${encodeURIComponent("/app/welcome")}`));
  await page.fill("#email", email);
  await page.fill("#password", GOOD_PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click("#submit")]);
  await presence(true);
  assert.equal(new URL(page.url()).pathname, "/auth/accounts/totp");
  assert.ok(await page.isVisible("#enrol-passkey"), "the module showed the passkey choice");
  assert.ok(await page.isVisible("#qr"), "the app stays the other choice");
  await page.click("#enrol-passkey");
  await page.waitForSelector("#recovery-codes li");
  assert.equal((await page.$$("#recovery-codes code")).length, 10);
  const { theirs } = await theirRegistration(exchanges);
  assert.ok(theirs.verified, "@simplewebauthn/server verifies it too");
  assert.equal((await credentials()).length, 1);
  await Promise.all([page.waitForURL(at("/app/welcome")), page.click("#continue")]);
  assert.equal(stack.origin.requests.at(-1).headers["x-auth-amr"], "pwd,mfa", "an enrolment proves no kind of factor");
  assert.deepEqual(problems, [], "no console error or CSP violation");
  await context.close();
});

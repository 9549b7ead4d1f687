// Local accounts in headless Chromium: sign up, take the verification mail from the capture,
// verify, sign in, reach the origin, change the password (another signed-in browser loses its
// session), and forgot → reset → sign in. Also what Chromium reports of the password fields
// (autocomplete, the show-password toggle that needs no inline script) and no console error or
// CSP violation on any account page.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { generateSync } from "otplib";
import { GOOD_PASSWORD, createAccount, startAccountsStack } from "./support/accounts.mjs";
import { linkIn } from "./support/mail-capture.mjs";
import { launchBrowser } from "./support/browser.mjs";

let stack;
let browser;

before(async () => {
  stack = await startAccountsStack();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stack?.close();
});

/**
 * A page that records page errors, CSP violations and console errors, except the browser's own
 * notes on a favicon nobody serves and on account pages answered 4xx by design (a wrong password).
 */
async function openPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on("console", (message) => {
    const url = message.location()?.url ?? "";
    const expected = /Failed to load resource/.test(message.text()) && (/\/favicon\.ico$/.test(url) || url.includes("/auth/accounts/"));
    if ((message.type() === "error" && !expected) || /Content Security Policy/i.test(message.text())) {
      problems.push(`${message.text()} (${url})`);
    }
  });
  page.on("pageerror", (error) => problems.push(error.message));
  return { page, problems, context };
}

const email = `ann.${process.pid}@example.test`;
const secondPassword = "violet harbour engine softly";
const thirdPassword = "copper meadow whistle gently";

async function signInWith(page, address, password, returnTo = "/app/dashboard") {
  await page.goto(`${stack.url}/auth/accounts/sign-in?return_to=${encodeURIComponent(returnTo)}`);
  await page.fill("#email", address);
  await page.fill("#password", password);
  await Promise.all([page.waitForNavigation(), page.click("#submit")]);
}

test("sign up, verify from the mail, sign in, reach the origin; then change the password and the other session ends", async () => {
  const { page, problems, context } = await openPage();
  await page.goto(`${stack.url}/auth/login`);
  // The login page offers the password sign-in when local accounts are on.
  await page.goto(`${stack.url}/auth/accounts/sign-up`);
  const fields = await page.$$eval("input", (inputs) => inputs.map((i) => ({ name: i.name, type: i.type, autocomplete: i.autocomplete })));
  assert.deepEqual(
    fields.filter((f) => f.type !== "hidden"),
    [
      { name: "email", type: "email", autocomplete: "username" },
      { name: "password", type: "password", autocomplete: "new-password" },
    ],
  );
  // The toggle: shown by the module, flips the field's type, says so to assistive technology.
  assert.ok(await page.isVisible('[data-password-toggle="password"]'), "the module showed the toggle");
  await page.fill("#password", GOOD_PASSWORD);
  await page.click('[data-password-toggle="password"]');
  assert.equal(await page.getAttribute("#password", "type"), "text");
  assert.equal(await page.getAttribute('[data-password-toggle="password"]', "aria-pressed"), "true");
  await page.click('[data-password-toggle="password"]');
  assert.equal(await page.getAttribute("#password", "type"), "password");
  await page.fill("#email", email);
  const sent = Date.now();
  await Promise.all([page.waitForNavigation(), page.click("#submit")]);
  assert.match(await page.textContent("h1"), /Check your email/);

  const mail = await stack.mail.next(email, { subject: /Confirm your email/, after: sent });
  assert.match(mail.html, /<a [^>]*href="http:\/\/127\.0\.0\.1:\d+\/auth\/accounts\/verify\?tenant=trial&amp;token=/);
  await page.goto(linkIn(mail, "/auth/accounts/verify"));
  assert.equal(await page.$eval("#password", (i) => i.autocomplete), "current-password");
  await page.fill("#password", GOOD_PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click("#submit")]);
  assert.match(await page.textContent("h1"), /Email confirmed/);

  await page.goto(`${stack.url}/app/dashboard`);
  await page.goto(`${stack.url}/auth/login?return_to=%2Fapp%2Fdashboard`);
  await Promise.all([page.waitForNavigation(), page.click("#password-sign-in")]);
  assert.match(page.url(), /\/auth\/accounts\/sign-in\?return_to=%2Fapp%2Fdashboard/);
  const signInFields = await page.$$eval("input:not([type=hidden])", (inputs) => inputs.map((i) => i.autocomplete));
  // The email field also offers the device's passkeys (WebAuthn autofill).
  assert.deepEqual(signInFields, ["username webauthn", "current-password"]);
  await page.fill("#email", email);
  await page.fill("#password", GOOD_PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click("#submit")]);
  assert.equal(new URL(page.url()).pathname, "/app/dashboard");
  assert.equal(stack.origin.requests.at(-1).headers["x-auth-email"], email);

  // A second browser signs in too; changing the password in the first ends it.
  const other = await openPage();
  await signInWith(other.page, email, GOOD_PASSWORD);
  assert.equal(new URL(other.page.url()).pathname, "/app/dashboard");

  await page.goto(`${stack.url}/auth/accounts/password`);
  const changeFields = await page.$$eval("input", (inputs) => inputs.filter((i) => i.type !== "hidden").map((i) => i.autocomplete));
  assert.deepEqual(changeFields, ["username", "current-password", "new-password"]);
  await page.fill("#current_password", GOOD_PASSWORD);
  await page.fill("#new_password", secondPassword);
  await Promise.all([page.waitForNavigation(), page.click("#submit")]);
  assert.match(await page.textContent("h1"), /Password changed/);
  const still = await page.goto(`${stack.url}/app/dashboard`);
  assert.equal(new URL(page.url()).pathname, "/app/dashboard", "this browser keeps going");
  assert.equal(still.status(), 200);
  await other.page.goto(`${stack.url}/app/dashboard`);
  assert.notEqual(new URL(other.page.url()).pathname, "/app/dashboard", "the other session ended");

  assert.deepEqual(problems, []);
  assert.deepEqual(other.problems, []);
  await context.close();
  await other.context.close();
});

test("forgot → reset → sign in with the new password", async () => {
  const { page, problems, context } = await openPage();
  await page.goto(`${stack.url}/auth/accounts/sign-in`);
  await Promise.all([page.waitForNavigation(), page.click("#forgot-link")]);
  await page.fill("#email", email);
  const sent = Date.now();
  await Promise.all([page.waitForNavigation(), page.click("#submit")]);
  assert.match(await page.textContent("#message"), /If that email has an account/);
  const mail = await stack.mail.next(email, { subject: /Reset/, after: sent });
  await page.goto(linkIn(mail, "/auth/accounts/reset"));
  assert.equal(await page.$eval("#password", (i) => i.autocomplete), "new-password");
  await page.fill("#password", thirdPassword);
  await Promise.all([page.waitForNavigation(), page.click("#submit")]);
  assert.match(await page.textContent("h1"), /Password changed/);
  await signInWith(page, email, secondPassword);
  assert.match(await page.textContent("#notice"), /Email or password is incorrect/);
  await signInWith(page, email, thirdPassword);
  assert.equal(new URL(page.url()).pathname, "/app/dashboard");
  assert.deepEqual(problems, []);
  await context.close();
});

test("two-step verification in Chromium: enrol from the security page by the QR's secret, sign in with a code, use a recovery code", async () => {
  const address = `mfa.${process.pid}@example.test`;
  await createAccount(stack, address);
  const { page, problems, context } = await openPage();
  await signInWith(page, address, GOOD_PASSWORD, "/app/home");
  await page.goto(`${stack.url}/auth/accounts/security`);
  assert.equal(await page.getAttribute("#totp-state", "data-state"), "off");
  await Promise.all([page.waitForNavigation(), page.click("#enrol-totp")]);
  // The QR code is an SVG in the page (no inline style or script), with the secret beside it.
  const qr = await page.$eval("#qr svg", (svg) => ({ width: svg.getBoundingClientRect().width, paths: svg.querySelectorAll("path, rect").length }));
  assert.ok(qr.width > 100 && qr.paths > 0, JSON.stringify(qr));
  const secret = (await page.textContent("#totp-secret")).replaceAll(" ", "");
  assert.equal(await page.getAttribute("#code", "autocomplete"), "one-time-code");
  const code = (offset) => generateSync({ secret, epoch: Math.floor(Date.now() / 1000) + offset * 30, algorithm: "sha1", digits: 6, period: 30 });
  await page.fill("#code", code(0));
  await Promise.all([page.waitForNavigation(), page.click("#submit")]);
  const codes = await page.$$eval("#recovery-codes code", (items) => items.map((item) => item.textContent));
  assert.equal(codes.length, 10);
  await Promise.all([page.waitForNavigation(), page.click("#next")]);
  await page.goto(`${stack.url}/auth/accounts/security`);
  assert.equal(await page.getAttribute("#totp-state", "data-state"), "on");
  assert.equal(await page.getAttribute("#recovery-left", "data-left"), "10");
  await context.close();

  // A new browser: the password, then the code.
  const second = await openPage();
  await signInWith(second.page, address, GOOD_PASSWORD, "/app/after-code");
  assert.match(new URL(second.page.url()).pathname, /\/auth\/accounts\/mfa$/);
  await second.page.fill("#code", code(1));
  await Promise.all([second.page.waitForNavigation(), second.page.click("#submit")]);
  assert.equal(new URL(second.page.url()).pathname, "/app/after-code");
  assert.equal(stack.origin.requests.at(-1).headers["x-auth-amr"], "pwd,otp,mfa");
  await second.context.close();

  // A third: the password, then a recovery code from the disclosure.
  const third = await openPage();
  await signInWith(third.page, address, GOOD_PASSWORD, "/app/after-recovery");
  await third.page.click("details.recovery summary");
  await third.page.fill("#recovery_code", codes[3]);
  await Promise.all([third.page.waitForNavigation(), third.page.click("#submit-recovery")]);
  assert.equal(new URL(third.page.url()).pathname, "/app/after-recovery");
  assert.equal(stack.origin.requests.at(-1).headers["x-auth-amr"], "pwd,mfa");
  await third.context.close();
  assert.deepEqual([...problems, ...second.problems, ...third.problems], []);
});

// The browser login flow in headless Chromium, end to end: a protected page sends the browser to
// the gateway's login page; "Continue with Corp SSO" goes to a real OpenID Provider (its own
// devInteractions login page), back through /auth/callback to the page first asked for, where the
// origin sees the user. Then the session cookie as the browser holds it, home-realm discovery by
// email, and sign-out through RP-initiated logout. Every gateway page must render without console
// errors or CSP violations (a blocked form submission or redirect shows up as one).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { startOrigin } from "./support/origin.mjs";
import { startLoginStack } from "./support/login.mjs";
import { launchBrowser, screenshotDir } from "./support/browser.mjs";

let origin;
let stack;
let browser;
let gatewayUrl;
let idpUrl;
// The signed-in browser context of the first tests, used again by the sign-out test.
let session = null;

before(async () => {
  origin = await startOrigin();
  stack = await startLoginStack({ origin });
  gatewayUrl = stack.gateway.url;
  idpUrl = stack.idp.url;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stack?.close();
  await origin?.close();
});

/**
 * A new browser context whose page records every console message, page error and CSP violation,
 * with the URL of the page it happened on, and every response (for failure messages).
 */
async function openRecordedPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const messages = [];
  const hops = [];
  page.on("console", (message) => {
    messages.push({ type: message.type(), text: message.text(), url: message.location()?.url || page.url(), page: page.url() });
  });
  page.on("pageerror", (error) => messages.push({ type: "pageerror", text: error.message, url: page.url(), page: page.url() }));
  page.on("response", async (response) => {
    const request = response.request();
    if (!request.isNavigationRequest()) return;
    let hop = `${request.method()} ${response.url()} -> ${response.status()}`;
    if (request.method() !== "GET") {
      const sent = await request.allHeaders().catch(() => ({}));
      hop += ` (sent Origin: ${sent.origin ?? "none"}, Sec-Fetch-Site: ${sent["sec-fetch-site"] ?? "none"})`;
    }
    hops.push(hop);
  });
  page.on("requestfailed", (request) => {
    messages.push({ type: "requestfailed", text: `${request.method()} ${request.url()}: ${request.failure()?.errorText}`, url: request.url(), page: page.url() });
  });
  return { context, page, messages, hops };
}

const onGateway = (url) => typeof url === "string" && url.startsWith(gatewayUrl);
const onIdp = (url) => typeof url === "string" && url.startsWith(idpUrl);

/** Console errors, page errors, failed requests and CSP reports seen on the gateway's pages. */
function gatewayProblems(messages) {
  return messages
    .filter((m) => onGateway(m.url) || onGateway(m.page))
    .filter((m) => m.type === "error" || m.type === "pageerror" || m.type === "requestfailed" || /Content Security Policy/i.test(m.text))
    .map((m) => `[${m.type}] ${m.text} (on ${m.page})`);
}

/** Everything the IdP's own pages logged (reported, not asserted). */
function idpNoise(messages) {
  return messages.filter((m) => onIdp(m.url) && !onGateway(m.page)).map((m) => `[${m.type}] ${m.text} (on ${m.page})`);
}

/** Gateway log lines, for failure messages. */
const gatewayLogs = () => stack.gateway.logs.map((l) => `${l.level}: ${l.message}`).join("\n");

function explain(recorded) {
  return `\nnavigations:\n  ${recorded.hops.join("\n  ")}\nconsole:\n  ${recorded.messages
    .map((m) => `[${m.type}] ${m.text} (on ${m.page})`)
    .join("\n  ")}\ngateway logs:\n${gatewayLogs()}`;
}

const loginPageUrl = () => `${gatewayUrl}/auth/login?return_to=%2Fapp%2Fdashboard`;

/** Fills the OpenID Provider's devInteractions login form and submits it. */
async function signInAtIdp(page, login) {
  await page.waitForSelector('input[name="login"]');
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', "correct horse battery staple");
  await Promise.all([page.waitForURL((url) => !url.href.startsWith(idpUrl), { timeout: 5_000 }), page.click('button[type="submit"]')]);
}

test("a protected page sends the browser to the login page: providers, email field, accessible, responsive", async () => {
  const recorded = await openRecordedPage();
  const { page, messages } = recorded;
  session = recorded;
  const response = await page.goto(`${gatewayUrl}/app/dashboard`);
  assert.equal(page.url(), loginPageUrl(), `the protected page redirected to the login page${explain(recorded)}`);
  assert.equal(response.status(), 200);
  // form-action names the providers, since browsers apply it to the redirects after a form post.
  assert.match(response.headers()["content-security-policy"] ?? "", new RegExp(`form-action 'self' ${idpUrl} ${stack.github.url};`));

  // The providers, in configuration order, and the home-realm discovery form.
  const providers = await page.$$eval("#providers a.provider", (links) => links.map((a) => a.textContent.trim()));
  assert.deepEqual(providers, ["Continue with Corp SSO", "Continue with Globex SSO", "Continue with GitHub"]);
  assert.ok(await page.isVisible("#email"), "the email field is shown");
  assert.ok(await page.isVisible("#continue"), "the Continue button is shown");

  // Accessibility basics: one h1, a labelled email input, a named provider list, a document language.
  assert.match(await page.textContent("h1"), /^Sign in to Acme Portal$/);
  assert.equal(await page.$$eval("h1", (h) => h.length), 1);
  const label = await page.$eval("#email", (input) => [...input.labels].map((l) => l.textContent.trim()).join(" "));
  assert.match(label, /Work email/, "the email input has a <label>");
  assert.equal(await page.getAttribute("#email", "type"), "email");
  assert.equal(await page.getAttribute("#email", "autocomplete"), "email");
  assert.equal(await page.getAttribute("#providers", "aria-label"), "Sign-in options");
  assert.equal(await page.getAttribute("html", "lang"), "en");
  // The stylesheet applied and the logo loaded under the strict CSP.
  assert.equal(await page.$eval(".card", (card) => getComputedStyle(card).paddingTop), "32px");
  assert.ok((await page.$eval("img.logo", (img) => img.naturalWidth)) > 0, "the logo loaded");

  await page.screenshot({ path: path.join(screenshotDir, "login-page.png"), fullPage: true });
  await page.setViewportSize({ width: 360, height: 740 });
  await page.screenshot({ path: path.join(screenshotDir, "login-page-mobile.png"), fullPage: true });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(overflow, false, "no horizontal scrolling at 360 px");
  // The provider buttons stay tappable on a phone (WCAG 2.5.8 asks for 24 px; aim for 40).
  const heights = await page.$$eval("#providers a.provider", (links) => links.map((a) => a.getBoundingClientRect().height));
  assert.ok(heights.every((h) => h >= 40), `provider buttons are tall enough to tap: ${heights}`);
  await page.setViewportSize({ width: 1280, height: 800 });

  assert.deepEqual(gatewayProblems(messages), [], `no console errors or CSP violations on the login page${explain(recorded)}`);
});

test("Continue with Corp SSO → the IdP's login page → back on the dashboard, and the origin sees alice", async (t) => {
  assert.ok(session, "needs the login page test");
  const recorded = session;
  const { page, messages } = recorded;
  await Promise.all([page.waitForURL((url) => onIdp(url.href), { timeout: 5_000 }), page.click("#providers a.provider >> text=Continue with Corp SSO")]);
  assert.ok(page.url().startsWith(idpUrl), `at the IdP: ${page.url()}`);
  await signInAtIdp(page, "alice");
  await page.waitForLoadState("load");

  assert.equal(page.url(), `${gatewayUrl}/app/dashboard`, `back on the page first asked for${explain(recorded)}`);
  assert.ok(recorded.hops.some((hop) => hop.startsWith(`GET ${gatewayUrl}/auth/callback?`)), "came back through /auth/callback");
  assert.equal(await page.textContent("h1"), "Demo origin");
  const identity = Object.fromEntries(
    await page.$$eval("table:first-of-type tr", (rows) => rows.map((row) => [row.querySelector("th").textContent, row.querySelector("td").textContent])),
  );
  assert.equal(identity["x-auth-subject"], "alice");
  assert.equal(identity["x-auth-email"], "alice@corp.test");
  assert.equal(identity["x-auth-method"], "session");
  // (Chromium's /favicon.ico request also goes through the gateway to the origin.)
  const seen = origin.requests.findLast((r) => r.path === "/app/dashboard");
  assert.equal(seen.headers["x-auth-subject"], "alice");
  assert.ok(!(seen.headers.cookie ?? "").includes("__Host-portcullis"), "the session cookie is not forwarded to the origin");
  await page.screenshot({ path: path.join(screenshotDir, "login-dashboard.png"), fullPage: true });

  assert.deepEqual(gatewayProblems(messages), [], `no console errors or CSP violations on the gateway's pages${explain(recorded)}`);
  // The IdP's own pages are not ours to fix; what they log is reported, not asserted.
  for (const line of idpNoise(messages)) t.diagnostic(`the IdP's page logged: ${line}`);
});

test("the session cookie, as Chromium stores it: __Host-, HttpOnly, Secure, SameSite=Lax, Path=/, small", async () => {
  assert.ok(session, "needs the sign-in test");
  const cookies = await session.context.cookies(gatewayUrl);
  const cookie = cookies.find((c) => c.name === "__Host-portcullis");
  assert.ok(cookie, `Chromium kept the session cookie on http://127.0.0.1 (it holds: ${cookies.map((c) => c.name).join(", ") || "nothing"})`);
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.secure, true);
  assert.equal(cookie.sameSite, "Lax");
  assert.equal(cookie.path, "/");
  assert.equal(cookie.domain, "127.0.0.1", "host-only");
  const size = cookie.name.length + 1 + cookie.value.length;
  assert.ok(size < 100, `the cookie is small: ${size} bytes`);
  // Scripts cannot read it.
  assert.equal(await session.page.evaluate(() => document.cookie.includes("__Host-portcullis")), false);
  // The login-state cookie is gone after the callback. (Cookies do not isolate by port, so the
  // IdP's own cookies on 127.0.0.1, `_session` and friends, show up here too: only the gateway's
  // `__Host-portcullis*` cookies are looked at.)
  assert.deepEqual(
    cookies.filter((c) => c.name.startsWith("__Host-portcullis") && c.name !== "__Host-portcullis").map((c) => c.name),
    [],
    "no login-state cookie is left behind",
  );
});

test("home-realm discovery: alice@corp.test in the email field goes straight to the corp IdP", async () => {
  const recorded = await openRecordedPage();
  const { page, messages, context } = recorded;
  try {
    await page.goto(loginPageUrl());
    await page.fill("#email", "alice@corp.test");
    const [discovered] = await Promise.all([
      page.waitForResponse((r) => r.url().startsWith(`${gatewayUrl}/auth/login?email=`)),
      page.click("#continue"),
    ]);
    assert.equal(discovered.url(), `${gatewayUrl}/auth/login?email=alice%40corp.test&return_to=%2Fapp%2Fdashboard`);
    assert.equal(discovered.status(), 302, `the gateway redirects to the provider for corp.test${explain(recorded)}`);
    assert.ok(discovered.headers().location?.startsWith(`${idpUrl}/auth?`), `to the corp IdP: ${discovered.headers().location}`);
    await page.waitForURL((url) => onIdp(url.href), { timeout: 5_000 }).catch(() => {});
    assert.ok(
      page.url().startsWith(idpUrl),
      `the email form led to the IdP, not ${page.url()} (a CSP form-action block would leave the browser on the login page)${explain(recorded)}`,
    );
    assert.ok(await page.isVisible('input[name="login"]'), "the IdP's login page is shown");
    assert.deepEqual(gatewayProblems(messages), [], `no console errors or CSP violations${explain(recorded)}`);
  } finally {
    await context.close();
  }
});

test("sign-out: confirmation page → RP-initiated logout at the IdP → signed out, and the session is gone", async () => {
  assert.ok(session, "needs the sign-in test");
  const recorded = session;
  const { page, messages, context } = recorded;
  try {
    await page.goto(`${gatewayUrl}/auth/logout`);
    assert.equal(page.url(), `${gatewayUrl}/auth/logout`, `the confirmation page is shown${explain(recorded)}`);
    assert.match(await page.textContent("h1"), /Sign out of Acme Portal/);
    assert.equal(await page.textContent("#user"), "alice@corp.test");
    await page.screenshot({ path: path.join(screenshotDir, "logout-confirm.png"), fullPage: true });

    // The form POSTs to /auth/logout, which ends the session and answers 303 to the IdP's
    // end_session endpoint. (Edge pages send Referrer-Policy: no-referrer, so Chromium's Origin
    // header on this same-origin POST is "null"; the gateway must still recognise it as its own.)
    const [posted] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === "POST" && r.url() === `${gatewayUrl}/auth/logout`),
      page.click("#sign-out"),
    ]);
    assert.equal(posted.status(), 303, `POST /auth/logout ended the session (Origin sent: ${(await posted.request().allHeaders()).origin})${explain(recorded)}`);
    await page.waitForURL((url) => onIdp(url.href), { timeout: 5_000 });
    assert.equal(new URL(page.url()).pathname, "/session/end", `at the IdP's end_session endpoint: ${page.url()}`);
    // The gateway's cookie is cleared as soon as it answers the sign-out.
    const left = (await context.cookies(gatewayUrl)).filter((c) => c.name.startsWith("__Host-portcullis"));
    assert.deepEqual(left.map((c) => c.name), [], "the session cookie is cleared");

    // The IdP (oidc-provider's RP-initiated logout) asks "Do you want to sign out from <host>?": yes.
    assert.match(await page.textContent("h1"), /Do you want to sign out/, "the IdP asks to confirm the sign-out");
    await Promise.all([page.waitForURL((url) => onGateway(url.href), { timeout: 5_000 }), page.click('button[name="logout"][value="yes"]')]);
    await page.waitForLoadState("load");
    assert.equal(new URL(page.url()).pathname, "/auth/logged-out", `landed on the logged-out page${explain(recorded)}`);
    assert.equal(await page.textContent("h1"), "You have signed out");
    await page.screenshot({ path: path.join(screenshotDir, "logged-out.png"), fullPage: true });

    // The session is gone: the protected page asks for a login again.
    await page.goto(`${gatewayUrl}/app/dashboard`);
    assert.equal(page.url(), loginPageUrl(), `signed out: the dashboard redirects to the login page${explain(recorded)}`);
    assert.equal(origin.requests.filter((r) => r.path === "/app/dashboard").length, 1, "the origin saw the dashboard only once, while signed in");

    assert.deepEqual(gatewayProblems(messages), [], `no console errors or CSP violations on the gateway's pages${explain(recorded)}`);
  } finally {
    await context.close();
  }
});

// SAML sign-in in headless Chromium: a protected page → the gateway's login page → the work email
// (home-realm discovery picks the SAML provider) → samlify's IdP, on another site (localhost
// rather than 127.0.0.1) → its page POSTs the response cross-site to the ACS → the page first
// asked for, where the origin sees the user. The flow's ticket must survive that cross-site POST
// (SameSite=None), and signing in again must end the first session though the POST carries no
// Lax cookie (the handoff); the gateway's pages must show no console error or CSP violation.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { startOrigin } from "./support/origin.mjs";
import { rawRequest, startLoginStack } from "./support/login.mjs";
import { samlProviderEntry, startSamlIdp } from "./support/saml-idp.mjs";
import { launchBrowser, openPage, screenshotDir } from "./support/browser.mjs";

let origin;
let stack;
let idp;
let browser;
let gw;

before(async () => {
  origin = await startOrigin();
  idp = await startSamlIdp({ users: { ann: { email: "ann@saml.test", attributes: { firstName: "Ann", groups: ["eng"] } } }, host: "localhost" });
  stack = await startLoginStack({
    origin,
    extraProviders: [{ ...samlProviderEntry(idp, "acme-saml"), display_name: "Acme SAML", email_domains: ["saml.test"] }],
  });
  gw = stack.gateway.url;
  idp.serve({ acsUrl: `${gw}/auth/callback/acme-saml`, spEntityId: `${gw}/auth/saml/acme-saml/metadata` });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stack?.close();
  await idp?.close();
  await origin?.close();
});

test("work email → the SAML IdP on another site → its cross-site POST → the page asked for, signed in", async () => {
  const { page, problems, context } = await openPage(browser);
  const posts = [];
  page.on("request", (request) => {
    if (request.method() === "POST" && request.url().startsWith(`${gw}/auth/callback/`)) posts.push(request);
  });
  await page.goto(`${gw}/app/reports`);
  assert.match(page.url(), /\/auth\/login\?return_to=%2Fapp%2Freports$/);
  await page.fill("#email", "ann@saml.test");
  await Promise.all([page.waitForURL((url) => url.pathname === "/app/reports", { timeout: 10_000 }), page.click("#continue")]);

  assert.equal(posts.length, 1, "the IdP's page posted the response to the ACS");
  const sent = await posts[0].allHeaders();
  assert.equal(sent["sec-fetch-site"], "cross-site", "the POST came from another site");
  assert.equal(await page.textContent("h1"), "Demo origin");
  const identity = Object.fromEntries(
    await page.$$eval("table:first-of-type tr", (rows) => rows.map((row) => [row.querySelector("th").textContent, row.querySelector("td").textContent])),
  );
  assert.equal(identity["x-auth-subject"], "ann@saml.test");
  assert.equal(identity["x-auth-method"], "session");
  assert.equal(identity["x-auth-issuer"], idp.entityId);
  const cookies = await context.cookies(gw);
  assert.ok(cookies.some((c) => c.name === "__Host-portcullis"), "the session cookie is set");
  assert.ok(!cookies.some((c) => c.name.startsWith("__Host-portcullis-login-")), "the flow's ticket is cleared");
  await page.screenshot({ path: path.join(screenshotDir, "saml-signed-in.png"), fullPage: true });

  // Signing in again ends the first session, although the IdP's POST is cross-site: the handoff's
  // same-site GET is where the browser shows its old session cookie.
  const first = cookies.find((c) => c.name === "__Host-portcullis").value;
  await page.goto(`${gw}/auth/login?provider=acme-saml&return_to=%2Fapp%2Fagain`);
  await page.waitForURL((url) => url.pathname === "/app/again", { timeout: 10_000 });
  const second = (await context.cookies(gw)).find((c) => c.name === "__Host-portcullis").value;
  assert.notEqual(second, first, "a fresh session");
  const old = await rawRequest(`${gw}/auth/session`, { headers: { cookie: `__Host-portcullis=${first}`, accept: "application/json" } });
  assert.equal(old.status, 401, "the first session ended");
  assert.deepEqual(problems, [], "no console errors or CSP violations");
});

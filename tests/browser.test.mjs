// Portcullis's pages in headless Chromium: they render, load their same-origin assets under the
// strict CSP, and violate nothing.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { startGateway } from "./support/gateway.mjs";
import { startOrigin } from "./support/origin.mjs";
import { baseConfig } from "./support/config.mjs";
import { launchBrowser, openPage, screenshotDir } from "./support/browser.mjs";

let origin;
let gateway;
let browser;

before(async () => {
  origin = await startOrigin();
  gateway = await startGateway({
    config: baseConfig(origin, [
      { id: "public", path: "/public/*", policy: "public" },
      { id: "app", path: "/app/*", policy: "authenticated" },
    ]),
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gateway?.close();
  await origin?.close();
});

test("a protected page shows the error page: styled, with its logo, and no CSP violation", async () => {
  const { page, problems, context } = await openPage(browser);
  const response = await page.goto(`${gateway.url}/app/dashboard`);
  assert.equal(response.status(), 401);
  assert.equal(await page.textContent("h1"), "Sign-in required");
  assert.equal(await page.textContent("#error"), "unauthenticated");
  assert.equal(await page.textContent("#request-id"), response.headers()["x-request-id"]);
  // The stylesheet applied (the card is a centred, padded box) and the logo loaded.
  const padding = await page.$eval(".card", (card) => getComputedStyle(card).paddingTop);
  assert.equal(padding, "32px");
  const logoWidth = await page.$eval("img.logo", (img) => img.naturalWidth);
  assert.ok(logoWidth > 0, "the logo loaded");
  await page.screenshot({ path: path.join(screenshotDir, "error-page.png"), fullPage: true });
  await page.setViewportSize({ width: 360, height: 740 });
  await page.screenshot({ path: path.join(screenshotDir, "error-page-mobile.png"), fullPage: true });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(overflow, false, "no horizontal scrolling on a narrow screen");
  assert.deepEqual(problems.filter((p) => !/401/.test(p)), [], "no console errors or CSP violations");
  await context.close();
});

test("a public page of the origin is shown through the gateway, without identity", async () => {
  const { page, context } = await openPage(browser);
  const response = await page.goto(`${gateway.url}/public/`);
  assert.equal(response.status(), 200);
  assert.equal(await page.textContent("h1"), "Demo origin");
  assert.match(await page.textContent("#anonymous"), /No identity/);
  const seen = origin.requests.at(-1);
  assert.equal(seen.headers["sec-fetch-mode"], "navigate", "the browser's own request reached the origin");
  await context.close();
});

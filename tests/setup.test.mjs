// Self-service onboarding end to end: a deployment administrator makes a setup link for tenant
// umbrella; its IT administrator opens it once, saves an OIDC connection to a real OpenID Provider,
// tests a sign-in (which provisions nobody and starts no session), and proves a domain with a DNS
// TXT record through a local DNS-over-HTTPS resolver. The built worker runs in workerd with local
// D1; the page runs in headless Chromium.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import path from "node:path";
import { startOrigin } from "./support/origin.mjs";
import { Browser, OIDC_SECRET, sessionSetCookie, startLoginStack } from "./support/login.mjs";
import { loginAtProvider } from "./support/oidc-provider.mjs";
import { startIssuer } from "./support/idp-keys.mjs";
import { startDohResolver } from "./support/doh-resolver.mjs";
import { startForgingProvider } from "./support/forging-provider.mjs";
import { TEST_ADMIN_KEY, jwtIssuer } from "./support/config.mjs";
import { launchBrowser, openPage, screenshotDir } from "./support/browser.mjs";

let origin;
let stack;
let gw;
let db;
let resolver;
let issuer;
let umbrellaIdp;

const UMBRELLA_ACCOUNTS = {
  wes: { email: "wes@umbrella.test", email_verified: true, name: "Wes Keeper" },
  ada: { email: "ada@umbrella.test", email_verified: true, name: "Ada" },
};

before(async () => {
  origin = await startOrigin();
  resolver = await startDohResolver();
  issuer = await startIssuer();
  stack = await startLoginStack({
    origin,
    withGithub: false,
    extraIdps: [{ accounts: UMBRELLA_ACCOUNTS }],
    configFields: {
      jwt: { issuers: [jwtIssuer(issuer)] },
      api_keys: { prefix: "pk_test" },
      directory: { dns_resolver: resolver.url, tenant_admin_issuers: [issuer.issuer] },
    },
  });
  gw = stack.gateway.url;
  umbrellaIdp = stack.idps[0];
  db = await stack.gateway.mf.getD1Database("PORTCULLIS_DB");
  for (const id of ["umbrella", "initech"]) {
    const made = await admin("POST", "/tenants", { id, name: id === "umbrella" ? "Umbrella Corp" : "Initech" });
    assert.equal(made.status, 201, JSON.stringify(made.body));
  }
});

after(async () => {
  await stack?.close();
  await origin?.close();
  await resolver?.close();
  await issuer?.close();
});

/** A directory administration call, as the bootstrap administrator unless `token` says otherwise. */
async function admin(method, apiPath, body, token = TEST_ADMIN_KEY) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${gw}/auth/directory${apiPath}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

const rows = async (sql, ...values) => (await db.prepare(sql).bind(...values).all()).results;

/** A new setup link for `tenant`: its id, URL, token and reserved connection. */
async function newLink(tenant = "umbrella", body) {
  const made = await admin("POST", `/tenants/${tenant}/setup-links`, body);
  assert.equal(made.status, 201, JSON.stringify(made.body));
  return { ...made.body, token: new URL(made.body.url).hash.replace(/^#token=/, "") };
}

/** A call from the onboarding page, as its fetch() sends it: same origin, JSON. */
async function setup(browser, method, apiPath, body, headers = {}) {
  const sent = method === "GET" ? {} : { origin: gw, "content-type": "application/json", ...headers };
  const response = await browser.request(`${gw}/auth/setup${apiPath}`, {
    method,
    api: true,
    headers: { ...sent, ...(method === "GET" ? headers : {}) },
    body: method === "GET" ? undefined : JSON.stringify(body ?? {}),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null, headers: response.headers };
}

/** A browser holding a live setup session of a new link. */
async function openedLink(tenant = "umbrella") {
  const link = await newLink(tenant);
  const browser = new Browser();
  const opened = await setup(browser, "POST", "/open", { token: link.token });
  assert.equal(opened.status, 200, JSON.stringify(opened.body));
  return { link, browser };
}

const connectionBody = (overrides = {}) => ({
  issuer: umbrellaIdp.issuer,
  client_id: "portcullis",
  client_secret: OIDC_SECRET,
  display_name: "Umbrella SSO",
  ...overrides,
});

/** Runs a test sign-in as `login` at the IdP; returns the callback's response. */
async function testSignIn(browser, login) {
  const started = await browser.request(`${gw}/auth/setup/test`);
  assert.equal(started.status, 302, await started.clone().text());
  const authorize = new URL(started.headers.get("location"));
  const callbackUrl = await loginAtProvider(authorize.href, { login, jar: browser.idpJar });
  return { authorize, callback: await browser.request(callbackUrl) };
}

describe("setup links, as the administrators make them", () => {
  test("a link is made for one tenant, on the gateway's origin, with its token only in the fragment", async () => {
    const link = await newLink();
    assert.match(link.id, /^stl_[a-z2-7]{16}$/);
    assert.match(link.connection_id, /^con_[a-z2-7]{16}$/);
    assert.match(link.url, new RegExp(`^${gw}/auth/setup#token=setup_[A-Za-z0-9_-]{43}$`));
    assert.equal(link.redirect_uri, `${gw}/auth/callback/${link.connection_id}`);
    const [row] = await rows("SELECT * FROM setup_links WHERE id = ?", link.id);
    assert.equal(row.tenant_id, "umbrella");
    assert.equal(row.created_by, "bootstrap-admin");
    assert.equal(row.token_hash, createHash("sha256").update(link.token).digest("hex"), "only the token's hash is stored");
    assert.doesNotMatch(JSON.stringify(row), new RegExp(link.token.slice(6)));
    const listed = await admin("GET", "/tenants/umbrella/setup-links");
    const mine = listed.body.setup_links.find((l) => l.id === link.id);
    assert.equal(mine.status, "waiting");
    assert.doesNotMatch(JSON.stringify(listed.body), new RegExp(link.token.slice(6)), "the list never shows a token");
    assert.ok(stack.gateway.logs.some((l) => l.message.includes("directory_setup_link_created") && l.message.includes(link.id)));
    assert.ok(!stack.gateway.logs.some((l) => l.message.includes(link.token.slice(6))), "no log line holds the token");
  });

  test("a tenant administrator makes links for its own tenant only; lifetimes are bounded", async () => {
    const ownToken = await issuer.sign("ES256", { claims: { sub: "it@initech", scope: "portcullis:tenant-admin", tenant: "initech" } });
    assert.equal((await admin("POST", "/tenants/initech/setup-links", {}, ownToken)).status, 201);
    assert.equal((await admin("POST", "/tenants/umbrella/setup-links", {}, ownToken)).status, 403);
    assert.equal((await admin("GET", "/tenants/umbrella/setup-links", undefined, ownToken)).status, 403);
    assert.equal((await admin("POST", "/tenants/umbrella/setup-links", {}, "not-a-key")).status, 401);
    for (const expires_in_s of [0, 59, 7 * 24 * 3600 + 1]) {
      const refused = await admin("POST", "/tenants/umbrella/setup-links", { expires_in_s });
      assert.equal(refused.status, 400, `${expires_in_s}: ${JSON.stringify(refused.body)}`);
    }
    assert.equal((await admin("POST", "/tenants/umbrella/setup-links", { expires_in_s: 60, scope: "all" })).status, 400);
    assert.equal((await admin("POST", "/tenants/nobody/setup-links", {})).status, 404);
  });

  test("a tenant has at most five links waiting to be opened", async () => {
    const made = [];
    for (let i = 0; i < 6; i += 1) made.push(await admin("POST", "/tenants/initech/setup-links", {}));
    const waiting = (await admin("GET", "/tenants/initech/setup-links")).body.setup_links.filter((l) => l.status === "waiting");
    assert.equal(waiting.length, 5);
    const refused = made.filter((m) => m.status === 400);
    assert.ok(refused.length >= 1 && refused.every((m) => /at most 5 unopened/.test(m.body.problems[0])), JSON.stringify(made));
    for (const link of waiting) assert.equal((await admin("DELETE", `/tenants/initech/setup-links/${link.id}`)).status, 200);
    assert.equal((await admin("DELETE", `/tenants/initech/setup-links/${waiting[0].id}`)).status, 404);
  });
});

describe("opening a link", () => {
  test("a peek names the tenant and spends nothing", async () => {
    const link = await newLink();
    const peeked = await setup(new Browser(), "POST", "/peek", { token: link.token });
    assert.equal(peeked.status, 200, JSON.stringify(peeked.body));
    assert.deepEqual(peeked.body.tenant, { id: "umbrella", name: "Umbrella Corp" });
    assert.equal(peeked.headers.getSetCookie().length, 0, "no session");
    const [row] = await rows("SELECT opened_at_ms FROM setup_links WHERE id = ?", link.id);
    assert.equal(row.opened_at_ms, null);
    const crossSite = await setup(new Browser(), "POST", "/peek", { token: link.token }, { origin: "https://evil.test", "sec-fetch-site": "cross-site" });
    assert.equal(crossSite.status, 403, "another site cannot learn whose link it is");
    assert.equal((await setup(new Browser(), "POST", "/peek", { token: "setup_nope" })).status, 404);
    await admin("DELETE", `/tenants/umbrella/setup-links/${link.id}`);
  });

  test("the page's GET spends nothing; the POST does, once", async () => {
    const link = await newLink();
    const browser = new Browser();
    const page = await browser.request(link.url.split("#")[0]);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type"), /text\/html/);
    assert.match(page.headers.get("content-security-policy"), /script-src 'self'/);
    assert.equal(page.headers.get("cache-control"), "no-store");
    assert.match(await page.text(), /<script type="module" src="\/auth\/static\/setup.js">/);
    assert.equal((await setup(browser, "GET", "/state")).status, 401, "no session before the POST");
    const [before] = await rows("SELECT opened_at_ms FROM setup_links WHERE id = ?", link.id);
    assert.equal(before.opened_at_ms, null, "a mail scanner following the link spends nothing");

    const opened = await setup(browser, "POST", "/open", { token: link.token });
    assert.equal(opened.status, 200, JSON.stringify(opened.body));
    const cookie = opened.headers.getSetCookie().find((line) => line.startsWith("__Host-portcullis-setup="));
    assert.ok(cookie, "a setup cookie");
    for (const attribute of ["Path=/", "Secure", "HttpOnly", "SameSite=Lax", "Max-Age=14400"]) assert.ok(cookie.includes(attribute), `${attribute}: ${cookie}`);
    const [row] = await rows("SELECT session_hash FROM setup_links WHERE id = ?", link.id);
    const value = cookie.split(";")[0].split("=")[1];
    assert.equal(row.session_hash, createHash("sha256").update(value).digest("hex"), "only the cookie's hash is stored");

    const opened_ = await rows("SELECT * FROM setup_links WHERE id = ?", link.id);
    const again = await setup(new Browser(), "POST", "/open", { token: link.token });
    assert.equal(again.status, 410);
    assert.equal(again.body.error, "setup_link_used");
    assert.equal(again.headers.getSetCookie().length, 0, "no second session");
    assert.deepEqual(await rows("SELECT * FROM setup_links WHERE id = ?", link.id), opened_, "the row is unchanged");
    const listed = (await admin("GET", "/tenants/umbrella/setup-links")).body.setup_links.find((l) => l.id === link.id);
    assert.equal(listed.status, "in_use");
  });

  test("an expired link, a made-up token and a missing cookie are refused with stable codes", async () => {
    const link = await newLink();
    await db.prepare("UPDATE setup_links SET expires_at_ms = 1 WHERE id = ?").bind(link.id).run();
    const expired = await setup(new Browser(), "POST", "/open", { token: link.token });
    assert.deepEqual([expired.status, expired.body.error], [410, "setup_link_expired"]);
    const [still] = await rows("SELECT opened_at_ms, session_hash FROM setup_links WHERE id = ?", link.id);
    assert.deepEqual(still, { opened_at_ms: null, session_hash: null }, "an expired link stays unopened");
    for (const token of ["setup_" + "A".repeat(43), "nope", link.token.slice(0, -1), ""]) {
      const refused = await setup(new Browser(), "POST", "/open", { token });
      assert.deepEqual([refused.status, refused.body.error], [404, "setup_link_invalid"], token);
    }
    const malformed = await setup(new Browser(), "POST", "/open", { token: link.token, extra: 1 });
    assert.equal(malformed.status, 400);
    for (const [method, apiPath] of [["GET", "/state"], ["PUT", "/connection"], ["POST", "/domains"], ["POST", "/finish"], ["GET", "/test"]]) {
      const refused = await setup(new Browser(), method, apiPath, {});
      assert.deepEqual([refused.status, refused.body?.error], [401, "setup_session_required"], `${method} ${apiPath}`);
    }
    const forged = new Browser();
    forged.jar.store(gw, new Response(null, { headers: { "set-cookie": `__Host-portcullis-setup=${"A".repeat(43)}; Path=/` } }));
    assert.equal((await setup(forged, "GET", "/state")).status, 401);
  });

  test("a cross-site request cannot open a link or change a setup", async () => {
    const link = await newLink();
    const evil = { origin: "https://evil.test", "sec-fetch-site": "cross-site" };
    const crossSite = await setup(new Browser(), "POST", "/open", { token: link.token }, evil);
    assert.deepEqual([crossSite.status, crossSite.body.error], [403, "csrf_rejected"]);
    const form = await setup(new Browser(), "POST", "/open", { token: link.token }, { "content-type": "text/plain" });
    assert.equal(form.status, 400, "a body a cross-site form could send is refused");
    const [row] = await rows("SELECT opened_at_ms FROM setup_links WHERE id = ?", link.id);
    assert.equal(row.opened_at_ms, null, "still unopened");
    const { browser } = await openedLink();
    const save = await setup(browser, "PUT", "/connection", connectionBody(), evil);
    assert.deepEqual([save.status, save.body.error], [403, "csrf_rejected"]);
  });
});

describe("a setup session", () => {
  let link;
  let browser;

  before(async () => {
    ({ link, browser } = await openedLink());
  });

  test("shows its tenant and the values to paste into the IdP", async () => {
    const state = await setup(browser, "GET", "/state");
    assert.equal(state.status, 200, JSON.stringify(state.body));
    assert.deepEqual(state.body.tenant, { id: "umbrella", name: "Umbrella Corp" });
    assert.equal(state.body.connection.id, link.connection_id);
    assert.equal(state.body.connection.redirect_uri, `${gw}/auth/callback/${link.connection_id}`);
    assert.equal(state.body.connection.initiate_login_uri, `${gw}/auth/login?provider=${link.connection_id}`);
    assert.equal(state.body.connection.saved, null);
    assert.deepEqual(state.body.domains, []);
  });

  test("saves only an OIDC issuer and client: every other field is refused, all at once", async () => {
    const refused = await setup(browser, "PUT", "/connection", {
      issuer: umbrellaIdp.issuer, client_id: "portcullis", token_endpoint: "https://evil.test/token",
      directory: { tenant: "initech" }, type: "oauth2",
    });
    assert.equal(refused.status, 400);
    const problems = refused.body.problems.join("\n");
    for (const field of ["token_endpoint", "directory", "type", "client_secret"]) assert.match(problems, new RegExp(`^${field}:`, "m"));
    const ownHost = await setup(browser, "PUT", "/connection", connectionBody({ issuer: gw }));
    assert.equal(ownHost.status, 400, "not the gateway itself");
    assert.deepEqual(await rows("SELECT id FROM connections WHERE id = ?", link.connection_id), [], "nothing stored");
  });

  test("saves the link's connection, sealed and inactive, and replaces it until the setup finishes", async () => {
    const first = await setup(browser, "PUT", "/connection", connectionBody({ client_id: "wrong-client" }));
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.saved, "created");
    assert.equal(first.body.connection.id, link.connection_id);
    const saved = await setup(browser, "PUT", "/connection", connectionBody());
    assert.equal(saved.body.saved, "replaced");
    const [row] = await rows("SELECT tenant_id, kind, settings, sealed_secret FROM connections WHERE id = ?", link.connection_id);
    assert.deepEqual([row.tenant_id, row.kind], ["umbrella", "oidc"]);
    assert.doesNotMatch(row.settings + row.sealed_secret, new RegExp(OIDC_SECRET), "the secret is sealed");
    const settings = JSON.parse(row.settings);
    assert.deepEqual(settings.scopes, ["openid", "email", "profile"]);
    assert.equal(settings.directory.verified_domains_only, true, "its emails count only in the tenant's proven domains");
    const state = await setup(browser, "GET", "/state");
    assert.deepEqual(state.body.connection.saved, {
      issuer: umbrellaIdp.issuer, client_id: "portcullis", display_name: "Umbrella SSO", in_use: false, active: false,
    });
    assert.doesNotMatch(JSON.stringify(state.body), new RegExp(OIDC_SECRET));
  });

  test("a test sign-in shows who signed in, provisions nobody and starts no session", async () => {
    const { authorize, callback } = await testSignIn(browser, "wes");
    assert.equal(authorize.origin, new URL(umbrellaIdp.issuer).origin, "at the tenant's IdP");
    assert.equal(authorize.searchParams.get("redirect_uri"), `${gw}/auth/callback/${link.connection_id}`);
    assert.equal(callback.status, 302, await callback.clone().text());
    assert.equal(callback.headers.get("location"), "/auth/setup", "back to the page");
    assert.equal(sessionSetCookie(callback), undefined, "no session");
    assert.deepEqual(await rows("SELECT user_id FROM identities WHERE connection_id = ?", link.connection_id), [], "nobody provisioned");
    const state = await setup(browser, "GET", "/state");
    const identity = state.body.test_result.identity;
    assert.deepEqual(
      { subject: identity.subject, email: identity.email, name: identity.name, verified: identity.email_domain_verified },
      { subject: "wes", email: "wes@umbrella.test", name: "Wes Keeper", verified: false },
    );
    assert.equal(state.body.test_result.error, null);
    assert.ok(stack.gateway.logs.some((l) => l.message.includes("setup_test_finished") && l.message.includes("signed_in")));
  });

  test("a failed test sign-in goes back to the page, which shows why", async () => {
    const saved = await setup(browser, "PUT", "/connection", connectionBody({ client_secret: "not-the-secret-0123456789" }));
    assert.equal(saved.status, 200);
    const { callback } = await testSignIn(browser, "wes");
    assert.equal(callback.status, 302);
    assert.equal(callback.headers.get("location"), "/auth/setup");
    const state = await setup(browser, "GET", "/state");
    assert.equal(state.body.test_result.identity, null);
    assert.match(state.body.test_result.error.code, /^[a-z_]+$/);
    assert.doesNotMatch(JSON.stringify(state.body.test_result), /not-the-secret/);
    assert.equal((await setup(browser, "PUT", "/connection", connectionBody())).status, 200);
  });

  test("a test whose connection was saved over while it ran counts for nothing", async () => {
    const started = await browser.request(`${gw}/auth/setup/test`);
    const callbackUrl = await loginAtProvider(started.headers.get("location"), { login: "wes", jar: browser.idpJar });
    assert.equal((await setup(browser, "PUT", "/connection", connectionBody())).status, 200, "saved again meanwhile");
    const refused = await browser.request(callbackUrl);
    assert.deepEqual([refused.status, /login_state_invalid/.test(await refused.text())], [400, true]);
    assert.equal((await setup(browser, "GET", "/state")).body.test_result, null, "no result for the settings now saved");
  });

  test("a test flow's callback needs the setup session that began it", async () => {
    const started = await browser.request(`${gw}/auth/setup/test`);
    const callbackUrl = await loginAtProvider(started.headers.get("location"), { login: "wes", jar: browser.idpJar });
    // The same browser's ticket, without its setup cookie (ended, or taken to another browser).
    const cookies = (browser.jar.header(callbackUrl) ?? "").split("; ").filter((c) => c && !c.startsWith("__Host-portcullis-setup="));
    assert.ok(cookies.some((c) => c.startsWith("__Host-portcullis-login-")), "the flow's ticket goes along");
    const refused = await new Browser().request(callbackUrl, { headers: { cookie: cookies.join("; ") } });
    assert.deepEqual([refused.status, /setup_session_required/.test(await refused.text())], [401, true]);
    assert.equal(sessionSetCookie(refused), undefined);
  });

  test("proves a domain with a TXT record; the next test shows its emails are kept", async () => {
    const claimed = await setup(browser, "POST", "/domains", { domain: "Umbrella.test" });
    assert.equal(claimed.status, 201, JSON.stringify(claimed.body));
    assert.equal(claimed.body.domain, "umbrella.test");
    const early = await setup(browser, "POST", "/domains/umbrella.test/verify");
    assert.equal(early.status, 409, JSON.stringify(early.body));
    resolver.records.set(claimed.body.challenge.name, [claimed.body.challenge.value]);
    const verified = await setup(browser, "POST", "/domains/umbrella.test/verify");
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
    assert.equal(verified.body.verified, true);
    const [claim] = await rows("SELECT tenant_id, verified_at_ms FROM domain_claims WHERE domain = 'umbrella.test'");
    assert.equal(claim.tenant_id, "umbrella");
    assert.ok(claim.verified_at_ms > 0);
    await testSignIn(browser, "ada");
    const state = await setup(browser, "GET", "/state");
    assert.equal(state.body.test_result.identity.email_domain_verified, true);
    assert.deepEqual(state.body.domains.map((d) => [d.domain, d.verified]), [["umbrella.test", true]]);
  });

  test("until the setup finishes, its connection signs nobody in", async () => {
    const [row] = await rows("SELECT activated_at_ms FROM connections WHERE id = ?", link.connection_id);
    assert.equal(row.activated_at_ms, null);
    const byId = await new Browser().request(`${gw}/auth/login?provider=${link.connection_id}`);
    assert.equal(byId.status, 400);
    assert.match(await byId.text(), /unknown_provider/);
    const byEmail = await new Browser().request(`${gw}/auth/login?email=wes%40umbrella.test`);
    const page = await byEmail.text();
    assert.equal(byEmail.status, 200);
    assert.doesNotMatch(page, /id="continue" href/, "home-realm discovery does not send the domain there yet");
    assert.match(page, /No sign-in is set up for that email domain/);
  });

  test("finishing needs a test that worked since the last save; then the connection signs users in", async () => {
    assert.equal((await setup(browser, "PUT", "/connection", connectionBody())).status, 200, "a save clears the last test");
    const untested = await setup(browser, "POST", "/finish");
    assert.equal(untested.status, 400);
    assert.match(untested.body.problems.join(), /test sign-in must work/);
    assert.equal((await setup(browser, "GET", "/state")).status, 200, "the session goes on");
    await testSignIn(browser, "wes");
    const finished = await setup(browser, "POST", "/finish");
    assert.equal(finished.status, 200, JSON.stringify(finished.body));
    assert.equal(finished.body.connection_active, true);
    assert.match(finished.headers.getSetCookie().join("\n"), /__Host-portcullis-setup=; .*Max-Age=0/);
    assert.equal((await setup(browser, "GET", "/state")).status, 401, "the session ended");
    const [row] = await rows("SELECT activated_at_ms FROM connections WHERE id = ?", link.connection_id);
    assert.ok(row.activated_at_ms > 0);

    const user = new Browser();
    const { callback } = await user.loginWithOidc(gw, { email: "wes@umbrella.test", login: "wes" });
    assert.equal(callback.status, 302, await callback.clone().text());
    assert.ok(sessionSetCookie(callback), "a real sign-in starts a session");
    const [identity] = await rows("SELECT tenant_id FROM identities WHERE connection_id = ?", link.connection_id);
    assert.equal(identity.tenant_id, "umbrella");
    const [user_] = await rows("SELECT email FROM users WHERE tenant_id = 'umbrella'");
    assert.equal(user_.email, "wes@umbrella.test", "kept: the domain is the tenant's");
  });

  test("an administrator may make a setup's connection live without its setup finishing", async () => {
    const { link: other, browser: holder } = await openedLink();
    assert.equal((await setup(holder, "PUT", "/connection", connectionBody())).status, 200);
    assert.equal((await new Browser().request(`${gw}/auth/login?provider=${other.connection_id}`)).status, 400, "pending");
    const otherTenant = await issuer.sign("ES256", { claims: { sub: "it@initech", scope: "portcullis:tenant-admin", tenant: "initech" } });
    const activatePath = `/tenants/umbrella/connections/${other.connection_id}/activate`;
    assert.equal((await admin("POST", activatePath, undefined, otherTenant)).status, 403);
    const activated = await admin("POST", activatePath);
    assert.deepEqual([activated.status, activated.body.active], [200, true]);
    assert.equal((await new Browser().request(`${gw}/auth/login?provider=${other.connection_id}`)).status, 302, "live");
    const listed = (await admin("GET", "/tenants/umbrella/connections")).body.connections.find((c) => c.id === other.connection_id);
    assert.equal(listed.active, true);
    assert.equal((await admin("POST", "/tenants/umbrella/connections/con_aaaaaaaaaaaaaaaa/activate")).status, 404);
    await admin("DELETE", `/tenants/umbrella/connections/${other.connection_id}`);
  });

  test("withdrawing a link ends its session", async () => {
    const { link: other, browser: holder } = await openedLink();
    assert.equal((await setup(holder, "GET", "/state")).status, 200);
    assert.equal((await admin("DELETE", `/tenants/umbrella/setup-links/${other.id}`)).status, 200);
    assert.equal((await setup(holder, "GET", "/state")).status, 401);
  });
});

describe("a connection whose discovery document names the deployment's own hosts", () => {
  let forger;

  before(async () => {
    forger = await startForgingProvider({ user: { sub: "mallory", email: "m@umbrella.test", email_verified: true, name: "M" } });
  });

  after(async () => {
    await forger?.close();
  });

  test("is refused before any request goes there (server-side request forgery)", async () => {
    const { browser } = await openedLink();
    // The issuer is outside; the endpoints its document names are the origin's and the gateway's.
    await forger.forge({
      discovery: (doc) => {
        doc.token_endpoint = `${origin.url}/internal/steal`;
        doc.userinfo_endpoint = `${gw}/auth/session`;
      },
    });
    const saved = await setup(browser, "PUT", "/connection", connectionBody({ issuer: forger.issuer ?? forger.url }));
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
    const before = origin.requests.length;
    const started = await browser.request(`${gw}/auth/setup/test`);
    assert.equal(started.status, 502, await started.clone().text());
    assert.match(await started.text(), /provider_endpoint_refused/);
    assert.equal(origin.requests.slice(before).filter((r) => r.path === "/internal/steal").length, 0);
    const logged = stack.gateway.logs.find((l) => l.message.includes("connection_endpoint_refused"));
    assert.ok(logged && /token_endpoint/.test(logged.message) && /userinfo_endpoint/.test(logged.message), logged?.message);
  });

  test("a test sign-in is started only by a navigation from the page, never from another site", async () => {
    const { browser } = await openedLink();
    for (const site of ["cross-site", "same-site"]) {
      const refused = await browser.request(`${gw}/auth/setup/test`, { headers: { "sec-fetch-site": site } });
      assert.equal(refused.status, 403, site);
    }
  });
});

describe("the onboarding page in Chromium", () => {
  let chromium;

  before(async () => {
    chromium = await launchBrowser();
  });

  after(async () => {
    await chromium?.close();
  });

  test("begin, connect, test and prove a domain, with no console errors or CSP violations", async () => {
    const tenant = await admin("POST", "/tenants", { id: "hooli", name: "Hooli" });
    assert.equal(tenant.status, 201);
    const link = await newLink("hooli");
    const { page, problems } = await openPage(chromium);
    await page.goto(link.url);
    await page.waitForSelector("#begin-button");
    assert.ok(await page.isVisible("#begin-button"), "the link waits for a click: a scanner spends nothing");
    assert.equal(await page.textContent("#begin-tenant"), "Hooli (hooli)", "whose setup it is, before anything is spent");
    assert.equal((await rows("SELECT opened_at_ms FROM setup_links WHERE id = ?", link.id))[0].opened_at_ms, null);
    await page.click("#begin-button");
    await page.waitForSelector("#steps:not([hidden])");
    assert.equal(page.url(), `${gw}/auth/setup`, "the spent token left the address bar");
    assert.equal(await page.textContent("#tenant-name"), "Hooli");
    assert.equal(await page.textContent("#redirect-uri"), `${gw}/auth/callback/${link.connection_id}`);

    await page.check('input[name="idp"][value="entra"]');
    assert.match(await page.textContent("#idp-instructions"), /App registrations/);
    await page.fill("#issuer", umbrellaIdp.issuer);
    await page.fill("#client_id", "portcullis");
    await page.fill("#client_secret", OIDC_SECRET);
    await page.fill("#display_name", "Hooli SSO");
    await page.click("#save");
    await page.waitForSelector("#saved-line:not([hidden])");
    assert.match(await page.textContent("#saved-line"), /Saved/);

    await Promise.all([page.waitForURL((url) => url.href.startsWith(new URL(umbrellaIdp.issuer).origin)), page.click("#test")]);
    await page.waitForSelector('input[name="login"]');
    await page.fill('input[name="login"]', "wes");
    await page.fill('input[name="password"]', "any");
    await Promise.all([page.waitForURL(`${gw}/auth/setup`), page.click('button[type="submit"]')]);
    await page.waitForSelector("#test-result:not([hidden])");
    assert.match(await page.textContent("#test-outcome"), /worked/);
    assert.match(await page.textContent("#test-facts"), /wes@umbrella\.test/);
    assert.equal(await page.isChecked('input[name="idp"][value="entra"]'), true, "the IdP chosen before the test");

    await page.fill("#domain", "hooli.test");
    await page.click("#claim");
    await page.waitForSelector("#domains .domain");
    const [claim] = (await admin("GET", "/tenants/hooli")).body.domains;
    resolver.records.set(claim.challenge.name, [claim.challenge.value]);
    assert.match(await page.textContent("#domains"), /_portcullis-challenge\.hooli\.test/);
    await page.click("#domains button.verify");
    await page.waitForFunction(() => document.querySelector("#domains")?.textContent.includes("verified"));
    await page.screenshot({ path: path.join(screenshotDir, "setup-page.png"), fullPage: true });
    await page.setViewportSize({ width: 360, height: 740 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    const wide = await page.evaluate(() =>
      [...document.querySelectorAll("body *")]
        .filter((node) => node.getBoundingClientRect().right > window.innerWidth + 1)
        .map((node) => `${node.tagName.toLowerCase()}${node.id ? `#${node.id}` : ""}.${node.className}`)
        .slice(0, 8),
    );
    assert.equal(overflow, false, `no horizontal scrolling at 360 px (long URLs and TXT values wrap): ${wide.join(", ")}`);
    await page.screenshot({ path: path.join(screenshotDir, "setup-page-mobile.png"), fullPage: true });
    const labelled = await page.$$eval("#connection-form input", (inputs) => inputs.every((input) => input.labels.length === 1));
    assert.ok(labelled, "every field of the connection form has its label");

    await page.click("#finish");
    await page.waitForSelector("#finished:not([hidden])");
    assert.deepEqual(problems, [], "no console errors or CSP violations");
    await page.context().close();
  });

  test("a used link says so on the page", async () => {
    const link = await newLink();
    assert.equal((await setup(new Browser(), "POST", "/open", { token: link.token })).status, 200);
    const { page, problems } = await openPage(chromium);
    await page.goto(link.url);
    await page.waitForSelector("#no-link:not([hidden])");
    assert.equal(await page.isVisible("#begin-button"), false);
    assert.match(await page.textContent("#message"), /already used/);
    // Chromium logs the refused peek (410) and the page's look for a session of its own (401).
    assert.deepEqual(problems.filter((p) => !/status of (410|401)/.test(p)), []);
    await page.context().close();
  });
});

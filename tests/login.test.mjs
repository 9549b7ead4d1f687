// Browser login end to end: the built worker in workerd, a real OpenID Provider (oidc-provider@8,
// PKCE required, `iss` in responses, refresh tokens) and a GitHub-style OAuth 2.0 provider at the
// same time, and a recording origin. Flows run over HTTP with a cookie jar, and every test looks
// at what the origin received.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startOrigin } from "./support/origin.mjs";
import { Browser, rawRequest, sessionSetCookie, startLoginStack } from "./support/login.mjs";
import { TEST_ADMIN_KEY as ADMIN_KEY } from "./support/config.mjs";
import { loginAtProvider } from "./support/oidc-provider.mjs";
import { assertionVerifier } from "./support/assertion-verifier.mjs";

let origin;
let stack;
let gw;

before(async () => {
  origin = await startOrigin();
  stack = await startLoginStack({ origin });
  gw = stack.gateway.url;
  origin.verifyAssertionsWith(assertionVerifier({ jwksUrl: `${gw}/.well-known/jwks.json`, audience: origin.url }));
});

after(async () => {
  await stack?.close();
  await origin?.close();
});

function seenSince(count) {
  return origin.requests.slice(count);
}

async function loggedIn(login = "alice") {
  const browser = new Browser();
  const { callback } = await browser.loginWithOidc(gw, { login });
  assert.equal(callback.status, 302, await callback.clone().text());
  return browser;
}

describe("before login", () => {
  test("a page load is sent to the login page, with where it was going", async () => {
    const before = origin.requests.length;
    const response = await new Browser().request(`${gw}/app/dashboard?tab=2`);
    assert.equal(response.status, 302);
    assert.equal(response.headers.get("location"), "/auth/login?return_to=%2Fapp%2Fdashboard%3Ftab%3D2");
    assert.equal(seenSince(before).length, 0);
  });

  test("an API call gets a 401 JSON, not a redirect", async () => {
    const before = origin.requests.length;
    const response = await new Browser().request(`${gw}/app/data`, { api: true });
    assert.equal(response.status, 401);
    assert.equal((await response.json()).error, "unauthenticated");
    assert.equal(seenSince(before).length, 0);
  });

  test("a POST page load is refused, not redirected (its body would be lost)", async () => {
    const response = await new Browser().request(`${gw}/app/form`, { method: "POST", body: "a=1" });
    assert.equal(response.status, 401);
  });

  test("the login page offers every provider and an email field, under the strict CSP", async () => {
    const response = await new Browser().request(`${gw}/auth/login?return_to=%2Fapp`);
    assert.equal(response.status, 200);
    const html = await response.text();
    assert.match(html, /Continue with Corp SSO/);
    assert.match(html, /Continue with GitHub/);
    assert.match(html, /href="\/auth\/login\?provider=corp&amp;return_to=%2Fapp"/);
    assert.match(html, /<input[^>]+id="email"/);
    assert.match(html, /Acme Portal/);
    const csp = response.headers.get("content-security-policy");
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, new RegExp(`form-action 'self' ${stack.idp.issuer.replace(/[.]/g, "\\.")}`));
    assert.equal(response.headers.get("referrer-policy"), "no-referrer");
  });

  test("branding colours come from the configuration as a stylesheet", async () => {
    const response = await new Browser().request(`${gw}/auth/branding.css`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type"), /text\/css/);
    assert.match(await response.text(), /--brand: #1f3a5f;/);
  });
});

describe("OpenID Connect login", () => {
  test("the authorisation request carries PKCE S256, state, nonce and the exact redirect URI", async () => {
    const browser = new Browser();
    const start = await browser.request(`${gw}/auth/login?provider=corp&return_to=%2Fapp`);
    assert.equal(start.status, 302);
    const url = new URL(start.headers.get("location"));
    assert.equal(url.origin, stack.idp.url.replace(/\/$/, ""));
    const params = Object.fromEntries(url.searchParams);
    assert.equal(params.response_type, "code");
    assert.equal(params.client_id, "portcullis");
    assert.equal(params.redirect_uri, `${gw}/auth/callback`);
    assert.equal(params.code_challenge_method, "S256");
    assert.match(params.code_challenge, /^[A-Za-z0-9_-]{43}$/);
    assert.match(params.state, /^[A-Za-z0-9_-]{43}$/);
    assert.match(params.nonce, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(params.state, params.nonce);
    const ticket = start.headers.getSetCookie().find((line) => line.startsWith("__Host-portcullis-login-"));
    assert.match(ticket, /; Path=\/; Secure; HttpOnly; SameSite=Lax; Max-Age=600$/);
    assert.ok(!ticket.includes(params.state), "the ticket cookie's name holds only a prefix of the state");
  });

  test("login lands on return_to with a small __Host- session cookie, and the origin sees the user", async () => {
    const browser = new Browser();
    const { callbackUrl, callback } = await browser.loginWithOidc(gw, { returnTo: "/app/dashboard" });
    assert.match(callbackUrl, /[?&]iss=/, "the provider sent the RFC 9207 iss parameter");
    assert.equal(callback.status, 302);
    assert.equal(callback.headers.get("location"), "/app/dashboard");
    const cookie = sessionSetCookie(callback);
    assert.match(cookie, /^__Host-portcullis=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Lax; Max-Age=86400$/);
    assert.ok(cookie.split(";")[0].length < 100, "the cookie stays small whatever the IdP's tokens weigh");
    assert.ok(
      callback.headers.getSetCookie().some((line) => /^__Host-portcullis-login-[^=]+=; .*Max-Age=0/.test(line)),
      "the login ticket is cleared",
    );

    const before = origin.requests.length;
    const page = await browser.request(`${gw}/app/dashboard`, { headers: { cookie: `theme=dark; ${browser.jar.header(gw)}` } });
    assert.equal(page.status, 200);
    const [seen] = seenSince(before);
    assert.equal(seen.headers["x-auth-subject"], "alice");
    assert.equal(seen.headers["x-auth-method"], "session");
    assert.equal(seen.headers["x-auth-email"], "alice@corp.test");
    assert.equal(seen.headers["x-auth-groups"], "eng,admins");
    assert.equal(seen.headers["x-auth-tenant"], "acme");
    assert.equal(seen.headers["x-auth-issuer"], stack.idp.issuer);
    assert.equal(seen.headers.cookie, "theme=dark", "the origin keeps its own cookies and never gets Portcullis's");
    assert.equal(seen.assertion?.valid, true, seen.assertion?.error);
    assert.equal(seen.assertion.claims.sub, "alice");
    assert.equal(seen.assertion.claims.auth_method, "session");
    assert.equal(seen.assertion.claims.email, "alice@corp.test");
    // When the user authenticated: the OpenID Provider's auth_time when its ID token says (a
    // login without one is not taken as fresh: no header, no claim).
    if (seen.headers["x-auth-time"] === undefined) {
      assert.equal(seen.assertion.claims.auth_time, undefined);
    } else {
      const authTime = Number(seen.headers["x-auth-time"]);
      assert.ok(Math.abs(authTime - Date.now() / 1000) < 120, `x-auth-time ${seen.headers["x-auth-time"]}`);
      assert.equal(seen.assertion.claims.auth_time, authTime);
    }
  });

  test("/auth/session tells a single-page app who is signed in", async () => {
    const browser = await loggedIn();
    const response = await browser.request(`${gw}/auth/session`, { api: true });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("cache-control"), "no-store");
    const body = await response.json();
    assert.equal(body.authenticated, true);
    assert.equal(body.subject, "alice");
    assert.equal(body.email, "alice@corp.test");
    assert.equal(body.name, "Alice Liddell");
    assert.deepEqual(body.groups, ["eng", "admins"]);
    assert.equal(body.provider, "corp");
    assert.match(body.csrf_token, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(body.expires_at > body.created_at);
    const anonymous = await new Browser().request(`${gw}/auth/session`, { api: true });
    assert.equal(anonymous.status, 401);
  });

  test("roles come from the provider's groups; a route that takes only bearer credentials ignores sessions", async () => {
    const alice = await loggedIn("alice");
    assert.equal((await alice.request(`${gw}/admin/panel`)).status, 200);
    const bobSession = await loggedInAs("bob");
    // bob's email domain is not allowed for this provider: no session at all.
    assert.equal(bobSession.status, 403);
    // A route that takes only bearer credentials ignores the session: 401, and no login redirect.
    const apiOnly = await alice.request(`${gw}/api/orders`, { api: true });
    assert.equal(apiOnly.status, 401);
    assert.equal((await apiOnly.json()).error, "unauthenticated");
    assert.equal((await alice.request(`${gw}/api/orders`)).status, 401);
  });

  test("required claims are checked on the verified profile; extra parameters reach the provider", async () => {
    const browser = new Browser();
    const start = await browser.request(`${gw}/auth/login?provider=corp-globex`);
    assert.equal(new URL(start.headers.get("location")).searchParams.get("ui_locales"), "en");
    const callbackUrl = await loginAtProvider(start.headers.get("location"), { login: "alice", jar: browser.idpJar });
    const before = origin.requests.length;
    const callback = await browser.request(callbackUrl, { api: true });
    assert.equal(callback.status, 403);
    assert.equal((await callback.json()).error, "account_not_allowed");
    assert.equal(sessionSetCookie(callback), undefined);
    assert.equal(seenSince(before).length, 0);
  });

  test("an unverified email is not an email: the allowed-domain rule refuses it", async () => {
    const response = await loggedInAs("carol");
    assert.equal(response.status, 403);
    assert.match(await response.text(), /email_not_allowed/);
  });

  test("logging in again rotates the session id and ends the old session", async () => {
    const browser = await loggedIn();
    const first = browser.jar.header(gw);
    // Same browser, already signed in at the IdP: straight back with a new code.
    const again = await browser.loginWithOidc(gw);
    assert.equal(again.callback.status, 302);
    const second = browser.jar.header(gw);
    assert.notEqual(first, second);
    const old = await new Browser().request(`${gw}/app/x`, { api: true, headers: { cookie: first } });
    assert.equal(old.status, 401);
    assert.equal((await old.json()).error, "invalid_session");
    assert.equal((await browser.request(`${gw}/app/x`, { api: true })).status, 200);
  });

  test("home-realm discovery: an email's domain picks the provider, with a login_hint", async () => {
    const response = await new Browser().request(`${gw}/auth/login?email=Alice%40Corp.test&return_to=%2Fapp`);
    assert.equal(response.status, 302);
    const url = new URL(response.headers.get("location"));
    assert.equal(url.origin, stack.idp.url.replace(/\/$/, ""));
    assert.equal(url.searchParams.get("login_hint"), "Alice@Corp.test");
    const unknown = await new Browser().request(`${gw}/auth/login?email=someone%40elsewhere.test`);
    assert.equal(unknown.status, 200);
    assert.match(await unknown.text(), /No sign-in is set up for that email domain/);
  });

  test("login flows are rate-limited per client IP (30 a minute by default)", async () => {
    const limited = await startLoginStack({ origin, withGithub: false, rateLimits: null });
    try {
      const url = limited.gateway.url;
      const statuses = [];
      for (let i = 0; i < 32; i++) statuses.push((await rawRequest(`${url}/auth/login?provider=corp`)).status);
      assert.deepEqual(statuses.slice(0, 30), Array(30).fill(302));
      const refused = await rawRequest(`${url}/auth/callback?code=x&state=y`, { headers: { accept: "application/json" } });
      assert.equal(refused.status, 429);
      assert.equal((await refused.json()).error, "rate_limited");
      assert.ok(Number(refused.headers.get("retry-after")) >= 1);
    } finally {
      await limited.close();
    }
  });

  test("an unknown provider is a 400", async () => {
    const response = await new Browser().request(`${gw}/auth/login?provider=nope`, { api: true });
    assert.equal(response.status, 400);
    assert.equal((await response.json()).error, "unknown_provider");
  });
});

async function loggedInAs(login) {
  const browser = new Browser();
  const { callback } = await browser.loginWithOidc(gw, { login });
  return callback;
}

describe("GitHub-style OAuth 2.0 login, alongside OIDC", () => {
  test("the subject is the numeric id and the email is the verified primary one", async () => {
    const browser = new Browser();
    const start = await browser.request(`${gw}/auth/login?provider=github&return_to=%2Fapp%2Frepo`);
    assert.equal(start.status, 302);
    const authorize = new URL(start.headers.get("location"));
    assert.equal(authorize.searchParams.get("code_challenge_method"), "S256");
    assert.equal(authorize.searchParams.get("nonce"), null, "no nonce without ID tokens");
    assert.equal(authorize.searchParams.get("redirect_uri"), `${gw}/auth/callback/github`, "a redirect URI of its own");
    const toCallback = await rawRequest(authorize.href);
    assert.equal(toCallback.status, 302);
    const callback = await browser.request(toCallback.headers.get("location"));
    assert.equal(callback.status, 302, await callback.clone().text());
    assert.equal(callback.headers.get("location"), "/app/repo");

    const before = origin.requests.length;
    assert.equal((await browser.request(`${gw}/app/repo`)).status, 200);
    const [seen] = seenSince(before);
    assert.equal(seen.headers["x-auth-subject"], "583231");
    assert.equal(seen.headers["x-auth-email"], "octocat@github.test");
    // Subjects are unique per provider only: the origin is told which one vouches for this one.
    assert.equal(seen.headers["x-auth-issuer"], new URL(stack.github.url).origin);
    assert.equal(seen.assertion?.claims.idp, new URL(stack.github.url).origin);
    const token = stack.github.requests.find((r) => r.path === "/login/oauth/access_token");
    assert.match(token.body, /code_verifier=/);
  });

  test("a provider's answer delivered to another provider's redirect URI is refused (mix-up)", async () => {
    const browser = new Browser();
    const start = await browser.request(`${gw}/auth/login?provider=github`);
    const callback = new URL((await rawRequest(start.headers.get("location"))).headers.get("location"));
    assert.equal(callback.pathname, "/auth/callback/github");
    callback.pathname = "/auth/callback";
    const before = origin.requests.length;
    const response = await browser.request(callback.href, { api: true });
    assert.equal(response.status, 400);
    assert.equal((await response.json()).error, "issuer_mismatch");
    assert.equal(sessionSetCookie(response), undefined);
    assert.ok(!stack.github.requests.some((r) => r.path === "/login/oauth/access_token" && r.body.includes(callback.searchParams.get("code"))),
      "the code never reached a token endpoint");
    assert.equal(seenSince(before).length, 0);
  });

  test("both providers' sessions work side by side", async () => {
    const alice = await loggedIn();
    const octo = new Browser();
    const start = await octo.request(`${gw}/auth/login?provider=github`);
    await octo.request((await rawRequest(start.headers.get("location"))).headers.get("location"));
    const before = origin.requests.length;
    await Promise.all([alice.request(`${gw}/app/a`), octo.request(`${gw}/app/b`)]);
    const subjects = seenSince(before).map((r) => r.headers["x-auth-subject"]).sort();
    assert.deepEqual(subjects, ["583231", "alice"]);
  });
});

describe("logout and revocation take effect at once", () => {
  test("logout is CSRF-protected, ends the session everywhere, and logs out at the provider", async () => {
    const browser = await loggedIn();
    const cookie = browser.jar.header(gw);
    const page = await browser.request(`${gw}/auth/logout`);
    assert.equal(page.status, 200);
    const token = /name="csrf_token" value="([^"]+)"/.exec(await page.text())?.[1];
    assert.ok(token);
    const post = (headers, body) =>
      rawRequest(`${gw}/auth/logout`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", cookie, accept: "text/html", ...headers },
        body,
      });
    const crossSite = await post({ origin: "https://evil.test" }, `csrf_token=${token}`);
    assert.equal(crossSite.status, 403);
    const noToken = await post({ origin: gw }, "");
    assert.equal(noToken.status, 403);
    const wrongToken = await post({ origin: gw }, "csrf_token=AAAA");
    assert.equal(wrongToken.status, 403);
    // A page served with Referrer-Policy: no-referrer posts with Origin: null; then only
    // Sec-Fetch-Site decides.
    const nullCrossSite = await post({ origin: "null", "sec-fetch-site": "cross-site" }, `csrf_token=${token}`);
    assert.equal(nullCrossSite.status, 403);
    assert.equal((await browser.request(`${gw}/app/still`, { api: true })).status, 200, "refused logouts change nothing");

    const done = await post({ origin: "null", "sec-fetch-site": "same-origin" }, `csrf_token=${token}`);
    assert.equal(done.status, 303);
    const endSession = new URL(done.headers.get("location"));
    assert.equal(`${endSession.origin}${endSession.pathname}`, `${stack.idp.issuer}/session/end`);
    assert.ok(endSession.searchParams.get("id_token_hint"));
    assert.equal(endSession.searchParams.get("post_logout_redirect_uri"), `${gw}/auth/logged-out`);
    assert.match(done.headers.getSetCookie().join("\n"), /__Host-portcullis=; .*Max-Age=0/);

    const before = origin.requests.length;
    const replay = await rawRequest(`${gw}/app/after`, { headers: { cookie, accept: "application/json" } });
    assert.equal(replay.status, 401, "the old cookie is dead at once, though KV may still hold the record elsewhere");
    assert.equal((await replay.json()).error, "invalid_session");
    const navigation = await rawRequest(`${gw}/app/after`, { headers: { cookie, "sec-fetch-mode": "navigate" } });
    assert.equal(navigation.status, 302);
    assert.match(navigation.headers.get("location"), /reason=session_ended/);
    assert.equal(seenSince(before).length, 0);
    const loggedOut = await browser.request(`${gw}/auth/logged-out`);
    assert.match(await loggedOut.text(), /You have signed out/);
    // The provider's refresh token was revoked too (RFC 7009), after the response.
    for (let i = 0; i < 50 && !stack.gateway.events("upstream_token_revocation").length; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(stack.gateway.events("upstream_token_revocation").at(-1)?.outcome, "revoked");
  });

  test("an administrator ends all of a user's sessions", async () => {
    const one = await loggedIn();
    const two = await loggedIn();
    const revoke = (key, body) =>
      rawRequest(`${gw}/auth/sessions/revoke`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    assert.equal((await revoke("not-the-admin-key", { provider: "corp", subject: "alice" })).status, 401);
    assert.equal((await revoke(ADMIN_KEY, { provider: "nope", subject: "alice" })).status, 400);
    const response = await revoke(ADMIN_KEY, { provider: "corp", subject: "alice" });
    assert.equal(response.status, 200, await response.clone().text());
    for (const browser of [one, two]) {
      const after = await browser.request(`${gw}/app/x`, { api: true });
      assert.equal(after.status, 401);
    }
    const fresh = await loggedIn();
    assert.equal((await fresh.request(`${gw}/app/x`, { api: true })).status, 200, "a later login works again");
    const audit = stack.gateway.events("sessions_revoked").at(-1);
    assert.equal(audit.principal, "alice");
  });
});

describe("upstream tokens are refreshed before expiry, once", () => {
  let refreshStack;
  let grants;

  before(async () => {
    // Access tokens live 3 s; the 2 s margin is clamped to half the lifetime (1 s, in whole
    // seconds), so they are refreshed from 2 s on, while still valid.
    refreshStack = await startLoginStack({
      origin,
      session: { refresh_margin_s: 2, cache_ttl_s: 0 },
      idpOptions: { accessTokenTtlS: 3 },
      withGithub: false,
    });
    grants = [];
    refreshStack.idp.provider.on("grant.success", (ctx) => grants.push(ctx.oidc.params.grant_type));
  });

  after(async () => {
    await refreshStack?.close();
  });

  test("concurrent requests share one refresh, and the session lives on", async () => {
    const url = refreshStack.gateway.url;
    const browser = new Browser();
    const { callback } = await browser.loginWithOidc(url);
    assert.equal(callback.status, 302);
    grants.length = 0;
    await new Promise((resolve) => setTimeout(resolve, 2300));
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) => browser.request(`${url}/app/${i}`, { api: true })),
    );
    assert.deepEqual(responses.map((r) => r.status), Array(8).fill(200));
    assert.deepEqual(grants, ["refresh_token"], "exactly one refresh for eight concurrent requests");
    const events = refreshStack.gateway.events("session_refresh");
    assert.equal(events.at(-1).outcome, "refreshed");
  });

  test("when the provider revokes the grant, the session ends at the next refresh", async () => {
    const url = refreshStack.gateway.url;
    const browser = new Browser();
    await browser.loginWithOidc(url);
    assert.equal((await browser.request(`${url}/app/x`, { api: true })).status, 200);
    await refreshStack.idp.revokeGrantsOf("alice");
    await new Promise((resolve) => setTimeout(resolve, 2300));
    const before = origin.requests.length;
    const after = await browser.request(`${url}/app/y`, { api: true });
    assert.equal(after.status, 401);
    assert.equal((await after.json()).error, "invalid_session");
    assert.equal(seenSince(before).length, 0);
  });
});

describe("flow integrity", () => {
  test("a callback is usable once, even with the ticket cookie kept", async () => {
    const browser = new Browser();
    const start = await browser.request(`${gw}/auth/login?provider=corp`);
    const callbackUrl = await loginAtProvider(start.headers.get("location"), { login: "alice", jar: browser.idpJar });
    const cookie = browser.jar.header(gw);
    const first = await rawRequest(callbackUrl, { headers: { cookie, accept: "application/json" } });
    assert.equal(first.status, 302);
    const replay = await rawRequest(callbackUrl, { headers: { cookie, accept: "application/json" } });
    assert.equal(replay.status, 400);
    assert.equal((await replay.json()).error, "login_replayed");
    assert.equal(sessionSetCookie(replay), undefined);
  });

  test("return_to never leaves the app's origins", async () => {
    for (const target of ["https://evil.test/x", "//evil.test/x", "/\\evil.test"]) {
      const browser = new Browser();
      const { callback } = await browser.loginWithOidc(gw, { returnTo: target });
      assert.equal(callback.headers.get("location"), "/", target);
    }
  });

  test("a tampered session cookie is refused and cleared", async () => {
    const browser = await loggedIn();
    const cookie = browser.jar.header(gw);
    const tampered = cookie.replace(/\.(.)/, (_, c) => `.${c === "A" ? "B" : "A"}`);
    const before = origin.requests.length;
    const response = await rawRequest(`${gw}/app/x`, { headers: { cookie: tampered, accept: "application/json" } });
    assert.equal(response.status, 401);
    assert.equal((await response.json()).error, "invalid_session");
    assert.equal(seenSince(before).length, 0);
  });
});

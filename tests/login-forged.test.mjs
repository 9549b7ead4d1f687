// Browser login against a forging OpenID Provider: every forged or replayed answer fails closed.
// A refused login gets a clear 4xx (or 502) with a stable error code, sets no session cookie, is
// logged as login_failed with its internal reason, and the origin sees nothing. The few forgeries
// that are legitimate (a key rotation, an off-site return_to) are shown to end where they should.
//
// The built worker runs in workerd; the provider is oauth2-mock-server behind the forging front in
// support/forging-provider.mjs; the origin records every request it receives.
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, createPublicKey, randomBytes } from "node:crypto";
import { freePort, startGateway } from "./support/gateway.mjs";
import { startOrigin } from "./support/origin.mjs";
import { Browser } from "./support/login.mjs";
import { TEST_LOGIN_SECRET, baseConfig } from "./support/config.mjs";
import { followAuthorize, forgedProviderEntry, startForgingProvider } from "./support/forging-provider.mjs";

const SUBJECT = "user-1"; // the forging provider's one user
const TICKET_PREFIX = "__Host-portcullis-login-";
const now = () => Math.floor(Date.now() / 1000);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const b64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
const decodePart = (part) => JSON.parse(Buffer.from(part, "base64url").toString("utf8"));

let origin;
let forging;
let gateway;

/** A gateway whose only login provider is the forging one; `session` overrides the session policy. */
async function startForgedGateway({ session = {} } = {}) {
  const port = await freePort();
  const gatewayUrl = `http://127.0.0.1:${port}`;
  const config = baseConfig(origin, [{ id: "app", path: "/*", policy: "authenticated" }], {
    login: {
      redirect_uri: `${gatewayUrl}/auth/callback`,
      providers: [
        forgedProviderEntry(forging),
      ],
      session,
      rate_limits: [{ id: "login", key: "ip", limit: 100000, period_s: 60 }],
    },
  });
  const started = await startGateway({
    config,
    port,
    secrets: { FORGED_CLIENT_SECRET: "forged-client-secret", PORTCULLIS_LOGIN_SECRET: TEST_LOGIN_SECRET },
  });
  assert.equal(started.url, gatewayUrl);
  return started;
}

/** `GET /auth/login`: the provider's authorize URL, and the flow's ticket cookie now in the jar. */
async function beginLogin(gw, browser, returnTo = "/app") {
  const response = await browser.request(`${gw.url}/auth/login?provider=forged&return_to=${encodeURIComponent(returnTo)}`);
  assert.equal(response.status, 302, await response.text());
  const ticket = response.headers.getSetCookie().find((line) => line.startsWith(TICKET_PREFIX));
  assert.ok(ticket, "the login start sets a ticket cookie");
  return response.headers.get("location");
}

/**
 * One login through the forging provider (forge it first). `editCallback(url)` changes the
 * callback URL in place before the browser follows it. Returns the callback's response, its URL
 * and the Cookie header the browser sent with it.
 */
async function login(gw, { browser = new Browser(), returnTo = "/app", api = false, editCallback } = {}) {
  const authorizeUrl = await beginLogin(gw, browser, returnTo);
  let callbackUrl = await followAuthorize(authorizeUrl);
  assert.ok(callbackUrl.startsWith(`${gw.url}/auth/callback?`), callbackUrl);
  if (editCallback) {
    const url = new URL(callbackUrl);
    editCallback(url);
    callbackUrl = url.href;
  }
  const cookieHeader = browser.jar.header(callbackUrl);
  const response = await browser.request(callbackUrl, { api });
  return { browser, response, callbackUrl, cookieHeader };
}

/** Set-Cookie lines that would give the browser a session (the clearing line has no value). */
function sessionCookiesSet(response) {
  return response.headers.getSetCookie().filter((line) => /^__Host-portcullis=[^;]/.test(line));
}

/** The structured event of this kind for this request (the log can trail the response a little). */
const eventFor = (gw, kind, requestId) => gw.eventFor(kind, requestId);

/** The error code of an error response, JSON or the HTML error page, checked to be of the kind expected. */
function errorCode(response, body, kind) {
  const type = response.headers.get("content-type") ?? "";
  if (kind === "json") {
    assert.match(type, /^application\/json/, body);
    const json = JSON.parse(body);
    assert.equal(json.request_id, response.headers.get("x-request-id"));
    assert.equal(typeof json.error_description, "string");
    return json.error;
  }
  assert.match(type, /^text\/html/, body);
  assert.match(body, /<a class="button" id="action" href="\/auth\/login">Sign in again<\/a>/, "a failed sign-in offers to start again");
  return /<code id="error">([^<]*)<\/code>/.exec(body)?.[1];
}

/**
 * A refused callback: `status` and `code` (as JSON or on the HTML page), the login_failed event's
 * outcome matching `outcome`, no session cookie, the ticket cleared, nothing at the origin since
 * `originBefore`, and (given the browser) the browser still signed out.
 */
async function assertLoginRefused(gw, { response, browser }, { status, code, outcome, kind = "json", originBefore }) {
  const body = await response.text();
  assert.equal(response.status, status, body);
  assert.equal(errorCode(response, body, kind), code);
  assert.deepEqual(sessionCookiesSet(response), [], "no session cookie is set");
  assert.ok(
    response.headers.getSetCookie().some((line) => line.startsWith(TICKET_PREFIX) && /=;.*Max-Age=0/i.test(line)),
    "the flow's ticket cookie is cleared",
  );
  const event = await eventFor(gw, "login_failed", response.headers.get("x-request-id"));
  assert.equal(event.principal, null);
  if (outcome) assert.match(event.outcome, outcome);
  if (browser) {
    const check = await browser.request(`${gw.url}/app`, { api: true });
    assert.equal(check.status, 401, "the browser is still signed out");
    assert.equal((await check.json()).error, "unauthenticated");
  }
  assert.equal(origin.requests.length, originBefore, "the origin saw nothing");
}

/** A successful callback: a session cookie and a 302 to `location`. */
async function assertLoggedIn({ response }, location = "/app") {
  assert.equal(response.status, 302, await response.text());
  assert.equal(response.headers.get("location"), location);
  assert.equal(sessionCookiesSet(response).length, 1, "one session cookie");
}

/** The origin's view of `GET /app` with this browser's session. */
async function appAsSeenByOrigin(gw, browser) {
  const before = origin.requests.length;
  const response = await browser.request(`${gw.url}/app`, { api: true });
  assert.equal(response.status, 200, await response.text());
  const seen = origin.requests.slice(before);
  assert.equal(seen.length, 1);
  return seen[0];
}

/** Requests to the provider during `run()`, as `METHOD path` lines. */
async function providerCalls(run) {
  const before = forging.requests.length;
  const result = await run();
  return { result, calls: forging.requests.slice(before).map((r) => `${r.method} ${r.path}`) };
}

before(async () => {
  origin = await startOrigin();
  forging = await startForgingProvider();
  gateway = await startForgedGateway();
  // Warm up: one clean login, so discovery and the JWKS are cached as in a running gateway.
  await assertLoggedIn(await login(gateway));
});

after(async () => {
  await gateway?.close();
  await forging?.close();
  await origin?.close();
});

beforeEach(() => forging.reset());

describe("the unforged provider (control)", () => {
  test("a clean login signs the user in and the origin sees them", async () => {
    const result = await login(gateway);
    await assertLoggedIn(result);
    const seen = await appAsSeenByOrigin(gateway, result.browser);
    assert.equal(seen.headers["x-auth-subject"], SUBJECT);
    assert.equal(seen.headers["x-auth-method"], "session");
    assert.ok(!(seen.headers.cookie ?? "").includes("__Host-portcullis"), "the origin never sees Portcullis's cookies");
  });
});

describe("forged ID token signatures are refused", () => {
  test("a token signed with an unknown key under the published kid: 401 id_token_invalid (error page), logged as bad_signature", async () => {
    const originBefore = origin.requests.length;
    await forging.forge({ signWithUnknownKey: "same-kid" });
    const { result, calls } = await providerCalls(() => login(gateway));
    await assertLoginRefused(gateway, result, {
      status: 401, code: "id_token_invalid", kind: "html", outcome: /bad_signature/, originBefore,
    });
    assert.ok(!calls.includes("GET /jwks"), "a known kid causes no JWKS refresh");
  });

  test("a token under an unknown kid: the JWKS is refreshed once, then 401 id_token_invalid (unknown_kid)", async () => {
    const originBefore = origin.requests.length;
    await forging.forge({ signWithUnknownKey: "other-kid" });
    const { result, calls } = await providerCalls(() => login(gateway, { api: true }));
    await assertLoginRefused(gateway, result, { status: 401, code: "id_token_invalid", outcome: /unknown_kid/, originBefore });
    assert.equal(calls.filter((c) => c === "GET /jwks").length, 1, `one JWKS refresh: ${calls.join(", ")}`);
  });

  for (const variant of [true, "first"]) {
    test(`two keys without kid published (signed with the ${variant === true ? "second" : "first"}): 401 id_token_invalid, the gateway does not guess (ambiguous_key)`, async () => {
      // A gateway that sees the two-key JWKS on its first fetch: one with the old single key
      // cached would just check that key (and refuse the second-key signature as bad_signature).
      const fresh = await startForgedGateway();
      try {
        const originBefore = origin.requests.length;
        await forging.forge({ twoKeysNoKid: variant });
        const result = await login(fresh, { api: true });
        await assertLoginRefused(fresh, result, { status: 401, code: "id_token_invalid", outcome: /ambiguous_key/, originBefore });
      } finally {
        await fresh.close();
      }
    });
  }
});

describe("forged ID token claims are refused with 401 id_token_invalid", () => {
  const cases = [
    ["a wrong iss claim", (h, p) => { p.iss = "https://evil.test"; }, /unknown_issuer/],
    ["a wrong aud", (h, p) => { p.aud = "another-client"; }, /audience_mismatch/],
    ["an aud array without this client", (h, p) => { p.aud = ["another-client"]; }, /audience_mismatch/],
    ["an aud array naming another client too, without azp", (h, p) => { p.aud = ["portcullis", "another-client"]; }, /AuthorizedPartyMismatch/],
    ["an azp of another client", (h, p) => { p.azp = "another-client"; }, /AuthorizedPartyMismatch/],
    ["no nonce", (h, p) => { delete p.nonce; }, /NonceMismatch/],
    ["a wrong nonce", (h, p) => { p.nonce = "a-nonce-from-another-login"; }, /NonceMismatch/],
    ["exp in the past beyond the 30 s leeway", (h, p) => { p.exp = now() - 120; p.iat = now() - 600; }, /expired/],
    ["nbf in the future", (h, p) => { p.nbf = now() + 600; }, /not_yet_valid/],
    ["iat in the future", (h, p) => { p.iat = now() + 600; p.exp = now() + 900; }, /issued_in_future/],
    ["no sub", (h, p) => { delete p.sub; }, /missing_claim:sub/],
    ["alg none in the header (signature left on)", (h) => { h.alg = "none"; }, /algorithm_not_allowed/],
    ["alg HS256 in the header over an RS256 signature", (h) => { h.alg = "HS256"; }, /algorithm_not_allowed/],
  ];
  for (const [name, idToken, outcome] of cases) {
    test(name, async () => {
      const originBefore = origin.requests.length;
      await forging.forge({ idToken });
      const result = await login(gateway, { api: true });
      await assertLoginRefused(gateway, result, { status: 401, code: "id_token_invalid", outcome, originBefore });
    });
  }

  test("an unsigned alg none token", async () => {
    const originBefore = origin.requests.length;
    await forging.forge({
      tokenResponse(body) {
        const [, payload] = body.id_token.split(".");
        body.id_token = `${b64url({ alg: "none", typ: "JWT" })}.${payload}.`;
      },
    });
    const result = await login(gateway, { api: true });
    await assertLoginRefused(gateway, result, { status: 401, code: "id_token_invalid", outcome: /algorithm_not_allowed/, originBefore });
  });

  test("an HS256 token MACed with the provider's RSA public key (key confusion)", async () => {
    const jwks = await (await fetch(`${forging.url}/jwks`)).json();
    const jwk = jwks.keys[0];
    const pem = createPublicKey({ key: jwk, format: "jwk" }).export({ type: "spki", format: "pem" });
    const originBefore = origin.requests.length;
    await forging.forge({
      tokenResponse(body) {
        const [, payload] = body.id_token.split(".");
        const input = `${b64url({ alg: "HS256", typ: "JWT", kid: jwk.kid })}.${payload}`;
        body.id_token = `${input}.${createHmac("sha256", pem).update(input).digest("base64url")}`;
      },
    });
    const result = await login(gateway, { api: true });
    await assertLoginRefused(gateway, result, { status: 401, code: "id_token_invalid", outcome: /algorithm_not_allowed/, originBefore });
  });

  test("a token response without id_token", async () => {
    const originBefore = origin.requests.length;
    await forging.forge({ tokenResponse(body) { delete body.id_token; } });
    const result = await login(gateway, { api: true });
    await assertLoginRefused(gateway, result, { status: 401, code: "id_token_invalid", outcome: /no id_token/, originBefore });
  });
});

describe("a legitimate key rotation at the provider is followed", () => {
  for (const rotateKey of [true, "replace"]) {
    test(`rotateKey ${JSON.stringify(rotateKey)}: the next login succeeds and the origin sees the user`, async () => {
      const rotating = await startForgedGateway();
      try {
        await assertLoggedIn(await login(rotating)); // the old key is now cached
        await forging.forge({ rotateKey });
        const { result, calls } = await providerCalls(() => login(rotating));
        await assertLoggedIn(result);
        assert.equal(calls.filter((c) => c === "GET /jwks").length, 1, "the new kid caused one JWKS refresh");
        const seen = await appAsSeenByOrigin(rotating, result.browser);
        assert.equal(seen.headers["x-auth-subject"], SUBJECT);
      } finally {
        await rotating.close();
      }
    });
  }
});

describe("RFC 9207: the authorization response must name the issuer", () => {
  const cases = [
    ["without the iss parameter", (url) => url.searchParams.delete("iss")],
    ["with iss naming another issuer", (url) => url.searchParams.set("iss", "https://evil.test")],
    ["an error response with iss naming another issuer", (url) => {
      url.searchParams.delete("code");
      url.searchParams.set("error", "access_denied");
      url.searchParams.set("iss", "https://evil.test");
    }],
  ];
  for (const [name, authorizeRedirect] of cases) {
    test(`${name}: 400 issuer_mismatch, and the code never reaches the token endpoint`, async () => {
      const originBefore = origin.requests.length;
      await forging.forge({ authorizeRedirect });
      const { result, calls } = await providerCalls(() => login(gateway, { api: true }));
      await assertLoginRefused(gateway, result, { status: 400, code: "issuer_mismatch", outcome: /IssuerMismatch/, originBefore });
      assert.ok(!calls.includes("POST /token"), calls.join(", "));
    });
  }
});

describe("the callback must come back to the browser that started the login", () => {
  const flip = (text) => [...text].map((c) => (c === "A" ? "B" : "A")).join("");
  const stateCases = [
    ["a state replaced in the redirect", (url) => url.searchParams.set("state", randomBytes(32).toString("base64url"))],
    ["a state changed after its first 12 characters (the ticket is found, the state does not match)", (url) => {
      const state = url.searchParams.get("state");
      url.searchParams.set("state", state.slice(0, 12) + flip(state.slice(12)));
    }],
  ];
  for (const [name, editCallback] of stateCases) {
    test(`${name}: 400 login_state_invalid`, async () => {
      const originBefore = origin.requests.length;
      const { result, calls } = await providerCalls(() => login(gateway, { api: true, editCallback }));
      await assertLoginRefused(gateway, result, { status: 400, code: "login_state_invalid", outcome: /StateInvalid/, originBefore });
      assert.ok(!calls.includes("POST /token"), calls.join(", "));
    });
  }

  test("a callback in another browser (no ticket cookie): 400 login_state_invalid", async () => {
    const originBefore = origin.requests.length;
    const callbackUrl = await followAuthorize(await beginLogin(gateway, new Browser()));
    const other = new Browser();
    const response = await other.request(callbackUrl, { api: true });
    await assertLoginRefused(gateway, { response, browser: other }, { status: 400, code: "login_state_invalid", outcome: /StateInvalid/, originBefore });
  });

  // The ticket is `base64url(nonce).base64url(AES-256-GCM ciphertext)`.
  const flipOne = (text) => {
    const at = Math.floor(text.length / 2);
    return `${text.slice(0, at)}${text[at] === "A" ? "B" : "A"}${text.slice(at + 1)}`;
  };
  const ticketCases = [
    ["its ciphertext altered", (value) => {
      const [nonce, sealed] = value.split(".");
      return `${nonce}.${flipOne(sealed)}`;
    }],
    ["its nonce altered", (value) => {
      const [nonce, sealed] = value.split(".");
      return `${flipOne(nonce)}.${sealed}`;
    }],
    ["its ciphertext truncated", (value) => {
      const [nonce, sealed] = value.split(".");
      return `${nonce}.${sealed.slice(0, 20)}`;
    }],
    ["a ticket forged as plain JSON", () => `${b64url({ return_to: "https://evil.test/", nonce: "chosen-by-the-attacker" })}.AAAA`],
  ];
  test("the ticket cookie reveals neither the nonce nor the return_to", async () => {
    const browser = new Browser();
    const authorizeUrl = await beginLogin(gateway, browser, "/app/secret-place");
    const nonce = new URL(authorizeUrl).searchParams.get("nonce");
    const header = browser.jar.header(`${gateway.url}/auth/callback`);
    const value = /__Host-portcullis-login-[^=]+=([^;]+)/.exec(header)?.[1];
    assert.ok(value, header);
    const decoded = value.split(".").map((part) => Buffer.from(part, "base64url").toString("latin1")).join(" ");
    assert.ok(!value.includes(nonce) && !decoded.includes(nonce), "the nonce is encrypted");
    assert.ok(!decoded.includes("secret-place"), "return_to is encrypted");
  });
  for (const [name, tamper] of ticketCases) {
    test(`a ticket cookie with ${name}: 400 login_state_invalid`, async () => {
      const originBefore = origin.requests.length;
      const browser = new Browser();
      const callbackUrl = await followAuthorize(await beginLogin(gateway, browser));
      const header = browser.jar.header(callbackUrl);
      const match = /^(__Host-portcullis-login-[^=]+)=(.+)$/.exec(header);
      assert.ok(match, header);
      const cookie = `${match[1]}=${tamper(match[2])}`;
      assert.notEqual(cookie, header);
      const response = await browser.request(callbackUrl, { api: true, headers: { cookie } });
      await assertLoginRefused(gateway, { response, browser }, { status: 400, code: "login_state_invalid", outcome: /StateInvalid/, originBefore });
    });
  }
});

describe("a callback is used once", () => {
  test("the same callback replayed with its ticket cookie restored: 400 login_replayed, no second code redemption", async () => {
    const first = await login(gateway);
    await assertLoggedIn(first);
    const originBefore = origin.requests.length;
    const attacker = new Browser();
    const { result: response, calls } = await providerCalls(() =>
      attacker.request(first.callbackUrl, { api: true, headers: { cookie: first.cookieHeader } }));
    await assertLoginRefused(gateway, { response, browser: attacker }, { status: 400, code: "login_replayed", outcome: /Replayed/, originBefore });
    assert.ok(!calls.includes("POST /token"), calls.join(", "));
  });

  test("the same callback sent twice at once: exactly one session, the other 400 login_replayed", async () => {
    const browser = new Browser();
    const callbackUrl = await followAuthorize(await beginLogin(gateway, browser));
    const cookie = browser.jar.header(callbackUrl);
    const originBefore = origin.requests.length;
    const { result: responses, calls } = await providerCalls(() =>
      Promise.all([0, 1].map(() => new Browser().request(callbackUrl, { api: true, headers: { cookie } }))));
    const statuses = responses.map((r) => r.status).sort();
    assert.deepEqual(statuses, [302, 400]);
    const won = responses.find((r) => r.status === 302);
    const lost = responses.find((r) => r.status === 400);
    assert.equal(sessionCookiesSet(won).length, 1);
    await assertLoginRefused(gateway, { response: lost }, { status: 400, code: "login_replayed", outcome: /Replayed/, originBefore });
    assert.equal(calls.filter((c) => c === "POST /token").length, 1, "the code is redeemed once");
  });

  test("a used code under the fresh state of a second login: 400 login_replayed", async () => {
    const browser = new Browser();
    const first = await login(gateway, { browser });
    await assertLoggedIn(first);
    const usedCode = new URL(first.callbackUrl).searchParams.get("code");
    const originBefore = origin.requests.length;
    const { result: second, calls } = await providerCalls(() =>
      login(gateway, { browser: new Browser(), api: true, editCallback: (url) => url.searchParams.set("code", usedCode) }));
    await assertLoginRefused(gateway, second, { status: 400, code: "login_replayed", outcome: /Replayed/, originBefore });
    assert.ok(!calls.includes("POST /token"), calls.join(", "));
  });

  test("a used code under a second login of the same, signed-in browser: 400 login_replayed, the session is kept as is", async () => {
    const browser = new Browser();
    const first = await login(gateway, { browser });
    await assertLoggedIn(first);
    const usedCode = new URL(first.callbackUrl).searchParams.get("code");
    const originBefore = origin.requests.length;
    const second = await login(gateway, { browser, api: true, editCallback: (url) => url.searchParams.set("code", usedCode) });
    await assertLoginRefused(gateway, { response: second.response }, { status: 400, code: "login_replayed", outcome: /Replayed/, originBefore });
    assert.equal((await appAsSeenByOrigin(gateway, browser)).headers["x-auth-subject"], SUBJECT, "the first session still works");
  });
});

describe("return_to never leaves the site", () => {
  const offsite = ["https://evil.test/x", "//evil.test", "//evil.test/app", "/\\evil.test", "https:evil.test", "javascript:alert(1)"];
  for (const returnTo of offsite) {
    test(`return_to=${returnTo}: after login the redirect goes to /`, async () => {
      const result = await login(gateway, { returnTo });
      await assertLoggedIn(result, "/");
    });
  }

  test("an absolute URL on the gateway's own origin is kept (control)", async () => {
    const result = await login(gateway, { returnTo: `${gateway.url}/app/reports?page=2` });
    await assertLoggedIn(result, `${gateway.url}/app/reports?page=2`);
  });
});

describe("the provider's other answers", () => {
  test("userinfo about another subject: 401 profile_invalid", async () => {
    const originBefore = origin.requests.length;
    await forging.forge({ userinfo(body) { body.sub = "someone-else"; } });
    const result = await login(gateway, { api: true });
    await assertLoginRefused(gateway, result, { status: 401, code: "profile_invalid", outcome: /SubjectMismatch/, originBefore });
  });

  test("a token endpoint answering {error: invalid_grant} with 200: 502 token_exchange_failed", async () => {
    const originBefore = origin.requests.length;
    await forging.forge({
      tokenResponse(body) {
        for (const name of Object.keys(body)) delete body[name];
        body.error = "invalid_grant";
      },
    });
    const result = await login(gateway, { api: true });
    await assertLoginRefused(gateway, result, { status: 502, code: "token_exchange_failed", outcome: /invalid_grant/, originBefore });
  });

  test("a code the provider does not know (its 400 invalid_grant): 502 token_exchange_failed", async () => {
    const originBefore = origin.requests.length;
    await forging.forge({ authorizeRedirect: (url) => url.searchParams.set("code", "a-code-never-issued") });
    const result = await login(gateway, { api: true });
    await assertLoginRefused(gateway, result, { status: 502, code: "token_exchange_failed", outcome: /invalid_grant/, originBefore });
  });

  test("error=access_denied in the redirect: 403 login_refused (error page)", async () => {
    const originBefore = origin.requests.length;
    await forging.forge({
      authorizeRedirect(url) {
        url.searchParams.delete("code");
        url.searchParams.set("error", "access_denied");
      },
    });
    const { result, calls } = await providerCalls(() => login(gateway));
    await assertLoginRefused(gateway, result, { status: 403, code: "login_refused", kind: "html", outcome: /access_denied/, originBefore });
    assert.ok(!calls.includes("POST /token"), calls.join(", "));
  });
});

describe("a session cookie that names no live session", () => {
  /** Both ways of using a dead session cookie: an API call and a page load. */
  async function assertSessionEnded(gw, sessionCookie) {
    const originBefore = origin.requests.length;
    const browser = new Browser();
    const cookie = `__Host-portcullis=${sessionCookie}`;

    const api = await browser.request(`${gw.url}/app/data?x=1`, { api: true, headers: { cookie } });
    const body = await api.text();
    assert.equal(api.status, 401, body);
    assert.equal(errorCode(api, body, "json"), "invalid_session");
    assert.deepEqual(sessionCookiesSet(api), []);

    const page = await browser.request(`${gw.url}/app/page?x=1`, { headers: { cookie } });
    assert.equal(page.status, 302, await page.text());
    const location = new URL(page.headers.get("location"), gw.url);
    assert.equal(location.origin, gw.url);
    assert.equal(location.pathname, "/auth/login");
    assert.equal(location.searchParams.get("return_to"), "/app/page?x=1");
    assert.equal(location.searchParams.get("reason"), "session_ended");
    assert.deepEqual(sessionCookiesSet(page), []);
    const cleared = page.headers.getSetCookie().find((line) => line.startsWith("__Host-portcullis="));
    assert.match(cleared ?? "", /^__Host-portcullis=;.*Max-Age=0/i, "the dead cookie is cleared");

    assert.equal(origin.requests.length, originBefore, "the origin saw nothing");
    for (const response of [api, page]) {
      const audit = await eventFor(gw, "auth_decision", response.headers.get("x-request-id"));
      assert.equal(audit.decision, "deny");
    }
  }

  const cookieValueOf = (response) => /^__Host-portcullis=([^;]+)/.exec(sessionCookiesSet(response)[0])[1];

  test("a tampered session cookie (record key altered): an API call gets 401 invalid_session, a page load a 302 to login that clears it", async () => {
    const result = await login(gateway);
    await assertLoggedIn(result);
    const [id, key] = cookieValueOf(result.response).split(".");
    const at = Math.floor(key.length / 2);
    await assertSessionEnded(gateway, `${id}.${key.slice(0, at)}${key[at] === "A" ? "B" : "A"}${key.slice(at + 1)}`);
    // The real session is untouched by the attempt.
    assert.equal((await appAsSeenByOrigin(gateway, result.browser)).headers["x-auth-subject"], SUBJECT);
  });

  test("a made-up session cookie of the right format: an API call gets 401 invalid_session, a page load a 302 to login that clears it", async () => {
    await assertSessionEnded(gateway, `${randomBytes(16).toString("base64url")}.${randomBytes(32).toString("base64url")}`);
  });

  test("an expired session: an API call gets 401 invalid_session, a page load a 302 to login that clears it", async () => {
    const short = await startForgedGateway({ session: { absolute_lifetime_s: 3, idle_timeout_s: 2, touch_interval_s: 1 } });
    try {
      const started = Date.now();
      const result = await login(short);
      await assertLoggedIn(result);
      assert.match(sessionCookiesSet(result.response)[0], /Max-Age=3\b/);
      assert.equal((await appAsSeenByOrigin(short, result.browser)).headers["x-auth-subject"], SUBJECT);
      await sleep(Math.max(0, 3200 - (Date.now() - started)));
      await assertSessionEnded(short, cookieValueOf(result.response));
    } finally {
      await short.close();
    }
  });
});

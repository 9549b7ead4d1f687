// MFA for federated users, end to end against the real OpenID Provider (oidc-provider@8): how far
// a provider's `amr` and `acr` are believed (providers[].authentication), and step-up per route
// for a federated session, which goes back to its provider with `max_age` and the `acr_values`
// it is configured with. The provider steps a login up when `acr_values` ask for more than its
// session's `acr` (tests/support/oidc-provider.mjs); how each login authenticated is set here.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { startOrigin } from "./support/origin.mjs";
import { Browser, sessionSetCookie, startLoginStack } from "./support/login.mjs";
import { loginAtProvider } from "./support/oidc-provider.mjs";
import { assertionVerifier } from "./support/assertion-verifier.mjs";

const MFA = "urn:test:mfa";
const PWD = "urn:test:pwd";

let origin;
let stack;
let gw;
// How the provider says each login authenticated, read when the login form is submitted.
const authentications = {};

before(async () => {
  origin = await startOrigin();
  stack = await startLoginStack({
    origin,
    withGithub: false,
    idpOptions: { authentications, acrValues: [PWD, MFA] },
    routes: [
      { id: "home", path: "/", methods: ["GET"], policy: "public" },
      { id: "payouts", path: "/payouts/*", policy: "authenticated", mfa: { required: true } },
      { id: "recent", path: "/recent/*", policy: "authenticated", mfa: { required: true, max_age_s: 5 } },
      { id: "app", path: "/*", policy: "authenticated" },
    ],
    extraProviders: ({ idp }) => [
      {
        id: "corp-strict",
        type: "oidc",
        display_name: "Corp SSO (MFA required)",
        issuer: idp.issuer,
        client_id: "portcullis",
        client_secret: "CORP_CLIENT_SECRET",
        scopes: ["openid", "email", "profile"],
        authentication: { require_mfa: true, acr: { [MFA]: ["mfa"] }, step_up_acr_values: { any: MFA } },
      },
      {
        id: "corp-mfa",
        type: "oidc",
        display_name: "Corp SSO (MFA)",
        issuer: idp.issuer,
        client_id: "portcullis",
        client_secret: "CORP_CLIENT_SECRET",
        scopes: ["openid", "email", "profile"],
        authentication: { acr: { [MFA]: ["otp", "mfa"] }, step_up_acr_values: { any: MFA } },
      },
    ],
  });
  gw = stack.gateway.url;
  origin.verifyAssertionsWith(assertionVerifier({ jwksUrl: `${gw}/.well-known/jwks.json`, audience: origin.url }));
});

after(async () => {
  await stack?.close();
  await origin?.close();
});

/** Signs `login` in with `provider`, the provider saying it authenticated as `said`. */
async function signedIn(login, provider, said) {
  authentications[login] = said;
  const browser = new Browser();
  const { callback } = await browser.loginWithOidc(gw, { login, provider, returnTo: "/app/home" });
  assert.equal(callback.status, 302, await callback.clone().text());
  return browser;
}

/** Follows a step-up: the gateway's redirect to its login start, the provider, the callback. */
async function stepUp(browser, location, login) {
  const start = await browser.request(`${gw}${location}`);
  assert.equal(start.status, 302, await start.clone().text());
  const authorize = new URL(start.headers.get("location"));
  const callbackUrl = await loginAtProvider(authorize.href, { login, jar: browser.idpJar });
  return { authorize, callback: await browser.request(callbackUrl) };
}

test("a provider's amr and acr are not believed unless configured: its logins meet no route's mfa, and the browser is not sent round for nothing", async () => {
  const browser = await signedIn("alice", "corp", { amr: ["pwd", "otp", "mfa"], acr: MFA });
  assert.equal((await browser.request(`${gw}/app/x`)).status, 200);
  const seen = origin.requests.at(-1);
  assert.equal(seen.headers["x-auth-amr"], undefined, "no amr from an unbelieved provider");
  assert.equal(seen.assertion.claims.acr, undefined);
  const before = origin.requests.length;
  const page = await browser.request(`${gw}/payouts/run`);
  assert.equal(page.status, 401, "corp has no step_up_acr_values: asking it again could not help");
  const api = await browser.request(`${gw}/payouts/run`, { api: true });
  assert.equal(api.status, 401);
  assert.match(api.headers.get("www-authenticate"), /error="insufficient_user_authentication".*acr_values="mfa"/);
  assert.equal(origin.requests.length, before, "the origin saw neither");
});

test("step-up: a federated session is sent back to its provider with acr_values, the provider steps the user up, and the acr it answers vouches for mfa", async () => {
  const browser = await signedIn("alice", "corp-mfa", { amr: ["pwd"], acr: PWD });
  assert.equal((await browser.request(`${gw}/app/x`)).status, 200);
  assert.equal(origin.requests.at(-1).headers["x-auth-amr"], undefined, "urn:test:pwd vouches for nothing");
  const before = origin.requests.length;
  const page = await browser.request(`${gw}/payouts/run?id=7`);
  assert.equal(page.status, 302);
  const location = page.headers.get("location");
  assert.equal(location, `/auth/login?return_to=%2Fpayouts%2Frun%3Fid%3D7&provider=corp-mfa&acr_values=${encodeURIComponent(MFA)}`);
  // This time the user passes the provider's second factor.
  authentications.alice = { amr: ["pwd", "otp"], acr: MFA };
  const { authorize, callback } = await stepUp(browser, location, "alice");
  assert.equal(authorize.searchParams.get("acr_values"), MFA);
  assert.equal(authorize.searchParams.get("max_age"), null, "the route asks for no max_age");
  assert.equal(callback.status, 302, await callback.clone().text());
  assert.equal(callback.headers.get("location"), "/payouts/run?id=7");
  assert.ok(sessionSetCookie(callback), "a new session");
  const reached = await browser.request(`${gw}/payouts/run?id=7`);
  assert.equal(reached.status, 200);
  const seen = origin.requests.at(-1);
  assert.equal(seen.headers["x-auth-amr"], "otp,mfa", "what the acr vouches for, not the provider's amr (trust_amr is off)");
  assert.equal(seen.assertion.claims.acr, MFA);
  assert.equal(origin.requests.length, before + 1, "the origin saw only the stepped-up request");
});

test("a provider that does not step the user up starts no session (no redirect loop), and a link cannot ask the provider for acr values it is not configured with", async () => {
  const browser = await signedIn("alice", "corp-mfa", { amr: ["pwd"], acr: PWD });
  const page = await browser.request(`${gw}/payouts/run`);
  assert.equal(page.status, 302);
  // The user signs in again at the provider, but only with the password.
  const { callback } = await stepUp(browser, page.headers.get("location"), "alice");
  assert.equal(callback.status, 401);
  assert.match(await callback.text(), /step_up_not_met/);
  assert.equal(sessionSetCookie(callback), undefined);
  // The refusal came before anything was written: the session lives on, still short.
  const still = await browser.request(`${gw}/payouts/run`);
  assert.equal(still.status, 302);
  assert.match(still.headers.get("location"), /^\/auth\/login\?return_to=%2Fpayouts%2Frun&provider=corp-mfa&acr_values=/, "sent to step up, not to sign in again");
  assert.equal((await browser.request(`${gw}/app/x`)).status, 200);
  // acr_values the provider is not configured with are dropped from the login start.
  const forged = await browser.request(`${gw}/auth/login?provider=corp-mfa&return_to=%2F&acr_values=urn%3Aevil%20${encodeURIComponent(MFA)}&max_age=999999`);
  const sent = new URL(forged.headers.get("location"));
  assert.equal(sent.searchParams.get("acr_values"), MFA);
  assert.equal(sent.searchParams.get("max_age"), null, "a max_age over a day is dropped");
});

test("step-up for a stale sign-in: max_age makes the provider authenticate again, and the new auth_time passes the route", async () => {
  const browser = await signedIn("alice", "corp-mfa", { amr: ["pwd", "otp"], acr: MFA });
  // The login asked for no max_age, so the ID token carried no auth_time: no max_age route
  // accepts the session (and oidc-provider sends acr only when acr_values asked for one).
  const page = await browser.request(`${gw}/recent/report`);
  assert.equal(page.status, 302);
  const location = page.headers.get("location");
  assert.match(location, /provider=corp-mfa&max_age=5&acr_values=/);
  const { authorize, callback } = await stepUp(browser, location, "alice");
  assert.equal(authorize.searchParams.get("max_age"), "5");
  assert.equal(callback.status, 302, await callback.clone().text());
  assert.equal((await browser.request(`${gw}/recent/report`)).status, 200);
  assert.equal(origin.requests.at(-1).headers["x-auth-amr"], "otp,mfa");
  const authTime = Number(origin.requests.at(-1).headers["x-auth-time"]);
  assert.ok(Math.abs(authTime - Date.now() / 1000) < 5, "a fresh auth_time");
  // Later than max_age: sent again, and the provider, whose own session is older than 5 s too,
  // asks for the login again.
  await sleep(6000);
  const stale = await browser.request(`${gw}/recent/report`);
  assert.equal(stale.status, 302);
  const again = await stepUp(browser, stale.headers.get("location"), "alice");
  assert.equal(again.callback.status, 302, await again.callback.clone().text());
  assert.equal((await browser.request(`${gw}/recent/report`)).status, 200);
  assert.ok(Number(origin.requests.at(-1).headers["x-auth-time"]) > authTime);
});

test("a provider that must confirm a second factor is asked for it on every sign-in, and a sign-in without it starts no session", async () => {
  authentications.bob = { amr: ["pwd"], acr: PWD };
  const browser = new Browser();
  const start = await browser.request(`${gw}/auth/login?provider=corp-strict&return_to=%2Fapp%2Fx`);
  assert.equal(start.status, 302);
  assert.equal(new URL(start.headers.get("location")).searchParams.get("acr_values"), MFA, "asked on a plain sign-in");
  const refused = await browser.request(await loginAtProvider(start.headers.get("location"), { login: "bob", jar: browser.idpJar }));
  assert.equal(refused.status, 403);
  assert.match(await refused.text(), /mfa_required/);
  assert.equal(sessionSetCookie(refused), undefined);
  assert.equal((await browser.request(`${gw}/app/x`)).status, 302, "no session: sent to sign in");
  // With the provider's second factor (its session steps up: the acr asked for is not its own).
  authentications.bob = { amr: ["pwd", "otp"], acr: MFA };
  const again = await browser.request(`${gw}/auth/login?provider=corp-strict&return_to=%2Fpayouts%2Frun`);
  const done = await browser.request(await loginAtProvider(again.headers.get("location"), { login: "bob", jar: browser.idpJar }));
  assert.equal(done.status, 302, await done.clone().text());
  assert.ok(sessionSetCookie(done));
  assert.equal((await browser.request(`${gw}/payouts/run`)).status, 200, "the session meets a route's mfa");
  assert.equal(origin.requests.at(-1).headers["x-auth-amr"], "mfa");
});

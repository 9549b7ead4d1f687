// Local-account fixtures: a gateway with local accounts for two tenants (one limited to its own
// email domain), in front of the recording origin, with a real local mail API capture and a local
// Pwned Passwords range stub; and helpers that fill the account pages' forms as a browser would.
import { freePort, startGateway } from "./gateway.mjs";
import { TEST_ADMIN_KEY, TEST_DIRECTORY_KEY, TEST_LOGIN_SECRET, baseConfig } from "./config.mjs";
import { startOrigin } from "./origin.mjs";
import { startMailCapture, linkIn } from "./mail-capture.mjs";
import { startBreachStub } from "./breach-stub.mjs";
import { Browser } from "./login.mjs";

/** A password that passes every rule (long, uncommon, unbreached, no context words). */
export const GOOD_PASSWORD = "marble otter lantern quietly";
/** The password the breach stub says was breached. */
export const BREACHED_PASSWORD = "correct horse battery staple";
/** The pepper the tests give the gateway (PORTCULLIS_PASSWORD_PEPPER). */
export const TEST_PASSWORD_PEPPER = "password-pepper-for-tests-0123456789abcdef";

/** The `local_accounts` section for the started capture and stub. */
export function accountsSection({ mail, breach, overrides = {} }) {
  return {
    tenants: [{ id: "trial" }, { id: "acme", allowed_email_domains: ["acme.test"] }, { id: "strict", require_mfa: true }],
    pepper_secret: "PORTCULLIS_PASSWORD_PEPPER",
    breach_check: { range_url: breach.rangeUrl, when_unavailable: "open" },
    throttle: {
      account: { free_failures: 3, base_delay_ms: 0, lock_after: 5, lock_s: 120, window_s: 600 },
      ip: { free_failures: 40, base_delay_ms: 0, lock_after: 60, lock_s: 120, window_s: 600 },
    },
    mail: { from: "no-reply@portcullis.test", sender: { kind: "http", url: mail.url, token_secret: "MAIL_API_TOKEN" } },
    // The tests that measure answer times set the floor themselves.
    answer_floor_ms: 0,
    ...overrides,
  };
}

export const MAIL_API_TOKEN = "mail-api-token-for-tests-0123456789";

/** Starts the origin, the mail capture, the breach stub and the gateway. */
export async function startAccountsStack({ overrides = {}, faults, sendEmail = [], rateLimits = [{ id: "login", key: "ip", limit: 100000, period_s: 60 }], passkeys } = {}) {
  const origin = await startOrigin();
  const mail = await startMailCapture({ token: MAIL_API_TOKEN });
  const breach = await startBreachStub({ breached: { [BREACHED_PASSWORD]: 23174 } });
  const port = await freePort();
  const gatewayUrl = `http://127.0.0.1:${port}`;
  // Passkeys need a domain for their RP ID (an IP address is not one): the pages are then used on
  // http://localhost:<port>, which browsers treat as a secure context.
  const passkeyOrigin = `http://localhost:${port}`;
  if (passkeys) {
    overrides = { ...overrides, passkeys: { rp_id: "localhost", origins: [passkeyOrigin], ...(passkeys === true ? {} : passkeys) } };
  }
  const config = baseConfig(
    origin,
    [
      { id: "app", path: "/app/*", policy: "authenticated", authenticators: ["session"] },
      { id: "public", path: "/public/*", policy: "public" },
      // Step-up: a recent one-time code.
      { id: "payouts", path: "/payouts/*", policy: "authenticated", authenticators: ["session"], mfa: { required: true, methods: ["otp"], max_age_s: 300 } },
      // Step-up: a passkey used in the last five minutes.
      { id: "vault", path: "/vault/*", policy: "authenticated", authenticators: ["session"], mfa: { required: true, methods: ["webauthn"], max_age_s: 300 } },
    ],
    {
      login: { redirect_uri: `${gatewayUrl}/auth/callback`, providers: [], rate_limits: rateLimits, ...(passkeys ? { return_origins: [passkeyOrigin] } : {}) },
      local_accounts: accountsSection({ mail, breach, overrides }),
    },
  );
  const gateway = await startGateway({
    config,
    port,
    faults,
    sendEmail,
    secrets: {
      PORTCULLIS_LOGIN_SECRET: TEST_LOGIN_SECRET,
      PORTCULLIS_ADMIN_KEY: TEST_ADMIN_KEY,
      PORTCULLIS_PASSWORD_PEPPER: TEST_PASSWORD_PEPPER,
      PORTCULLIS_DIRECTORY_KEY: TEST_DIRECTORY_KEY,
      MAIL_API_TOKEN,
    },
  });
  return {
    origin,
    mail,
    breach,
    gateway,
    url: gateway.url,
    /** The origin passkey ceremonies run on (with `passkeys`). */
    passkeyOrigin,
    /** The directory's D1 database (the real one when faults wrap it). */
    async db() {
      return gateway.mf.getD1Database(faults ? "REAL_PORTCULLIS_DB" : "PORTCULLIS_DB");
    },
    async close() {
      await gateway.close();
      await origin.close();
      await mail.close();
      await breach.close();
    },
  };
}

/** Posts a form of an account page as the page itself would (same origin). */
export async function submit(browser, gatewayUrl, page, fields, { origin = gatewayUrl, body } = {}) {
  const encoded = body ?? new URLSearchParams(fields).toString();
  return browser.request(`${gatewayUrl}/auth/accounts/${page}`, {
    method: "POST",
    body: encoded,
    headers: { "content-type": "application/x-www-form-urlencoded", ...(origin ? { origin } : {}) },
  });
}

/** The stable error code of a refused form (the notice's `data-error`), if any. */
export async function errorCode(response) {
  const match = /data-error="([^"]+)"/.exec(await response.clone().text());
  return match?.[1];
}

/** Signs up, follows the verification link from the mail, and confirms; returns the browser. */
export async function createAccount(stack, email, password = GOOD_PASSWORD, { tenant = "trial" } = {}) {
  const browser = new Browser();
  const after = Date.now();
  const signUp = await submit(browser, stack.url, "sign-up", { email, password, tenant });
  if (signUp.status !== 200) throw new Error(`sign-up answered ${signUp.status}: ${await signUp.text()}`);
  const message = await stack.mail.next(email, { subject: /Confirm your email/, after });
  const link = linkIn(message, "/auth/accounts/verify");
  const token = new URL(link).searchParams.get("token");
  const verified = await submit(browser, stack.url, "verify", { token, tenant, password });
  if (verified.status !== 200) throw new Error(`verify answered ${verified.status}: ${await verified.text()}`);
  return browser;
}

/** Signs in with a fresh browser (or `browser`); returns the response and the browser. */
export async function signIn(stack, email, password, { tenant = "trial", browser = new Browser(), returnTo } = {}) {
  const fields = { email, password, tenant, ...(returnTo ? { return_to: returnTo } : {}) };
  const response = await submit(browser, stack.url, "sign-in", fields);
  return { response, browser };
}

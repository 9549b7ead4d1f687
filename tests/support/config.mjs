// The one base configuration the integration tests build on, and the test secrets.

/** The admin key the tests give the gateway as its PORTCULLIS_ADMIN_KEY secret. */
export const TEST_ADMIN_KEY = "admin-key-for-tests-0123456789abcdefghijkl";
/** The API key pepper (PORTCULLIS_API_KEY_PEPPER). */
export const TEST_PEPPER = "pepper-for-tests-0123456789abcdefghijklmnop";
/** The login secret (PORTCULLIS_LOGIN_SECRET) that seals tickets and derives CSRF tokens. */
export const TEST_LOGIN_SECRET = "login-secret-for-tests-0123456789abcdef";
/** The directory key (PORTCULLIS_DIRECTORY_KEY) that seals connections' client secrets. */
export const TEST_DIRECTORY_KEY = "directory-key-for-tests-0123456789abcdef";
/** The audience every test issuer's tokens are for. */
export const TEST_AUDIENCE = "api://portcullis";

/**
 * A development configuration in front of `origin` (a started origin or its URL) with `routes`;
 * `fields` adds or replaces top-level sections.
 */
export function baseConfig(origin, routes, fields = {}) {
  return { environment: "development", origin: typeof origin === "string" ? origin : origin.url, routes, ...fields };
}

/** A trusted JWT issuer entry for a started issuer (`startIssuer`). */
export function jwtIssuer(idp, { algorithms = ["ES256"], ...fields } = {}) {
  return { issuer: idp.issuer, audiences: [TEST_AUDIENCE], jwks_url: idp.jwksUrl, algorithms, ...fields };
}

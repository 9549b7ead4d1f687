// Browser login fixtures: a gateway configured for two providers at once (a real OpenID Provider
// and a GitHub-style OAuth 2.0 provider), and a scripted browser with a cookie jar that follows
// the gateway's redirects by hand, so tests can look at every hop.
import http from "node:http";
import { CookieJar, loginAtProvider, startOidcProvider } from "./oidc-provider.mjs";
import { startGithubProvider } from "./github-provider.mjs";
import { freePort, startGateway } from "./gateway.mjs";
import { TEST_ADMIN_KEY, TEST_DIRECTORY_KEY, TEST_LOGIN_SECRET, baseConfig } from "./config.mjs";

export const OIDC_SECRET = "corp-client-secret-0123456789";
export const GITHUB_SECRET = "github-client-secret-0123456789";

export const ACCOUNTS = {
  alice: { email: "alice@corp.test", email_verified: true, name: "Alice Liddell", groups: ["eng", "admins"], tenant: "acme" },
  bob: { email: "bob@partner.test", email_verified: true, name: "Bob", groups: [], tenant: "acme" },
  carol: { email: "carol@corp.test", email_verified: false, name: "Carol", groups: [], tenant: "acme" },
};

export const GITHUB_USERS = {
  octocat: {
    id: 583231,
    name: "The Octocat",
    email: "public@octocat.test",
    emails: [
      { email: "public@octocat.test", primary: false, verified: false, visibility: "public" },
      { email: "octocat@github.test", primary: true, verified: true, visibility: "private" },
    ],
  },
};

/** The `login` section for a gateway at `gatewayUrl`. */
export function loginSection({ gatewayUrl, idp, idps = [], github, session = {}, extraProviders = [], rateLimits }) {
  const providers = [
    {
      id: "corp",
      type: "oidc",
      display_name: "Corp SSO",
      issuer: idp.issuer,
      client_id: "portcullis",
      client_secret: "CORP_CLIENT_SECRET",
      scopes: ["openid", "email", "profile", "groups", "tenant", "offline_access"],
      email_domains: ["corp.test"],
      allowed_email_domains: ["corp.test"],
    },
  ];
  // The same IdP as a second provider with stricter rules: only tenant "globex" may sign in.
  providers.push({
    id: "corp-globex",
    type: "oidc",
    display_name: "Globex SSO",
    issuer: idp.issuer,
    client_id: "portcullis",
    client_secret: "CORP_CLIENT_SECRET",
    scopes: ["openid", "email", "profile", "tenant"],
    authorization_params: { ui_locales: "en" },
    required_claims: { tenant: "globex" },
  });
  if (github) {
    providers.push({
      id: "github",
      type: "oauth2",
      display_name: "GitHub",
      client_id: "gh-client",
      client_secret: "GITHUB_CLIENT_SECRET",
      authorization_endpoint: `${github.url}/login/oauth/authorize`,
      token_endpoint: `${github.url}/login/oauth/access_token`,
      userinfo_endpoint: `${github.url}/user`,
      emails_endpoint: `${github.url}/user/emails`,
      scopes: ["read:user", "user:email"],
    });
  }
  // Extra providers, or a function of the started IdP giving them.
  providers.push(...(typeof extraProviders === "function" ? extraProviders({ idp, idps }) : extraProviders));
  return {
    redirect_uri: `${gatewayUrl}/auth/callback`,
    providers,
    session,
    branding: { name: "Acme Portal" },
    // The suites log in far more often than a person would; `rateLimits: null` keeps the default.
    ...(rateLimits === null ? {} : { rate_limits: rateLimits ?? [{ id: "login", key: "ip", limit: 100000, period_s: 60 }] }),
  };
}

/**
 * Starts the providers and a gateway with login. `session` overrides the session policy;
 * `idpOptions` go to the OpenID Provider. `extraIdps` ([{ accounts }]) starts more real OpenID
 * Providers with the same client, which an `extraProviders` function gets as `idps`;
 * `configFields` adds top-level configuration sections (`roles` replaces the default catalogue);
 * `extraSecrets` adds the gateway's secrets; `loginFields` adds fields to the `login` section.
 */
export async function startLoginStack({
  origin,
  session = {},
  idpOptions = {},
  routes,
  withGithub = true,
  rateLimits,
  extraProviders = [],
  extraIdps = [],
  configFields = {},
  extraSecrets = {},
  loginFields = {},
  faults,
} = {}) {
  const port = await freePort();
  const gatewayUrl = `http://127.0.0.1:${port}`;
  const clients = [
    {
      client_id: "portcullis",
      client_secret: OIDC_SECRET,
      redirect_uris: [`${gatewayUrl}/auth/callback`],
      post_logout_redirect_uris: [`${gatewayUrl}/auth/logged-out`],
    },
  ];
  const idp = await startOidcProvider({ clients, accounts: ACCOUNTS, ...idpOptions });
  const idps = [];
  const redirectUriPrefix = `${gatewayUrl}/auth/callback/`;
  for (const options of extraIdps) idps.push(await startOidcProvider({ clients, redirectUriPrefix, ...options }));
  const github = withGithub
    ? await startGithubProvider({ client_id: "gh-client", client_secret: GITHUB_SECRET, users: GITHUB_USERS })
    : null;
  const defaultRoutes = [
    { id: "home", path: "/", methods: ["GET"], policy: "public" },
    { id: "api-only", path: "/api/*", policy: "authenticated", authenticators: ["jwt", "api_key"] },
    { id: "admin", path: "/admin/*", policy: "authenticated", roles: ["admin"] },
    { id: "app", path: "/*", policy: "authenticated" },
  ];
  const config = baseConfig(origin, routes ?? defaultRoutes, {
    roles: { admin: { groups: ["admins"] } },
    login: { ...loginSection({ gatewayUrl, idp, idps, github, session, rateLimits, extraProviders }), ...loginFields },
    ...configFields,
  });
  const gateway = await startGateway({
    config,
    port,
    faults,
    secrets: {
      CORP_CLIENT_SECRET: OIDC_SECRET,
      GITHUB_CLIENT_SECRET: GITHUB_SECRET,
      PORTCULLIS_LOGIN_SECRET: TEST_LOGIN_SECRET,
      PORTCULLIS_ADMIN_KEY: TEST_ADMIN_KEY,
      PORTCULLIS_DIRECTORY_KEY: TEST_DIRECTORY_KEY,
      ...extraSecrets,
    },
  });
  return {
    idp,
    idps,
    github,
    gateway,
    config,
    async close() {
      await gateway.close();
      await idp.close();
      for (const extra of idps) await extra.close();
      await github?.close();
    },
  };
}

/**
 * A configured `oidc` provider entry `id` for `idp` (an OpenID Provider started with the stack's
 * client), signing in with its client secret; `fields` are added or replace the defaults.
 */
export function oidcProviderEntry(idp, id, fields = {}) {
  return {
    id,
    type: "oidc",
    display_name: id,
    issuer: idp.issuer,
    client_id: "portcullis",
    client_secret: "CORP_CLIENT_SECRET",
    scopes: ["openid", "email", "profile"],
    ...fields,
  };
}

/** A scripted browser: a cookie jar, navigation headers, and no automatic redirects. */
export class Browser {
  constructor() {
    this.jar = new CookieJar();
    this.idpJar = new CookieJar();
  }

  /**
   * A request as a browser page load (or, with `api: true`, as a fetch from a page). It goes out
   * through node:http, because Node's fetch overwrites `Sec-Fetch-Mode` with `cors`.
   */
  async request(url, { method = "GET", headers = {}, body, api = false } = {}) {
    const base = api
      ? { accept: "application/json", "sec-fetch-mode": "cors", "sec-fetch-site": "same-origin" }
      : { accept: "text/html,application/xhtml+xml", "sec-fetch-mode": "navigate", "sec-fetch-site": "none" };
    const cookie = this.jar.header(url);
    const response = await rawRequest(url, { method, body, headers: { ...base, ...(cookie ? { cookie } : {}), ...headers } });
    this.jar.store(url, response);
    return response;
  }

  /** Logs in through the gateway and the OpenID Provider; returns the final redirect's response. */
  async loginWithOidc(gatewayUrl, { login = "alice", returnTo = "/app/dashboard", provider = "corp", email } = {}) {
    // With `email`, home-realm discovery picks the provider.
    const choice = email === undefined ? `provider=${provider}` : `email=${encodeURIComponent(email)}`;
    const start = await this.request(`${gatewayUrl}/auth/login?${choice}&return_to=${encodeURIComponent(returnTo)}`);
    // A redirect, or (to a tenant's stored connection) a page that continues with a link.
    const continued = start.status === 200 ? /id="continue" href="([^"]+)"/.exec(await start.clone().text()) : null;
    const authorizeUrl = continued ? continued[1].replaceAll("&amp;", "&") : start.headers.get("location");
    if (start.status !== 302 && !continued) throw new Error(`login start answered ${start.status}: ${await start.text()}`);
    const callbackUrl = await loginAtProvider(authorizeUrl, { login, jar: this.idpJar });
    const callback = await this.request(callbackUrl);
    return { start, authorizeUrl, callbackUrl, callback };
  }
}

/** An HTTP request exactly as given (no header rewriting, no redirects), as a fetch Response. */
export function rawRequest(url, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const item of Array.isArray(value) ? value : [value]) responseHeaders.append(name, item);
        }
        const payload = [204, 304].includes(res.statusCode) || method === "HEAD" ? null : Buffer.concat(chunks);
        resolve(new Response(payload, { status: res.statusCode, headers: responseHeaders }));
      });
      res.on("error", reject);
    });
    request.on("error", reject);
    if (body !== undefined) request.write(body);
    request.end();
  });
}

/** The session cookie's Set-Cookie line in a response, if any. */
export function sessionSetCookie(response) {
  return response.headers.getSetCookie().find((line) => line.startsWith("__Host-portcullis="));
}

// A real OpenID Provider for tests: oidc-provider@8 on 127.0.0.1, with static confidential clients,
// in-memory accounts, its built-in login page (devInteractions, usable by a headless browser too),
// and a scripted browser (`loginAtProvider`, `logoutAtProvider`) that drives that page with fetch.
//
// What it does, and how it differs from oidc-provider's out-of-the-box behaviour:
//   - Authorization code flow only; PKCE is required for every client, S256 only.
//   - The authorization response always carries `iss` (RFC 9207; always on in v8, and discovery
//     says authorization_response_iss_parameter_supported: true). RP-initiated logout is on.
//   - Consent is granted automatically (`loadExistingGrant` adds whatever was asked for to the
//     grant), so after the login form the browser goes straight back to the relying party.
//   - `offline_access` gives a refresh token without `prompt=consent`: oidc-provider drops
//     offline_access unless prompt includes consent, so a middleware adds `consent` to the prompt
//     of such requests, and the policy's "consent prompt was requested" check is removed (consent
//     is automatic anyway). Refresh tokens of confidential clients are not rotated unless
//     `rotateRefreshTokens` is true.
//   - `conformIdTokenClaims` keeps its default (true): with response_type=code, the ID token holds
//     only sub and the protocol claims (iss, aud, exp, iat, nonce, at_hash; auth_time only when
//     max_age is sent); email, name, groups and tenant come from the userinfo endpoint (at /me), as
//     with most real providers. (oidc-provider puts them in the ID token only when the access token
//     cannot be used at userinfo, e.g. when a `resource` parameter was sent.)
//   - `accounts` is read live: tests may change claims or delete an account between requests. An
//     unknown (or deleted) account gets the login page again rather than a server error.
//   - The Google Fonts @import of the built-in pages is stripped, so browsers need no network, and
//     /favicon.ico answers 204, so a browser's console shows no 404.
//   - Only warnings go to stderr (the devInteractions one is filtered out); nothing goes to stdout.
//   - How a login authenticated (`amr`, `acr`) comes from `authentications[accountId]`, read live
//     when the login form is submitted (devInteractions itself records neither); `amr` is a
//     claim of the openid scope, so ID tokens carry it. A request whose `acr_values` do not
//     include the session's `acr` gets the login page again, as a provider that steps its users
//     up would; `acrValues` is what discovery says it supports.
import http from "node:http";
import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import Provider, { interactionPolicy } from "oidc-provider";

const epoch = () => Math.floor(Date.now() / 1000);

/** A signing key for oidc-provider's `jwks` (private JWK with kid, alg and use). */
function makeSigningKey(alg) {
  const { privateKey } =
    alg === "ES256" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { ...privateKey.export({ format: "jwk" }), kid: `${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`, alg, use: "sig" };
}

/** oidc-provider's storage adapter over one Map, shared by the providers that rotateKeys() makes. */
function memoryAdapter(store) {
  const live = (key) => {
    const entry = store.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return entry.payload;
  };
  return class MemoryAdapter {
    constructor(model) {
      this.model = model;
    }
    key(id) {
      return `${this.model}:${id}`;
    }
    async upsert(id, payload, expiresIn) {
      const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
      store.set(this.key(id), { model: this.model, payload, expiresAt });
      if (this.model === "Session") store.set(`sessionUid:${payload.uid}`, { payload: id, expiresAt });
      if (payload.userCode) store.set(`userCode:${payload.userCode}`, { payload: id, expiresAt });
    }
    async find(id) {
      return live(this.key(id));
    }
    async findByUid(uid) {
      const id = live(`sessionUid:${uid}`);
      return id === undefined ? undefined : this.find(id);
    }
    async findByUserCode(userCode) {
      const id = live(`userCode:${userCode}`);
      return id === undefined ? undefined : this.find(id);
    }
    async consume(id) {
      const payload = live(this.key(id));
      if (payload) payload.consumed = epoch();
    }
    async destroy(id) {
      store.delete(this.key(id));
    }
    async revokeByGrantId(grantId) {
      for (const [key, entry] of store) if (entry.model && entry.payload?.grantId === grantId) store.delete(key);
    }
  };
}

/** Runs `construct` with oidc-provider's devInteractions warning filtered out of stderr. */
function quietly(construct) {
  const { warn } = console;
  console.warn = (...args) => {
    if (String(args[0]).includes("devInteractions")) return;
    warn(...args);
  };
  try {
    return construct();
  } finally {
    console.warn = warn;
  }
}

const escapeHtml = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

/**
 * Starts the provider. `clients`: [{ client_id, client_secret, redirect_uris, post_logout_redirect_uris, ...more
 * client metadata }]. `accounts`: { id: { email, email_verified, name, groups, tenant } }, where id is the login to
 * type on the login page and becomes `sub`. Unknown logins are refused: the login page comes back (and
 * loginAtProvider throws). `accounts` is read live, so tests may change claims or delete accounts.
 * `redirectUriPrefix`: every redirect URI under it is registered too.
 */
export async function startOidcProvider({
  clients,
  accounts,
  idTokenAlg = "RS256",
  accessTokenTtlS = 3600,
  idTokenTtlS = 3600,
  refreshTokenTtlS = 14 * 24 * 3600,
  rotateRefreshTokens = false,
  port = 0,
  redirectUriPrefix,
  authentications = {},
  acrValues = [],
}) {
  if (!["RS256", "ES256"].includes(idTokenAlg)) throw new Error(`idTokenAlg must be RS256 or ES256, not ${idTokenAlg}`);
  let current = null;
  const server = http.createServer((req, res) => current.handler(req, res));
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  const issuer = url;

  const store = new Map();
  const adapter = memoryAdapter(store);
  const cookieKeys = [randomBytes(32).toString("base64url")];
  let signingKeys = [makeSigningKey(idTokenAlg)];

  const policy = interactionPolicy.base();
  // Consent is automatic, so an explicit prompt=consent (which offline_access needs) shows no page.
  policy.get("consent").checks.remove("consent_prompt");
  // A login that is not in `accounts` (or an account deleted since) gets the login page again.
  policy.get("login").checks.add(
    new interactionPolicy.Check("unknown_account", "End-User account not found", "login_required", (ctx) =>
      Boolean(ctx.oidc.session.accountId && !ctx.oidc.account),
    ),
  );
  // Step-up: acr_values that the session's sign-in did not meet ask for a sign-in again (once:
  // a sign-in just made in this request answers with whatever acr it reached).
  policy.get("login").checks.add(
    new interactionPolicy.Check("acr_step_up", "a stronger sign-in is requested", "login_required", (ctx) => {
      const asked = String(ctx.oidc.params.acr_values ?? "").split(" ").filter(Boolean);
      const justSignedIn = Boolean(ctx.oidc.result?.login);
      return Boolean(ctx.oidc.session.accountId && asked.length > 0 && !justSignedIn && !asked.includes(ctx.oidc.session.acr));
    }),
  );

  function makeProvider() {
    const provider = quietly(
      () =>
        new Provider(issuer, {
          adapter,
          clients: clients.map(({ client_id, client_secret, redirect_uris, post_logout_redirect_uris = [], ...more }) => ({
            client_id,
            client_secret,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types: ["authorization_code", "refresh_token"],
            response_types: ["code"],
            token_endpoint_auth_method: "client_secret_basic",
            id_token_signed_response_alg: idTokenAlg,
            ...more,
          })),
          async findAccount(ctx, id) {
            const claims = accounts[id];
            if (!claims) return undefined;
            return { accountId: id, claims: async () => ({ ...accounts[id], sub: id }) };
          },
          claims: { openid: ["sub", "amr"], email: ["email", "email_verified"], profile: ["name"], groups: ["groups"], tenant: ["tenant"] },
          scopes: ["openid", "offline_access", "email", "profile", "groups", "tenant"],
          features: {
            devInteractions: { enabled: true },
            revocation: { enabled: true },
            rpInitiatedLogout: {
              enabled: true,
              async logoutSource(ctx, form) {
                ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign out</title></head><body>
<h1>Do you want to sign out from ${escapeHtml(ctx.host)}?</h1>${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button></body></html>`;
              },
              async postLogoutSuccessSource(ctx) {
                ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head><body>
<h1 id="signed-out">Sign-out successful</h1></body></html>`;
              },
            },
          },
          responseTypes: ["code"],
          acrValues,
          pkce: { methods: ["S256"], required: () => true },
          interactions: { policy },
          async loadExistingGrant(ctx) {
            const { oidc } = ctx;
            const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
            let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
            if (!grant || grant.accountId !== oidc.session.accountId) {
              grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
            }
            grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(" "));
            grant.addOIDCClaims([...oidc.requestParamClaims]);
            await grant.save();
            return grant;
          },
          async issueRefreshToken(ctx, client, code) {
            return client.grantTypeAllowed("refresh_token") && code.scopes.has("offline_access");
          },
          rotateRefreshToken: rotateRefreshTokens,
          clientBasedCORS: () => true,
          ttl: {
            AccessToken: accessTokenTtlS,
            AuthorizationCode: 60,
            IdToken: idTokenTtlS,
            RefreshToken: refreshTokenTtlS,
            Interaction: 3600,
            Session: 14 * 24 * 3600,
            Grant: 14 * 24 * 3600,
          },
          // SameSite=Lax rather than None: browsers drop SameSite=None cookies that are not Secure (http).
          cookies: { keys: cookieKeys, long: { httpOnly: true, sameSite: "lax" }, short: { httpOnly: true, sameSite: "lax" } },
          jwks: { keys: signingKeys },
          async renderError(ctx, out) {
            ctx.type = "html";
            ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error</title></head><body>
<h1>oops! something went wrong</h1>${Object.entries(out)
              .map(([key, value]) => `<pre class="error" data-key="${escapeHtml(key)}">${escapeHtml(key)}: ${escapeHtml(value)}</pre>`)
              .join("")}</body></html>`;
          },
        }),
    );
    provider.use(async (ctx, next) => {
      // No favicon: answer 204 so browsers log no 404 for the login page.
      if (ctx.path === "/favicon.ico") {
        ctx.status = 204;
        return;
      }
      // offline_access survives only with prompt=consent (see the header comment).
      if (ctx.method === "GET" && ctx.path === "/auth") {
        const query = { ...ctx.query };
        const scopes = String(query.scope ?? "").split(" ");
        const prompts = String(query.prompt ?? "").split(" ").filter(Boolean);
        if (scopes.includes("offline_access") && !prompts.includes("consent") && !prompts.includes("none")) {
          query.prompt = [...prompts, "consent"].join(" ");
          ctx.query = query;
        }
      }
      await next();
      if (typeof ctx.body === "string" && ctx.body.includes("fonts.googleapis.com")) {
        ctx.body = ctx.body.replace(/@import url\(https:\/\/fonts\.googleapis\.com[^)]*\);?/g, "");
      }
    });
    // How each login authenticated (see the header comment).
    const finished = provider.interactionFinished.bind(provider);
    provider.interactionFinished = (req, res, result, options) => {
      const said = result?.login && authentications[result.login.accountId];
      return finished(req, res, said ? { ...result, login: { ...result.login, ...said } } : result, options);
    };
    // As if the IdP's administrator had registered each new redirect URI under the prefix (a
    // connection made in the directory gets its own, `/auth/callback/<connection-id>`).
    if (redirectUriPrefix) {
      const allowed = provider.Client.prototype.redirectUriAllowed;
      provider.Client.prototype.redirectUriAllowed = function (value) {
        return value.startsWith(redirectUriPrefix) || allowed.call(this, value);
      };
    }
    return { provider, handler: provider.callback() };
  }

  current = makeProvider();

  return {
    issuer,
    url,
    /** The oidc-provider instance (a new one after rotateKeys()). */
    get provider() {
      return current.provider;
    },
    /** The public signing keys, as published at /jwks. */
    get signingKids() {
      return signingKeys.map((k) => k.kid);
    },
    /**
     * Makes a new signing key (new kid) and signs ID tokens with it from now on. With `keepOld` (the default) the
     * old keys stay in the JWKS, so tokens already issued still verify; with keepOld: false they are dropped.
     * Sessions, grants and tokens survive (the provider is rebuilt over the same storage and cookie keys; listeners
     * added to the old `provider` are not carried over). Returns the new kid.
     */
    rotateKeys({ keepOld = true } = {}) {
      const key = makeSigningKey(idTokenAlg);
      signingKeys = keepOld ? [key, ...signingKeys] : [key];
      current = makeProvider();
      return key.kid;
    },
    /** Deletes the account's grants, the tokens issued under them and its sessions: refresh fails afterwards. */
    revokeGrantsOf(accountId) {
      const grantIds = new Set();
      for (const [key, entry] of store) {
        if (entry.model === "Grant" && entry.payload.accountId === accountId) {
          grantIds.add(entry.payload.jti);
          store.delete(key);
        }
      }
      for (const [key, entry] of store) {
        if (entry.model && grantIds.has(entry.payload?.grantId)) store.delete(key);
        if (entry.model === "Session" && entry.payload.accountId === accountId) store.delete(key);
      }
      return grantIds.size;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A cookie jar for the scripted browser: honours Path, Max-Age and Expires; one jar per simulated browser. */
export class CookieJar {
  #cookies = new Map();

  /** Stores the Set-Cookie headers of a response to `url`. */
  store(url, response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(";").map((part) => part.trim());
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = "/";
      let expired = value === "";
      for (const attribute of attributes) {
        const [key, val = ""] = attribute.split("=");
        if (key.toLowerCase() === "path") path = val;
        if (key.toLowerCase() === "max-age" && Number(val) <= 0) expired = true;
        if (key.toLowerCase() === "expires" && Date.parse(val) <= Date.now()) expired = true;
      }
      const key = `${new URL(url).host} ${path} ${name}`;
      if (expired) this.#cookies.delete(key);
      else this.#cookies.set(key, { host: new URL(url).host, path, name, value });
    }
  }

  /** The Cookie header value for a request to `url`. */
  header(url) {
    const { host, pathname } = new URL(url);
    return [...this.#cookies.values()]
      .filter((c) => c.host === host && (pathname === c.path || pathname.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`)))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
  }

  /** Cookie names currently held (for assertions). */
  names() {
    return [...this.#cookies.values()].map((c) => c.name);
  }
}

async function browse(jar, url, { method = "GET", form } = {}) {
  const headers = { accept: "text/html" };
  const cookie = jar.header(url);
  if (cookie) headers.cookie = cookie;
  let body;
  if (form) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(form).toString();
  }
  const response = await fetch(url, { method, headers, body, redirect: "manual" });
  jar.store(url, response);
  const text = await response.text();
  const location = response.headers.get("location");
  return { status: response.status, text, location: location ? new URL(location, url).href : null };
}

function parseForms(html, baseUrl) {
  const forms = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attr = (source, name) => source.match(new RegExp(`\\b${name}="([^"]*)"`, "i"))?.[1];
    const fields = {};
    for (const input of match[2].matchAll(/<input\b([^>]*)>/gi)) {
      const name = attr(input[1], "name");
      if (name) fields[name] = (attr(input[1], "value") ?? "").replace(/&amp;/g, "&").replace(/&quot;/g, '"');
    }
    forms.push({ id: attr(match[1], "id"), action: new URL(attr(match[1], "action") ?? baseUrl, baseUrl).href, fields });
  }
  return forms;
}

function pageError(page) {
  const errors = [...page.text.matchAll(/<pre[^>]*>([\s\S]*?)<\/pre>/g)].map((m) => m[1].replace(/<[^>]+>/g, "").trim());
  return errors.length ? errors.join("; ") : `HTTP ${page.status}: ${page.text.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim().slice(0, 300)}`;
}

/**
 * Plays the browser from the relying party's authorization URL through the provider's login page, submitting
 * `login` (an account id) and `password` (anything), and returns the URL of the provider's redirect back to the
 * relying party (with code, state and iss, or with error=... if the provider refused the request), without
 * following it. An existing session in `jar` skips the login page (SSO). Throws when the provider shows an error
 * page, or shows the login page again (unknown login).
 */
export async function loginAtProvider(authorizeUrl, { login, password = "any", jar = new CookieJar() } = {}) {
  const providerOrigin = new URL(authorizeUrl).origin;
  let page = await browse(jar, authorizeUrl);
  let logins = 0;
  for (let step = 0; step < 20; step += 1) {
    if (page.location) {
      if (new URL(page.location).origin !== providerOrigin) return page.location;
      page = await browse(jar, page.location);
      continue;
    }
    if (page.status !== 200) throw new Error(`the provider answered ${pageError(page)}`);
    const forms = parseForms(page.text, providerOrigin);
    const form = forms.find((f) => f.fields.prompt === "login" || f.fields.prompt === "consent");
    if (!form) {
      if (forms.some((f) => new URL(f.action).origin !== providerOrigin)) {
        throw new Error("the provider answered with a form_post response; loginAtProvider supports query responses only");
      }
      throw new Error(`the provider showed an error: ${pageError(page)}`);
    }
    if (form.fields.prompt === "login") {
      if (login === undefined) throw new Error("the provider asks for a login but no `login` was given");
      if (logins++ > 0) throw new Error(`the provider did not accept the login ${JSON.stringify(login)} (unknown account?)`);
      page = await browse(jar, form.action, { method: "POST", form: { ...form.fields, login, password } });
    } else {
      page = await browse(jar, form.action, { method: "POST", form: form.fields });
    }
  }
  throw new Error("too many steps at the provider");
}

/**
 * Plays RP-initiated logout: opens `endSessionUrl` (the relying party's end_session URL, with id_token_hint and
 * post_logout_redirect_uri) with the jar used at login, confirms "Yes, sign me out", and returns the URL the
 * provider redirects to (post_logout_redirect_uri?state=..., or its own success page), without following it.
 */
export async function logoutAtProvider(endSessionUrl, jar = new CookieJar()) {
  const page = await browse(jar, endSessionUrl);
  if (page.location) return page.location;
  const form = parseForms(page.text, endSessionUrl).find((f) => "xsrf" in f.fields);
  if (!form) throw new Error(`the provider showed an error: ${pageError(page)}`);
  const done = await browse(jar, form.action, { method: "POST", form: { ...form.fields, logout: "yes" } });
  if (!done.location) throw new Error(`logout was not confirmed: ${pageError(done)}`);
  return done.location;
}

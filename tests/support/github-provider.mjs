// A small OAuth 2.0 provider in GitHub's style (not OpenID Connect) on 127.0.0.1: the authorize
// page logs the chosen user in at once, the token endpoint answers like GitHub's (errors with
// status 200, form-encoded unless JSON is asked for), and /user and /user/emails answer like
// api.github.com (here on the same origin). Every request is recorded.
//
// Endpoints:
//   GET  /login/oauth/authorize      302 to redirect_uri?code&state for `nextLogin`
//                                    (nextLogin = null: the user denies, error=access_denied)
//   POST /login/oauth/access_token   client auth by HTTP Basic or client_id/client_secret in the body;
//                                    codes are single use and live 10 minutes; redirect_uri must be
//                                    sent and match (GitHub lets it be omitted), and so must the PKCE
//                                    verifier if a code_challenge (S256 only) was sent
//   GET  /user, GET /user/emails     Authorization: Bearer <t> or token <t>; like GitHub, they need
//                                    a User-Agent header (403 without one), and /user/emails needs
//                                    the user:email or user scope (404 without it)
import http from "node:http";
import { createHash, randomBytes } from "node:crypto";

const DOCS = "https://docs.github.com/rest";

/**
 * `users`: { login: { id, name, email (public email or null), emails: [{ email, primary, verified, visibility }] } }.
 * `redirectUris`, when given, are the only redirect_uri values accepted (GitHub also accepts sub-paths; not here).
 */
/**
 * The client's id and secret from `Authorization: Basic` (RFC 6749 §2.3.1: both parts are
 * form-encoded before the Basic encoding), or null without one.
 */
export function basicClientCredentials(req) {
  const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? "");
  if (!basic) return null;
  const decoded = Buffer.from(basic[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  const formDecode = (text) => {
    try {
      return decodeURIComponent(text.replace(/\+/g, " "));
    } catch {
      return text;
    }
  };
  return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
}

export async function startGithubProvider({
  client_id,
  client_secret,
  users,
  redirectUris = null,
  requireUserAgent = true,
  requireEmailScope = true,
  port = 0,
}) {
  const requests = [];
  const codes = new Map();
  const tokens = new Map();
  let nextLogin = Object.keys(users)[0];

  const json = (res, status, body, headers = {}) => {
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
    res.end(JSON.stringify(body));
  };

  function clientCredentials(req, form) {
    return basicClientCredentials(req) ?? { id: form.get("client_id"), secret: form.get("client_secret") };
  }

  function authorize(req, res, query) {
    if (query.get("client_id") !== client_id) {
      res.writeHead(404, { "content-type": "text/html; charset=utf-8" }).end("<!doctype html><title>Not Found</title><h1>404</h1>");
      return;
    }
    const redirectUri = query.get("redirect_uri");
    if (!redirectUri || (redirectUris && !redirectUris.includes(redirectUri))) {
      res.writeHead(400, { "content-type": "text/html; charset=utf-8" });
      res.end("<!doctype html><h1>redirect_uri is not associated with this application</h1>");
      return;
    }
    const target = new URL(redirectUri);
    const state = query.get("state");
    const method = query.get("code_challenge_method") ?? "plain";
    const challenge = query.get("code_challenge");
    if (challenge && method !== "S256") {
      target.searchParams.set("error", "invalid_request");
      target.searchParams.set("error_description", "code_challenge_method must be S256");
    } else if (nextLogin === null || !users[nextLogin]) {
      target.searchParams.set("error", "access_denied");
      target.searchParams.set("error_description", "The user has denied your application access.");
      target.searchParams.set("error_uri", `${DOCS}/apps/troubleshooting-authorization-request-errors/#access-denied`);
    } else {
      const code = randomBytes(10).toString("hex");
      codes.set(code, { login: nextLogin, redirectUri, challenge, scope: query.get("scope") ?? "", expiresAt: Date.now() + 600_000 });
      target.searchParams.set("code", code);
    }
    if (state !== null) target.searchParams.set("state", state);
    res.writeHead(302, { location: target.href }).end();
  }

  function accessToken(req, res, form) {
    const reply = (body) => {
      if ((req.headers.accept ?? "").includes("application/json")) json(res, 200, body);
      else res.writeHead(200, { "content-type": "application/x-www-form-urlencoded; charset=utf-8" }).end(new URLSearchParams(body).toString());
    };
    const fail = (error, description) =>
      reply({ error, error_description: description, error_uri: `${DOCS}/apps/troubleshooting-oauth-app-access-token-request-errors` });
    const client = clientCredentials(req, form);
    if (client.id !== client_id || client.secret !== client_secret) {
      return fail("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.");
    }
    const code = codes.get(form.get("code"));
    codes.delete(form.get("code"));
    if (!code || code.expiresAt < Date.now()) return fail("bad_verification_code", "The code passed is incorrect or expired.");
    if (form.get("redirect_uri") !== code.redirectUri) {
      return fail("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application.");
    }
    if (code.challenge) {
      const verifier = form.get("code_verifier") ?? "";
      if (createHash("sha256").update(verifier).digest("base64url") !== code.challenge) {
        return fail("bad_verification_code", "The code_verifier does not match the code_challenge.");
      }
    }
    const token = `gho_${randomBytes(18).toString("base64url")}`;
    const scope = code.scope.split(/[ ,]+/).filter(Boolean).join(",");
    tokens.set(token, { login: code.login, scope });
    reply({ access_token: token, token_type: "bearer", scope });
  }

  function api(req, res, path) {
    if (requireUserAgent && !req.headers["user-agent"]) {
      res.writeHead(403, { "content-type": "text/plain" });
      res.end("Request forbidden by administrative rules. Please make sure your request has a User-Agent header.");
      return;
    }
    const match = /^(?:Bearer|token)\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    const grant = match && tokens.get(match[1]);
    const user = grant && users[grant.login];
    if (!user) return json(res, 401, { message: "Bad credentials", documentation_url: DOCS, status: "401" });
    const headers = { "x-oauth-scopes": grant.scope.split(",").join(", ") };
    if (path === "/user") return json(res, 200, { id: user.id, login: grant.login, name: user.name ?? null, email: user.email ?? null }, headers);
    const scopes = grant.scope.split(",");
    if (requireEmailScope && !scopes.includes("user:email") && !scopes.includes("user")) {
      return json(res, 404, { message: "Not Found", documentation_url: `${DOCS}/users/emails`, status: "404" }, headers);
    }
    return json(res, 200, user.emails ?? [], headers);
  }

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://github.invalid");
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString("utf8");
    requests.push({ method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body });
    try {
      if (req.method === "GET" && url.pathname === "/login/oauth/authorize") return authorize(req, res, url.searchParams);
      if (req.method === "POST" && url.pathname === "/login/oauth/access_token") return accessToken(req, res, new URLSearchParams(body));
      if (req.method === "GET" && (url.pathname === "/user" || url.pathname === "/user/emails")) return api(req, res, url.pathname);
      json(res, 404, { message: "Not Found", documentation_url: DOCS, status: "404" });
    } catch (error) {
      json(res, 500, { message: `GitHub stand-in failed: ${error.message}` });
    }
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;

  return {
    url,
    authorizeUrl: `${url}/login/oauth/authorize`,
    tokenUrl: `${url}/login/oauth/access_token`,
    userUrl: `${url}/user`,
    emailsUrl: `${url}/user/emails`,
    /** Every request received: { method, path, query, headers, body }. */
    requests,
    /** The login of the user who signs in on the following authorizations (null: the user denies access). */
    get nextLogin() {
      return nextLogin;
    },
    set nextLogin(login) {
      if (login !== null && !users[login]) throw new Error(`unknown GitHub user ${login}`);
      nextLogin = login;
    },
    /** Revokes every access token issued so far (as if the user revoked the app). */
    revokeTokens() {
      tokens.clear();
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

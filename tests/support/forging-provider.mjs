// An OpenID Provider that forges bad responses on demand, for the negative tests of the login flow.
// It is oauth2-mock-server@7 (authorize, token, userinfo, end-session endpoints and their hooks)
// behind a small node:http front that serves its own discovery document and JWKS, so that keys can
// be published without kid, rotated, or left out on purpose.
//
// By default it behaves: there is no login page (the authorize endpoint redirects at once, for the
// one `user`); the redirect carries code, state and iss (RFC 9207); PKCE S256 is required; codes
// are single use, live 60 s and are bound to client_id, redirect_uri and the PKCE challenge; the
// token endpoint takes any client (client_secret_basic or client_secret_post, any secret); the ID
// token is RS256 with kid, and holds iss, sub, aud = client_id, exp, iat, auth_time, nonce (when
// the request had one), email, email_verified and name; userinfo answers only to access tokens it
// issued, with sub, email, email_verified and name. Refresh tokens are rotated (the old one stops
// working). The mock itself copies the request's nonce into its ID token, but adds no iss to the
// redirect and does not enforce PKCE, single-use codes or client auth: that is done here.
//
// forge(options) sets what the next login does; see its comment for the options.
import http from "node:http";
import { createHash, createPublicKey, generateKeyPair, randomUUID, sign } from "node:crypto";
import { promisify } from "node:util";
import { OAuth2Server } from "oauth2-mock-server";
import { basicClientCredentials } from "./github-provider.mjs";

const generateRsa = promisify(generateKeyPair);
const FORGE_OPTIONS = ["idToken", "signWithUnknownKey", "authorizeRedirect", "tokenResponse", "userinfo"]
  .concat(["twoKeysNoKid", "addSecondKeyWithoutKid", "rotateKey", "discovery"]);
const b64url = (value) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
const epoch = () => Math.floor(Date.now() / 1000);

async function makeKey(kid = `rsa-${randomUUID().slice(0, 8)}`) {
  const { privateKey } = await generateRsa("rsa", { modulusLength: 2048 });
  return { kid, privateKey, publicJwk: { ...createPublicKey(privateKey).export({ format: "jwk" }), kid, alg: "RS256", use: "sig" } };
}

/** Signs a JWS synchronously (the mock server's hooks are synchronous event listeners). */
function signJws(header, payload, privateKey) {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${sign("sha256", Buffer.from(input), privateKey).toString("base64url")}`;
}

function clientOf(req) {
  const basic = basicClientCredentials(req);
  if (basic) return basic;
  if (req.body?.client_id && req.body?.client_secret) return { id: req.body.client_id, secret: req.body.client_secret };
  return null;
}

/** `user`: the one account that logs in; its claims go to the ID token and userinfo. */
export async function startForgingProvider({ user = { sub: "user-1", email: "ada@example.com", email_verified: true, name: "Ada Lovelace" } } = {}) {
  const server = new OAuth2Server();
  const service = server.service;
  const initialKey = await makeKey();
  // The mock signs its (JWT) access tokens with this same key.
  await server.issuer.keys.add({ ...initialKey.privateKey.export({ format: "jwk" }), kid: initialKey.kid, alg: "RS256", use: "sig" });

  const state = {
    published: [initialKey], // keys in the JWKS
    signing: initialKey, // key that signs ID tokens
    noKid: false, // publish and sign without kid
    discovery: null, // (doc) => void, until reset()
    once: {}, // one-shot forgeries: idToken, signWithUnknownKey/unknownKey, authorizeRedirect, tokenResponse, userinfo
  };
  const codes = new Map();
  const accessTokens = new Set();
  const refreshTokens = new Map();
  const requests = [];
  const grants = new WeakMap(); // token request -> the code or refresh token it redeems

  const front = http.createServer(async (req, res) => {
    const path = new URL(req.url, "http://forger.invalid").pathname;
    const record = { method: req.method, path, url: req.url, headers: req.headers, body: undefined };
    requests.push(record);
    if (req.method === "GET" && path === "/.well-known/openid-configuration") {
      const doc = discovery();
      state.discovery?.(doc);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(doc));
      return;
    }
    if (req.method === "GET" && path === "/jwks") {
      const keys = state.published.map(({ publicJwk }) => {
        if (!state.noKid) return publicJwk;
        const { kid, ...withoutKid } = publicJwk;
        return withoutKid;
      });
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
      return;
    }
    if (req.method === "POST" && path === "/token") {
      // Parsed and checked here (express skips parsing when req._body is set), so that every bad token request
      // gets a proper OAuth error before the mock server sees it; the beforeResponse hook then writes the tokens.
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      record.body = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString("utf8")));
      req.body = record.body;
      req._body = true;
      let checked;
      try {
        checked = checkTokenRequest(req);
      } catch (error) {
        checked = { error: { status: 400, error: "invalid_request", description: error.message } };
      }
      if (checked.error) {
        const { status, error, description } = checked.error;
        res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
        res.end(JSON.stringify({ error, error_description: description }));
        return;
      }
      grants.set(req, checked.grant);
    }
    service.requestHandler(req, res);
  });
  await new Promise((resolve) => front.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${front.address().port}`;
  const issuer = url;
  server.issuer.url = issuer;

  const discovery = () => ({
    issuer,
    authorization_endpoint: `${url}/authorize`,
    token_endpoint: `${url}/token`,
    userinfo_endpoint: `${url}/userinfo`,
    jwks_uri: `${url}/jwks`,
    end_session_endpoint: `${url}/endsession`,
    revocation_endpoint: `${url}/revoke`,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["RS256"],
    token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
    code_challenge_methods_supported: ["S256"],
    authorization_response_iss_parameter_supported: true,
    scopes_supported: ["openid", "email", "profile", "offline_access"],
    claims_supported: ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "email", "email_verified", "name"],
  });

  service.on("beforeAuthorizeRedirect", ({ url: target }, req) => {
    const query = req.query;
    const code = target.searchParams.get("code");
    const fail = (description) => {
      for (const name of [...target.searchParams.keys()]) target.searchParams.delete(name);
      target.searchParams.set("error", "invalid_request");
      target.searchParams.set("error_description", description);
      if (typeof query.state === "string") target.searchParams.set("state", query.state);
    };
    if (code) {
      if (typeof query.client_id !== "string") fail("client_id is required");
      else if (typeof query.code_challenge !== "string" || query.code_challenge_method !== "S256") {
        fail("PKCE with code_challenge_method=S256 is required");
      }
      else {
        codes.set(code, {
          clientId: query.client_id,
          redirectUri: query.redirect_uri,
          challenge: query.code_challenge,
          nonce: typeof query.nonce === "string" ? query.nonce : undefined,
          scope: typeof query.scope === "string" ? query.scope : "openid",
          authTime: epoch(),
          expiresAt: Date.now() + 60_000,
        });
      }
    }
    target.searchParams.set("iss", issuer);
    const forge = state.once.authorizeRedirect;
    delete state.once.authorizeRedirect;
    forge?.(target);
  });

  function idToken({ clientId, nonce, authTime }, forged) {
    const now = epoch();
    const payload = { iss: issuer, sub: user.sub, aud: clientId, exp: now + 3600, iat: now, auth_time: authTime };
    if (nonce !== undefined) payload.nonce = nonce;
    for (const claim of ["email", "email_verified", "name"]) if (user[claim] !== undefined) payload[claim] = user[claim];
    let key = state.signing;
    const header = { alg: "RS256", typ: "JWT", ...(state.noKid ? {} : { kid: key.kid }) };
    if (forged.unknownKey) {
      key = forged.unknownKey;
      if (!state.noKid) header.kid = forged.unknownKey.kid;
    }
    forged.idToken?.(header, payload);
    return signJws(header, payload, key.privateKey);
  }

  function checkTokenRequest(req) {
    const fail = (status, error, description) => ({ error: { status, error, description } });
    const client = clientOf(req);
    if (!client) return fail(401, "invalid_client", "client authentication (client_secret_basic or client_secret_post) is required");
    const { body } = req;
    if (body.grant_type === "authorization_code") {
      const code = codes.get(body.code);
      codes.delete(body.code);
      if (!code || code.expiresAt < Date.now()) return fail(400, "invalid_grant", "unknown, expired (60 s) or already used code");
      if (code.clientId !== client.id) return fail(400, "invalid_grant", "code was issued to another client");
      if (code.redirectUri !== body.redirect_uri) return fail(400, "invalid_grant", "redirect_uri does not match");
      const challenge = createHash("sha256").update(body.code_verifier ?? "").digest("base64url");
      if (challenge !== code.challenge) return fail(400, "invalid_grant", "PKCE verification failed");
      return { grant: { ...code, kind: "code" } };
    }
    if (body.grant_type === "refresh_token") {
      const grant = refreshTokens.get(body.refresh_token);
      refreshTokens.delete(body.refresh_token);
      if (!grant || grant.clientId !== client.id) return fail(400, "invalid_grant", "unknown or already used refresh token");
      return { grant: { ...grant, kind: "refresh", nonce: undefined } };
    }
    return fail(400, "unsupported_grant_type", `grant_type ${body.grant_type} is not supported`);
  }

  service.on("beforeResponse", (response, req) => {
    const grant = grants.get(req);
    const body = response.body;
    if (!grant || response.statusCode !== 200) return;
    const { kind, ...code } = grant;
    accessTokens.add(body.access_token);
    refreshTokens.set(body.refresh_token, code);
    body.scope = code.scope;
    if (kind === "refresh") {
      body.id_token = idToken(code, {});
      return;
    }
    const { idToken: mutate, unknownKey, tokenResponse } = state.once;
    const forged = { idToken: mutate, unknownKey, tokenResponse };
    for (const name of Object.keys(forged)) delete state.once[name];
    body.id_token = idToken(code, forged);
    forged.tokenResponse?.(body);
  });

  service.on("beforeUserinfo", (response, req) => {
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
    if (!token || !accessTokens.has(token)) {
      response.statusCode = 401;
      response.body = { error: "invalid_token", error_description: "unknown access token" };
      return;
    }
    response.body = { sub: user.sub };
    for (const claim of ["email", "email_verified", "name"]) if (user[claim] !== undefined) response.body[claim] = user[claim];
    const forge = state.once.userinfo;
    delete state.once.userinfo;
    forge?.(response.body);
  });

  return {
    issuer,
    url,
    /** The oauth2-mock-server instance (its `service` emits the hooks; its HTTP server is not used). */
    server,
    /** Every request received: { method, path, url, headers, body } (body is set for token requests). */
    requests,
    /** The kids published in the JWKS right now (undefined entries when published without kid). */
    get publishedKids() {
      return state.published.map((k) => (state.noKid ? undefined : k.kid));
    },
    /**
     * Sets what the next login does. One-shot options (used by the next authorize redirect or the next code
     * exchange, then forgotten):
     *   idToken(header, payload)   mutate the ID token's header and claims before signing (delete header.kid,
     *                              change payload.iss / aud / nonce / exp, delete payload.nonce...)
     *   signWithUnknownKey         true or "same-kid": sign with a key that is not in the JWKS, under the kid of the
     *                              published signing key; "other-kid": under a kid the JWKS does not have
     *   authorizeRedirect(url)     mutate the redirect back to the RP (a URL object; change it in place, e.g.
     *                              url.searchParams.delete("iss"), or set url.href)
     *   tokenResponse(body)        mutate the token response body (e.g. delete body.id_token)
     *   userinfo(body)             mutate the userinfo response that follows that login (e.g. change sub)
     * Lasting options (stay until reset()):
     *   twoKeysNoKid (or addSecondKeyWithoutKid): true   publish two RS256 keys, both without kid, and sign ID
     *                              tokens without kid, with the second one (so "take the first key" fails); "first":
     *                              sign with the first one
     *   rotateKey: true            a legitimate rotation: a new key with a new kid is published now and signs ID
     *                              tokens from now on; the old keys stay published. "replace": they are dropped.
     *   discovery(doc)             mutate the discovery document served from now on
     * Returns a promise (new keys are made here); await it.
     */
    async forge(options = {}) {
      const { idToken: idTokenForge, signWithUnknownKey, authorizeRedirect, tokenResponse, userinfo } = options;
      const { twoKeysNoKid, addSecondKeyWithoutKid, rotateKey, discovery: discoveryForge } = options;
      for (const name of Object.keys(options)) if (!FORGE_OPTIONS.includes(name)) throw new Error(`unknown forge option ${name}`);
      if (idTokenForge) state.once.idToken = idTokenForge;
      if (authorizeRedirect) state.once.authorizeRedirect = authorizeRedirect;
      if (tokenResponse) state.once.tokenResponse = tokenResponse;
      if (userinfo) state.once.userinfo = userinfo;
      if (signWithUnknownKey) {
        state.once.unknownKey = await makeKey(signWithUnknownKey === "other-kid" ? `rsa-${randomUUID().slice(0, 8)}` : state.signing.kid);
      }
      if (rotateKey) {
        const key = await makeKey();
        state.published = rotateKey === "replace" ? [key] : [key, ...state.published];
        state.signing = key;
      }
      const noKid = twoKeysNoKid ?? addSecondKeyWithoutKid;
      if (noKid) {
        const second = await makeKey();
        state.published = [state.signing, second];
        state.signing = noKid === "first" ? state.published[0] : second;
        state.noKid = true;
      }
      if (discoveryForge) state.discovery = discoveryForge;
    },
    /** Forgets every forgery and goes back to the initial key (with kid) as the only published and signing key. */
    reset() {
      state.published = [initialKey];
      state.signing = initialKey;
      state.noKid = false;
      state.discovery = null;
      state.once = {};
    },
    async close() {
      front.closeAllConnections();
      await new Promise((resolve) => front.close(resolve));
    },
  };
}

/** The gateway's provider entry for a started forging provider (its secret in FORGED_CLIENT_SECRET). */
export function forgedProviderEntry(forging, fields = {}) {
  return {
    id: "forged",
    type: "oidc",
    issuer: forging.issuer,
    client_id: "portcullis",
    client_secret: "FORGED_CLIENT_SECRET",
    scopes: ["openid", "email", "profile"],
    ...fields,
  };
}

/** GETs the authorization URL without following the redirect, and returns the (forged) callback URL it points to. */
export async function followAuthorize(authorizeUrl) {
  const response = await fetch(authorizeUrl, { redirect: "manual" });
  const location = response.headers.get("location");
  if (response.status < 300 || response.status >= 400 || !location) {
    throw new Error(`the authorize endpoint answered ${response.status} without a redirect: ${(await response.text()).slice(0, 300)}`);
  }
  return new URL(location, authorizeUrl).href;
}

// Fault injection: each network dependency of the built worker, made to fail in each way a peer
// can, by a real misbehaving server on 127.0.0.1. Every cell of the table is asserted: the status
// and stable code the client gets, the audit line's reason, and what the origin saw. The default
// everywhere is to fail closed.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { randomUUID } from "node:crypto";
import { freePort, startGateway } from "./support/gateway.mjs";
import { startOrigin } from "./support/origin.mjs";
import { startIssuer } from "./support/idp-keys.mjs";
import { TEST_LOGIN_SECRET, baseConfig, jwtIssuer } from "./support/config.mjs";
import { Browser, sessionSetCookie } from "./support/login.mjs";
import { followAuthorize } from "./support/forging-provider.mjs";

/**
 * A peer that misbehaves by path: /status-500, /slow-headers, /slow-body, /truncated, /huge,
 * /redirect-loop, /reset. It counts the requests it got. Under /idp-MODE it is an OpenID Provider
 * that behaves (discovery, and an authorize endpoint that redirects back at once) but whose token
 * endpoint is /MODE/token.
 */
async function startFaultyPeer() {
  const open = new Set();
  const state = { requests: 0 };
  const server = http.createServer((req, res) => {
    state.requests++;
    const url = new URL(req.url, "http://peer.invalid");
    const mode = url.pathname.split("/")[1];
    if (mode.startsWith("idp-")) return behavingProvider(req, res, url, mode);
    switch (mode) {
      case "status-500":
        res.writeHead(500, { "content-type": "text/plain" });
        return res.end("the peer broke");
      case "slow-headers":
        return; // never answers
      case "slow-body": {
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"keys":[');
        const trickle = setInterval(() => res.write(" "), 200);
        res.on("close", () => clearInterval(trickle));
        return;
      }
      case "truncated":
        res.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
        res.write('{"keys":[');
        return setTimeout(() => req.socket.destroy(), 50);
      case "huge": {
        res.writeHead(200, { "content-type": "application/json" }); // chunked: no length to refuse early
        res.write('{"keys":[');
        const chunk = " ".repeat(64 * 1024);
        let sent = 0;
        const pump = () => {
          while (sent < 4 * 1024 * 1024) {
            sent += chunk.length;
            if (!res.write(chunk)) return res.once("drain", pump);
          }
          res.end("]}");
        };
        return pump();
      }
      case "redirect-loop":
        res.writeHead(302, { location: req.url });
        return res.end();
      case "reset":
        return req.socket.destroy();
      default:
        res.writeHead(404);
        return res.end();
    }
  });
  server.on("connection", (socket) => {
    open.add(socket);
    socket.on("close", () => open.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    state,
    close: () => new Promise((resolve) => { for (const socket of open) socket.destroy(); server.close(resolve); }),
  };
}

/** The behaving parts of /idp-MODE: discovery, and an authorize endpoint that approves at once. */
function behavingProvider(req, res, url, mode) {
  const base = `http://${req.headers.host}`;
  const issuer = `${base}/${mode}`;
  const faultyMode = mode.slice("idp-".length);
  if (url.pathname === `/${mode}/.well-known/openid-configuration`) {
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(
      JSON.stringify({
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${base}/${faultyMode}/token`,
        jwks_uri: `${base}/${faultyMode}/jwks`,
        response_types_supported: ["code"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"],
        code_challenge_methods_supported: ["S256"],
        authorization_response_iss_parameter_supported: true,
      }),
    );
  }
  if (url.pathname === `/${mode}/authorize`) {
    const back = new URL(url.searchParams.get("redirect_uri"));
    // A fresh code each time: the gateway refuses a code it has seen (login_replayed).
    back.searchParams.set("code", `never-redeemed-${randomUUID()}`);
    back.searchParams.set("state", url.searchParams.get("state"));
    back.searchParams.set("iss", issuer);
    res.writeHead(302, { location: back.href });
    return res.end();
  }
  res.writeHead(404);
  return res.end();
}

const MODES = ["status-500", "slow-headers", "slow-body", "truncated", "huge", "redirect-loop", "reset"];

let origin;
let peer;
let idp;

before(async () => {
  origin = await startOrigin();
  peer = await startFaultyPeer();
  idp = await startIssuer();
});

after(async () => {
  await origin?.close();
  await peer?.close();
  await idp?.close();
});

describe("the JWKS endpoint fails: 503 temporarily_unavailable, and the origin sees nothing", () => {
  let gateway;
  before(async () => {
    // One issuer per fault, each with its keys at the faulty peer, and a 1 s fetch timeout.
    const issuers = MODES.map((mode) => ({
      ...jwtIssuer(idp),
      issuer: `${idp.issuer}${mode}`,
      jwks_url: `${peer.url}/${mode}/jwks.json`,
    }));
    const jwt = { issuers, jwks_cache: { fetch_timeout_ms: 1000 } };
    gateway = await startGateway({ config: baseConfig(origin, [{ id: "api", path: "/api/*", policy: "authenticated" }], { jwt }) });
  });
  after(async () => gateway?.close());

  for (const mode of MODES) {
    test(`${mode}`, async () => {
      const token = await idp.sign("ES256", { claims: { iss: `${idp.issuer}${mode}` } });
      const before = origin.requests.length;
      const started = Date.now();
      const response = await fetch(`${gateway.url}/api/x`, { headers: { authorization: `Bearer ${token}` } });
      const elapsedMs = Date.now() - started;
      assert.equal(response.status, 503);
      assert.equal((await response.json()).error, "temporarily_unavailable");
      assert.equal(origin.requests.length, before);
      const event = await gateway.eventFor("auth_decision", response.headers.get("x-request-id"));
      assert.equal(event.decision, "deny");
      assert.equal(event.reason, "keys_unavailable");
      // A peer that stalls is cut off by the fetch timeout (headers, then body), not waited on.
      assert.ok(elapsedMs < 4_000, `answered in ${elapsedMs} ms`);
    });
  }
});

describe("the origin fails: the client gets a stable answer", () => {
  let gateway;
  before(async () => {
    const routes = [{ id: "faulty", path: "/*", policy: "public", origin: peer.url, timeout_ms: 1000 }];
    gateway = await startGateway({ config: baseConfig(origin, routes) });
  });
  after(async () => gateway?.close());

  // (mode, status, code or null for the origin's own answer, audit reason)
  const cells = [
    ["status-500", 500, null, "public"],
    ["slow-headers", 504, "origin_timeout", "origin_timeout"],
    ["reset", 502, "origin_unreachable", "origin_unreachable"],
    ["redirect-loop", 302, null, "public"],
  ];
  for (const [mode, status, code, reason] of cells) {
    test(`${mode}: ${status}${code ? ` ${code}` : ", the origin's own answer"}`, async () => {
      const response = await fetch(`${gateway.url}/${mode}/x`, { redirect: "manual" });
      assert.equal(response.status, status);
      if (code) assert.equal((await response.json()).error, code);
      else await response.arrayBuffer();
      const event = await gateway.eventFor("auth_decision", response.headers.get("x-request-id"));
      assert.equal(event.reason, reason);
    });
  }
  // A slow or cut-off body is the origin's to send: the gateway streams it as it comes (no
  // buffering, so no deadline past the headers), and the client sees the cut where it happened.
  // These two ask for `identity`: when the client accepts gzip, the local runtime (workerd under
  // Miniflare) compresses a text response on the way out, holds a trickled body in its
  // compressor, and ends a truncated one as a clean, empty gzip stream. That is the runtime's
  // encoding, not the worker's; see the README's table.
  const identity = { "accept-encoding": "identity" };
  test("slow-body: the status and first bytes arrive at once, and the body streams as the origin trickles it", async () => {
    const controller = new AbortController();
    const started = Date.now();
    const response = await fetch(`${gateway.url}/slow-body/x`, { signal: controller.signal, headers: identity });
    assert.equal(response.status, 200);
    const reader = response.body.getReader();
    const first = await reader.read();
    assert.ok(new TextDecoder().decode(first.value).startsWith('{"keys":['), "the first bytes came through");
    assert.ok(Date.now() - started < 1_000, "not held back until the body ended");
    const second = await reader.read();
    assert.equal(second.done, false, "more of the trickle arrives");
    controller.abort();
  });

  test("truncated: the client's body ends short, as the origin's did, never padded or retried", async () => {
    const before = peer.state.requests;
    const response = await fetch(`${gateway.url}/truncated/x`, { headers: identity });
    assert.equal(response.status, 200);
    await assert.rejects(response.arrayBuffer(), "reading a body cut short fails");
    assert.equal(peer.state.requests, before + 1, "the origin was asked once");
  });
});

describe("the identity provider fails: sign-in stops with a 502, and nothing is half-done", () => {
  let gateway;
  const TICKET_PREFIX = "__Host-portcullis-login-";
  before(async () => {
    const port = await freePort();
    const provider = (id, issuer) => ({ id, type: "oidc", issuer, client_id: "portcullis", client_secret: "IDP_SECRET", scopes: ["openid"] });
    const providers = MODES.flatMap((mode) => [
      provider(`discovery-${mode}`, `${peer.url}/${mode}`), // discovery at the faulty mode
      provider(`token-${mode}`, `${peer.url}/idp-${mode}`), // behaving discovery, faulty token endpoint
    ]);
    const login = {
      redirect_uri: `http://127.0.0.1:${port}/auth/callback`,
      providers,
      rate_limits: [{ id: "login", key: "ip", limit: 100000, period_s: 60 }],
    };
    gateway = await startGateway({
      config: baseConfig(origin, [{ id: "app", path: "/*", policy: "authenticated" }], { login }),
      port,
      secrets: { IDP_SECRET: "idp-secret", PORTCULLIS_LOGIN_SECRET: TEST_LOGIN_SECRET },
    });
  });
  after(async () => gateway?.close());

  /** `kind` is the event that records the refusal: login_failed at the callback, the audit line at the start. */
  async function assertProviderUnavailable(response, elapsedMs, kind = "login_failed", code = "provider_unavailable") {
    const body = await response.text();
    assert.equal(response.status, 502, body);
    assert.equal(JSON.parse(body).error, code);
    assert.equal(sessionSetCookie(response)?.match(/^__Host-portcullis=[^;]/), undefined, "no session cookie");
    const event = await gateway.eventFor(kind, response.headers.get("x-request-id"));
    assert.match(kind === "login_failed" ? event.outcome : event.reason, new RegExp(`^${code}`));
    // Calls to a provider have a 10 s deadline, headers and body each.
    assert.ok(elapsedMs < 21_000, `answered in ${elapsedMs} ms`);
  }

  for (const mode of MODES) {
    test(`discovery ${mode}: the login does not start`, async () => {
      const browser = new Browser();
      const before = origin.requests.length;
      const started = Date.now();
      const response = await browser.request(`${gateway.url}/auth/login?provider=discovery-${mode}`, { api: true });
      await assertProviderUnavailable(response, Date.now() - started, "auth_decision");
      assert.ok(!response.headers.getSetCookie().some((line) => line.startsWith(TICKET_PREFIX) && !/Max-Age=0/i.test(line)), "no flow ticket");
      assert.equal(origin.requests.length, before);
    });

    // A redirect is an answer (redirects are not followed): the provider refused the code.
    const tokenCode = mode === "redirect-loop" ? "token_exchange_failed" : "provider_unavailable";
    test(`token endpoint ${mode}: 502 ${tokenCode}; the callback clears the ticket and sets no session`, async () => {
      const browser = new Browser();
      const start = await browser.request(`${gateway.url}/auth/login?provider=token-${mode}`, { api: true });
      assert.equal(start.status, 302, await start.text());
      const callbackUrl = await followAuthorize(start.headers.get("location"));
      const before = origin.requests.length;
      const started = Date.now();
      const callback = await browser.request(callbackUrl, { api: true });
      await assertProviderUnavailable(callback, Date.now() - started, "login_failed", tokenCode);
      assert.ok(
        callback.headers.getSetCookie().some((line) => line.startsWith(TICKET_PREFIX) && /=;.*Max-Age=0/i.test(line)),
        "the flow's ticket is cleared",
      );
      assert.equal((await browser.request(`${gateway.url}/app`, { api: true })).status, 401, "still signed out");
      assert.equal(origin.requests.length, before);
    });
  }
});

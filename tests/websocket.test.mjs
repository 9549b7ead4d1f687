// WebSocket proxying end to end: the built worker in workerd, in front of a real WebSocket origin
// on 127.0.0.1 (npm `ws`). Upgrades are authenticated like any request, checked against the
// route's allowed origins, relayed both ways with their close codes, and closed when the
// credentials that opened them end.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import WebSocket, { WebSocketServer } from "ws";
import { startGateway } from "./support/gateway.mjs";
import { createApiKey } from "./support/api-keys.mjs";
import { TEST_ADMIN_KEY, baseConfig } from "./support/config.mjs";
import { Browser, rawRequest, startLoginStack } from "./support/login.mjs";

/** A WebSocket origin: it records each upgrade request's headers, greets with them, and echoes. */
async function startSocketOrigin() {
  const upgrades = [];
  const closes = [];
  const server = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("plain http");
  });
  const sockets = new WebSocketServer({ noServer: true, handleProtocols: (protocols) => (protocols.has("chat") ? "chat" : false) });
  server.on("upgrade", (req, socket, head) => {
    upgrades.push({ url: req.url, headers: req.headers });
    if (req.url.startsWith("/refuse")) {
      socket.end("HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 7\r\n\r\nno, ta.");
      return;
    }
    sockets.handleUpgrade(req, socket, head, (ws) => {
      ws.send(JSON.stringify({ hello: req.headers["x-auth-subject"] ?? null }));
      ws.on("message", (data, isBinary) => {
        const text = data.toString();
        if (text === "close-4001") ws.close(4001, "bye");
        else if (text === "close-empty") ws.close();
        else ws.send(data, { binary: isBinary });
      });
      ws.on("close", (code, reason) => closes.push({ code, reason: reason.toString() }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    upgrades,
    closes,
    close: () => new Promise((resolve) => { sockets.close(); server.closeAllConnections?.(); server.close(resolve); }),
  };
}

let origin;
let gateway;

before(async () => {
  origin = await startSocketOrigin();
  const routes = [
    { id: "live", path: "/live/*", policy: "authenticated", websocket: { allowed_origins: ["https://app.example.com"], recheck_s: 1 } },
    { id: "public-live", path: "/public-live/*", policy: "public", websocket: {} },
    { id: "plain", path: "/plain/*", policy: "public" },
    { id: "refuse", path: "/refuse/*", policy: "public", websocket: {} },
  ];
  gateway = await startGateway({
    config: baseConfig(origin, routes, { api_keys: { prefix: "pk_test" } }),
    secrets: { PORTCULLIS_ADMIN_KEY: TEST_ADMIN_KEY },
  });
});

after(async () => {
  await gateway?.close();
  await origin?.close();
});

/** Opens a socket: { socket, messages } once open, or { status, body } when the upgrade is refused. */
function connect(path, { headers = {}, protocols, base = gateway.url } = {}) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${base.replace(/^http/, "ws")}${path}`, protocols, { headers });
    const messages = [];
    const closed = new Promise((done) => socket.on("close", (code, reason) => done({ code, reason: reason.toString() })));
    socket.on("message", (data, isBinary) => messages.push(isBinary ? Buffer.from(data) : data.toString()));
    socket.on("open", () => resolve({ socket, messages, closed }));
    socket.on("unexpected-response", (req, res) => {
      let body = "";
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    socket.on("error", reject);
  });
}

/** The next message on an open socket. */
async function next(opened) {
  for (let i = 0; i < 200 && opened.messages.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(opened.messages.length > 0, "a message arrived");
  return opened.messages.shift();
}

describe("relaying", () => {
  test("a public route's socket is relayed both ways, text and binary, with the subprotocol the origin chose", async () => {
    const opened = await connect("/public-live/feed", { protocols: ["json", "chat"] });
    assert.equal(opened.socket.protocol, "chat");
    assert.deepEqual(JSON.parse(await next(opened)), { hello: null });
    opened.socket.send("ping");
    assert.equal(await next(opened), "ping");
    opened.socket.send(Buffer.from([0, 1, 2, 255]));
    const echoed = await next(opened);
    assert.ok(Buffer.isBuffer(echoed), "a binary message stays binary");
    assert.deepEqual([...echoed], [0, 1, 2, 255]);
    const seen = origin.upgrades.at(-1);
    assert.equal(seen.url, "/public-live/feed");
    assert.match(seen.headers["x-request-id"], /^[0-9a-f]{32}$/);
    opened.socket.close(4002, "done here");
    await opened.closed;
    for (let i = 0; i < 100 && origin.closes.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(origin.closes.at(-1), { code: 4002, reason: "done here" }, "the client's close code reaches the origin");
  });

  test("the origin's close code reaches the client; a close without a code arrives as 1000", async () => {
    const first = await connect("/public-live/a");
    await next(first);
    first.socket.send("close-4001");
    assert.deepEqual(await first.closed, { code: 4001, reason: "bye" });
    const second = await connect("/public-live/b");
    await next(second);
    second.socket.send("close-empty");
    assert.equal((await second.closed).code, 1000);
  });

  test("an origin that refuses the upgrade: its answer reaches the client", async () => {
    const refused = await connect("/refuse/x");
    assert.equal(refused.status, 403);
    assert.equal(refused.body, "no, ta.");
  });
});

describe("admission", () => {
  test("a route without a websocket section refuses upgrades: 400 websocket_not_allowed, and the origin hears nothing", async () => {
    const before = origin.upgrades.length;
    const refused = await connect("/plain/x");
    assert.equal(refused.status, 400);
    assert.equal(JSON.parse(refused.body).error, "websocket_not_allowed");
    assert.equal(origin.upgrades.length, before);
  });

  test("an upgrade needs the route's credentials like any request", async () => {
    const before = origin.upgrades.length;
    const refused = await connect("/live/x");
    assert.equal(refused.status, 401);
    assert.equal(JSON.parse(refused.body).error, "unauthenticated");
    assert.equal(origin.upgrades.length, before);
  });

  test("a browser page on another origin is refused (cross-site WebSocket hijacking): 403 websocket_origin_denied", async () => {
    const { key } = await createApiKey(gateway.url, { owner: "svc-origin" });
    const before = origin.upgrades.length;
    for (const page of ["https://evil.example", "null", "https://app.example.com.evil.example"]) {
      const refused = await connect("/live/x", { headers: { "x-api-key": key, origin: page } });
      assert.equal(refused.status, 403, page);
      assert.equal(JSON.parse(refused.body).error, "websocket_origin_denied");
    }
    assert.equal(origin.upgrades.length, before);
    const allowed = await connect("/live/x", { headers: { "x-api-key": key, origin: "https://app.example.com" } });
    assert.ok(allowed.socket, "an allowed origin connects");
    allowed.socket.close();
  });

  test("the origin gets the identity and the assertion, not the API key", async () => {
    const { key } = await createApiKey(gateway.url, { owner: "svc-live" });
    const opened = await connect("/live/feed", { headers: { "x-api-key": key, "x-auth-subject": "forged" } });
    assert.deepEqual(JSON.parse(await next(opened)), { hello: "svc-live" });
    const seen = origin.upgrades.at(-1).headers;
    assert.equal(seen["x-auth-subject"], "svc-live");
    assert.equal(seen["x-auth-method"], "api_key");
    assert.ok(seen["x-portcullis-assertion"]);
    assert.equal(seen["x-api-key"], undefined);
    opened.socket.close();
  });
});

describe("credentials that end", () => {
  test("revoking the API key closes its open socket with 1008 within the recheck interval", async () => {
    const created = await createApiKey(gateway.url, { owner: "svc-revoked" });
    const opened = await connect("/live/feed", { headers: { "x-api-key": created.key } });
    await next(opened);
    opened.socket.send("still here");
    assert.equal(await next(opened), "still here");
    const revokedAt = Date.now();
    const revoked = await fetch(`${gateway.url}/auth/api-keys/${created.id}/revoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` },
    });
    assert.equal(revoked.status, 200);
    const closed = await opened.closed;
    assert.deepEqual(closed, { code: 1008, reason: "credentials_ended" });
    assert.ok(Date.now() - revokedAt < 3_000, `closed ${Date.now() - revokedAt} ms after the revocation (recheck_s 1)`);
    const line = gateway.events("websocket_closed").find((e) => e.principal === "svc-revoked");
    assert.equal(line.reason, "credentials_ended");
    assert.equal(line.route, "live");
  });

  test("a socket whose key stays valid stays open across rechecks", async () => {
    const { key } = await createApiKey(gateway.url, { owner: "svc-steady" });
    const opened = await connect("/live/feed", { headers: { "x-api-key": key } });
    await next(opened);
    await new Promise((r) => setTimeout(r, 2_500));
    opened.socket.send("after two rechecks");
    assert.equal(await next(opened), "after two rechecks");
    opened.socket.close();
  });
});

describe("a session that ends", () => {
  let stack;
  before(async () => {
    const routes = [
      { id: "live", path: "/live/*", policy: "authenticated", websocket: { recheck_s: 1 } },
      { id: "app", path: "/*", policy: "authenticated" },
    ];
    stack = await startLoginStack({ origin, routes, withGithub: false });
  });
  after(async () => stack?.close());

  test("logging out closes the session's open socket with 1008 within the recheck interval", async () => {
    const gw = stack.gateway.url;
    const browser = new Browser();
    await browser.loginWithOidc(gw, { login: "alice", returnTo: "/app/x" });
    const cookie = browser.jar.header(gw);
    assert.match(cookie, /__Host-portcullis=/);
    const opened = await connect("/live/feed", { base: gw, headers: { cookie } });
    assert.ok(opened.socket, `connected: ${opened.status} ${opened.body}`);
    await next(opened);
    assert.equal(origin.upgrades.at(-1).headers["x-auth-method"], "session");
    assert.equal(origin.upgrades.at(-1).headers.cookie ?? "", "", "the session cookie is not forwarded");

    const page = await browser.request(`${gw}/auth/logout`);
    const token = /name="csrf_token" value="([^"]+)"/.exec(await page.text())?.[1];
    const loggedOutAt = Date.now();
    const done = await rawRequest(`${gw}/auth/logout`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie, accept: "text/html", origin: gw },
      body: `csrf_token=${token}`,
    });
    assert.equal(done.status, 303);
    assert.deepEqual(await opened.closed, { code: 1008, reason: "credentials_ended" });
    assert.ok(Date.now() - loggedOutAt < 3_000, `closed ${Date.now() - loggedOutAt} ms after the logout (recheck_s 1)`);
  });
});

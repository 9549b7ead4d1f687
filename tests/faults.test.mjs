// Fault injection: each network dependency of the built worker, made to fail in each way a peer
// can, by a real misbehaving server on 127.0.0.1. Every cell of the table is asserted: the status
// and stable code the client gets, the audit line's reason, and what the origin saw. The default
// everywhere is to fail closed.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startGateway } from "./support/gateway.mjs";
import { startOrigin } from "./support/origin.mjs";
import { startIssuer } from "./support/idp-keys.mjs";
import { baseConfig, jwtIssuer } from "./support/config.mjs";

/** A peer that misbehaves by path: /status-500, /slow-headers, /slow-body, /truncated, /huge,
 *  /redirect-loop, /reset. It counts the requests it got. */
async function startFaultyPeer() {
  const open = new Set();
  const state = { requests: 0 };
  const server = http.createServer((req, res) => {
    state.requests++;
    const mode = new URL(req.url, "http://peer.invalid").pathname.split("/")[1];
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
});

// Request-smuggling and header edge cases, sent as raw bytes over TCP to the built worker in
// workerd. Each case is either refused (before the worker by the runtime's HTTP parser, or by the
// worker with a stable code) or passed on as the origin would read it; the origin's
// connection is always framed afresh by the runtime's fetch, so nothing the client wrote can be
// read by the origin as a second request.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { startGateway } from "./support/gateway.mjs";
import { startOrigin } from "./support/origin.mjs";
import { createApiKey } from "./support/api-keys.mjs";
import { TEST_ADMIN_KEY, baseConfig } from "./support/config.mjs";

let origin;
let gateway;
let port;
let key;

before(async () => {
  origin = await startOrigin();
  const routes = [
    { id: "public", path: "/public/*", policy: "public" },
    { id: "app", path: "/app/*", policy: "authenticated" },
  ];
  gateway = await startGateway({ config: baseConfig(origin, routes, { api_keys: { prefix: "pk_test" } }), secrets: { PORTCULLIS_ADMIN_KEY: TEST_ADMIN_KEY } });
  port = new URL(gateway.url).port;
  key = (await createApiKey(gateway.url, { owner: "svc-raw" })).key;
});

after(async () => {
  await gateway?.close();
  await origin?.close();
});

/** Writes `text` (and `later`, 300 ms on) to a fresh connection and collects what comes back until
 *  the gateway closes it (or `waitMs` passes): the status codes and error codes, in order. */
function raw(text, { waitMs = 1500, later } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let received = "";
    socket.on("data", (data) => (received += data));
    if (later) setTimeout(() => socket.write(later), 300);
    socket.on("error", () => {});
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      const codes = [...received.matchAll(/"error":"([a-z_]+)"/g)].map((m) => m[1]);
      resolve({ statuses, codes, received });
    };
    const timer = setTimeout(finish, waitMs);
    socket.on("close", finish);
    socket.write(text);
  });
}

/** What the origin received while `action` ran. */
async function seenDuring(action) {
  const before = origin.requests.length;
  const result = await action();
  await new Promise((r) => setTimeout(r, 50));
  return { result, seen: origin.requests.slice(before) };
}

const host = () => `Host: 127.0.0.1:${port}`;

describe("refused before the worker runs, by the runtime's HTTP parser", () => {
  // Locally workerd answers these with its own 500 ("Internal Server Error", before any worker
  // code); Cloudflare's edge refuses them with 400. Either way the origin hears nothing.
  const cases = [
    ["two Host headers", () => `GET /public/a HTTP/1.1\r\n${host()}\r\nHost: evil.example\r\nConnection: close\r\n\r\n`],
    ["an absolute-form target naming another authority", () => `GET http://evil.example/public/b HTTP/1.1\r\n${host()}\r\nConnection: close\r\n\r\n`],
    ["two different Content-Length values", () => `POST /public/c HTTP/1.1\r\n${host()}\r\nContent-Length: 5\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello!`],
    ["an unknown Transfer-Encoding", () => `POST /public/d HTTP/1.1\r\n${host()}\r\nTransfer-Encoding: xchunked\r\nConnection: close\r\n\r\n`],
    ["a NUL in a header value", () => `GET /public/e HTTP/1.1\r\n${host()}\r\nX-Nul: a\0b\r\nConnection: close\r\n\r\n`],
  ];
  for (const [name, request] of cases) {
    test(`${name}: refused, and the origin sees nothing`, async () => {
      const { result, seen } = await seenDuring(() => raw(request()));
      assert.equal(result.statuses.length, 1, result.received);
      assert.ok(result.statuses[0] >= 400, `answered ${result.statuses[0]}`);
      assert.equal(seen.length, 0);
    });
  }
});

describe("decided by the worker", () => {
  test("Content-Length with Transfer-Encoding: chunked framing wins, and the bytes after it are a request of their own", async () => {
    const smuggled = `GET /app/smuggled HTTP/1.1\r\n${host()}\r\nConnection: close\r\n\r\n`;
    const text = `POST /public/c HTTP/1.1\r\n${host()}\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`;
    const { result, seen } = await seenDuring(() => raw(text));
    assert.deepEqual(result.statuses, [200, 401], "the trailing request is authenticated like any other");
    assert.deepEqual(result.codes, ["unauthenticated"]);
    assert.deepEqual(seen.map((r) => `${r.method} ${r.path} ${JSON.stringify(r.body)}`), ['POST /public/c ""']);
  });

  test("an obs-folded header value reaches the origin unfolded", async () => {
    const text = `GET /public/folded HTTP/1.1\r\n${host()}\r\nX-Folded: one\r\n two\r\nConnection: close\r\n\r\n`;
    const { result, seen } = await seenDuring(() => raw(text));
    assert.deepEqual(result.statuses, [200]);
    assert.match(seen[0].headers["x-folded"], /^one +two$/);
  });

  test("a body on a GET or HEAD: 400 body_not_allowed, with or without credentials (fetch cannot forward it, and origins disagree on it)", async () => {
    for (const [method, credentials] of [["GET", ""], ["GET", `X-API-Key: ${key}\r\n`], ["HEAD", `X-API-Key: ${key}\r\n`]]) {
      const text = `${method} /app/f HTTP/1.1\r\n${host()}\r\n${credentials}Content-Length: 5\r\nConnection: close\r\n\r\nhello`;
      const { result, seen } = await seenDuring(() => raw(text));
      assert.deepEqual(result.statuses, [400], `${method} ${credentials ? "with" : "without"} credentials`);
      if (method === "GET") assert.deepEqual(result.codes, ["body_not_allowed"]);
      assert.equal(seen.length, 0);
    }
  });

  test("an oversized Cookie header: 431 headers_too_large", async () => {
    const text = `GET /public/g HTTP/1.1\r\n${host()}\r\nCookie: a=${"x".repeat(40_000)}\r\nConnection: close\r\n\r\n`;
    const { result, seen } = await seenDuring(() => raw(text));
    assert.deepEqual(result.statuses, [431]);
    assert.deepEqual(result.codes, ["headers_too_large"]);
    assert.equal(seen.length, 0);
  });

  test("Expect: 100-continue without credentials: 401 before the body is sent; with them, the body goes on", async () => {
    const refused = await seenDuring(() => raw(`POST /app/h HTTP/1.1\r\n${host()}\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`));
    assert.deepEqual(refused.result.statuses, [401], "no 100 Continue: the client never sends the body");
    assert.equal(refused.seen.length, 0);
    // The runtime sends no 100 Continue locally, so the client sends its body after a pause, as
    // curl does after a second.
    const text = `POST /app/h HTTP/1.1\r\n${host()}\r\nX-API-Key: ${key}\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`;
    const passed = await seenDuring(() => raw(text, { later: "hello" }));
    assert.equal(passed.result.statuses.at(-1), 200, passed.result.received);
    assert.equal(passed.seen[0].body, "hello");
    assert.equal(passed.seen[0].headers.expect, undefined, "the origin is not asked to continue again");
  });
});

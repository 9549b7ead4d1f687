// A recording origin on 127.0.0.1: it answers every request with what it received, and keeps a
// list of those requests so tests can assert on what really reached the origin.
//
// Behaviour is chosen with query parameters, so any path works:
//   ?status=418      answer with that status
//   ?delay_ms=N      wait N ms before answering
//   ?hold=ID         send a first chunk, then wait for release(ID) before finishing (streaming)
//   ?cors=1          add Access-Control-Allow-Origin: * (which a CORS-owning route must replace)
//   ?set_cookie=1    send two Set-Cookie headers
import http from "node:http";

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function demoPage(record) {
  const identity = Object.entries(record.headers).filter(([name]) => name.startsWith("x-auth-") || name.startsWith("x-portcullis-"));
  const rows = (entries) => entries.map(([n, v]) => `<tr><th>${escapeHtml(n)}</th><td>${escapeHtml(v)}</td></tr>`).join("");
  const subject = record.headers["x-auth-subject"];
  const who = subject
    ? `<p id=who>Signed in as <strong>${escapeHtml(record.headers["x-auth-email"] ?? subject)}</strong> (${escapeHtml(record.headers["x-auth-method"] ?? "")}). <a href="/auth/logout">Sign out</a></p>`
    : "";
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Demo origin</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1b1f24; }
  main { max-width: 60rem; margin: 0 auto; padding: 1.5rem; }
  table { border-collapse: collapse; width: 100%; background: #fff; table-layout: fixed; }
  th, td { text-align: left; vertical-align: top; padding: 0.3rem 0.6rem; border-bottom: 1px solid #e3e6ea; }
  th { width: 14rem; font-weight: 600; }
  td { font-family: ui-monospace, monospace; font-size: 13px; overflow-wrap: anywhere; }
  #who { padding: 0.6rem 0.8rem; background: #e8f3ea; border-radius: 6px; }
</style></head>
<body><main><h1>Demo origin</h1>
<p>This page is served by the demo origin behind Portcullis. It shows what the origin received.</p>
${who}
<p><strong>${escapeHtml(record.method)} ${escapeHtml(record.url)}</strong></p>
<h2>Identity</h2>${identity.length ? `<table>${rows(identity)}</table>` : "<p id=anonymous>No identity: this is a public route.</p>"}
${record.assertion ? `<p id=assertion>Signed assertion: ${record.assertion.valid ? "verified" : `REJECTED (${escapeHtml(record.assertion.error)})`}</p>` : ""}
<h2>All headers</h2><table>${rows(Object.entries(record.headers))}</table>
<p><a href="/public/">A public page</a> · <a href="/app/">A protected page</a> · <a href="/auth/session">Session (JSON)</a> · <a href="/auth/health">Gateway health</a></p>
</main></body></html>`;
}

export async function startOrigin({ port = 0 } = {}) {
  const requests = [];
  let verifyAssertion = null;
  const holds = new Map();
  const firstChunkSeen = new Map();
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://origin.invalid");
    const chunks = [];
    const record = { method: req.method, url: req.url, path: url.pathname, headers: req.headers, body: "" };
    requests.push(record);
    req.on("data", (chunk) => {
      chunks.push(chunk);
      const waiter = firstChunkSeen.get(url.searchParams.get("upload"));
      if (waiter) waiter();
    });
    await new Promise((resolve) => req.on("end", resolve));
    record.body = Buffer.concat(chunks).toString("utf8");
    const assertion = req.headers["x-portcullis-assertion"];
    if (assertion && verifyAssertion) {
      record.assertion = await verifyAssertion(assertion, { method: req.method, path: url.pathname }).then(
        (claims) => ({ valid: true, claims }),
        (error) => ({ valid: false, error: error.message }),
      );
    }

    const delay = Number(url.searchParams.get("delay_ms") ?? 0);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const headers = { "x-origin": "demo" };
    if (url.searchParams.get("cors")) headers["access-control-allow-origin"] = "*";
    if (url.searchParams.get("set_cookie")) headers["set-cookie"] = ["a=1; Path=/", "b=2; Path=/"];
    const status = Number(url.searchParams.get("status") ?? 200);
    const hold = url.searchParams.get("hold");
    if (hold) {
      res.writeHead(status, { ...headers, "content-type": "text/plain" });
      res.write("first chunk\n");
      await new Promise((resolve) => holds.set(hold, resolve));
      res.end("second chunk\n");
      return;
    }
    const wantsHtml = (req.headers.accept ?? "").includes("text/html");
    if (wantsHtml) {
      res.writeHead(status, { ...headers, "content-type": "text/html; charset=utf-8" });
      res.end(demoPage(record));
    } else {
      res.writeHead(status, { ...headers, "content-type": "application/json" });
      res.end(JSON.stringify({ method: record.method, url: record.url, headers: record.headers, body: record.body }));
    }
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  const { port: boundPort } = server.address();
  return {
    url: `http://127.0.0.1:${boundPort}`,
    port: boundPort,
    requests,
    /** Verifies every assertion it receives with this function (see assertion-verifier.mjs). */
    verifyAssertionsWith(verify) {
      verifyAssertion = verify;
    },
    /** Finishes a response started with ?hold=id. */
    release(id) {
      holds.get(id)?.();
    },
    /** Resolves when the origin has received the first chunk of an upload sent with ?upload=id. */
    firstUploadChunk(id) {
      return new Promise((resolve) => firstChunkSeen.set(id, resolve));
    },
    async close() {
      for (const release of holds.values()) release();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

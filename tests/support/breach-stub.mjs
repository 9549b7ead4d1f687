// A local stand-in for Have I Been Pwned's Pwned Passwords range API (k-anonymity): GET
// /range/<5 hex> answers the SHA-1 suffixes of the breached passwords with that prefix, padded
// with zero-count lines as the real service pads when asked (`Add-Padding: true`). It records
// the prefixes it was asked, so a test can check that only they left the gateway. `down(true)`
// makes it answer 503.
import { createHash } from "node:crypto";
import http from "node:http";

const sha1 = (text) => createHash("sha1").update(text, "utf8").digest("hex").toUpperCase();

export async function startBreachStub({ breached = {}, port = 0 } = {}) {
  const table = new Map(Object.entries(breached).map(([password, count]) => [sha1(password), count]));
  const asked = [];
  let isDown = false;
  const server = http.createServer((req, res) => {
    const match = /^\/range\/([0-9A-Fa-f]{5})$/.exec(req.url);
    if (!match) {
      res.writeHead(404).end();
      return;
    }
    asked.push({ prefix: match[1].toUpperCase(), padding: req.headers["add-padding"] });
    if (isDown) {
      res.writeHead(503).end();
      return;
    }
    const prefix = match[1].toUpperCase();
    const lines = [...table].filter(([hash]) => hash.startsWith(prefix)).map(([hash, count]) => `${hash.slice(5)}:${count}`);
    if (req.headers["add-padding"] === "true") {
      for (let i = 0; i < 20; i++) lines.push(`${sha1(`padding-${prefix}-${i}`).slice(5)}:0`);
    }
    res.writeHead(200, { "content-type": "text/plain" }).end(lines.join("\r\n"));
  });
  await new Promise((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", resolve));
  return {
    rangeUrl: `http://127.0.0.1:${server.address().port}/range/`,
    asked,
    down(value) {
      isDown = value;
    },
    close() {
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

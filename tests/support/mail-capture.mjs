// A local mail API on 127.0.0.1 that keeps what it is sent: the gateway's `http` mail sender
// posts `{from, to, subject, text, html}` to it, as to a real mail provider's API. Tests read the
// messages (and the links in them); `npm start` prints them. `fail(n)` answers the next n sends
// with 503, like a provider that is down.
import http from "node:http";

/** The first link in a message's text part that goes to `path` (e.g. "/auth/accounts/verify"). */
export function linkIn(message, path) {
  const match = message.text.match(new RegExp(`https?://[^\\s]*${path.replaceAll("/", "\\/")}[^\\s]*`));
  return match ? match[0] : undefined;
}

export async function startMailCapture({ port = 0, token, onMessage } = {}) {
  const messages = [];
  const waiters = [];
  let failing = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/send") {
        res.writeHead(404).end();
        return;
      }
      if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) {
        res.writeHead(401).end();
        return;
      }
      if (failing > 0) {
        failing -= 1;
        res.writeHead(503, { "content-type": "application/json" }).end('{"error":"unavailable"}');
        return;
      }
      let message;
      try {
        message = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        res.writeHead(400).end();
        return;
      }
      message.received_at = Date.now();
      messages.push(message);
      onMessage?.(message);
      for (const waiter of [...waiters]) {
        if (waiter.matches(message)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(message);
        }
      }
      res.writeHead(202, { "content-type": "application/json" }).end(JSON.stringify({ id: `msg-${messages.length}` }));
    });
  });
  await new Promise((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}/send`;
  return {
    url,
    messages,
    /** Messages sent to `to` so far. */
    to(address) {
      return messages.filter((m) => m.to === address);
    },
    /** The next message to `to` (with a subject matching `subject`), waiting up to `timeoutMs`. */
    next(to, { subject, after = 0, timeoutMs = 5000 } = {}) {
      const matches = (m) => m.to === to && (subject === undefined || subject.test(m.subject)) && m.received_at >= after;
      const already = messages.find(matches);
      if (already) return Promise.resolve(already);
      return new Promise((resolve, reject) => {
        const waiter = { matches, resolve };
        waiters.push(waiter);
        setTimeout(() => {
          const at = waiters.indexOf(waiter);
          if (at >= 0) {
            waiters.splice(at, 1);
            reject(new Error(`no mail to ${to}${subject ? ` matching ${subject}` : ""} within ${timeoutMs} ms`));
          }
        }, timeoutMs);
      });
    },
    /** Answers the next `count` sends with 503. */
    fail(count) {
      failing = count;
    },
    clear() {
      messages.length = 0;
    },
    close() {
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

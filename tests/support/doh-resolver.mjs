// A local DNS-over-HTTPS resolver (the JSON API of cloudflare-dns.com/dns-query) that answers TXT
// questions from a table the test writes: `records.set(name, [values])`. `failing = true` makes it
// answer SERVFAIL, as a resolver that cannot reach the authoritative servers does.
import http from "node:http";

export async function startDohResolver({ port = 0 } = {}) {
  const records = new Map();
  const state = { failing: false, questions: [] };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://resolver");
    if (url.pathname !== "/dns-query" || req.headers.accept !== "application/dns-json") {
      res.writeHead(415).end();
      return;
    }
    const name = (url.searchParams.get("name") ?? "").toLowerCase().replace(/\.$/, "");
    const type = url.searchParams.get("type");
    state.questions.push({ name, type });
    const question = [{ name: `${name}.`, type: 16 }];
    const reply = (body) => res.writeHead(200, { "content-type": "application/dns-json" }).end(JSON.stringify(body));
    if (state.failing) return reply({ Status: 2, Question: question });
    const values = type === "TXT" ? records.get(name) : undefined;
    if (!values) return reply({ Status: 3, Question: question });
    const quoted = (value) => `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
    reply({
      Status: 0,
      Question: question,
      Answer: values.map((value) => ({ name: `${name}.`, type: 16, TTL: 300, data: quoted(value) })),
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return {
    url: `http://127.0.0.1:${server.address().port}/dns-query`,
    records,
    state,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// The bench origin: a lean HTTP server on 127.0.0.1 that answers every request with the same small
// body, so the benchmark measures the gateway and not the origin. It also serves the bench JWKS at
// /.well-known/jwks.json, for gateways that fetch keys by URL.
//
// It runs as its own process (`node bench/origin.mjs`, printing `{"url": ...}` on its first stdout
// line), so that nothing else in the harness's event loop can delay its answers.
import http from "node:http";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const BODY = Buffer.from("portcullis bench origin: ok\n");
export const ORIGIN_BODY_MARKER = "portcullis bench origin";

function serve(jwks) {
  const jwksBody = Buffer.from(jwks);
  const server = http.createServer((req, res) => {
    const isJwks = req.url === "/.well-known/jwks.json";
    const body = isJwks ? jwksBody : BODY;
    res.writeHead(200, { "content-type": isJwks ? "application/json" : "text/plain", "content-length": body.length });
    res.end(body);
    req.resume();
  });
  // workerd pools its connections to the origin, and they sit idle while other rows are measured.
  // Node's default 5 s keep-alive would close them just as workerd reuses one: a spurious 502.
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1", () => {
    process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` })}\n`);
  });
  process.on("SIGTERM", () => process.exit(0));
  // The harness holds our stdin open: when it goes away, however it ends, so do we.
  process.stdin.on("end", () => process.exit(0)).resume();
}

/** Starts the origin in a child process; resolves to { url, close() }. */
export async function startBenchOrigin({ jwks }) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
    env: { ...process.env, BENCH_JWKS: JSON.stringify(jwks) },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const kill = () => child.kill("SIGTERM");
  process.once("exit", kill);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const firstLine = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`bench origin exited early (${code})`)));
  });
  return {
    url: JSON.parse(firstLine).url,
    async close() {
      process.removeListener("exit", kill);
      kill();
      await exited;
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) serve(process.env.BENCH_JWKS ?? '{"keys":[]}');

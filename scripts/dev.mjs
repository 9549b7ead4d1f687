// `npm start`: runs Portcullis locally in workerd (through `wrangler dev`, with local KV and
// Durable Objects) in front of the demo origin, and prints the URL to open.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { startOrigin } from "../tests/support/origin.mjs";
import { repoRoot } from "../tests/support/wrangler-config.mjs";

const GATEWAY_PORT = Number(process.env.PORTCULLIS_PORT ?? 8787);
const ORIGIN_PORT = 8788; // the embedded default configuration's origin

// Local secrets live in .dev.vars (git-ignored), which wrangler dev reads. Make them once.
const devVars = path.join(repoRoot, ".dev.vars");
if (!existsSync(devVars)) {
  const secret = () => randomBytes(32).toString("base64url");
  writeFileSync(devVars, `PORTCULLIS_ADMIN_KEY="${secret()}"\nPORTCULLIS_API_KEY_PEPPER="${secret()}"\n`, { mode: 0o600 });
  console.log("wrote .dev.vars with a fresh admin key and API key pepper");
}
const adminKey = /^PORTCULLIS_ADMIN_KEY="?([^"\n]+)"?/m.exec(readFileSync(devVars, "utf8"))?.[1];

const origin = await startOrigin({ port: ORIGIN_PORT }).catch((error) => {
  console.error(`Cannot start the demo origin on 127.0.0.1:${ORIGIN_PORT}: ${error.message}`);
  process.exit(1);
});
console.log(`demo origin     ${origin.url}`);

const wrangler = spawn(
  "npx",
  ["--no-install", "wrangler", "dev", "--ip", "127.0.0.1", "--port", String(GATEWAY_PORT), "--show-interactive-dev-session=false"],
  { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
);
wrangler.stdout.on("data", (chunk) => process.stdout.write(chunk));
wrangler.stderr.on("data", (chunk) => process.stderr.write(chunk));

function shutdown(code = 0) {
  wrangler.kill("SIGTERM");
  origin.close().finally(() => process.exit(code));
}
process.on("SIGINT", () => shutdown(0));
process.on("SIGTERM", () => shutdown(0));
wrangler.on("exit", (code) => {
  console.error(`wrangler dev exited (${code})`);
  shutdown(code ?? 1);
});

const url = `http://127.0.0.1:${GATEWAY_PORT}`;
for (let attempt = 0; attempt < 600; attempt++) {
  try {
    const health = await fetch(`${url}/auth/health`);
    if (health.ok) break;
  } catch {
    // not up yet
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
}
console.log(`
  Portcullis is running: ${url}/

    ${url}/            a public page of the demo origin
    ${url}/public/     public route: passes through, no identity
    ${url}/app/        protected route: 401 until you authenticate
    ${url}/auth/health gateway health

  An API key for the protected routes (the admin key is in .dev.vars):
    PORTCULLIS_ADMIN_KEY=${adminKey ?? "<see .dev.vars>"} npm run keys -- create --owner me
    curl -H "x-api-key: <the key>" ${url}/app/

  Press Ctrl+C to stop.
`);

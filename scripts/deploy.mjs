// `npm run deploy [-- --dry-run] [--outdir DIR] [--env NAME]`: checks the configuration the
// deployment will run (npm run check-config), builds the worker (once: the build is skipped when
// up to date) and deploys it with wrangler, from wrangler.toml. With --dry-run it
// deploys nothing: wrangler bundles exactly what it would upload into DIR (default
// build/dry-run), and this script reports the bundle's size against the Workers limits. `npm test`
// runs the dry run, so a production bundle that wrangler cannot build fails CI.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { gzipSync } from "node:zlib";
import path from "node:path";
import { repoRoot } from "../tests/support/wrangler-config.mjs";
import { takeOption } from "./host-tool.mjs";

// The Workers limits on a worker's size, compressed (gzip): Free plan, and Paid plans.
const FREE_LIMIT = 3 * 1024 * 1024;
const PAID_LIMIT = 10 * 1024 * 1024;

const args = process.argv.slice(2);
const outdir = path.resolve(takeOption(args, "--outdir") ?? path.join(repoRoot, "build", "dry-run"));
const envName = takeOption(args, "--env");
const dryRun = args.includes("--dry-run");
// A mistyped option must not turn a dry run into a deployment.
const unknown = args.filter((arg) => arg !== "--dry-run");
if (unknown.length > 0) {
  console.error(`deploy: unknown option ${unknown.join(" ")}\nusage: npm run deploy [-- --dry-run] [--outdir DIR] [--env NAME]`);
  process.exit(2);
}

const run = (command, commandArgs) => {
  const result = spawnSync(command, commandArgs, {
    cwd: repoRoot,
    stdio: "inherit",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
};

// The configuration this deployment will run, checked by the gateway's own core first: an invalid
// one (an old "version" among them) is refused here, not by 503 config_invalid on every request.
run("node", ["scripts/check-config.mjs", ...(envName ? ["--env", envName] : [])]);
run("bash", ["scripts/build.sh"]);
const wranglerArgs = ["--no-install", "wrangler", "deploy", ...(envName ? ["--env", envName] : [])];
if (!dryRun) {
  run("npx", wranglerArgs);
  process.exit(0);
}

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
run("npx", [...wranglerArgs, "--dry-run", "--outdir", outdir]);

const files = readdirSync(outdir, { recursive: true })
  .map((name) => path.join(outdir, name))
  .filter((file) => statSync(file).isFile() && !file.endsWith(".map") && !file.endsWith("README.md"));
let raw = 0;
let compressed = 0;
for (const file of files) {
  const bytes = readFileSync(file);
  raw += bytes.length;
  compressed += gzipSync(bytes, { level: 9 }).length;
}
const kib = (bytes) => `${(bytes / 1024).toFixed(0)} KiB`;
console.log(`\ndry run: ${files.length} files in ${path.relative(process.cwd(), outdir) || "."}, ${kib(raw)}, ${kib(compressed)} gzipped`);
for (const file of files) console.log(`  ${path.relative(outdir, file)}  ${kib(statSync(file).size)}`);
if (!files.some((file) => file.endsWith(".wasm"))) {
  console.error("dry run: the bundle has no WebAssembly module");
  process.exit(1);
}
if (compressed > PAID_LIMIT) {
  console.error(`dry run: ${kib(compressed)} gzipped is above the Workers limit of ${kib(PAID_LIMIT)}`);
  process.exit(1);
}
console.log(
  compressed > FREE_LIMIT
    ? `dry run: above the Free plan's ${kib(FREE_LIMIT)}, within the Paid plans' ${kib(PAID_LIMIT)}`
    : `dry run: within the Free plan's ${kib(FREE_LIMIT)} limit (gzipped)`,
);

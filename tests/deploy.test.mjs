// The production bundle, as `wrangler deploy` would upload it: `npm run deploy -- --dry-run`
// bundles it from wrangler.toml without deploying, and the bundle then runs in workerd (with the
// bindings wrangler.toml declares) and answers. A bundle that wrangler cannot build, or that does
// not start, fails here rather than at deploy time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Miniflare } from "miniflare";
import { parse } from "smol-toml";
import { miniflareOptions, repoRoot } from "./support/wrangler-config.mjs";

// What the bundle is started with: a production configuration.
const PRODUCTION = {
  version: 2,
  environment: "production",
  origin: "https://origin.example.com",
  routes: [{ id: "app", path: "/*", policy: "authenticated" }],
};

test("npm run deploy -- --dry-run bundles the worker, within the size limit, and the bundle serves", async () => {
  const outdir = mkdtempSync(path.join(tmpdir(), "portcullis-dry-run-"));
  const built = path.join(repoRoot, "build", "index_bg.wasm");
  const before = statSync(built);
  try {
    const run = spawnSync("node", ["scripts/deploy.mjs", "--dry-run", "--outdir", outdir], {
      cwd: repoRoot,
      encoding: "utf8",
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
    });
    assert.equal(run.status, 0, `the dry run failed:\n${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /dry run: \d+ files in .*, \d+ KiB, \d+ KiB gzipped/);
    assert.match(run.stdout, /within the (Free|Paid)/);
    const files = readdirSync(outdir, { recursive: true });
    // wrangler names the bundle's entry after wrangler.toml's `main`, as a .js module.
    const main = parse(readFileSync(path.join(repoRoot, "wrangler.toml"), "utf8")).main;
    const entry = `${path.basename(main, path.extname(main))}.js`;
    assert.ok(files.includes(entry), `the entry ${entry} in ${files.join(", ")}`);
    assert.ok(files.some((name) => name.endsWith(".wasm")), "the WebAssembly module is in the bundle");

    // The bundle, not build/, in workerd: it starts and answers.
    const options = miniflareOptions({ bindings: { PORTCULLIS_CONFIG: JSON.stringify(PRODUCTION) } });
    const mf = new Miniflare({
      ...options,
      modulesRoot: outdir,
      scriptPath: path.join(outdir, entry),
      modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    });
    try {
      const url = (await mf.ready).toString().replace(/\/$/, "");
      const health = await fetch(`${url}/auth/health`);
      assert.equal(health.status, 200, await health.text());
      const guarded = await fetch(`${url}/app/x`, { headers: { accept: "application/json" } });
      assert.equal(guarded.status, 401, "the bundled gateway runs the production configuration and guards its routes");
      assert.equal((await guarded.json()).error, "unauthenticated");
      const forged = await fetch(`${url}/app/x`, { headers: { authorization: "Bearer not.a.jwt", accept: "application/json" } });
      assert.equal(forged.status, 401);
    } finally {
      await mf.dispose();
    }
    const after = statSync(built);
    assert.equal(after.mtimeMs, before.mtimeMs, "build/ was up to date, so the dry run did not rebuild it");
    assert.equal(after.size, before.size);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
});

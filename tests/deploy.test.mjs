// The production bundle, as `wrangler deploy` would upload it: `npm run deploy -- --dry-run`
// bundles it from wrangler.toml without deploying, and the bundle then runs in workerd (with the
// bindings wrangler.toml declares) and answers. A bundle that wrangler cannot build, or that does
// not start, fails here rather than at deploy time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Miniflare } from "miniflare";
import { miniflareOptions, repoRoot } from "./support/wrangler-config.mjs";

test("npm run deploy -- --dry-run bundles the worker, within the size limit, and the bundle serves", async () => {
  const outdir = mkdtempSync(path.join(tmpdir(), "portcullis-dry-run-"));
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
    const entry = files.find((name) => /\.(mjs|js)$/.test(name) && !name.endsWith(".map"));
    assert.ok(entry, `an entry module in ${files.join(", ")}`);
    assert.ok(files.some((name) => name.endsWith(".wasm")), "the WebAssembly module is in the bundle");

    // The bundle, not build/, in workerd: it starts and answers.
    const options = miniflareOptions({});
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
      assert.equal(guarded.status, 401, "the bundled gateway guards its routes");
      assert.equal((await guarded.json()).error, "unauthenticated");
    } finally {
      await mf.dispose();
    }
    assert.ok(existsSync(path.join(repoRoot, "build", "index_bg.wasm")), "build/ is left as it was");
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
});

// `npm run preflight`: what a production deployment needs and is missing, all at once, from a
// wrangler.toml and a list of the secrets that are set (offline: Cloudflare is never asked here).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { repoRoot } from "./support/wrangler-config.mjs";

let dir;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), "portcullis-preflight-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const config = {
  version: 2,
  environment: "production",
  origin: "https://origin.example.com",
  api_keys: { prefix: "pk_live" },
  routes: [{ id: "app", path: "/*", policy: "authenticated" }],
  login: {
    redirect_uri: "https://app.example.com/auth/callback",
    providers: [
      { id: "corp", type: "oidc", issuer: "https://login.example.com", client_id: "c", client_secret: "CORP_SECRET", directory: { tenant: "acme" } },
    ],
  },
};

function preflight(wranglerToml, secrets, extra = []) {
  const wrangler = path.join(dir, `wrangler-${Math.random().toString(36).slice(2)}.toml`);
  writeFileSync(wrangler, wranglerToml);
  const secretsFile = path.join(dir, "secrets.txt");
  writeFileSync(secretsFile, secrets.join("\n") + "\n");
  return spawnSync("node", ["scripts/preflight.mjs", "--wrangler", wrangler, "--secrets-file", secretsFile, "--offline", ...extra], {
    cwd: repoRoot,
    encoding: "utf8",
  });
}

// The repository's own wrangler.toml, with this configuration and real-looking ids.
function completeToml() {
  return readFileSync(path.join(repoRoot, "wrangler.toml"), "utf8")
    .replace('id = "00000000000000000000000000000000"', 'id = "5f1a0c2e9b7d4e3fa6b8c9d0e1f2a3b4"')
    .replace('database_id = "00000000-0000-0000-0000-000000000000"', 'database_id = "7c9e6679-7425-40de-944b-e07fc1f90ae7"')
    .replace("[vars]", `[vars]\nPORTCULLIS_CONFIG = '''${JSON.stringify(config)}'''`);
}

test("the repository's template lists every missing binding id and secret at once", () => {
  const run = preflight(
    readFileSync(path.join(repoRoot, "wrangler.toml"), "utf8").replace("[vars]", `[vars]\nPORTCULLIS_CONFIG = '''${JSON.stringify({ ...config, version: undefined })}'''`),
    ["CORP_SECRET"],
  );
  assert.equal(run.status, 1, run.stdout + run.stderr);
  for (const expected of [
    /MISSING\s+kv PORTCULLIS_KV: .*placeholder; npx wrangler kv namespace create PORTCULLIS_KV/,
    /MISSING\s+d1 PORTCULLIS_DB: .*placeholder/,
    /MISSING\s+PORTCULLIS_ASSERTION_KEYS: .*not set \(npx wrangler secret put PORTCULLIS_ASSERTION_KEYS\)/,
    /MISSING\s+PORTCULLIS_API_KEY_PEPPER/,
    /MISSING\s+PORTCULLIS_LOGIN_SECRET/,
    /MISSING\s+no "version"/,
    /ok\s+CORP_SECRET/,
    /ok\s+durable_object API_KEY_REVOCATIONS/,
    /ok\s+durable_object RATE_LIMITER/,
    /not checked \(offline\): npx wrangler d1 migrations apply PORTCULLIS_DB --remote/,
  ]) {
    assert.match(run.stdout, expected);
  }
  assert.match(run.stdout, /(\d+) thing\(s\) missing for production/);
  assert.equal(Number(/(\d+) thing\(s\) missing/.exec(run.stdout)[1]), 6, run.stdout);
});

test("a complete deployment is ready, and optional secrets do not block it", () => {
  const run = preflight(completeToml(), [
    "PORTCULLIS_ASSERTION_KEYS",
    "PORTCULLIS_API_KEY_PEPPER=x",
    "PORTCULLIS_LOGIN_SECRET",
    "CORP_SECRET",
  ]);
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /ready for production/);
  assert.match(run.stdout, /ok\s+PORTCULLIS_DIRECTORY_KEY \(optional\)/);
});

test("a development configuration, and one the parser refuses, are named", () => {
  const dev = preflight(completeToml().replace('"environment":"production"', '"environment":"development"'), ["PORTCULLIS_ASSERTION_KEYS", "PORTCULLIS_API_KEY_PEPPER", "PORTCULLIS_LOGIN_SECRET", "CORP_SECRET"]);
  assert.equal(dev.status, 1);
  assert.match(dev.stdout, /MISSING\s+environment is "development"/);
  const broken = preflight(completeToml().replace('"policy":"authenticated"', '"policy":"admn"'), []);
  assert.equal(broken.status, 1);
  assert.match(broken.stdout, /configuration invalid:\n\s+routes\[0\]\.policy: unknown policy "admn"/);
});

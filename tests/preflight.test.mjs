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

// Browser login with a provisioning provider, and API keys.
const loginConfig = {
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

// An API behind JWTs and API keys: no browser login, so no directory.
const apiConfig = {
  version: 2,
  environment: "production",
  origin: "https://origin.example.com",
  api_keys: { prefix: "pk_live" },
  jwt: { issuers: [{ issuer: "https://internal.example.com", audiences: ["api"], hmac_secret: "INTERNAL_JWT_KEY", algorithms: ["HS256"] }] },
  routes: [{ id: "api", path: "/*", policy: "authenticated" }],
};

const KEY = "k".repeat(32);
const template = () => readFileSync(path.join(repoRoot, "wrangler.toml"), "utf8");
const withConfig = (toml, document) => toml.replace("[vars]", `[vars]\nPORTCULLIS_CONFIG = '''${JSON.stringify(document)}'''`);
// The repository's own wrangler.toml, with real-looking ids.
const completeToml = (document) =>
  withConfig(
    template()
      .replace('id = "00000000000000000000000000000000"', 'id = "5f1a0c2e9b7d4e3fa6b8c9d0e1f2a3b4"')
      .replace('database_id = "00000000-0000-0000-0000-000000000000"', 'database_id = "7c9e6679-7425-40de-944b-e07fc1f90ae7"'),
    document,
  );

/** Runs the preflight offline; `secrets` are the lines of the secrets file (null: no file). */
function preflight(wranglerToml, secrets) {
  const wrangler = path.join(dir, `wrangler-${Math.random().toString(36).slice(2)}.toml`);
  writeFileSync(wrangler, wranglerToml);
  const secretsFile = path.join(dir, "secrets.txt");
  if (secrets) writeFileSync(secretsFile, secrets.join("\n") + "\n");
  const secretArgs = secrets ? ["--secrets-file", secretsFile] : [];
  return spawnSync("node", ["scripts/preflight.mjs", "--wrangler", wrangler, ...secretArgs, "--offline"], {
    cwd: repoRoot,
    encoding: "utf8",
  });
}

test("the repository's template lists every missing binding id and secret at once", () => {
  const run = preflight(withConfig(template(), { ...loginConfig, version: undefined }), ["CORP_SECRET"]);
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
    /UNKNOWN\s+not checked \(offline\): npx wrangler d1 migrations apply PORTCULLIS_DB --remote/,
  ]) {
    assert.match(run.stdout, expected);
  }
  assert.match(run.stdout, /\n6 thing\(s\) missing for production, 1 not checked/, run.stdout);
});

test("a complete deployment is ready; optional secrets do not block it, a short key is as good as unset", () => {
  const secrets = ["PORTCULLIS_ASSERTION_KEYS", `PORTCULLIS_API_KEY_PEPPER='${KEY}'`, "INTERNAL_JWT_KEY"];
  const run = preflight(completeToml(apiConfig), secrets);
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /ready for production/);
  assert.match(run.stdout, /ok\s+PORTCULLIS_ADMIN_KEY \(optional\)/);
  const short = preflight(completeToml(apiConfig), [secrets[0], "PORTCULLIS_API_KEY_PEPPER=short", secrets[2]]);
  assert.equal(short.status, 1);
  assert.match(short.stdout, /MISSING\s+PORTCULLIS_API_KEY_PEPPER: .*shorter than 32 characters/);
  const noHmac = preflight(completeToml(apiConfig), secrets.slice(0, 2));
  assert.equal(noHmac.status, 1);
  assert.match(noHmac.stdout, /MISSING\s+INTERNAL_JWT_KEY: the HMAC key of JWT issuer/);
});

test("secrets that could not be checked never make a deployment ready", () => {
  const run = preflight(completeToml(apiConfig), null);
  assert.equal(run.status, 1, run.stdout);
  assert.match(run.stdout, /UNKNOWN\s+PORTCULLIS_ASSERTION_KEYS/);
  assert.match(run.stdout, /could not be checked: not ready/);
  assert.doesNotMatch(run.stdout, /ready for production/);
});

test("a development configuration, and one the parser refuses, are named", () => {
  const secrets = ["PORTCULLIS_ASSERTION_KEYS", `PORTCULLIS_API_KEY_PEPPER=${KEY}`, "INTERNAL_JWT_KEY"];
  const dev = preflight(completeToml({ ...apiConfig, environment: "development" }), secrets);
  assert.equal(dev.status, 1);
  assert.match(dev.stdout, /MISSING\s+environment is "development"/);
  const broken = preflight(completeToml({ ...apiConfig, routes: [{ id: "api", path: "/*", policy: "admn" }] }), []);
  assert.equal(broken.status, 1);
  assert.match(broken.stdout, /configuration invalid:\n\s+routes\[0\]\.policy: unknown policy "admn"/);
});

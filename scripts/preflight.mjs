// `npm run preflight [-- --env NAME] [--config FILE] [--secrets-file FILE] [--wrangler FILE] [--offline]`:
// what a production deployment needs and is missing, all at once. The configuration (PORTCULLIS_CONFIG
// from wrangler.toml's [vars], or [env.NAME.vars], or FILE) goes through the gateway's own Rust core,
// which names every binding and secret it will use; those are checked against wrangler.toml and the
// secrets that are set: from `wrangler secret list` when logged in, or from a file of names (one per
// line, or NAME=value lines as in .dev.vars). When logged in, it also asks whether the D1 migrations
// have been applied. --offline asks Cloudflare nothing. Exit 1 when anything is missing.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "smol-toml";
import { repoRoot } from "../tests/support/wrangler-config.mjs";
import { deployedConfig, portcullisTool, takeOption } from "./host-tool.mjs";

const args = process.argv.slice(2);
const envName = takeOption(args, "--env");
const configFile = takeOption(args, "--config");
const secretsFile = takeOption(args, "--secrets-file");
const wranglerFile = path.resolve(takeOption(args, "--wrangler") ?? path.join(repoRoot, "wrangler.toml"));
const offline = args.includes("--offline");

const toml = parse(readFileSync(wranglerFile, "utf8"));
// Bindings and vars are not inherited by a wrangler environment: they are the environment's own.
const section = envName ? toml.env?.[envName] ?? {} : toml;
let configText = configFile ? readFileSync(configFile, "utf8") : deployedConfig(toml, envName);

const lines = [];
let missing = 0;
let unchecked = 0;
const report = (ok, text) => {
  if (!ok) missing++;
  lines.push(`  ${ok ? "ok     " : "MISSING"}  ${text}`);
};
const note = (text) => lines.push(`  -        ${text}`);
// A required thing that could not be checked: never "ready".
const notChecked = (text) => {
  unchecked++;
  lines.push(`  UNKNOWN  ${text}`);
};

if (configText === undefined) {
  report(false, `PORTCULLIS_CONFIG: not set in ${path.basename(wranglerFile)}${envName ? ` [env.${envName}.vars]` : " [vars]"}, so the embedded development defaults would run`);
  configText = "";
}

const cli = portcullisTool(["preflight", "-"], { input: configText, encoding: "utf8", stdio: ["pipe", "pipe", "inherit"] });
let checked;
try {
  checked = JSON.parse(cli.stdout);
} catch {
  console.error(`preflight: the Rust core answered nothing usable (exit ${cli.status})`);
  process.exit(2);
}
if (checked.invalid) {
  console.log("configuration invalid:");
  for (const problem of checked.invalid) console.log(`  ${problem}`);
  process.exit(1);
}

// Which secrets are set, and (from a NAME=value file) their values.
let secrets = null;
let secretsSource;
const values = new Map();
if (secretsFile) {
  secrets = new Set();
  for (const line of readFileSync(secretsFile, "utf8").split("\n").map((l) => l.trim())) {
    if (!line || line.startsWith("#")) continue;
    const at = line.indexOf("=");
    const name = (at < 0 ? line : line.slice(0, at)).trim();
    secrets.add(name);
    if (at >= 0) values.set(name, line.slice(at + 1).trim().replace(/^(["'])(.*)\1$/, "$2"));
  }
  secretsSource = secretsFile;
} else if (!offline) {
  const listed = spawnSync("npx", ["--no-install", "wrangler", "secret", "list", "--format", "json", ...(envName ? ["--env", envName] : [])], {
    cwd: repoRoot,
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  try {
    secrets = new Set(JSON.parse(listed.stdout).map((secret) => secret.name));
    secretsSource = "wrangler secret list";
  } catch {
    secrets = null;
    secretsSource = `not checked: wrangler secret list failed (${(listed.stderr || listed.stdout || "no output").trim().split("\n").pop()}); log in with npx wrangler login, or pass --secrets-file`;
  }
}

const isPlaceholder = (id) => !id || /^[0-]+$/.test(String(id));
const kv = new Map((section.kv_namespaces ?? []).map((entry) => [entry.binding, entry]));
const d1 = new Map((section.d1_databases ?? []).map((entry) => [entry.binding, entry]));
const durable = new Map((section.durable_objects?.bindings ?? []).map((entry) => [entry.name, entry]));
const migrated = new Set((toml.migrations ?? []).flatMap((m) => [...(m.new_sqlite_classes ?? []), ...(m.new_classes ?? [])]));

lines.push("bindings (wrangler.toml):");
for (const need of checked.needs.filter((n) => n.kind !== "secret")) {
  const label = `${need.kind} ${need.name}: ${need.why}`;
  if (need.kind === "kv") {
    const entry = kv.get(need.name);
    if (!entry) report(!need.required, `${label}: no [[kv_namespaces]] binding`);
    else if (isPlaceholder(entry.id)) report(!need.required, `${label}: its id is a placeholder; npx wrangler kv namespace create ${need.name}, then put the id in wrangler.toml`);
    else report(true, label);
  } else if (need.kind === "d1") {
    const entry = d1.get(need.name);
    if (!entry) report(!need.required, `${label}: no [[d1_databases]] binding`);
    else if (isPlaceholder(entry.database_id)) report(!need.required, `${label}: its database_id is a placeholder; npx wrangler d1 create ${entry.database_name ?? "portcullis-directory"}, then put the id in wrangler.toml`);
    else report(true, label);
  } else if (need.kind === "durable_object") {
    const entry = durable.get(need.name);
    if (!entry) report(!need.required, `${label}: no [[durable_objects.bindings]] entry`);
    else if (!migrated.has(entry.class_name)) report(false, `${label}: class ${entry.class_name} is in no [[migrations]] entry`);
    else report(true, `${label} (class ${entry.class_name})`);
  } else if (need.kind === "send_email") {
    const entry = (section.send_email ?? []).find((e) => e.name === need.name);
    report(Boolean(entry) || !need.required, `${label}${entry ? "" : ": no [[send_email]] binding"}`);
  } else if (need.kind === "assets") {
    report(section.assets?.binding === need.name || toml.assets?.binding === need.name, `${label}: [assets] binding`);
  }
}

lines.push(`secrets (${secretsSource ?? "not checked: log in with npx wrangler login, or pass --secrets-file"}):`);
for (const need of checked.needs.filter((n) => n.kind === "secret")) {
  const label = `${need.name}${need.required ? "" : " (optional)"}: ${need.why}`;
  const value = values.get(need.name);
  if (secrets === null) (need.required ? notChecked : note)(label);
  else if (!secrets.has(need.name)) report(!need.required, `${label}: not set (npx wrangler secret put ${need.name})`);
  else if (need.min_length && value !== undefined && value.length < need.min_length) {
    report(false, `${label}: shorter than ${need.min_length} characters, which the gateway treats as unset`);
  } else report(true, label);
}

lines.push("D1 migrations:");
const directory = checked.needs.find((n) => n.kind === "d1");
if (!directory) note("no directory in use");
else if (offline || secretsSource !== "wrangler secret list") {
  const text = `not checked (offline): npx wrangler d1 migrations apply ${directory.name} --remote`;
  (directory.required ? notChecked : note)(text);
}
else {
  const listed = spawnSync("npx", ["--no-install", "wrangler", "d1", "migrations", "list", directory.name, "--remote", ...(envName ? ["--env", envName] : [])], {
    cwd: repoRoot,
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
  });
  const applied = listed.status === 0 && /No migrations to apply/i.test(listed.stdout + listed.stderr);
  report(applied, applied ? "every migration is applied" : `migrations pending or not readable: npx wrangler d1 migrations apply ${directory.name} --remote`);
}

lines.push("configuration:");
if (checked.problems.length === 0) report(true, "production, pinned version, no insecure_* switch (the parser refuses them in production)");
for (const problem of checked.problems) report(false, problem);

console.log(`preflight of ${path.relative(process.cwd(), wranglerFile) || wranglerFile}${envName ? ` [env.${envName}]` : ""}:`);
console.log(lines.join("\n"));
if (missing > 0) console.log(`\n${missing} thing(s) missing for production${unchecked ? `, ${unchecked} not checked` : ""}`);
else if (unchecked > 0) console.log(`\nnothing missing among what was checked, but ${unchecked} required thing(s) could not be checked: not ready`);
else console.log("\nready for production");
process.exit(missing === 0 && unchecked === 0 ? 0 : 1);

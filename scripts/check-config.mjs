// `npm run check-config [-- FILE] [-- --env NAME]`: validates a configuration with the same Rust
// core the worker runs. FILE is a JSON file or a wrangler.toml (default: ./wrangler.toml), whose
// [vars] (or [env.NAME.vars]) PORTCULLIS_CONFIG is checked.
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { parse } from "smol-toml";
import { repoRoot } from "../tests/support/wrangler-config.mjs";

const args = process.argv.slice(2);
const envIndex = args.indexOf("--env");
const envName = envIndex >= 0 ? args.splice(envIndex, 2)[1] : undefined;
const file = path.resolve(args[0] ?? path.join(repoRoot, "wrangler.toml"));

let json;
if (file.endsWith(".toml")) {
  const toml = parse(readFileSync(file, "utf8"));
  const vars = envName ? toml.env?.[envName]?.vars : toml.vars;
  const value = vars?.PORTCULLIS_CONFIG;
  if (value === undefined) {
    console.log(`${path.relative(process.cwd(), file)}${envName ? ` [env.${envName}]` : ""}: PORTCULLIS_CONFIG is not set, so the embedded development defaults apply.`);
    json = "";
  } else {
    json = typeof value === "string" ? value : JSON.stringify(value);
  }
} else {
  json = readFileSync(file, "utf8");
}

const result = spawnSync(
  "cargo",
  ["run", "--quiet", "--features", "cli", "--bin", "portcullis", "--", "check-config", "-"],
  { cwd: repoRoot, input: json, stdio: ["pipe", "inherit", "inherit"] },
);
process.exit(result.status ?? 1);

// `npm run check-config [-- FILE] [-- --env NAME]`: validates a configuration with the same Rust
// core the worker runs. FILE is a JSON file or a wrangler.toml (default: ./wrangler.toml), whose
// [vars] (or [env.NAME.vars]) PORTCULLIS_CONFIG is checked.
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "smol-toml";
import { repoRoot } from "../tests/support/wrangler-config.mjs";
import { deployedConfig, portcullisTool, takeOption } from "./host-tool.mjs";

const args = process.argv.slice(2);
const envName = takeOption(args, "--env");
const file = path.resolve(args[0] ?? path.join(repoRoot, "wrangler.toml"));

let json;
if (file.endsWith(".toml")) {
  json = deployedConfig(parse(readFileSync(file, "utf8")), envName);
  if (json === undefined) {
    console.log(`${path.relative(process.cwd(), file)}${envName ? ` [env.${envName}]` : ""}: PORTCULLIS_CONFIG is not set, so the embedded development defaults apply.`);
    json = "";
  }
} else {
  json = readFileSync(file, "utf8");
}

const result = portcullisTool(["check-config", "-"], { input: json, stdio: ["pipe", "inherit", "inherit"] });
process.exit(result.status ?? 1);

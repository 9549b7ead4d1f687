// What the scripts that drive the host tool (src/bin/portcullis.rs) share: their options, the
// configuration a wrangler.toml deploys, and running the tool itself (the dev profile, which the
// host tests build too).
import { spawnSync } from "node:child_process";
import { repoRoot } from "../tests/support/wrangler-config.mjs";

/** Removes `name VALUE` from `args` and returns VALUE (undefined when `name` is absent). */
export function takeOption(args, name) {
  const at = args.indexOf(name);
  return at >= 0 ? args.splice(at, 2)[1] : undefined;
}

/**
 * The PORTCULLIS_CONFIG of a parsed wrangler.toml's [vars], or of [env.NAME.vars] (vars are not
 * inherited by an environment), as JSON text; undefined when it is not set.
 */
export function deployedConfig(toml, envName) {
  const vars = envName ? toml.env?.[envName]?.vars : toml.vars;
  const value = vars?.PORTCULLIS_CONFIG;
  if (value === undefined) return undefined;
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Runs `portcullis ARGS...` on the host; `options` are spawnSync's (input, stdio, encoding). */
export function portcullisTool(args, options) {
  return spawnSync("cargo", ["run", "--quiet", "--features", "cli", "--bin", "portcullis", "--", ...args], {
    cwd: repoRoot,
    ...options,
  });
}

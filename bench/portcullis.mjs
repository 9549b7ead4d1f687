// Runs the release build of Portcullis (build/index.js + build/index_bg.wasm) in workerd through
// Miniflare, with the same bindings as wrangler.toml (tests/support/wrangler-config.mjs) and one
// scenario's PORTCULLIS_CONFIG. Each scenario gets its own instance: the configuration is strict
// (unknown fields are refused), so a scenario for a feature that is not built yet must not be able
// to take the others down with it.
import { Miniflare } from "miniflare";
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { miniflareOptions, repoRoot } from "../tests/support/wrangler-config.mjs";
import { workerdLogs } from "./workerd-logs.mjs";

export const BUILD_FILES = ["index.js", "index_bg.wasm"].map((name) => path.join(repoRoot, "build", name));

/**
 * Waits until build/ holds a complete build that has not changed for a second: the worker
 * may be rebuilt by someone else while the benchmark starts, and we never build it ourselves.
 */
export async function waitForBuild({ timeoutS = 900, log = console.error } = {}) {
  const stamp = () => BUILD_FILES.map((file) => (existsSync(file) ? statSync(file).mtimeMs : "missing")).join();
  const deadline = Date.now() + timeoutS * 1000;
  let said = false;
  for (;;) {
    const before = stamp();
    if (!before.includes("missing")) {
      await sleep(1000);
      if (stamp() === before) return;
    } else {
      await sleep(5000);
    }
    if (Date.now() > deadline) throw new Error(`no stable build in build/ after ${timeoutS} s (run \`npm run build\`)`);
    if (!said) log("bench: build/ is missing or being written; waiting for it (the benchmark never builds)");
    said = true;
  }
}

/** The Miniflare options for Portcullis with `config` as PORTCULLIS_CONFIG. */
export function portcullisOptions(config, logs = workerdLogs(), secrets = {}) {
  return { ...miniflareOptions({ bindings: { ...secrets, PORTCULLIS_CONFIG: JSON.stringify(config) } }), ...logs.options };
}

/**
 * Starts Portcullis; resolves to { url, mf, captureLogs(action), close() }. captureLogs lets a
 * probe read the audit and config lines that explain a refusal, since responses deliberately say
 * no more than an error code.
 */
export async function startPortcullis(config, secrets = {}) {
  const logs = workerdLogs();
  const mf = new Miniflare(portcullisOptions(config, logs, secrets));
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return { url, mf, captureLogs: logs.capture, close: () => mf.dispose() };
}

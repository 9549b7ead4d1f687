// Reads wrangler.toml, so that tests, the dev server and the benchmark run the worker with the
// same bindings that `wrangler deploy` would create.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { parse } from "smol-toml";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export function readWranglerConfig() {
  const toml = parse(readFileSync(path.join(repoRoot, "wrangler.toml"), "utf8"));
  return {
    compatibilityDate: toml.compatibility_date,
    compatibilityFlags: toml.compatibility_flags ?? [],
    kvNamespaces: (toml.kv_namespaces ?? []).map((kv) => kv.binding),
    durableObjects: Object.fromEntries(
      (toml.durable_objects?.bindings ?? []).map((b) => [b.name, { className: b.class_name, useSQLite: true }]),
    ),
    assets: toml.assets,
    vars: toml.vars ?? {},
  };
}

/** Miniflare options for the built worker, from wrangler.toml plus overrides. */
export function miniflareOptions({ bindings = {}, persistTo, port = 0, handleStructuredLogs } = {}) {
  const wrangler = readWranglerConfig();
  const assets = wrangler.assets;
  return {
    name: "portcullis",
    modules: true,
    modulesRoot: path.join(repoRoot, "build"),
    scriptPath: path.join(repoRoot, "build", "index.js"),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    compatibilityDate: wrangler.compatibilityDate,
    compatibilityFlags: wrangler.compatibilityFlags,
    kvNamespaces: wrangler.kvNamespaces,
    durableObjects: wrangler.durableObjects,
    assets: {
      directory: path.join(repoRoot, assets.directory),
      binding: assets.binding,
      routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: assets.run_worker_first === true },
      assetConfig: { html_handling: assets.html_handling, not_found_handling: assets.not_found_handling },
    },
    bindings: { ...wrangler.vars, ...bindings },
    host: "127.0.0.1",
    port,
    ...(persistTo
      ? { kvPersist: path.join(persistTo, "kv"), durableObjectsPersist: path.join(persistTo, "do"), cachePersist: path.join(persistTo, "cache") }
      : {}),
    ...(handleStructuredLogs ? { handleStructuredLogs } : {}),
  };
}

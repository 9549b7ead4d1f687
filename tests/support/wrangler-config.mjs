// Reads wrangler.toml, so that tests, the dev server and the benchmark run the worker with the
// same bindings that `wrangler deploy` would create.
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { parse } from "smol-toml";
import { withFaultyBindings } from "./faulty-bindings.mjs";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export function readWranglerConfig() {
  const toml = parse(readFileSync(path.join(repoRoot, "wrangler.toml"), "utf8"));
  return {
    compatibilityDate: toml.compatibility_date,
    compatibilityFlags: toml.compatibility_flags ?? [],
    kvNamespaces: (toml.kv_namespaces ?? []).map((kv) => kv.binding),
    d1Databases: (toml.d1_databases ?? []).map((db) => db.binding),
    d1Migrations: (toml.d1_databases ?? []).map((db) => ({ binding: db.binding, dir: path.join(repoRoot, db.migrations_dir ?? "migrations") })),
    durableObjects: Object.fromEntries(
      (toml.durable_objects?.bindings ?? []).map((b) => [b.name, { className: b.class_name, useSQLite: true }]),
    ),
    assets: toml.assets,
    vars: toml.vars ?? {},
  };
}

/**
 * Miniflare options for the built worker, from wrangler.toml plus overrides. With
 * `faultControlUrl`, its KV, Durable Object and D1 bindings are wrapped to fail on demand (see
 * faulty-bindings.mjs).
 */
export function miniflareOptions({ bindings = {}, persistTo, port = 0, handleStructuredLogs, faultControlUrl, sendEmail = [], log } = {}) {
  const wrangler = readWranglerConfig();
  const assets = wrangler.assets;
  const worker = {
    name: "portcullis",
    modules: true,
    modulesRoot: path.join(repoRoot, "build"),
    scriptPath: path.join(repoRoot, "build", "index.js"),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    compatibilityDate: wrangler.compatibilityDate,
    compatibilityFlags: wrangler.compatibilityFlags,
    kvNamespaces: wrangler.kvNamespaces,
    d1Databases: wrangler.d1Databases,
    durableObjects: wrangler.durableObjects,
    assets: {
      directory: path.join(repoRoot, assets.directory),
      binding: assets.binding,
      routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: assets.run_worker_first === true },
      assetConfig: { html_handling: assets.html_handling, not_found_handling: assets.not_found_handling },
    },
    bindings: { ...wrangler.vars, ...bindings },
    // Cloudflare's send_email bindings, emulated: Miniflare logs each message and keeps its parts.
    ...(sendEmail.length > 0 ? { email: { send_email: sendEmail.map((name) => ({ name })) } } : {}),
  };
  const shared = {
    host: "127.0.0.1",
    port,
    ...(persistTo
      ? {
          kvPersist: path.join(persistTo, "kv"),
          durableObjectsPersist: path.join(persistTo, "do"),
          cachePersist: path.join(persistTo, "cache"),
          d1Persist: path.join(persistTo, "d1"),
        }
      : {}),
    ...(handleStructuredLogs ? { handleStructuredLogs } : {}),
    ...(log ? { log } : {}),
  };
  if (faultControlUrl === undefined) return { ...shared, ...worker };
  return { ...shared, workers: withFaultyBindings(worker, faultControlUrl) };
}

/**
 * Applies the migrations a persisted local D1 has not had yet, recording each in `d1_migrations`
 * as `wrangler d1 migrations apply` does (so either tool can take over the other's database).
 */
export async function applyPendingD1Migrations(mf) {
  for (const { binding, dir } of readWranglerConfig().d1Migrations) {
    const db = await mf.getD1Database(binding);
    await db
      .prepare(
        "CREATE TABLE IF NOT EXISTS d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)",
      )
      .run();
    const applied = new Set((await db.prepare("SELECT name FROM d1_migrations").all()).results.map((row) => row.name));
    for (const file of readdirSync(dir).filter((name) => name.endsWith(".sql")).sort()) {
      if (applied.has(file)) continue;
      const statements = migrationStatements(readFileSync(path.join(dir, file), "utf8")).map((sql) => db.prepare(sql));
      await db.batch([...statements, db.prepare("INSERT INTO d1_migrations (name) VALUES (?)").bind(file)]);
    }
  }
}

/** The SQL statements of a migration file, in order (comments dropped, split at `;`). */
export function migrationStatements(sql) {
  return sql
    .split("\n")
    .map((line) => line.replace(/--.*$/, ""))
    .join("\n")
    .split(";")
    .map((statement) => statement.trim())
    .filter((statement) => statement.length > 0);
}

/**
 * Applies every D1 migration of wrangler.toml, in file order, to a started Miniflare; `named`
 * gives the name a database's binding has on the worker.
 */
export async function applyD1Migrations(mf, named = (binding) => binding) {
  for (const { binding, dir } of readWranglerConfig().d1Migrations) {
    const db = await mf.getD1Database(named(binding));
    for (const file of readdirSync(dir).filter((name) => name.endsWith(".sql")).sort()) {
      for (const statement of migrationStatements(readFileSync(path.join(dir, file), "utf8"))) {
        await db.prepare(statement).run();
      }
    }
  }
}

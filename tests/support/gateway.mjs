// Runs the built worker in workerd through Miniflare, with local KV and Durable Objects, and
// collects what it logs (the audit lines among them).
import { Miniflare } from "miniflare";
import { existsSync } from "node:fs";
import path from "node:path";
import { miniflareOptions, repoRoot } from "./wrangler-config.mjs";

/** `secrets` are extra string bindings, as `wrangler secret put` would create them. */
export async function startGateway({ config, secrets = {} } = {}) {
  if (!existsSync(path.join(repoRoot, "build", "index.js"))) {
    throw new Error("build/index.js is missing: run scripts/build.sh first");
  }
  const logs = [];
  const bindings = { ...secrets };
  if (config !== undefined) bindings.PORTCULLIS_CONFIG = typeof config === "string" ? config : JSON.stringify(config);
  const mf = new Miniflare(
    miniflareOptions({ bindings, handleStructuredLogs: ({ level, message }) => { logs.push({ level, message }); } }),
  );
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return {
    url,
    mf,
    logs,
    /** Audit events logged so far, parsed. */
    auditEvents() {
      return logs.flatMap(({ message }) => {
        try {
          const event = JSON.parse(message);
          return event.event === "auth_decision" ? [event] : [];
        } catch {
          return [];
        }
      });
    },
    async close() {
      await mf.dispose();
    },
  };
}

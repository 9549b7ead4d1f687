// Runs the built worker in workerd through Miniflare, with local KV, Durable Objects and D1 (its
// migrations applied), and
// collects what it logs (the audit lines among them).
import { Log, LogLevel, Miniflare } from "miniflare";
import { existsSync } from "node:fs";
import path from "node:path";
import { applyD1Migrations, miniflareOptions, repoRoot } from "./wrangler-config.mjs";

/** A free TCP port on 127.0.0.1 (for a gateway whose own URL must be in its configuration). */
export async function freePort() {
  const { createServer } = await import("node:net");
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * `secrets` are extra string bindings, as `wrangler secret put` would create them. `port` fixes
 * the gateway's port (0: any), for configurations that name the gateway's own URL. `faults` (from
 * startFaultControl in faulty-bindings.mjs) makes its KV, Durable Object and D1 bindings fail on
 * demand; their real bindings are then named `REAL_<binding>`.
 */
/** Miniflare's own log lines (such as an emulated send_email binding's report), kept. */
class KeptLog extends Log {
  lines = [];
  constructor() {
    super(LogLevel.INFO);
  }
  logWithLevel(level, message) {
    this.lines.push(message);
  }
}

export async function startGateway({ config, secrets = {}, port = 0, faults, sendEmail = [] } = {}) {
  if (!existsSync(path.join(repoRoot, "build", "index.js"))) {
    throw new Error("build/index.js is missing: run scripts/build.sh first");
  }
  const logs = [];
  const bindings = { ...secrets };
  if (config !== undefined) bindings.PORTCULLIS_CONFIG = typeof config === "string" ? config : JSON.stringify(config);
  const runtimeLog = new KeptLog();
  const mf = new Miniflare(
    miniflareOptions({
      bindings,
      port,
      faultControlUrl: faults?.url,
      sendEmail,
      log: runtimeLog,
      handleStructuredLogs: ({ level, message }) => {
        logs.push({ level, message });
      },
    }),
  );
  const url = (await mf.ready).toString().replace(/\/$/, "");
  await applyD1Migrations(mf, faults ? (name) => `REAL_${name}` : (name) => name);
  return {
    url,
    mf,
    logs,
    /** Miniflare's own log lines. */
    runtimeLogs: runtimeLog.lines,
    /** Structured events of one kind logged so far, parsed. */
    events(kind) {
      return logs.flatMap(({ message }) => {
        try {
          const event = JSON.parse(message);
          return event.event === kind ? [event] : [];
        } catch {
          return [];
        }
      });
    },
    /**
     * The first event of `kind` for the request with `requestId`, waiting up to a second for it:
     * audit lines are written as the response leaves, and may arrive just after it.
     */
    async eventFor(kind, requestId) {
      for (let attempt = 0; attempt < 40; attempt++) {
        const event = this.events(kind).find((e) => e.request_id === requestId);
        if (event) return event;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      throw new Error(`no ${kind} event for request ${requestId}; logs:\n${logs.map((l) => l.message).join("\n")}`);
    },
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

// Runs the JavaScript peers (bench/peer/worker.mjs, comparison only) in workerd through its own Miniflare
// instance. Miniflare cannot resolve the bare `jose` import, so the worker is bundled in memory
// with the local esbuild first; nothing is written to disk.
//
// The peer gets exactly Portcullis's static-assets routing (wrangler.toml's [assets] with
// run_worker_first). Locally that routing is an extra worker hop for every request that costs more
// than a JWT verification: it roughly halves a plain JS passthrough (about 3,500 → 1,950 req/s on
// a 2-core machine). Without it, "vs peer" would measure Miniflare's plumbing, not the gateways.
import { build } from "esbuild";
import { exportJWK, generateKeyPair } from "jose";
import { Miniflare } from "miniflare";
import { fileURLToPath } from "node:url";
import { miniflareOptions, readWranglerConfig } from "../../tests/support/wrangler-config.mjs";
import { workerdLogs } from "../workerd-logs.mjs";
import { AUDIENCE, ISSUER } from "../keys.mjs";

let bundled;
// The equal-work peer's assertion key, made once per run.
let assertionJwk;

async function bundle() {
  const result = await build({
    entryPoints: [fileURLToPath(new URL("./worker.mjs", import.meta.url))],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    minify: true,
    write: false,
    logLevel: "silent",
  });
  return result.outputFiles[0].text;
}

/** The Miniflare options for the peer; exported for the cold-start measurement. */
export async function peerOptions({ originUrl, jwksUrl }) {
  bundled ??= await bundle();
  assertionJwk ??= JSON.stringify(await exportJWK((await generateKeyPair("ES256", { extractable: true })).privateKey));
  const { compatibilityDate } = readWranglerConfig();
  return {
    name: "jose-peer",
    modules: [{ type: "ESModule", path: "peer.mjs", contents: bundled }],
    compatibilityDate,
    bindings: { ORIGIN: originUrl, JWKS_URL: jwksUrl, ISSUER, AUDIENCE, ASSERTION_JWK: assertionJwk },
    assets: miniflareOptions().assets,
    host: "127.0.0.1",
    port: 0,
    ...workerdLogs().options,
  };
}

/** Starts the peer; resolves to { url, mf, bundleBytes, close() }. */
export async function startPeer(options) {
  const mf = new Miniflare(await peerOptions(options));
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return { url, mf, bundleBytes: Buffer.byteLength(bundled), close: () => mf.dispose() };
}

// The size of what `wrangler deploy` uploads, computed as wrangler does (gzip at zlib's default
// level); the Workers limit applies to the compressed total.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import path from "node:path";
import { repoRoot } from "../tests/support/wrangler-config.mjs";

function sizes(bytes) {
  return { bytes: bytes.length, gzip_bytes: gzipSync(bytes).length };
}

export function bundleSize() {
  const wasm = readFileSync(path.join(repoRoot, "build", "index_bg.wasm"));
  const glue = readFileSync(path.join(repoRoot, "build", "index.js"));
  return { wasm: sizes(wasm), js_glue: sizes(glue), total: sizes(Buffer.concat([wasm, glue])) };
}

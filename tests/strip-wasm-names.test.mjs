// The release build's name stripping (scripts/strip-wasm-names.mjs): only the `name` section goes,
// and the worker that runs in every other test file is the stripped one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { withoutNames } from "../scripts/strip-wasm-names.mjs";
import { repoRoot } from "./support/wrangler-config.mjs";

const section = (id, bytes) => Buffer.concat([Buffer.from([id, bytes.length]), bytes]);
const custom = (name, payload) => section(0, Buffer.concat([Buffer.from([name.length]), Buffer.from(name), payload]));
const header = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

test("only the name section is dropped; every other section stays byte for byte", async () => {
  const type = section(1, Buffer.from([0x01, 0x60, 0x00, 0x00]));
  const producers = custom("producers", Buffer.from([0x00]));
  const module = Buffer.concat([header, type, custom("name", Buffer.from([0x01, 0x02, 0x03])), producers]);
  assert.deepEqual(withoutNames(module), Buffer.concat([header, type, producers]));
  assert.ok(await WebAssembly.validate(withoutNames(module)));
  assert.throws(() => withoutNames(Buffer.from("not wasm at all")), /not a wasm module/);
  assert.throws(() => withoutNames(Buffer.concat([header, Buffer.from([0x01, 0x7f])])), /truncated/);
});

test("the built worker has no name section unless PORTCULLIS_KEEP_NAMES asked for one", () => {
  // (Node's own WebAssembly cannot compile the worker, which uses workerd's newer wasm features;
  // the section walk needs no compiler.)
  const wasm = readFileSync(path.join(repoRoot, "build", "index_bg.wasm"));
  const stripped = withoutNames(wasm).length === wasm.length;
  assert.equal(stripped, process.env.PORTCULLIS_KEEP_NAMES !== "1", "names only when asked for");
});

// Drops the `name` custom section from the release wasm (build/index_bg.wasm): function names
// that only debuggers and profilers read. It is about 280 KiB raw and 75 KiB gzip of the upload,
// and workerd compiles less. `PORTCULLIS_KEEP_NAMES=1 npm run build` keeps them, for CPU profiles
// (`npm run bench -- --profile ROW`) that show Rust functions by name.
import { readFileSync, writeFileSync } from "node:fs";

/** The module without its `name` section (every other section byte for byte). */
export function withoutNames(wasm) {
  if (wasm.length < 8 || wasm.readUInt32LE(0) !== 0x6d736100) throw new Error("not a wasm module");
  const kept = [wasm.subarray(0, 8)];
  let offset = 8;
  const leb = () => {
    let value = 0;
    let shift = 0;
    let byte;
    do {
      if (offset >= wasm.length) throw new Error("truncated wasm module");
      byte = wasm[offset++];
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return value;
  };
  while (offset < wasm.length) {
    const start = offset;
    const id = wasm[offset++];
    const size = leb();
    const body = offset;
    const end = body + size;
    if (end > wasm.length) throw new Error("truncated wasm module");
    let drop = false;
    if (id === 0) {
      const nameLength = leb();
      drop = wasm.subarray(offset, offset + nameLength).toString() === "name";
    }
    offset = end;
    if (!drop) kept.push(wasm.subarray(start, end));
  }
  return Buffer.concat(kept);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2] ?? "build/index_bg.wasm";
  if (process.env.PORTCULLIS_KEEP_NAMES === "1") {
    console.error(`strip-wasm-names: PORTCULLIS_KEEP_NAMES=1, ${file} keeps its function names`);
  } else {
    const before = readFileSync(file);
    const after = withoutNames(before);
    writeFileSync(file, after);
    console.error(`strip-wasm-names: ${file} ${before.length} → ${after.length} bytes`);
  }
}

// The long mode of the generative tests: `npm run fuzz -- --minutes N` (default 10) runs every
// parser's properties again and again, each run with fresh random seeds and `--scale` (default 16)
// times the cases CI runs, until N minutes have passed. A failing case's seed is written to
// tests/corpus/proptest-seeds.txt, which every generative test replays first, in CI too: commit it
// with the fix. At the end it prints, per parser, the properties and the cases run.
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  const value = at >= 0 ? Number(args[at + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
  return value;
};
const minutes = option("minutes", 10);
const scale = Math.floor(option("scale", 16));

/** Every source file under `dir`. */
function sources(dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sources(full) : full.endsWith(".rs") ? [full] : [];
  });
}

/** The parsers' generative blocks: file, the cases per property CI runs, and the property names. */
function generativeBlocks() {
  return sources(path.join(root, "src")).flatMap((file) => {
    const text = readFileSync(file, "utf8");
    const config = /proptest! \{\s*#!\[proptest_config\(crate::testing::generative\((\d+)\)\)\]/.exec(text);
    if (!config) return [];
    // The macro's body, by brace matching from its opening brace.
    let depth = 0;
    let end = config.index;
    for (let i = text.indexOf("{", config.index); i < text.length; i++) {
      if (text[i] === "{") depth++;
      else if (text[i] === "}" && --depth === 0) {
        end = i;
        break;
      }
    }
    const body = text.slice(config.index, end);
    const properties = [...body.matchAll(/#\[test\]\s*fn (\w+)/g)].map((m) => m[1]);
    return [{ file: path.relative(root, file), cases: Number(config[1]), properties }];
  });
}

const blocks = generativeBlocks();
const deadline = Date.now() + minutes * 60_000;
let runs = 0;
console.log(`fuzzing ${blocks.length} parsers for ${minutes} min, ${scale}x the CI cases per run`);
while (Date.now() < deadline) {
  const started = Date.now();
  const result = spawnSync(
    "cargo",
    ["test", "--locked", "--all-features", "--lib", "--", "--quiet", ...blocks.flatMap((b) => b.properties)],
    { cwd: root, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, PORTCULLIS_FUZZ_SCALE: String(scale) } },
  );
  if (result.status !== 0) {
    console.error("a generative test failed: its seed is now in tests/corpus/proptest-seeds.txt (see the output above)");
    process.exit(1);
  }
  runs++;
  console.log(`run ${runs} passed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

const rows = blocks.map((b) => [b.file, String(b.properties.length), String(b.cases * scale * runs * b.properties.length)]);
const header = ["parser (file)", "properties", "cases run"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
console.log(`\n${runs} runs, no failures\n${line(header)}`);
for (const row of rows) console.log(line(row));

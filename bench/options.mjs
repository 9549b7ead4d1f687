// Command-line flags (each also settable by environment variable) and their defaults. The
// defaults keep a full run near 5 minutes on a 2-core machine once every row is built; --quick
// is a smoke run of about a minute.
import { parseArgs } from "node:util";
import path from "node:path";
import { repoRoot } from "../tests/support/wrangler-config.mjs";

const FLAGS = {
  warmup: { env: "BENCH_WARMUP_S", full: 2, quick: 1, help: "seconds of unmeasured load before each measurement" },
  duration: { env: "BENCH_DURATION_S", full: 5, quick: 2, help: "seconds of each measurement" },
  rounds: { env: "BENCH_ROUNDS", full: 3, quick: 2, help: "measurements per row, rows taken round-robin" },
  connections: { env: "BENCH_CONNECTIONS", full: 16, quick: 16, help: "wrk connections, kept alive through each run" },
  // One wrk thread: on 2 cores wrk, workerd and the origin already compete for the CPU.
  threads: { env: "BENCH_THREADS", full: 1, quick: 1, help: "wrk threads" },
  "cold-samples": { env: "BENCH_COLD_SAMPLES", full: 5, quick: 3, help: "fresh instances timed for the cold start" },
};

export const USAGE = `usage: node bench/run.mjs [--quick] [--only=SUBSTRING] [--out=FILE] ${Object.keys(FLAGS).map((f) => `[--${f}=N]`).join(" ")}

  --quick          a ~1 minute smoke run (shorter, fewer rounds)
  --only=TEXT      measure only rows whose id contains TEXT (the origin and passthrough always run)
  --out=FILE       where to write the JSON results (default bench/results/latest.json)
  --profile=ROW    instead of the run: a CPU profile of one Portcullis row (its id, say jwt-es256) under
                   load, saved as bench/results/ROW.cpuprofile, and its top frames by self time
${Object.entries(FLAGS).map(([flag, f]) => `  --${flag.padEnd(15)}${f.help} (default ${f.full}, quick ${f.quick}; env ${f.env})`).join("\n")}`;

/** The parsed options, as numbers where they are numbers. */
export function readOptions(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
      only: { type: "string" },
      profile: { type: "string" },
      out: { type: "string", default: path.join(repoRoot, "bench", "results", "latest.json") },
      ...Object.fromEntries(Object.keys(FLAGS).map((flag) => [flag, { type: "string" }])),
    },
  });
  const options = { quick: values.quick, help: values.help, only: values.only, profile: values.profile, out: path.resolve(values.out) };
  for (const [flag, f] of Object.entries(FLAGS)) {
    const raw = values[flag] ?? process.env[f.env] ?? (values.quick ? f.quick : f.full);
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${flag} must be a positive whole number, not ${JSON.stringify(raw)}`);
    options[flag.replace(/-(\w)/g, (_, c) => c.toUpperCase())] = value;
  }
  return options;
}

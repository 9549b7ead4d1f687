// `npm run bench`: Portcullis's benchmark (issue 8). See bench/README.md.
//
// The release build runs in workerd through Miniflare (never `wrangler dev`, whose proxy caps a
// local run at about 200 requests/s), in front of a lean origin on 127.0.0.1. wrk loads each row
// with fixed connections: a warm-up, then a measurement, for several rounds taken round-robin so
// that drift (heat, other work on the machine) hits every row alike. The table shows the median
// of the rounds with their min and max; bench/results/latest.json has every round.
import { mkdirSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { bundleSize } from "./bundle-size.mjs";
import { measureColdStart } from "./cold-start.mjs";
import { directoryTable, measureDirectory } from "./directory.mjs";
import { AUDIENCE, ISSUER, SUBJECT, makeJwtMaterial } from "./keys.mjs";
import { USAGE, readOptions } from "./options.mjs";
import { startBenchOrigin } from "./origin.mjs";
import { peerOptions, startPeer } from "./peer/start.mjs";
import { portcullisOptions, startPortcullis, waitForBuild } from "./portcullis.mjs";
import { probe } from "./probe.mjs";
import { framesTable, profileRow } from "./profile.mjs";
import { bundleTable, coldStartTable, scenarioTable, targetTable } from "./report.mjs";
import { scenarios } from "./scenarios.mjs";
import { spread } from "./stats.mjs";
import { hasWrk, wrk } from "./wrk.mjs";

const say = (message) => process.stderr.write(`bench: ${message}\n`);
// Rows that always run, whatever --only says: every ratio is relative to passthrough.
const ALWAYS = new Set(["origin", "passthrough", "js-passthrough"]);

// Everything started is closed on the way out. On Ctrl+C, Miniflare's own exit hook stops its
// workerd processes and exits; the origin and wrk children stop with us (origin.mjs, wrk.mjs).
const closers = [];
async function closeAll() {
  for (const close of closers.splice(0).reverse()) await close().catch(() => {});
}

let options;
try {
  options = readOptions();
} catch (error) {
  console.error(`${error.message}\n\n${USAGE}`);
  process.exit(2);
}
if (options.help) {
  console.log(USAGE);
  process.exit(0);
}
try {
  await main();
} catch (error) {
  console.error(`bench: ${error.message}`);
  process.exitCode = 1;
} finally {
  await closeAll();
}

async function main() {
  if (!(await hasWrk())) throw new Error("wrk is not installed; run `bash scripts/bootstrap.sh --with-bench`");
  await waitForBuild({ log: say });
  const startedAt = performance.now();
  // Other work on the machine (a compiler, say) skews every number; say so up front.
  const idle = await idleFraction();
  if (idle < 0.75) say(`warning: the CPUs were only ${Math.round(idle * 100)}% idle before the run; expect noisy numbers`);

  const { jwks, tokens } = await makeJwtMaterial();
  const origin = await startBenchOrigin({ jwks });
  closers.push(origin.close);
  const jwksUrl = `${origin.url}/.well-known/jwks.json`;
  const peer = await startPeer({ originUrl: origin.url, jwksUrl });
  closers.push(peer.close);
  const ctx = {
    originUrl: origin.url,
    jwksUrl,
    jwks,
    tokens,
    issuer: ISSUER,
    audience: AUDIENCE,
    subject: SUBJECT,
    sessionId: randomBytes(48).toString("base64url"),
  };

  if (options.profile) {
    const row = scenarios(ctx).find((candidate) => candidate.id === options.profile);
    if (!row) throw new Error(`--profile: no row ${options.profile}; the rows are ${scenarios(ctx).map((r) => r.id).join(", ")}`);
    mkdirSync(path.dirname(options.out), { recursive: true });
    const profiled = await profileRow(row, {
      connections: options.connections, threads: options.threads, warmupS: options.warmup, durationS: options.duration,
      outDir: path.dirname(options.out), log: say,
    });
    console.log(framesTable(row.id, profiled.frames));
    return;
  }
  const rows = scenarios(ctx).filter((row) => !options.only || ALWAYS.has(row.id) || row.id.includes(options.only));
  for (const row of rows) {
    Object.assign(row, await prepare(row, { origin, peer }));
    if (row.state !== "ready") say(`${row.id}: ${row.state}: ${row.reason}`);
  }
  const passthrough = rows.find((row) => row.id === "passthrough");
  if (passthrough.state !== "ready") throw new Error(`the passthrough route does not work (${passthrough.reason}): is build/ a working build?`);

  // Cold starts: Portcullis on passthrough, and beside the peer on the same JWT request when
  // that row is built (its first request then includes fetching the JWKS, as the peer's does).
  const rowById = (id) => rows.find((row) => row.id === id);
  const coldTargets = [
    ["Portcullis, passthrough", rowById("passthrough"), (row) => portcullisOptions(row.config)],
    ["Portcullis, JWT ES256", rowById("jwt-es256"), (row) => portcullisOptions(row.config)],
    ["jose peer, JWT ES256", rowById("jwt-es256-peer"), () => peerOptions({ originUrl: origin.url, jwksUrl })],
  ].filter(([, row]) => row?.state === "ready");
  say(`cold start: ${options.coldSamples} fresh instances each of ${coldTargets.map(([name]) => name).join("; ")}`);
  const coldStart = {};
  for (const [name, row, makeOptions] of coldTargets) {
    coldStart[name] = await measureColdStart({ makeOptions: () => makeOptions(row), path: row.path, headers: row.headers, samples: options.coldSamples });
  }

  await runLoad(rows.filter((row) => row.state === "ready"));
  const directory = !options.only || options.only.includes("directory")
    ? await measureDirectory({ samples: options.quick ? 5 : 15, log: say })
    : [];

  const results = summarise(rows);
  const bundle = { ...bundleSize(), jose_peer_bytes: peer.bundleBytes };
  console.log(
    [
      `Portcullis benchmark: wrk, ${options.connections} connections, ${options.threads} thread(s), ${options.warmup} s warm-up + ${options.duration} s measured × ${options.rounds} rounds; ${os.cpus().length} CPUs, ${Math.round(idle * 100)}% idle before the run`,
      "",
      scenarioTable(results),
      "vs pass, vs peer, vs equal: requests/s as a multiple of Portcullis passthrough's; of the plain JS peer's (the JS",
      "passthrough worker for passthrough, the jose peer for the same algorithm); and of the equal-work jose peer's.",
      "p50 1 conn: median latency with one connection (no queueing); added p50: that, minus passthrough's.",
      ...referenceNotes(results),
      "",
      bundleTable(bundle),
      "",
      coldStartTable(coldStart),
      "",
      targetTable(results, bundle, coldStart),
      ...(directory.length ? ["", directoryTable(directory)] : []),
    ].join("\n"),
  );

  const report = {
    generated_at: new Date().toISOString(),
    elapsed_s: (performance.now() - startedAt) / 1000,
    machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model, idle_before_run: idle, node: process.version, miniflare: packageVersion("miniflare"), jose: packageVersion("jose") },
    settings: { quick: options.quick, warmup_s: options.warmup, duration_s: options.duration, rounds: options.rounds, connections: options.connections, threads: options.threads },
    // Headers (tokens, keys) and ephemeral URLs are left out; the config each row ran with stays.
    scenarios: results.map(({ seed, headers, url, ...rest }) => rest),
    bundle,
    cold_start_ms: coldStart,
    directory_ms: directory,
  };
  mkdirSync(path.dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
  say(`wrote ${path.relative(process.cwd(), options.out)} in ${Math.round(report.elapsed_s)} s`);
}

/** Starts what a row needs and probes it: { state, reason?, url, rounds }. */
async function prepare(row, { origin, peer }) {
  if (row.gateway !== "portcullis") {
    const url = row.gateway === "origin" ? origin.url : peer.url;
    return { ...(await probe({ url, path: row.path, headers: row.headers, credential: row.credential })), url, rounds: [] };
  }
  const instance = await startPortcullis(row.config);
  await row.seed?.(instance.mf);
  const verdict = await probe({ url: instance.url, captureLogs: instance.captureLogs, path: row.path, headers: row.headers, credential: row.credential });
  // An instance that will not be measured would only hold memory for the rest of the run.
  if (verdict.state === "ready") closers.push(instance.close);
  else await instance.close();
  return { ...verdict, url: instance.url, rounds: [] };
}

/** Warm-up and measurement of every row, round-robin; results land in row.rounds. */
async function runLoad(contenders) {
  const perRun = options.warmup + options.duration;
  say(`load: ${contenders.length} rows × ${options.rounds} rounds × ${perRun} s ≈ ${Math.ceil((contenders.length * options.rounds * perRun) / 60)} min`);
  const load = { connections: options.connections, threads: options.threads };
  for (let round = 0; round < options.rounds; round++) {
    // Rotate the order too, so that no row always runs first after a pause, or after the origin.
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]);
    for (const row of order) {
      const url = row.url + row.path;
      await wrk(url, { ...load, headers: row.headers, durationS: options.warmup });
      const result = await wrk(url, { ...load, headers: row.headers, durationS: options.duration });
      row.rounds.push(result);
      say(`round ${round + 1}/${options.rounds}  ${row.id.padEnd(16)} ${Math.round(result.rps).toString().padStart(7)} req/s  p50 ${result.p50_ms.toFixed(2)} ms`);
    }
  }
  // Latency without queueing: one connection, so p50 is the time one request takes. With 16
  // connections p50 mostly measures the queue, which hides what a gateway adds per request.
  for (const row of contenders) {
    const url = row.url + row.path;
    const single = { connections: 1, threads: 1, headers: row.headers };
    await wrk(url, { ...single, durationS: 1 });
    row.single = await wrk(url, { ...single, durationS: options.duration });
    say(`one connection     ${row.id.padEnd(16)} p50 ${row.single.p50_ms.toFixed(3)} ms`);
  }
}

/** Medians, spreads and ratios per row. */
function summarise(rows) {
  const measured = rows.map((row) => {
    if (row.state !== "ready") return { ...row, rounds: undefined };
    const of = (key) => spread(row.rounds.map((r) => r[key]));
    const total = (key) => row.rounds.reduce((n, r) => n + r[key], 0);
    return {
      ...row,
      state: "measured",
      rps: of("rps"),
      p50_ms: of("p50_ms"),
      p99_ms: of("p99_ms"),
      p50_one_connection_ms: row.single?.p50_ms,
      non_2xx: total("non_2xx"),
      socket_errors: total("socket_errors"),
    };
  });
  const byId = new Map(measured.map((row) => [row.id, row]));
  const rpsOf = (id) => (byId.get(id)?.state === "measured" ? byId.get(id).rps.median : undefined);
  return measured.map((row) => {
    if (row.state !== "measured") return row;
    const ratioTo = (id) => (id && rpsOf(id) ? row.rps.median / rpsOf(id) : undefined);
    const passthroughP50 = byId.get("passthrough")?.p50_one_connection_ms;
    const added = row.p50_one_connection_ms !== undefined && passthroughP50 !== undefined ? row.p50_one_connection_ms - passthroughP50 : undefined;
    return {
      ...row,
      ratio_to_passthrough: ratioTo("passthrough"),
      ratio_to_peer: ratioTo(row.peer),
      ratio_to_equal: ratioTo(row.equal),
      ratio_to_reference: ratioTo(row.reference),
      added_p50_over_passthrough_ms: row.gateway === "portcullis" && row.id !== "passthrough" ? added : undefined,
    };
  });
}

/** "policy, 1,000 rules: 0.93× the requests/s of policy, 10 rules." for rows with a reference. */
function referenceNotes(results) {
  return results
    .filter((row) => row.ratio_to_reference !== undefined)
    .map((row) => `${row.label}: ${row.ratio_to_reference.toFixed(2)}× the requests/s of ${results.find((r) => r.id === row.reference).label}.`);
}

/** The fraction of CPU time that was idle over the next second, across all CPUs. */
async function idleFraction() {
  const sample = () =>
    os.cpus().reduce((t, { times }) => ({ idle: t.idle + times.idle, all: t.all + Object.values(times).reduce((a, b) => a + b, 0) }), { idle: 0, all: 0 });
  const before = sample();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const after = sample();
  return (after.idle - before.idle) / (after.all - before.all);
}

function packageVersion(name) {
  return createRequire(import.meta.url)(`${name}/package.json`).version;
}

// `npm run bench -- --profile ROW`: a CPU profile of Portcullis under load for one row, taken
// through workerd's inspector (Miniflare's `inspectorPort`) with the DevTools protocol's
// Profiler.start/stop. The profile is saved as bench/results/<row>.cpuprofile (open it in Chrome
// DevTools' Performance panel, or speedscope), and the top frames by self time are printed. Rust
// frames show by name when the build kept its `name` section: `PORTCULLIS_KEEP_NAMES=1 npm run
// bench -- --profile ROW` (the release build drops it; scripts/strip-wasm-names.mjs).
import { readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { Miniflare } from "miniflare";
import WebSocket from "ws";
import { withoutNames } from "../scripts/strip-wasm-names.mjs";
import { BUILD_FILES, portcullisOptions } from "./portcullis.mjs";
import { probe } from "./probe.mjs";
import { wrk } from "./wrk.mjs";

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

/** A DevTools protocol session over the inspector's WebSocket. */
async function devtools(url) {
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  let next = 0;
  const waiting = new Map();
  socket.on("message", (data) => {
    const message = JSON.parse(data.toString());
    const pending = waiting.get(message.id);
    if (!pending) return;
    waiting.delete(message.id);
    if (message.error) pending.reject(new Error(`${message.error.message}`));
    else pending.resolve(message.result);
  });
  return {
    send(method, params = {}) {
      const id = ++next;
      socket.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
    },
    close: () => socket.close(),
  };
}

/** The frames with the most self time: [{ name, where, self_ms, share }]. */
export function topFrames(profile, count = 25) {
  const intervalUs = (profile.endTime - profile.startTime) / Math.max(1, profile.samples.length);
  const totals = new Map();
  let all = 0;
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || "(anonymous)";
    const where = url ? `${path.basename(url)}${lineNumber >= 0 ? `:${lineNumber + 1}` : ""}` : "";
    const key = `${name}\u0000${where}`;
    const self = (node.hitCount ?? 0) * intervalUs;
    all += self;
    totals.set(key, (totals.get(key) ?? 0) + self);
  }
  return [...totals.entries()]
    .map(([key, us]) => {
      const [name, where] = key.split("\u0000");
      return { name, where, self_ms: us / 1000, share: all ? us / all : 0 };
    })
    .sort((a, b) => b.self_ms - a.self_ms)
    .slice(0, count);
}

/** Profiles `row` (a Portcullis row) for `durationS` seconds of wrk load after a warm-up. */
export async function profileRow(row, { connections, threads, warmupS, durationS, outDir, log }) {
  if (row.gateway !== "portcullis") throw new Error(`--profile: ${row.id} is not a Portcullis row`);
  const wasm = readFileSync(BUILD_FILES[1]);
  if (withoutNames(wasm).length === wasm.length) {
    log("profile: build/ has no function names, so Rust frames show as wasm-function[N]: run it as PORTCULLIS_KEEP_NAMES=1 npm run bench -- --profile ROW");
  }
  const inspectorPort = await freePort();
  const mf = new Miniflare({ ...portcullisOptions(row.config), inspectorPort });
  try {
    const url = (await mf.ready).toString().replace(/\/$/, "");
    await row.seed?.(mf);
    const verdict = await probe({ url, path: row.path, headers: row.headers, credential: row.credential });
    if (verdict.state !== "ready") throw new Error(`--profile: ${row.id} is ${verdict.state}: ${verdict.reason}`);
    const load = { connections, threads, headers: row.headers };
    await wrk(url + row.path, { ...load, durationS: warmupS });
    const session = await devtools(`ws://127.0.0.1:${inspectorPort}/core:user:portcullis`);
    await session.send("Profiler.enable");
    await session.send("Profiler.setSamplingInterval", { interval: 100 });
    await session.send("Profiler.start");
    const measured = await wrk(url + row.path, { ...load, durationS });
    const { profile } = await session.send("Profiler.stop");
    session.close();
    const file = path.join(outDir, `${row.id}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    log(`profile: ${row.id}: ${Math.round(measured.rps)} req/s while profiling; ${profile.samples.length} samples → ${path.relative(process.cwd(), file)}`);
    return { file, frames: topFrames(profile), rps: measured.rps };
  } finally {
    await mf.dispose();
  }
}

/** The top frames as a table. */
export function framesTable(rowId, frames) {
  const lines = [`top frames by self time, ${rowId} (share of all samples)`, ""];
  for (const frame of frames) {
    lines.push(`${(frame.share * 100).toFixed(1).padStart(5)}%  ${frame.self_ms.toFixed(0).padStart(6)} ms  ${frame.name}${frame.where ? `  (${frame.where})` : ""}`);
  }
  return lines.join("\n");
}

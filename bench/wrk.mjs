// Runs wrk, the load generator, and returns its results as numbers (see wrk-report.lua).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";

const run = promisify(execFile);
const REPORT_SCRIPT = fileURLToPath(new URL("./wrk-report.lua", import.meta.url));

/**
 * One wrk run against `url` with fixed connections and duration.
 * Returns { rps, p50_ms, p99_ms, requests, non_2xx, socket_errors }.
 */
export async function wrk(url, { headers = {}, connections, threads, durationS }) {
  const args = ["-c", String(connections), "-t", String(threads), "-d", `${durationS}s`, "--timeout", "10s", "-s", REPORT_SCRIPT];
  for (const [name, value] of Object.entries(headers)) args.push("-H", `${name}: ${value}`);
  args.push(url);
  const running = run("wrk", args, { maxBuffer: 1 << 20 });
  // Miniflare ends the process on Ctrl+C; do not leave a wrk loading a dead port behind.
  const kill = () => running.child.kill();
  process.once("exit", kill);
  const { stdout } = await running.finally(() => process.removeListener("exit", kill));
  const line = stdout.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (!line) throw new Error(`wrk printed no results:\n${stdout}`);
  const r = JSON.parse(line.slice("WRK_JSON ".length));
  const { connect, read, write, timeout, status } = r.errors;
  return {
    rps: r.requests / (r.duration_us / 1e6),
    p50_ms: r.p50_us / 1000,
    p99_ms: r.p99_us / 1000,
    requests: r.requests,
    // wrk counts answers outside 2xx/3xx as "status" errors.
    non_2xx: status,
    socket_errors: connect + read + write + timeout,
  };
}

/** Whether wrk is installed (scripts/bootstrap.sh --with-bench installs it). */
export async function hasWrk() {
  try {
    await run("wrk", ["--version"]);
    return true;
  } catch (error) {
    // wrk --version prints its usage and exits with 1; only a missing binary is ENOENT.
    return error.code !== "ENOENT";
  }
}

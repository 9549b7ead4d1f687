// Plain-text tables for the terminal. The JSON file has the same numbers, unrounded.

const GATEWAY_NAMES = { origin: "origin", portcullis: "Portcullis", peer: "JS peer" };

const int = (n) => Math.round(n).toLocaleString("en-US");
const ms = (n) => (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));
const ratio = (n) => (n === undefined ? "" : `${n.toFixed(2)}×`);
const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
const withRange = (s, format) => `${format(s.median)} (${format(s.min)}–${format(s.max)})`;

/**
 * Aligned columns. A row is an array of cells, or { lead, text }: its first cells, then free text
 * that runs across the remaining columns without widening them (a "not built" reason).
 */
function table(header, rows) {
  const cellsOf = (row) => (Array.isArray(row) ? row : row.lead);
  const widths = header.map((_, i) => Math.max(...[header, ...rows.map(cellsOf)].map((r) => String(r[i] ?? "").length)));
  const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join("  ").trimEnd();
  const render = (row) => (Array.isArray(row) ? line(row) : `${line(row.lead).padEnd(row.lead.reduce((n, _, i) => n + widths[i] + 2, 0))}${row.text}`);
  return [line(header), line(widths.map((w) => "─".repeat(w))), ...rows.map(render)].join("\n");
}

/** The scenario table: medians over rounds, with min–max, and throughput ratios. */
export function scenarioTable(results) {
  const header = ["scenario", "gateway", "requests/s (min–max)", "p50 ms (min–max)", "p99 ms (min–max)", "p50 1 conn", "added p50", "vs pass", "vs peer", "vs equal"];
  const rows = results.map((r) => {
    const lead = [r.label, GATEWAY_NAMES[r.gateway]];
    if (r.state !== "measured") return { lead, text: `${r.state}${r.reason ? `: ${r.reason}` : ""}` };
    const warn = r.non_2xx || r.socket_errors ? `  ! ${r.non_2xx} non-2xx, ${r.socket_errors} socket errors` : "";
    const one = r.p50_one_connection_ms === undefined ? "" : r.p50_one_connection_ms.toFixed(3);
    const added = r.added_p50_over_passthrough_ms === undefined ? "" : `${r.added_p50_over_passthrough_ms >= 0 ? "+" : ""}${r.added_p50_over_passthrough_ms.toFixed(3)}`;
    return [...lead, withRange(r.rps, int), withRange(r.p50_ms, ms), withRange(r.p99_ms, ms), one, added, ratio(r.ratio_to_passthrough), ratio(r.ratio_to_peer), ratio(r.ratio_to_equal) + warn];
  });
  return table(header, rows);
}

export function bundleTable(bundle) {
  const rows = [
    ["build/index_bg.wasm", kib(bundle.wasm.bytes), kib(bundle.wasm.gzip_bytes)],
    ["build/index.js (JS glue)", kib(bundle.js_glue.bytes), kib(bundle.js_glue.gzip_bytes)],
    ["total upload", kib(bundle.total.bytes), kib(bundle.total.gzip_bytes)],
  ];
  if (bundle.jose_peer_bytes) rows.push(["jose peer bundle, for scale", kib(bundle.jose_peer_bytes), ""]);
  return table(["bundle", "raw", "gzip"], rows);
}

export function coldStartTable(coldStarts) {
  const rows = Object.entries(coldStarts).map(([name, c]) => [
    name,
    withRange(c.ready_ms, ms),
    withRange(c.first_response_ms, ms),
    withRange(c.first_request_ms, ms),
    withRange(c.warm_request_ms, ms),
  ]);
  return table(["cold start, ms (min–max)", "new → ready", "new → first 200", "first request after ready", "second request"], rows);
}

/**
 * The performance targets (issue 19), each against this run's numbers: met, or missed by how much.
 * They live here, in the report, never in a timed test.
 */
export function targetTable(results, bundle, coldStarts) {
  const byId = new Map(results.filter((r) => r.state === "measured").map((r) => [r.id, r]));
  const rows = [];
  // `at_least`: the measured value must be ≥ the target; otherwise ≤.
  const check = (name, target, measured, format, atLeast) => {
    if (measured === undefined) return rows.push([name, format(target), "not measured", ""]);
    const met = atLeast ? measured >= target : measured <= target;
    const by = atLeast ? 1 - measured / target : measured / target - 1;
    rows.push([name, `${atLeast ? "≥" : "≤"} ${format(target)}`, format(measured), met ? "met" : `missed by ${(by * 100).toFixed(0)}%`]);
  };
  const x = (n) => `${n.toFixed(2)}×`;
  check("passthrough vs plain JS worker", 0.95, byId.get("passthrough")?.ratio_to_peer, x, true);
  for (const alg of ["es256", "rs256", "eddsa"]) {
    const row = byId.get(`jwt-${alg}`);
    check(`JWT ${alg.toUpperCase()} vs jose peer`, 1.0, row?.ratio_to_peer, x, true);
    check(`JWT ${alg.toUpperCase()} vs equal-work peer`, 1.2, row?.ratio_to_equal, x, true);
    check(`JWT ${alg.toUpperCase()}, no token cache, vs jose peer`, 0.9, byId.get(`jwt-${alg}-nocache`)?.ratio_to_peer, x, true);
    check(`JWT ${alg.toUpperCase()} added p50, 1 connection`, 0.1, row?.added_p50_over_passthrough_ms, (n) => `${n.toFixed(3)} ms`, false);
  }
  for (const [id, target] of [["api-key", 0.9], ["session", 0.9], ["rate-limited", 0.8]]) {
    check(`${id} vs passthrough`, target, byId.get(id)?.ratio_to_passthrough, x, true);
  }
  check("upload, gzip", 1024 * 1024, bundle.total.gzip_bytes, kib, false);
  const ready = coldStarts["Portcullis, JWT ES256"]?.ready_ms.median;
  const peerReady = coldStarts["jose peer, JWT ES256"]?.ready_ms.median;
  check("new → ready vs the peer's", 1.2, ready && peerReady ? ready / peerReady : undefined, x, false);
  check("first request after ready, public route", 12, coldStarts["Portcullis, passthrough"]?.first_request_ms.median, (n) => `${ms(n)} ms`, false);
  return table(["target (issue 19)", "target", "measured", ""], rows);
}

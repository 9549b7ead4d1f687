// One GET over a fresh connection with node:http. Probes and cold-start timings use this rather
// than fetch(): Node loads undici lazily on the first fetch(), which would add tens of
// milliseconds to whichever measurement came first, and a fresh connection is what a cold
// client sees.
import http from "node:http";

/** Resolves to { status, headers, body } (body as text). */
export function httpGet(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers, agent: false }, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks).toString("utf8") }));
      response.on("error", reject);
    });
    request.on("error", reject);
    request.setTimeout(30_000, () => request.destroy(new Error(`GET ${url} timed out`)));
  });
}

// Cold start: how long a fresh workerd (a new Miniflare instance) takes to serve its first
// request. Per sample, three intervals are timed:
//   ready_ms           new Miniflare(...) until mf.ready (workerd started, worker compiled)
//   first_response_ms  new Miniflare(...) until the first 200 (what a client waiting on a cold
//                      instance sees)
//   first_request_ms   mf.ready until that first 200 (the first request's own cost: isolate and
//                      Wasm instantiation, config parsing)
// plus warm_request_ms, a second request on the same instance, for reference. Every request uses
// a fresh connection.
import { Miniflare } from "miniflare";
import { httpGet } from "./http-get.mjs";
import { spread } from "./stats.mjs";

async function sample(options, path, headers) {
  const started = performance.now();
  const mf = new Miniflare(options);
  try {
    const url = (await mf.ready).toString().replace(/\/$/, "");
    const ready = performance.now();
    let response;
    for (let attempt = 0; attempt < 50; attempt++) {
      response = await httpGet(url + path, headers);
      if (response.status === 200) break;
    }
    if (response.status !== 200) throw new Error(`cold start: ${path} answered ${response.status}`);
    const firstResponse = performance.now();
    await httpGet(url + path, headers);
    const warm = performance.now();
    return { ready_ms: ready - started, first_response_ms: firstResponse - started, first_request_ms: firstResponse - ready, warm_request_ms: warm - firstResponse };
  } finally {
    await mf.dispose();
  }
}

/** Median, min and max of each interval over `samples` fresh instances made by `makeOptions()`. */
export async function measureColdStart({ makeOptions, path, headers = {}, samples }) {
  const runs = [];
  for (let i = 0; i < samples; i++) runs.push(await sample(await makeOptions(), path, headers));
  const keys = Object.keys(runs[0]);
  return { samples, ...Object.fromEntries(keys.map((key) => [key, spread(runs.map((run) => run[key]))])) };
}

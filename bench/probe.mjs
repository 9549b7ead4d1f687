// Decides whether a row can be measured: one request must reach the bench origin (200 and the
// origin's body), and for a row with a credential, the same request without it must be refused.
// Otherwise the row is not measured, and the reason is reported instead of a number.
import { httpGet } from "./http-get.mjs";
import { ORIGIN_BODY_MARKER } from "./origin.mjs";

// The answers of a gateway that does not do this yet: the route needs an authenticator that does
// not exist (401), the route is unknown (404), or the configuration uses fields it does not know.
const NOT_BUILT = new Set([401, 404, 503]);

/**
 * Probes `target` ({ url, path, headers, credential, captureLogs? }).
 * Resolves to { state: "ready" } or { state: "not built" | "probe failed", reason }.
 */
export async function probe(target) {
  const { url, path, headers = {}, credential = false } = target;
  const capture = target.captureLogs ?? (async (action) => ({ result: await action(), logs: [] }));
  const { result: response, logs } = await capture(() => httpGet(url + path, headers));
  if (response.status !== 200 || !response.body.includes(ORIGIN_BODY_MARKER)) {
    const reason = describeRefusal(response, logs);
    const state = NOT_BUILT.has(response.status) ? "not built" : "probe failed";
    return { state, reason };
  }
  if (credential) {
    const anonymous = await httpGet(url + path);
    if (anonymous.status !== 401 && anonymous.status !== 403) {
      return { state: "probe failed", reason: `answered ${anonymous.status} without a credential: the route does not check it` };
    }
  }
  return { state: "ready" };
}

/** "503 config_invalid: jwt: unknown field", "401 unauthenticated", ... from the answer and the logs. */
function describeRefusal(response, logs) {
  let code = "";
  try {
    code = JSON.parse(response.body).error ?? "";
  } catch {
    code = response.status === 200 ? "a body that is not the bench origin's" : "";
  }
  const events = logs.flatMap(({ message }) => {
    try {
      return [JSON.parse(message)];
    } catch {
      return [];
    }
  });
  // The configuration problem is the useful part, without the list of expected fields.
  const problem = events.find((event) => event.event === "config_invalid")?.problems?.[0]?.split(/[;,] expected/)[0];
  const audit = events.find((event) => event.event === "auth_decision");
  const detail = problem ?? (audit?.reason && audit.reason !== code ? audit.reason : "");
  return [`${response.status}${code ? ` ${code}` : ""}`, detail].filter(Boolean).join(": ");
}

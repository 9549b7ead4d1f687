// Fault injection for the worker's own bindings (KV, each Durable Object namespace, D1). The
// gateway gets, under each binding's usual name, a wrapped binding (workerd's `wrapped` binding,
// through Miniflare's `wrappedBindings`) that forwards every call to the real local binding, after
// asking a control server on 127.0.0.1 whether this call should fail. A test sets faults per
// binding and operation while the gateway runs:
//
//   faults.set("PORTCULLIS_KV", "get", { mode: "error" });
//   faults.set("RATE_LIMITER", "fetch", { mode: "delay", ms: 5000 });
//   faults.clear();
//
// Modes: "error" (the call rejects, as a binding does when its backend fails), "delay" (the call
// goes through after `ms`), "overload" (a Durable Object's "overloaded" error, with the
// `overloaded` property production sets), "lost_reply" (the call goes through and takes effect,
// then rejects: a write that landed although its caller was told it failed, as after a timeout). Operations: KV get, getWithMetadata, put, list, delete;
// a Durable Object stub's fetch; D1 statements' first, all, run and raw, and batch. `faults.calls`
// counts the calls each binding and operation got, faulted or not.
import http from "node:http";

/** The wrapper, run as an internal module in the gateway's own isolate. */
const WRAPPER_MODULE = String.raw`
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function inject(control, binding, op) {
  const answer = await fetch(control + "/?binding=" + binding + "&op=" + op);
  const fault = await answer.json();
  if (fault.mode === "error") throw new Error("injected fault: " + binding + "." + op);
  if (fault.mode === "overload") {
    throw Object.assign(new Error("Durable Object is overloaded. Too many requests queued."), { overloaded: true });
  }
  if (fault.mode === "delay") await sleep(fault.ms);
  return fault;
}

/** Runs a call after asking the control; with "lost_reply" the call takes effect, then rejects. */
async function through(control, binding, op, call) {
  const fault = await inject(control, binding, op);
  const result = await call();
  if (fault.mode === "lost_reply") throw new Error("injected lost reply: " + binding + "." + op);
  return result;
}

/** A proxy that runs the listed async methods of target through the control first. */
function faulted(target, control, binding, ops, wrapResult = (value) => value) {
  return new Proxy(target, {
    get(object, property) {
      const value = object[property];
      // The constructor stays itself: workers-rs checks a binding's constructor name.
      if (typeof value !== "function" || property === "constructor") return value;
      if (!ops.includes(property)) return (...args) => wrapResult(property, value.apply(object, args));
      return (...args) => through(control, binding, property, () => value.apply(object, args));
    },
  });
}

export function kv(env) {
  return faulted(env.INNER, env.CONTROL, env.NAME, ["get", "getWithMetadata", "put", "list", "delete"]);
}

export function durableObject(env) {
  return faulted(env.INNER, env.CONTROL, env.NAME, [], (property, result) =>
    property === "get" ? faulted(result, env.CONTROL, env.NAME, ["fetch"]) : result,
  );
}

export function d1(env) {
  const real = new WeakMap();
  const statement = (inner) => {
    const wrapped = faulted(inner, env.CONTROL, env.NAME, ["first", "all", "run", "raw"], (property, result) =>
      property === "bind" ? statement(result) : result,
    );
    real.set(wrapped, inner);
    return wrapped;
  };
  return new Proxy(env.INNER, {
    get(object, property) {
      const value = object[property];
      if (property === "prepare") return (sql) => statement(value.call(object, sql));
      if (property === "batch") {
        return (statements) => through(env.CONTROL, env.NAME, "batch", () => value.call(object, statements.map((s) => real.get(s) ?? s)));
      }
      return typeof value === "function" && property !== "constructor" ? value.bind(object) : value;
    },
  });
}
`;

/** The control server: which calls fail, and how many each binding and operation got. */
export async function startFaultControl() {
  const faults = new Map();
  const calls = new Map();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://control.invalid");
    const key = `${url.searchParams.get("binding")}.${url.searchParams.get("op")}`;
    calls.set(key, (calls.get(key) ?? 0) + 1);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(faults.get(key) ?? {}));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    set(binding, op, fault) {
      faults.set(`${binding}.${op}`, fault);
    },
    clear() {
      faults.clear();
    },
    /** Calls that `binding.op` got since the start (or since `resetCalls`). */
    callsTo(binding, op) {
      return calls.get(`${binding}.${op}`) ?? 0;
    },
    resetCalls() {
      calls.clear();
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

const WRAPPER_WORKER = "portcullis-fault-wrapper";

/**
 * Rewrites the worker's Miniflare options so that each KV, Durable Object and D1 binding is the
 * faulty wrapper over the real one. The real bindings stay on the worker under `REAL_<name>` (so
 * the namespaces and classes exist, and tests can reach the data). Returns the `workers` options.
 */
export function withFaultyBindings(worker, controlUrl) {
  const realName = (name) => `REAL_${name}`;
  const wrapped = {};
  const innerWorkers = [];
  const wrap = (name, entrypoint, inner) => {
    const scriptName = `${WRAPPER_WORKER}-${name.toLowerCase().replace(/_/g, "-")}`;
    innerWorkers.push({ name: scriptName, modules: [{ type: "ESModule", path: `${scriptName}.mjs`, contents: WRAPPER_MODULE }], ...inner });
    wrapped[name] = { scriptName, entrypoint, bindings: { CONTROL: controlUrl, NAME: name } };
  };
  for (const name of worker.kvNamespaces) wrap(name, "kv", { kvNamespaces: { INNER: name } });
  for (const name of worker.d1Databases) wrap(name, "d1", { d1Databases: { INNER: name } });
  for (const [name, { className, useSQLite }] of Object.entries(worker.durableObjects)) {
    wrap(name, "durableObject", { durableObjects: { INNER: { className, scriptName: worker.name, useSQLite } } });
  }
  const main = {
    ...worker,
    kvNamespaces: Object.fromEntries(worker.kvNamespaces.map((name) => [realName(name), name])),
    d1Databases: Object.fromEntries(worker.d1Databases.map((name) => [realName(name), name])),
    durableObjects: Object.fromEntries(Object.entries(worker.durableObjects).map(([name, spec]) => [realName(name), spec])),
    wrappedBindings: wrapped,
  };
  return [main, ...innerWorkers];
}

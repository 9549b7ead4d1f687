// The directory's timings (issue 13), beside the throughput rows: how long a just-in-time
// provisioning login callback takes (creating the user, then updating it), against a real OpenID
// Provider, and how long SCIM takes to list a tenant of 10,000 users with a filter. Each is the
// median (and min–max) of several samples, timed at the client on 127.0.0.1.
import { loginAtProvider } from "../tests/support/oidc-provider.mjs";
import { Browser, startLoginStack } from "../tests/support/login.mjs";
import { startBenchOrigin } from "./origin.mjs";
import { TEST_ADMIN_KEY } from "../tests/support/config.mjs";
import { spread } from "./stats.mjs";

const TENANT_USERS = 10_000;

async function timed(action) {
  const started = performance.now();
  const result = await action();
  return { ms: performance.now() - started, result };
}

/** Runs the directory timings with `samples` of each; resolves to { rows, notes }. */
export async function measureDirectory({ samples, log }) {
  const origin = await startBenchOrigin({ jwks: { keys: [] } });
  const accounts = Object.fromEntries(
    Array.from({ length: samples }, (_, i) => [`user${i}`, { email: `user${i}@bench.test`, email_verified: true, name: `User ${i}`, groups: ["eng", `team-${i % 3}`] }]),
  );
  const provider = ({ idp }) => [{
    id: "bench-dir", type: "oidc", display_name: "Bench", issuer: idp.issuer, client_id: "portcullis",
    client_secret: "CORP_CLIENT_SECRET", scopes: ["openid", "email", "profile", "groups"], directory: { tenant: "bench" },
  }];
  const stack = await startLoginStack({ origin, withGithub: false, idpOptions: { accounts }, extraProviders: provider });
  try {
    const gw = stack.gateway.url;
    const callbackTime = async (login) => {
      const browser = new Browser();
      const start = await browser.request(`${gw}/auth/login?provider=bench-dir&return_to=%2F`);
      const callbackUrl = await loginAtProvider(start.headers.get("location"), { login, jar: browser.idpJar });
      const { ms, result } = await timed(() => browser.request(callbackUrl));
      if (result.status !== 302) throw new Error(`a JIT callback answered ${result.status}`);
      return ms;
    };
    log(`directory: ${samples} JIT logins creating users, then ${samples} updating them`);
    const created = [];
    for (const login of Object.keys(accounts)) created.push(await callbackTime(login));
    const updated = [];
    for (const login of Object.keys(accounts)) updated.push(await callbackTime(login));

    log(`directory: seeding ${TENANT_USERS} users, then timing SCIM lists`);
    const db = await stack.gateway.mf.getD1Database("PORTCULLIS_DB");
    const now = Date.now();
    const users = Array.from({ length: TENANT_USERS }, (_, i) => {
      const n = String(i).padStart(5, "0");
      return [`usr_bench${n}AAAAAAAAAAAAA`, `member-${n}@bench.test`, `Member ${n}`];
    });
    await db
      .prepare(
        "INSERT INTO users (id, tenant_id, user_name, email, name, status, attributes, created_at_ms, updated_at_ms) " +
          "SELECT json_extract(value, '$[0]'), 'bench', json_extract(value, '$[1]'), json_extract(value, '$[1]'), " +
          "json_extract(value, '$[2]'), 'active', '{}', ?, ? FROM json_each(?)",
      )
      .bind(now, now, JSON.stringify(users))
      .run();
    const issued = await fetch(`${gw}/auth/directory/tenants/bench/scim-tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` },
    });
    const { token } = await issued.json();
    const list = async (query) => {
      const { ms, result } = await timed(() => fetch(`${gw}/scim/v2/bench/Users?${query}`, { headers: { authorization: `Bearer ${token}` } }));
      const body = await result.json();
      if (result.status !== 200) throw new Error(`SCIM answered ${result.status}: ${JSON.stringify(body)}`);
      return { ms, total: body.totalResults, items: body.itemsPerPage };
    };
    const queries = [
      ["SCIM list, 10,000 users: filter userName eq (one match)", `filter=${encodeURIComponent('userName eq "member-05000@bench.test"')}`],
      ["SCIM list, 10,000 users: filter userName sw (100 of 1,000)", `filter=${encodeURIComponent('userName sw "member-05"')}&count=100`],
      ["SCIM list, 10,000 users: filter emails co, page 2 of 100", `filter=${encodeURIComponent('emails.value co "bench.test"')}&startIndex=101&count=100`],
      ["SCIM list, 10,000 users: no filter, startIndex 9,901", "startIndex=9901&count=100"],
    ];
    const rows = [
      { label: "JIT login callback, creating the user", ms: spread(created) },
      { label: "JIT login callback, updating the user", ms: spread(updated) },
    ];
    for (const [label, query] of queries) {
      await list(query); // warm
      const times = [];
      let last;
      for (let i = 0; i < samples; i++) {
        last = await list(query);
        times.push(last.ms);
      }
      rows.push({ label: `${label} → ${last.items} of ${last.total}`, ms: spread(times) });
    }
    return rows;
  } finally {
    await stack.close();
    await origin.close();
  }
}

/** The table of directory timings. */
export function directoryTable(rows) {
  const format = (ms) => `${ms.median.toFixed(1)} ms (${ms.min.toFixed(1)}–${ms.max.toFixed(1)})`;
  const width = Math.max(...rows.map((row) => row.label.length));
  return [
    `${"directory (time at the client, median of samples)".padEnd(width)}  p50 (min–max)`,
    ...rows.map((row) => `${row.label.padEnd(width)}  ${format(row.ms)}`),
  ].join("\n");
}

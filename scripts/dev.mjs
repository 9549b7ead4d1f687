// `npm start`: runs Portcullis locally in workerd (through `wrangler dev`, with local KV, Durable
// Objects and D1) in front of the demo origin, with a demo OpenID Provider (oidc-provider, the same
// one the tests use) for browser login, and prints the URL to open. It seeds a demo tenant, acme,
// whose verified domain example.com sends alice@example.com to the demo IdP: her first sign-in
// provisions her in the directory, and the origin shows her directory id.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { startOrigin } from "../tests/support/origin.mjs";
import { startOidcProvider } from "../tests/support/oidc-provider.mjs";
import { startDohResolver } from "../tests/support/doh-resolver.mjs";
import { repoRoot } from "../tests/support/wrangler-config.mjs";

const GATEWAY_PORT = Number(process.env.PORTCULLIS_PORT ?? 8787);
const ORIGIN_PORT = 8788; // the embedded default configuration's origin
const IDP_PORT = Number(process.env.PORTCULLIS_DEMO_IDP_PORT ?? 8789);
const DNS_PORT = Number(process.env.PORTCULLIS_DEMO_DNS_PORT ?? 8790);
const url = `http://127.0.0.1:${GATEWAY_PORT}`;

// Local secrets live in .dev.vars (git-ignored), which wrangler dev reads: made once, kept. The
// demo configuration (the embedded default plus browser login) is rewritten on every start.
const devVars = path.join(repoRoot, ".dev.vars");
const vars = new Map();
if (existsSync(devVars)) {
  for (const line of readFileSync(devVars, "utf8").split("\n")) {
    const match = /^([A-Z0-9_]+)=(["']?)(.*)\2$/.exec(line.trim());
    if (match) vars.set(match[1], match[3]);
  }
}
const secret = () => randomBytes(32).toString("base64url");
for (const name of ["PORTCULLIS_ADMIN_KEY", "PORTCULLIS_API_KEY_PEPPER", "PORTCULLIS_LOGIN_SECRET", "PORTCULLIS_DIRECTORY_KEY", "DEMO_IDP_CLIENT_SECRET"]) {
  if (!vars.has(name)) vars.set(name, secret());
}
const demoConfig = {
  environment: "development",
  origin: `http://127.0.0.1:${ORIGIN_PORT}`,
  api_keys: { prefix: "pk_test" },
  // The demo tenant's "admins" group maps to this role (see the seeding below).
  roles: { "app-admin": { tenant_assignable: true } },
  // Domain verification asks a local DNS-over-HTTPS stand-in, which publishes the demo TXT record.
  directory: { dns_resolver: `http://127.0.0.1:${DNS_PORT}/dns-query` },
  routes: [
    { id: "home", path: "/", methods: ["GET"], policy: "public" },
    { id: "public", path: "/public/*", policy: "public" },
    { id: "app", path: "/*", policy: "authenticated" },
  ],
  login: {
    redirect_uri: `${url}/auth/callback`,
    providers: [
      {
        id: "demo",
        type: "oidc",
        display_name: "Demo IdP",
        issuer: `http://127.0.0.1:${IDP_PORT}`,
        client_id: "portcullis-demo",
        client_secret: "DEMO_IDP_CLIENT_SECRET",
        scopes: ["openid", "email", "profile", "groups", "offline_access"],
        // Users who sign in here are provisioned into the demo tenant's directory.
        directory: { tenant: "acme" },
      },
    ],
    branding: { name: "Portcullis demo" },
  },
};
vars.set("PORTCULLIS_CONFIG", JSON.stringify(demoConfig));
writeFileSync(devVars, [...vars].map(([name, value]) => `${name}='${value}'`).join("\n") + "\n", { mode: 0o600 });
const adminKey = vars.get("PORTCULLIS_ADMIN_KEY");

const idp = await startOidcProvider({
  port: IDP_PORT,
  clients: [
    {
      client_id: "portcullis-demo",
      client_secret: vars.get("DEMO_IDP_CLIENT_SECRET"),
      redirect_uris: [`${url}/auth/callback`],
      post_logout_redirect_uris: [`${url}/auth/logged-out`],
    },
  ],
  // A tenant's own connection (such as the one the onboarding page saves) has its own redirect URI.
  redirectUriPrefix: `${url}/auth/callback/`,
  accounts: {
    alice: { email: "alice@example.com", email_verified: true, name: "Alice Example", groups: ["admins"], tenant: "acme" },
    bob: { email: "bob@example.com", email_verified: true, name: "Bob Example", groups: ["staff"], tenant: "acme" },
    gina: { email: "gina@globex.example", email_verified: true, name: "Gina Globex", groups: ["it"] },
  },
}).catch((error) => {
  console.error(`Cannot start the demo identity provider on 127.0.0.1:${IDP_PORT}: ${error.message}`);
  process.exit(1);
});
console.log(`demo IdP        ${idp.issuer}`);

const dns = await startDohResolver({ port: DNS_PORT }).catch((error) => {
  console.error(`Cannot start the demo DNS resolver on 127.0.0.1:${DNS_PORT}: ${error.message}`);
  process.exit(1);
});

// The directory's schema, in wrangler's local D1 (kept under .wrangler/; applied once).
const migrated = spawnSync("npx", ["--no-install", "wrangler", "d1", "migrations", "apply", "PORTCULLIS_DB", "--local"], {
  cwd: repoRoot,
  stdio: ["ignore", "pipe", "inherit"],
  env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
});
if (migrated.status !== 0) {
  console.error("Cannot apply the D1 migrations (npx wrangler d1 migrations apply PORTCULLIS_DB --local)");
  process.exit(1);
}

const origin = await startOrigin({ port: ORIGIN_PORT }).catch((error) => {
  console.error(`Cannot start the demo origin on 127.0.0.1:${ORIGIN_PORT}: ${error.message}`);
  process.exit(1);
});
console.log(`demo origin     ${origin.url}`);

const wrangler = spawn(
  "npx",
  ["--no-install", "wrangler", "dev", "--ip", "127.0.0.1", "--port", String(GATEWAY_PORT), "--show-interactive-dev-session=false"],
  { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
);
wrangler.stdout.on("data", (chunk) => process.stdout.write(chunk));
wrangler.stderr.on("data", (chunk) => process.stderr.write(chunk));

function shutdown(code = 0) {
  wrangler.kill("SIGTERM");
  Promise.allSettled([origin.close(), idp.close(), dns.close()]).finally(() => process.exit(code));
}
process.on("SIGINT", () => shutdown(0));
process.on("SIGTERM", () => shutdown(0));
wrangler.on("exit", (code) => {
  console.error(`wrangler dev exited (${code})`);
  shutdown(code ?? 1);
});

for (let attempt = 0; attempt < 600; attempt++) {
  try {
    const health = await fetch(`${url}/auth/health`);
    if (health.ok) break;
  } catch {
    // not up yet
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
}
// The demo tenant: acme, which proves example.com with the TXT record the local resolver serves,
// and maps its IdP's "admins" group to the app-admin role. Each step answers the same on a restart.
async function directoryApi(method, apiPath, body) {
  const response = await fetch(`${url}/auth/directory${apiPath}`, {
    method,
    headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}
const tenant = await directoryApi("POST", "/tenants", { id: "acme", name: "Acme (demo tenant)" });
const claim = await directoryApi("POST", "/tenants/acme/domains", { domain: "example.com" });
if (![201, 409].includes(tenant.status) || claim.status !== 201) {
  console.error(`Cannot seed the demo tenant: ${JSON.stringify({ tenant, claim })}`);
  shutdown(1);
}
dns.records.set(claim.body.challenge.name, [claim.body.challenge.value]);
const verified = await directoryApi("POST", "/tenants/acme/domains/example.com/verify");
await directoryApi("PUT", "/tenants/acme/role-mappings", { mappings: [{ group: "admins", role: "app-admin" }] });
console.log(`demo tenant     acme, example.com ${verified.body.verified ? "verified" : "NOT verified"}`);
// A second tenant, globex, to onboard on the setup page: a fresh single-use link on every start.
await directoryApi("POST", "/tenants", { id: "globex", name: "Globex (onboard me)" });
const setupLink = await directoryApi("POST", "/tenants/globex/setup-links", { expires_in_s: 86400 });

console.log(`
  Portcullis is running: ${url}/

    ${url}/            a public page of the demo origin
    ${url}/public/     public route: passes through, no identity
    ${url}/app/        protected route: a browser is sent to sign in; API calls get a 401
    ${url}/auth/login  the sign-in page: type alice@example.com (home-realm discovery by the
                       demo tenant's verified domain), then log in as alice or bob (any password);
                       the first sign-in provisions the user, and the origin shows X-Auth-User-Id
    ${url}/auth/session  who is signed in (JSON); ${url}/auth/logout to sign out
    ${url}/auth/health gateway health

  Onboard tenant globex's SSO (a single-use link, new on every start):
    ${setupLink.body.url ?? `<none: ${JSON.stringify(setupLink.body)}>`}
    issuer ${idp.issuer}, client id portcullis-demo, client secret DEMO_IDP_CLIENT_SECRET in
    .dev.vars; test the sign-in as gina (any password)

  An API key for the protected routes (the admin key is in .dev.vars):
    PORTCULLIS_ADMIN_KEY=${adminKey ?? "<see .dev.vars>"} npm run keys -- create --owner me
    curl -H "x-api-key: <the key>" ${url}/app/

  Press Ctrl+C to stop.
`);

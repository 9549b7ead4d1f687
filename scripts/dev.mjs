// `npm start`: runs Portcullis locally in workerd (through Miniflare, with local KV, Durable
// Objects and D1, kept under .wrangler/state/v3 as `wrangler dev` keeps them) in front of the demo
// origin, with a demo OpenID Provider (oidc-provider, the same one the tests use) for browser
// login, and prints the URL to open. It seeds a demo tenant, acme, whose verified domain
// example.com sends alice@example.com to the demo IdP: her first sign-in provisions her in the
// directory, and the origin shows her directory id.
//
// The loop: an edit under src/ (or Cargo.toml) rebuilds the worker once (scripts/build.sh) and
// the running gateway takes the new build; an edit of dev.config.json (the configuration, written
// on the first start) or of a page in www/ is taken at once, with no rebuild. The gateway is
// workerd itself, not `wrangler dev`: no second build through wrangler's [build] command, no
// watcher of its own, and no proxy in front of it.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, watch, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { Miniflare } from "miniflare";
import { startOrigin } from "../tests/support/origin.mjs";
import { startOidcProvider } from "../tests/support/oidc-provider.mjs";
import { startDohResolver } from "../tests/support/doh-resolver.mjs";
import { startMailCapture } from "../tests/support/mail-capture.mjs";
import { startBreachStub } from "../tests/support/breach-stub.mjs";
import { applyPendingD1Migrations, miniflareOptions, repoRoot } from "../tests/support/wrangler-config.mjs";

const startedAt = Date.now();

const GATEWAY_PORT = Number(process.env.PORTCULLIS_PORT ?? 8787);
const ORIGIN_PORT = 8788; // the embedded default configuration's origin
const IDP_PORT = Number(process.env.PORTCULLIS_DEMO_IDP_PORT ?? 8789);
const DNS_PORT = Number(process.env.PORTCULLIS_DEMO_DNS_PORT ?? 8790);
const MAIL_PORT = Number(process.env.PORTCULLIS_DEMO_MAIL_PORT ?? 8791);
const BREACH_PORT = Number(process.env.PORTCULLIS_DEMO_BREACH_PORT ?? 8792);
const url = `http://127.0.0.1:${GATEWAY_PORT}`;

// Local secrets live in .dev.vars (git-ignored, as for `wrangler dev`): made once, kept. The
// configuration is dev.config.json (git-ignored): the demo configuration below (the embedded
// default plus browser login) is written there when it is missing, and then it is yours to edit.
const devVars = path.join(repoRoot, ".dev.vars");
const vars = new Map();
const devVarsText = existsSync(devVars) ? readFileSync(devVars, "utf8") : "";
for (const line of devVarsText.split("\n")) {
  const match = /^([A-Z0-9_]+)=(["']?)(.*)\2$/.exec(line.trim());
  if (match) vars.set(match[1], match[3]);
}
const secret = () => randomBytes(32).toString("base64url");
// Only missing secrets are added, at the end: the lines already there stay as they are.
const added = [];
for (const name of ["PORTCULLIS_ADMIN_KEY", "PORTCULLIS_API_KEY_PEPPER", "PORTCULLIS_LOGIN_SECRET", "PORTCULLIS_DIRECTORY_KEY", "PORTCULLIS_PASSWORD_PEPPER", "DEMO_IDP_CLIENT_SECRET"]) {
  if (!vars.has(name)) {
    vars.set(name, secret());
    added.push(`${name}='${vars.get(name)}'`);
  }
}
if (added.length > 0) {
  const separator = devVarsText === "" || devVarsText.endsWith("\n") ? "" : "\n";
  writeFileSync(devVars, devVarsText + separator + added.join("\n") + "\n", { mode: 0o600 });
}
if (vars.has("PORTCULLIS_CONFIG")) {
  console.log("note: .dev.vars sets PORTCULLIS_CONFIG, which npm start ignores: the configuration is dev.config.json");
  vars.delete("PORTCULLIS_CONFIG");
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
  // Email-and-password accounts for the "trial" tenant. Mail goes to a local capture that prints
  // each message's links below; the breached-password check asks a local range stub, which
  // knows "correct horse battery staple".
  local_accounts: {
    tenants: [{ id: "trial" }],
    pepper_secret: "PORTCULLIS_PASSWORD_PEPPER",
    breach_check: { range_url: `http://127.0.0.1:${BREACH_PORT}/range/` },
    mail: { from: "no-reply@portcullis.localhost", sender: { kind: "http", url: `http://127.0.0.1:${MAIL_PORT}/send` } },
  },
};
const devConfig = path.join(repoRoot, "dev.config.json");
if (!existsSync(devConfig)) {
  writeFileSync(devConfig, JSON.stringify({ $schema: "./config.schema.json", version: 2, ...demoConfig }, null, 2) + "\n");
}
let configText = readFileSync(devConfig, "utf8");
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

const mail = await startMailCapture({
  port: MAIL_PORT,
  onMessage(message) {
    const links = message.text.match(/https?:\/\/\S+/g) ?? [];
    console.log(`\nmail to ${message.to}: ${message.subject}${links.map((link) => `\n  ${link}`).join("")}\n`);
  },
}).catch((error) => {
  console.error(`Cannot start the demo mail capture on 127.0.0.1:${MAIL_PORT}: ${error.message}`);
  process.exit(1);
});
const breach = await startBreachStub({ port: BREACH_PORT, breached: { "correct horse battery staple": 23174 } }).catch((error) => {
  console.error(`Cannot start the demo breached-password stub on 127.0.0.1:${BREACH_PORT}: ${error.message}`);
  process.exit(1);
});

const origin = await startOrigin({ port: ORIGIN_PORT }).catch((error) => {
  console.error(`Cannot start the demo origin on 127.0.0.1:${ORIGIN_PORT}: ${error.message}`);
  process.exit(1);
});
console.log(`demo origin     ${origin.url}`);

// The gateway: the built worker in workerd, its bindings as wrangler.toml declares them.
const gatewayOptions = () =>
  miniflareOptions({
    bindings: { ...Object.fromEntries(vars), PORTCULLIS_CONFIG: configText },
    persistTo: path.join(repoRoot, ".wrangler", "state", "v3"),
    port: GATEWAY_PORT,
    handleStructuredLogs: ({ message }) => console.log(message),
  });
const mf = new Miniflare(gatewayOptions());
try {
  await mf.ready;
} catch (error) {
  console.error(`Cannot start the gateway on 127.0.0.1:${GATEWAY_PORT}: ${error.message}`);
  process.exit(1);
}
// The directory's schema, in the local D1: each migration once, recorded as wrangler records it.
await applyPendingD1Migrations(mf);

function shutdown(code = 0) {
  Promise.allSettled([mf.dispose(), origin.close(), idp.close(), dns.close(), mail.close(), breach.close()]).finally(() => process.exit(code));
}
process.on("SIGINT", () => shutdown(0));
process.on("SIGTERM", () => shutdown(0));

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
  Portcullis is running: ${url}/   (ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s)

    ${url}/            a public page of the demo origin
    ${url}/public/     public route: passes through, no identity
    ${url}/app/        protected route: a browser is sent to sign in; API calls get a 401
    ${url}/auth/login  the sign-in page: type alice@example.com (home-realm discovery by the
                       demo tenant's verified domain), then log in as alice or bob (any password);
                       the first sign-in provisions the user, and the origin shows X-Auth-User-Id
    ${url}/auth/accounts/sign-up  an email-and-password account (tenant trial): the
                       verification mail's link is printed here
    ${url}/auth/session  who is signed in (JSON); ${url}/auth/logout to sign out
    ${url}/auth/health gateway health

  Onboard tenant globex's SSO (a single-use link, new on every start):
    ${setupLink.body.url ?? `<none: ${JSON.stringify(setupLink.body)}>`}
    issuer ${idp.issuer}, client id portcullis-demo, client secret DEMO_IDP_CLIENT_SECRET in
    .dev.vars; test the sign-in as gina (any password)

  An API key for the protected routes (the admin key is in .dev.vars):
    PORTCULLIS_ADMIN_KEY=${adminKey ?? "<see .dev.vars>"} npm run keys -- create --owner me
    curl -H "x-api-key: <the key>" ${url}/app/

  Editing src/ rebuilds and reloads the gateway; editing dev.config.json or www/ reloads it
  without a build. Press Ctrl+C to stop.
`);

// The loop. One reload at a time; changes that arrive meanwhile are taken by one more. A failed
// build or reload is reported and the loop goes on with the last good gateway.
let reloading = Promise.resolve();
const pending = { build: false, reload: false };
async function reload() {
  if (!pending.build && !pending.reload) return;
  const build = pending.build;
  pending.build = pending.reload = false;
  const started = Date.now();
  if (build) {
    console.log("portcullis: src/ changed, building...");
    const code = await new Promise((resolve) =>
      spawn("bash", ["scripts/build.sh"], { cwd: repoRoot, stdio: "inherit" }).on("exit", resolve),
    );
    if (code !== 0) {
      console.error("portcullis: the build failed; the gateway keeps the last good build");
      return;
    }
  }
  try {
    const text = readFileSync(devConfig, "utf8");
    JSON.parse(text);
    configText = text;
  } catch (error) {
    console.error(`portcullis: dev.config.json cannot be used (${error.message}); keeping the last one`);
  }
  await mf.setOptions(gatewayOptions());
  console.log(`portcullis: reloaded in ${((Date.now() - started) / 1000).toFixed(1)} s${build ? " (with a build)" : ""}`);
}
function schedule(kind) {
  pending[kind] = true;
  reloading = reloading
    .then(reload)
    .catch((error) => console.error(`portcullis: the reload failed (${error.message}); edit again to retry`));
}
const debounced = (kind) => {
  let timer;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(() => schedule(kind), 300);
  };
};
const onRust = debounced("build");
const onConfig = debounced("reload");
watch(path.join(repoRoot, "src"), { recursive: true }, onRust);
// Files of the top directory are watched through it: an editor that saves by renaming replaces
// the file, and a watch on the file itself would go quiet.
watch(repoRoot, (event, name) => {
  if (name === "Cargo.toml" || name === "Cargo.lock") onRust();
  if (name === "dev.config.json") onConfig();
});
watch(path.join(repoRoot, "www"), { recursive: true }, onConfig);

// `npm run keys -- <command>`: manage API keys through a Portcullis deployment's management API.
//
//   create --owner NAME [--scopes a,b] [--tenant T] [--tier T] [--name LABEL] [--expires-in SECONDS]
//   list [--owner NAME] [--tenant T]
//   get ID
//   rotate ID [--grace SECONDS]
//   revoke ID
//
// Options: --url (default $PORTCULLIS_URL or http://127.0.0.1:8787), --admin-key (default
// $PORTCULLIS_ADMIN_KEY; a JWT with the admin scope works too). The key a create or rotate prints
// is shown once; Portcullis keeps only its hash.
import { parseArgs } from "node:util";

const usage = `usage: npm run keys -- <create|list|get|rotate|revoke> [ID] [options]
  create --owner NAME [--scopes a,b] [--tenant T] [--tier T] [--name LABEL] [--expires-in SECONDS]
  list [--owner NAME] [--tenant T]
  get ID | rotate ID [--grace SECONDS] | revoke ID
  --url URL (default $PORTCULLIS_URL or http://127.0.0.1:8787)  --admin-key KEY (default $PORTCULLIS_ADMIN_KEY)`;

function fail(message) {
  console.error(message);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      url: { type: "string" },
      "admin-key": { type: "string" },
      owner: { type: "string" },
      scopes: { type: "string" },
      tenant: { type: "string" },
      tier: { type: "string" },
      name: { type: "string" },
      "expires-in": { type: "string" },
      grace: { type: "string" },
      help: { type: "boolean" },
    },
  });
} catch (error) {
  fail(`${error.message}\n${usage}`);
}
const { values, positionals } = parsed;
if (values.help || positionals.length === 0) fail(usage);
const [command, id] = positionals;
const base = (values.url ?? process.env.PORTCULLIS_URL ?? "http://127.0.0.1:8787").replace(/\/$/, "");
const adminKey = values["admin-key"] ?? process.env.PORTCULLIS_ADMIN_KEY;
if (!adminKey) fail("set PORTCULLIS_ADMIN_KEY or pass --admin-key");
const number = (text, flag) => {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) fail(`${flag} takes a whole number of seconds`);
  return n;
};
const needId = () => id ?? fail(`${command} needs a key id\n${usage}`);

let method = "GET";
let path = "";
let body;
switch (command) {
  case "create":
    if (!values.owner) fail("create needs --owner");
    method = "POST";
    body = {
      owner: values.owner,
      scopes: values.scopes ? values.scopes.split(",").map((s) => s.trim()).filter(Boolean) : [],
      ...(values.tenant ? { tenant: values.tenant } : {}),
      ...(values.tier ? { tier: values.tier } : {}),
      ...(values.name ? { name: values.name } : {}),
      ...(values["expires-in"] ? { expires_in_s: number(values["expires-in"], "--expires-in") } : {}),
    };
    break;
  case "list": {
    const query = new URLSearchParams();
    if (values.owner) query.set("owner", values.owner);
    if (values.tenant) query.set("tenant", values.tenant);
    path = query.size ? `?${query}` : "";
    break;
  }
  case "get":
    path = `/${needId()}`;
    break;
  case "rotate":
    method = "POST";
    path = `/${needId()}/rotate`;
    body = values.grace === undefined ? {} : { grace_s: number(values.grace, "--grace") };
    break;
  case "revoke":
    method = "POST";
    path = `/${needId()}/revoke`;
    break;
  default:
    fail(`unknown command ${command}\n${usage}`);
}

const response = await fetch(`${base}/auth/api-keys${path}`, {
  method,
  headers: { authorization: `Bearer ${adminKey}`, ...(body ? { "content-type": "application/json" } : {}) },
  body: body ? JSON.stringify(body) : undefined,
}).catch((error) => fail(`cannot reach ${base}: ${error.cause?.message ?? error.message}`));
const text = await response.text();
let json;
try {
  json = JSON.parse(text);
} catch {
  fail(`${response.status}: ${text}`);
}
console.log(JSON.stringify(json, null, 2));
if (json.key) console.error("\nThis is the only time the key is shown. Store it now.");
process.exit(response.ok ? 0 : 1);

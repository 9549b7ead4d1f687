// SCIM 2.0 end to end: the built worker in workerd with local D1, a real OpenID Provider for the
// tenant's SSO, and the third-party compliance checker scim2-tester (PyPI) run against it. A
// tenant's IdP provisions and deprovisions users with the tenant's own SCIM token; deprovisioning
// ends the user's live sessions at once.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { startOrigin } from "./support/origin.mjs";
import { Browser, startLoginStack } from "./support/login.mjs";
import { TEST_ADMIN_KEY } from "./support/config.mjs";
import { postOversized } from "./support/assertions.mjs";

const run = promisify(execFile);
const SCIM_PYTHON = ".venv-scim/bin/python";
const SCIM_JSON = "application/scim+json";
const PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const USER = "urn:ietf:params:scim:schemas:core:2.0:User";

let origin;
let stack;
let gw;
let db;
const tokens = {};

before(async () => {
  origin = await startOrigin();
  const connection = (idp) => ({
    id: "acme-sso",
    type: "oidc",
    display_name: "Acme SSO",
    issuer: idp.issuer,
    client_id: "portcullis",
    client_secret: "CORP_CLIENT_SECRET",
    scopes: ["openid", "email", "profile", "groups"],
    // The tenant keeps its groups with SCIM Groups: logins leave memberships alone.
    directory: { tenant: "acme", groups_from_scim: true },
  });
  stack = await startLoginStack({
    origin,
    withGithub: false,
    extraProviders: ({ idp }) => [connection(idp)],
    routes: [
      { id: "billing", path: "/billing/*", policy: "authenticated", roles: ["billing-admin"] },
      { id: "app", path: "/*", policy: "authenticated" },
    ],
    configFields: { roles: { "billing-admin": { tenant_assignable: true } } },
  });
  gw = stack.gateway.url;
  db = await stack.gateway.mf.getD1Database("PORTCULLIS_DB");
  for (const tenant of ["acme", "globex"]) {
    const made = await admin("POST", "/tenants", { id: tenant });
    assert.equal(made.status, 201);
    const issued = await admin("POST", `/tenants/${tenant}/scim-tokens`);
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    assert.match(issued.body.token, /^scim_[A-Za-z0-9_-]{43}$/);
    assert.equal(issued.body.scim_base_url, `${gw}/scim/v2/${tenant}`);
    tokens[tenant] = issued.body.token;
  }
});

after(async () => {
  await stack?.close();
  await origin?.close();
});

async function admin(method, path, body) {
  const headers = { authorization: `Bearer ${TEST_ADMIN_KEY}`, "content-type": "application/json" };
  const response = await fetch(`${gw}/auth/directory${path}`, { method, headers, body: body && JSON.stringify(body) });
  return { status: response.status, body: await response.json() };
}

/** A SCIM request to `tenant`'s service provider with `token` (the tenant's own by default). */
async function scim(method, path, { body, tenant = "acme", token = tokens[tenant], raw } = {}) {
  const headers = { "content-type": SCIM_JSON };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const payload = raw ?? (body === undefined ? undefined : JSON.stringify(body));
  const response = await fetch(`${gw}/scim/v2/${tenant}${path}`, { method, headers, body: payload });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : null };
}

const rows = async (sql, ...params) => (await db.prepare(sql).bind(...params).all()).results;
const usersTable = () => rows("SELECT id, tenant_id, user_name, email, status, scim_profile FROM users ORDER BY id");

function assertScimError(answer, status, scimType) {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.match(answer.headers.get("content-type"), /^application\/scim\+json/);
  assert.deepEqual(answer.body.schemas, ["urn:ietf:params:scim:api:messages:2.0:Error"]);
  assert.equal(answer.body.status, String(status));
  assert.equal(answer.body.scimType, scimType);
  assert.doesNotMatch(JSON.stringify(answer.body), /SELECT|sqlite|D1_|users\.|constraint/i, "nothing internal leaks");
}

describe("SCIM discovery and authentication", () => {
  test("the discovery endpoints describe what is served", async () => {
    const config = await scim("GET", "/ServiceProviderConfig");
    assert.equal(config.status, 200);
    assert.match(config.headers.get("content-type"), /^application\/scim\+json/);
    assert.equal(config.body.patch.supported, true);
    assert.equal(config.body.bulk.supported, false);
    const types = await scim("GET", "/ResourceTypes");
    assert.deepEqual(types.body.Resources.map((r) => r.id), ["User", "Group"]);
    const schemas = await scim("GET", "/Schemas");
    assert.deepEqual(schemas.body.Resources.map((s) => s.id), [
      USER,
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
      "urn:ietf:params:scim:schemas:core:2.0:Group",
    ]);
    assert.equal((await scim("GET", `/Schemas/${USER}`)).body.name, "User");
    assert.equal((await scim("GET", "/Schemas/urn:nope")).status, 404);
  });

  test("only the tenant's own token opens its service provider", async () => {
    for (const [what, options] of [
      ["no token", { token: null }],
      ["a malformed token", { token: "scim_short" }],
      ["an unknown token", { token: `scim_${"A".repeat(43)}` }],
      ["another tenant's token", { token: tokens.globex }],
      ["the admin key", { token: TEST_ADMIN_KEY }],
    ]) {
      const refused = await scim("GET", "/Users", options);
      assert.equal(refused.status, 401, what);
      assert.match(refused.headers.get("www-authenticate"), /^Bearer/, what);
    }
    assert.equal((await scim("GET", "/Users", { tenant: "globex" })).status, 200);
    assert.equal((await scim("GET", "/Nope")).status, 404);
  });
});

describe("SCIM Users", () => {
  test("create, read, list with a filter, replace and delete", async () => {
    const created = await scim("POST", "/Users", {
      body: { schemas: [USER], userName: "dana@acme.test", externalId: "okta-dana", name: { givenName: "Dana" },
              emails: [{ value: "Dana@Acme.test", type: "work", primary: true }], active: true },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    assert.match(id, /^usr_/);
    assert.equal(created.headers.get("location"), `${gw}/scim/v2/acme/Users/${id}`);
    assert.equal(created.body.meta.resourceType, "User");
    const [row] = await rows("SELECT tenant_id, email, status FROM users WHERE id = ?", id);
    assert.deepEqual(row, { tenant_id: "acme", email: "dana@acme.test", status: "active" });

    assert.equal((await scim("GET", `/Users/${id}`)).body.userName, "dana@acme.test");
    assert.equal((await scim("GET", `/Users/${id}`, { tenant: "globex" })).status, 404, "another tenant sees nothing");
    const found = await scim("GET", `/Users?filter=${encodeURIComponent('userName eq "DANA@acme.test"')}`);
    assert.equal(found.body.totalResults, 1);
    assert.equal(found.body.Resources[0].id, id);
    const projected = await scim("GET", `/Users/${id}?attributes=userName`);
    assert.deepEqual(Object.keys(projected.body).sort(), ["id", "meta", "schemas", "userName"]);

    const replaced = await scim("PUT", `/Users/${id}`, { body: { schemas: [USER], userName: "dana@acme.test", displayName: "Dana S" } });
    assert.equal(replaced.status, 200);
    assert.equal(replaced.body.displayName, "Dana S");
    assert.equal(replaced.body.name, undefined, "PUT replaces: what it leaves out is gone");

    const dup = await scim("POST", "/Users", { body: { schemas: [USER], userName: "dana@ACME.test" } });
    assertScimError(dup, 409, "uniqueness");

    const deleted = await scim("DELETE", `/Users/${id}`);
    assert.equal(deleted.status, 204);
    assert.equal((await scim("GET", `/Users/${id}`)).status, 404);
    assert.deepEqual(await rows("SELECT id FROM users WHERE id = ?", id), []);
  });

  test("PATCH as Okta and Entra ID send it", async () => {
    const made = await scim("POST", "/Users", {
      body: { schemas: [USER], userName: "erin@acme.test", emails: [{ value: "erin@acme.test", type: "work", primary: true }] },
    });
    const id = made.body.id;
    const cases = [
      ["Okta", [{ op: "replace", value: { active: false } }], (u) => u.active === false],
      ["Okta", [{ op: "replace", value: { active: true, name: { familyName: "Stone" } } }], (u) => u.active && u.name.familyName === "Stone"],
      ["Entra ID", [{ op: "Replace", path: "active", value: "False" }], (u) => u.active === false],
      ["Entra ID", [{ op: "Replace", path: "active", value: "True" }], (u) => u.active === true],
      ["Entra ID", [{ op: "Add", path: "displayName", value: "Erin Stone" }], (u) => u.displayName === "Erin Stone"],
      [
        "Entra ID",
        [{ op: "Replace", path: 'emails[type eq "work"].value', value: "erin.stone@acme.test" }],
        (u) => u.emails[0].value === "erin.stone@acme.test",
      ],
      [
        "Entra ID",
        [{ op: "Add", path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", value: "Ops" }],
        (u) => u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].department === "Ops",
      ],
      ["RFC 7644", [{ op: "remove", path: "displayName" }], (u) => u.displayName === undefined],
    ];
    for (const [dialect, operations, holds] of cases) {
      const patched = await scim("PATCH", `/Users/${id}`, { body: { schemas: [PATCH], Operations: operations } });
      assert.equal(patched.status, 200, `${dialect}: ${JSON.stringify(operations)} → ${JSON.stringify(patched.body)}`);
      assert.ok(holds(patched.body), `${dialect}: ${JSON.stringify(operations)} → ${JSON.stringify(patched.body)}`);
      assert.ok(holds((await scim("GET", `/Users/${id}`)).body), `${dialect}: stored`);
    }
    const [row] = await rows("SELECT email FROM users WHERE id = ?", id);
    assert.equal(row.email, "erin.stone@acme.test", "the primary email is the user's email");
  });

  test("bad input gets a SCIM error with a scimType, and the database is unchanged", async () => {
    const { body: existing } = await scim("POST", "/Users", { body: { schemas: [USER], userName: "fay@acme.test" } });
    const before = await usersTable();
    const filters = [
      "userName eq",
      'userName eq "x" and',
      "((((((((((((((((((userName pr))))))))))))))))))",
      'title eq "x"',
      'userName eq "x" or 1=1 --',
      "userName eq \"x'; DROP TABLE users; --\"",
    ];
    for (const filter of filters) {
      const refused = await scim("GET", `/Users?filter=${encodeURIComponent(filter)}`);
      if (filter.includes("DROP")) {
        assert.equal(refused.status, 200, "an injection in a value is only a value");
        assert.equal(refused.body.totalResults, 0);
      } else {
        assertScimError(refused, 400, "invalidFilter");
      }
    }
    assertScimError(await scim("POST", "/Users", { raw: "{not json" }), 400, "invalidSyntax");
    assertScimError(await scim("POST", "/Users", { body: { schemas: [USER], userName: "g", shoeSize: 44 } }), 400, "invalidValue");
    assertScimError(await scim("POST", "/Users", { body: { schemas: [USER], displayName: "no user name" } }), 400, "invalidValue");
    assertScimError(await scim("POST", "/Users", { body: { schemas: [USER], userName: "g", password: "hunter2" } }), 400, "invalidValue");
    const patch = (operations) => scim("PATCH", `/Users/${existing.id}`, { body: { schemas: [PATCH], Operations: operations } });
    assertScimError(await patch([{ op: "add", path: "groups", value: [{ value: "admins" }] }]), 400, "mutability");
    assertScimError(await patch([{ op: "replace", path: "nope", value: 1 }]), 400, "invalidPath");
    assertScimError(await patch([{ op: "explode", path: "active", value: true }]), 400, "invalidSyntax");
    const big = await postOversized(`${gw}/scim/v2/acme/Users`, 300_000, { authorization: `Bearer ${tokens.acme}` });
    assert.equal(big.status, 413, "the edge guard refuses it before SCIM reads it");
    assert.equal((await scim("PATCH", "/Users")).status, 405);
    assert.deepEqual(await usersTable(), before);
  });

  test("active: false from the IdP ends the user's live sessions at once, and refuses their next login", async () => {
    const first = new Browser();
    const { callback: firstCallback } = await first.loginWithOidc(gw, { login: "alice", provider: "acme-sso" });
    assert.equal(firstCallback.status, 302, await firstCallback.clone().text());
    const found = await scim("GET", `/Users?filter=${encodeURIComponent('emails.value eq "alice@corp.test"')}`);
    assert.equal(found.body.totalResults, 1, "the user provisioned at login is the IdP's to manage");
    const id = found.body.Resources[0].id;
    // Her sessions were ended once already (a block, lifted): the revocation a deprovisioning
    // records later must still end the session she started in between.
    assert.equal((await admin("POST", `/tenants/acme/users/${id}/block`)).status, 200);
    assert.equal((await admin("POST", `/tenants/acme/users/${id}/unblock`)).status, 200);
    const deleteBlocked = async () => {
      await admin("POST", `/tenants/acme/users/${id}/block`);
      const refused = await scim("DELETE", `/Users/${id}`);
      await admin("POST", `/tenants/acme/users/${id}/unblock`);
      return refused;
    };
    assert.equal((await deleteBlocked()).status, 409, "deleting would drop an administrator's block");
    const browser = new Browser();
    await browser.loginWithOidc(gw, { login: "alice", provider: "acme-sso" });
    assert.equal((await browser.request(`${gw}/app/whoami`)).status, 200);

    const off = await scim("PATCH", `/Users/${id}`, { body: { schemas: [PATCH], Operations: [{ op: "replace", value: { active: false } }] } });
    assert.equal(off.status, 200);
    assert.equal(off.body.active, false);
    const after = await browser.request(`${gw}/app/whoami`, { api: true });
    assert.equal(after.status, 401, "the session ended at once");
    const again = await new Browser().loginWithOidc(gw, { login: "alice", provider: "acme-sso" });
    assert.equal(again.callback.status, 403);
    assert.match(await again.callback.text(), /account_disabled/);
    const [row] = await rows("SELECT status FROM users WHERE id = ?", id);
    assert.equal(row.status, "deprovisioned");
  });
});

describe("SCIM Groups", () => {
  const GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group";
  const members = (group) => rows("SELECT user_id FROM memberships m JOIN scim_groups g ON g.tenant_id = m.tenant_id AND g.display_name = m.group_name WHERE g.id = ? ORDER BY user_id", group);
  const userIds = async (n) => {
    const ids = [];
    for (let i = 0; i < n; i += 1) {
      const made = await scim("POST", "/Users", { body: { schemas: [USER], userName: `member${i}-${Date.now()}@acme.test` } });
      ids.push(made.body.id);
    }
    return ids.sort();
  };

  test("PATCH as Okta and Entra ID send it, stored as memberships", async () => {
    const [a, b, c] = await userIds(3);
    const made = await scim("POST", "/Groups", { body: { schemas: [GROUP], displayName: "Engineering", members: [{ value: a }] } });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const id = made.body.id;
    assert.equal(made.headers.get("location"), `${gw}/scim/v2/acme/Groups/${id}`);
    const cases = [
      ["Okta adds", [{ op: "add", path: "members", value: [{ value: b }, { value: c }] }], [a, b, c]],
      ["Okta removes by filter", [{ op: "remove", path: `members[value eq "${a}"]` }], [b, c]],
      ["Entra removes by value", [{ op: "Remove", path: "members", value: [{ value: b }] }], [c]],
      ["Entra adds", [{ op: "Add", path: "members", value: [{ value: a }] }], [a, c]],
      ["Okta renames", [{ op: "replace", value: { id, displayName: "Eng" } }], [a, c]],
      ["Entra renames", [{ op: "Replace", path: "displayName", value: "Engineering" }], [a, c]],
    ];
    for (const [dialect, operations, expected] of cases) {
      const patched = await scim("PATCH", `/Groups/${id}`, { body: { schemas: [PATCH], Operations: operations } });
      assert.equal(patched.status, 200, `${dialect}: ${JSON.stringify(patched.body)}`);
      assert.deepEqual((await members(id)).map((m) => m.user_id), expected.sort(), dialect);
    }
    const listed = await scim("GET", `/Groups?filter=${encodeURIComponent('displayName eq "engineering"')}&excludedAttributes=members`);
    assert.equal(listed.body.totalResults, 1);
    assert.equal(listed.body.Resources[0].members, undefined, "Entra ID's excludedAttributes=members");
    assert.equal((await scim("GET", `/Groups/${id}`, { tenant: "globex" })).status, 404, "another tenant sees nothing");
    const stranger = await scim("PATCH", `/Groups/${id}`, {
      body: { schemas: [PATCH], Operations: [{ op: "add", path: "members", value: [{ value: "usr_AAAAAAAAAAAAAAAAAAAAAA" }] }] },
    });
    assertScimError(stranger, 400, "invalidValue");
    assertScimError(await scim("POST", "/Groups", { body: { schemas: [GROUP], displayName: "ENGINEERING" } }), 409, "uniqueness");
    assert.equal((await scim("DELETE", `/Groups/${id}`)).status, 204);
    assert.deepEqual(await members(id), []);
  });

  test("leaving a group that maps to a role ends the member's sessions at once", async () => {
    const browser = new Browser();
    await browser.loginWithOidc(gw, { login: "bob", provider: "acme-sso" });
    const found = await scim("GET", `/Users?filter=${encodeURIComponent('userName eq "bob@partner.test"')}`);
    const bob = found.body.Resources[0].id;
    const group = await scim("POST", "/Groups", { body: { schemas: [GROUP], displayName: "Finance", members: [{ value: bob }] } });
    const mapped = await admin("PUT", "/tenants/acme/role-mappings", { mappings: [{ group: "Finance", role: "billing-admin" }] });
    assert.equal(mapped.status, 200, JSON.stringify(mapped.body));
    await browser.loginWithOidc(gw, { login: "bob", provider: "acme-sso" });
    assert.equal((await browser.request(`${gw}/billing/x`)).status, 200, "the SCIM group grants the role; the login kept it");
    const removed = await scim("PATCH", `/Groups/${group.body.id}`, {
      body: { schemas: [PATCH], Operations: [{ op: "remove", path: `members[value eq "${bob}"]` }] },
    });
    assert.equal(removed.status, 200);
    assert.equal((await browser.request(`${gw}/billing/x`, { api: true })).status, 401, "the session ended at once");
    const again = new Browser();
    await again.loginWithOidc(gw, { login: "bob", provider: "acme-sso" });
    assert.equal((await again.request(`${gw}/billing/x`)).status, 403, "and the next one lacks the role");
  });
});

describe("the scim2-tester compliance checker", () => {
  test("runs against the tenant's service provider and finds no error", { skip: !existsSync(SCIM_PYTHON) && "run `bash scripts/bootstrap.sh --with-scim`" }, async () => {
    const { stdout } = await run(SCIM_PYTHON, ["tests/support/scim_compliance.py", `${gw}/scim/v2/globex`], {
      env: { ...process.env, SCIM_TOKEN: tokens.globex },
      maxBuffer: 16 * 1024 * 1024,
    });
    const results = JSON.parse(stdout);
    const tally = {};
    for (const result of results) tally[result.status] = (tally[result.status] ?? 0) + 1;
    console.log(`scim2-tester: ${results.length} checks: ${JSON.stringify(tally)}`);
    const failed = results.filter((r) => ["ERROR", "CRITICAL"].includes(r.status));
    for (const result of results.filter((r) => r.status !== "SUCCESS")) {
      console.log(`  ${result.status} ${result.resource_type ?? ""} ${result.title}: ${result.reason ?? ""}`);
    }
    assert.ok(results.length > 20, "the checker ran its checks");
    assert.deepEqual(failed, []);
  });
});

// Tenants end to end: the built worker in workerd with local D1, two tenants each with its own
// real OpenID Provider, a local DNS-over-HTTPS resolver and the recording origin. Domains are
// claimed, proven by a TXT record, and only then route an email to its tenant's IdP; a tenant's
// groups map to the deployment's roles at every login; a tenant administrator manages its own
// tenant and nothing else.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startOrigin } from "./support/origin.mjs";
import { Browser, oidcProviderEntry, startLoginStack } from "./support/login.mjs";
import { startIssuer } from "./support/idp-keys.mjs";
import { startDohResolver } from "./support/doh-resolver.mjs";
import { TEST_ADMIN_KEY, jwtIssuer } from "./support/config.mjs";
import { OIDC_SECRET } from "./support/login.mjs";
import { startFaultControl } from "./support/faulty-bindings.mjs";

let origin;
let stack;
let gw;
let db;
let resolver;
let issuer;
let otherIssuer;
// D1 can be made to fail (support/faulty-bindings.mjs); the real database is REAL_PORTCULLIS_DB.
let faults;

// Tenant acme signs in at the stack's IdP; tenant globex at its own.
const GLOBEX_ACCOUNTS = {
  gina: { email: "gina@globex.test", email_verified: true, name: "Gina", groups: ["finance"] },
  // Globex's IdP asserting an address in a domain acme has verified.
  spy: { email: "ceo@acme.test", email_verified: true, name: "Not the CEO", groups: [] },
};
const INITECH_ACCOUNTS = {
  ivan: { email: "ivan@initech.test", email_verified: true, name: "Ivan", groups: ["tps"] },
};
const ACME_ACCOUNTS = {
  // "admins" names a deployment role, which a tenant's IdP can never confer.
  ann: { email: "ann@acme.test", email_verified: true, name: "Ann", groups: ["finance", "eng", "admins"] },
};

before(async () => {
  origin = await startOrigin();
  resolver = await startDohResolver();
  issuer = await startIssuer();
  otherIssuer = await startIssuer();
  faults = await startFaultControl();
  const connection = (idp, id, tenant) =>
    oidcProviderEntry(idp, id, { scopes: ["openid", "email", "profile", "groups"], directory: { tenant } });
  stack = await startLoginStack({
    origin,
    withGithub: false,
    idpOptions: { accounts: ACME_ACCOUNTS },
    extraIdps: [{ accounts: GLOBEX_ACCOUNTS }, { accounts: INITECH_ACCOUNTS }],
    extraProviders: ({ idp, idps }) => [connection(idp, "acme-sso", "acme"), connection(idps[0], "globex-sso", "globex")],
    routes: [
      { id: "billing", path: "/billing/*", policy: "authenticated", roles: ["billing-admin"] },
      { id: "admin", path: "/admin/*", policy: "authenticated", roles: ["admin"] },
      { id: "app", path: "/*", policy: "authenticated" },
    ],
    configFields: {
      roles: { admin: { groups: ["admins"] }, "billing-admin": { permissions: ["invoices:write"], tenant_assignable: true } },
      jwt: { issuers: [jwtIssuer(issuer), jwtIssuer(otherIssuer)] },
      api_keys: { prefix: "pk_test" },
      directory: { dns_resolver: resolver.url, tenant_admin_issuers: [issuer.issuer] },
    },
    faults,
  });
  gw = stack.gateway.url;
  db = await stack.gateway.mf.getD1Database("REAL_PORTCULLIS_DB");
});

after(async () => {
  await stack?.close();
  await origin?.close();
  await resolver?.close();
  await issuer?.close();
  await otherIssuer?.close();
  await faults?.close();
});

/** Calls the directory API as `token` (the deployment admin key unless given; `null`: none). */
async function api(method, path, body, token = TEST_ADMIN_KEY) {
  const headers = token === null ? {} : { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const init = { method, headers, body: body === undefined ? undefined : JSON.stringify(body) };
  const response = await fetch(`${gw}/auth/directory${path}`, init);
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** A tenant administrator's token for `tenant`, from the trusted issuer. */
const tenantAdmin = (tenant, claims = {}) =>
  issuer.sign("ES256", { claims: { sub: `it@${tenant}`, scope: "portcullis:tenant-admin", tenant, ...claims } });

const rows = async (sql, ...params) => (await db.prepare(sql).bind(...params).all()).results;
const snapshot = async () => ({
  tenants: await rows("SELECT * FROM tenants ORDER BY id"),
  claims: await rows("SELECT * FROM domain_claims ORDER BY tenant_id, domain"),
  mappings: await rows("SELECT * FROM role_mappings ORDER BY tenant_id, group_name, role"),
  users: await rows("SELECT id, tenant_id, status FROM users ORDER BY id"),
  connections: await rows("SELECT id, tenant_id, settings, activated_at_ms FROM connections ORDER BY id"),
  setupLinks: await rows("SELECT * FROM setup_links ORDER BY id"),
  scimTokens: await rows("SELECT id, tenant_id FROM scim_tokens ORDER BY id"),
});

/** Claims `domain` for `tenant` and publishes its TXT record at the resolver; returns the claim. */
async function claimAndPublish(tenant, domain) {
  const claimed = await api("POST", `/tenants/${tenant}/domains`, { domain });
  assert.equal(claimed.status, 201, JSON.stringify(claimed.body));
  const { name, value } = claimed.body.challenge;
  resolver.records.set(name, [value]);
  return claimed.body;
}

/** What the origin received for a page the browser loads. */
async function seenByOrigin(browser, path = "/app/whoami") {
  const before = origin.requests.length;
  const response = await browser.request(`${gw}${path}`);
  const seen = origin.requests.slice(before);
  return { status: response.status, response, seen: seen[0] };
}

describe("tenants and their domains", () => {
  test("a deployment administrator creates tenants once; a bad body lists every problem", async () => {
    assert.equal((await api("POST", "/tenants", { id: "acme", name: "Acme Corp" })).status, 201);
    const globex = await api("POST", "/tenants", { id: "globex" });
    assert.equal(globex.status, 201);
    assert.equal(globex.body.name, "globex", "the id names a tenant without a name");
    const again = await api("POST", "/tenants", { id: "acme", name: "Someone else" });
    assert.equal(again.status, 409);
    assert.equal(again.body.error, "tenant_exists");
    const bad = await api("POST", "/tenants", { id: "Not An Id", name: "\u0000" });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, "invalid_request_body");
    assert.equal(bad.body.problems.length, 2, JSON.stringify(bad.body.problems));
    const unknown = await api("POST", "/tenants", { id: "initech", plan: "gold" });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.problems[0], /unknown field `plan`/);
    const tenants = await rows("SELECT id, name FROM tenants ORDER BY id");
    assert.deepEqual(tenants, [{ id: "acme", name: "Acme Corp" }, { id: "globex", name: "globex" }]);
  });

  test("an email routes to its tenant's IdP only once the domain's TXT record is verified", async () => {
    const unrouted = await new Browser().request(`${gw}/auth/login?email=ann@acme.test`);
    assert.equal(unrouted.status, 200, "no tenant owns the domain yet: the choice page");
    assert.match(await unrouted.text(), /No sign-in is set up for that email domain/);

    const claimed = await api("POST", "/tenants/acme/domains", { domain: "ACME.test" });
    assert.equal(claimed.status, 201);
    assert.equal(claimed.body.domain, "acme.test");
    assert.equal(claimed.body.verified, false);
    assert.equal(claimed.body.challenge.name, "_portcullis-challenge.acme.test");
    assert.match(claimed.body.challenge.value, /^portcullis-domain-verification=acme\.[A-Za-z0-9_-]{32}$/, "names the tenant");
    const claimedAgain = await api("POST", "/tenants/acme/domains", { domain: "acme.test" });
    assert.equal(claimedAgain.body.challenge.value, claimed.body.challenge.value, "one claim, one token");

    const stillUnrouted = await new Browser().request(`${gw}/auth/login?email=ann@acme.test`);
    assert.equal(stillUnrouted.status, 200, "a claim that is not verified routes nobody");

    const missing = await api("POST", "/tenants/acme/domains/acme.test/verify");
    assert.equal(missing.status, 409);
    assert.equal(missing.body.error, "domain_not_verified");
    assert.deepEqual(missing.body.found, []);
    resolver.records.set("_portcullis-challenge.acme.test", ["portcullis-domain-verification=typo"]);
    const typo = await api("POST", "/tenants/acme/domains/acme.test/verify");
    assert.equal(typo.status, 409);
    assert.deepEqual(typo.body.found, ["portcullis-domain-verification=typo"], "the admin sees what DNS has");

    resolver.records.set("_portcullis-challenge.acme.test", ["v=spf1 -all", claimed.body.challenge.value]);
    const verified = await api("POST", "/tenants/acme/domains/acme.test/verify");
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
    assert.equal(verified.body.verified, true);
    assert.deepEqual(resolver.state.questions.at(-1), { name: "_portcullis-challenge.acme.test", type: "TXT" });

    const browser = new Browser();
    const { start, callback } = await browser.loginWithOidc(gw, { email: "Ann@ACME.test", login: "ann" });
    assert.ok(start.headers.get("location").startsWith(stack.idp.issuer), "sent to acme's own IdP");
    assert.match(start.headers.get("location"), /login_hint=Ann%40ACME\.test/);
    assert.equal(callback.status, 302, await callback.clone().text());
    const { status, seen } = await seenByOrigin(browser);
    assert.equal(status, 200);
    assert.equal(seen.headers["x-auth-tenant"], "acme");
    assert.match(seen.headers["x-auth-user-id"], /^usr_/);
    const [user] = await rows("SELECT tenant_id, email FROM users WHERE id = ?", seen.headers["x-auth-user-id"]);
    assert.deepEqual(user, { tenant_id: "acme", email: "ann@acme.test" });
  });

  test("each tenant has its own IdP: globex's domain routes to globex's", async () => {
    await claimAndPublish("globex", "globex.test");
    assert.equal((await api("POST", "/tenants/globex/domains/globex.test/verify")).status, 200);
    const browser = new Browser();
    const { start, callback } = await browser.loginWithOidc(gw, { email: "gina@globex.test", login: "gina" });
    assert.ok(start.headers.get("location").startsWith(stack.idps[0].issuer), "sent to globex's IdP");
    assert.equal(callback.status, 302, await callback.clone().text());
    const { seen } = await seenByOrigin(browser);
    assert.equal(seen.headers["x-auth-tenant"], "globex");
  });

  test("a domain another tenant verified cannot be claimed, and a squatter's claim keeps nobody out", async () => {
    for (const domain of ["acme.test", "sso.acme.test"]) {
      const taken = await api("POST", "/tenants/globex/domains", { domain });
      assert.equal(taken.status, 409, domain);
      assert.equal(taken.body.error, "domain_claimed", "a domain another tenant verified, and what is under it");
    }

    // globex squats initech.test first; initech proves it, and the squat is gone.
    assert.equal((await api("POST", "/tenants", { id: "initech" })).status, 201);
    await api("POST", "/tenants/globex/domains", { domain: "initech.test" });
    await claimAndPublish("initech", "initech.test");
    const squatterVerify = await api("POST", "/tenants/globex/domains/initech.test/verify");
    assert.equal(squatterVerify.status, 409, "the owner's record does not prove the squatter's claim");
    assert.equal((await api("POST", "/tenants/initech/domains/initech.test/verify")).status, 200);
    const globex = await api("GET", "/tenants/globex");
    assert.deepEqual(globex.body.domains.map((d) => d.domain), ["globex.test"], "the squat was dropped");
    const owners = await rows("SELECT tenant_id FROM domain_claims WHERE domain = 'initech.test'");
    assert.deepEqual(owners, [{ tenant_id: "initech" }]);
  });

  test("bad domains, unclaimed domains and a failing resolver get clear 4xx or 503, and change nothing", async () => {
    const before = await snapshot();
    for (const domain of ["localhost", "acme..test", "10.0.0.1", "x'; DROP TABLE domain_claims; --.test", "bücher.test"]) {
      const refused = await api("POST", "/tenants/acme/domains", { domain });
      assert.equal(refused.status, 400, domain);
      assert.equal(refused.body.error, "invalid_request_body");
      assert.match(refused.body.problems[0], /^domain: /);
    }
    const unclaimed = await api("POST", "/tenants/acme/domains/nowhere.test/verify");
    assert.equal(unclaimed.status, 404);
    assert.equal(unclaimed.body.error, "domain_not_found");
    const noTenant = await api("POST", "/tenants/nobody/domains", { domain: "nobody.test" });
    assert.equal(noTenant.status, 404);
    assert.equal(noTenant.body.error, "tenant_not_found");
    const notCanonical = await api("POST", "/tenants/acme/domains/ACME.test/verify");
    assert.equal(notCanonical.status, 404, "a path names a domain as stored");

    await api("POST", "/tenants/acme/domains", { domain: "later.acme.test" });
    resolver.state.failing = true;
    try {
      const down = await api("POST", "/tenants/acme/domains/later.acme.test/verify");
      assert.equal(down.status, 503);
      assert.equal(down.body.error, "dns_unavailable");
      assert.doesNotMatch(JSON.stringify(down.body), /127\.0\.0\.1|SERVFAIL|Status/);
    } finally {
      resolver.state.failing = false;
    }
    const [later] = await rows("SELECT verified_at_ms FROM domain_claims WHERE domain = 'later.acme.test'");
    assert.equal(later.verified_at_ms, null, "a resolver that fails verifies nothing");
    const released = await api("DELETE", "/tenants/acme/domains/later.acme.test");
    assert.equal(released.status, 200);
    assert.equal((await api("DELETE", "/tenants/acme/domains/later.acme.test")).status, 404);
    assert.deepEqual(await snapshot(), before);
  });
});

describe("group → role mappings", () => {
  test("a tenant maps its groups to the deployment's roles; a group removed at the IdP removes the role", async () => {
    const invented = await api("PUT", "/tenants/acme/role-mappings", {
      mappings: [{ group: "finance", role: "root" }, { group: "", role: "billing-admin" }, { group: "eng", role: "admin" }],
    });
    assert.equal(invented.status, 400);
    assert.equal(invented.body.problems.length, 3, "every problem at once");
    assert.match(invented.body.problems[0], /"root" is not a role of this deployment/);
    assert.match(invented.body.problems[2], /"admin" is not tenant_assignable/);
    const set = await api("PUT", "/tenants/acme/role-mappings", { mappings: [{ group: "finance", role: "billing-admin" }] });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(set.body.role_mappings, [{ group: "finance", role: "billing-admin" }]);

    const first = new Browser();
    await first.loginWithOidc(gw, { email: "ann@acme.test", login: "ann" });
    const allowed = await seenByOrigin(first, "/billing/invoices");
    assert.equal(allowed.status, 200, "finance maps to billing-admin");
    assert.equal(allowed.seen.headers["x-auth-roles"], "billing-admin");
    const deployment = await first.request(`${gw}/admin/panel`);
    assert.equal(deployment.status, 403, "the tenant's IdP says ann is in admins: that confers nothing");

    ACME_ACCOUNTS.ann.groups = ["eng"];
    try {
      const second = new Browser();
      await second.loginWithOidc(gw, { email: "ann@acme.test", login: "ann" });
      const refused = await second.request(`${gw}/billing/invoices`);
      assert.equal(refused.status, 403);
      assert.match(await refused.text(), /missing_role/, "the group is gone, and so is the role");
      const groups = await rows("SELECT group_name FROM memberships WHERE tenant_id = 'acme' ORDER BY group_name");
      assert.deepEqual(groups.map((g) => g.group_name), ["eng"]);
    } finally {
      ACME_ACCOUNTS.ann.groups = ["finance", "eng"];
    }
    // Globex's members are not acme's: globex has no mapping, so its finance group grants nothing.
    const gina = new Browser();
    await gina.loginWithOidc(gw, { email: "gina@globex.test", login: "gina" });
    assert.equal((await gina.request(`${gw}/billing/invoices`)).status, 403);
  });
});

describe("what a tenant's IdP may say", () => {
  test("an email in a domain another tenant verified is not kept, nor sent to the origin", async () => {
    const browser = new Browser();
    const { callback } = await browser.loginWithOidc(gw, { provider: "globex-sso", login: "spy" });
    assert.equal(callback.status, 302, await callback.clone().text());
    const { seen } = await seenByOrigin(browser);
    assert.equal(seen.headers["x-auth-tenant"], "globex");
    assert.equal(seen.headers["x-auth-email"], undefined, "globex's IdP does not speak for acme.test");
    const [spy] = await rows("SELECT email FROM users WHERE id = ?", seen.headers["x-auth-user-id"]);
    assert.equal(spy.email, null);
  });

  test("removing a mapping ends the sessions of the members who lose its role", async () => {
    await api("PUT", "/tenants/acme/role-mappings", { mappings: [{ group: "finance", role: "billing-admin" }] });
    const browser = new Browser();
    await browser.loginWithOidc(gw, { email: "ann@acme.test", login: "ann" });
    assert.equal((await browser.request(`${gw}/billing/invoices`)).status, 200);
    const removed = await api("PUT", "/tenants/acme/role-mappings", { mappings: [] });
    assert.equal(removed.status, 200);
    assert.ok(removed.body.identities_signed_out >= 1, JSON.stringify(removed.body));
    assert.equal(removed.body.more_sessions_keep_old_roles, false);
    const after = await browser.request(`${gw}/billing/invoices`, { api: true });
    assert.equal(after.status, 401, "the session that carried the role has ended");
    const again = new Browser();
    await again.loginWithOidc(gw, { email: "ann@acme.test", login: "ann" });
    assert.equal((await again.request(`${gw}/billing/invoices`)).status, 403, "and the next one lacks it");
  });

  test("a removal whose write lands but whose answer is lost has already ended the sessions", async () => {
    await api("PUT", "/tenants/acme/role-mappings", { mappings: [{ group: "finance", role: "billing-admin" }] });
    const browser = new Browser();
    await browser.loginWithOidc(gw, { email: "ann@acme.test", login: "ann" });
    assert.equal((await browser.request(`${gw}/billing/invoices`)).status, 200);
    // The write (one D1 batch) takes effect and then reports a failure, as after a timeout.
    faults.set("PORTCULLIS_DB", "batch", { mode: "lost_reply" });
    let failed;
    try {
      failed = await api("PUT", "/tenants/acme/role-mappings", { mappings: [] });
    } finally {
      faults.clear();
    }
    assert.equal(failed.status, 503, JSON.stringify(failed.body));
    assert.deepEqual(await rows("SELECT group_name FROM role_mappings WHERE tenant_id = 'acme'"), [], "the write landed");
    const after = await browser.request(`${gw}/billing/invoices`, { api: true });
    assert.equal(after.status, 401, "its members were signed out before the write, so no retry is needed for that");
  });
});

describe("who administers which tenant", () => {
  test("a tenant administrator manages its own tenant, and gets 403 for every other, changing nothing", async () => {
    const acmeAdmin = await tenantAdmin("acme");
    const [ginaUser] = await rows("SELECT id FROM users WHERE tenant_id = 'globex'");
    const [annUser] = await rows("SELECT id FROM users WHERE tenant_id = 'acme'");
    const cases = [
      ["POST", "/tenants", { id: "evil" }],
      ["GET", "/tenants/globex"],
      ["GET", "/tenants/globex/users"],
      ["POST", `/tenants/globex/users/${ginaUser.id}/block`],
      ["POST", `/tenants/globex/users/${ginaUser.id}/unblock`],
      ["POST", "/tenants/globex/domains", { domain: "evil.test" }],
      ["POST", "/tenants/globex/domains/globex.test/verify"],
      ["DELETE", "/tenants/globex/domains/globex.test"],
      ["PUT", "/tenants/globex/role-mappings", { mappings: [{ group: "finance", role: "admin" }] }],
      ["POST", "/tenants/globex/scim-tokens"],
      ["GET", "/tenants/globex/scim-tokens"],
      ["DELETE", "/tenants/globex/scim-tokens/sct_aaaaaaaaaaaa"],
      ["POST", "/tenants/globex/connections", { type: "oidc", issuer: "https://evil.test", client_id: "x", client_secret: "y" }],
      ["GET", "/tenants/globex/connections"],
      ["DELETE", "/tenants/globex/connections/con_aaaaaaaaaaaaaaaa"],
      ["POST", "/tenants/globex/connections/con_aaaaaaaaaaaaaaaa/activate"],
      ["POST", "/tenants/globex/setup-links", {}],
      ["GET", "/tenants/globex/setup-links"],
      ["DELETE", "/tenants/globex/setup-links/stl_aaaaaaaaaaaaaaaa"],
      ["GET", `/tenants/globex/users/${ginaUser.id}/sessions`],
      ["DELETE", `/tenants/globex/users/${ginaUser.id}/sessions`],
      ["DELETE", `/tenants/globex/users/${ginaUser.id}/sessions/${"A".repeat(43)}`],
      // Its own tenant's id in a body does not reach another tenant's data either.
      ["POST", `/tenants/globex/users/${annUser.id}/block`],
    ];
    const before = await snapshot();
    for (const [method, path, body] of cases) {
      const refused = await api(method, path, body, acmeAdmin);
      assert.equal(refused.status, 403, `${method} ${path}`);
      assert.equal(refused.body.error, "forbidden", `${method} ${path}`);
    }
    assert.deepEqual(await snapshot(), before, "nothing changed");

    const own = await api("GET", "/tenants/acme", undefined, acmeAdmin);
    assert.equal(own.status, 200);
    assert.deepEqual(own.body.domains.filter((d) => d.verified).map((d) => d.domain), ["acme.test"]);
    const users = await api("GET", "/tenants/acme/users", undefined, acmeAdmin);
    assert.deepEqual(users.body.users.map((u) => u.email), ["ann@acme.test"]);
    const mapped = await api("PUT", "/tenants/acme/role-mappings", { mappings: [{ group: "eng", role: "billing-admin" }] }, acmeAdmin);
    assert.equal(mapped.status, 200);
  });

  test("only a JWT with the tenant-admin scope and a tenant is a tenant administrator", async () => {
    const noTenant = await issuer.sign("ES256", { claims: { scope: "portcullis:tenant-admin", tenant: undefined } });
    const noScope = await issuer.sign("ES256", { claims: { scope: "read", tenant: "acme" } });
    const badTenant = await tenantAdmin("ACME CORP");
    // A trusted issuer for API traffic, but not one of directory.tenant_admin_issuers: it could
    // be a tenant's own IdP, which must not administer any tenant.
    const unlisted = await otherIssuer.sign("ES256", { claims: { scope: "portcullis:tenant-admin", tenant: "acme" } });
    assert.equal((await fetch(`${gw}/app/x`, { headers: { authorization: `Bearer ${unlisted}` } })).status, 200);
    for (const token of [noTenant, noScope, badTenant, unlisted]) {
      const refused = await api("GET", "/tenants/acme", undefined, token);
      assert.equal(refused.status, 403);
    }
    const forged = `${(await tenantAdmin("acme")).slice(0, -4)}AAAA`;
    assert.equal((await api("GET", "/tenants/acme", undefined, forged)).status, 401);
    assert.equal((await api("GET", "/tenants/acme", undefined, null)).status, 401);
  });
});

describe("a tenant's own connections, stored in the directory", () => {
  let connectionId;

  test("a connection is created with its secret sealed, and lists without it", async () => {
    const body = {
      type: "oidc", display_name: "Initech SSO", issuer: stack.idps[1].issuer, client_id: "portcullis",
      client_secret: OIDC_SECRET, scopes: ["openid", "email", "profile", "groups"],
    };
    const refused = await api("POST", "/tenants/initech/connections", { ...body, client_secret: "", id: "mine", directory: { tenant: "acme" } });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.problems.length, 3, JSON.stringify(refused.body.problems));
    const made = await api("POST", "/tenants/initech/connections", body);
    assert.equal(made.status, 201, JSON.stringify(made.body));
    connectionId = made.body.id;
    assert.match(connectionId, /^con_[a-z2-7]{16}$/);
    assert.equal(made.body.redirect_uri, `${gw}/auth/callback/${connectionId}`, "its own redirect URI, to paste into the IdP");
    assert.doesNotMatch(JSON.stringify(made.body), new RegExp(OIDC_SECRET));
    const [row] = await rows("SELECT tenant_id, settings, sealed_secret FROM connections WHERE id = ?", connectionId);
    assert.equal(row.tenant_id, "initech");
    assert.doesNotMatch(row.settings, new RegExp(OIDC_SECRET));
    assert.doesNotMatch(Buffer.from(row.sealed_secret, "base64url").toString("latin1"), new RegExp(OIDC_SECRET), "sealed at rest");
    const listed = await api("GET", "/tenants/initech/connections");
    assert.deepEqual(listed.body.connections.map((c) => c.id), [connectionId]);
    assert.doesNotMatch(JSON.stringify(listed.body), new RegExp(OIDC_SECRET));
    assert.equal((await api("GET", "/tenants/initech/connections", undefined, await tenantAdmin("acme"))).status, 403);
  });

  test("the tenant's verified domain routes to its stored connection, which provisions into it", async () => {
    const browser = new Browser();
    const { start, authorizeUrl, callback } = await browser.loginWithOidc(gw, { email: "ivan@initech.test", login: "ivan" });
    assert.equal(start.status, 200, "a page continues to the connection's IdP: form-action names configured providers only");
    assert.match(start.headers.get("set-cookie"), /__Host-portcullis-login/);
    const location = new URL(authorizeUrl);
    assert.equal(location.origin, new URL(stack.idps[1].issuer).origin, "sent to initech's IdP");
    assert.equal(location.searchParams.get("redirect_uri"), `${gw}/auth/callback/${connectionId}`);
    assert.equal(callback.status, 302, await callback.clone().text());
    const { status, seen } = await seenByOrigin(browser);
    assert.equal(status, 200, "the session of a stored connection is admitted without the configuration");
    assert.equal(seen.headers["x-auth-tenant"], "initech");
    const [user] = await rows("SELECT tenant_id FROM users WHERE id = ?", seen.headers["x-auth-user-id"]);
    assert.equal(user.tenant_id, "initech");
    const [identity] = await rows("SELECT connection_id FROM identities WHERE user_id = ?", seen.headers["x-auth-user-id"]);
    assert.equal(identity.connection_id, connectionId);
  });

  test("a sealed secret that was tampered with opens nothing (another row's id: see the host tests)", async () => {
    const [row] = await rows("SELECT sealed_secret FROM connections WHERE id = ?", connectionId);
    const tampered = Buffer.from(row.sealed_secret, "base64url");
    tampered[20] ^= 1;
    await db.prepare("UPDATE connections SET sealed_secret = ? WHERE id = ?").bind(tampered.toString("base64url"), connectionId).run();
    try {
      const refused = await new Browser().request(`${gw}/auth/login?provider=${connectionId}`);
      assert.equal(refused.status, 400);
      assert.match(await refused.text(), /unknown_provider/);
    } finally {
      await db.prepare("UPDATE connections SET sealed_secret = ? WHERE id = ?").bind(row.sealed_secret, connectionId).run();
    }
    assert.equal((await new Browser().request(`${gw}/auth/login?provider=${connectionId}`)).status, 302);
  });

  test("a removed connection signs nobody in", async () => {
    assert.equal((await api("DELETE", `/tenants/initech/connections/${connectionId}`)).status, 200);
    assert.equal((await api("DELETE", `/tenants/initech/connections/${connectionId}`)).status, 404);
    const refused = await new Browser().request(`${gw}/auth/login?provider=${connectionId}`);
    assert.equal(refused.status, 400);
  });
});

describe("a user's sessions, as an administrator sees and ends them", () => {
  test("lists each live session with where it began, ends one, then all", async () => {
    const browsers = [new Browser(), new Browser()];
    for (const [i, browser] of browsers.entries()) {
      const { callback } = await browser.loginWithOidc(gw, { email: "ann@acme.test", login: "ann" });
      assert.equal(callback.status, 302, await callback.clone().text());
      assert.equal((await seenByOrigin(browser)).status, 200, `browser ${i}`);
    }
    const userId = (await seenByOrigin(browsers[0])).seen.headers["x-auth-user-id"];
    const sessionIds = [];
    for (const browser of browsers) {
      const info = await browser.request(`${gw}/auth/session`, { api: true });
      sessionIds.push((await info.json()).session_id);
    }
    const listed = await api("GET", `/tenants/acme/users/${userId}/sessions`);
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    const mine = listed.body.sessions.filter((s) => sessionIds.includes(s.id));
    assert.equal(mine.length, 2, JSON.stringify(listed.body.sessions));
    for (const session of mine) {
      assert.equal(session.connection, "acme-sso");
      assert.ok(session.created_at_ms > 0 && session.expires_at_s > Date.now() / 1000);
      assert.deepEqual(Object.keys(session).sort(), ["client_ip", "connection", "created_at_ms", "expires_at_s", "id", "user_agent"]);
    }
    assert.doesNotMatch(JSON.stringify(listed.body), /__Host-portcullis=|access_token|refresh/i, "no cookie, no token");
    assert.equal((await api("GET", `/tenants/acme/users/${userId}/sessions`, undefined, await tenantAdmin("globex"))).status, 403);
    assert.equal((await api("GET", `/tenants/globex/users/${userId}/sessions`)).status, 404, "not globex's user");

    const ended = await api("DELETE", `/tenants/acme/users/${userId}/sessions/${sessionIds[0]}`);
    assert.equal(ended.status, 200, JSON.stringify(ended.body));
    assert.equal((await api("DELETE", `/tenants/acme/users/${userId}/sessions/${sessionIds[0]}`)).status, 404, "once");
    assert.equal((await seenByOrigin(browsers[0])).status, 302, "that session is over: back to sign-in");
    assert.equal((await seenByOrigin(browsers[1])).status, 200, "the other goes on");
    const after = await api("GET", `/tenants/acme/users/${userId}/sessions`);
    assert.deepEqual(after.body.sessions.filter((s) => sessionIds.includes(s.id)).map((s) => s.id), [sessionIds[1]]);

    const all = await api("DELETE", `/tenants/acme/users/${userId}/sessions`);
    assert.equal(all.status, 200);
    assert.ok(all.body.identities_signed_out >= 1);
    assert.equal((await seenByOrigin(browsers[1])).status, 302, "every session is over");
    assert.deepEqual((await api("GET", `/tenants/acme/users/${userId}/sessions`)).body.sessions, [], "none listed");
    const [user] = await rows("SELECT status FROM users WHERE id = ?", userId);
    assert.equal(user.status, "active", "ending sessions blocks nobody");
  });
});

describe("when D1 is unreachable", () => {
  test("home-realm discovery fails closed with 503 directory_unavailable; configured domains still route", async () => {
    // Last in this file: the claims table goes away.
    await db.prepare("DROP TABLE domain_claims").run();
    const refused = await new Browser().request(`${gw}/auth/login?email=ann@acme.test`);
    assert.equal(refused.status, 503);
    const page = await refused.text();
    assert.match(page, /directory_unavailable/);
    assert.doesNotMatch(page, /domain_claims|SELECT|sqlite|D1_/i, "nothing internal reaches the client");
    const configured = await new Browser().request(`${gw}/auth/login?email=alice@corp.test`);
    assert.equal(configured.status, 302, "a domain the configuration routes needs no directory");
    const token = await issuer.sign("ES256");
    const api = await fetch(`${gw}/app/data`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(api.status, 200, "JWT routes need no directory");
  });
});

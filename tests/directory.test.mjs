// The directory end to end: the built worker in workerd with local D1 (the schema applied from
// migrations/), a real OpenID Provider and the recording origin. A provider that names a tenant
// provisions its users just in time; the origin gets their stable directory id.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startOrigin } from "./support/origin.mjs";
import { Browser, oidcProviderEntry, startLoginStack } from "./support/login.mjs";
import { assertionVerifier } from "./support/assertion-verifier.mjs";
import { TEST_ADMIN_KEY } from "./support/config.mjs";

let origin;
let stack;
let gw;
let db;

before(async () => {
  origin = await startOrigin();
  // The same real IdP as the stack's "corp" provider, provisioning into tenant "acme".
  // Two more connections of the same tenant: one that may link by verified email, one that may not.
  const connection = (idp, id, directory) =>
    oidcProviderEntry(idp, id, { scopes: ["openid", "email", "profile", "groups", "tenant"], directory });
  const provisioned = ({ idp }) => [
    connection(idp, "corp-dir", { tenant: "acme" }),
    connection(idp, "corp-other", { tenant: "acme" }),
    connection(idp, "corp-link", { tenant: "acme", link_by_email: true }),
  ];
  stack = await startLoginStack({ origin, withGithub: false, extraProviders: provisioned });
  gw = stack.gateway.url;
  db = await stack.gateway.mf.getD1Database("PORTCULLIS_DB");
  origin.verifyAssertionsWith(assertionVerifier({ jwksUrl: `${gw}/.well-known/jwks.json`, audience: origin.url }));
});

after(async () => {
  await stack?.close();
  await origin?.close();
});

/** Signs `login` in through `provider`; returns the browser and the callback's response. */
async function signIn(login, provider = "corp-dir") {
  const browser = new Browser();
  const { callback } = await browser.loginWithOidc(gw, { login, provider });
  return { browser, callback };
}

/** What the origin received for a page the browser loads. */
async function seenByOrigin(browser, path = "/app/whoami") {
  const before = origin.requests.length;
  const response = await browser.request(`${gw}${path}`, { headers: { "x-auth-user-id": "usr_forged" } });
  assert.equal(response.status, 200, await response.clone().text());
  const seen = origin.requests.slice(before);
  assert.equal(seen.length, 1);
  return seen[0];
}

/** Calls the directory API with `token` (the admin key unless given; `null` sends none). */
async function admin(method, path, token = TEST_ADMIN_KEY) {
  const headers = token === null ? {} : { authorization: `Bearer ${token}` };
  const response = await fetch(`${gw}/auth/directory${path}`, { method, headers });
  return { status: response.status, body: await response.json() };
}

const rows = async (sql, ...params) => (await db.prepare(sql).bind(...params).all()).results;

describe("just-in-time provisioning", () => {
  test("a first login creates the user in the provider's tenant, and the origin gets its directory id", async () => {
    const { browser, callback } = await signIn("alice");
    assert.equal(callback.status, 302, await callback.clone().text());
    const seen = await seenByOrigin(browser);
    const userId = seen.headers["x-auth-user-id"];
    assert.match(userId, /^usr_[A-Za-z0-9_-]{22}$/, "a directory id, never the client's forged one");
    assert.equal(seen.headers["x-auth-tenant"], "acme");
    assert.equal(seen.headers["x-auth-subject"], "alice", "the IdP's subject stays available");
    assert.equal(seen.assertion?.valid, true, JSON.stringify(seen.assertion));
    assert.equal(seen.assertion.claims.uid, userId);
    const [user] = await rows("SELECT * FROM users WHERE id = ?", userId);
    assert.equal(user.tenant_id, "acme");
    assert.equal(user.email, "alice@corp.test");
    assert.equal(user.status, "active");
    const identities = await rows("SELECT * FROM identities WHERE user_id = ?", userId);
    assert.deepEqual(identities.map((i) => [i.tenant_id, i.connection_id, i.subject]), [["acme", "corp-dir", "alice"]]);
    const groups = await rows("SELECT group_name FROM memberships WHERE user_id = ? ORDER BY group_name", userId);
    assert.deepEqual(groups.map((g) => g.group_name), ["admins", "eng"]);
  });

  test("the next login finds the same user and updates it", async () => {
    const first = await seenByOrigin((await signIn("bob")).browser);
    await db.prepare("UPDATE users SET name = 'stale' WHERE id = ?").bind(first.headers["x-auth-user-id"]).run();
    const again = await seenByOrigin((await signIn("bob")).browser);
    assert.equal(again.headers["x-auth-user-id"], first.headers["x-auth-user-id"]);
    const [user] = await rows("SELECT name FROM users WHERE id = ?", first.headers["x-auth-user-id"]);
    assert.equal(user.name, "Bob", "the IdP's attributes win at each login");
    assert.equal((await rows("SELECT id FROM users WHERE email = 'bob@partner.test'")).length, 1);
  });

  test("another connection asserting a user's email gets 409 email_in_use, unless it links by verified email", async () => {
    const original = (await seenByOrigin((await signIn("alice")).browser)).headers["x-auth-user-id"];
    const refused = await signIn("alice", "corp-other");
    assert.equal(refused.callback.status, 409);
    assert.match(await refused.callback.text(), /email_in_use/);
    const linked = await seenByOrigin((await signIn("alice", "corp-link")).browser);
    assert.equal(linked.headers["x-auth-user-id"], original, "linked to the same user");
    const identities = await rows("SELECT connection_id FROM identities WHERE user_id = ? ORDER BY connection_id", original);
    assert.deepEqual(identities.map((i) => i.connection_id), ["corp-dir", "corp-link"]);
  });

  test("a provider without a directory provisions nobody", async () => {
    const before = (await rows("SELECT count(*) AS n FROM users"))[0].n;
    const seen = await seenByOrigin((await signIn("alice", "corp")).browser);
    assert.equal(seen.headers["x-auth-user-id"], undefined);
    assert.equal((await rows("SELECT count(*) AS n FROM users"))[0].n, before);
  });

  test("a blocked user is refused at login with 403 account_disabled, and gets no session", async () => {
    await signIn("carol");
    await db.prepare("UPDATE users SET status = 'blocked' WHERE id IN (SELECT user_id FROM identities WHERE subject = 'carol')").run();
    const blocked = await rows("SELECT u.id FROM users u JOIN identities i ON i.user_id = u.id WHERE i.subject = 'carol'");
    assert.equal(blocked.length, 1);
    const { callback } = await signIn("carol");
    assert.equal(callback.status, 403);
    assert.match(await callback.text(), /account_disabled/);
    assert.equal(callback.headers.getSetCookie().some((line) => line.startsWith("__Host-portcullis=")), false);
  });

  test("an administrator finds a tenant's users with a SCIM filter, and only that tenant's", async () => {
    await signIn("alice");
    const found = await admin("GET", `/tenants/acme/users?filter=${encodeURIComponent('emails.value eq "Alice@corp.test"')}`);
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.deepEqual(found.body.users.map((u) => [u.email, u.user_name, u.status]), [["alice@corp.test", "alice@corp.test", "active"]]);
    const all = await admin("GET", "/tenants/acme/users?filter=id%20pr");
    assert.ok(all.body.users.length >= 2);
    const elsewhere = await admin("GET", "/tenants/globex/users?filter=id%20pr");
    assert.deepEqual(elsewhere.body.users, [], "another tenant sees none of acme's users");
  });

  test("filters that are not SCIM, or name what cannot be filtered on, get 400 invalid_filter; injections are only values", async () => {
    const before = (await rows("SELECT count(*) AS n FROM users"))[0].n;
    for (const filter of ['userName eq "x" OR 1=1', "userName eq x", 'password eq "x"', "userName eq \"a\"; DROP TABLE users; --", "(".repeat(40) + "id pr" + ")".repeat(40)]) {
      const refused = await admin("GET", `/tenants/acme/users?filter=${encodeURIComponent(filter)}`);
      assert.equal(refused.status, 400, `${filter}: ${JSON.stringify(refused.body)}`);
      assert.equal(refused.body.error, "invalid_filter");
    }
    for (const value of ["x\" OR 1=1 --", "'; DROP TABLE users; --", "%", "_"]) {
      const filter = `userName eq ${JSON.stringify(value)} or emails.value co ${JSON.stringify(value)}`;
      const answered = await admin("GET", `/tenants/acme/users?filter=${encodeURIComponent(filter)}`);
      assert.equal(answered.status, 200, JSON.stringify(answered.body));
      assert.deepEqual(answered.body.users, [], `${value} matched as SQL, not as text`);
    }
    assert.equal((await rows("SELECT count(*) AS n FROM users"))[0].n, before, "the database is unchanged");
  });

  test("only a deployment administrator may use the directory API", async () => {
    assert.equal((await admin("GET", "/tenants/acme/users", null)).status, 401);
    assert.equal((await admin("GET", "/tenants/acme/users", "wrong-admin-key-0123456789abcdefghijkl")).status, 401);
    const { browser } = await signIn("alice");
    const asUser = await browser.request(`${gw}/auth/directory/tenants/acme/users`, { api: true });
    assert.equal(asUser.status, 401, "a session is not an administrator");
  });

  test("blocking a user ends their live sessions at once, and unblocking lets them sign in again", async () => {
    const { browser } = await signIn("alice");
    const userId = (await seenByOrigin(browser)).headers["x-auth-user-id"];
    const blocked = await admin("POST", `/tenants/acme/users/${userId}/block`);
    assert.equal(blocked.status, 200, JSON.stringify(blocked.body));
    assert.equal(blocked.body.status, "blocked");
    const before = origin.requests.length;
    const after = await browser.request(`${gw}/app/whoami`, { api: true });
    assert.equal(after.status, 401, "the live session ended at once");
    assert.equal(origin.requests.length, before);
    assert.equal((await signIn("alice")).callback.status, 403);
    const [stored] = await rows("SELECT status FROM users WHERE id = ?", userId);
    assert.equal(stored.status, "blocked", "a refused login leaves the block in place");
    assert.equal((await admin("POST", `/tenants/acme/users/${userId}/unblock`)).body.status, "active");
    await seenByOrigin((await signIn("alice")).browser);
    const missing = await admin("POST", "/tenants/globex/users/" + userId + "/block");
    assert.equal(missing.status, 404, "another tenant's user is not found");
    assert.equal(missing.body.error, "user_not_found");
  });

  test("with the directory unreachable, a provisioning login fails closed with 503 directory_unavailable", async () => {
    // Last in this file: the directory's tables go away.
    await db.prepare("DROP TABLE identities").run();
    const { callback } = await signIn("alice");
    assert.equal(callback.status, 503);
    const page = await callback.text();
    assert.match(page, /directory_unavailable/);
    assert.doesNotMatch(page, /identities|SELECT|sqlite|D1_/i, "nothing internal reaches the client");
    const seen = await seenByOrigin((await signIn("alice", "corp")).browser);
    assert.equal(seen.headers["x-auth-subject"], "alice", "logins that need no directory still work");
  });
});

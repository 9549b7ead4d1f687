// The directory end to end: the built worker in workerd with local D1 (the schema applied from
// migrations/), a real OpenID Provider and the recording origin. A provider that names a tenant
// provisions its users just in time; the origin gets their stable directory id.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startOrigin } from "./support/origin.mjs";
import { Browser, startLoginStack } from "./support/login.mjs";
import { assertionVerifier } from "./support/assertion-verifier.mjs";

let origin;
let stack;
let gw;
let db;

before(async () => {
  origin = await startOrigin();
  // The same real IdP as the stack's "corp" provider, provisioning into tenant "acme".
  const provisioned = ({ idp }) => [
    {
      id: "corp-dir",
      type: "oidc",
      display_name: "Corp directory",
      issuer: idp.issuer,
      client_id: "portcullis",
      client_secret: "CORP_CLIENT_SECRET",
      scopes: ["openid", "email", "profile", "groups", "tenant"],
      directory: { tenant: "acme" },
    },
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

  test("with the directory unreachable, a provisioning login fails closed with 503 directory_unavailable", async () => {
    // Last in this file: the directory's tables go away.
    await db.prepare("DROP TABLE identities").run();
    const { callback } = await signIn("alice");
    assert.equal(callback.status, 503);
    assert.match(await callback.text(), /directory_unavailable/);
    const seen = await seenByOrigin((await signIn("alice", "corp")).browser);
    assert.equal(seen.headers["x-auth-subject"], "alice", "logins that need no directory still work");
  });
});

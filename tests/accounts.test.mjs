// Local accounts end to end: the built worker in workerd with local KV, Durable Objects and D1,
// a real local mail API capture, a Pwned Passwords range stub and the recording origin.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import {
  BREACHED_PASSWORD,
  GOOD_PASSWORD,
  createAccount,
  errorCode,
  signIn,
  startAccountsStack,
  submit,
} from "./support/accounts.mjs";
import { linkIn } from "./support/mail-capture.mjs";
import { Browser, sessionSetCookie } from "./support/login.mjs";
import { startFaultControl } from "./support/faulty-bindings.mjs";

let stack;
let counter = 0;
/** A fresh address for each test, so tests do not share accounts or throttles. */
const fresh = (domain = "example.test") => `user${++counter}.${process.pid}@${domain}`;

before(async () => {
  stack = await startAccountsStack();
});
after(async () => {
  await stack?.close();
});

async function rows(sql, ...values) {
  const db = await stack.db();
  return (await db.prepare(sql).bind(...values).all()).results;
}

describe("sign-up, verification and sign-in", () => {
  test("a new account signs in and reaches the origin as a password session (amr pwd)", async () => {
    const email = fresh();
    const browser = await createAccount(stack, email);
    const page = await browser.request(`${stack.url}/auth/accounts/sign-in?tenant=trial`);
    assert.equal(page.status, 200);
    const { response } = await signIn(stack, email, GOOD_PASSWORD, { browser, returnTo: "/app/home" });
    assert.equal(response.status, 303, await response.clone().text());
    assert.equal(response.headers.get("location"), "/app/home");
    assert.ok(sessionSetCookie(response), "a session cookie");
    const app = await browser.request(`${stack.url}/app/home`);
    assert.equal(app.status, 200);
    const seen = stack.origin.requests.at(-1);
    assert.equal(seen.headers["x-auth-email"], email);
    assert.equal(seen.headers["x-auth-method"], "session");
    assert.match(seen.headers["x-auth-subject"], /^usr_/);
    const assertion = JSON.parse(Buffer.from(seen.headers["x-portcullis-assertion"].split(".")[1], "base64url"));
    assert.deepEqual(assertion.amr, ["pwd"]);
    assert.equal(assertion.tenant, "trial");
    const stored = await rows("SELECT hash FROM password_credentials WHERE user_id = ?", seen.headers["x-auth-subject"]);
    assert.match(stored[0].hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const info = await (await browser.request(`${stack.url}/auth/session`, { api: true })).json();
    assert.equal(info.provider, "password");
    assert.equal(info.tenant, "trial");
  });
});

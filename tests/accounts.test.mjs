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
    assert.equal(seen.headers["x-auth-amr"], "pwd");
    const authTime = Number(seen.headers["x-auth-time"]);
    assert.ok(Math.abs(authTime - Date.now() / 1000) < 60, `x-auth-time ${seen.headers["x-auth-time"]}`);
    assert.equal(assertion.auth_time, authTime);
    assert.equal(assertion.tenant, "trial");
    const stored = await rows("SELECT hash FROM password_credentials WHERE user_id = ?", seen.headers["x-auth-subject"]);
    assert.match(stored[0].hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const info = await (await browser.request(`${stack.url}/auth/session`, { api: true })).json();
    assert.equal(info.provider, "password");
    assert.equal(info.tenant, "trial");
  });
});

describe("the password policy (NIST SP 800-63B-4), every rule at once", () => {
  const require = createRequire(import.meta.url);
  const { dictionary } = require("@zxcvbn-ts/language-common");
  // A common password long enough to pass the length rule: only the blocklist refuses it.
  const common = dictionary["passwords-common"].find((p) => p.length >= 15 && !/(.)\1\1/.test(p) && !/\d{4}/.test(p));

  const cases = [
    { name: "too short", password: "short words", status: 400, code: "password_policy", says: /at least 15 characters/ },
    { name: "longer than 64 characters", password: "a quiet ".repeat(9), status: 400, code: "password_policy", says: /at most 64/ },
    { name: "blocklisted", password: common, status: 400, code: "password_policy", says: /too common/ },
    { name: "breached (the range stub)", password: BREACHED_PASSWORD, status: 400, code: "password_breached", says: /23174 times/ },
    { name: "a context word (the email's local part)", password: "PLACEHOLDER", status: 400, code: "password_policy", says: /Leave out/ },
    { name: "several rules at once", password: "aaaaaaa", status: 400, code: "password_policy", says: /at least 15[\s\S]*repeated/ },
    { name: "64 characters exactly", password: "lantern ".repeat(8), status: 200 },
  ];
  for (const { name, password, status, code, says } of cases) {
    test(name, async () => {
      const email = fresh();
      const chosen = password === "PLACEHOLDER" ? `my ${email.split("@")[0]} password here` : password;
      const browser = new Browser();
      const response = await submit(browser, stack.url, "sign-up", { email, password: chosen, tenant: "trial" });
      const text = await response.clone().text();
      assert.equal(response.status, status, text);
      if (code) {
        assert.equal(await errorCode(response), code);
        assert.match(text.replace(/&quot;/g, '"'), says);
        // The page keeps the email, never the password.
        assert.ok(text.includes(`value="${email}"`) && !text.includes(chosen.trim()));
        assert.equal(stack.mail.to(email).length, 0, "no mail for a refused password");
      } else {
        await stack.mail.next(email, { subject: /Confirm/ });
      }
    });
  }

  test("only a 5-hex SHA-1 prefix reaches the range API, with padding asked", async () => {
    const before = stack.breach.asked.length;
    await submit(new Browser(), stack.url, "sign-up", { email: fresh(), password: GOOD_PASSWORD, tenant: "trial" });
    const asked = stack.breach.asked.slice(before);
    assert.equal(asked.length, 1);
    assert.match(asked[0].prefix, /^[0-9A-F]{5}$/);
    assert.equal(asked[0].padding, "true");
  });

  test("two NFKC-equal spellings sign in to the same account; whitespace is kept", async () => {
    const email = fresh();
    // U+FB01 (the "fi" ligature) and full-width letters are NFKC-equal to plain "fi" and "AB".
    await createAccount(stack, email, "ﬁne ＡＢ otter lantern ");
    for (const spelling of ["ﬁne ＡＢ otter lantern ", "fine AB otter lantern "]) {
      const { response } = await signIn(stack, email, spelling);
      assert.equal(response.status, 303, spelling);
    }
    // The trailing space is part of the password.
    const { response } = await signIn(stack, email, "fine AB otter lantern");
    assert.equal(response.status, 401);
  });
});

describe("nothing tells which emails have accounts", () => {
  test("sign-up with a taken email shows the same page, and its owner gets an email instead", async () => {
    const email = fresh();
    await createAccount(stack, email);
    const taken = await submit(new Browser(), stack.url, "sign-up", { email, password: GOOD_PASSWORD, tenant: "trial" });
    const other = fresh();
    const free = await submit(new Browser(), stack.url, "sign-up", { email: other, password: GOOD_PASSWORD, tenant: "trial" });
    assert.equal(taken.status, free.status);
    assert.equal(await taken.text(), await free.text());
    const notice = await stack.mail.next(email, { subject: /Your .* account/ });
    assert.match(notice.text, /already has an account/);
    assert.ok(linkIn(notice, "/auth/accounts/forgot"));
    assert.equal(stack.mail.to(email).filter((m) => /Confirm/.test(m.subject)).length, 1, "no second verification link");
  });

  test("forgot-password answers the same for unknown emails, and sends them nothing", async () => {
    const known = fresh();
    await createAccount(stack, known);
    const unknown = fresh();
    const a = await submit(new Browser(), stack.url, "forgot", { email: known, tenant: "trial" });
    const b = await submit(new Browser(), stack.url, "forgot", { email: unknown, tenant: "trial" });
    assert.equal(a.status, 200);
    assert.equal(await a.text(), await b.text());
    await stack.mail.next(known, { subject: /Reset/ });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(stack.mail.to(unknown).length, 0);
  });
});

describe("reset and change of a password", () => {
  test("forgot → reset → sign in; the reset ends every session; the link works once", async () => {
    const email = fresh();
    await createAccount(stack, email);
    const { browser: elsewhere } = await signIn(stack, email, GOOD_PASSWORD);
    assert.equal((await elsewhere.request(`${stack.url}/app/x`)).status, 200);
    const after = Date.now();
    await submit(new Browser(), stack.url, "forgot", { email, tenant: "trial" });
    const mail = await stack.mail.next(email, { subject: /Reset/, after });
    const link = linkIn(mail, "/auth/accounts/reset");
    assert.ok(link && !link.includes(encodeURIComponent(email)) && !link.includes(email), "the link carries no email");
    const browser = new Browser();
    const page = await browser.request(link);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("referrer-policy"), "no-referrer");
    const token = new URL(link).searchParams.get("token");
    // A refused password keeps the link usable.
    const weak = await submit(browser, stack.url, "reset", { token, password: "too short" });
    assert.equal(weak.status, 400);
    const newPassword = "violet harbour engine softly";
    const reset = await submit(browser, stack.url, "reset", { token, password: newPassword });
    assert.equal(reset.status, 200, await reset.clone().text());
    const replay = await submit(browser, stack.url, "reset", { token, password: "another harbour engine softly" });
    assert.equal(replay.status, 400);
    assert.equal(await errorCode(replay), "link_invalid");
    // The other session ended; the old password is gone; the new one works.
    const ended = await elsewhere.request(`${stack.url}/app/x`);
    assert.notEqual(ended.status, 200);
    assert.equal((await signIn(stack, email, GOOD_PASSWORD)).response.status, 401);
    assert.equal((await signIn(stack, email, newPassword)).response.status, 303);
    await stack.mail.next(email, { subject: /was changed/ });
  });

  test("a reset link made before a password change is void", async () => {
    const email = fresh();
    await createAccount(stack, email);
    const t0 = Date.now();
    await submit(new Browser(), stack.url, "forgot", { email, tenant: "trial" });
    const first = new URL(linkIn(await stack.mail.next(email, { subject: /Reset/, after: t0 }), "/auth/accounts/reset"));
    // The password changes in a signed-in session.
    const { browser } = await signIn(stack, email, GOOD_PASSWORD);
    const form = await (await browser.request(`${stack.url}/auth/accounts/password`)).text();
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(form)[1];
    const changed = await submit(browser, stack.url, "password", {
      username: email,
      csrf_token: csrf,
      current_password: GOOD_PASSWORD,
      new_password: "copper meadow whistle gently",
    });
    assert.equal(changed.status, 200, await changed.clone().text());
    const used = await submit(new Browser(), stack.url, "reset", { token: first.searchParams.get("token"), password: "silver meadow whistle gently" });
    assert.equal(await errorCode(used), "link_invalid");
  });

  test("changing the password ends the other sessions and keeps this one", async () => {
    const email = fresh();
    await createAccount(stack, email);
    const { browser: other } = await signIn(stack, email, GOOD_PASSWORD);
    const { browser } = await signIn(stack, email, GOOD_PASSWORD);
    const form = await (await browser.request(`${stack.url}/auth/accounts/password`)).text();
    assert.match(form, /autocomplete="current-password"/);
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(form)[1];
    const wrongCurrent = await submit(browser, stack.url, "password", { username: email, csrf_token: csrf, current_password: "not it at all, sorry", new_password: "copper meadow whistle gently" });
    assert.equal(wrongCurrent.status, 401);
    const noCsrf = await submit(browser, stack.url, "password", { username: email, csrf_token: "forged", current_password: GOOD_PASSWORD, new_password: "copper meadow whistle gently" });
    assert.equal(await errorCode(noCsrf), "csrf_rejected");
    const changed = await submit(browser, stack.url, "password", { username: email, csrf_token: csrf, current_password: GOOD_PASSWORD, new_password: "copper meadow whistle gently" });
    assert.equal(changed.status, 200);
    assert.ok(sessionSetCookie(changed), "a fresh session for this browser");
    assert.equal((await browser.request(`${stack.url}/app/x`)).status, 200);
    assert.notEqual((await other.request(`${stack.url}/app/x`)).status, 200);
  });

  test("the change page needs a password session", async () => {
    const response = await new Browser().request(`${stack.url}/auth/accounts/password`);
    assert.equal(response.status, 303);
    assert.match(response.headers.get("location"), /\/auth\/accounts\/sign-in\?return_to=%2Fauth%2Faccounts%2Fpassword/);
  });
});

describe("links: replay, expiry, purpose", () => {
  test("a verification link works once, and not after it expires", async () => {
    const email = fresh();
    const t0 = Date.now();
    await submit(new Browser(), stack.url, "sign-up", { email, password: GOOD_PASSWORD, tenant: "trial" });
    const token = new URL(linkIn(await stack.mail.next(email, { subject: /Confirm/, after: t0 }), "/auth/accounts/verify")).searchParams.get("token");
    // Used as a reset link: refused (wrong purpose), and not spent.
    const wrongPurpose = await submit(new Browser(), stack.url, "reset", { token, password: "violet harbour engine softly" });
    assert.equal(await errorCode(wrongPurpose), "link_invalid");
    assert.equal((await submit(new Browser(), stack.url, "verify", { token, password: GOOD_PASSWORD })).status, 200);
    assert.equal(await errorCode(await submit(new Browser(), stack.url, "verify", { token, password: GOOD_PASSWORD })), "link_invalid");

    const late = fresh();
    const t1 = Date.now();
    await submit(new Browser(), stack.url, "sign-up", { email: late, password: GOOD_PASSWORD, tenant: "trial" });
    const lateToken = new URL(linkIn(await stack.mail.next(late, { subject: /Confirm/, after: t1 }), "/auth/accounts/verify")).searchParams.get("token");
    const db = await stack.db();
    await db.prepare("UPDATE account_links SET expires_at_ms = ? WHERE email = ?").bind(Date.now() - 1, late).run();
    assert.equal(await errorCode(await submit(new Browser(), stack.url, "verify", { token: lateToken, password: GOOD_PASSWORD })), "link_invalid");
    assert.equal((await rows("SELECT id FROM users WHERE email = ?", late)).length, 0);
  });

  test("junk tokens are refused by their shape; a well-formed unknown one by the store", async () => {
    for (const token of ["", "x", "A".repeat(44), "%00".repeat(20), `${"A".repeat(42)}=`]) {
      const page = await new Browser().request(`${stack.url}/auth/accounts/verify?token=${token}`);
      assert.equal(page.status, 400, token);
      assert.equal(await errorCode(page), "link_invalid");
    }
    const unknown = "A".repeat(43);
    // The page only checks the shape (a mail scanner opening a link spends nothing) ...
    assert.equal((await new Browser().request(`${stack.url}/auth/accounts/verify?token=${unknown}`)).status, 200);
    // ... the form is where the store says no.
    assert.equal(await errorCode(await submit(new Browser(), stack.url, "verify", { token: unknown, password: GOOD_PASSWORD })), "link_invalid");
  });
});

describe("brute force and credential stuffing", () => {
  test("a login storm locks the account: the right password then answers like a wrong one, and the owner is told", async () => {
    const email = fresh();
    await createAccount(stack, email);
    const ip = { "cf-connecting-ip": "198.51.100.7" };
    const attempt = (password) => {
      const browser = new Browser();
      return browser.request(`${stack.url}/auth/accounts/sign-in`, {
        method: "POST",
        body: new URLSearchParams({ email, password, tenant: "trial" }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded", origin: stack.url, ...ip },
      });
    };
    const wrong = [];
    for (let i = 0; i < 5; i++) wrong.push(await attempt(`wrong password number ${i}`));
    assert.deepEqual(wrong.map((r) => r.status), [401, 401, 401, 401, 401]);
    const locked = await attempt(GOOD_PASSWORD);
    assert.equal(locked.status, 401);
    assert.equal(await locked.text(), await wrong[0].clone().text());
    assert.equal(locked.headers.getSetCookie().length, 0);
    const notice = await stack.mail.next(email, { subject: /paused/ });
    assert.match(notice.text, /too many failed attempts/);
    assert.equal(stack.mail.to(email).filter((m) => /paused/.test(m.subject)).length, 1, "told once");
  });

  test("a stuffing run over many accounts from one IP is cut off", async () => {
    const emails = Array.from({ length: 70 }, () => fresh());
    const statuses = [];
    for (const email of emails) {
      const response = await new Browser().request(`${stack.url}/auth/accounts/sign-in`, {
        method: "POST",
        body: new URLSearchParams({ email, password: "a guessed password 1", tenant: "trial" }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded", origin: stack.url, "cf-connecting-ip": "203.0.113.66" },
      });
      statuses.push(response.status);
    }
    assert.deepEqual(statuses.slice(0, 60), Array(60).fill(401));
    assert.deepEqual(statuses.slice(60), Array(10).fill(429));
    // Another IP is not affected.
    assert.equal((await signIn(stack, emails[0], "a guessed password 1")).response.status, 401);
  });
});

describe("bad input gets a clear 4xx, and nothing is stored", () => {
  const cases = [
    { name: "an oversized password", body: `email=a%40b.test&password=${"x".repeat(1025)}`, code: "password_too_large" },
    { name: "a malformed email", body: "email=not-an-email&password=marble+otter+lantern+quietly", code: "email_malformed" },
    { name: "a doubled field", body: "email=a%40b.test&email=c%40d.test&password=marble+otter+lantern+quietly", code: "form_field_doubled" },
    { name: "a missing field", body: "email=a%40b.test", code: "form_field_missing" },
    { name: "a non-UTF-8 body", body: "email=a%40b.test&password=%FF%FE%FD", code: "form_not_utf8" },
    { name: "an unknown field", body: "email=a%40b.test&password=x&is_admin=1", code: "form_field_unexpected" },
  ];
  for (const { name, body, code } of cases) {
    test(name, async () => {
      const before = (await rows("SELECT COUNT(*) AS n FROM account_links"))[0].n;
      const sent = stack.mail.messages.length;
      for (const page of ["sign-up", "sign-in"]) {
        const response = await submit(new Browser(), stack.url, page, {}, { body });
        assert.equal(response.status, 400, `${page}: ${await response.clone().text()}`);
        assert.equal(await errorCode(response), code, page);
      }
      assert.equal((await rows("SELECT COUNT(*) AS n FROM account_links"))[0].n, before);
      assert.equal(stack.mail.messages.length, sent);
    });
  }

  test("a body over the bound is refused before it is read whole", async () => {
    const response = await submit(new Browser(), stack.url, "sign-in", {}, { body: `email=a%40b.test&password=${"x".repeat(9000)}` });
    assert.equal(response.status, 413);
  });

  test("a form from another site is refused (login CSRF)", async () => {
    const response = await submit(new Browser(), stack.url, "sign-in", { email: fresh(), password: GOOD_PASSWORD }, { origin: "https://evil.test" });
    assert.equal(response.status, 403);
    assert.equal(await errorCode(response), "csrf_rejected");
  });

  test("an email outside the tenant's allowed domains may not sign up", async () => {
    const refused = await submit(new Browser(), stack.url, "sign-up", { email: fresh("elsewhere.test"), password: GOOD_PASSWORD, tenant: "acme" });
    assert.equal(refused.status, 403);
    assert.equal(await errorCode(refused), "email_not_allowed");
    const unknownTenant = await submit(new Browser(), stack.url, "sign-up", { email: fresh(), password: GOOD_PASSWORD, tenant: "nope" });
    assert.equal(await errorCode(unknownTenant), "unknown_tenant");
    await createAccount(stack, fresh("acme.test"), GOOD_PASSWORD, { tenant: "acme" });
  });
});

describe("outages", () => {
  test("mail sender down: sign-up says try again, and no half-made account stays", async () => {
    const email = fresh();
    stack.mail.fail(1);
    const response = await submit(new Browser(), stack.url, "sign-up", { email, password: GOOD_PASSWORD, tenant: "trial" });
    assert.equal(response.status, 503);
    assert.equal(await errorCode(response), "mail_unavailable");
    assert.equal((await rows("SELECT COUNT(*) AS n FROM account_links WHERE email = ?", email))[0].n, 0);
    assert.equal((await rows("SELECT COUNT(*) AS n FROM users WHERE email = ?", email))[0].n, 0);
    // It works again once the sender is back (the failed try did not use up the minute's mail).
    const t0 = Date.now();
    const again = await submit(new Browser(), stack.url, "sign-up", { email, password: GOOD_PASSWORD, tenant: "trial" });
    assert.equal(again.status, 200);
    await stack.mail.next(email, { subject: /Confirm/, after: t0 });
  });

  test("breach check down: closed by default (503), open when configured", async () => {
    stack.breach.down(true);
    try {
      const open = await submit(new Browser(), stack.url, "sign-up", { email: fresh(), password: GOOD_PASSWORD, tenant: "trial" });
      assert.equal(open.status, 200);
      const closed = await startAccountsStack({ overrides: { breach_check: { range_url: stack.breach.rangeUrl } } });
      try {
        const response = await submit(new Browser(), closed.url, "sign-up", { email: fresh(), password: GOOD_PASSWORD, tenant: "trial" });
        assert.equal(response.status, 503);
        assert.equal(await errorCode(response), "breach_check_unavailable");
      } finally {
        await closed.close();
      }
    } finally {
      stack.breach.down(false);
    }
  });

  test("directory down: sign-in and sign-up answer 503, nothing else", async () => {
    const faults = await startFaultControl();
    const faulty = await startAccountsStack({ faults });
    try {
      const email = fresh();
      await createAccount(faulty, email);
      for (const op of ["first", "all", "run", "batch"]) faults.set("PORTCULLIS_DB", op, { mode: "error" });
      for (const [page, fields] of [
        ["sign-in", { email, password: GOOD_PASSWORD, tenant: "trial" }],
        ["sign-up", { email: fresh(), password: GOOD_PASSWORD, tenant: "trial" }],
      ]) {
        const response = await submit(new Browser(), faulty.url, page, fields);
        assert.equal(response.status, 503, page);
        assert.equal(await errorCode(response), "temporarily_unavailable");
        assert.equal(response.headers.getSetCookie().length, 0);
      }
      faults.clear();
      assert.equal((await signIn(faulty, email, GOOD_PASSWORD)).response.status, 303);
    } finally {
      await faulty.close();
      await faults.close();
    }
  });
});

describe("timing: unknown and known emails", () => {
  test("identical answers, and response times within noise (a dummy hash runs for unknown emails)", async (t) => {
    const quiet = await startAccountsStack({
      overrides: { throttle: { account: { free_failures: 1000, base_delay_ms: 0, lock_after: 1001, lock_s: 60, window_s: 60 }, ip: { free_failures: 1000, base_delay_ms: 0, lock_after: 1001, lock_s: 60, window_s: 60 } } },
    });
    try {
      const known = fresh();
      await createAccount(quiet, known);
      const timed = async (email) => {
        const started = process.hrtime.bigint();
        const response = await submit(new Browser(), quiet.url, "sign-in", { email, password: "not the password, no", tenant: "trial" });
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        return { ms, status: response.status, body: (await response.text()).replaceAll(email, "EMAIL"), cookies: response.headers.getSetCookie() };
      };
      const knownTimes = [];
      const unknownTimes = [];
      let first;
      for (let round = 0; round < 12; round++) {
        const a = await timed(known);
        const b = await timed(fresh());
        first ??= [a, b];
        assert.equal(a.status, 401);
        assert.equal(b.status, a.status);
        assert.equal(b.body, a.body);
        assert.deepEqual(b.cookies, a.cookies);
        knownTimes.push(a.ms);
        unknownTimes.push(b.ms);
      }
      const median = (list) => [...list].sort((x, y) => x - y)[Math.floor(list.length / 2)];
      const [k, u] = [median(knownTimes), median(unknownTimes)];
      t.diagnostic(`median sign-in: known email ${k.toFixed(1)} ms, unknown email ${u.toFixed(1)} ms (${(u / k).toFixed(2)}×)`);
      // Without the dummy hash an unknown email would answer in a fraction of the known time.
      assert.ok(u > 0.6 * k && u < 1.6 * k, `medians: known ${k.toFixed(1)} ms, unknown ${u.toFixed(1)} ms`);
    } finally {
      await quiet.close();
    }
  });
});

describe("mail through Cloudflare's send_email binding", () => {
  test("the verification mail goes out through the binding with its text and HTML parts", async () => {
    const bound = await startAccountsStack({
      sendEmail: ["EMAIL"],
      overrides: { mail: { from: "no-reply@portcullis.test", sender: { kind: "send_email", binding: "EMAIL" } } },
    });
    try {
      const { readFile } = await import("node:fs/promises");
      const email = fresh();
      const response = await submit(new Browser(), bound.url, "sign-up", { email, password: GOOD_PASSWORD, tenant: "trial" });
      assert.equal(response.status, 200, await response.clone().text());
      let report;
      for (let i = 0; i < 40 && !report; i++) {
        report = bound.gateway.runtimeLogs.find((line) => line.includes("send_email binding called with MessageBuilder"));
        if (!report) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.ok(report, `the binding was called; runtime log:\n${bound.gateway.runtimeLogs.join("\n")}`);
      assert.ok(report.includes(email) && report.includes("no-reply@portcullis.test"));
      const textFile = /Text: (\S+)/.exec(report)[1];
      const htmlFile = /HTML: (\S+)/.exec(report)[1];
      const text = await readFile(textFile, "utf8");
      assert.match(await readFile(htmlFile, "utf8"), /<a [^>]*href="[^"]*\/auth\/accounts\/verify\?/);
      const token = new URL(linkIn({ text }, "/auth/accounts/verify")).searchParams.get("token");
      assert.equal((await submit(new Browser(), bound.url, "verify", { token, password: GOOD_PASSWORD })).status, 200);
      assert.equal((await signIn(bound, email, GOOD_PASSWORD)).response.status, 303);
    } finally {
      await bound.close();
    }
  });
});

describe("hash upkeep and token binding", () => {
  test("a sign-in rehashes a password stored with other argon2id parameters", async () => {
    // The same password, hashed by a gateway configured with t = 3 (same pepper).
    const other = await startAccountsStack({ overrides: { hash: { memory_kib: 19456, iterations: 3, parallelism: 1 } } });
    let olderHash;
    const email = fresh();
    try {
      await createAccount(other, email);
      const db = await other.db();
      olderHash = (await db.prepare("SELECT hash FROM password_credentials").all()).results[0].hash;
    } finally {
      await other.close();
    }
    assert.match(olderHash, /\$m=19456,t=3,p=1\$/);
    await createAccount(stack, email);
    const db = await stack.db();
    const user = (await rows("SELECT id FROM users WHERE email = ?", email))[0].id;
    await db.prepare("UPDATE password_credentials SET hash = ? WHERE user_id = ?").bind(olderHash, user).run();
    assert.equal((await signIn(stack, email, GOOD_PASSWORD)).response.status, 303);
    let current;
    for (let i = 0; i < 40; i++) {
      current = (await rows("SELECT hash FROM password_credentials WHERE user_id = ?", user))[0].hash;
      if (current !== olderHash) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.match(current, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal((await signIn(stack, email, GOOD_PASSWORD)).response.status, 303, "the rehash holds the same password");
  });

  test("a reset link changes its own user's password only", async () => {
    const [ann, bob] = [fresh(), fresh()];
    await createAccount(stack, ann);
    await createAccount(stack, bob);
    const t0 = Date.now();
    await submit(new Browser(), stack.url, "forgot", { email: ann, tenant: "trial" });
    const token = new URL(linkIn(await stack.mail.next(ann, { subject: /Reset/, after: t0 }), "/auth/accounts/reset")).searchParams.get("token");
    // Signed in as bob, the link still resets ann (it carries its user), never the session's.
    const { browser } = await signIn(stack, bob, GOOD_PASSWORD);
    assert.equal((await submit(browser, stack.url, "reset", { token, password: "violet harbour engine softly" })).status, 200);
    assert.equal((await signIn(stack, bob, GOOD_PASSWORD)).response.status, 303);
    assert.equal((await signIn(stack, ann, "violet harbour engine softly")).response.status, 303);
  });
});

describe("the attacker review's findings, pinned", () => {
  test("a dot-segment return_to cannot send a signed-in user to another site", async () => {
    const email = fresh();
    await createAccount(stack, email);
    for (const returnTo of ["/.//evil.test/x", "/..//evil.test/x", "/%2e//evil.test", "/a/..//evil.test"]) {
      const { response } = await signIn(stack, email, GOOD_PASSWORD, { returnTo });
      assert.equal(response.status, 303);
      assert.equal(response.headers.get("location"), "/", returnTo);
    }
  });

  test("a pre-registered address: the link alone does not make the account; the sign-up's password must match", async () => {
    const victim = fresh();
    const t0 = Date.now();
    // The attacker signs up with the victim's address and a password of the attacker's.
    await submit(new Browser(), stack.url, "sign-up", { email: victim, password: "attacker chosen passphrase 1", tenant: "trial" });
    const token = new URL(linkIn(await stack.mail.next(victim, { subject: /Confirm/, after: t0 }), "/auth/accounts/verify")).searchParams.get("token");
    // The victim opens the mail and confirms with the password they would use: refused.
    const confirmed = await submit(new Browser(), stack.url, "verify", { token, password: GOOD_PASSWORD });
    assert.equal(confirmed.status, 401);
    assert.equal((await rows("SELECT COUNT(*) AS n FROM users WHERE email = ?", victim))[0].n, 0, "no account");
    assert.equal((await signIn(stack, victim, "attacker chosen passphrase 1")).response.status, 401);
  });

  test("attempts an IP is refused do not count against the account, and a known browser gets past a stranger's lock", async () => {
    const email = fresh();
    await createAccount(stack, email);
    // The owner signs in once: the browser is known from then on.
    const { browser: owner, response: first } = await signIn(stack, email, GOOD_PASSWORD);
    assert.equal(first.status, 303);
    assert.ok(first.headers.getSetCookie().some((line) => line.startsWith("__Host-portcullis-device=")), "a device cookie");
    const post = (fields, ip, browser = new Browser()) =>
      browser.request(`${stack.url}/auth/accounts/sign-in`, {
        method: "POST",
        body: new URLSearchParams({ tenant: "trial", ...fields }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded", origin: stack.url, "cf-connecting-ip": ip },
      });
    // An IP that is locked already cannot add to the account's count.
    const locked = "203.0.113.200";
    for (let i = 0; i < 60; i++) await post({ email: fresh(), password: "a stuffing guess 1" }, locked);
    for (let i = 0; i < 8; i++) assert.equal((await post({ email, password: `guess ${i} of eight` }, locked)).status, 429);
    assert.equal((await signIn(stack, email, GOOD_PASSWORD)).response.status, 303, "the account is not locked");
    // A stranger locks the email from elsewhere ...
    for (let i = 0; i < 5; i++) await post({ email, password: `wrong guess number ${i}` }, "198.51.100.99");
    assert.equal((await post({ email, password: GOOD_PASSWORD }, "198.51.100.98")).status, 401, "a new browser is locked out");
    await stack.mail.next(email, { subject: /paused/ });
    // ... and the owner's known browser still signs in.
    const again = await post({ email, password: GOOD_PASSWORD }, "192.0.2.1", owner);
    assert.equal(again.status, 303);
  });

  test("a burst of concurrent guesses cannot pass the lock", async () => {
    const email = fresh();
    await createAccount(stack, email);
    const guesses = Array.from({ length: 29 }, (_, i) => `concurrent wrong guess ${i}`);
    const responses = await Promise.all(
      [...guesses, GOOD_PASSWORD].map((password) => submit(new Browser(), stack.url, "sign-in", { email, password, tenant: "trial" })),
    );
    const signedIn = responses.filter((r) => r.status === 303).length;
    // At most lock_after (5) attempts reach the hash; the right password is the last one sent.
    assert.ok(responses.every((r) => [303, 401].includes(r.status)));
    assert.ok(signedIn <= 1);
    const after = await signIn(stack, email, GOOD_PASSWORD);
    // Nobody got in: the burst locked the account, and the right password waits too. One got in:
    // the guesses that the server counted after it may have locked the account again, or not
    // (their order is the runtime's), so either answer is right; nothing else is.
    if (signedIn === 0) assert.equal(after.response.status, 401);
    else assert.ok([303, 401].includes(after.response.status), `${after.response.status}`);
  });

  test("a reset link made before the user was blocked is void", async () => {
    const email = fresh();
    await createAccount(stack, email);
    const t0 = Date.now();
    await submit(new Browser(), stack.url, "forgot", { email, tenant: "trial" });
    const token = new URL(linkIn(await stack.mail.next(email, { subject: /Reset/, after: t0 }), "/auth/accounts/reset")).searchParams.get("token");
    const db = await stack.db();
    await db.prepare("UPDATE users SET status = 'blocked' WHERE email = ?").bind(email).run();
    const reset = await submit(new Browser(), stack.url, "reset", { token, password: "violet harbour engine softly" });
    assert.equal(await errorCode(reset), "link_invalid");
  });

  test("one sign-up mail a minute to an address", async () => {
    const email = fresh();
    await createAccount(stack, email);
    for (let i = 0; i < 5; i++) {
      assert.equal((await submit(new Browser(), stack.url, "sign-up", { email, password: GOOD_PASSWORD, tenant: "trial" })).status, 200);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(stack.mail.to(email).filter((m) => /account/i.test(m.subject) && !/Confirm/.test(m.subject)).length, 1);
  });

  test("with the answer floor, an account hashed at an older, costlier setting answers like any other", async (t) => {
    const floored = await startAccountsStack({
      overrides: {
        // Above what the costlier hash below takes here (about 600 ms of argon2id in wasm on a
        // busy two-core machine): a floor shorter than the slowest hash cannot hide it.
        answer_floor_ms: 1000,
        throttle: { account: { free_failures: 900, base_delay_ms: 0, lock_after: 999, lock_s: 60, window_s: 60 }, ip: { free_failures: 900, base_delay_ms: 0, lock_after: 999, lock_s: 60, window_s: 60 } },
      },
    });
    const costly = await startAccountsStack({ overrides: { hash: { memory_kib: 65536, iterations: 3, parallelism: 1 } } });
    try {
      const [old, current] = [fresh(), fresh()];
      await createAccount(costly, old);
      const oldHash = (await (await costly.db()).prepare("SELECT hash FROM password_credentials").all()).results[0].hash;
      await createAccount(floored, old);
      await createAccount(floored, current);
      await (await floored.db()).prepare("UPDATE password_credentials SET hash = ? WHERE user_id = (SELECT id FROM users WHERE email = ?)").bind(oldHash, old).run();
      const time = async (email) => {
        const started = process.hrtime.bigint();
        const response = await submit(new Browser(), floored.url, "sign-in", { email, password: "not the password, no", tenant: "trial" });
        await response.arrayBuffer();
        return Number(process.hrtime.bigint() - started) / 1e6;
      };
      const samples = { old: [], current: [], unknown: [] };
      for (let round = 0; round < 8; round++) {
        samples.old.push(await time(old));
        samples.current.push(await time(current));
        samples.unknown.push(await time(fresh()));
      }
      const median = (list) => [...list].sort((x, y) => x - y)[list.length >> 1];
      const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
      t.diagnostic(`median sign-in with a 1000 ms floor: ${Object.entries(m).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(", ")}`);
      for (const value of Object.values(m)) assert.ok(value >= 1000, `the floor holds: ${JSON.stringify(m)}`);
      assert.ok(Math.max(...Object.values(m)) - Math.min(...Object.values(m)) < 60, `medians within noise: ${JSON.stringify(m)}`);
    } finally {
      await floored.close();
      await costly.close();
    }
  });
});

describe("the second review's findings, pinned", () => {
  test("someone signing up a victim's address first neither blocks the victim's sign-up nor gets the account", async () => {
    const victim = fresh();
    const t0 = Date.now();
    await submit(new Browser(), stack.url, "sign-up", { email: victim, password: "attacker chosen passphrase 2", tenant: "trial" });
    // The victim signs up in the same minute: no second mail, but the sign-up is kept.
    await submit(new Browser(), stack.url, "sign-up", { email: victim, password: GOOD_PASSWORD, tenant: "trial" });
    const mail = await stack.mail.next(victim, { subject: /Confirm/, after: t0 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(stack.mail.to(victim).length, 1, "one mail in the minute");
    const token = new URL(linkIn(mail, "/auth/accounts/verify")).searchParams.get("token");
    // The one link, confirmed with the victim's own password, makes the victim's account.
    assert.equal((await submit(new Browser(), stack.url, "verify", { token, password: GOOD_PASSWORD })).status, 200);
    assert.equal((await signIn(stack, victim, GOOD_PASSWORD)).response.status, 303);
    assert.equal((await signIn(stack, victim, "attacker chosen passphrase 2")).response.status, 401);
  });

  test("five wrong passwords void a confirmation link", async () => {
    const email = fresh();
    const t0 = Date.now();
    await submit(new Browser(), stack.url, "sign-up", { email, password: GOOD_PASSWORD, tenant: "trial" });
    const token = new URL(linkIn(await stack.mail.next(email, { subject: /Confirm/, after: t0 }), "/auth/accounts/verify")).searchParams.get("token");
    for (let i = 0; i < 5; i++) {
      assert.equal((await submit(new Browser(), stack.url, "verify", { token, password: `a wrong guess, ${i}` })).status, 401);
    }
    const right = await submit(new Browser(), stack.url, "verify", { token, password: GOOD_PASSWORD });
    assert.equal(await errorCode(right), "link_invalid");
    assert.equal((await rows("SELECT COUNT(*) AS n FROM users WHERE email = ?", email))[0].n, 0);
  });

  test("the device cookie never reaches the origin, and a password reset voids it", async () => {
    const email = fresh();
    await createAccount(stack, email);
    const { browser, response } = await signIn(stack, email, GOOD_PASSWORD);
    assert.ok(response.headers.getSetCookie().some((line) => line.startsWith("__Host-portcullis-device=")));
    await browser.request(`${stack.url}/app/x`);
    await browser.request(`${stack.url}/public/x`, { headers: { cookie: `${browser.jar.header(`${stack.url}/`)}; theme=dark` } });
    for (const seen of stack.origin.requests.slice(-2)) {
      assert.ok(!(seen.headers.cookie ?? "").includes("portcullis-device"), `the origin saw ${seen.headers.cookie}`);
    }
    // The password is reset; a stranger then locks the email; the old device cookie no longer helps.
    const t0 = Date.now();
    await submit(new Browser(), stack.url, "forgot", { email, tenant: "trial" });
    const token = new URL(linkIn(await stack.mail.next(email, { subject: /Reset/, after: t0 }), "/auth/accounts/reset")).searchParams.get("token");
    const newPassword = "violet harbour engine softly";
    assert.equal((await submit(new Browser(), stack.url, "reset", { token, password: newPassword })).status, 200);
    for (let i = 0; i < 5; i++) {
      await new Browser().request(`${stack.url}/auth/accounts/sign-in`, {
        method: "POST",
        body: new URLSearchParams({ email, password: `stranger guess ${i}`, tenant: "trial" }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded", origin: stack.url, "cf-connecting-ip": "198.51.100.150" },
      });
    }
    assert.equal((await signIn(stack, email, newPassword, { browser })).response.status, 401);
  });

  test("a stranger's lock does not stop the signed-in owner from changing the password", async () => {
    const email = fresh();
    await createAccount(stack, email);
    const { browser } = await signIn(stack, email, GOOD_PASSWORD);
    for (let i = 0; i < 5; i++) {
      await new Browser().request(`${stack.url}/auth/accounts/sign-in`, {
        method: "POST",
        body: new URLSearchParams({ email, password: `stranger guess ${i}`, tenant: "trial" }).toString(),
        headers: { "content-type": "application/x-www-form-urlencoded", origin: stack.url, "cf-connecting-ip": "198.51.100.151" },
      });
    }
    const form = await (await browser.request(`${stack.url}/auth/accounts/password`)).text();
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(form)[1];
    const changed = await submit(browser, stack.url, "password", { username: email, csrf_token: csrf, current_password: GOOD_PASSWORD, new_password: "copper meadow whistle gently" });
    assert.equal(changed.status, 200, await changed.clone().text());
  });

  test("the ledger down during a reset: 503, nothing changed, and the link still works afterwards", async () => {
    const faults = await startFaultControl();
    const faulty = await startAccountsStack({ faults });
    try {
      const email = fresh();
      await createAccount(faulty, email);
      const t0 = Date.now();
      await submit(new Browser(), faulty.url, "forgot", { email, tenant: "trial" });
      const token = new URL(linkIn(await faulty.mail.next(email, { subject: /Reset/, after: t0 }), "/auth/accounts/reset")).searchParams.get("token");
      faults.set("API_KEY_REVOCATIONS", "fetch", { mode: "error" });
      const failed = await submit(new Browser(), faulty.url, "reset", { token, password: "violet harbour engine softly" });
      assert.equal(failed.status, 503);
      faults.clear();
      assert.equal((await signIn(faulty, email, GOOD_PASSWORD)).response.status, 303, "the old password still works");
      assert.equal((await submit(new Browser(), faulty.url, "reset", { token, password: "violet harbour engine softly" })).status, 200);
      assert.equal((await signIn(faulty, email, "violet harbour engine softly")).response.status, 303);
    } finally {
      await faulty.close();
      await faults.close();
    }
  });
});

// Step-up per route (routes[].mfa), for API calls: a route that needs a second factor, or a recent
// one, is checked against the principal's amr and auth_time; a call that falls short gets 401 with
// RFC 9470's insufficient_user_authentication challenge (acr_values, max_age), and the origin
// never sees it. (The browser's step-up page is not built yet; page loads get the error page.)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startGateway } from "./support/gateway.mjs";
import { startOrigin } from "./support/origin.mjs";
import { startIssuer } from "./support/idp-keys.mjs";
import { baseConfig, jwtIssuer } from "./support/config.mjs";

let origin;
let idp;
let gateway;

before(async () => {
  origin = await startOrigin();
  idp = await startIssuer();
  gateway = await startGateway({
    config: baseConfig(
      origin,
      [
        { id: "passkey-5-min", path: "/payouts/*", policy: "authenticated", mfa: { required: true, methods: ["webauthn"], max_age_s: 300 } },
        { id: "any-factor", path: "/settings/*", policy: "authenticated", mfa: { required: true } },
        { id: "plain", path: "/plain/*", policy: "authenticated" },
      ],
      { jwt: { issuers: [jwtIssuer(idp)] } },
    ),
  });
});

after(async () => {
  await gateway?.close();
  await idp?.close();
  await origin?.close();
});

const now = () => Math.floor(Date.now() / 1000);

async function call(path, claims) {
  const token = await idp.sign("ES256", { claims: { sub: "ann", ...claims } });
  const before = origin.requests.length;
  const response = await fetch(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const body = await response.json().catch(() => ({}));
  return { status: response.status, challenge: response.headers.get("www-authenticate"), body, reached: origin.requests.length > before };
}

test("a recent passkey passes; the origin learns how and when", async () => {
  const authTime = now() - 60;
  const result = await call("/payouts/x", { amr: ["hwk", "mfa"], auth_time: authTime });
  assert.equal(result.status, 200);
  const seen = origin.requests.at(-1);
  assert.equal(seen.headers["x-auth-amr"], "hwk,mfa");
  assert.equal(seen.headers["x-auth-time"], String(authTime));
});

const refusals = [
  ["a stale auth_time", "/payouts/x", { amr: ["hwk"], auth_time: now() - 3600 }, /error_description="a more recent authentication is required", acr_values="phr", max_age=300/],
  ["no auth_time", "/payouts/x", { amr: ["hwk"] }, /more recent/],
  ["the wrong method (a TOTP for a passkey route)", "/payouts/x", { amr: ["pwd", "otp", "mfa"], auth_time: now() }, /error_description="a stronger authentication is required", acr_values="phr", max_age=300/],
  ["a password only", "/settings/x", { amr: ["pwd"], auth_time: now() }, /acr_values="mfa"$/],
  ["no amr at all", "/settings/x", {}, /insufficient_user_authentication/],
  ["amr that is not a list", "/settings/x", { amr: "mfa" }, /insufficient_user_authentication/],
];
for (const [name, path, claims, challenge] of refusals) {
  test(`refused: ${name}`, async () => {
    const result = await call(path, claims);
    assert.equal(result.status, 401);
    assert.equal(result.body.error, "insufficient_user_authentication");
    assert.match(result.challenge ?? "", /^Bearer error="insufficient_user_authentication"/);
    assert.match(result.challenge, challenge);
    assert.equal(result.reached, false, "the origin never sees it");
  });
}

test("any second factor satisfies a route that names none; routes without mfa are unaffected", async () => {
  assert.equal((await call("/settings/x", { amr: ["pwd", "otp"] })).status, 200);
  assert.equal((await call("/plain/x", {})).status, 200);
});

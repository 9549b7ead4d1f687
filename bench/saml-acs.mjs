// `npm run bench:saml` (and the end of `npm run bench`): what a SAML sign-in costs at the edge,
// against an OIDC sign-in's callback.
//
// The built worker runs in workerd through Miniflare with a SAML provider (samlify as the IdP,
// RSA-2048 signatures) and an OIDC provider (oidc-provider@8) side by side. Each round, serially
// and interleaved so that both see the same noise, one browser begins a SAML flow and has samlify
// sign the answer (untimed), then (a) POSTs it to the ACS and follows its handoff: both are
// timed (the ticket
// opened, the response base64-decoded, parsed, its signature verified with WebCrypto's RSA over
// the canonical SignedInfo, the assertion's digest and every profile check, state and assertion
// ID spent in the ledger Durable Object, the session written to KV). Another browser does the
// OIDC flow at its provider (untimed) and then (b) loads /auth/callback: the ticket, the ledger,
// the code redeemed at the provider's token endpoint, the ID token verified, the session written.
// A third flow is the same SAML sign-in with the assertion encrypted (AES-256-GCM, RSA-OAEP to
// the SP's test key, unwrapped in WebCrypto). Medians and the ratio. A single sign-in cannot be repeated (both are single-use by design), so
// this is a serial p50, not a load test.
import { performance } from "node:perf_hooks";
import { readFileSync } from "node:fs";
import { spread } from "./stats.mjs";
import { startOrigin } from "../tests/support/origin.mjs";
import { Browser, startLoginStack } from "../tests/support/login.mjs";
import { formFields, startSamlIdp } from "../tests/support/saml-idp.mjs";
import { loginAtProvider } from "../tests/support/oidc-provider.mjs";

const ROUNDS = Number(process.env.BENCH_SAML_ROUNDS ?? 40);
const WARMUP = 5;

const origin = await startOrigin();
const users = { ann: { email: "ann@saml.test", attributes: { groups: ["eng"] } } };
const idp = await startSamlIdp({ users });
const encryptingIdp = await startSamlIdp({ users, encryptAssertions: "http://www.w3.org/2009/xmlenc11#aes256-gcm" });
const SP_CERTIFICATE = readFileSync(new URL("../tests/support/saml-sp.pem", import.meta.url), "utf8");
const SP_KEY = readFileSync(new URL("../tests/support/saml-sp.key.pem", import.meta.url), "utf8");
const samlProvider = (id, at, extra = {}) => ({
  id,
  type: "saml",
  saml: { idp_entity_id: at.entityId, sso_url: at.ssoUrl, certificates: [at.certificatePem], ...extra },
});
const stack = await startLoginStack({
  origin,
  extraProviders: [samlProvider("bench-saml", idp), samlProvider("bench-saml-enc", encryptingIdp, { require_encryption: true })],
  loginFields: { saml_encryption: { certificate: SP_CERTIFICATE } },
  extraSecrets: { PORTCULLIS_SAML_SP_DECRYPTION_KEY: SP_KEY },
});

/** One SAML sign-in at provider `id`: the ACS and its handoff, timed (samlify's signing is not). */
async function samlSignIn(gw, id) {
  const saml = new Browser();
  const start = await saml.request(`${gw}/auth/login?provider=${id}&return_to=%2Fapp`);
  const page = await fetch(start.headers.get("location"));
  const { samlResponse, relayState } = formFields(await page.text());
  const body = new URLSearchParams({ SAMLResponse: samlResponse, RelayState: relayState }).toString();
  const postedAt = performance.now();
  const answered = await saml.request(`${gw}/auth/callback/${id}`, {
    method: "POST",
    body,
    headers: { "content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "cross-site" },
  });
  await answered.arrayBuffer();
  const handedOff = await saml.request(`${gw}/auth/saml/handoff`);
  await handedOff.arrayBuffer();
  const ms = performance.now() - postedAt;
  if (answered.status !== 303 || handedOff.status !== 303) throw new Error(`${id}: the ACS answered ${answered.status}, the handoff ${handedOff.status}`);
  return ms;
}
try {
  const gw = stack.gateway.url;
  idp.serve({ acsUrl: `${gw}/auth/callback/bench-saml`, spEntityId: `${gw}/auth/saml/bench-saml/metadata` });
  encryptingIdp.serve({
    acsUrl: `${gw}/auth/callback/bench-saml-enc`,
    spEntityId: `${gw}/auth/saml/bench-saml-enc/metadata`,
    spEncryptionCertificatePem: SP_CERTIFICATE,
  });
  const acs = [];
  const encrypted = [];
  const callback = [];
  for (let round = 0; round < ROUNDS + WARMUP; round++) {
    const acsMs = await samlSignIn(gw, "bench-saml");
    const encryptedMs = await samlSignIn(gw, "bench-saml-enc");

    const oidc = new Browser();
    const begun = await oidc.request(`${gw}/auth/login?provider=corp&return_to=%2Fapp`);
    const callbackUrl = await loginAtProvider(begun.headers.get("location"), { login: "alice", jar: oidc.idpJar });
    const calledAt = performance.now();
    const done = await oidc.request(callbackUrl);
    await done.arrayBuffer();
    const callbackMs = performance.now() - calledAt;
    if (done.status !== 302) throw new Error(`the OIDC callback answered ${done.status}`);
    if (round >= WARMUP) {
      acs.push(acsMs);
      encrypted.push(encryptedMs);
      callback.push(callbackMs);
    }
  }
  const a = spread(acs);
  const e = spread(encrypted);
  const c = spread(callback);
  const row = (name, s, ratio) =>
    `${name.padEnd(44)} ${s.median.toFixed(1).padStart(8)} ${s.min.toFixed(1).padStart(8)} ${s.max.toFixed(1).padStart(8)} ${ratio.padStart(10)}`;
  console.log(
    [
      `SAML ACS against the OIDC callback: ${ROUNDS} sign-ins each, serial, interleaved (${WARMUP} warm-up rounds dropped)`,
      "",
      `${"step".padEnd(44)} ${"p50 ms".padStart(8)} ${"min ms".padStart(8)} ${"max ms".padStart(8)} ${"vs OIDC".padStart(10)}`,
      row("OIDC callback (code redeemed at the IdP)", c, "1.00×"),
      row("SAML ACS + handoff (RSA-2048 verified)", a, `${(a.median / c.median).toFixed(2)}×`),
      row("SAML ACS + handoff, assertion encrypted", e, `${(e.median / c.median).toFixed(2)}×`),
      "",
      "vs OIDC: the p50 as a multiple of the OIDC callback's. The OIDC callback includes a round trip to the",
      "provider's token endpoint (on this machine); the ACS has no outbound call, and its time includes the",
      "handoff, the same-site GET that ends the browser's old session and sets the new one's cookie.",
    ].join("\n"),
  );
} finally {
  await stack.close();
  await idp.close();
  await encryptingIdp.close();
  await origin.close();
}

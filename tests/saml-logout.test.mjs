// SAML signed requests, encrypted assertions and Single Logout both ways, end to end: the built
// worker in workerd with this SP's key (a test-only RSA key in tests/support/saml-sp.*, which
// signs and decrypts), samlify 2.x as an IdP that wants signed AuthnRequests and signed logout
// messages (it checks Portcullis's signatures with the SP certificate and signs its own) and
// encrypts its assertions to the SP (AES-256-GCM, RSA-OAEP), and the recording origin.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startOrigin } from "./support/origin.mjs";
import { Browser, rawRequest, sessionSetCookie, startLoginStack } from "./support/login.mjs";
import { IDP_PRIVATE_KEY_PEM, formFields, postToAcs, samlProviderEntry, startSamlIdp } from "./support/saml-idp.mjs";

const SP_CERTIFICATE = readFileSync(new URL("./support/saml-sp.pem", import.meta.url), "utf8");
const SP_KEY = readFileSync(new URL("./support/saml-sp.key.pem", import.meta.url), "utf8");

let origin;
let stack;
let idp;
let gw;

// The subject is an attribute (as Entra ID's object id is), not the NameID a logout names.
const USERS = {
  ann: { email: "ann@saml.test", attributes: { uid: "u-1001", firstName: "Ann", lastName: "Lee", groups: ["eng"] } },
};
const ID = "acme-slo";

before(async () => {
  origin = await startOrigin();
  idp = await startSamlIdp({ users: USERS, wantSignedRequests: true, encryptAssertions: "http://www.w3.org/2009/xmlenc11#aes256-gcm" });
  stack = await startLoginStack({
    origin,
    withGithub: false,
    extraProviders: [
      samlProviderEntry(idp, ID, {
        sign_requests: true, slo_url: `${idp.url}/slo`, require_encryption: true, attributes: { preset: "okta", subject: "uid" },
      }),
    ],
    loginFields: { saml_signing: { certificate: SP_CERTIFICATE }, saml_encryption: { certificate: SP_CERTIFICATE } },
    extraSecrets: { PORTCULLIS_SAML_SP_KEY: SP_KEY, PORTCULLIS_SAML_SP_DECRYPTION_KEY: SP_KEY },
  });
  gw = stack.gateway.url;
  idp.serve({
    acsUrl: `${gw}/auth/callback/${ID}`,
    spEntityId: `${gw}/auth/saml/${ID}/metadata`,
    sloUrl: `${gw}/auth/saml/${ID}/slo`,
    spCertificatePem: SP_CERTIFICATE,
    spEncryptionCertificatePem: SP_CERTIFICATE,
  });
});

after(async () => {
  await stack?.close();
  await idp?.close();
  await origin?.close();
});

/** POSTs a response to the ACS as the IdP's page would (see support/saml-idp.mjs). */
const post = (browser, fields) => postToAcs(browser, { gw, id: ID, idpUrl: idp.url }, fields);

/** A browser signed in through the IdP (which checked the AuthnRequest's signature). */
async function signedIn() {
  const browser = new Browser();
  const start = await browser.request(`${gw}/auth/login?provider=${ID}&return_to=/app/x`);
  assert.equal(start.status, 302, await start.clone().text());
  const page = await fetch(start.headers.get("location"));
  assert.equal(page.status, 200, await page.clone().text());
  const fields = formFields(await page.text());
  const xml = Buffer.from(fields.samlResponse, "base64").toString();
  assert.match(xml, /<saml:EncryptedAssertion/, "the IdP encrypted the assertion");
  assert.doesNotMatch(xml, /ann@saml\.test/, "the subject is secret on the wire");
  assert.equal((await post(browser, fields)).status, 303);
  const done = await browser.request(`${gw}/auth/saml/handoff`);
  assert.equal(done.status, 303, await done.clone().text());
  assert.ok(sessionSetCookie(done));
  return browser;
}

/** What the app answers the browser now (200 signed in; 401 not). */
async function appStatus(browser) {
  return (await browser.request(`${gw}/app/x`, { api: true })).status;
}

describe("signed requests", () => {
  test("the SP metadata publishes the signing certificate, Single Logout and signed requests", async () => {
    const xml = await (await fetch(`${gw}/auth/saml/${ID}/metadata`)).text();
    assert.match(xml, /AuthnRequestsSigned="true"/);
    const published = /<ds:X509Certificate>([^<]+)</.exec(xml)?.[1];
    assert.equal(published, SP_CERTIFICATE.replace(/-----[A-Z ]+-----|\s/g, ""), "the SP key's certificate");
    assert.ok(xml.includes(`<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${gw}/auth/saml/${ID}/slo"/>`), xml);
  });

  test("an IdP that wants signed AuthnRequests takes Portcullis's, and no altered one", async () => {
    const browser = new Browser();
    const start = await browser.request(`${gw}/auth/login?provider=${ID}`);
    const location = new URL(start.headers.get("location"));
    assert.equal(location.searchParams.get("SigAlg"), "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256");
    assert.ok(location.searchParams.get("Signature"));
    const before = idp.state.requests.length;
    assert.equal((await fetch(location)).status, 200, "samlify verified the signature with the SP certificate");
    assert.equal(idp.state.requests.length, before + 1);
    const altered = new URL(location);
    altered.searchParams.set("RelayState", "someone-elses");
    const refused = await fetch(altered);
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /ERR_FAILED_MESSAGE_SIGNATURE_VERIFICATION|ERR_OCTET_STRING_MISMATCH/);
    assert.equal(idp.state.requests.length, before + 1, "the altered request was not taken");
  });
});

describe("encrypted assertions", () => {
  test("the SP metadata publishes the encryption key, and a plain assertion is refused where encryption is required", async () => {
    const xml = await (await fetch(`${gw}/auth/saml/${ID}/metadata`)).text();
    assert.match(xml, /<md:KeyDescriptor use="encryption">.*<md:EncryptionMethod Algorithm="http:\/\/www\.w3\.org\/2009\/xmlenc11#aes256-gcm"\/>/);
    assert.ok(await signedIn(), "an encrypted, signed assertion signs the user in");
    const browser = new Browser();
    const start = await browser.request(`${gw}/auth/login?provider=${ID}`);
    idp.encrypting(false);
    let fields;
    try {
      fields = formFields(await (await fetch(start.headers.get("location"))).text());
    } finally {
      idp.encrypting(true);
    }
    assert.match(Buffer.from(fields.samlResponse, "base64").toString(), /<saml:Assertion/);
    const before = origin.requests.length;
    const refused = await post(browser, fields);
    assert.equal(refused.status, 401);
    assert.match(await refused.text(), /saml_response_invalid/);
    assert.equal(sessionSetCookie(refused), undefined);
    assert.equal(origin.requests.length, before);
  });
});

describe("a decryption key that is not the certificate's", () => {
  test("fails closed (503) rather than refuse every assertion as forged", async () => {
    const otherIdp = await startSamlIdp({ users: USERS, encryptAssertions: "http://www.w3.org/2009/xmlenc11#aes256-gcm" });
    const wrong = await startLoginStack({
      origin,
      withGithub: false,
      extraProviders: [samlProviderEntry(otherIdp, "enc", { attributes: { preset: "okta", subject: "uid" } })],
      loginFields: { saml_encryption: { certificate: SP_CERTIFICATE } },
      // Another RSA key than the certificate's (the test IdP's).
      extraSecrets: { PORTCULLIS_SAML_SP_DECRYPTION_KEY: IDP_PRIVATE_KEY_PEM },
    });
    try {
      const at = wrong.gateway.url;
      otherIdp.serve({ acsUrl: `${at}/auth/callback/enc`, spEntityId: `${at}/auth/saml/enc/metadata`, spEncryptionCertificatePem: SP_CERTIFICATE });
      const browser = new Browser();
      const start = await browser.request(`${at}/auth/login?provider=enc`);
      const fields = formFields(await (await fetch(start.headers.get("location"))).text());
      const before = origin.requests.length;
      const answered = await postToAcs(browser, { gw: at, id: "enc", idpUrl: otherIdp.url }, fields);
      assert.equal(answered.status, 503, await answered.clone().text());
      assert.equal(sessionSetCookie(answered), undefined);
      assert.equal(origin.requests.length, before);
    } finally {
      await wrong.close();
      await otherIdp.close();
    }
  });
});

describe("Single Logout", () => {
  test("signing out here signs the user out at the IdP with a signed LogoutRequest", async () => {
    const browser = await signedIn();
    assert.equal(await appStatus(browser), 200);
    const page = await browser.request(`${gw}/auth/logout`);
    const token = /name="csrf_token" value="([^"]+)"/.exec(await page.text())?.[1];
    const done = await rawRequest(`${gw}/auth/logout`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie: browser.jar.header(gw), origin: gw, accept: "text/html" },
      body: `csrf_token=${token}`,
    });
    assert.equal(done.status, 303, await done.clone().text());
    const atIdp = new URL(done.headers.get("location"));
    assert.equal(`${atIdp.origin}${atIdp.pathname}`, `${idp.url}/slo`);
    assert.ok(atIdp.searchParams.get("Signature"), "signed");
    const cookie = browser.jar.header(gw);
    assert.equal((await rawRequest(`${gw}/app/x`, { headers: { cookie, accept: "application/json" } })).status, 401, "the session here is over first");

    const before = idp.state.logoutRequests.length;
    const answer = await fetch(atIdp, { redirect: "manual" });
    assert.equal(answer.status, 302, await answer.clone().text());
    const [request] = idp.state.logoutRequests.slice(before);
    assert.equal(request.extract.nameID, "ann@saml.test", "the NameID the assertion named");
    assert.deepEqual([request.extract.sessionIndex].flat().filter(Boolean), ["_session_ann"]);
    // The IdP's signed LogoutResponse comes back to this SP's SLO URL.
    const back = new URL(answer.headers.get("location"));
    assert.equal(`${back.origin}${back.pathname}`, `${gw}/auth/saml/${ID}/slo`);
    const end = await browser.request(back.toString());
    assert.equal(end.status, 303, await end.clone().text());
    assert.equal(end.headers.get("location"), `${gw}/auth/logged-out`);
  });

  test("the IdP's signed LogoutRequest ends the user's sessions in every browser, and is answered signed", async () => {
    const [first, second] = [await signedIn(), await signedIn()];
    assert.deepEqual([await appStatus(first), await appStatus(second)], [200, 200]);
    const url = idp.logoutRequestUrl("ann", "from-idp");
    const answered = await first.request(url);
    assert.equal(answered.status, 303, await answered.clone().text());
    assert.equal(answered.headers.getSetCookie().length, 0, "no cookie is touched: a replayed message must sign no browser out");
    assert.deepEqual([await appStatus(first), await appStatus(second)], [401, 401], "both sessions ended, by the subject the NameID names");

    const response = new URL(answered.headers.get("location"));
    assert.equal(`${response.origin}${response.pathname}`, `${idp.url}/slo`);
    assert.equal(response.searchParams.get("RelayState"), "from-idp");
    const before = idp.state.logoutResponses.length;
    const atIdp = await fetch(response);
    assert.equal(atIdp.status, 200, await atIdp.clone().text());
    const [parsed] = idp.state.logoutResponses.slice(before);
    assert.ok(parsed.sigAlg, "samlify verified Portcullis's signature");
    assert.match(parsed.samlContent, /status:Success/);

    const replay = await new Browser().request(url);
    assert.equal(replay.status, 400, "a logout request is taken once");
  });

  test("a forged, unsigned or altered LogoutRequest ends nothing", async () => {
    const browser = await signedIn();
    const url = new URL(idp.logoutRequestUrl("ann"));
    const unsigned = new URL(url);
    unsigned.searchParams.delete("Signature");
    unsigned.searchParams.delete("SigAlg");
    const tampered = new URL(url);
    const signature = tampered.searchParams.get("Signature");
    tampered.searchParams.set("Signature", (signature[0] === "A" ? "B" : "A") + signature.slice(1));
    const otherRelay = new URL(url);
    otherRelay.searchParams.set("RelayState", "added");
    for (const [label, forged, code] of [
      ["unsigned", unsigned, "saml_logout_invalid"],
      ["tampered", tampered, "saml_logout_invalid"],
      ["a RelayState added after signing", otherRelay, "saml_logout_invalid"],
    ]) {
      const refused = await browser.request(forged.toString());
      assert.equal(refused.status, 400, label);
      assert.match(await refused.text(), new RegExp(code), label);
      assert.equal(refused.headers.getSetCookie().length, 0, `${label}: not even the browser's cookie is touched`);
    }
    assert.equal(await appStatus(browser), 200, "the session lives on");
  });
});

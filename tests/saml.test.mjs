// SAML 2.0 sign-in end to end: the built worker in workerd, samlify 2.x as the identity provider
// (it reads Portcullis's AuthnRequest and signs its assertion), and a recording origin. Every
// refusal is checked for its status and code, for the absence of a session, and for nothing at
// the origin.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startOrigin } from "./support/origin.mjs";
import { Browser, rawRequest, sessionSetCookie, startLoginStack } from "./support/login.mjs";
import { formFields, postToAcs, samlProviderEntry, startSamlIdp } from "./support/saml-idp.mjs";
import { assertionVerifier } from "./support/assertion-verifier.mjs";

let origin;
let stack;
let idp;
let gw;

const USERS = {
  ann: { email: "ann@saml.test", attributes: { firstName: "Ann", lastName: "Lee", groups: ["eng", "admins"], department: ["R&D", "Ops, West"] } },
  eve: { email: "eve@elsewhere.test", attributes: {} },
};

const endpointsOf = (id) => ({ acsUrl: `${gw}/auth/callback/${id}`, spEntityId: `${gw}/auth/saml/${id}/metadata` });

before(async () => {
  origin = await startOrigin();
  idp = await startSamlIdp({ users: USERS });
  stack = await startLoginStack({
    origin,
    extraProviders: [
      samlProviderEntry(idp, "acme-saml", { attributes: { preset: "okta", custom: { department: "department", cost_center: "costCenter" } } }),
      samlProviderEntry(idp, "acme-idp-init", { allow_idp_initiated: true }),
    ],
  });
  gw = stack.gateway.url;
  idp.serve(endpointsOf("acme-saml"));
  origin.verifyAssertionsWith(assertionVerifier({ jwksUrl: `${gw}/.well-known/jwks.json`, audience: origin.url }));
});

after(async () => {
  await stack?.close();
  await idp?.close();
  await origin?.close();
});

const seenSince = (count) => origin.requests.slice(count);

/** Starts a sign-in: the gateway's redirect, and what the IdP's page posts back. */
async function startSignIn(browser, returnTo = "/app/saml") {
  const start = await browser.request(`${gw}/auth/login?provider=acme-saml&return_to=${encodeURIComponent(returnTo)}`);
  assert.equal(start.status, 302, await start.clone().text());
  const location = new URL(start.headers.get("location"));
  const ticket = start.headers.getSetCookie().find((line) => line.startsWith("__Host-portcullis-login-"));
  const page = await fetch(location);
  assert.equal(page.status, 200, await page.clone().text());
  return { location, ticket, ...formFields(await page.text()) };
}

/** POSTs a response to the ACS as the IdP's page would (see support/saml-idp.mjs). */
const post = (browser, fields, id = "acme-saml") => postToAcs(browser, { gw, id, idpUrl: idp.url }, fields);

/** Follows the ACS's 303 to the handoff, where the session's cookie is set. */
async function handedOff(browser, acs) {
  assert.equal(acs.status, 303, await acs.clone().text());
  assert.equal(acs.headers.get("location"), "/auth/saml/handoff");
  assert.equal(sessionSetCookie(acs), undefined, "the session's cookie is set where the old session is seen");
  return browser.request(`${gw}/auth/saml/handoff`);
}

async function assertRefused(response, status, code, before, label = code) {
  assert.equal(response.status, status, `${label}: ${await response.clone().text()}`);
  const text = await response.text();
  assert.match(text, new RegExp(code), label);
  assert.equal(sessionSetCookie(response), undefined, `${label}: no session`);
  assert.equal(seenSince(before).length, 0, `${label}: nothing at the origin`);
}

describe("SP-initiated sign-in", () => {
  test("the AuthnRequest goes out over HTTP-Redirect and the signed response signs the user in", async () => {
    const browser = new Browser();
    const flow = await startSignIn(browser);
    assert.equal(flow.location.origin + flow.location.pathname, idp.ssoUrl);
    assert.match(flow.ticket, /; Secure; HttpOnly; SameSite=None; /, "the ticket survives the IdP's cross-site POST");
    const [request] = idp.state.requests.slice(-1);
    assert.equal(request.issuer, endpointsOf("acme-saml").spEntityId, "samlify read the request's issuer");
    assert.ok(flow.relayState.length <= 80 && !flow.relayState.includes("/app"), "RelayState is only a reference");

    const done = await handedOff(browser, await post(browser, flow));
    assert.equal(done.status, 303, await done.clone().text());
    assert.equal(done.headers.get("location"), "/app/saml");
    assert.ok(sessionSetCookie(done), "a session");

    const before = origin.requests.length;
    const page = await browser.request(`${gw}/app/saml`);
    assert.equal(page.status, 200);
    const [seen] = seenSince(before);
    assert.equal(seen.headers["x-auth-method"], "session");
    assert.equal(seen.headers["x-auth-subject"], "ann@saml.test");
    assert.equal(seen.headers["x-auth-email"], "ann@saml.test");
    assert.equal(seen.headers["x-auth-issuer"], idp.entityId, "the issuer is the IdP's entity id");
    assert.equal(seen.headers["x-auth-groups"], "eng,admins");
    assert.equal(seen.headers["x-auth-attr-department"], "R&D,Ops%2C%20West", "a custom attribute, each value encoded");
    assert.equal(seen.headers["x-auth-attr-cost-center"], undefined, "an attribute the assertion lacks is not sent");
    assert.ok(!JSON.stringify(origin.requests).includes("__Host-portcullis"), "the origin never sees Portcullis's cookies");
    assert.equal(seen.assertion?.valid, true, seen.assertion?.error);
    assert.equal(seen.assertion.claims.sub, "ann@saml.test");
    assert.equal(seen.assertion.claims.auth_method, "session");
    assert.deepEqual(seen.assertion.claims.attributes, { department: ["R&D", "Ops, West"] }, "and in the signed assertion");
  });

  test("the same response again, from any browser, is refused", async () => {
    const browser = new Browser();
    const flow = await startSignIn(browser);
    assert.equal((await post(browser, flow)).status, 303);
    const before = origin.requests.length;
    // The ticket is spent and cleared: the response now answers no request of this browser.
    await assertRefused(await post(browser, flow), 400, "saml_unsolicited", before);
    await assertRefused(await post(new Browser(), flow), 400, "saml_unsolicited", before);
  });

  test("another browser's response is refused in this browser's flow", async () => {
    const victim = new Browser();
    const attacker = new Browser();
    const attackersFlow = await startSignIn(attacker);
    const victimsFlow = await startSignIn(victim);
    const before = origin.requests.length;
    // Login CSRF: the attacker's own response, posted into the victim's flow.
    const crossed = { samlResponse: attackersFlow.samlResponse, relayState: victimsFlow.relayState };
    await assertRefused(await post(victim, crossed), 401, "saml_response_invalid", before);
  });

  test("a response changed after signing, or for another audience, or unsigned, is refused", async () => {
    const cases = [
      ["a changed NameID", (xml) => xml, (xml) => xml.replace("ann@saml.test", "admin@saml.test")],
      ["another audience", (xml) => xml.replace(/<saml:Audience>[^<]+/, "<saml:Audience>https://other.example/sp"), (xml) => xml],
      ["no signature", (xml) => xml, (xml) => xml.replace(/<ds:Signature[\s\S]*<\/ds:Signature>/, "")],
      ["a DOCTYPE", (xml) => xml, (xml) => `<!DOCTYPE r [<!ENTITY x "y">]>${xml}`],
      ["a comment in the NameID", (xml) => xml, (xml) => xml.replace("ann@saml.test<", "ann@saml.test<!---->.evil<")],
    ];
    for (const [name, beforeSigning, afterSigning] of cases) {
      const browser = new Browser();
      const flow = await startSignIn(browser);
      const [request] = idp.state.requests.slice(-1);
      const signed = await idp.responseFor({ inResponseTo: request.request.id, edit: beforeSigning });
      const xml = afterSigning(Buffer.from(signed, "base64").toString("utf8"));
      const before = origin.requests.length;
      const response = await post(browser, { samlResponse: Buffer.from(xml).toString("base64"), relayState: flow.relayState });
      await assertRefused(response, 401, "saml_response_invalid", before, name);
    }
  });

  test("an email outside the provider's domains is refused", async () => {
    const browser = new Browser();
    const flow = await startSignIn(browser);
    const [request] = idp.state.requests.slice(-1);
    const samlResponse = await idp.responseFor({ inResponseTo: request.request.id, user: "eve" });
    const before = origin.requests.length;
    await assertRefused(await post(browser, { samlResponse, relayState: flow.relayState }), 403, "email_not_allowed", before);
  });

  test("malformed form bodies get a clear 4xx", async () => {
    const before = origin.requests.length;
    const browser = new Browser();
    const notBase64 = await post(browser, { samlResponse: "%%%not base64%%%", relayState: "x" });
    await assertRefused(notBase64, 400, "saml_unsolicited|saml_response_invalid", before);
    const missing = await browser.request(`${gw}/auth/callback/acme-saml`, {
      method: "POST",
      body: "RelayState=x",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    await assertRefused(missing, 400, "invalid_callback", before);
    const unknown = await post(browser, { samlResponse: "abc" }, "no-such-provider");
    await assertRefused(unknown, 400, "unknown_provider", before);
  });
});

describe("the handoff", () => {
  test("a new sign-in ends the session the browser had, and a handoff is spent once", async () => {
    const browser = new Browser();
    await handedOff(browser, await post(browser, await startSignIn(browser)));
    const first = browser.jar.header(gw);
    assert.equal((await browser.request(`${gw}/auth/session`, { api: true })).status, 200);
    const flow = await startSignIn(browser);
    const acs = await post(browser, flow);
    const handoffCookie = acs.headers.getSetCookie().find((line) => line.startsWith("__Host-portcullis-handoff="));
    assert.match(handoffCookie, /; Path=\/; Secure; HttpOnly; SameSite=Lax; Max-Age=60$/);
    const done = await handedOff(browser, acs);
    assert.equal(done.status, 303);
    const old = await rawRequest(`${gw}/auth/session`, { headers: { cookie: first, accept: "application/json" } });
    assert.equal(old.status, 401, "the old session ended (the ACS's POST never showed it: the handoff did)");
    assert.equal((await browser.request(`${gw}/auth/session`, { api: true })).status, 200, "the new one lives");
    // The same handoff again (the browser cleared it; an attacker who copied it cannot reuse it).
    const again = await rawRequest(`${gw}/auth/saml/handoff`, { headers: { cookie: handoffCookie.split(";")[0] } });
    assert.equal(again.status, 400);
    assert.match(await again.text(), /login_replayed/);
    const none = await new Browser().request(`${gw}/auth/saml/handoff`);
    assert.equal(none.status, 400);
    assert.match(await none.text(), /login_state_invalid/);
  });
});

describe("IdP-initiated sign-in", () => {
  test("is refused by default", async () => {
    const before = origin.requests.length;
    const unsolicited = await idp.responseFor({ inResponseTo: null });
    await assertRefused(await post(new Browser(), { samlResponse: unsolicited }), 400, "saml_unsolicited", before);
  });

  test("where allowed, it makes no session itself: it starts an SP-initiated sign-in, once", async () => {
    const allowed = await idp.responseFor({ inResponseTo: null, to: endpointsOf("acme-idp-init") });
    const browser = new Browser();
    const before = origin.requests.length;
    const accepted = await post(browser, { samlResponse: allowed, relayState: "/app/from-idp" }, "acme-idp-init");
    assert.equal(accepted.status, 303, await accepted.clone().text());
    assert.equal(accepted.headers.get("location"), "/auth/login?provider=acme-idp-init&return_to=%2Fapp%2Ffrom-idp");
    assert.equal(sessionSetCookie(accepted), undefined, "no session from an unsolicited response (login CSRF)");
    assert.equal(seenSince(before).length, 0);
    const replayed = await post(new Browser(), { samlResponse: allowed }, "acme-idp-init");
    await assertRefused(replayed, 400, "login_replayed", before);
    // An open redirect through RelayState goes nowhere but here.
    const elsewhere = await idp.responseFor({ inResponseTo: null, to: endpointsOf("acme-idp-init") });
    const sent = await post(new Browser(), { samlResponse: elsewhere, relayState: "https://evil.example/" }, "acme-idp-init");
    assert.equal(sent.headers.get("location"), "/auth/login?provider=acme-idp-init&return_to=%2F");
  });
});

describe("the ticket cookie", () => {
  test("is set only for a page navigation, never for another site's image or fetch", async () => {
    const image = await new Browser().request(`${gw}/auth/login?provider=acme-saml`, {
      headers: { "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image", "sec-fetch-site": "cross-site" },
    });
    assert.equal(image.status, 403);
    assert.match(await image.text(), /csrf_rejected/);
    assert.ok(!image.headers.getSetCookie().some((line) => line.startsWith("__Host-portcullis-login-")));
  });
});

describe("service-provider metadata", () => {
  test("names the entity, the ACS and SLO for the IdP to import", async () => {
    const response = await fetch(`${gw}/auth/saml/acme-saml/metadata`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type"), /application\/samlmetadata\+xml/);
    const xml = await response.text();
    assert.match(xml, new RegExp(`entityID="${endpointsOf("acme-saml").spEntityId}"`));
    assert.match(xml, new RegExp(`AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${gw}/auth/callback/acme-saml"`));
    assert.equal((await fetch(`${gw}/auth/saml/corp/metadata`)).status, 404, "an OIDC provider has none");
  });
});

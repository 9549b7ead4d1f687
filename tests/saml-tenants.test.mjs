// A tenant's own SAML connection, stored in the directory: made through the directory API from
// the IdP's published metadata (samlify 2.x as the IdP, on 127.0.0.1), found by the tenant's
// verified email domain, signing users in just in time into the tenant (local D1), with the
// built worker in workerd and the recording origin.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startOrigin } from "./support/origin.mjs";
import { Browser, sessionSetCookie, startLoginStack } from "./support/login.mjs";
import { formFields, postToAcs, startSamlIdp } from "./support/saml-idp.mjs";
import { startDohResolver } from "./support/doh-resolver.mjs";
import { TEST_ADMIN_KEY } from "./support/config.mjs";

let origin;
let stack;
let gw;
let db;
let idp;
let resolver;
let connectionId;

const USERS = {
  uma: { email: "uma@umbrella.test", attributes: { firstName: "Uma", lastName: "Ito", groups: ["research"] } },
  // Umbrella's IdP asserting an address in a domain umbrella has not verified.
  outsider: { email: "ceo@elsewhere.test", attributes: { firstName: "Not", lastName: "Theirs" } },
};

before(async () => {
  origin = await startOrigin();
  resolver = await startDohResolver();
  idp = await startSamlIdp({ users: USERS });
  stack = await startLoginStack({
    origin,
    withGithub: false,
    configFields: { directory: { dns_resolver: resolver.url } },
  });
  gw = stack.gateway.url;
  db = await stack.gateway.mf.getD1Database("PORTCULLIS_DB");
});

after(async () => {
  await stack?.close();
  await idp?.close();
  await resolver?.close();
  await origin?.close();
});

/** Calls the directory API as the deployment's bootstrap administrator. */
async function api(method, path, body) {
  const headers = { authorization: `Bearer ${TEST_ADMIN_KEY}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${gw}/auth/directory${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

const rows = async (sql, ...params) => (await db.prepare(sql).bind(...params).all()).results;

/** POSTs a response to the ACS as the IdP's page would (see support/saml-idp.mjs). */
const post = (browser, fields, id = connectionId) => postToAcs(browser, { gw, id, idpUrl: idp.url }, fields);

/** Signs `user` in from the email form: the page that continues to the IdP, its form, the ACS, the handoff. */
async function signInByEmail(browser, email) {
  idp.state.nextUser = Object.keys(USERS).find((name) => USERS[name].email === email);
  const start = await browser.request(`${gw}/auth/login?email=${encodeURIComponent(email)}&return_to=/app/umbrella`);
  assert.equal(start.status, 200, "a page continues to a stored connection's IdP");
  const continued = /id="continue" href="([^"]+)"/.exec(await start.text());
  assert.ok(continued, "the continue link");
  const location = new URL(continued[1].replaceAll("&amp;", "&"));
  assert.equal(location.origin + location.pathname, idp.ssoUrl, "sent to the IdP from the metadata");
  const page = await fetch(location);
  assert.equal(page.status, 200, await page.clone().text());
  const acs = await post(browser, formFields(await page.text()));
  assert.equal(acs.status, 303, await acs.clone().text());
  const done = await browser.request(`${gw}/auth/saml/handoff`);
  assert.equal(done.status, 303, await done.clone().text());
  assert.equal(done.headers.get("location"), "/app/umbrella");
  assert.ok(sessionSetCookie(done), "a session");
  const seenFrom = origin.requests.length;
  assert.equal((await browser.request(`${gw}/app/umbrella`)).status, 200);
  return origin.requests[seenFrom];
}

describe("a tenant's SAML connection", () => {
  test("is made from the IdP's metadata URL, and says what to tell the IdP", async () => {
    assert.equal((await api("POST", "/tenants", { id: "umbrella", name: "Umbrella" })).status, 201);
    const claimed = await api("POST", "/tenants/umbrella/domains", { domain: "umbrella.test" });
    resolver.records.set(claimed.body.challenge.name, [claimed.body.challenge.value]);
    assert.equal((await api("POST", "/tenants/umbrella/domains/umbrella.test/verify")).status, 200);

    const body = { type: "saml", display_name: "Umbrella SSO", saml: { metadata_url: `${idp.url}/metadata`, attributes: { preset: "okta" }, trust_email: true } };
    const made = await api("POST", "/tenants/umbrella/connections", body);
    assert.equal(made.status, 201, JSON.stringify(made.body));
    connectionId = made.body.id;
    assert.equal(made.body.type, "saml");
    const { saml } = made.body.settings;
    assert.equal(saml.idp_entity_id, idp.entityId, "the entity id from the metadata");
    assert.equal(saml.sso_url, idp.ssoUrl, "the HTTP-Redirect SSO URL from the metadata");
    assert.equal(saml.certificates.length, 1, "its signing certificate, pinned");
    assert.equal(saml.metadata_url, undefined, "stored as a plain connection");
    assert.deepEqual(made.body.saml_sp, {
      entity_id: `${gw}/auth/saml/${connectionId}/metadata`,
      acs_url: `${gw}/auth/callback/${connectionId}`,
      metadata_url: `${gw}/auth/saml/${connectionId}/metadata`,
    });
    idp.serve({ acsUrl: made.body.saml_sp.acs_url, spEntityId: made.body.saml_sp.entity_id });

    const metadata = await fetch(made.body.saml_sp.metadata_url);
    assert.equal(metadata.status, 200);
    assert.match(metadata.headers.get("content-type"), /^application\/samlmetadata\+xml/);
    const xml = await metadata.text();
    assert.ok(xml.includes(`entityID="${made.body.saml_sp.entity_id}"`) && xml.includes(`Location="${made.body.saml_sp.acs_url}"`), xml);
    const [row] = await rows("SELECT kind, sealed_secret FROM connections WHERE id = ?", connectionId);
    assert.equal(row.kind, "saml");
    assert.ok(row.sealed_secret.length > 0, "its settings are bound to the directory key");
  });

  test("metadata that does not import makes no connection", async () => {
    const before = (await rows("SELECT id FROM connections")).length;
    const cases = [
      [{ metadata_url: `${gw}/auth/saml/x/metadata` }, /^saml\.metadata_url: one of this deployment's own hosts$/],
      [{ metadata_url: `${idp.url}/nowhere` }, /^saml\.metadata_url: that URL answered 404$/],
      [{ metadata_url: `${idp.url}/metadata`, metadata_certificate: idp.certificatePem }, /^saml\.metadata: refused \(signature_shape\)$/],
      [{ metadata_xml: "<!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>" }, /^saml\.metadata: refused \(xml_doctype\)$/],
      [{ metadata_xml: "<md:EntityDescriptor xmlns:md='urn:oasis:names:tc:SAML:2.0:metadata' entityID='x'/>" }, /^saml\.metadata: refused \(metadata_shape\)$/],
    ];
    for (const [saml, expected] of cases) {
      const refused = await api("POST", "/tenants/umbrella/connections", { type: "saml", saml });
      assert.equal(refused.status, 400, JSON.stringify(saml));
      assert.equal(refused.body.error, "invalid_request_body");
      assert.match(refused.body.problems[0], expected, JSON.stringify(refused.body.problems));
    }
    const secret = await api("POST", "/tenants/umbrella/connections", { type: "saml", client_secret: "x", saml: { metadata_url: `${idp.url}/metadata` } });
    assert.deepEqual(secret.body.problems, ["client_secret: a saml connection has none"]);
    assert.equal((await rows("SELECT id FROM connections")).length, before);
  });

  test("signs a user of its verified domain in, provisioned just in time into the tenant", async () => {
    const seen = await signInByEmail(new Browser(), "uma@umbrella.test");
    assert.equal(seen.headers["x-auth-method"], "session");
    assert.equal(seen.headers["x-auth-tenant"], "umbrella");
    assert.equal(seen.headers["x-auth-email"], "uma@umbrella.test");
    assert.equal(seen.headers["x-auth-issuer"], `urn:portcullis:connection:${connectionId}`, "a tenant's IdP never passes for a configured one");
    assert.equal(seen.headers["x-auth-groups"], "research");
    const userId = seen.headers["x-auth-user-id"];
    const [user] = await rows("SELECT tenant_id, status FROM users WHERE id = ?", userId);
    assert.deepEqual({ ...user }, { tenant_id: "umbrella", status: "active" });
    const [identity] = await rows("SELECT connection_id, subject FROM identities WHERE user_id = ?", userId);
    assert.deepEqual({ ...identity }, { connection_id: connectionId, subject: "uma@umbrella.test" });
  });

  test("keeps no email outside the tenant's verified domains", async () => {
    const browser = new Browser();
    idp.state.nextUser = "outsider";
    const start = await browser.request(`${gw}/auth/login?provider=${connectionId}&return_to=/app/umbrella`);
    assert.equal(start.status, 302, await start.clone().text());
    const page = await fetch(start.headers.get("location"));
    assert.equal((await post(browser, formFields(await page.text()))).status, 303);
    assert.equal((await browser.request(`${gw}/auth/saml/handoff`)).status, 303);
    const seenFrom = origin.requests.length;
    assert.equal((await browser.request(`${gw}/app/umbrella`)).status, 200);
    const seen = origin.requests[seenFrom];
    assert.equal(seen.headers["x-auth-tenant"], "umbrella");
    assert.equal(seen.headers["x-auth-email"], undefined, "elsewhere.test is not umbrella's to vouch for");
  });

  test("refuses an unsolicited response unless the connection allows IdP-initiated login", async () => {
    const before = origin.requests.length;
    const unsolicited = await post(new Browser(), { samlResponse: await idp.responseFor({ user: "uma" }), relayState: null });
    assert.equal(unsolicited.status, 400);
    assert.match(await unsolicited.text(), /saml_unsolicited/);
    assert.equal(sessionSetCookie(unsolicited), undefined);
    assert.equal(origin.requests.length, before);
  });

  test("once removed, its ACS and metadata are gone", async () => {
    const browser = new Browser();
    const start = await browser.request(`${gw}/auth/login?provider=${connectionId}`);
    const page = await fetch(start.headers.get("location"));
    const fields = formFields(await page.text());
    assert.equal((await api("DELETE", `/tenants/umbrella/connections/${connectionId}`)).status, 200);
    const before = origin.requests.length;
    const late = await post(browser, fields);
    assert.equal(late.status, 400, "a response in flight when the connection went signs nobody in");
    assert.match(await late.text(), /unknown_provider/);
    assert.equal(sessionSetCookie(late), undefined);
    assert.equal(origin.requests.length, before);
    assert.equal((await fetch(`${gw}/auth/saml/${connectionId}/metadata`)).status, 404);
  });
});

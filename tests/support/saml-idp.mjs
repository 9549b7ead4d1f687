// A SAML 2.0 identity provider on 127.0.0.1: samlify 2.x acting as the IdP, signing its
// assertions (RSA-SHA256, exclusive C14N) with the test key of src/saml/certificate/. samlify
// reads Portcullis's AuthnRequest (HTTP-Redirect binding) and builds the response; the template
// is samlify's own with an AuthnStatement and the user's attributes added (samlify leaves both
// empty by default; the Web Browser SSO profile requires the former).
//
// Endpoints:
//   GET /sso?SAMLRequest&RelayState   signs `nextUser` in at once: an HTML page whose form POSTs
//                                     SAMLResponse and RelayState to the ACS (it submits itself)
//   GET /metadata                     the IdP's metadata
//   GET /slo?SAMLRequest|SAMLResponse Single Logout: the SP's signed LogoutRequest (checked,
//                                     recorded, answered with a signed LogoutResponse to the
//                                     SP's SLO URL), or the SP's signed LogoutResponse (recorded)
//
// `logoutRequestUrl(user, relayState)` is an IdP-initiated logout: the signed LogoutRequest's URL
// at the SP's SLO endpoint, for the browser to follow.
// `responseFor({ inResponseTo, user, edit, to })` builds a signed response directly (for tests that
// post it themselves); `edit(xml)` changes the XML before samlify signs it.
import http from "node:http";
import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import samlifyModule from "samlify";
import { DOMParser } from "@xmldom/xmldom";

const samlify = samlifyModule;

const CERTIFICATES = fileURLToPath(new URL("../../src/saml/certificate/", import.meta.url));
export const IDP_CERTIFICATE_PEM = readFileSync(`${CERTIFICATES}idp-rsa.pem`, "utf8");
export const IDP_PRIVATE_KEY_PEM = createPrivateKey({
  key: readFileSync(`${CERTIFICATES}idp-rsa.key.der`),
  format: "der",
  type: "pkcs1",
})
  .export({ format: "pem", type: "pkcs8" })
  .toString();

const POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const EMAIL_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

// samlify validates what it parses (here, Portcullis's AuthnRequest) with a pluggable validator:
// this one requires well-formed XML whose root is an AuthnRequest or a LogoutRequest/Response.
samlify.setSchemaValidator({
  validate: async (xml) => {
    const errors = [];
    const document = new DOMParser({ onError: (level, message) => errors.push(`${level}: ${message}`) }).parseFromString(
      xml,
      "text/xml",
    );
    const root = document?.documentElement?.localName;
    if (errors.length > 0 || !["AuthnRequest", "LogoutRequest", "LogoutResponse"].includes(root)) {
      throw new Error(`invalid SAML message: ${errors.join("; ") || root}`);
    }
    return "valid";
  },
});

function escapeXml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]);
}

function attributeStatement(attributes) {
  const entries = Object.entries(attributes ?? {});
  if (entries.length === 0) return "";
  const items = entries
    .map(([name, values]) => {
      const list = (Array.isArray(values) ? values : [values])
        .map((value) => `<saml:AttributeValue xsi:type="xs:string">${escapeXml(value)}</saml:AttributeValue>`)
        .join("");
      return `<saml:Attribute Name="${escapeXml(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">${list}</saml:Attribute>`;
    })
    .join("");
  return `<saml:AttributeStatement>${items}</saml:AttributeStatement>`;
}

/**
 * Starts the IdP. `users`: { name: { email, attributes: { name: value | [values] } } }. The
 * service provider it answers is named afterwards with `serve({ acsUrl, spEntityId })` (the
 * gateway's port is chosen after the IdP's).
 */
export async function startSamlIdp({ users, host = "127.0.0.1", wantSignedRequests = false, encryptAssertions = null }) {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  // `host: "localhost"` makes the IdP another site than the gateway on 127.0.0.1 (its POST to the
  // ACS is then cross-site, as in production).
  const url = `http://${host}:${server.address().port}`;
  const entityId = `${url}/metadata`;
  const idp = samlify.IdentityProvider({
    entityID: entityId,
    privateKey: IDP_PRIVATE_KEY_PEM,
    signingCert: IDP_CERTIFICATE_PEM,
    nameIDFormat: [EMAIL_FORMAT],
    wantAuthnRequestsSigned: wantSignedRequests,
    // What the SP sends in Single Logout must be signed by its key.
    wantLogoutRequestSigned: true,
    wantLogoutResponseSigned: true,
    singleSignOnService: [{ Binding: REDIRECT, Location: `${url}/sso` }],
    singleLogoutService: [{ Binding: REDIRECT, Location: `${url}/slo` }],
    requestSignatureAlgorithm: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    // `encryptAssertions`: the content algorithm to encrypt assertions with (to the SP's
    // encryption certificate, RSA-OAEP), after signing them.
    ...(encryptAssertions
      ? { isAssertionEncrypted: true, dataEncryptionAlgorithm: encryptAssertions, keyEncryptionAlgorithm: "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p" }
      : {}),
  });
  let sp = null;
  let acsUrl = null;
  let spEntityId = null;
  const state = { nextUser: Object.keys(users)[0], requests: [], logoutRequests: [], logoutResponses: [] };
  // The signed part of a Redirect-binding query, as sent (SAML Bindings §3.4.4.1).
  const octetStringOf = (requestUrl) =>
    requestUrl.search.slice(1).split("&").filter((pair) => !pair.startsWith("Signature=")).join("&");

  /**
   * A signed response (base64) answering `inResponseTo` (null: unsolicited) for `user`, to the
   * served SP or to `to` ({ acsUrl, spEntityId }).
   */
  async function responseFor({ inResponseTo = null, user = state.nextUser, edit = (xml) => xml, to } = {}) {
    const target = to ?? { acsUrl, spEntityId };
    const account = users[user];
    const now = new Date();
    const later = new Date(now.getTime() + 5 * 60 * 1000);
    const template = samlify.SamlLib.defaultLoginResponseTemplate.context
      .replace(
        "{AuthnStatement}",
        `<saml:AuthnStatement AuthnInstant="${now.toISOString()}" SessionIndex="_session_${user}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>`,
      )
      .replace("{AttributeStatement}", attributeStatement(account.attributes));
    const values = {
      ID: `_r${Math.random().toString(16).slice(2)}`,
      AssertionID: `_a${Math.random().toString(16).slice(2)}${Date.now()}`,
      Destination: target.acsUrl,
      Audience: target.spEntityId,
      SubjectRecipient: target.acsUrl,
      Issuer: entityId,
      IssueInstant: now.toISOString(),
      StatusCode: "urn:oasis:names:tc:SAML:2.0:status:Success",
      ConditionsNotBefore: now.toISOString(),
      ConditionsNotOnOrAfter: later.toISOString(),
      SubjectConfirmationDataNotOnOrAfter: later.toISOString(),
      NameIDFormat: EMAIL_FORMAT,
      NameID: account.email,
      InResponseTo: inResponseTo ?? "",
    };
    let rendered = samlify.SamlLib.replaceTagsByValue(template, values);
    // An unsolicited response answers nothing: no InResponseTo at all.
    if (inResponseTo === null) rendered = rendered.replaceAll(' InResponseTo=""', "");
    const { context } = await idp.createLoginResponse(sp, {}, "post", { email: account.email }, (/* template */) => ({
      id: values.ID,
      context: edit(rendered),
    }));
    return context;
  }

  server.on("request", async (req, res) => {
    const requestUrl = new URL(req.url, url);
    try {
      if (requestUrl.pathname === "/metadata") {
        res.writeHead(200, { "content-type": "application/samlmetadata+xml" });
        res.end(idp.getMetadata());
        return;
      }
      if (requestUrl.pathname === "/sso" && req.method === "GET") {
        const query = Object.fromEntries(requestUrl.searchParams);
        const parsed = await idp.parseLoginRequest(sp, "redirect", { query, octetString: octetStringOf(requestUrl) });
        state.requests.push(parsed.extract);
        const samlResponse = await responseFor({ inResponseTo: parsed.extract.request.id });
        const relayState = query.RelayState ?? "";
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        res.end(
          `<!doctype html><html><body><form id="saml" method="post" action="${escapeXml(acsUrl)}">` +
            `<input type="hidden" name="SAMLResponse" value="${escapeXml(samlResponse)}">` +
            `<input type="hidden" name="RelayState" value="${escapeXml(relayState)}">` +
            `<button type="submit">Continue</button></form>` +
            `<script>document.getElementById("saml").submit()</script></body></html>`,
        );
        return;
      }
      if (requestUrl.pathname === "/slo" && req.method === "GET") {
        const query = Object.fromEntries(requestUrl.searchParams);
        const octetString = octetStringOf(requestUrl);
        if (query.SAMLRequest) {
          const parsed = await idp.parseLogoutRequest(sp, "redirect", { query, octetString });
          state.logoutRequests.push(parsed);
          const { context } = idp.createLogoutResponse(sp, parsed, "redirect", query.RelayState ?? "");
          res.writeHead(302, { location: context });
          res.end();
          return;
        }
        const parsed = await idp.parseLogoutResponse(sp, "redirect", { query, octetString });
        state.logoutResponses.push(parsed);
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("signed out at the IdP");
        return;
      }
      res.writeHead(404);
      res.end();
    } catch (error) {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end(`saml idp: ${error.message}`);
    }
  });

  return {
    /** Names the service provider: its ACS and entity id. */
    serve(provider) {
      acsUrl = provider.acsUrl;
      spEntityId = provider.spEntityId;
      sp = samlify.ServiceProvider({
        entityID: spEntityId,
        wantAssertionsSigned: true,
        authnRequestsSigned: wantSignedRequests,
        // With `sloUrl` and the SP's certificate: Single Logout, whose messages the IdP signs.
        ...(provider.spCertificatePem ? { signingCert: provider.spCertificatePem } : {}),
        ...(provider.spEncryptionCertificatePem ? { encryptCert: provider.spEncryptionCertificatePem } : {}),
        ...(provider.sloUrl ? { singleLogoutService: [{ Binding: REDIRECT, Location: provider.sloUrl }] } : {}),
        wantLogoutRequestSigned: true,
        wantLogoutResponseSigned: true,
        assertionConsumerService: [{ Binding: POST, Location: acsUrl }],
      });
    },
    /** Turns the encryption of assertions off (false) or back on (true). */
    encrypting(on) {
      idp.entitySetting.isAssertionEncrypted = on;
    },
    /** An IdP-initiated logout of `user`: the signed LogoutRequest's URL at the SP. */
    logoutRequestUrl(user, relayState = "") {
      return idp.createLogoutRequest(sp, "redirect", { logoutNameID: users[user].email, sessionIndex: `_session_${user}` }, relayState).context;
    },
    url,
    entityId,
    ssoUrl: `${url}/sso`,
    certificatePem: IDP_CERTIFICATE_PEM,
    state,
    responseFor,
    async close() {
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The hidden fields of the IdP's auto-posting page. */
export function formFields(html) {
  const field = (name) => {
    const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
    return match ? match[1].replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&") : null;
  };
  return { samlResponse: field("SAMLResponse"), relayState: field("RelayState") };
}

/**
 * A configured `saml` provider entry `id` for the IdP `idp` (its entity id, SSO URL and
 * certificate), taking its emails, in the domain `saml.test`; `fields` are added to its `saml`.
 * (Home-realm discovery by that domain is the test's to add: one provider per domain.)
 */
export function samlProviderEntry(idp, id, fields = {}) {
  return {
    id,
    type: "saml",
    display_name: `SAML ${id}`,
    allowed_email_domains: ["saml.test"],
    saml: {
      idp_entity_id: idp.entityId,
      sso_url: idp.ssoUrl,
      certificates: [idp.certificatePem],
      attributes: { preset: "okta" },
      trust_email: true,
      ...fields,
    },
  };
}

/**
 * POSTs a response (`fields`: { samlResponse, relayState }) to the ACS of provider `id` at the
 * gateway `gw`, as the IdP's page at `idpUrl` would: a cross-site form post, which carries the
 * SameSite=None ticket cookies only (never the Lax session cookie, as a browser sends it).
 */
export function postToAcs(browser, { gw, id, idpUrl }, fields) {
  const body = new URLSearchParams({ SAMLResponse: fields.samlResponse, ...(fields.relayState == null ? {} : { RelayState: fields.relayState }) });
  const crossSite = (browser.jar.header(gw) ?? "")
    .split("; ")
    .filter((pair) => pair.startsWith("__Host-portcullis-login-"))
    .join("; ");
  return browser.request(`${gw}/auth/callback/${id}`, {
    method: "POST",
    body: body.toString(),
    headers: { "content-type": "application/x-www-form-urlencoded", origin: idpUrl, "sec-fetch-site": "cross-site", cookie: crossSite },
  });
}

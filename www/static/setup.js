// The onboarding page (www/setup.html). The setup link's token is in the URL's fragment, which is
// never sent to a server; this page spends it with a POST when the administrator clicks "Begin
// setup", so a mail scanner that follows the link spends nothing. Every value from the server is
// written with textContent, never as HTML.

const prefix = location.pathname.replace(/\/setup\/?$/, "");
const $ = (id) => document.getElementById(id);

const IDPS = {
  okta: {
    issuerHint: "Your Okta domain, for example https://acme.okta.com",
    steps: [
      "In the Okta Admin Console, open Applications → Applications → Create App Integration.",
      "Choose OIDC - OpenID Connect, then Web Application.",
      "Set the Sign-in redirect URI to the redirect URI below, and the Initiate login URI to the one below it.",
      "Under Assignments, choose who may sign in, then save.",
      "Copy the Client ID and the Client secret into step 2.",
    ],
  },
  entra: {
    issuerHint: "https://login.microsoftonline.com/<Directory (tenant) ID>/v2.0",
    steps: [
      "In the Microsoft Entra admin center, open Applications → App registrations → New registration.",
      "Under Redirect URI, choose Web and paste the redirect URI below.",
      "Open Certificates & secrets → New client secret, and copy its Value (not its ID).",
      "Copy the Application (client) ID from the Overview page.",
      "The issuer uses the Directory (tenant) ID from the same page.",
    ],
  },
  google: {
    issuerHint: "https://accounts.google.com",
    steps: [
      "In the Google Cloud console, open APIs & Services → OAuth consent screen and choose Internal, so that only your Workspace's users can sign in.",
      "Open Credentials → Create credentials → OAuth client ID, and choose Web application.",
      "Add the redirect URI below as an Authorized redirect URI, then create.",
      "Copy the Client ID and Client secret into step 2.",
    ],
  },
  other: {
    issuerHint: "The URL whose /.well-known/openid-configuration describes your provider",
    steps: [
      "Register a web application (a confidential client) that uses the authorization code flow.",
      "Register the redirect URI below, exactly.",
      "Allow the scopes openid, email and profile.",
      "Copy the client ID and client secret into step 2.",
    ],
  },
};

const IDP_CHOICE = "portcullis-setup-idp";
let state = null;

async function api(path, { method = "GET", body } = {}) {
  const init = { method, credentials: "same-origin", headers: { accept: "application/json" } };
  if (method !== "GET") {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body ?? {});
  }
  const response = await fetch(`${prefix}/setup${path}`, init);
  const json = await response.json().catch(() => ({}));
  return { status: response.status, body: json };
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function showMessage(text, problems = []) {
  const slot = $("message");
  clear(slot);
  if (!text) return;
  const notice = element("div", undefined, "notice");
  notice.append(element("p", text));
  if (problems.length) {
    const list = element("ul");
    for (const problem of problems) list.append(element("li", problem));
    notice.append(list);
  }
  slot.append(notice);
}

function showError(result, fallback) {
  const body = result.body ?? {};
  showMessage(body.error_description ? `${body.error_description} (${body.error})` : fallback, body.problems ?? []);
}

function show(id, visible) {
  $(id).hidden = !visible;
}

function renderInstructions() {
  const chosen = document.querySelector('input[name="idp"]:checked')?.value ?? "other";
  sessionStorage.setItem(IDP_CHOICE, chosen);
  const idp = IDPS[chosen];
  const list = $("idp-instructions");
  clear(list);
  for (const step of idp.steps) list.append(element("li", step));
  $("issuer-hint").textContent = idp.issuerHint;
  if (!$("issuer").value) $("issuer").placeholder = idp.issuerHint.startsWith("https://") ? idp.issuerHint : "https://";
}

function renderTest(result, saved) {
  const test = $("test");
  if (saved) {
    test.href = `${prefix}/setup/test`;
    test.removeAttribute("aria-disabled");
  } else {
    test.href = "#";
    test.setAttribute("aria-disabled", "true");
  }
  show("test-result", Boolean(result));
  if (!result) return;
  const facts = $("test-facts");
  clear(facts);
  const fact = (name, value) => {
    facts.append(element("dt", name));
    facts.append(element("dd", value));
  };
  if (result.identity) {
    const who = result.identity;
    $("test-outcome").textContent = "The test sign-in worked. Your identity provider said:";
    $("test-outcome").className = "success";
    fact("Subject", who.subject);
    fact("Email", who.email ?? "(none given, or not verified)");
    fact(
      "Email domain",
      who.email === null ? "—" : who.email_domain_verified ? "proven by you: the email is kept" : "not proven yet: prove it in step 4, or the email is not kept",
    );
    fact("Name", who.name ?? "(none given)");
    fact("Groups", who.groups.length ? who.groups.join(", ") : "(none given)");
  } else if (result.error) {
    $("test-outcome").textContent = "The test sign-in failed:";
    $("test-outcome").className = "failure";
    fact("Error", result.error.code);
    fact("Why", result.error.message);
  }
}

function renderDomains(domains) {
  const list = $("domains");
  clear(list);
  for (const claim of domains) {
    const item = element("li", undefined, "domain");
    const heading = element("p");
    heading.append(element("strong", claim.domain));
    heading.append(element("span", claim.verified ? " verified" : " waiting for its DNS record", claim.verified ? "badge badge-ok" : "badge"));
    item.append(heading);
    if (!claim.verified) {
      const record = element("dl", undefined, "copy-list");
      record.append(element("dt", "Record type"), element("dd", claim.challenge.kind));
      record.append(element("dt", "Name"), element("dd", claim.challenge.name));
      record.append(element("dt", "Value"), element("dd", claim.challenge.value));
      item.append(record);
      const verify = element("button", "Verify", "button button-secondary verify");
      verify.type = "button";
      verify.dataset.domain = claim.domain;
      item.append(verify);
    }
    list.append(item);
  }
}

function render() {
  show("begin", false);
  show("no-link", false);
  show("steps", true);
  $("tenant-name").textContent = state.tenant.name;
  show("tenant-line", true);
  $("redirect-uri").textContent = state.connection.redirect_uri;
  $("initiate-login-uri").textContent = state.connection.initiate_login_uri;
  const saved = state.connection.saved;
  if (saved) {
    $("issuer").value = saved.issuer ?? "";
    $("client_id").value = saved.client_id ?? "";
    $("display_name").value = saved.display_name ?? "";
    $("client_secret").placeholder = "saved (enter it again to change the connection)";
    const locked = saved.in_use || saved.active;
    $("saved-line").textContent = locked
      ? "Saved and live. To change it now, ask the administrators who sent you this link."
      : "Saved. You may change it until you finish the setup; nobody signs in with it before then.";
    show("saved-line", true);
    $("save").disabled = locked;
  }
  renderInstructions();
  renderTest(state.test_result, Boolean(saved));
  renderDomains(state.domains);
}

async function load() {
  const result = await api("/state");
  if (result.status === 200) {
    state = result.body;
    render();
    return true;
  }
  if (result.status !== 401) showError(result, "The setup session could not be loaded.");
  return false;
}

function refused(code) {
  const codes = {
    setup_link_used: "This setup link was already used. Ask for a new one.",
    setup_link_expired: "This setup link has expired. Ask for a new one.",
    setup_link_invalid: "This is not a setup link. Check that you opened the whole link.",
  };
  showMessage(codes[code] ?? "The setup link could not be opened.");
  show("begin", false);
  show("no-link", true);
}

async function begin(token) {
  $("begin-button").disabled = true;
  const result = await api("/open", { method: "POST", body: { token } });
  // Spent already, perhaps by this browser (a reload before the address bar was cleaned).
  if (result.body.error === "setup_link_used" && (await load())) {
    history.replaceState(null, "", location.pathname);
    return;
  }
  if (result.status !== 200) {
    $("begin-button").disabled = false;
    refused(result.body.error);
    return;
  }
  // The token is spent; it leaves the address bar and the history.
  history.replaceState(null, "", location.pathname);
  showMessage("");
  await load();
}

async function saveConnection(event) {
  event.preventDefault();
  const body = {};
  for (const field of ["issuer", "client_id", "client_secret", "display_name"]) {
    const value = $(field).value.trim();
    if (value) body[field] = value;
  }
  $("save").disabled = true;
  const result = await api("/connection", { method: "PUT", body });
  $("save").disabled = false;
  if (await applied(result, 200, "The connection could not be saved.")) $("client_secret").value = "";
}

async function claimDomain(event) {
  event.preventDefault();
  const result = await api("/domains", { method: "POST", body: { domain: $("domain").value.trim() } });
  if (await applied(result, 201, "The domain could not be added.")) $("domain").value = "";
}

/** A change the server answered: on `expected`, the page shows the new state; else why not. */
async function applied(result, expected, fallback) {
  if (result.status !== expected) {
    showError(result, fallback);
    return false;
  }
  showMessage("");
  await load();
  return true;
}

async function verifyDomain(domain) {
  const result = await api(`/domains/${encodeURIComponent(domain)}/verify`, { method: "POST" });
  if (result.status !== 200) {
    const found = result.body.found?.length ? [`found: ${result.body.found.join(", ")}`] : [];
    showMessage(result.body.error_description ?? "The domain could not be verified.", found);
    return;
  }
  showMessage("");
  await load();
}

async function finish() {
  const result = await api("/finish", { method: "POST" });
  if (result.status !== 200) {
    showError(result, "The setup could not be finished.");
    return;
  }
  show("steps", false);
  $("finished-detail").textContent = result.body.connection_active
    ? "The connection is live: your users can now sign in with their work email. You can close this page."
    : "No connection was saved, so nothing changed. You can close this page.";
  show("finished", true);
}

async function copy(button) {
  const text = $(button.dataset.copy).textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Select and copy";
  }
}

function wire() {
  // The choice survives the trip to the IdP and back.
  const remembered = document.querySelector(`input[name="idp"][value="${sessionStorage.getItem(IDP_CHOICE)}"]`);
  if (remembered) remembered.checked = true;
  for (const radio of document.querySelectorAll('input[name="idp"]')) radio.addEventListener("change", renderInstructions);
  for (const button of document.querySelectorAll("button.copy")) button.addEventListener("click", () => copy(button));
  $("connection-form").addEventListener("submit", saveConnection);
  $("domain-form").addEventListener("submit", claimDomain);
  $("domains").addEventListener("click", (event) => {
    const button = event.target.closest("button.verify");
    if (button) verifyDomain(button.dataset.domain);
  });
  $("test").addEventListener("click", (event) => {
    if ($("test").getAttribute("aria-disabled") === "true") {
      event.preventDefault();
      showMessage("Save the connection first.");
    }
  });
  $("finish").addEventListener("click", finish);
}

async function main() {
  wire();
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (token) {
    // Which tenant this link sets up, before anything is spent.
    const peeked = await api("/peek", { method: "POST", body: { token } });
    if (peeked.status === 200) {
      $("begin-tenant").textContent = `${peeked.body.tenant.name} (${peeked.body.tenant.id})`;
      show("begin", true);
      $("begin-button").addEventListener("click", () => begin(token));
    } else if (!(peeked.body.error === "setup_link_used" && (await load()))) {
      refused(peeked.body.error);
    } else {
      history.replaceState(null, "", location.pathname);
    }
  } else if (!(await load())) {
    show("no-link", true);
  }
}

main();

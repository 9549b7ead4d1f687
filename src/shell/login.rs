//! The browser login routes: `/auth/login`, `/auth/callback`, `/auth/logout`, `/auth/logged-out`,
//! `/auth/session`, `/auth/branding.css` and the session revocation API.
//!
//! Flow security (RFC 9700, RFC 9207, OIDC Core 3.1.3.7): PKCE S256 always; `state` bound to the
//! browser by a sealed, per-flow ticket cookie and usable once (recorded in the Durable Object,
//! as is the code); `nonce` in the ID token; `iss` checked when the provider promises it; the one
//! registered redirect URI; `return_to` limited to the app's origins.

use super::adapters::{DurableLedger, FetchClient, WorkerClock, WorkerTokenVerifier};
use super::body::{parse_body, read_bounded};
use super::connections::{self, ConnectionUse};
use super::directory::D1Directory;
use super::key_admin::administrator;
use super::login_context::LoginContext;
use super::mfa_store::D1Factors;
use super::providers;
use super::rate_limit::{self, Verdict};
use super::respond;
use super::sessions::{self, KvSessions, LiveSession, Upkeep};
use super::setup_session;
use super::tenants::D1Tenants;
use crate::audit;
use crate::authn::AuthnError;
use crate::config::Config;
use crate::deploy::Environment;
use crate::directory::onboarding::{self, SetupLink};
use crate::directory::tenants::TenantStore;
use crate::edge::LoginEndpoint;
use crate::error::Failure;
use crate::gateway::refusals::RouteError;
use crate::http::headers::{self, HeaderList};
use crate::http::pair_value;
use crate::login::config::LoginConfig;
use crate::login::csrf;
use crate::login::error::LoginError;
use crate::login::flow::{
    self, clear_ticket, FlowError, HeldSignIn, LocalFactorOwed, Purpose, SessionIssued, SetupTested,
};
use crate::login::oidc;
use crate::login::pages::{self, Notice};
use crate::login::provider::Provider;
use crate::login::provider_api::Endpoints;
use crate::mfa::factors::{self, NextStep};
use crate::mfa::step_up::ProviderAsk;
use crate::mfa::ticket::{self, FirstFactor, SecondFactorTicket, Stage};
use crate::ports::Unavailable;
use crate::ports::{Entropy, SystemEntropy};
use crate::secret::SecretBytes;
use crate::session;
use serde::Deserialize;
use std::borrow::Cow;
use worker::{console_log, console_warn, Env, Request, Response};

const DEVELOPMENT_LOGIN_SECRET: &[u8] = b"portcullis-development-login-secret, not a secret";

pub(super) fn login_secret(env: &Env, config: &Config, login: &LoginConfig) -> Result<SecretBytes, Failure> {
    match super::bindings::key_secret(env, &login.secret_binding) {
        Some(key) => Ok(key),
        None if config.environment == Environment::Development => {
            Ok(SecretBytes::new(DEVELOPMENT_LOGIN_SECRET.to_vec()))
        }
        _ => {
            console_warn!("{}", serde_json::json!({ "event": "login_secret_missing", "secret": login.secret_binding }));
            Err(Failure::Unavailable)
        }
    }
}

/// The edge headers of a login page, with `form-action` widened to the providers' origins:
/// browsers apply `form-action` to the redirects that follow a form submission.
pub(super) fn page_headers(cx: &LoginContext<'_>, login: &LoginConfig, content_type: &str) -> HeaderList {
    let mut list = respond::edge_headers(&cx.config.security_headers, cx.request_id, content_type);
    let mut origins: Vec<String> = Vec::new();
    for provider in &login.providers {
        for endpoint in providers::page_endpoints(provider) {
            if let Ok(url) = url::Url::parse(&endpoint) {
                let origin = url.origin().ascii_serialization();
                if !origins.contains(&origin) {
                    origins.push(origin);
                }
            }
        }
    }
    let csp = crate::gateway::security_headers::EDGE_PAGE_CSP
        .replace("form-action 'self'", &format!("form-action 'self' {}", origins.join(" ")));
    headers::set(&mut list, "content-security-policy", csp);
    list
}

pub(super) fn redirect(
    cx: &LoginContext<'_>,
    status: u16,
    location: &str,
    cookies: &[String],
) -> Result<Response, Failure> {
    respond::redirect(status, location, cookies, &cx.config.security_headers, cx.request_id)
        .map_err(|_| Failure::Unavailable)
}

pub(super) async fn template(env: &Env, path: &str) -> Result<String, Failure> {
    let mut asset = respond::fetch_asset(env, path).await.map_err(|_| Failure::Unavailable)?;
    if asset.status_code() != 200 {
        return Err(Failure::Unavailable);
    }
    asset.text().await.map_err(|_| Failure::Unavailable)
}

fn html(cx: &LoginContext<'_>, login: &LoginConfig, body: &str) -> Result<Response, Failure> {
    respond::build_text(200, &page_headers(cx, login, "text/html; charset=utf-8"), body)
        .map_err(|_| Failure::Unavailable)
}

/// One audit line per login event.
pub(super) fn audit_login(
    cx: &LoginContext<'_>,
    event: &str,
    provider: Option<&str>,
    subject: Option<&str>,
    outcome: &str,
) {
    console_log!(
        "{}",
        serde_json::json!({
            "event": event,
            "ts_ms": js_sys::Date::now() as u64,
            "request_id": cx.request_id,
            "provider": provider,
            "principal": subject,
            "outcome": audit::truncate(outcome, 256),
            "client_ip": cx.head.header("cf-connecting-ip"),
        })
    );
}

/// Serves a login endpoint. Failures come back for the caller to render (and audit).
pub async fn serve(
    req: Request,
    cx: &LoginContext<'_>,
    endpoint: LoginEndpoint,
) -> Result<Response, (Failure, HeaderList)> {
    let Some(login) = &cx.config.login else {
        return Err((RouteError::UnknownEdgePath.into(), Vec::new()));
    };
    let plain = |failure: Failure| (failure, Vec::new());
    if matches!(endpoint, LoginEndpoint::Start | LoginEndpoint::Callback) {
        limit_sign_ins(cx, login).await?;
    }
    match endpoint {
        LoginEndpoint::Start => start(cx, login).await.map_err(plain),
        LoginEndpoint::Callback => callback(cx, login).await,
        LoginEndpoint::LogoutPage => logout_page(cx, login).await.map_err(plain),
        LoginEndpoint::Logout => logout(req, cx, login).await.map_err(plain),
        LoginEndpoint::LoggedOut => {
            let page = pages::logged_out_page(&template(cx.env, "/logged-out.html").await.map_err(plain)?, login);
            html(cx, login, &page).map_err(plain)
        }
        LoginEndpoint::SessionInfo => session_info(cx, login).await,
        LoginEndpoint::BrandingCss => {
            let mut list = respond::edge_headers(&cx.config.security_headers, cx.request_id, "text/css; charset=utf-8");
            headers::set(&mut list, "cache-control", "public, max-age=300");
            respond::build_text(200, &list, &login.branding_css()).map_err(|_| plain(Failure::Unavailable))
        }
        LoginEndpoint::RevokeSessions => revoke_sessions(req, cx).await.map_err(plain),
    }
}

/// The login rate limits (`login.rate_limits`), for the steps of a sign-in.
pub(super) async fn limit_sign_ins(cx: &LoginContext<'_>, login: &LoginConfig) -> Result<(), (Failure, HeaderList)> {
    if login.rate_limits.is_empty() {
        return Ok(());
    }
    let client_ip = cx.head.header("cf-connecting-ip");
    match rate_limit::enforce_rules(cx.env, cx.config, "auth-login", &login.rate_limits, None, client_ip).await {
        Verdict::Allowed(..) => Ok(()),
        Verdict::Limited(failure, headers) => Err((failure, headers)),
        Verdict::Unavailable(reason) => {
            console_warn!("{}", serde_json::json!({ "event": "login_rate_limiter_unavailable", "reason": reason }));
            Err((Failure::Unavailable, Vec::new()))
        }
    }
}

/// `GET /auth/login`.
async fn start(cx: &LoginContext<'_>, login: &LoginConfig) -> Result<Response, Failure> {
    let query = cx.head.query_pairs();
    let return_to = oidc::safe_return_to(pair_value(&query, "return_to").unwrap_or("/"), &login.app_origins());
    if let Some(id) = pair_value(&query, "provider") {
        if let Some(provider) = login.provider(id) {
            // A route's step-up (see the shell's step_up_redirect) asks the provider again.
            let step_up = ProviderAsk::from_query(
                pair_value(&query, "max_age"),
                pair_value(&query, "acr_values"),
                &provider.authentication.step_up_acr_values,
            );
            return begin_flow(cx, login, provider, Purpose::SignIn { return_to, step_up }, None).await;
        }
        let (provider, _) = connections::stored_provider(cx.env, cx.config, id, ConnectionUse::SignIn)
            .await?
            .ok_or(LoginError::UnknownProvider)?;
        return begin_flow(cx, login, &provider, Purpose::SignIn { return_to, step_up: None }, None).await;
    }
    let email = pair_value(&query, "email").map(str::trim).unwrap_or("");
    let mut notice = Notice::None;
    if !email.is_empty() {
        match home_realm(cx, login, email).await? {
            Some(Cow::Borrowed(provider)) => {
                return begin_flow(cx, login, provider, Purpose::SignIn { return_to, step_up: None }, Some(email)).await
            }
            // The sign-in form's CSP `form-action` names only configured providers: a redirect
            // to a stored connection's IdP after the form would be blocked, so a page continues.
            Some(Cow::Owned(provider)) => return continue_flow(cx, login, &provider, return_to, email).await,
            None => notice = Notice::UnknownDomain,
        }
    } else if pair_value(&query, "reason") == Some("session_ended") {
        notice = Notice::SessionEnded;
    }
    let page = pages::login_page(
        &template(cx.env, "/login.html").await?,
        login,
        &cx.config.edge_prefix,
        &return_to,
        notice,
        email,
        cx.config.local_accounts.as_ref().map(|_| format!("{}/accounts/sign-in", cx.config.edge_prefix)).as_deref(),
    );
    html(cx, login, &page)
}

/// The provider an email signs in with: the one configured for its domain, else a connection of
/// the tenant that has verified the domain in the directory. An unverified claim routes nobody.
async fn home_realm<'a>(
    cx: &LoginContext<'_>,
    login: &'a LoginConfig,
    email: &str,
) -> Result<Option<Cow<'a, Provider>>, Failure> {
    if let Some(provider) = login.provider_for_email(email) {
        return Ok(Some(Cow::Borrowed(provider)));
    }
    let Some(domain) = crate::login::provider::email_domain(email) else { return Ok(None) };
    let unavailable = |unavailable: Unavailable| LoginError::DirectoryUnavailable(unavailable.0);
    let tenants = D1Tenants(cx.env);
    let Some(owner) = tenants.verified_owner(&domain).await.map_err(unavailable)? else { return Ok(None) };
    // The tenant's own connections first, oldest first; then a configured provider naming it.
    for stored in tenants.connections(&owner).await.map_err(unavailable)? {
        if let Some((provider, _)) =
            connections::stored_provider(cx.env, cx.config, &stored.id, ConnectionUse::SignIn).await?
        {
            return Ok(Some(Cow::Owned(provider)));
        }
    }
    Ok(login.provider_for_tenant(owner.id()).map(Cow::Borrowed))
}

/// Sends the browser to the provider, with PKCE, `state`, `nonce` and the sealed ticket.
pub(super) async fn begin_flow(
    cx: &LoginContext<'_>,
    login: &LoginConfig,
    provider: &Provider,
    purpose: Purpose,
    login_hint: Option<&str>,
) -> Result<Response, Failure> {
    let begun = begin_with(cx, login, provider, purpose, login_hint).await?;
    audit_login(cx, "login_started", Some(&provider.id), None, "redirected to provider");
    redirect(cx, 302, &begun.location, &[begun.ticket_cookie])
}

/// The flow's first step for `provider`: an OIDC or OAuth 2.0 authorisation request (with the
/// provider's endpoints), or a SAML `AuthnRequest`.
async fn begin_with(
    cx: &LoginContext<'_>,
    login: &LoginConfig,
    provider: &Provider,
    purpose: Purpose,
    login_hint: Option<&str>,
) -> Result<flow::Begun, Failure> {
    let key = login_secret(cx.env, cx.config, login)?;
    if flow::saml::settings_of(provider).is_some() {
        // Its ticket cookie is SameSite=None: set it only for a page the browser navigates to,
        // never for an image or a fetch that another site's page could make by the dozen.
        if !cx.head.may_be_page_navigation() {
            return Err(LoginError::CsrfRejected.into());
        }
        // A SAML provider is never a tenant's connection under test.
        let Purpose::SignIn { return_to, step_up } = purpose else { return Err(LoginError::StateInvalid.into()) };
        let step_up = step_up.unwrap_or_default();
        let signs = flow::saml::settings_of(provider).is_some_and(|settings| settings.sign_requests);
        let signer = match (&login.saml_signing, signs) {
            (Some(signing), true) => {
                Some(super::saml_keys::sp_signer(cx.env, signing).await.map_err(|_| Failure::Unavailable)?)
            }
            _ => None,
        };
        return flow::saml::begin(
            login,
            provider,
            return_to,
            step_up,
            &key,
            signer.as_deref(),
            &SystemEntropy,
            &WorkerClock,
        )
        .await
        .map_err(flow_failure);
    }
    let endpoints = providers::endpoints(provider, cx.config).await?;
    flow::begin(login, provider, &endpoints, purpose, login_hint, &key, &SystemEntropy, &WorkerClock)
        .map_err(flow_failure)
}

/// Begins a flow with a page that sends the browser on (`meta` refresh, and a link), rather than
/// a redirect.
async fn continue_flow(
    cx: &LoginContext<'_>,
    login: &LoginConfig,
    provider: &Provider,
    return_to: String,
    login_hint: &str,
) -> Result<Response, Failure> {
    let purpose = Purpose::SignIn { return_to, step_up: None };
    let begun = begin_with(cx, login, provider, purpose, Some(login_hint)).await?;
    audit_login(cx, "login_started", Some(&provider.id), None, "sent on to provider");
    let mut list = page_headers(cx, login, "text/html; charset=utf-8");
    list.push(("set-cookie".into(), begun.ticket_cookie));
    headers::set(&mut list, "cache-control", "no-store");
    let page = pages::continue_page(&begun.location, &provider.display_name);
    respond::build_text(200, &list, &page).map_err(|_| Failure::Unavailable)
}

/// A stopped flow as the failure the browser gets.
pub(super) fn flow_failure(error: FlowError) -> Failure {
    match error {
        FlowError::Refused(error) => error.into(),
        FlowError::Unavailable(unavailable) => {
            console_warn!(
                "{}",
                serde_json::json!({ "event": "login_dependency_unavailable", "reason": unavailable.0 })
            );
            Failure::Unavailable
        }
    }
}

/// `GET /auth/callback`. Any failure clears the flow's ticket; the origin is never reached.
async fn callback(cx: &LoginContext<'_>, login: &LoginConfig) -> Result<Response, (Failure, HeaderList)> {
    let query = cx.head.query_pairs();
    let state = pair_value(&query, "state").unwrap_or("").to_owned();
    let clear = vec![("set-cookie".to_owned(), clear_ticket(&state))];
    let mut provider_id = None;
    let mut setup_link = None;
    match complete(cx, login, &query, &state, &mut provider_id, &mut setup_link).await {
        Ok(Completed::Session(issued)) => {
            signed_in(cx, login, provider_id.as_deref(), issued, clear_ticket(&state)).map_err(|f| (f, clear))
        }
        Ok(Completed::SecondFactorDue(due)) => {
            redirect(cx, 302, &due.location, &[due.ticket_cookie, clear_ticket(&state)]).map_err(|f| (f, clear))
        }
        Ok(Completed::SetupTested(link, tested)) => {
            let subject = Some(tested.profile.subject.as_str());
            audit_login(cx, "login_tested", provider_id.as_deref(), subject, "setup test: no session");
            setup_session::record_test(cx, &link, &tested.setup.revision, Ok(&tested)).await;
            redirect(cx, 302, &tested.return_to, &[clear_ticket(&state)]).map_err(|f| (f, clear))
        }
        Err(failure) => {
            audit_login(cx, "login_failed", provider_id.as_deref(), None, &failure.to_string());
            match setup_link {
                // A failed test goes back to the page, which shows why.
                Some((link, revision)) => {
                    setup_session::record_test(cx, &link, &revision, Err(&failure)).await;
                    let page = format!("{}/setup", cx.config.edge_prefix);
                    redirect(cx, 302, &page, &[clear_ticket(&state)]).map_err(|f| (f, clear))
                }
                None => Err((failure, clear)),
            }
        }
    }
}

/// The answer to a sign-in that made a session: to where the flow began, with the session's
/// cookie and `clear_ticket` (the flow's ticket cleared).
fn signed_in(
    cx: &LoginContext<'_>,
    login: &LoginConfig,
    provider_id: Option<&str>,
    issued: SessionIssued,
    clear_ticket: String,
) -> Result<Response, Failure> {
    audit_login(cx, "login_succeeded", provider_id, Some(issued.profile.subject.as_str()), "session created");
    let session_cookie = issued.cookie.set_cookie(login.session.absolute_lifetime_s as u64);
    redirect(cx, 302, &issued.return_to, &[session_cookie, clear_ticket])
}

/// How a callback ended well.
pub(super) enum Completed {
    /// A sign-in: a session.
    Session(SessionIssued),
    /// A setup link's test: who signed in, and no session.
    SetupTested(SetupLink, SetupTested),
    /// A sign-in held for one of Portcullis's second factors (audited as it was held).
    SecondFactorDue(HeldForFactor),
}

/// Runs the callback through the flow's steps; each step's I/O goes through the shell's ports.
async fn complete(
    cx: &LoginContext<'_>,
    login: &LoginConfig,
    query: &[(String, String)],
    state: &str,
    provider_id: &mut Option<String>,
    setup_link: &mut Option<(SetupLink, String)>,
) -> Result<Completed, Failure> {
    let key = login_secret(cx.env, cx.config, login)?;
    let ticket_name = oidc::ticket_cookie_name(state);
    let sealed = cx.head.header("cookie").and_then(|header| session::cookie_value(header, &ticket_name));
    let opened = flow::open_ticket(sealed.as_deref(), &key, &WorkerClock)?;
    *provider_id = Some(opened.provider_id().to_owned());
    let setup = match opened.setup() {
        Some(ticket) => Some((setup_session::test_link(cx, ticket, opened.provider_id()).await?, ticket)),
        None => None,
    };
    let wanted_for = if setup.is_some() { ConnectionUse::SetupTest } else { ConnectionUse::SignIn };
    // A configured provider, or a tenant's stored connection (whose secret is sealed in D1).
    let configured = login.provider(opened.provider_id()).is_some();
    let connection = if configured {
        None
    } else {
        connections::stored_connection(cx.env, opened.provider_id(), wanted_for).await?
    };
    if let Some((link, ticket)) = setup {
        // A test counts only for the revision it began with: not one saved over meanwhile.
        let own = connection.as_ref().filter(|connection| connection.tenant == link.tenant);
        let revision = own.map(onboarding::connection_revision);
        if revision.as_deref() != Some(ticket.revision.as_str()) {
            return Err(LoginError::StateInvalid.into());
        }
        *setup_link = Some((link, ticket.revision.clone()));
    }
    let stored = match (configured, &connection) {
        (true, _) => None,
        (false, Some(connection)) => {
            Some(connections::provider_of_stored(cx.env, cx.config, connection)?.ok_or(LoginError::StateInvalid)?)
        }
        (false, None) => return Err(LoginError::StateInvalid.into()),
    };
    let started = match &stored {
        None => opened.start(login, &cx.head.url)?,
        Some((provider, _)) => opened.start_with(login, provider, &cx.head.url)?,
    };
    let provider = started.provider();
    let endpoints = providers::endpoints(provider, cx.config).await?;
    let checked = started.check(query, endpoints)?;
    let client_secret = match &stored {
        Some((_, secret)) => secret.clone(),
        None => providers::client_secret(cx.env, provider)?,
    };
    let redeemed = checked.redeem(&DurableLedger(cx.env), &FetchClient, &client_secret).await.map_err(flow_failure)?;
    let verifier = WorkerTokenVerifier(cx.env);
    let verified = redeemed.verify(&verifier, &FetchClient, &cx.config.jwt.jwks_cache).await.map_err(flow_failure)?;
    if let Some((link, _)) = setup_link.take() {
        let tested = verified.setup_tested().ok_or(LoginError::StateInvalid)?;
        return Ok(Completed::SetupTested(link, tested));
    }
    sign_in(cx, login, verified).await
}

/// The end every sign-in method shares once the identity is verified: just-in-time provisioning,
/// one of Portcullis's factors if owed (the sign-in held), else the old session ended and a
/// fresh one issued.
pub(super) async fn sign_in(
    cx: &LoginContext<'_>,
    login: &LoginConfig,
    verified: flow::IdentityVerified<'_>,
) -> Result<Completed, Failure> {
    let directory = D1Directory(cx.env);
    let verified =
        verified.provision(&directory, &D1Tenants(cx.env), &SystemEntropy, &WorkerClock).await.map_err(flow_failure)?;
    // One of Portcullis's own factors may be owed: then no session yet, only its ticket.
    if let Some(owed) = verified.local_factor_owed() {
        if let Some(stage) = stage_owed(cx, &owed).await? {
            let held = verified.hold(&WorkerClock).map_err(flow_failure)?;
            let due = hold_sign_in(cx, login, &owed, held, stage).await?;
            return Ok(Completed::SecondFactorDue(due));
        }
    }
    // A login never keeps the old session: end it; the new one has a fresh id.
    sessions::end_previous(cx.env, cx.config, cx.head).await;
    let store = KvSessions {
        env: cx.env,
        client_ip: cx.head.header("cf-connecting-ip"),
        user_agent: cx.head.header("user-agent"),
    };
    verified.issue(&store, &WorkerClock).await.map(Completed::Session).map_err(flow_failure)
}

/// What a provider's sign-in that owes one of Portcullis's factors must do next: `None` when
/// nothing after all (the user has no factor, and none is required).
async fn stage_owed(cx: &LoginContext<'_>, owed: &LocalFactorOwed) -> Result<Option<Stage>, Failure> {
    let Some(accounts) = cx.config.local_accounts.as_ref() else {
        // The configuration requires local accounts with local_factors: never here.
        return Err(Failure::Unavailable);
    };
    let enrolled = D1Factors(cx.env)
        .enrolled(&owed.tenant, &owed.user_id)
        .await
        .map_err(|reason| Failure::from(LoginError::DirectoryUnavailable(reason.0)))?;
    Ok(match factors::after_first_factor(crate::accounts::local_factor_required(accounts, owed), enrolled) {
        NextStep::Session => None,
        NextStep::Challenge => Some(Stage::Challenge),
        NextStep::Enrol => Some(Stage::Enrol),
    })
}

/// A provider's sign-in held for its second factor: where the browser goes, with its ticket.
pub(super) struct HeldForFactor {
    /// The second-factor page.
    pub(super) location: String,
    /// `Set-Cookie` for the ticket.
    pub(super) ticket_cookie: String,
}

/// Holds a provider's sign-in for one of Portcullis's factors: its session record is parked in
/// KV, sealed and bound to a new ticket, and nothing else is stored (no session yet, and the
/// browser's previous one stays until the factor passes).
async fn hold_sign_in(
    cx: &LoginContext<'_>,
    login: &LoginConfig,
    owed: &LocalFactorOwed,
    held: HeldSignIn,
    stage: Stage,
) -> Result<HeldForFactor, Failure> {
    let record = held.record;
    let ticket = SecondFactorTicket {
        id: ticket::new_id(&SystemEntropy).map_err(|_| Failure::Unavailable)?,
        tenant: owed.tenant.clone(),
        user_id: owed.user_id.clone(),
        email: record.email.clone().unwrap_or_default(),
        first_factor: FirstFactor::Provider(record.provider.clone()),
        first_amr: record.amr.clone(),
        stage,
        return_to: held.return_to,
        issued_at_s: record.created_at_s,
    };
    let key = login_secret(cx.env, cx.config, login)?;
    let held_nonce: [u8; 12] = SystemEntropy.bytes().map_err(|_| Failure::Unavailable)?;
    let ticket_nonce: [u8; 12] = SystemEntropy.bytes().map_err(|_| Failure::Unavailable)?;
    let sealed = ticket::seal_held(&record, &ticket, &key, &held_nonce);
    let ttl_s = 2 * ticket::TICKET_LIFETIME_S as u64;
    sessions::park_held(cx.env, &ticket::held_key(&ticket), &sealed, ttl_s).await.map_err(|_| Failure::Unavailable)?;
    audit_login(cx, "login_first_factor", Some(&record.provider), Some(&record.subject), stage.due());
    let page = if stage == Stage::Enrol { "totp" } else { "mfa" };
    Ok(HeldForFactor {
        location: format!("{}/accounts/{page}", cx.config.edge_prefix),
        ticket_cookie: ticket::set_cookie(&ticket::seal(&ticket, &key, &ticket_nonce)),
    })
}

/// `GET /auth/logout`: the confirmation page (or straight to the logged-out page).
async fn logout_page(cx: &LoginContext<'_>, login: &LoginConfig) -> Result<Response, Failure> {
    match sessions::current(cx.env, cx.ctx, cx.config, cx.head, Upkeep::None).await {
        Ok(Some(session)) => {
            let key = login_secret(cx.env, cx.config, login)?;
            let token = csrf::token(&key, &session.kv_key());
            let user = session.record().email.clone().unwrap_or_else(|| session.record().subject.clone());
            let return_to = oidc::safe_return_to(
                pair_value(&cx.head.query_pairs(), "return_to").unwrap_or("/"),
                &login.app_origins(),
            );
            let page = pages::logout_page(&template(cx.env, "/logout.html").await?, login, &token, &user, &return_to);
            let mut list = page_headers(cx, login, "text/html; charset=utf-8");
            // The sign-out form then posts with a real Origin, also in browsers that send no
            // Sec-Fetch-Site; the page holds nothing worth hiding from its own origin.
            headers::set(&mut list, "referrer-policy", "same-origin");
            respond::build_text(200, &list, &page).map_err(|_| Failure::Unavailable)
        }
        Err(AuthnError::Unavailable(_)) => Err(Failure::Unavailable),
        _ => redirect(cx, 303, &format!("{}/logged-out", cx.config.edge_prefix), &[session::clear_cookie()]),
    }
}

/// `POST /auth/logout`: CSRF-checked; ends the session everywhere, then RP-initiated logout.
async fn logout(mut req: Request, cx: &LoginContext<'_>, login: &LoginConfig) -> Result<Response, Failure> {
    let body = read_bounded(&mut req, 4096).await?;
    if !csrf::from_own_origin(cx.head, &login.app_origins()) {
        return Err(LoginError::CsrfRejected.into());
    }
    let presented = match cx.head.header("x-csrf-token") {
        Some(token) => Some(token.to_owned()),
        None => csrf::token_from_form(&body),
    };
    let session = match sessions::current(cx.env, cx.ctx, cx.config, cx.head, Upkeep::None).await {
        Ok(session) => session,
        // A dead session is already logged out; a store outage must not pass for a logout.
        Err(AuthnError::Unavailable(_)) => return Err(LoginError::LogoutFailed.into()),
        Err(_) => None,
    };
    let mut location = login.post_logout_redirect_uri.clone();
    if let Some(session) = &session {
        let key = login_secret(cx.env, cx.config, login)?;
        if !presented.is_some_and(|token| csrf::token_matches(&key, &session.kv_key(), &token)) {
            return Err(LoginError::CsrfRejected.into());
        }
        sessions::end(cx.env, session).await.map_err(|()| LoginError::LogoutFailed)?;
        audit_login(cx, "logout", Some(&session.record().provider), Some(&session.record().subject), "session ended");
        // A SAML session's IdP signs the user out too (Single Logout), where it can.
        if let Some(url) = super::saml_providers::sp_logout_location(cx, login, session.record()).await {
            location = url;
        } else if let Some(provider) = login.provider(&session.record().provider) {
            if let Ok(endpoints) = providers::endpoints(provider, cx.config).await {
                revoke_upstream_tokens(cx, provider, &endpoints, session);
                if let Some(url) = end_session_url(login, provider, &endpoints, session) {
                    location = url;
                }
            }
        }
    }
    if cx.head.header("accept").is_some_and(|accept| accept.contains("application/json")) {
        let mut list =
            respond::edge_headers(&cx.config.security_headers, cx.request_id, "application/json; charset=utf-8");
        list.push(("set-cookie".into(), session::clear_cookie()));
        let body = serde_json::json!({ "logged_out": true, "redirect_to": location });
        return respond::build_text(200, &list, &body.to_string()).map_err(|_| Failure::Unavailable);
    }
    redirect(cx, 303, &location, &[session::clear_cookie()])
}

/// Revokes the provider's refresh token (RFC 7009) when the provider has a revocation endpoint,
/// after the response: best effort, since the session itself is already over.
fn revoke_upstream_tokens(cx: &LoginContext<'_>, provider: &Provider, endpoints: &Endpoints, session: &LiveSession) {
    let Some(tokens) = session.record().tokens.as_ref() else { return };
    let Some(endpoint) = endpoints.revocation.clone() else { return };
    let (token, hint) = match &tokens.refresh_token {
        Some(refresh) => (refresh.clone(), "refresh_token"),
        None => (tokens.access_token.clone(), "access_token"),
    };
    let env = cx.env.clone();
    let provider = provider.clone();
    cx.ctx.wait_until(async move {
        providers::revoke(&env, &provider, &endpoint, &token, hint).await;
    });
}

/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2), when the provider has it.
fn end_session_url(
    login: &LoginConfig,
    provider: &Provider,
    endpoints: &Endpoints,
    session: &LiveSession,
) -> Option<String> {
    let mut url = url::Url::parse(endpoints.end_session.as_deref()?).ok()?;
    {
        let mut pairs = url.query_pairs_mut();
        if let Some(id_token) = session.record().tokens.as_ref().and_then(|t| t.id_token.as_deref()) {
            pairs.append_pair("id_token_hint", id_token);
        }
        pairs.append_pair("client_id", &provider.client_id);
        pairs.append_pair("post_logout_redirect_uri", &login.post_logout_redirect_uri);
    }
    Some(url.into())
}

/// `GET /auth/session`: who is signed in, for single-page apps.
async fn session_info(cx: &LoginContext<'_>, login: &LoginConfig) -> Result<Response, (Failure, HeaderList)> {
    match sessions::current(cx.env, cx.ctx, cx.config, cx.head, Upkeep::Full).await {
        Ok(Some(session)) => {
            let key = login_secret(cx.env, cx.config, login).map_err(|f| (f, Vec::new()))?;
            let r = session.record();
            let body = serde_json::json!({
                "authenticated": true,
                "subject": r.subject,
                "email": r.email,
                "name": r.name,
                "groups": r.groups,
                "tenant": r.tenant,
                "provider": r.provider,
                "session_id": session.kv_key().trim_start_matches("session:"),
                "created_at": r.created_at_s,
                "expires_at": r.expires_at_s,
                "idle_expires_at": r.last_seen_s + login.session.idle_timeout_s,
                "csrf_token": csrf::token(&key, &session.kv_key()),
            });
            respond::json(200, &body, &cx.config.security_headers, cx.request_id)
                .map_err(|_| (Failure::Unavailable, Vec::new()))
        }
        Ok(None) => Err((AuthnError::Missing.into(), Vec::new())),
        Err(error @ AuthnError::InvalidSession(_)) => {
            Err((error.into(), vec![("set-cookie".into(), session::clear_cookie())]))
        }
        Err(error) => Err((error.into(), Vec::new())),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    provider: String,
    subject: String,
}

/// `POST /auth/sessions/revoke` `{"provider", "subject"}`: ends all of a user's sessions at once.
async fn revoke_sessions(mut req: Request, cx: &LoginContext<'_>) -> Result<Response, Failure> {
    let body = read_bounded(&mut req, cx.config.limits.max_edge_body_bytes).await?;
    let actor = administrator(cx.env, cx.ctx, cx.config, cx.head).await?;
    let request: RevokeRequest = parse_body(&body)?
        .ok_or_else(|| Failure::InvalidBody(vec!["body: {\"provider\": ..., \"subject\": ...} is required".into()]))?;
    if request.subject.is_empty() || cx.config.login.as_ref().and_then(|l| l.provider(&request.provider)).is_none() {
        return Err(Failure::InvalidBody(vec!["provider: a configured provider id and a non-empty subject".into()]));
    }
    let at_ms = sessions::revoke_subject(cx.env, &request.provider, &request.subject)
        .await
        .map_err(|()| Failure::Unavailable)?;
    audit_login(cx, "sessions_revoked", Some(&request.provider), Some(&request.subject), &format!("by {actor}"));
    let body = serde_json::json!({ "revoked": true, "provider": request.provider, "subject": request.subject, "revoked_at_ms": at_ms });
    respond::json(200, &body, &cx.config.security_headers, cx.request_id).map_err(|_| Failure::Unavailable)
}

//! The onboarding page and its API (`{prefix}/setup`): a tenant's IT administrator, holding a
//! setup link, connects the tenant's IdP, tests it with a real sign-in, and proves the tenant's
//! domains. See `directory::onboarding` for what a link may do.
//!
//! - The link's `GET` only serves the page: the token is in the URL's fragment, which no server
//!   and no mail scanner following the link sees. The page spends it with a `POST`.
//! - Every `POST` and `PUT` must come from the page's own origin, with a JSON body.
//! - The setup cookie is `SameSite=Lax`: the test sign-in's callback is a top-level navigation
//!   from the IdP, and must carry it.

use super::adapters::{FetchClient, WorkerClock};
use super::body::{read_bounded, required_body};
use super::connections::{self, ConnectionUse};
use super::directory::D1Directory;
use super::directory_admin::{connection_view, domain_view, origin_of, seal_connection};
use super::login;
use super::login_context::LoginContext;
use super::rate_limit::{self, Verdict};
use super::respond;
use super::setup_links::D1SetupLinks;
use super::setup_session::{audit, session_link};
use super::tenants::D1Tenants;
use crate::directory::onboarding::{self, connection_request, SetupLink, SetupLinkStore, SESSION_LIFETIME_MS};
use crate::directory::store::Directory;
use crate::directory::tenancy::{self, existing_tenant, NewDomain};
use crate::directory::tenants::TenantStore;
use crate::directory::{DirectoryError, TenantScope};
use crate::edge::SetupEndpoint;
use crate::error::Failure;
use crate::http::headers::{self, HeaderList};
use crate::login::config::LoginConfig;
use crate::login::csrf;
use crate::login::error::LoginError;
use crate::login::flow::Purpose;
use crate::login::oidc::SetupTicket;
use crate::ports::{SystemEntropy, Unavailable};
use crate::session::SETUP_COOKIE_NAME;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{console_log, Request, Response};

/// The most bytes of a setup request's body.
const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
/// `{"token"}`: the body of `peek` and `open`.
struct TokenRequest {
    token: String,
}

fn unavailable(reason: Unavailable) -> Failure {
    DirectoryError::Unavailable(reason).into()
}

/// The onboarding page, for the `{prefix}` of `/auth/setup`.
fn page_path(cx: &LoginContext<'_>) -> String {
    format!("{}/setup", cx.config.edge_prefix)
}

/// The setup cookie's `Set-Cookie` value.
fn setup_cookie(value: &str, max_age_s: u64) -> String {
    format!("{SETUP_COOKIE_NAME}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age_s}")
}

/// Refuses a state-changing request that is not from the page's own origin with a JSON body: a
/// cross-site form can send neither.
fn same_origin_json(cx: &LoginContext<'_>) -> Result<(), Failure> {
    if !csrf::from_own_origin(cx.head, &[origin_of(&cx.head.url)]) {
        return Err(LoginError::CsrfRejected.into());
    }
    let json = cx.head.header("content-type").is_some_and(|value| {
        value.split(';').next().is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
    });
    if !json {
        return Err(Failure::InvalidBody(vec!["content-type: application/json is required".into()]));
    }
    Ok(())
}

fn reply(cx: &LoginContext<'_>, status: u16, body: &Value, cookies: &[String]) -> Result<Response, Failure> {
    let mut list = respond::edge_headers(&cx.config.security_headers, cx.request_id, "application/json; charset=utf-8");
    for cookie in cookies {
        list.push(("set-cookie".into(), cookie.clone()));
    }
    respond::build_text(status, &list, &body.to_string()).map_err(|_| Failure::Unavailable)
}

/// Serves an onboarding endpoint.
pub async fn serve(
    mut req: Request,
    cx: &LoginContext<'_>,
    endpoint: SetupEndpoint,
) -> Result<Response, (Failure, HeaderList)> {
    let plain = |failure: Failure| (failure, Vec::new());
    let login =
        cx.config.login.as_ref().ok_or_else(|| plain(crate::gateway::refusals::RouteError::UnknownEdgePath.into()))?;
    // Read the (bounded) body before answering anything, so a refusal never cuts off an upload.
    let body = read_bounded(&mut req, MAX_BODY_BYTES).await.map_err(plain)?;
    // Each of these costs an outbound call (the IdP, the DNS resolver) or guards a token.
    let limited = matches!(
        endpoint,
        SetupEndpoint::Peek
            | SetupEndpoint::Open
            | SetupEndpoint::Test
            | SetupEndpoint::ClaimDomain
            | SetupEndpoint::VerifyDomain(_)
    );
    if limited && !login.rate_limits.is_empty() {
        let client_ip = cx.head.header("cf-connecting-ip");
        match rate_limit::enforce_rules(cx.env, cx.config, "auth-setup", &login.rate_limits, None, client_ip).await {
            Verdict::Allowed(..) => {}
            Verdict::Limited(failure, headers) => return Err((failure, headers)),
            Verdict::Unavailable(_) => return Err(plain(Failure::Unavailable)),
        }
    }
    match endpoint {
        SetupEndpoint::Page | SetupEndpoint::State => {}
        // A navigation, but one that starts a flow and overwrites the last result: from the page
        // (or typed), never from another site.
        SetupEndpoint::Test if matches!(cx.head.header("sec-fetch-site"), Some("cross-site" | "same-site")) => {
            return Err(plain(LoginError::CsrfRejected.into()))
        }
        SetupEndpoint::Test => {}
        _ => same_origin_json(cx).map_err(plain)?,
    }
    let result = match endpoint {
        SetupEndpoint::Page => page(cx).await,
        SetupEndpoint::Peek => {
            let request: TokenRequest = required_body(&body).map_err(plain)?;
            let links = D1SetupLinks(cx.env);
            match onboarding::peek_link(&links, &D1Tenants(cx.env), &WorkerClock, &request.token).await {
                Ok((link, tenant)) => reply(
                    cx,
                    200,
                    &json!({ "tenant": { "id": tenant.id, "name": tenant.name }, "expires_at_ms": link.expires_at_ms }),
                    &[],
                ),
                Err(error) => Err(error.into()),
            }
        }
        SetupEndpoint::Open => open(cx, &body).await,
        SetupEndpoint::State => state(cx, login, &session_link(cx).await.map_err(plain)?).await,
        SetupEndpoint::SaveConnection => save(cx, login, &session_link(cx).await.map_err(plain)?, &body).await,
        SetupEndpoint::Test => test(cx, login, &session_link(cx).await.map_err(plain)?).await,
        SetupEndpoint::ClaimDomain => {
            let link = session_link(cx).await.map_err(plain)?;
            let request: NewDomain = required_body(&body).map_err(plain)?;
            let scope = TenantScope::of(&link.tenant);
            match tenancy::claim_domain(&D1Tenants(cx.env), &SystemEntropy, &scope, request).await {
                Ok(claim) => {
                    audit(cx, "setup_domain_claimed", &link, json!({ "domain": claim.domain }));
                    reply(cx, 201, &domain_view(&claim), &[])
                }
                Err(error) => Err(error.into()),
            }
        }
        SetupEndpoint::VerifyDomain(domain) => {
            let link = session_link(cx).await.map_err(plain)?;
            let scope = TenantScope::of(&link.tenant);
            let resolver = &cx.config.directory.dns_resolver;
            let tenants = D1Tenants(cx.env);
            let verified =
                tenancy::verify_domain(&tenants, &FetchClient, &WorkerClock, resolver, &scope, &domain).await;
            let outcome = if verified.is_ok() { "verified" } else { "not_verified" };
            audit(cx, "setup_domain_verification", &link, json!({ "domain": domain, "outcome": outcome }));
            verified.map_err(Failure::from).and_then(|claim| reply(cx, 200, &domain_view(&claim), &[]))
        }
        SetupEndpoint::Finish => finish(cx, &session_link(cx).await.map_err(plain)?).await,
    };
    result.map_err(plain)
}

/// `GET {prefix}/setup`: the page. It is the same for everyone; the session's data comes from
/// `state`.
async fn page(cx: &LoginContext<'_>) -> Result<Response, Failure> {
    let mut asset = respond::fetch_asset(cx.env, "/setup.html").await.map_err(|_| Failure::Unavailable)?;
    if asset.status_code() != 200 {
        return Err(Failure::Unavailable);
    }
    let html = asset.text().await.map_err(|_| Failure::Unavailable)?;
    let mut list = respond::edge_headers(&cx.config.security_headers, cx.request_id, "text/html; charset=utf-8");
    // The page's own requests then carry a real Origin (the token is in the fragment, which no
    // Referer holds).
    headers::set(&mut list, "referrer-policy", "same-origin");
    respond::build_text(200, &list, &html).map_err(|_| Failure::Unavailable)
}

/// `POST {prefix}/setup/open`: spends the link for a setup session.
async fn open(cx: &LoginContext<'_>, body: &[u8]) -> Result<Response, Failure> {
    let request: TokenRequest = required_body(body)?;
    let opened = onboarding::open_link(&D1SetupLinks(cx.env), &SystemEntropy, &WorkerClock, &request.token).await;
    let session = match opened {
        Ok(session) => session,
        Err(error) => {
            let failure = Failure::from(error);
            console_log!(
                "{}",
                json!({ "event": "setup_link_refused", "outcome": failure.reply().code, "request_id": cx.request_id,
                        "client_ip": cx.head.header("cf-connecting-ip") })
            );
            return Err(failure);
        }
    };
    audit(
        cx,
        "setup_link_opened",
        &session.link,
        json!({ "session_expires_at_ms": session.link.session_expires_at_ms }),
    );
    let cookie = setup_cookie(session.cookie.expose(), SESSION_LIFETIME_MS / 1000);
    reply(cx, 200, &json!({ "opened": true, "tenant": session.link.tenant }), &[cookie])
}

/// `POST {prefix}/setup/finish`: the connection, if saved, starts signing users in (after a test
/// that worked), and the session ends.
async fn finish(cx: &LoginContext<'_>, link: &SetupLink) -> Result<Response, Failure> {
    let finished = onboarding::finish(&D1Tenants(cx.env), &WorkerClock, link).await?;
    D1SetupLinks(cx.env).end_session(&link.id).await.map_err(unavailable)?;
    let active = finished == onboarding::Finished::Activated;
    audit(cx, "setup_finished", link, json!({ "connection_id": link.connection_id, "connection_active": active }));
    reply(cx, 200, &json!({ "finished": true, "connection_active": active }), &[setup_cookie("", 0)])
}

/// `GET {prefix}/setup/state`.
async fn state(cx: &LoginContext<'_>, login: &LoginConfig, link: &SetupLink) -> Result<Response, Failure> {
    let scope = TenantScope::of(&link.tenant);
    let tenants = D1Tenants(cx.env);
    let tenant = existing_tenant(&tenants, &scope).await?;
    let stored = tenants.connection(&link.connection_id).await.map_err(unavailable)?;
    let stored = stored.filter(|connection| connection.tenant == link.tenant);
    let in_use = match &stored {
        Some(_) => {
            let identities = D1Directory(cx.env).identities_of_connection(&scope, &link.connection_id, 1).await;
            !identities.map_err(unavailable)?.is_empty()
        }
        None => false,
    };
    let saved = stored.as_ref().map(|connection| {
        let settings = &connection.settings;
        json!({ "issuer": settings["issuer"], "client_id": settings["client_id"],
                "display_name": settings["display_name"], "in_use": in_use, "active": connection.active })
    });
    let domains: Vec<Value> = tenants.domains(&scope).await.map_err(unavailable)?.iter().map(domain_view).collect();
    let prefix = &cx.config.edge_prefix;
    let gateway = origin_of(&login.redirect_uri);
    let body = json!({
        "tenant": { "id": tenant.id, "name": tenant.name },
        "link": { "id": link.id, "session_expires_at_ms": link.session_expires_at_ms },
        "connection": {
            "id": link.connection_id,
            "fields": onboarding::CONNECTION_FIELDS,
            "redirect_uri": login.own_redirect_uri(&link.connection_id),
            "initiate_login_uri": format!("{gateway}{prefix}/login?provider={}", link.connection_id),
            "saved": saved,
        },
        "test_result": link.test_result,
        "domains": domains,
    });
    reply(cx, 200, &body, &[])
}

/// `PUT {prefix}/setup/connection`.
async fn save(cx: &LoginContext<'_>, login: &LoginConfig, link: &SetupLink, body: &[u8]) -> Result<Response, Failure> {
    let request: Value = required_body(body)?;
    let settings = connection_request(&request).map_err(Failure::InvalidBody)?;
    let scope = TenantScope::of(&link.tenant);
    let (stored, provider) = seal_connection(cx.env, cx.config, login, &settings, &link.connection_id, &scope, false)?;
    let saved = onboarding::save_connection(&D1Tenants(cx.env), &D1Directory(cx.env), link, &stored).await?;
    let links = D1SetupLinks(cx.env);
    // A test of the settings it replaced says nothing about these.
    links.record_test(&link.id, None).await.map_err(unavailable)?;
    let saved = match saved {
        onboarding::Saved::Created => "created",
        onboarding::Saved::Replaced => "replaced",
    };
    audit(cx, "setup_connection_saved", link, json!({ "connection_id": stored.id, "saved": saved }));
    let view = connection_view(&stored, Some((login, &provider)));
    reply(cx, 200, &json!({ "saved": saved, "connection": view }), &[])
}

/// `GET {prefix}/setup/test`: a sign-in at the saved connection's IdP, whose callback shows who
/// signed in and goes back to the page.
async fn test(cx: &LoginContext<'_>, login: &LoginConfig, link: &SetupLink) -> Result<Response, Failure> {
    let unsaved = || Failure::InvalidBody(vec!["connection: save the connection before testing it".into()]);
    let found = connections::stored_connection(cx.env, &link.connection_id, ConnectionUse::SetupTest).await?;
    let Some(connection) = found.filter(|connection| connection.tenant == link.tenant) else { return Err(unsaved()) };
    let Some((provider, _)) = connections::provider_of_stored(cx.env, cx.config, &connection)? else {
        return Err(unsaved());
    };
    let revision = onboarding::connection_revision(&connection);
    audit(cx, "setup_test_started", link, json!({ "connection_id": link.connection_id }));
    let setup = SetupTicket { link: link.id.clone(), revision };
    let purpose = Purpose::SetupTest { setup, return_to: page_path(cx) };
    login::begin_flow(cx, login, &provider, purpose, None).await
}

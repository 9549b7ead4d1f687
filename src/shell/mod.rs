//! The Workers runtime shell: the fetch entry point, which drives the pure pipeline and performs
//! its effects (assets, origin fetch, logs). Every failure becomes a response here, through
//! [`crate::error::Failure::reply`]; nothing a request does reaches the runtime as an exception.

mod account_mfa;
mod account_passkeys;
mod account_store;
mod accounts;
mod adapters;
mod api_keys;
mod assertion_signer;
mod authenticate;
mod bindings;
mod body;
mod config_cache;
mod connections;
mod d1;
mod deadline;
mod directory;
mod directory_admin;
mod forward;
mod groups;
mod http;
mod js_headers;
mod jwks_cache;
mod jwt_verifier;
mod key_admin;
mod key_revocations;
mod login;
mod login_context;
mod mailer;
mod mfa_store;
mod passkey_store;
mod providers;
mod rate_limit;
mod rate_limiter;
mod respond;
mod saml_keys;
mod saml_login;
mod saml_providers;
mod scim;
mod sessions;
mod setup;
mod setup_links;
mod setup_session;
mod tenants;
mod webcrypto;
mod websocket;

use crate::assertion::{self, AssertionInput, SignedAssertion};
use crate::audit::{self, AuditEvent, Decision};
use crate::authn::AuthnError;
use crate::authz;
use crate::config::Config;
use crate::edge::EdgeEndpoint;
use crate::error::Failure;
use crate::gateway::security_headers::SecurityHeaders;
use crate::http::headers::{self, HeaderList, REQUEST_ID};
use crate::http::RequestHead;
use crate::pipeline::{self, Admission};
use crate::policy::access::{Access, Authenticated, Forwarding};
use crate::policy::routes::{FailureMode, Route};
use crate::random;
use worker::{console_log, event, Context, Env, Request, Response, Result};

/// What an audit line needs to know about the request.
struct AuditContext<'a> {
    request_id: &'a str,
    head: &'a RequestHead,
    host: String,
    path: String,
    /// How the rate limits allowed the request, once they have.
    rate_limit: std::cell::Cell<Option<&'static str>>,
}

impl<'a> AuditContext<'a> {
    fn new(request_id: &'a str, head: &'a RequestHead) -> Self {
        let (host, path) = match url::Url::parse(&head.url) {
            Ok(url) => (url.host_str().unwrap_or("").to_owned(), url.path().to_owned()),
            Err(_) => (String::new(), String::new()),
        };
        Self { request_id, head, host, path, rate_limit: std::cell::Cell::new(None) }
    }

    fn log(&self, route: Option<&Route>, decision: Decision, reason: String, access: Option<&Access>, status: u16) {
        let principal = access.and_then(Access::principal);
        let event = AuditEvent {
            event: "auth_decision",
            ts_ms: js_sys::Date::now() as u64,
            request_id: self.request_id,
            route: route.map(|r| r.id.as_str()),
            method: &self.head.method,
            host: &self.host,
            path: audit::truncate(&self.path, 512),
            decision,
            reason,
            principal: principal.map(|p| p.subject()),
            auth_method: principal.map(|p| p.method().name()),
            client_ip: self.head.header("cf-connecting-ip"),
            status,
            rate_limit: self.rate_limit.get(),
        };
        console_log!("{}", event.to_json_line());
    }
}

fn request_head(req: &web_sys::Request) -> RequestHead {
    RequestHead { method: req.method(), url: req.url(), headers: js_headers::list_of(&req.headers()) }
}

/// The Worker's fetch handler. It takes the runtime's request as it is: `worker::Request` would
/// read (and so materialise) `request.cf` on every request, which the proxy path never needs;
/// edge routes, which use its helpers, convert it themselves.
#[event(fetch)]
pub async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    let head = request_head(&req);
    let defaults = SecurityHeaders::default();
    let Ok(request_id) = random::request_id() else {
        // No CSPRNG: fail closed.
        return respond::failure(&env, &head, &Failure::Unavailable, "none", &defaults, Vec::new()).await;
    };
    let audit = AuditContext::new(&request_id, &head);
    let loaded = config_cache::get(&env);
    let config = match loaded.as_ref() {
        Ok(config) => config,
        Err(_) => {
            let failure = Failure::ConfigInvalid;
            audit.log(None, Decision::Deny, failure.to_string(), None, failure.reply().status);
            return respond::failure(&env, &head, &failure, &request_id, &defaults, Vec::new()).await;
        }
    };
    handle(req, &env, &ctx, config, &head, &audit).await
}

/// A future polled through a pointer, so that its code stays a function of its own rather than
/// being inlined into `handle`. The runtime compiles a Wasm function when it is first called, so
/// a request compiles only the steps it takes: a public route never compiles the edge routes,
/// authentication or the assertion signer (measured: `handle` was one 300 KB function, and most
/// of the first request's 30 ms went to compiling it).
type Apart<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'a>>;

async fn handle(
    req: web_sys::Request,
    env: &Env,
    ctx: &Context,
    config: &Config,
    head: &RequestHead,
    audit: &AuditContext<'_>,
) -> Result<Response> {
    let request_id = audit.request_id;
    let security = &config.security_headers;
    let proxy = match pipeline::admit(config, head) {
        Err(failure) => {
            audit.log(None, Decision::Deny, failure.to_string(), None, failure.reply().status);
            return respond::failure(env, head, &failure, request_id, security, Vec::new()).await;
        }
        Ok(Admission::Edge(endpoint)) => {
            let edge: Apart<'_, Result<Response>> =
                Box::pin(serve_edge(Request::from(req), env, ctx, config, head, audit, endpoint));
            return edge.await;
        }
        Ok(Admission::Preflight { route, headers: cors_headers }) => {
            audit.log(Some(route), Decision::Allow, "cors_preflight".into(), None, 204);
            let mut list: HeaderList = vec![(REQUEST_ID.into(), request_id.into())];
            list.extend(cors_headers);
            return respond::build(204, &list, None);
        }
        Ok(Admission::Proxy(proxy)) => proxy,
    };
    let route = proxy.route;
    let mut cors_headers = Vec::new();
    if let Some(cors) = &route.cors {
        cors.apply_to_response(&mut cors_headers, head.header("origin"));
    }
    let authenticating: Apart<'_, _> =
        Box::pin(authenticate::authenticate(env, ctx, config, route, head, sessions::Upkeep::Full));
    let access = match authenticating.await {
        Ok(access) => access,
        Err(error) => {
            let failure = Failure::from(error);
            audit.log(Some(route), Decision::Deny, failure.to_string(), None, failure.reply().status);
            if let Some(location) = login_redirect(config, route, head, &failure) {
                return respond::redirect_to_login(&location, &failure, security, request_id);
            }
            return respond::failure(env, head, &failure, request_id, security, cors_headers).await;
        }
    };
    let access = match access {
        Access::Authenticated(principal) => {
            let facts = authz::RequestFacts {
                host: &proxy.target.host,
                params: &proxy.params,
                now_s: (js_sys::Date::now() / 1000.0) as i64,
            };
            match authz::authorize(&route.requirements, &config.roles, &principal, facts) {
                Ok(grant) => Access::Authenticated(principal.with_roles(grant.roles)),
                Err(error) => {
                    let failure = Failure::from(error);
                    let step_up = step_up_redirect(config, route, head, &principal, &failure);
                    let access = Access::Authenticated(principal);
                    audit.log(Some(route), Decision::Deny, failure.to_string(), Some(&access), failure.reply().status);
                    if let Some(location) = step_up {
                        return respond::redirect_to_login(&location, &failure, security, request_id);
                    }
                    return respond::failure(env, head, &failure, request_id, security, cors_headers).await;
                }
            }
        }
        public => public,
    };
    let mut allowed_reason = route.policy.name().to_owned();
    let mut limit_headers = HeaderList::new();
    if !route.rate_limits.rules.is_empty() {
        let limiting: Apart<'_, _> =
            Box::pin(rate_limit::enforce(env, config, route, access.principal(), head.header("cf-connecting-ip")));
        match limiting.await {
            rate_limit::Verdict::Allowed(headers, source) => {
                limit_headers = headers;
                audit.rate_limit.set(source.name());
            }
            rate_limit::Verdict::Limited(failure, headers) => {
                audit.log(Some(route), Decision::Deny, failure.to_string(), Some(&access), failure.reply().status);
                let mut extra = cors_headers;
                extra.extend(headers);
                return respond::failure(env, head, &failure, request_id, security, extra).await;
            }
            rate_limit::Verdict::Unavailable(reason) => match route.rate_limits.failure {
                FailureMode::Closed => {
                    let failure = Failure::Unavailable;
                    audit.log(
                        Some(route),
                        Decision::Deny,
                        format!("rate_limiter_unavailable: {reason}"),
                        Some(&access),
                        503,
                    );
                    return respond::failure(env, head, &failure, request_id, security, cors_headers).await;
                }
                FailureMode::Open => {
                    allowed_reason = format!("{allowed_reason}; rate limiter unavailable ({reason}), failed open")
                }
            },
        }
    }
    let forwarding = match &access {
        Access::Public(pass) => Forwarding::Public(pass),
        Access::Authenticated(principal) => {
            let signing: Apart<'_, _> = Box::pin(sign_assertion(env, config, &proxy, head, principal, request_id));
            match signing.await {
                Some(assertion) => Forwarding::Authenticated(Authenticated { principal, assertion }),
                None => {
                    let failure = Failure::Unavailable;
                    audit.log(
                        Some(route),
                        Decision::Deny,
                        "assertion_unavailable".into(),
                        Some(&access),
                        failure.reply().status,
                    );
                    return respond::failure(env, head, &failure, request_id, security, cors_headers).await;
                }
            }
        }
    };
    let watch = match (&access, &route.websocket) {
        (Access::Authenticated(principal), Some(policy)) if proxy.websocket => Some(websocket::Watch {
            env: env.clone(),
            route_id: route.id.clone(),
            head: head.clone(),
            subject: principal.subject().to_owned(),
            key_id: principal.key_id().map(str::to_owned),
            host: proxy.target.host.clone(),
            params: proxy.params.clone(),
            recheck_s: policy.recheck_s,
        }),
        _ => None,
    };
    let additions = forward::Additions { forwarding: &forwarding, response_headers: &limit_headers, request_id, watch };
    match forward::forward(&req, head, config, &proxy, additions).await {
        Ok(response) => {
            audit.log(Some(route), Decision::Allow, allowed_reason, Some(&access), response.status_code());
            Ok(response)
        }
        Err(error) => {
            let failure = Failure::from(error);
            audit.log(Some(route), Decision::Allow, failure.to_string(), Some(&access), failure.reply().status);
            respond::failure(env, head, &failure, request_id, security, cors_headers).await
        }
    }
}

/// Where an unauthenticated browser navigation is sent to log in: only when login is configured,
/// the route accepts sessions, and the request is a `GET` or `HEAD` page load. An API call gets
/// the 401 JSON instead.
fn login_redirect(config: &Config, route: &Route, head: &RequestHead, failure: &Failure) -> Option<String> {
    config.login.as_ref()?;
    let session_failure = matches!(failure, Failure::Authn(AuthnError::Missing | AuthnError::InvalidSession(_)));
    let page_load = matches!(head.method.as_str(), "GET" | "HEAD") && head.is_navigation();
    if !session_failure || !page_load || !route.requirements.accepts_sessions() {
        return None;
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("return_to", &here(head)?);
    if matches!(failure, Failure::Authn(AuthnError::InvalidSession(_))) {
        query.append_pair("reason", "session_ended");
    }
    Some(format!("{}/login?{}", config.edge_prefix, query.finish()))
}

/// Where a page load that falls short of its route's `mfa` goes and comes back from: the local
/// accounts' second-factor page, for a password session or one of a provider with
/// `authentication.local_factors` (or of a tenant's connection, when the tenant must use a second
/// factor); for a session of another configured provider, that provider
/// again, asked for `max_age` and the `acr_values` it is configured with (when asking could help
/// at all). Other sessions and API calls get the RFC 9470 challenge instead.
fn step_up_redirect(
    config: &Config,
    route: &Route,
    head: &RequestHead,
    principal: &crate::authn::principal::Principal,
    failure: &Failure,
) -> Option<String> {
    let Failure::Authz(crate::authz::AuthzError::StepUpRequired { shortfall, .. }) = failure else { return None };
    let page_load = matches!(head.method.as_str(), "GET" | "HEAD") && head.is_navigation();
    if !page_load || principal.method() != crate::authn::principal::AuthMethod::Session {
        return None;
    }
    let provider = principal.claims().get("provider").and_then(|p| p.as_str())?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("return_to", &here(head)?);
    // Portcullis's own factors count for its users: the second-factor page, as for a password.
    let tenant = principal.claims().get("tenant").and_then(|t| t.as_str());
    let local_factors = config
        .local_accounts
        .as_ref()
        .is_some_and(|accounts| crate::accounts::uses_local_factors(accounts, config.login.as_ref(), provider, tenant));
    if local_factors {
        return Some(format!("{}/accounts/mfa?{}", config.edge_prefix, query.finish()));
    }
    let configured = config.login.as_ref()?.provider(provider)?;
    let requirement = route.requirements.mfa.as_ref()?;
    let ask = crate::mfa::step_up::ProviderAsk::to_meet(
        requirement,
        shortfall,
        &configured.authentication.step_up_acr_values,
    )?;
    query.append_pair("provider", provider);
    for (name, value) in ask.query_pairs() {
        query.append_pair(name, &value);
    }
    Some(format!("{}/login?{}", config.edge_prefix, query.finish()))
}

/// The request's own path and query, to come back to.
fn here(head: &RequestHead) -> Option<String> {
    let url = url::Url::parse(&head.url).ok()?;
    Some(match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    })
}

/// Signs the identity assertion for an authenticated request; `None` fails the request closed.
async fn sign_assertion(
    env: &Env,
    config: &Config,
    proxy: &pipeline::ProxyRequest<'_>,
    head: &RequestHead,
    principal: &crate::authn::principal::Principal,
    request_id: &str,
) -> Option<SignedAssertion> {
    let signer = assertion_signer::signer(env, config).await.ok()?;
    let client_url = proxy.target.url_without_query();
    let audience = match &config.assertion.audience {
        Some(audience) => audience.clone(),
        None => proxy.route.upstream.origin(),
    };
    let jti = random::request_id().ok()?;
    let input = AssertionInput {
        principal,
        method: &head.method,
        url: &client_url,
        audience: &audience,
        route_id: &proxy.route.id,
        request_id,
        now_s: (js_sys::Date::now() / 1000.0) as i64,
        jti: &jti,
    };
    assertion::sign(&*signer, &config.assertion, &input).await.ok()
}

async fn serve_edge(
    req: Request,
    env: &Env,
    ctx: &Context,
    config: &Config,
    head: &RequestHead,
    audit: &AuditContext<'_>,
    endpoint: EdgeEndpoint,
) -> Result<Response> {
    let security = &config.security_headers;
    let request_id = audit.request_id;
    match endpoint {
        EdgeEndpoint::KeyAdmin(op) => match key_admin::admin(req, env, ctx, config, head, op, request_id).await {
            Ok(response) => Ok(response),
            Err(failure) => {
                audit.log(None, Decision::Deny, failure.to_string(), None, failure.reply().status);
                respond::failure(env, head, &failure, request_id, security, Vec::new()).await
            }
        },
        EdgeEndpoint::Scim { tenant, resource } => {
            scim::serve(req, env, config, head, tenant, resource, request_id).await
        }
        EdgeEndpoint::DirectoryAdmin(op) => {
            match directory_admin::serve(req, env, ctx, config, head, op, request_id).await {
                Ok(response) => Ok(response),
                Err(failure) => {
                    audit.log(None, Decision::Deny, failure.to_string(), None, failure.reply().status);
                    respond::failure(env, head, &failure, request_id, security, Vec::new()).await
                }
            }
        }
        EdgeEndpoint::AssertionKeys => match assertion_signer::signer(env, config).await {
            Ok(signer) => {
                let mut list = respond::edge_headers(security, request_id, "application/jwk-set+json");
                headers::set(&mut list, "cache-control", "public, max-age=300");
                headers::set(&mut list, "access-control-allow-origin", "*");
                respond::build_text(200, &list, &signer.public_jwks.to_string())
            }
            Err(()) => {
                let failure = Failure::Unavailable;
                let list = respond::edge_headers(security, request_id, "application/json; charset=utf-8");
                respond::build_text(failure.reply().status, &list, &failure.json_body(request_id))
            }
        },
        EdgeEndpoint::Login(endpoint) => {
            let cx = login_context::LoginContext { env, ctx, config, head, request_id };
            let served = login::serve(req, &cx, endpoint).await;
            browser_reply(env, head, audit, security, served).await
        }
        EdgeEndpoint::Saml(endpoint) => {
            let cx = login_context::LoginContext { env, ctx, config, head, request_id };
            let served = saml_login::serve(req, &cx, endpoint).await;
            browser_reply(env, head, audit, security, served).await
        }
        EdgeEndpoint::Accounts { page, submit } => {
            let cx = login_context::LoginContext { env, ctx, config, head, request_id };
            let served = accounts::serve(req, &cx, page, submit).await;
            browser_reply(env, head, audit, security, served).await
        }
        EdgeEndpoint::Passkey(step) => {
            let cx = login_context::LoginContext { env, ctx, config, head, request_id };
            let served = account_passkeys::serve(req, &cx, step).await;
            browser_reply(env, head, audit, security, served).await
        }
        EdgeEndpoint::Setup(endpoint) => {
            let cx = login_context::LoginContext { env, ctx, config, head, request_id };
            let served = setup::serve(req, &cx, endpoint).await;
            browser_reply(env, head, audit, security, served).await
        }
        EdgeEndpoint::Health => {
            respond::json(200, &serde_json::json!({ "status": "ok", "config": "valid" }), security, request_id)
        }
        EdgeEndpoint::Asset(asset_path) => {
            let asset = respond::fetch_asset(env, &asset_path).await;
            match asset {
                Ok(asset) if asset.status_code() == 200 => {
                    let content_type = asset.headers().get("content-type").ok().flatten();
                    let mut list = respond::edge_headers(
                        security,
                        request_id,
                        content_type.as_deref().unwrap_or("application/octet-stream"),
                    );
                    headers::set(&mut list, "cache-control", "public, max-age=300");
                    let body: web_sys::Response = asset.into();
                    respond::build(200, &list, body.body().as_ref())
                }
                _ => {
                    let failure = Failure::from(crate::gateway::refusals::RouteError::UnknownEdgePath);
                    let reply = failure.reply();
                    let list = respond::edge_headers(security, request_id, "application/json; charset=utf-8");
                    respond::build_text(reply.status, &list, &failure.json_body(request_id))
                }
            }
        }
    }
}

/// What a browser-facing edge route (login, onboarding) answered: its response, or its refusal
/// (audited) with the extra headers it asked for.
async fn browser_reply(
    env: &Env,
    head: &RequestHead,
    audit: &AuditContext<'_>,
    security: &SecurityHeaders,
    served: std::result::Result<Response, (Failure, HeaderList)>,
) -> Result<Response> {
    match served {
        Ok(response) => Ok(response),
        Err((failure, extra)) => {
            audit.log(None, Decision::Deny, failure.to_string(), None, failure.reply().status);
            respond::failure(env, head, &failure, audit.request_id, security, extra).await
        }
    }
}

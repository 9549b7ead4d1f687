//! The Workers runtime shell: the fetch entry point, which drives the pure pipeline and performs
//! its effects (assets, origin fetch, logs). Every failure becomes a response here, through
//! [`crate::error::Failure::reply`]; nothing a request does reaches the runtime as an exception.

mod config_cache;
mod forward;
mod rate_limiter;
mod respond;

use crate::audit::{self, AuditEvent, Decision};
use crate::authn::{self, Access};
use crate::config::Config;
use crate::edge::EdgeEndpoint;
use crate::error::Failure;
use crate::gateway::headers::{self, HeaderList, REQUEST_ID};
use crate::gateway::routes::Route;
use crate::gateway::security_headers::SecurityHeaders;
use crate::gateway::{self, Admission, RequestHead};
use crate::random;
use worker::{console_log, event, Context, Env, Request, Response, Result};

/// What an audit line needs to know about the request.
struct AuditContext<'a> {
    request_id: &'a str,
    head: &'a RequestHead,
    host: String,
    path: String,
}

impl<'a> AuditContext<'a> {
    fn new(request_id: &'a str, head: &'a RequestHead) -> Self {
        let (host, path) = match url::Url::parse(&head.url) {
            Ok(url) => (url.host_str().unwrap_or("").to_owned(), url.path().to_owned()),
            Err(_) => (String::new(), String::new()),
        };
        Self { request_id, head, host, path }
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
        };
        console_log!("{}", event.to_json_line());
    }
}

fn request_head(req: &Request) -> RequestHead {
    RequestHead {
        method: req.inner().method(),
        url: req.inner().url(),
        headers: req.headers().entries().collect(),
    }
}

/// The Worker's fetch handler.
#[event(fetch)]
pub async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
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
    handle(req, &env, config, &head, &audit).await
}

async fn handle(req: Request, env: &Env, config: &Config, head: &RequestHead, audit: &AuditContext<'_>) -> Result<Response> {
    let request_id = audit.request_id;
    let security = &config.security_headers;
    let proxy = match gateway::admit(config, head) {
        Err(failure) => {
            audit.log(None, Decision::Deny, failure.to_string(), None, failure.reply().status);
            return respond::failure(env, head, &failure, request_id, security, Vec::new()).await;
        }
        Ok(Admission::Edge(endpoint)) => return serve_edge(env, endpoint, security, request_id).await,
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
    let access = match authn::authenticate(route, head) {
        Ok(access) => access,
        Err(error) => {
            let failure = Failure::from(error);
            audit.log(Some(route), Decision::Deny, failure.to_string(), None, failure.reply().status);
            return respond::failure(env, head, &failure, request_id, security, cors_headers).await;
        }
    };
    match forward::forward(&req, head, config, &proxy, &access, request_id).await {
        Ok(response) => {
            audit.log(Some(route), Decision::Allow, route.policy.name().into(), Some(&access), response.status_code());
            Ok(response)
        }
        Err(error) => {
            let failure = Failure::from(error);
            audit.log(Some(route), Decision::Allow, failure.to_string(), Some(&access), failure.reply().status);
            respond::failure(env, head, &failure, request_id, security, cors_headers).await
        }
    }
}

async fn serve_edge(env: &Env, endpoint: EdgeEndpoint, security: &SecurityHeaders, request_id: &str) -> Result<Response> {
    match endpoint {
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
                    let failure = Failure::from(crate::error::RouteError::UnknownEdgePath);
                    let reply = failure.reply();
                    let list = respond::edge_headers(security, request_id, "application/json; charset=utf-8");
                    respond::build_text(reply.status, &list, &failure.json_body(request_id))
                }
            }
        }
    }
}

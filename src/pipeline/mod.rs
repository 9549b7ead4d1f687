//! The pure pipeline: [`admit`] runs the edge guard, edge-route dispatch, CORS preflight and route
//! match over a request head, and says what happens next, or gives the [`Failure`]. It touches no
//! runtime type, so every decision it makes is unit-tested on the host.

use crate::config::Config;
use crate::edge::{self, EdgeEndpoint};
use crate::error::Failure;
use crate::gateway::path::CanonicalPath;
use crate::gateway::refusals::{GuardError, RouteError};
use crate::gateway::websocket;
use crate::http::headers::HeaderList;
use crate::http::RequestHead;
use crate::policy::routes::{Lookup, Route};

/// Where the request is going, once parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `https` or `http`.
    pub scheme: String,
    /// The host, lower case, without port.
    pub host: String,
    /// The port, when the URL names one other than the scheme's default.
    pub port: Option<u16>,
    /// The checked path.
    pub path: CanonicalPath,
    /// The raw query, without `?`.
    pub query: Option<String>,
}

impl Target {
    /// `host[:port]`, as the client addressed it.
    pub fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// `scheme://host[:port]/path`: the URL the client used, without its query.
    pub fn url_without_query(&self) -> String {
        format!("{}://{}{}", self.scheme, self.authority(), self.path.raw())
    }
}

/// A request for a proxied route, before authentication.
#[derive(Debug)]
pub struct ProxyRequest<'c> {
    /// The most specific matching route.
    pub route: &'c Route,
    /// Named path parameters, decoded.
    pub params: Vec<(String, String)>,
    /// The parsed target.
    pub target: Target,
    /// Whether it is a WebSocket upgrade the route takes.
    pub websocket: bool,
}

/// What to do with an admitted request.
#[derive(Debug)]
pub enum Admission<'c> {
    /// One of Portcullis's own endpoints.
    Edge(EdgeEndpoint),
    /// A CORS preflight, answered at the edge with 204 and these headers.
    Preflight {
        /// The route whose policy answered.
        route: &'c Route,
        /// The CORS headers.
        headers: HeaderList,
    },
    /// A proxied route: authenticate, authorise, then forward.
    Proxy(ProxyRequest<'c>),
}

/// Parses the URL of a request into a [`Target`].
pub fn parse_target(url: &str) -> Result<Target, GuardError> {
    let parsed = url::Url::parse(url).map_err(|_| GuardError::Malformed("url"))?;
    let host = parsed.host_str().ok_or(GuardError::Malformed("host"))?.to_ascii_lowercase();
    Ok(Target {
        scheme: parsed.scheme().to_owned(),
        host,
        port: parsed.port(),
        path: CanonicalPath::parse(parsed.path())?,
        query: parsed.query().map(str::to_owned),
    })
}

/// Whether the request says it carries a body: a `Transfer-Encoding`, or a `Content-Length` other
/// than 0.
fn has_body(head: &RequestHead) -> bool {
    head.header("transfer-encoding").is_some()
        || head.header("content-length").is_some_and(|length| length.trim() != "0")
}

/// Runs the edge guard and routing for a request head.
pub fn admit<'c>(config: &'c Config, head: &RequestHead) -> Result<Admission<'c>, Failure> {
    config.limits.check_head(&head.url, &head.headers)?;
    let target = parse_target(&head.url)?;

    if let Some(endpoint) = edge::dispatch(&config.edge_prefix, &head.method, &target.path) {
        config.limits.check_edge_body(&head.headers)?;
        return Ok(Admission::Edge(endpoint?));
    }

    let preflight = match (head.method.as_str(), head.header("origin"), head.header("access-control-request-method")) {
        ("OPTIONS", Some(origin), Some(requested_method)) => Some((origin, requested_method)),
        _ => None,
    };
    let lookup_method = preflight.map_or(head.method.as_str(), |(_, requested_method)| requested_method);
    let (route, params) = match config.routes.lookup(&target.host, lookup_method, &target.path) {
        Lookup::Matched(route, params) => (route, params),
        Lookup::MethodNotAllowed => return Err(RouteError::MethodNotAllowed.into()),
        Lookup::NoRoute => return Err(RouteError::NoRoute.into()),
    };
    if let (Some((origin, requested_method)), Some(cors)) = (preflight, &route.cors) {
        let headers = cors.preflight(origin, requested_method, head.header("access-control-request-headers"))?;
        return Ok(Admission::Preflight { route, headers });
    }
    if matches!(head.method.as_str(), "GET" | "HEAD") && has_body(head) {
        return Err(GuardError::BodyNotAllowed.into());
    }
    let websocket = websocket::is_upgrade(head) && {
        let own_origin = format!("{}://{}", target.scheme, target.authority());
        websocket::admit(route.websocket.as_ref(), head, &own_origin)?
    };
    Ok(Admission::Proxy(ProxyRequest { route, params, target, websocket }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::cors::CorsError;

    fn config() -> Config {
        Config::parse(
            r#"{
              "environment": "development",
              "origin": "http://127.0.0.1:8788",
              "routes": [
                { "id": "public", "path": "/public/*", "policy": "public" },
                { "id": "api", "path": "/api/*", "methods": ["GET", "PUT"], "policy": "authenticated",
                  "cors": { "allow_origins": ["https://app.example.com"], "allow_methods": ["GET", "PUT"],
                            "allow_headers": ["authorization"], "allow_credentials": true } }
              ]
            }"#,
        )
        .unwrap()
    }

    fn head(method: &str, url: &str, headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: method.into(),
            url: url.into(),
            headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
        }
    }

    /// A one-word summary of an admission, for table-driven tests.
    fn outcome(admission: Result<Admission<'_>, Failure>) -> String {
        match admission {
            Ok(Admission::Edge(endpoint)) => format!("edge:{endpoint:?}"),
            Ok(Admission::Preflight { route, .. }) => format!("preflight:{}", route.id),
            Ok(Admission::Proxy(proxy)) => format!("proxy:{}", proxy.route.id),
            Err(failure) => format!("error:{}", failure.reply().code),
        }
    }

    #[test]
    fn admission_table() {
        let config = config();
        let preflight = [("origin", "https://app.example.com"), ("access-control-request-method", "PUT")];
        let bad_preflight = [("origin", "https://evil.example"), ("access-control-request-method", "PUT")];
        let long = format!("https://h/{}", "a".repeat(9000));
        let cases: Vec<(RequestHead, &str)> = vec![
            (head("GET", "https://h/public/x", &[]), "proxy:public"),
            (head("POST", "https://h/public/x", &[]), "proxy:public"),
            (head("GET", "https://h/api/users", &[]), "proxy:api"),
            (head("DELETE", "https://h/api/users", &[]), "error:method_not_allowed"),
            (head("GET", "https://h/elsewhere", &[]), "error:no_route"),
            (head("GET", "https://h/auth/health", &[]), "edge:Health"),
            (head("GET", "https://h/auth/nope", &[]), "error:not_found"),
            (head("POST", "https://h/auth/health", &[]), "error:method_not_allowed"),
            (head("POST", "https://h/auth/health", &[("content-length", "999999")]), "error:body_too_large"),
            (head("OPTIONS", "https://h/api/users", &preflight), "preflight:api"),
            (head("OPTIONS", "https://h/api/users", &bad_preflight), "error:cors_rejected"),
            (head("OPTIONS", "https://h/public/x", &preflight), "proxy:public"),
            (head("GET", &long, &[]), "error:url_too_long"),
            (head("GET", "https://h/public//x", &[]), "error:ambiguous_path"),
            (head("GET", "https://h/public/a%2Fb", &[]), "error:ambiguous_path"),
            (head("GET", "not a url", &[]), "error:malformed_request"),
            (head("GET", "https://h/public/x", &[("content-length", "x")]), "error:malformed_request"),
            (head("GET", "https://h/public/x", &[("content-length", "5")]), "error:body_not_allowed"),
            (head("HEAD", "https://h/public/x", &[("transfer-encoding", "chunked")]), "error:body_not_allowed"),
            (head("GET", "https://h/public/x", &[("content-length", "0")]), "proxy:public"),
            (head("POST", "https://h/public/x", &[("content-length", "5")]), "proxy:public"),
            (head("GET", "https://h/public/x", &[("upgrade", "websocket")]), "error:websocket_not_allowed"),
        ];
        for (head, expected) in cases {
            let got = outcome(admit(&config, &head));
            assert_eq!(got, expected, "{} {}", head.method, head.url);
        }
    }

    #[test]
    fn preflight_refusals_say_why_in_the_log_only() {
        let config = config();
        let head = head(
            "OPTIONS",
            "https://h/api/x",
            &[("origin", "https://evil.example"), ("access-control-request-method", "GET")],
        );
        let failure = admit(&config, &head).unwrap_err();
        assert_eq!(failure, Failure::Cors(CorsError::OriginNotAllowed));
        assert_eq!(failure.to_string(), "cors: origin not allowed");
    }
}

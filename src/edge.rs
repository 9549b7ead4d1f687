//! Portcullis's own endpoints, under the edge prefix (`/auth` by default).
//!
//! `/.well-known/jwks.json` also belongs to Portcullis. Every path under the prefix belongs to Portcullis and never reaches the origin: an unknown one is
//! a 404 `not_found`, not a pass-through.

use crate::error::RouteError;
use crate::gateway::path::CanonicalPath;

/// An endpoint that Portcullis serves itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeEndpoint {
    /// `GET {prefix}/health`: liveness and configuration status.
    Health,
    /// `GET {prefix}/static/...`: a file from `www/static/`, by its asset path.
    Asset(String),
    /// `GET /.well-known/jwks.json`: the public keys that verify identity assertions.
    AssertionKeys,
}

fn read_only(method: &str) -> bool {
    matches!(method, "GET" | "HEAD")
}

/// Finds the edge endpoint for a path, if the path is under the edge prefix.
/// `None` means the path is not Portcullis's; `Some(Err(..))` means it is, but is refused.
pub fn dispatch(prefix: &str, method: &str, path: &CanonicalPath) -> Option<Result<EdgeEndpoint, RouteError>> {
    let prefix_segment = prefix.trim_start_matches('/');
    let segments = path.segments();
    if segments == [".well-known", "jwks.json"] {
        return Some(if read_only(method) { Ok(EdgeEndpoint::AssertionKeys) } else { Err(RouteError::MethodNotAllowed) });
    }
    if segments.first().map(String::as_str) != Some(prefix_segment) {
        return None;
    }
    let rest: Vec<&str> = segments[1..].iter().map(String::as_str).collect();
    let endpoint = match rest.as_slice() {
        ["health"] => EdgeEndpoint::Health,
        ["static", file @ ..] if !file.is_empty() && file.iter().all(|s| !s.is_empty()) => {
            EdgeEndpoint::Asset(format!("/static/{}", file.join("/")))
        }
        _ => return Some(Err(RouteError::UnknownEdgePath)),
    };
    Some(if read_only(method) { Ok(endpoint) } else { Err(RouteError::MethodNotAllowed) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_dispatch_table() {
        let cases: &[(&str, &str, Option<Result<EdgeEndpoint, RouteError>>)] = &[
            ("GET", "/auth/health", Some(Ok(EdgeEndpoint::Health))),
            ("HEAD", "/auth/health", Some(Ok(EdgeEndpoint::Health))),
            ("POST", "/auth/health", Some(Err(RouteError::MethodNotAllowed))),
            ("GET", "/auth/static/portcullis.css", Some(Ok(EdgeEndpoint::Asset("/static/portcullis.css".into())))),
            ("GET", "/auth/static/img/logo.svg", Some(Ok(EdgeEndpoint::Asset("/static/img/logo.svg".into())))),
            ("GET", "/auth/static/", Some(Err(RouteError::UnknownEdgePath))),
            ("GET", "/auth/static", Some(Err(RouteError::UnknownEdgePath))),
            ("GET", "/auth", Some(Err(RouteError::UnknownEdgePath))),
            ("GET", "/auth/", Some(Err(RouteError::UnknownEdgePath))),
            ("GET", "/auth/whatever", Some(Err(RouteError::UnknownEdgePath))),
            ("GET", "/authx/health", None),
            ("GET", "/api/auth/health", None),
            ("GET", "/", None),
            ("GET", "/.well-known/jwks.json", Some(Ok(EdgeEndpoint::AssertionKeys))),
            ("POST", "/.well-known/jwks.json", Some(Err(RouteError::MethodNotAllowed))),
            ("GET", "/.well-known/other", None),
        ];
        for (method, raw, expected) in cases {
            let path = CanonicalPath::parse(raw).unwrap();
            assert_eq!(&dispatch("/auth", method, &path), expected, "{method} {raw}");
        }
    }
}

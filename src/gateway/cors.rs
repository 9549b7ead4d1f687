//! CORS decisions for a route (Fetch standard, "CORS protocol").
//!
//! When a route has a CORS policy, Portcullis owns CORS for it: preflights are answered at the
//! edge without authentication, the origin's own `Access-Control-*` response headers are replaced,
//! and `Vary: Origin` is always set. A wildcard is never sent together with credentials (config
//! validation refuses the combination), and a disallowed origin gets no CORS headers at all.

use crate::http::headers::{append_token, is_token, set, HeaderList};
use serde::Deserialize;

/// CORS refused a preflight request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsError {
    /// The `Origin` is not on the route's allowlist.
    OriginNotAllowed,
    /// The requested method is not on the route's allowlist.
    MethodNotAllowed,
    /// A requested header is not on the route's allowlist.
    HeaderNotAllowed,
}

/// A route's CORS policy, as written in the configuration.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCorsPolicy {
    /// Allowed origins (`scheme://host[:port]`), such as `https://app.example.com`, or `["*"]` alone (not with
    /// `allow_credentials`). At least one.
    #[serde(default)]
    pub allow_origins: Vec<String>,
    /// Allowed methods; defaults to GET, HEAD and POST.
    #[serde(default)]
    pub allow_methods: Option<Vec<String>>,
    /// Allowed request headers; none by default.
    #[serde(default)]
    pub allow_headers: Vec<String>,
    /// Response headers the browser may expose to scripts; none by default.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// Whether cookies and `Authorization` may be sent; off by default.
    #[serde(default)]
    pub allow_credentials: bool,
    /// How long a browser may cache a preflight, in seconds (at most 86400); default 600.
    #[serde(default)]
    pub max_age_s: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AllowedOrigins {
    Any,
    List(Vec<String>),
}

/// A validated CORS policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    origins: AllowedOrigins,
    methods: Vec<String>,
    headers: Vec<String>,
    expose: Vec<String>,
    credentials: bool,
    max_age_s: u32,
}

/// Checks a serialized origin (`scheme://host[:port]`) and returns it in lower case.
fn serialized_origin(source: &str) -> Result<String, String> {
    let parsed = url::Url::parse(source).map_err(|_| format!("{source:?} is not an origin"))?;
    let origin = parsed.origin().ascii_serialization();
    let canonical = source.trim_end_matches('/').to_ascii_lowercase();
    if origin != canonical || !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{source:?} is not an origin: write scheme://host[:port] only"));
    }
    Ok(origin)
}

impl CorsPolicy {
    /// Validates a raw policy; every problem is reported, each prefixed by its field.
    pub fn from_raw(raw: RawCorsPolicy) -> Result<Self, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let origins = if raw.allow_origins.iter().any(|o| o == "*") {
            if raw.allow_origins.len() > 1 {
                problems.push(("allow_origins".into(), "\"*\" must be the only entry".into()));
            }
            if raw.allow_credentials {
                problems.push((
                    "allow_origins".into(),
                    "\"*\" cannot be combined with allow_credentials; list the origins".into(),
                ));
            }
            AllowedOrigins::Any
        } else {
            if raw.allow_origins.is_empty() {
                problems.push(("allow_origins".into(), "list at least one origin".into()));
            }
            let mut list = Vec::new();
            for (index, origin) in raw.allow_origins.iter().enumerate() {
                match serialized_origin(origin) {
                    Ok(origin) => list.push(origin),
                    Err(why) => problems.push((format!("allow_origins[{index}]"), why)),
                }
            }
            AllowedOrigins::List(list)
        };
        let methods = raw.allow_methods.unwrap_or_else(|| vec!["GET".into(), "HEAD".into(), "POST".into()]);
        let mut check_tokens = |field: &str, values: &[String]| {
            for (index, value) in values.iter().enumerate() {
                if !is_token(value) || value == "*" {
                    problems.push((format!("{field}[{index}]"), format!("{value:?} is not a header or method name")));
                }
            }
        };
        check_tokens("allow_methods", &methods);
        check_tokens("allow_headers", &raw.allow_headers);
        check_tokens("expose_headers", &raw.expose_headers);
        let max_age_s = raw.max_age_s.unwrap_or(600);
        if max_age_s > 86_400 {
            problems.push(("max_age_s".into(), "at most 86400".into()));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            origins,
            methods: methods.iter().map(|m| m.to_ascii_uppercase()).collect(),
            headers: raw.allow_headers.iter().map(|h| h.to_ascii_lowercase()).collect(),
            expose: raw.expose_headers,
            credentials: raw.allow_credentials,
            max_age_s,
        })
    }

    /// The `Access-Control-Allow-Origin` value for a request origin, if it is allowed.
    fn allow_origin_value(&self, origin: &str) -> Option<String> {
        match &self.origins {
            AllowedOrigins::Any => Some("*".to_owned()),
            AllowedOrigins::List(list) => list.iter().any(|allowed| allowed == origin).then(|| origin.to_owned()),
        }
    }

    /// Answers a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`): the
    /// headers of a 204 reply, or why it is refused.
    pub fn preflight(
        &self,
        origin: &str,
        requested_method: &str,
        requested_headers: Option<&str>,
    ) -> Result<HeaderList, CorsError> {
        let allow_origin = self.allow_origin_value(origin).ok_or(CorsError::OriginNotAllowed)?;
        let method_allowed =
            self.methods.iter().any(|m| m == requested_method) || matches!(requested_method, "GET" | "HEAD" | "POST");
        if !method_allowed {
            return Err(CorsError::MethodNotAllowed);
        }
        let requested: Vec<String> = requested_headers
            .unwrap_or("")
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        if let Some(_refused) = requested.iter().find(|h| !self.headers.contains(h)) {
            return Err(CorsError::HeaderNotAllowed);
        }
        let mut headers = vec![
            ("access-control-allow-origin".to_owned(), allow_origin),
            ("access-control-allow-methods".to_owned(), self.methods.join(", ")),
            ("access-control-max-age".to_owned(), self.max_age_s.to_string()),
        ];
        if !requested.is_empty() {
            headers.push(("access-control-allow-headers".to_owned(), requested.join(", ")));
        }
        if self.credentials {
            headers.push(("access-control-allow-credentials".to_owned(), "true".to_owned()));
        }
        headers.push((
            "vary".to_owned(),
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers".to_owned(),
        ));
        Ok(headers)
    }

    /// The CORS headers for an actual (non-preflight) response. `Vary: Origin` is always present;
    /// the rest only when the request's origin is allowed.
    pub fn response_headers(&self, origin: Option<&str>) -> HeaderList {
        let mut headers = vec![("vary".to_owned(), "Origin".to_owned())];
        if let Some(allow_origin) = origin.and_then(|origin| self.allow_origin_value(origin)) {
            headers.push(("access-control-allow-origin".to_owned(), allow_origin));
            if self.credentials {
                headers.push(("access-control-allow-credentials".to_owned(), "true".to_owned()));
            }
            if !self.expose.is_empty() {
                headers.push(("access-control-expose-headers".to_owned(), self.expose.join(", ")));
            }
        }
        headers
    }
}

impl CorsPolicy {
    /// Adds [`CorsPolicy::response_headers`] to a response's headers, merging `Vary`.
    pub fn apply_to_response(&self, headers: &mut HeaderList, origin: Option<&str>) {
        for (name, value) in self.response_headers(origin) {
            if name == "vary" {
                append_token(headers, "vary", &value);
            } else {
                set(headers, &name, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &[&str], credentials: bool) -> CorsPolicy {
        CorsPolicy::from_raw(RawCorsPolicy {
            allow_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            allow_methods: Some(vec!["GET".into(), "PUT".into()]),
            allow_headers: vec!["Content-Type".into(), "X-Trace".into()],
            expose_headers: vec!["X-Request-Id".into()],
            allow_credentials: credentials,
            max_age_s: Some(300),
        })
        .unwrap()
    }

    fn get<'a>(headers: &'a HeaderList, name: &str) -> Option<&'a str> {
        headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn preflight_decisions() {
        let listed = policy(&["https://app.example.com"], true);
        let any = policy(&["*"], false);
        let cases: &[(&CorsPolicy, &str, &str, Option<&str>, Result<&str, CorsError>)] = &[
            (&listed, "https://app.example.com", "PUT", Some("content-type, x-trace"), Ok("https://app.example.com")),
            (&listed, "https://app.example.com", "GET", None, Ok("https://app.example.com")),
            (&listed, "https://app.example.com", "POST", None, Ok("https://app.example.com")),
            (&listed, "https://evil.example.com", "PUT", None, Err(CorsError::OriginNotAllowed)),
            (&listed, "https://app.example.com.evil.com", "GET", None, Err(CorsError::OriginNotAllowed)),
            (&listed, "http://app.example.com", "GET", None, Err(CorsError::OriginNotAllowed)),
            (&listed, "null", "GET", None, Err(CorsError::OriginNotAllowed)),
            (&listed, "https://app.example.com", "DELETE", None, Err(CorsError::MethodNotAllowed)),
            (&listed, "https://app.example.com", "PUT", Some("x-secret"), Err(CorsError::HeaderNotAllowed)),
            (&any, "https://anyone.example", "PUT", None, Ok("*")),
        ];
        for (policy, origin, method, headers, expected) in cases {
            let got = policy.preflight(origin, method, *headers);
            match (got, expected) {
                (Ok(h), Ok(allow)) => {
                    assert_eq!(get(&h, "access-control-allow-origin"), Some(*allow), "{origin} {method}");
                    assert!(get(&h, "vary").unwrap().contains("Origin"));
                }
                (Err(e), Err(want)) => assert_eq!(&e, want, "{origin} {method}"),
                (got, want) => panic!("{origin} {method}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn credentials_are_only_sent_with_an_echoed_origin() {
        let listed = policy(&["https://app.example.com"], true);
        let h = listed.response_headers(Some("https://app.example.com"));
        assert_eq!(get(&h, "access-control-allow-origin"), Some("https://app.example.com"));
        assert_eq!(get(&h, "access-control-allow-credentials"), Some("true"));
        assert_eq!(get(&h, "access-control-expose-headers"), Some("X-Request-Id"));
        let any = policy(&["*"], false);
        let h = any.response_headers(Some("https://x.example"));
        assert_eq!(get(&h, "access-control-allow-origin"), Some("*"));
        assert_eq!(get(&h, "access-control-allow-credentials"), None);
    }

    #[test]
    fn a_disallowed_or_missing_origin_gets_only_vary() {
        let listed = policy(&["https://app.example.com"], true);
        for origin in [Some("https://evil.example"), None] {
            assert_eq!(listed.response_headers(origin), vec![("vary".to_owned(), "Origin".to_owned())]);
        }
    }

    #[test]
    fn unsafe_policies_are_refused_with_every_problem() {
        let problems = CorsPolicy::from_raw(RawCorsPolicy {
            allow_origins: vec!["*".into(), "https://a.example/path".into()],
            allow_credentials: true,
            allow_headers: vec!["bad header".into()],
            max_age_s: Some(100_000),
            ..Default::default()
        })
        .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["allow_origins", "allow_origins", "allow_headers[0]", "max_age_s"]);
        for bad_origin in ["https://a.example/path", "null", "app.example.com", "ftp://a.example"] {
            let raw = RawCorsPolicy { allow_origins: vec![bad_origin.into()], ..Default::default() };
            assert!(CorsPolicy::from_raw(raw).is_err(), "{bad_origin}");
        }
    }
}

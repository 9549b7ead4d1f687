//! Where proxied traffic goes: an origin base URL, and the target URL for a request.

use url::Url;

/// Reaching the origin failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardError {
    /// The origin refused the connection or returned no response.
    Unreachable,
    /// The origin did not answer within the route's timeout.
    Timeout,
}

/// A validated origin base URL: http(s), no credentials, query or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    base: Url,
}

impl Upstream {
    /// Parses an origin such as `https://origin.example.com` or `http://127.0.0.1:8788/base`.
    pub fn parse(source: &str) -> Result<Self, String> {
        let base = Url::parse(source).map_err(|e| format!("invalid origin URL {source:?}: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(format!("origin {source:?} must be an http or https URL"));
        }
        if base.host_str().is_none() {
            return Err(format!("origin {source:?} has no host"));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(format!("origin {source:?} must not hold credentials"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(format!("origin {source:?} must not have a query or fragment"));
        }
        Ok(Self { base })
    }

    /// Whether the origin is reached over TLS.
    pub fn is_https(&self) -> bool {
        self.base.scheme() == "https"
    }

    /// `scheme://host[:port]`: the default audience of identity assertions for this origin.
    pub fn origin(&self) -> String {
        self.base.origin().ascii_serialization()
    }

    /// The origin as configured.
    pub fn as_str(&self) -> &str {
        self.base.as_str()
    }

    /// The URL to send a request to: the origin's base path, then the request's raw path and
    /// query, byte for byte.
    pub fn target(&self, raw_path: &str, raw_query: Option<&str>) -> String {
        let origin = self.base.origin().ascii_serialization();
        let base_path = self.base.path().trim_end_matches('/');
        match raw_query {
            Some(query) => format!("{origin}{base_path}{raw_path}?{query}"),
            None => format!("{origin}{base_path}{raw_path}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_keep_path_and_query_byte_for_byte() {
        let cases = [
            ("http://127.0.0.1:8788", "/a/b", None, "http://127.0.0.1:8788/a/b"),
            ("http://127.0.0.1:8788/", "/a", Some("x=1&y=%20"), "http://127.0.0.1:8788/a?x=1&y=%20"),
            ("https://origin.example.com/base/", "/t/%61cme", None, "https://origin.example.com/base/t/%61cme"),
            ("https://origin.example.com:8443/base", "/", Some(""), "https://origin.example.com:8443/base/?"),
        ];
        for (base, path, query, expected) in cases {
            assert_eq!(Upstream::parse(base).unwrap().target(path, query), expected);
        }
    }

    #[test]
    fn unsafe_origins_are_refused() {
        for bad in ["ftp://x", "not a url", "http://user:pw@x", "https://x/?q=1", "https://x/#f", "/relative"] {
            assert!(Upstream::parse(bad).is_err(), "{bad}");
        }
    }
}

//! The edge guard's size limits, checked before routing.

use super::refusals::GuardError;
use crate::http::headers::get;
use serde::Deserialize;

/// Headers that ask an origin to treat a request as another method.
pub const METHOD_OVERRIDE_HEADERS: &[&str] = &["x-http-method-override", "x-http-method", "x-method-override"];

/// Request size limits, as written in the configuration.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Longest accepted request URL, in bytes (longer: 414). Default 8192, 256 to 65536.
    pub max_url_bytes: usize,
    /// Largest accepted sum of header names and values, in bytes (larger: 431). Default 32768, 1024 to 131072.
    pub max_header_bytes: usize,
    /// Most headers accepted on one request (more: 431). Default 100, 8 to 1000.
    pub max_header_count: usize,
    /// Largest accepted body on an edge route (`/auth/*`), in bytes (larger: 413). Default 65536, 1024 to
    /// 1048576.
    pub max_edge_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_url_bytes: 8192, max_header_bytes: 32 * 1024, max_header_count: 100, max_edge_body_bytes: 64 * 1024 }
    }
}

impl Limits {
    /// Every value outside its sane range, as (field, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let ranges: [(&str, usize, usize, usize); 4] = [
            ("max_url_bytes", self.max_url_bytes, 256, 65_536),
            ("max_header_bytes", self.max_header_bytes, 1024, 128 * 1024),
            ("max_header_count", self.max_header_count, 8, 1000),
            ("max_edge_body_bytes", self.max_edge_body_bytes, 1024, 1024 * 1024),
        ];
        ranges
            .iter()
            .filter(|(_, value, min, max)| value < min || value > max)
            .map(|(field, _, min, max)| ((*field).to_owned(), format!("must be between {min} and {max}")))
            .collect()
    }

    /// Checks the URL and headers of any request.
    pub fn check_head(&self, url: &str, headers: &[(String, String)]) -> Result<(), GuardError> {
        if url.len() > self.max_url_bytes {
            return Err(GuardError::UrlTooLong);
        }
        let header_bytes: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
        if headers.len() > self.max_header_count || header_bytes > self.max_header_bytes {
            return Err(GuardError::HeadersTooLarge);
        }
        // A method override lets a request pass a rule for one method and run as another at an
        // origin that honours it (Express's method-override, Rails, Symfony...).
        if METHOD_OVERRIDE_HEADERS.iter().any(|name| get(headers, name).is_some()) || has_method_parameter(url) {
            return Err(GuardError::MethodOverride);
        }
        if let Some(length) = get(headers, "content-length") {
            length.trim().parse::<u64>().map_err(|_| GuardError::Malformed("content-length"))?;
        }
        Ok(())
    }

    /// Checks the declared body length of an edge-route request. The body reader enforces the
    /// same bound on bodies without a `Content-Length`.
    pub fn check_edge_body(&self, headers: &[(String, String)]) -> Result<(), GuardError> {
        match get(headers, "content-length").map(|l| l.trim().parse::<u64>()) {
            Some(Ok(length)) if length > self.max_edge_body_bytes as u64 => Err(GuardError::BodyTooLarge),
            Some(Err(_)) => Err(GuardError::Malformed("content-length")),
            _ => Ok(()),
        }
    }
}

/// Whether the query has a `_method` parameter (in any case or percent-encoding), which Laravel
/// and other frameworks read as the method from the query string too. (A `_method` field in a
/// form body is the origin's to refuse: proxied bodies are streamed, not parsed.)
fn has_method_parameter(url: &str) -> bool {
    let Some((_, query)) = url.split_once('?') else { return false };
    let query = query.split('#').next().unwrap_or_default();
    url::form_urlencoded::parse(query.as_bytes()).any(|(name, _)| name.trim().eq_ignore_ascii_case("_method"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn limits_table() {
        let limits =
            Limits { max_url_bytes: 300, max_header_bytes: 1100, max_header_count: 10, max_edge_body_bytes: 2000 };
        let long_url = format!("https://h/{}", "a".repeat(300));
        let big_value = "v".repeat(1100);
        let many: Vec<(String, String)> = (0..11).map(|i| (format!("h{i}"), "v".into())).collect();
        let cases: Vec<(&str, &str, Vec<(String, String)>, Result<(), GuardError>)> = vec![
            ("ok", "https://h/", headers(&[("accept", "*/*")]), Ok(())),
            ("long url", &long_url, vec![], Err(GuardError::UrlTooLong)),
            ("big header", "https://h/", headers(&[("x", &big_value)]), Err(GuardError::HeadersTooLarge)),
            ("many headers", "https://h/", many, Err(GuardError::HeadersTooLarge)),
            (
                "bad length",
                "https://h/",
                headers(&[("content-length", "12abc")]),
                Err(GuardError::Malformed("content-length")),
            ),
            (
                "negative length",
                "https://h/",
                headers(&[("content-length", "-1")]),
                Err(GuardError::Malformed("content-length")),
            ),
            (
                "method override",
                "https://h/",
                headers(&[("X-HTTP-Method-Override", "DELETE")]),
                Err(GuardError::MethodOverride),
            ),
            ("a _method parameter", "https://h/x?_method=DELETE", Vec::new(), Err(GuardError::MethodOverride)),
            ("an encoded one", "https://h/x?a=1&%5Fmethod=put", Vec::new(), Err(GuardError::MethodOverride)),
            ("in another case", "https://h/x?_METHOD=put", Vec::new(), Err(GuardError::MethodOverride)),
            ("a value, not a name", "https://h/x?q=_method&method=x", Vec::new(), Ok(())),
            ("after the fragment", "https://h/x?a=1#_method=x", Vec::new(), Ok(())),
        ];
        for (name, url, headers, expected) in cases {
            assert_eq!(limits.check_head(url, &headers), expected, "{name}");
        }
        assert_eq!(limits.check_edge_body(&headers(&[("content-length", "2001")])), Err(GuardError::BodyTooLarge));
        assert_eq!(limits.check_edge_body(&headers(&[("content-length", "2000")])), Ok(()));
        assert_eq!(limits.check_edge_body(&[]), Ok(()));
    }

    #[test]
    fn out_of_range_limits_are_reported() {
        let limits = Limits { max_url_bytes: 10, max_header_count: 5000, ..Default::default() };
        let fields: Vec<String> = limits.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["max_url_bytes", "max_header_count"]);
    }
}

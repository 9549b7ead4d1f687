//! Request paths, checked to be unambiguous before any rule sees them.
//!
//! A gateway and its origin must read a path the same way, or a rule written for one path can be
//! bypassed with another spelling of it. So a path is only routed when every spelling trick that
//! origins disagree about is absent: encoded slashes and backslashes, dot segments (RFC 3986
//! §5.2.4), empty segments (`//`), `;` path parameters, control characters and invalid
//! percent-encoding. Everything else is percent-decoded once for matching, which is also how the
//! origin will decode it.

use super::refusals::GuardError;
use percent_encoding::percent_decode_str;

/// A request path proven unambiguous, with its percent-decoded segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath {
    raw: String,
    segments: Vec<String>,
}

impl CanonicalPath {
    /// Checks a raw path (as it appears in the request URL, without the query) and decodes it.
    pub fn parse(raw: &str) -> Result<Self, GuardError> {
        let rest = raw.strip_prefix('/').ok_or(GuardError::AmbiguousPath)?;
        let raw_segments: Vec<&str> = rest.split('/').collect();
        let last = raw_segments.len() - 1;
        let mut segments = Vec::with_capacity(raw_segments.len());
        for (index, raw_segment) in raw_segments.iter().enumerate() {
            // The final segment may be empty: that is a trailing slash, not `//`.
            if raw_segment.is_empty() && index != last {
                return Err(GuardError::AmbiguousPath);
            }
            segments.push(decode_segment(raw_segment)?);
        }
        Ok(Self { raw: raw.to_owned(), segments })
    }

    /// The path exactly as received; this is what the origin is sent.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The decoded segments. `/` is one empty segment; `/a/` is `["a", ""]`.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }
}

fn decode_segment(raw: &str) -> Result<String, GuardError> {
    if raw.contains(['\\', ';']) || !valid_percent_encoding(raw) {
        return Err(GuardError::AmbiguousPath);
    }
    let decoded = percent_decode_str(raw).decode_utf8().map_err(|_| GuardError::AmbiguousPath)?;
    let ambiguous = decoded == "."
        || decoded == ".."
        || decoded.contains(['/', '\\', ';'])
        || decoded.chars().any(char::is_control);
    if ambiguous {
        return Err(GuardError::AmbiguousPath);
    }
    Ok(decoded.into_owned())
}

fn valid_percent_encoding(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let pair = bytes.get(index + 1..index + 3);
            if !pair.is_some_and(|pair| pair.iter().all(u8::is_ascii_hexdigit)) {
                return false;
            }
            index += 3;
        } else {
            index += 1;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths_decode_once_into_segments() {
        let cases: &[(&str, &[&str])] = &[
            ("/", &[""]),
            ("/a", &["a"]),
            ("/a/", &["a", ""]),
            ("/tenants/acme/invoices", &["tenants", "acme", "invoices"]),
            ("/tenants/%61cme", &["tenants", "acme"]),
            ("/caf%C3%A9", &["café"]),
            ("/a%20b", &["a b"]),
            ("/%2525", &["%25"]),
        ];
        for (raw, expected) in cases {
            let path = CanonicalPath::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e:?}"));
            assert_eq!(path.segments(), *expected, "{raw}");
            assert_eq!(path.raw(), *raw);
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        let cases = [
            "",                    // no leading slash
            "relative",            // no leading slash
            "//tenants/acme",      // empty segment
            "/tenants//acme",      // empty segment
            "/tenants/acme/../x",  // dot-dot segment
            "/tenants/./acme",     // dot segment
            "/tenants/%2e%2e/x",   // encoded dot-dot
            "/tenants/%2E/x",      // encoded dot
            "/a%2Fb",              // encoded slash
            "/a%2fb",              // encoded slash, lower case
            "/a%5Cb",              // encoded backslash
            "/a\\b",               // backslash
            "/admin;jsessionid=1", // path parameter
            "/admin%3Bx",          // encoded path parameter
            "/a%00b",              // NUL
            "/a%0Ab",              // line feed
            "/a%zz",               // invalid escape
            "/a%4",                // truncated escape
            "/a%",                 // truncated escape
            "/%C3%28",             // invalid UTF-8
        ];
        for raw in cases {
            assert_eq!(CanonicalPath::parse(raw), Err(GuardError::AmbiguousPath), "{raw:?}");
        }
    }
}

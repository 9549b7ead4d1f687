//! Request paths, checked to be unambiguous before any rule sees them.
//!
//! A gateway and its origin must read a path the same way, or a rule written for one path can be
//! bypassed with another spelling of it. So a path is only routed when every spelling trick that
//! origins disagree about is absent: encoded slashes and backslashes, dot segments (RFC 3986
//! §5.2.4), empty segments (`//`), `;` path parameters, encoded `?` and `#` (which end the path
//! for whoever decodes before splitting the URL), control characters, invalid
//! percent-encoding, and double encoding (a segment that still holds a percent-escape once
//! decoded, such as `%252e%252e` or `%2561dmin`: an origin behind another proxy, or a framework
//! that decodes again, would read it as `..` or `admin` while the rules saw `%2e%2e` and
//! `%61dmin`). Everything else is percent-decoded once for matching, which is also how the
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
        || decoded.contains(['/', '\\', ';', '?', '#'])
        || decoded.chars().any(char::is_control)
        || holds_escape(&decoded);
    if ambiguous {
        return Err(GuardError::AmbiguousPath);
    }
    Ok(decoded.into_owned())
}

/// Whether a second percent-decoding would change the segment: it holds `%` and two hex digits,
/// or IIS's `%u` and four.
fn holds_escape(decoded: &str) -> bool {
    let bytes = decoded.as_bytes();
    let hex = |range: std::ops::Range<usize>| bytes.get(range).is_some_and(|b| b.iter().all(u8::is_ascii_hexdigit));
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'%')
        .any(|(i, _)| hex(i + 1..i + 3) || (matches!(bytes.get(i + 1), Some(b'u' | b'U')) && hex(i + 2..i + 6)))
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
    use proptest::prelude::*;

    proptest! {
            #![proptest_config(crate::testing::generative(256))]
    /// Any string is either refused or yields segments that no second reading can turn into
            /// something else: no separators, no dot segments, no controls, no escapes left.
            #[test]
            fn any_path_is_refused_or_unambiguous(raw in "/[a-zA-Z0-9%./\\;:@!$&'()*+,=~_ ?#uéＡ．-]{0,40}") {
                if let Ok(path) = CanonicalPath::parse(&raw) {
                    prop_assert_eq!(path.raw(), raw.as_str());
                    for segment in path.segments() {
                        prop_assert!(segment != "." && segment != "..");
                        prop_assert!(!segment.contains(['/', '\\', ';', '?', '#']));
                        prop_assert!(!segment.chars().any(char::is_control));
                        prop_assert!(!holds_escape(segment));
                    }
                }
            }

            /// Arbitrary bytes (as lossy text) never panic the parser.
            #[test]
            fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
                let _ = CanonicalPath::parse(&String::from_utf8_lossy(&bytes));
            }

            /// Every segment of plain characters, percent-encoded in any mix, decodes back to itself.
            #[test]
            fn encoded_segments_decode_once(segments in proptest::collection::vec("[a-zA-Z0-9_~-]{1,8}", 1..5), mask in any::<u64>()) {
                let mut raw = String::new();
                for (s, segment) in segments.iter().enumerate() {
                    raw.push('/');
                    for (i, byte) in segment.bytes().enumerate() {
                        if mask >> ((s * 8 + i) % 64) & 1 == 1 {
                            raw.push_str(&format!("%{byte:02X}"));
                        } else {
                            raw.push(char::from(byte));
                        }
                    }
                }
                let path = CanonicalPath::parse(&raw).unwrap();
                prop_assert_eq!(path.segments(), segments.as_slice());
            }
        }

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
            ("/100%25", &["100%"]),
            ("/%25zz", &["%zz"]),
            ("/50%25%20off", &["50% off"]),
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
            "",                         // no leading slash
            "relative",                 // no leading slash
            "//tenants/acme",           // empty segment
            "/tenants//acme",           // empty segment
            "/tenants/acme/../x",       // dot-dot segment
            "/tenants/./acme",          // dot segment
            "/tenants/%2e%2e/x",        // encoded dot-dot
            "/tenants/%2E/x",           // encoded dot
            "/a%2Fb",                   // encoded slash
            "/a%2fb",                   // encoded slash, lower case
            "/a%5Cb",                   // encoded backslash
            "/a\\b",                    // backslash
            "/admin;jsessionid=1",      // path parameter
            "/admin%3Bx",               // encoded path parameter
            "/a%00b",                   // NUL
            "/a%0Ab",                   // line feed
            "/a%zz",                    // invalid escape
            "/a%4",                     // truncated escape
            "/a%",                      // truncated escape
            "/%C3%28",                  // invalid UTF-8
            "/public/%252e%252e/api/x", // double-encoded dot-dot
            "/a%252fb",                 // double-encoded slash
            "/a%252Fb",                 // double-encoded slash, upper case
            "/a%255cb",                 // double-encoded backslash
            "/%2525",                   // double-encoded percent
            "/%252e",                   // double-encoded dot
            "/a%253bb",                 // double-encoded path parameter
            "/%2561dmin",               // double-encoded letter: `admin` after a second decode
            "/a%25%32%65",              // a percent-escape spelled with escapes
            "/admin%3F",                // an encoded query mark: a second reading ends the path there
            "/admin%3fx",               // the same, lower case
            "/admin%23",                // an encoded fragment mark
            "/%25u002e%25u002e",        // IIS's %u escapes, encoded
        ];
        for raw in cases {
            assert_eq!(CanonicalPath::parse(raw), Err(GuardError::AmbiguousPath), "{raw:?}");
        }
    }
}

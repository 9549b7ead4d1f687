//! Which headers cross the gateway, in each direction.
//!
//! Inbound, every header in the identity namespace is stripped on every route, before anything
//! else happens: `X-Auth-*`, `X-Portcullis-*` (which holds the signed assertion) and any configured
//! extra names. Only Portcullis sets them. Hop-by-hop headers (RFC 9110 §7.6.1) and client-supplied
//! forwarding headers are dropped too, and the gateway sets `X-Forwarded-For`, `-Proto` and `-Host`
//! and `X-Request-Id` itself.

/// Header names (lower case) and values, in order.
pub type HeaderList = Vec<(String, String)>;

/// Whether a value is an HTTP token (RFC 9110 §5.6.2): a header or method name.
pub fn is_token(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Prefix of the identity headers that Portcullis sets for the origin.
pub const IDENTITY_PREFIX: &str = "x-auth-";
/// Prefix of Portcullis's own headers, among them the signed assertion.
pub const PORTCULLIS_PREFIX: &str = "x-portcullis-";
/// The request id header, forwarded to the origin and echoed to the client.
pub const REQUEST_ID: &str = "x-request-id";

const HOP_BY_HOP: &[&str] = &[
    // A client's `Expect: 100-continue` is for the next hop, the gateway, to meet; passed on, an
    // origin's `100 Continue` would reach a fetch that does not read interim answers.
    "expect",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

const SET_BY_GATEWAY: &[&str] =
    &["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip", "forwarded", REQUEST_ID, "host"];

/// Whether an inbound header could be used to spoof identity to the origin.
pub fn is_identity_header(name: &str, extra_stripped: &[String]) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with(IDENTITY_PREFIX)
        || name.starts_with(PORTCULLIS_PREFIX)
        || extra_stripped.iter().any(|extra| extra.eq_ignore_ascii_case(&name))
}

fn connection_listed(headers: &[(String, String)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| value.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect()
}

fn is_hop_by_hop(name: &str, listed: &[String]) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name)) || listed.iter().any(|l| l.eq_ignore_ascii_case(name))
}

/// Facts about the client connection that the gateway asserts to the origin.
#[derive(Debug, Clone)]
pub struct ForwardedFor<'a> {
    /// The client IP as the edge saw it (`CF-Connecting-IP`), if known.
    pub client_ip: Option<&'a str>,
    /// `https` or `http`: the scheme the client used.
    pub proto: &'a str,
    /// The host the client asked for.
    pub host: &'a str,
    /// This request's id.
    pub request_id: &'a str,
}

/// The headers to send to the origin: inbound headers minus hop-by-hop, forwarding and identity
/// headers, plus the gateway's forwarding headers, plus the given identity headers.
pub fn forward_request_headers(
    inbound: &[(String, String)],
    extra_stripped: &[String],
    forwarded: &ForwardedFor<'_>,
    identity: &[(String, String)],
) -> HeaderList {
    let listed = connection_listed(inbound);
    let mut out: HeaderList = inbound
        .iter()
        .filter(|(name, _)| {
            !is_hop_by_hop(name, &listed)
                && !is_identity_header(name, extra_stripped)
                && !SET_BY_GATEWAY.iter().any(|s| s.eq_ignore_ascii_case(name))
        })
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
        .collect();
    if let Some(ip) = forwarded.client_ip {
        out.push(("x-forwarded-for".into(), ip.to_owned()));
    }
    out.push(("x-forwarded-proto".into(), forwarded.proto.to_owned()));
    out.push(("x-forwarded-host".into(), forwarded.host.to_owned()));
    out.push((REQUEST_ID.into(), forwarded.request_id.to_owned()));
    out.extend(identity.iter().cloned());
    out
}

/// The origin's response headers minus hop-by-hop ones and, when the route owns CORS, minus the
/// origin's own `Access-Control-*` headers.
pub fn origin_response_headers(origin: &[(String, String)], route_owns_cors: bool) -> HeaderList {
    let listed = connection_listed(origin);
    origin
        .iter()
        .filter(|(name, _)| {
            let replaced_cors = route_owns_cors && name.to_ascii_lowercase().starts_with("access-control-");
            !(is_hop_by_hop(name, &listed) || replaced_cors || name.eq_ignore_ascii_case(REQUEST_ID))
        })
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
        .collect()
}

/// Sets a header, replacing every existing value.
pub fn set(headers: &mut HeaderList, name: &str, value: impl Into<String>) {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    headers.push((name.to_owned(), value.into()));
}

/// Adds a header only when none of that name is present.
pub fn set_if_absent(headers: &mut HeaderList, name: &str, value: impl Into<String>) {
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
        headers.push((name.to_owned(), value.into()));
    }
}

/// Appends to a comma-separated header such as `Vary`, without duplicating a token.
pub fn append_token(headers: &mut HeaderList, name: &str, tokens: &str) {
    match headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        Some((_, value)) => {
            for token in tokens.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if !value.split(',').any(|existing| existing.trim().eq_ignore_ascii_case(token)) {
                    value.push_str(", ");
                    value.push_str(token);
                }
            }
        }
        None => headers.push((name.to_owned(), tokens.to_owned())),
    }
}

/// The first value of a header, by case-insensitive name.
pub fn get<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// A header list as one string, `name\nvalue\nname\nvalue...`, to cross the JavaScript boundary
/// in one call. The caller makes sure no name or value holds a line break (no valid one does).
pub fn joined_lines(list: &[(String, String)]) -> String {
    let mut lines = String::with_capacity(list.iter().map(|(n, v)| n.len() + v.len() + 2).sum());
    for (i, (name, value)) in list.iter().enumerate() {
        if i > 0 {
            lines.push('\n');
        }
        lines.push_str(name);
        lines.push('\n');
        lines.push_str(value);
    }
    lines
}

/// The header list [`joined_lines`] made (from the runtime's `Headers`). An odd line left over
/// (which the runtime never sends) is dropped rather than guessed at.
pub fn split_lines(lines: &str) -> HeaderList {
    if lines.is_empty() {
        return Vec::new();
    }
    let mut parts = lines.split('\n');
    let mut list = Vec::new();
    while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
        list.push((name.to_owned(), value.to_owned()));
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
            #![proptest_config(crate::testing::generative(256))]
    #[test]
            fn header_lines_round_trip(pairs in proptest::collection::vec(("[a-z0-9-]{1,20}", "[^\n]{0,40}"), 0..12)) {
                let list: HeaderList = pairs;
                prop_assert_eq!(split_lines(&joined_lines(&list)), list);
            }

            #[test]
            fn any_text_splits_into_whole_pairs_without_panicking(text in "\\PC{0,200}") {
                let list = split_lines(&text);
                prop_assert!(list.len() * 2 <= text.split('\n').count());
                for (name, value) in &list {
                    prop_assert!(!name.contains('\n') && !value.contains('\n'));
                }
            }
        }

    #[test]
    fn empty_values_and_lists_keep_their_shape() {
        let list = vec![("x-empty".to_owned(), String::new()), ("set-cookie".to_owned(), "a=1".to_owned())];
        assert_eq!(split_lines(&joined_lines(&list)), list);
        assert_eq!(split_lines(""), Vec::<(String, String)>::new());
        assert_eq!(split_lines("orphan"), Vec::<(String, String)>::new());
    }

    fn list(pairs: &[(&str, &str)]) -> HeaderList {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn spoofed_identity_and_forwarding_headers_never_reach_the_origin() {
        let inbound = list(&[
            ("Accept", "text/html"),
            ("X-Auth-Subject", "admin"),
            ("x-auth-groups", "root"),
            ("X-AUTH-EMAIL", "ceo@example.com"),
            ("X-Portcullis-Assertion", "forged.jwt.value"),
            ("X-User-Id", "7"),
            ("X-Forwarded-For", "10.0.0.1"),
            ("Forwarded", "for=10.0.0.1"),
            ("X-Real-IP", "10.0.0.1"),
            ("X-Request-Id", "client-chosen"),
            ("Connection", "keep-alive, X-Custom-Hop"),
            ("X-Custom-Hop", "1"),
            ("Transfer-Encoding", "chunked"),
            ("Host", "evil.example"),
            ("Cookie", "a=b"),
        ]);
        let forwarded =
            ForwardedFor { client_ip: Some("203.0.113.9"), proto: "https", host: "app.example.com", request_id: "r1" };
        let identity = list(&[("x-auth-subject", "user-1")]);
        let out = forward_request_headers(&inbound, &["x-user-id".to_owned()], &forwarded, &identity);
        assert_eq!(
            out,
            list(&[
                ("accept", "text/html"),
                ("cookie", "a=b"),
                ("x-forwarded-for", "203.0.113.9"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "app.example.com"),
                ("x-request-id", "r1"),
                ("x-auth-subject", "user-1"),
            ])
        );
    }

    #[test]
    fn origin_response_headers_lose_hop_by_hop_and_cors_when_the_route_owns_cors() {
        let origin = list(&[
            ("Content-Type", "text/plain"),
            ("Connection", "close"),
            ("Keep-Alive", "timeout=5"),
            ("Access-Control-Allow-Origin", "*"),
            ("X-Request-Id", "origin-id"),
        ]);
        assert_eq!(origin_response_headers(&origin, true), list(&[("content-type", "text/plain")]));
        assert_eq!(
            origin_response_headers(&origin, false),
            list(&[("content-type", "text/plain"), ("access-control-allow-origin", "*")])
        );
    }

    #[test]
    fn vary_tokens_are_merged_once() {
        let mut headers = list(&[("vary", "Accept-Encoding, origin")]);
        append_token(&mut headers, "Vary", "Origin, Cookie");
        assert_eq!(get(&headers, "vary"), Some("Accept-Encoding, origin, Cookie"));
    }
}

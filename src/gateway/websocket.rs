//! WebSocket upgrades on a route: which are admitted, and what the origin's handshake carries.
//!
//! A route takes upgrades only when it says so (`websocket`), and then only from the browser
//! origins it lists or its own: a page on another site can open a WebSocket with the user's
//! cookies (cross-site WebSocket hijacking), and the `Origin` header is the browser's word on who
//! is asking. A request without `Origin` is not from a browser page, so the check does not apply
//! (its credentials are then the client's own). The upgrade is authenticated, authorised and
//! rate-limited like any request before the origin hears of it.

use super::refusals::RouteError;
use crate::http::headers::HeaderList;
use crate::http::RequestHead;
use serde::Deserialize;

/// How often an open socket's credentials are checked again, by default.
pub const DEFAULT_RECHECK_S: u32 = 10;

/// The `websocket` section of a route, as written.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebSocketPolicy {
    /// Browser origins besides the route's own that may open sockets, written as browsers send them
    /// (`scheme://host[:port]`). None by default.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Seconds between checks of an open socket's credentials (a socket whose credential ended is closed).
    /// Default 10, 1 to 3600.
    pub recheck_s: Option<u32>,
}

/// A route's WebSocket policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketPolicy {
    /// Allowed browser origins (`scheme://host[:port]`, as browsers serialise them).
    pub allowed_origins: Vec<String>,
    /// Seconds between checks of an open socket's credentials: a session that ends, a key that
    /// is revoked or a token that expires closes the socket within this time.
    pub recheck_s: u32,
}

impl WebSocketPolicy {
    /// Compiles the section; problems come back as (field, message).
    pub fn compile(raw: RawWebSocketPolicy) -> Result<Self, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let mut allowed_origins = Vec::with_capacity(raw.allowed_origins.len());
        for (index, origin) in raw.allowed_origins.iter().enumerate() {
            match serialised_origin(origin) {
                Some(serialised) if serialised == *origin => allowed_origins.push(serialised),
                Some(serialised) => problems.push((
                    format!("allowed_origins[{index}]"),
                    format!("{origin:?} is not how a browser sends it: write {serialised:?}"),
                )),
                None => problems.push((format!("allowed_origins[{index}]"), format!("{origin:?} is not an origin"))),
            }
        }
        let recheck_s = raw.recheck_s.unwrap_or(DEFAULT_RECHECK_S);
        if !(1..=3600).contains(&recheck_s) {
            problems.push(("recheck_s".into(), "between 1 and 3600 seconds".into()));
        }
        if problems.is_empty() {
            Ok(Self { allowed_origins, recheck_s })
        } else {
            Err(problems)
        }
    }
}

/// The origin of a URL as a browser serialises it, when it is an http(s) origin.
fn serialised_origin(source: &str) -> Option<String> {
    let url = url::Url::parse(source).ok()?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

/// Whether the request asks to upgrade to a WebSocket (`Upgrade: websocket`, any case).
pub fn is_upgrade(head: &RequestHead) -> bool {
    head.header("upgrade")
        .is_some_and(|value| value.split(',').any(|token| token.trim().eq_ignore_ascii_case("websocket")))
}

/// Decides an upgrade request on a route: `Ok(true)` to proxy it as a WebSocket, `Ok(false)`
/// when it is no upgrade at all.
pub fn admit(policy: Option<&WebSocketPolicy>, head: &RequestHead, request_origin: &str) -> Result<bool, RouteError> {
    if !is_upgrade(head) {
        return Ok(false);
    }
    let Some(policy) = policy else { return Err(RouteError::WebSocketNotAllowed) };
    if head.method != "GET" {
        return Err(RouteError::WebSocketNotAllowed);
    }
    match head.header("origin") {
        None => Ok(true),
        Some(origin) if origin == request_origin || policy.allowed_origins.iter().any(|allowed| allowed == origin) => {
            Ok(true)
        }
        Some(_) => Err(RouteError::WebSocketOriginDenied),
    }
}

/// The handshake headers the runtime makes itself for the connection to the origin, which the
/// client's must not override: its key and the extensions it negotiates.
const HANDSHAKE_HEADERS_SET_BY_RUNTIME: &[&str] =
    &["sec-websocket-key", "sec-websocket-extensions", "sec-websocket-accept"];

/// Turns forwarded request headers (lower-case names) into an upgrade's: `Upgrade: websocket`,
/// which the hop-by-hop rules took out, goes back in, and the handshake headers the runtime makes
/// itself go out. The subprotocols (`Sec-WebSocket-Protocol`) stay for the origin to choose from.
pub fn upgrade_headers(outbound: &mut HeaderList) {
    outbound.retain(|(name, _)| !HANDSHAKE_HEADERS_SET_BY_RUNTIME.contains(&name.as_str()));
    outbound.push(("upgrade".into(), "websocket".into()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: method.into(),
            url: "https://app.example.com/live/feed".into(),
            headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
        }
    }

    fn policy(origins: &[&str]) -> WebSocketPolicy {
        let raw =
            RawWebSocketPolicy { allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(), recheck_s: None };
        WebSocketPolicy::compile(raw).unwrap()
    }

    #[test]
    fn upgrades_are_admitted_only_where_the_route_allows_them_and_from_allowed_origins() {
        let own = "https://app.example.com";
        let allowed = policy(&["https://admin.example.com"]);
        let upgrade = [("upgrade", "websocket"), ("connection", "Upgrade")];
        let with_origin = |origin| [("upgrade", "WebSocket"), ("origin", origin)];
        let cases: Vec<(Option<&WebSocketPolicy>, RequestHead, Result<bool, RouteError>)> = vec![
            (None, head("GET", &[]), Ok(false)),
            (Some(&allowed), head("GET", &[("upgrade", "h2c")]), Ok(false)),
            (None, head("GET", &upgrade), Err(RouteError::WebSocketNotAllowed)),
            (Some(&allowed), head("POST", &upgrade), Err(RouteError::WebSocketNotAllowed)),
            (Some(&allowed), head("GET", &upgrade), Ok(true)),
            (Some(&allowed), head("GET", &with_origin(own)), Ok(true)),
            (Some(&allowed), head("GET", &with_origin("https://admin.example.com")), Ok(true)),
            (Some(&allowed), head("GET", &with_origin("https://evil.example")), Err(RouteError::WebSocketOriginDenied)),
            (Some(&allowed), head("GET", &with_origin("null")), Err(RouteError::WebSocketOriginDenied)),
            (
                Some(&allowed),
                head("GET", &with_origin("https://app.example.com.evil.example")),
                Err(RouteError::WebSocketOriginDenied),
            ),
            (
                Some(&allowed),
                head("GET", &with_origin("http://app.example.com")),
                Err(RouteError::WebSocketOriginDenied),
            ),
        ];
        for (policy, head, expected) in cases {
            assert_eq!(admit(policy, &head, own), expected, "{:?}", head.headers);
        }
    }

    #[test]
    fn allowed_origins_must_be_written_as_browsers_send_them() {
        let raw = |origins: &[&str], recheck_s| RawWebSocketPolicy {
            allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            recheck_s,
        };
        let fields = |raw| WebSocketPolicy::compile(raw).unwrap_err().into_iter().map(|(f, _)| f).collect::<Vec<_>>();
        assert_eq!(
            fields(raw(
                &["https://a.example/", "https://A.example", "ftp://a.example", "nope", "https://ok.example"],
                None
            )),
            ["allowed_origins[0]", "allowed_origins[1]", "allowed_origins[2]", "allowed_origins[3]"]
        );
        assert_eq!(fields(raw(&[], Some(0))), ["recheck_s"]);
        assert_eq!(WebSocketPolicy::compile(raw(&["https://ok.example:8443"], Some(5))).unwrap().recheck_s, 5);
    }

    #[test]
    fn an_upgrade_asks_for_websocket_and_leaves_the_handshake_to_the_runtime() {
        let sent = [
            ("sec-websocket-key", "abc"),
            ("sec-websocket-extensions", "permessage-deflate"),
            ("sec-websocket-protocol", "chat"),
            ("x-auth-subject", "alice"),
        ];
        let mut outbound: HeaderList = sent.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        upgrade_headers(&mut outbound);
        let names: Vec<&str> = outbound.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["sec-websocket-protocol", "x-auth-subject", "upgrade"]);
    }
}

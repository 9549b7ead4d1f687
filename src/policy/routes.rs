//! Route matching: host, path pattern and method to a route and its policy.
//!
//! Routes are compiled once per isolate into a table sorted by specificity, so the first route that
//! matches is the most specific one. Specificity, most significant first:
//!
//! 1. host: an exact host beats a `*.suffix` wildcard, which beats no host;
//! 2. path, segment by segment from the left: a literal beats a `:param`, and a pattern that goes
//!    on beats one that stops;
//! 3. a pattern without a trailing `*` beats one with it;
//! 4. a route that lists methods beats one that does not;
//! 5. the earlier route in the configuration.
//!
//! No regular expressions are involved: patterns are segment lists, matched left to right.

use crate::gateway::cors::CorsPolicy;
use crate::gateway::path::CanonicalPath;
use crate::gateway::upstream::Upstream;

/// Which hosts a route applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Every host.
    Any,
    /// Exactly this host (lower case, no port).
    Exact(String),
    /// Any host with exactly one more label in front of this suffix, which starts with a dot.
    Wildcard(String),
}

impl HostPattern {
    /// Parses `app.example.com` or `*.example.com`.
    pub fn parse(source: &str) -> Result<Self, String> {
        let host = source.to_ascii_lowercase();
        let (suffix, wildcard) = match host.strip_prefix("*.") {
            Some(suffix) => (suffix, true),
            None => (host.as_str(), false),
        };
        let valid_label = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if suffix.is_empty() || suffix.len() > 253 || !suffix.split('.').all(valid_label) {
            return Err(format!("invalid host pattern {source:?}: expected a host name or *.suffix"));
        }
        Ok(if wildcard { Self::Wildcard(format!(".{suffix}")) } else { Self::Exact(host) })
    }

    /// Whether a request host (lower case, no port) is covered.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(exact) => exact == host,
            Self::Wildcard(suffix) => {
                host.strip_suffix(suffix.as_str()).is_some_and(|label| !label.is_empty() && !label.contains('.'))
            }
        }
    }

    /// Whether some host matches both patterns.
    pub fn may_overlap(&self, other: &HostPattern) -> bool {
        match (self, other) {
            (Self::Any, _) | (_, Self::Any) => true,
            (Self::Exact(a), Self::Exact(b)) => a == b,
            (Self::Wildcard(a), Self::Wildcard(b)) => a == b,
            (Self::Exact(host), wildcard @ Self::Wildcard(_)) | (wildcard @ Self::Wildcard(_), Self::Exact(host)) => {
                wildcard.matches(host)
            }
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Self::Exact(_) => 2,
            Self::Wildcard(_) => 1,
            Self::Any => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A path pattern: `/exact`, `/prefix/*`, `/tenants/:tenant/*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    source: String,
    segments: Vec<Segment>,
    tail_wildcard: bool,
}

impl PathPattern {
    /// Parses a pattern. Literal segments are written decoded (no `%`); `:name` matches one
    /// non-empty segment; a final `*` matches the rest of the path, including nothing.
    pub fn parse(source: &str) -> Result<Self, String> {
        let fail = |why: &str| Err(format!("invalid path pattern {source:?}: {why}"));
        let Some(rest) = source.strip_prefix('/') else {
            return fail("it must start with /");
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let last = parts.len() - 1;
        let mut segments = Vec::with_capacity(parts.len());
        let mut tail_wildcard = false;
        for (index, part) in parts.iter().enumerate() {
            if *part == "*" {
                if index != last {
                    return fail("* is only allowed as the last segment");
                }
                tail_wildcard = true;
            } else if let Some(name) = part.strip_prefix(':') {
                let valid = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
                    && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !valid {
                    return fail("a parameter name is lower-case letters, digits and _");
                }
                segments.push(Segment::Param(name.to_owned()));
            } else if part.contains(['*', '%', '\\', ';']) || part.chars().any(char::is_control) {
                return fail("a literal segment holds no *, %, \\, ; or control characters");
            } else if part.is_empty() && index != last {
                return fail("empty segments (//) never match");
            } else if *part == "." || *part == ".." {
                return fail("dot segments never match");
            } else {
                segments.push(Segment::Literal((*part).to_owned()));
            }
        }
        Ok(Self { source: source.to_owned(), segments, tail_wildcard })
    }

    /// `/*`: every path.
    pub fn everything() -> Self {
        Self { source: "/*".to_owned(), segments: Vec::new(), tail_wildcard: true }
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The named parameters, in order.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Param(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// Matches decoded request segments; returns the captured parameters.
    pub fn matches(&self, path: &CanonicalPath) -> Option<Vec<(String, String)>> {
        let request = path.segments();
        let fits = if self.tail_wildcard {
            request.len() >= self.segments.len()
        } else {
            request.len() == self.segments.len()
        };
        if !fits {
            return None;
        }
        let mut params = Vec::new();
        for (segment, value) in self.segments.iter().zip(request) {
            match segment {
                Segment::Literal(literal) if literal == value => {}
                Segment::Param(name) if !value.is_empty() => params.push((name.clone(), value.clone())),
                _ => return None,
            }
        }
        Some(params)
    }

    /// Whether some path matches both patterns.
    pub fn may_overlap(&self, other: &PathPattern) -> bool {
        let (a, b) = (self, other);
        let shared = a.segments.len().min(b.segments.len());
        let compatible = a.segments[..shared].iter().zip(&b.segments[..shared]).all(|pair| match pair {
            (Segment::Literal(x), Segment::Literal(y)) => x == y,
            (Segment::Literal(x), Segment::Param(_)) | (Segment::Param(_), Segment::Literal(x)) => !x.is_empty(),
            (Segment::Param(_), Segment::Param(_)) => true,
        });
        let (la, lb) = (a.segments.len(), b.segments.len());
        let lengths_meet = la == lb || (a.tail_wildcard && lb >= la) || (b.tail_wildcard && la >= lb);
        compatible && lengths_meet
    }

    fn specificity(&self) -> (Vec<u8>, bool) {
        let kinds = self
            .segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(_) => 2,
                Segment::Param(_) => 1,
            })
            .collect();
        (kinds, !self.tail_wildcard)
    }
}

/// What a route requires before traffic may reach the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Anyone may pass; no identity is asserted to the origin.
    Public,
    /// A verified principal is required.
    Authenticated,
}

impl Policy {
    /// Parses the configuration spelling.
    pub fn parse(source: &str) -> Result<Self, String> {
        match source {
            "public" => Ok(Self::Public),
            "authenticated" => Ok(Self::Authenticated),
            other => Err(format!("unknown policy {other:?}: expected \"public\" or \"authenticated\"")),
        }
    }

    /// The configuration spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Authenticated => "authenticated",
        }
    }
}

/// What happens when the rate limiter cannot be reached.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureMode {
    /// Refuse with 503 (the default).
    #[default]
    Closed,
    /// Let the request through, and say so in the audit log.
    Open,
}

/// Whether the origin gets the bearer JWT that authenticated a request, besides the assertion.
///
/// `strip` is the default: the assertion already carries the verified identity, signed for this
/// origin, while the token is a credential for every audience that accepts it, and an origin (its
/// logs, its error reports, its own outbound calls) should not be able to replay it. `keep` is for
/// origins that call other APIs on the user's behalf with the same token (oauth2-proxy's
/// `pass_access_token`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardAuthorization {
    /// The origin never sees `Authorization`.
    #[default]
    Strip,
    /// A verified bearer JWT is forwarded as it came.
    Keep,
}

/// A route's rate limits.
#[derive(Debug, Clone, Default)]
pub struct RateLimits {
    /// Every rule is checked; a request passes only if all allow it.
    pub rules: Vec<crate::ratelimit::rules::Rule>,
    /// What to do when the limiter fails.
    pub failure: FailureMode,
}

/// A compiled proxied route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Stable identifier, used in the audit log.
    pub id: String,
    /// Hosts it applies to.
    pub host: HostPattern,
    /// Paths it applies to.
    pub path: PathPattern,
    /// Upper-case methods it applies to; `None` is every method. `GET` implies `HEAD`.
    pub methods: Option<Vec<String>>,
    /// What the route requires.
    pub policy: Policy,
    /// Where its traffic goes.
    pub upstream: Upstream,
    /// Milliseconds to wait for the origin's response headers.
    pub timeout_ms: u32,
    /// The route's CORS policy; `None` leaves CORS to the origin.
    pub cors: Option<CorsPolicy>,
    /// What an authenticated principal must be or hold (see `crate::authz`).
    pub requirements: crate::authz::Requirements,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Whether the verified bearer JWT goes on to the origin.
    pub forward_authorization: ForwardAuthorization,
    /// Whether it takes WebSocket upgrades, and from where.
    pub websocket: Option<crate::gateway::websocket::WebSocketPolicy>,
}

impl Route {
    /// Whether some method is allowed by both routes.
    pub fn methods_overlap(&self, other: &Route) -> bool {
        match (&self.methods, &other.methods) {
            (None, _) | (_, None) => true,
            (Some(a), Some(_)) => {
                a.iter().any(|m| other.allows_method(m))
                    || (a.iter().any(|m| m == "HEAD") && other.allows_method("HEAD"))
            }
        }
    }

    /// Whether this route allows every method `other` allows.
    pub fn methods_cover(&self, other: &Route) -> bool {
        match (&self.methods, &other.methods) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(_), Some(b)) => b.iter().all(|m| self.allows_method(m)),
        }
    }

    fn allows_method(&self, method: &str) -> bool {
        match &self.methods {
            None => true,
            Some(methods) => methods.iter().any(|m| m == method || (method == "HEAD" && m == "GET")),
        }
    }

    fn specificity(&self) -> (u8, (Vec<u8>, bool), bool) {
        (self.host.rank(), self.path.specificity(), self.methods.is_some())
    }
}

/// The result of looking a request up in the table.
#[derive(Debug)]
pub enum Lookup<'t> {
    /// The most specific route for the request, with its path parameters.
    Matched(&'t Route, Vec<(String, String)>),
    /// Some route covers the host and path, but none allows the method.
    MethodNotAllowed,
    /// No route covers the host and path.
    NoRoute,
}

/// Routes sorted most specific first, indexed by their first path segment.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
    /// Positions (in `routes`) of the routes whose pattern starts with this literal segment.
    by_first_segment: std::collections::HashMap<String, Vec<usize>>,
    /// Positions of the routes whose pattern starts with a parameter or `*`.
    generic: Vec<usize>,
}

impl RouteTable {
    /// Compiles the table; the order of equally specific routes is kept.
    pub fn new(mut routes: Vec<Route>) -> Self {
        // A stable sort keeps configuration order among equals.
        routes.sort_by_key(|route| std::cmp::Reverse(route.specificity()));
        let mut by_first_segment: std::collections::HashMap<String, Vec<usize>> = std::collections::HashMap::new();
        let mut generic = Vec::new();
        for (index, route) in routes.iter().enumerate() {
            match route.path.segments.first() {
                Some(Segment::Literal(first)) => by_first_segment.entry(first.clone()).or_default().push(index),
                _ => generic.push(index),
            }
        }
        Self { routes, by_first_segment, generic }
    }

    /// The routes that can match a path starting with `first`, most specific first: the routes
    /// for that literal, merged with the generic ones. The cost does not grow with the number of
    /// routes for other first segments.
    fn candidates<'t>(&'t self, first: &str) -> impl Iterator<Item = &'t Route> + 't {
        let literal = self.by_first_segment.get(first).map_or(&[][..], Vec::as_slice);
        let (mut a, mut b) = (literal.iter().peekable(), self.generic.iter().peekable());
        std::iter::from_fn(move || {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x < y => a.next(),
                (Some(_), Some(_)) | (None, Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, None) => None,
            };
            next.map(|index| &self.routes[*index])
        })
    }

    /// All routes, most specific first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Finds the most specific route for a host (lower case, no port), method and path.
    pub fn lookup(&self, host: &str, method: &str, path: &CanonicalPath) -> Lookup<'_> {
        let mut path_matched = false;
        let first = path.segments().first().map_or("", String::as_str);
        for route in self.candidates(first) {
            if !route.host.matches(host) {
                continue;
            }
            if let Some(params) = route.path.matches(path) {
                if route.allows_method(method) {
                    return Lookup::Matched(route, params);
                }
                path_matched = true;
            }
        }
        if path_matched {
            Lookup::MethodNotAllowed
        } else {
            Lookup::NoRoute
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(id: &str, host: Option<&str>, path: &str, methods: Option<&[&str]>) -> Route {
        Route {
            id: id.to_owned(),
            host: host.map_or(HostPattern::Any, |h| HostPattern::parse(h).unwrap()),
            path: PathPattern::parse(path).unwrap(),
            methods: methods.map(|ms| ms.iter().map(|m| (*m).to_owned()).collect()),
            policy: Policy::Public,
            upstream: Upstream::parse("http://127.0.0.1:1").unwrap(),
            timeout_ms: 1000,
            cors: None,
            requirements: crate::authz::Requirements::default(),
            rate_limits: RateLimits::default(),
            forward_authorization: ForwardAuthorization::Strip,
            websocket: None,
        }
    }

    fn table() -> RouteTable {
        RouteTable::new(vec![
            route("catch-all", None, "/*", None),
            route("api", None, "/api/*", None),
            route("api-health", None, "/api/health", Some(&["GET"])),
            route("tenant", None, "/tenants/:tenant/*", None),
            route("tenant-admin", None, "/tenants/:tenant/admin/*", None),
            route("tenant-literal", None, "/tenants/system/*", None),
            route("admin-host", Some("admin.example.com"), "/*", None),
            route("any-sub", Some("*.example.com"), "/*", None),
            route("write-only", None, "/upload", Some(&["POST", "PUT"])),
            route("first-dup", None, "/dup", None),
            route("second-dup", None, "/dup", None),
        ])
    }

    #[test]
    fn the_most_specific_route_wins() {
        let cases: &[(&str, &str, &str, Option<&str>)] = &[
            // host, method, path, expected route id (None: no route or method not allowed)
            ("app.test", "GET", "/", Some("catch-all")),
            ("app.test", "GET", "/anything/else", Some("catch-all")),
            ("app.test", "GET", "/api", Some("api")),
            ("app.test", "GET", "/api/", Some("api")),
            ("app.test", "GET", "/api/v1/users", Some("api")),
            ("app.test", "GET", "/apiv2", Some("catch-all")),
            ("app.test", "GET", "/api/health", Some("api-health")),
            ("app.test", "HEAD", "/api/health", Some("api-health")),
            ("app.test", "POST", "/api/health", Some("api")),
            ("app.test", "GET", "/tenants/acme/invoices", Some("tenant")),
            ("app.test", "GET", "/tenants/acme/admin/users", Some("tenant-admin")),
            ("app.test", "GET", "/tenants/system/x", Some("tenant-literal")),
            ("app.test", "GET", "/tenants/%61cme/invoices", Some("tenant")),
            ("admin.example.com", "GET", "/api/x", Some("admin-host")),
            ("shop.example.com", "GET", "/api/x", Some("any-sub")),
            ("a.b.example.com", "GET", "/api/x", Some("api")),
            ("example.com", "GET", "/api/x", Some("api")),
            ("app.test", "PUT", "/upload", Some("write-only")),
            ("app.test", "GET", "/upload", Some("catch-all")),
            ("app.test", "GET", "/dup", Some("first-dup")),
        ];
        let table = table();
        for (host, method, raw, expected) in cases {
            let path = CanonicalPath::parse(raw).unwrap();
            let got = match table.lookup(host, method, &path) {
                Lookup::Matched(route, _) => Some(route.id.as_str()),
                _ => None,
            };
            assert_eq!(got, *expected, "{method} {host}{raw}");
        }
    }

    #[test]
    fn a_thousand_routes_index_by_first_segment() {
        let mut routes: Vec<Route> =
            (0..1000).map(|i| route(&format!("r{i}"), None, &format!("/area-{i}/*"), None)).collect();
        routes.push(route("generic", None, "/:anything/x", None));
        let table = RouteTable::new(routes);
        let hit = |raw: &str| match table.lookup("h", "GET", &CanonicalPath::parse(raw).unwrap()) {
            Lookup::Matched(route, _) => Some(route.id.clone()),
            _ => None,
        };
        assert_eq!(hit("/area-999/y").as_deref(), Some("r999"));
        assert_eq!(hit("/area-7/x").as_deref(), Some("r7"), "a literal first segment beats a parameter");
        assert_eq!(hit("/elsewhere/x").as_deref(), Some("generic"));
        assert_eq!(hit("/elsewhere/y"), None);
        assert_eq!(table.candidates("area-5").count(), 2, "one literal route and the generic one");
    }

    #[test]
    fn path_parameters_are_captured_decoded() {
        let table = table();
        let path = CanonicalPath::parse("/tenants/%61cme/invoices/7").unwrap();
        let Lookup::Matched(route, params) = table.lookup("x.test", "GET", &path) else {
            panic!("no match");
        };
        assert_eq!(route.id, "tenant");
        assert_eq!(params, vec![("tenant".to_owned(), "acme".to_owned())]);
    }

    #[test]
    fn method_mismatch_and_no_match_are_told_apart() {
        let table = RouteTable::new(vec![route("write-only", None, "/upload", Some(&["POST"]))]);
        let upload = CanonicalPath::parse("/upload").unwrap();
        let other = CanonicalPath::parse("/other").unwrap();
        assert!(matches!(table.lookup("h", "GET", &upload), Lookup::MethodNotAllowed));
        assert!(matches!(table.lookup("h", "GET", &other), Lookup::NoRoute));
    }

    #[test]
    fn a_param_never_matches_an_empty_trailing_segment() {
        let pattern = PathPattern::parse("/tenants/:tenant").unwrap();
        assert!(pattern.matches(&CanonicalPath::parse("/tenants/").unwrap()).is_none());
        assert!(pattern.matches(&CanonicalPath::parse("/tenants/a").unwrap()).is_some());
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["", "api", "/a/*/b", "/a*", "/:", "/:Tenant", "/a//b", "/a/%61", "/a/../b", "/a;b"] {
            assert!(PathPattern::parse(bad).is_err(), "{bad:?}");
        }
        for bad in ["", "*.", "exa mple.com", "-a.com", "*.*.com", "a..com", "host:8080"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn overlap_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("/a/*", "/a/b", true),
            ("/a/*", "/b/*", false),
            ("/a/:x/c", "/a/b/*", true),
            ("/a/:x", "/a/", false),
            ("/a", "/a/*", true),
            ("/a/b", "/a/b/c", false),
            ("/*", "/anything/at/all", true),
            ("/t/:t/x", "/t/:u/y", false),
        ];
        for (a, b, expected) in cases {
            let (pa, pb) = (PathPattern::parse(a).unwrap(), PathPattern::parse(b).unwrap());
            assert_eq!(pa.may_overlap(&pb), *expected, "{a} ~ {b}");
            assert_eq!(pb.may_overlap(&pa), *expected, "{b} ~ {a}");
        }
        let host = |h: &str| HostPattern::parse(h).unwrap();
        assert!(host("a.example.com").may_overlap(&host("*.example.com")));
        assert!(!host("example.com").may_overlap(&host("*.example.com")));
        assert!(!host("*.a.example.com").may_overlap(&host("*.example.com")));
        assert!(HostPattern::Any.may_overlap(&host("x.y")));
    }

    #[test]
    fn wildcard_hosts_cover_exactly_one_label() {
        let pattern = HostPattern::parse("*.Example.com").unwrap();
        assert!(pattern.matches("a.example.com"));
        assert!(!pattern.matches("example.com"));
        assert!(!pattern.matches("a.b.example.com"));
        assert!(!pattern.matches("aexample.com"));
    }
}

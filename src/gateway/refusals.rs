//! Why the front of the pipeline refuses a request: the edge guard (before routing) and route
//! matching.

/// The edge guard refused the request before routing (size limits, malformed input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardError {
    /// The request URL is longer than `limits.max_url_bytes`.
    UrlTooLong,
    /// The request headers exceed `limits.max_header_bytes` or `limits.max_header_count`.
    HeadersTooLarge,
    /// The request body of an edge route exceeds `limits.max_edge_body_bytes`.
    BodyTooLarge,
    /// The path is ambiguous: an encoded slash or backslash, a dot segment or an empty segment.
    AmbiguousPath,
    /// Some other part of the request is malformed; the detail names which.
    Malformed(&'static str),
    /// A `GET` or `HEAD` request with a body, which the runtime's `fetch` cannot forward and
    /// origins disagree about.
    BodyNotAllowed,
    /// The request asks the origin to treat it as another method (`X-HTTP-Method-Override`
    /// and the like), which would bypass method-specific rules.
    MethodOverride,
}

/// Route matching found nothing that may serve the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// No route matches and `unmatched` is `deny`.
    NoRoute,
    /// The path matches an edge route, but not with this method.
    MethodNotAllowed,
    /// An edge path that does not exist.
    UnknownEdgePath,
    /// A WebSocket upgrade on a route that takes none (or with a method other than `GET`).
    WebSocketNotAllowed,
    /// A WebSocket upgrade from a browser origin the route does not allow.
    WebSocketOriginDenied,
}

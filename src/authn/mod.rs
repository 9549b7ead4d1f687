//! Authentication: turns credentials into a [`Principal`], or refuses.
//!
//! Only this module can construct a `Principal` (its constructor is `pub(crate)` and called only by
//! authenticators here), so holding one is proof that authentication happened. Likewise only
//! [`public_pass`] hands out a [`PublicPass`], and only for a public route. Forwarding takes an
//! [`Access`], so no code path reaches the origin "as nobody" on a protected route.

pub mod api_key;
pub mod bearer;
pub mod jwt;
pub mod session;

use crate::gateway::headers::HeaderList;
use crate::gateway::routes::{Policy, Route};
use jwt::claims::MappedIdentity;
use jwt::JwtError;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use std::fmt;

/// Why authentication failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthnError {
    /// No credential was presented on a route that needs one.
    Missing,
    /// The `Authorization` header is malformed (RFC 6750 §3.1 `invalid_request`).
    MalformedAuthorization,
    /// A bearer JWT was refused (RFC 6750 §3.1 `invalid_token`); the reason is for the log.
    InvalidToken(JwtError),
    /// An API key was refused (also `invalid_token` to the client).
    InvalidApiKey(api_key::ApiKeyError),
    /// The keys needed to verify could not be had (JWKS outage): fail closed.
    KeysUnavailable,
    /// A session cookie was presented but does not name a live session.
    InvalidSession(crate::session::SessionError),
}

impl fmt::Display for AuthnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthnError::Missing => f.write_str("unauthenticated"),
            AuthnError::MalformedAuthorization => f.write_str("invalid_request: malformed authorization header"),
            AuthnError::InvalidToken(reason) => write!(f, "invalid_token: {reason}"),
            AuthnError::InvalidApiKey(reason) => write!(f, "invalid_token: {reason}"),
            AuthnError::KeysUnavailable => f.write_str("keys_unavailable"),
            AuthnError::InvalidSession(reason) => write!(f, "invalid_session: {reason:?}"),
        }
    }
}

impl From<api_key::ApiKeyError> for AuthnError {
    fn from(error: api_key::ApiKeyError) -> Self {
        AuthnError::InvalidApiKey(error)
    }
}

impl From<JwtError> for AuthnError {
    fn from(error: JwtError) -> Self {
        AuthnError::InvalidToken(error)
    }
}

/// How a principal authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A bearer JWT from a configured issuer.
    Jwt,
    /// An API key.
    ApiKey,
    /// A browser session.
    Session,
}

impl AuthMethod {
    /// The name used in headers, assertions and the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::ApiKey => "api_key",
            Self::Session => "session",
        }
    }
}

/// A verified identity. Only authenticators construct one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    identity: MappedIdentity,
    method: AuthMethod,
    issuer: Option<String>,
    key_id: Option<String>,
    tier: Option<String>,
    claims: std::sync::Arc<serde_json::Map<String, serde_json::Value>>,
    roles: Vec<String>,
}

/// Characters percent-encoded in identity header values: controls, non-ASCII (by the encoder),
/// `%` itself, and `,`, which separates list items.
const HEADER_VALUE_ESCAPES: &AsciiSet = &CONTROLS.add(b'%').add(b',');

fn header_value(value: &str) -> String {
    utf8_percent_encode(value, HEADER_VALUE_ESCAPES).to_string()
}

impl Principal {
    /// Only authenticators call this.
    pub(crate) fn new(identity: MappedIdentity, method: AuthMethod, issuer: Option<String>) -> Self {
        Self { identity, method, issuer, key_id: None, tier: None, claims: Default::default(), roles: Vec::new() }
    }

    /// Keeps the verified token's claims, for claim conditions; only authenticators call this.
    pub(crate) fn with_claims(mut self, claims: serde_json::Map<String, serde_json::Value>) -> Self {
        self.claims = std::sync::Arc::new(claims);
        self
    }

    /// Records the roles authorisation found; only authorisation (in the worker shell) calls this.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn with_roles(mut self, roles: Vec<String>) -> Self {
        self.roles = roles;
        self
    }

    /// The verified token's claims (empty for API keys).
    pub fn claims(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.claims
    }

    /// The effective roles, once authorised.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// Adds the API key id and rate-limit tier; only the API key authenticator calls this.
    pub(crate) fn with_key(mut self, key_id: String, tier: Option<String>) -> Self {
        self.key_id = Some(key_id);
        self.tier = tier;
        self
    }

    /// Sets the rate-limit tier; only authenticators call this.
    pub(crate) fn with_tier(mut self, tier: Option<String>) -> Self {
        self.tier = tier;
        self
    }

    /// The API key id, for API-key principals.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// The rate-limit tier: the API key's, or the JWT's tier claim.
    pub fn tier(&self) -> Option<&str> {
        self.tier.as_deref()
    }

    /// The subject identifier.
    pub fn subject(&self) -> &str {
        &self.identity.subject
    }

    /// How the principal authenticated.
    pub fn method(&self) -> AuthMethod {
        self.method
    }

    /// The token issuer, for JWTs.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The mapped identity (email, groups, scopes, tenant).
    pub fn identity(&self) -> &MappedIdentity {
        &self.identity
    }

    /// The identity headers the origin receives. Values are percent-encoded where they hold
    /// controls, non-ASCII, `%` or `,`; lists are comma-separated (groups) or space-separated
    /// (scopes, as in OAuth).
    pub fn identity_headers(&self) -> HeaderList {
        let id = &self.identity;
        let mut headers = vec![
            ("x-auth-subject".to_owned(), header_value(&id.subject)),
            ("x-auth-method".to_owned(), self.method.name().to_owned()),
        ];
        let mut optional = |name: &str, value: Option<String>| {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                headers.push((name.to_owned(), value));
            }
        };
        optional("x-auth-issuer", self.issuer.as_deref().map(header_value));
        optional("x-auth-email", id.email.as_deref().map(header_value));
        optional("x-auth-groups", Some(id.groups.iter().map(|g| header_value(g)).collect::<Vec<_>>().join(",")));
        optional(
            "x-auth-scopes",
            Some(id.scopes.iter().map(|s| header_value(s).replace(' ', "%20")).collect::<Vec<_>>().join(" ")),
        );
        optional("x-auth-tenant", id.tenant.as_deref().map(header_value));
        optional("x-auth-key-id", self.key_id.clone());
        optional("x-auth-roles", Some(self.roles.iter().map(|r| header_value(r)).collect::<Vec<_>>().join(",")));
        headers
    }
}

/// Proof that the matched route is public. Only [`public_pass`] constructs one.
#[derive(Debug)]
pub struct PublicPass(());

/// A pass for a public route; `None` for any other.
pub fn public_pass(route: &Route) -> Option<PublicPass> {
    (route.policy == Policy::Public).then_some(PublicPass(()))
}

/// What lets a request through to the origin.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per request, moved a few times: not worth a box
pub enum Access {
    /// A public route: no identity is asserted.
    Public(PublicPass),
    /// A verified principal.
    Authenticated(Principal),
}

impl Access {
    /// The identity headers for the origin (none for public access).
    pub fn identity_headers(&self) -> HeaderList {
        match self {
            Access::Public(_) => Vec::new(),
            Access::Authenticated(principal) => principal.identity_headers(),
        }
    }

    /// The principal, if one authenticated.
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Access::Public(_) => None,
            Access::Authenticated(principal) => Some(principal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_headers_are_header_safe() {
        let principal = Principal::new(
            MappedIdentity {
                subject: "user\r\nX-Injected: 1".into(),
                email: Some("zoë@example.com".into()),
                groups: vec!["admins".into(), "a,b".into()],
                scopes: vec!["read:x".into(), "write".into()],
                tenant: Some("acme".into()),
            },
            AuthMethod::Jwt,
            Some("https://idp.example.com/".into()),
        );
        let headers = principal.identity_headers();
        let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(get("x-auth-subject"), Some("user%0D%0AX-Injected: 1"));
        assert_eq!(get("x-auth-email"), Some("zo%C3%AB@example.com"));
        assert_eq!(get("x-auth-groups"), Some("admins,a%2Cb"));
        assert_eq!(get("x-auth-scopes"), Some("read:x write"));
        assert_eq!(get("x-auth-tenant"), Some("acme"));
        assert_eq!(get("x-auth-method"), Some("jwt"));
        assert_eq!(get("x-auth-issuer"), Some("https://idp.example.com/"));
        assert!(headers.iter().all(|(_, v)| v.bytes().all(|b| (0x20..0x7f).contains(&b))));
    }

    #[test]
    fn empty_optional_identity_is_not_sent() {
        let principal = Principal::new(
            MappedIdentity { subject: "s".into(), email: None, groups: vec![], scopes: vec![], tenant: None },
            AuthMethod::Jwt,
            None,
        );
        let names: Vec<String> = principal.identity_headers().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["x-auth-subject", "x-auth-method"]);
    }
}

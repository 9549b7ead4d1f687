//! Authentication: turns credentials into a [`Principal`], or refuses.
//!
//! Only this module can construct a [`principal::Principal`] (its constructor is visible in
//! `authn` only, and called by the authenticators here), so holding one is proof that
//! authentication happened. Public routes get a [`crate::policy::access::PublicPass`] instead.

pub mod api_key;
pub mod bearer;
pub mod jwt;
pub mod password;
pub mod principal;
pub mod select;
pub mod session;

use jwt::error::JwtError;
use std::fmt;

/// Why authentication failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthnError {
    /// No credential was presented on a route that needs one.
    Missing,
    /// A credential that none of the route's authenticators takes (an API key on a JWT-only route,
    /// a token from an issuer the route does not name); refused before it is verified.
    NotAccepted,
    /// The `Authorization` header is malformed (RFC 6750 §3.1 `invalid_request`).
    MalformedAuthorization,
    /// A bearer JWT was refused (RFC 6750 §3.1 `invalid_token`); the reason is for the log.
    InvalidToken(JwtError),
    /// An API key was refused (also `invalid_token` to the client).
    InvalidApiKey(api_key::ApiKeyError),
    /// A dependency the verification needs did not answer, or not in time: fail closed. The
    /// audit line names which; the client only learns that one was unavailable.
    Unavailable(Dependency),
    /// A session cookie was presented but does not name a live session.
    InvalidSession(crate::session::SessionError),
}

impl fmt::Display for AuthnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthnError::Missing => f.write_str("unauthenticated"),
            AuthnError::NotAccepted => {
                f.write_str("authenticator_not_allowed: the route does not take this credential")
            }
            AuthnError::MalformedAuthorization => f.write_str("invalid_request: malformed authorization header"),
            AuthnError::InvalidToken(reason) => write!(f, "invalid_token: {reason}"),
            AuthnError::InvalidApiKey(reason) => write!(f, "invalid_token: {reason}"),
            AuthnError::Unavailable(dependency) => write!(f, "{dependency}_unavailable"),
            AuthnError::InvalidSession(reason) => write!(f, "invalid_session: {reason:?}"),
        }
    }
}

/// What verification depends on, and may find unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    /// An issuer's JWKS endpoint.
    Keys,
    /// The session store (KV).
    SessionStore,
    /// The API key records (KV).
    KeyStore,
    /// The revocation ledger (its Durable Object).
    Revocations,
    /// The sign-in provider, to refresh a session's tokens.
    Provider,
    /// The user directory (D1), for a connection stored there.
    Directory,
    /// A secret the gateway needs (the API key pepper).
    Secret,
    /// The CSPRNG.
    Randomness,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dependency::Keys => "keys",
            Dependency::SessionStore => "session_store",
            Dependency::KeyStore => "key_store",
            Dependency::Revocations => "revocations",
            Dependency::Provider => "provider",
            Dependency::Directory => "directory",
            Dependency::Secret => "secret",
            Dependency::Randomness => "randomness",
        })
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

//! Authentication: turns credentials into a [`Principal`], or refuses.
//!
//! Only this module can construct a `Principal` (its constructor is `pub(crate)` and called only by
//! authenticators here), so holding one is proof that authentication happened. Likewise only
//! [`authenticate`] hands out a [`PublicPass`], and only for a public route. Forwarding takes an
//! [`Access`], so no code path reaches the origin "as nobody" on a protected route.

use crate::error::AuthnError;
use crate::gateway::headers::HeaderList;
use crate::gateway::routes::{Policy, Route};
use crate::gateway::RequestHead;

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
    /// The name used in headers and the audit log.
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
    subject: String,
    method: AuthMethod,
}

impl Principal {
    /// Only authenticators call this.
    #[allow(dead_code)] // the first authenticator arrives with JWT verification
    pub(crate) fn new(subject: String, method: AuthMethod) -> Self {
        Self { subject, method }
    }

    /// The subject identifier.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// How the principal authenticated.
    pub fn method(&self) -> AuthMethod {
        self.method
    }

    /// The identity headers the origin receives.
    pub fn identity_headers(&self) -> HeaderList {
        vec![
            ("x-auth-subject".into(), self.subject.clone()),
            ("x-auth-method".into(), self.method.name().into()),
        ]
    }
}

/// Proof that the matched route is public. Only [`authenticate`] constructs one.
#[derive(Debug)]
pub struct PublicPass(());

/// What lets a request through to the origin.
#[derive(Debug)]
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

/// Authenticates a request for a route. No authenticator is configured yet, so an authenticated
/// route refuses every request as unauthenticated.
pub fn authenticate(route: &Route, _head: &RequestHead) -> Result<Access, AuthnError> {
    match route.policy {
        Policy::Public => Ok(Access::Public(PublicPass(()))),
        Policy::Authenticated => Err(AuthnError::Missing),
    }
}

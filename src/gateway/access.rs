//! What lets a request through to the origin: a pass for a public route, or a verified principal.
//!
//! Only [`public_pass`] hands out a [`PublicPass`], and only for a public route. Forwarding takes
//! an [`Access`], so no code path reaches the origin "as nobody" on a protected route.

use super::routes::{Policy, Route};
use crate::authn::principal::Principal;
use crate::http::headers::HeaderList;

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

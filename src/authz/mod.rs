//! Authorisation: what an authenticated principal may do on a route.
//!
//! Today a route can require scopes (all of them, or any one). Roles, claim conditions and tenant
//! binding come with the policy engine.

use crate::authn::Principal;
use crate::gateway::routes::Route;
use std::fmt;

/// Why an authenticated principal was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthzError {
    /// The principal lacks the route's scopes (RFC 6750 §3.1 `insufficient_scope`).
    InsufficientScope {
        /// The scopes the route requires, for the challenge.
        required: Vec<String>,
    },
}

impl fmt::Display for AuthzError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthzError::InsufficientScope { required } => write!(f, "insufficient_scope: needs {}", required.join(" ")),
        }
    }
}

/// Whether the principal may use the route.
pub fn authorize(route: &Route, principal: &Principal) -> Result<(), AuthzError> {
    let required = &route.scopes.required;
    if required.is_empty() {
        return Ok(());
    }
    let held = &principal.identity().scopes;
    let has = |scope: &String| held.contains(scope);
    let allowed = if route.scopes.any { required.iter().any(has) } else { required.iter().all(has) };
    if allowed {
        Ok(())
    } else {
        Err(AuthzError::InsufficientScope { required: required.clone() })
    }
}

//! What lets a request through to the origin: a pass for a public route, or a verified principal.
//!
//! Only [`public_pass`] hands out a [`PublicPass`], and only for a public route. Forwarding takes
//! an [`Access`], so no code path reaches the origin "as nobody" on a protected route.

use super::routes::{Policy, Route};
use crate::authn::principal::{AuthMethod, Principal};
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

    /// The inbound credential headers the origin must not get. On an authenticated request, the
    /// API key header always goes (a key is a secret, and the origin gets the verified identity
    /// instead), and so does `Authorization`, unless it carried the JWT that authenticated the
    /// request: a bearer token that no authenticator verified (a session won first) never
    /// reaches the origin. A public request is forwarded as it came.
    pub fn credential_headers_to_strip(&self, api_key_header: Option<&str>) -> Vec<String> {
        let Access::Authenticated(principal) = self else { return Vec::new() };
        let mut stripped: Vec<String> = api_key_header.map(str::to_owned).into_iter().collect();
        if principal.method() != AuthMethod::Jwt {
            stripped.push("authorization".into());
        }
        stripped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::principal::imagined;
    use crate::identity::MappedIdentity;

    fn access(method: Option<AuthMethod>) -> Access {
        match method {
            None => Access::Public(PublicPass(())),
            Some(method) => {
                let identity =
                    MappedIdentity { subject: "s".into(), email: None, groups: vec![], scopes: vec![], tenant: None };
                Access::Authenticated(imagined(identity, method, None, Default::default(), None))
            }
        }
    }

    #[test]
    fn which_credentials_leave_for_the_origin() {
        let cases: &[(Option<AuthMethod>, Option<&str>, &[&str])] = &[
            (None, Some("x-api-key"), &[]),
            (Some(AuthMethod::ApiKey), Some("x-api-key"), &["x-api-key", "authorization"]),
            (Some(AuthMethod::ApiKey), None, &["authorization"]),
            // The verified JWT is forwarded as it came; an API key sent alongside is not.
            (Some(AuthMethod::Jwt), Some("x-api-key"), &["x-api-key"]),
            (Some(AuthMethod::Jwt), None, &[]),
            // A session won: whatever bearer token came along was never verified.
            (Some(AuthMethod::Session), Some("x-api-key"), &["x-api-key", "authorization"]),
        ];
        for (method, header, expected) in cases {
            assert_eq!(access(*method).credential_headers_to_strip(*header), *expected, "{method:?} {header:?}");
        }
    }
}

//! What lets a request through to the origin: a pass for a public route, or a verified principal.
//!
//! Only [`public_pass`] hands out a [`PublicPass`], and only for a public route. Forwarding takes
//! a [`Forwarding`]: a public pass, or an [`Authenticated`] principal with its signed assertion.
//! So no code path reaches the origin "as nobody" on a protected route, nor as somebody without
//! the assertion the origin verifies.

use super::routes::{ForwardAuthorization, Policy, Route};
use crate::assertion::{SignedAssertion, ASSERTION_HEADER};
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
    /// The principal, if one authenticated.
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Access::Public(_) => None,
            Access::Authenticated(principal) => Some(principal),
        }
    }
}

/// A verified principal and the signed assertion of it for this request.
#[derive(Debug)]
pub struct Authenticated<'a> {
    /// Who is calling.
    pub principal: &'a Principal,
    /// What the origin verifies.
    pub assertion: SignedAssertion,
}

/// What forwarding requires: who the origin is told is calling.
#[derive(Debug)]
pub enum Forwarding<'a> {
    /// A public route: no identity is asserted.
    Public(&'a PublicPass),
    /// A principal, with its assertion.
    Authenticated(Authenticated<'a>),
}

impl Forwarding<'_> {
    /// The identity headers for the origin, with the assertion (none for public access).
    pub fn identity_headers(&self) -> HeaderList {
        match self {
            Forwarding::Public(_) => Vec::new(),
            Forwarding::Authenticated(Authenticated { principal, assertion }) => {
                let mut headers = principal.identity_headers();
                headers.push((ASSERTION_HEADER.to_owned(), assertion.as_str().to_owned()));
                headers
            }
        }
    }

    /// The inbound credential headers the origin must not get.
    ///
    /// An API key is a secret meant for the gateway, so it never goes on, whatever the route: the
    /// API key header, and an `Authorization` that carries a key. On an authenticated request
    /// `Authorization` goes too, unless it carried the JWT that authenticated the request and the
    /// route keeps it ([`ForwardAuthorization::Keep`]): a bearer token that no authenticator
    /// verified (a session won first) never reaches the origin. A public request keeps its other
    /// credentials, for an origin that does its own authentication.
    pub fn credential_headers_to_strip(
        &self,
        offered: &OfferedCredentials<'_>,
        authorization: ForwardAuthorization,
    ) -> Vec<String> {
        let mut stripped: Vec<String> = offered.api_key_header.map(str::to_owned).into_iter().collect();
        let strip_authorization = match self {
            Forwarding::Public(_) => offered.authorization_holds_api_key(),
            Forwarding::Authenticated(Authenticated { principal, .. }) => {
                principal.method() != AuthMethod::Jwt || authorization == ForwardAuthorization::Strip
            }
        };
        if strip_authorization {
            stripped.push("authorization".into());
        }
        stripped
    }
}

/// The credentials a request could carry, as the gateway is configured to read them.
#[derive(Debug, Clone, Copy, Default)]
pub struct OfferedCredentials<'a> {
    /// The API key header's name, when API keys are on.
    pub api_key_header: Option<&'a str>,
    /// This deployment's API key prefix, when API keys are on.
    pub api_key_prefix: Option<&'a str>,
    /// The request's `Authorization` value.
    pub authorization: Option<&'a str>,
}

impl OfferedCredentials<'_> {
    /// Whether `Authorization` carries one of this deployment's API keys (`Bearer pk_...`).
    fn authorization_holds_api_key(&self) -> bool {
        let (Some(value), Some(prefix)) = (self.authorization, self.api_key_prefix) else { return false };
        value
            .trim()
            .split_once(' ')
            .is_some_and(|(_, credential)| crate::authn::api_key::format::has_prefix(prefix, credential.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::principal::imagined;
    use crate::identity::MappedIdentity;

    fn principal(method: AuthMethod) -> Principal {
        let identity =
            MappedIdentity { subject: "s".into(), email: None, groups: vec![], scopes: vec![], tenant: None };
        imagined(identity, method, None, Default::default(), None)
    }

    fn assertion() -> SignedAssertion {
        SignedAssertion::for_tests("e30.e30.c2lnbmF0dXJl")
    }

    #[test]
    fn which_credentials_leave_for_the_origin() {
        use ForwardAuthorization::{Keep, Strip};
        let cases: &[(Option<AuthMethod>, Option<&str>, ForwardAuthorization, &[&str])] = &[
            // A public route: an API key never goes on; other credentials do.
            (None, Some("x-api-key"), Strip, &["x-api-key"]),
            (None, None, Strip, &[]),
            (Some(AuthMethod::ApiKey), Some("x-api-key"), Keep, &["x-api-key", "authorization"]),
            (Some(AuthMethod::ApiKey), None, Strip, &["authorization"]),
            // By default the origin gets the assertion, not the token.
            (Some(AuthMethod::Jwt), None, Strip, &["authorization"]),
            (Some(AuthMethod::Jwt), Some("x-api-key"), Strip, &["x-api-key", "authorization"]),
            // A route that keeps it gets the verified JWT as it came; an API key sent alongside is not.
            (Some(AuthMethod::Jwt), Some("x-api-key"), Keep, &["x-api-key"]),
            (Some(AuthMethod::Jwt), None, Keep, &[]),
            // A session won: whatever bearer token came along was never verified.
            (Some(AuthMethod::Session), Some("x-api-key"), Keep, &["x-api-key", "authorization"]),
        ];
        let pass = PublicPass(());
        for (method, header, authorization, expected) in cases {
            let principal = method.map(principal);
            let forwarding = match &principal {
                None => Forwarding::Public(&pass),
                Some(principal) => Forwarding::Authenticated(Authenticated { principal, assertion: assertion() }),
            };
            let offered = OfferedCredentials { api_key_header: *header, ..OfferedCredentials::default() };
            let stripped = forwarding.credential_headers_to_strip(&offered, *authorization);
            assert_eq!(stripped, *expected, "{method:?} {header:?} {authorization:?}");
        }
    }

    #[test]
    fn an_api_key_in_authorization_never_reaches_a_public_origin() {
        let pass = PublicPass(());
        let public = Forwarding::Public(&pass);
        let offered = |authorization| OfferedCredentials {
            api_key_header: Some("x-api-key"),
            api_key_prefix: Some("pk_live"),
            authorization: Some(authorization),
        };
        let cases = [
            ("Bearer pk_live_abc.def", vec!["x-api-key", "authorization"]),
            ("bearer  pk_live_abc", vec!["x-api-key", "authorization"]),
            ("Bearer eyJhbGciOi.x.y", vec!["x-api-key"]),
            ("Basic dXNlcjpwYXNz", vec!["x-api-key"]),
            ("Bearer pk_livex_abc", vec!["x-api-key"]),
        ];
        for (authorization, expected) in cases {
            let stripped = public.credential_headers_to_strip(&offered(authorization), ForwardAuthorization::Strip);
            assert_eq!(stripped, expected, "{authorization}");
        }
    }

    #[test]
    fn the_origin_gets_the_assertion_with_every_authenticated_request() {
        let pass = PublicPass(());
        assert!(Forwarding::Public(&pass).identity_headers().is_empty());
        let principal = principal(AuthMethod::Jwt);
        let headers = Forwarding::Authenticated(Authenticated { principal: &principal, assertion: assertion() })
            .identity_headers();
        let asserted: Vec<&str> =
            headers.iter().filter(|(n, _)| n == ASSERTION_HEADER).map(|(_, v)| v.as_str()).collect();
        assert_eq!(asserted, [assertion().as_str()]);
        assert!(headers.iter().any(|(n, v)| n == "x-auth-subject" && v == "s"), "{headers:?}");
    }
}

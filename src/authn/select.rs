//! The authenticator registry: which authenticator, of those a route accepts, handles a request.
//!
//! Each authenticator looks at what the request presents, without verifying anything, and
//! answers *not mine* or *mine*. They are asked in the route's order (the registry's order when the
//! route lists none), and the first that answers *mine* is the only one that runs: no other
//! authenticator parses, fetches or verifies anything for the request (as Ory Oathkeeper's
//! authenticator chains do). A credential that no accepted authenticator claims is refused before
//! any cryptography or I/O.
//!
//! A new credential type is one new [`Authenticator`] variant (with its `claims` arm), one
//! authenticator module, and one arm in the shell's dispatch.

use super::AuthnError;

/// An authenticator a route may accept, as written in `routes[].authenticators`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authenticator {
    /// A JWT from any configured issuer, or from this one.
    Jwt(Option<String>),
    /// An API key.
    ApiKey,
    /// A browser session.
    Session,
}

/// The registry, in the order authenticators are asked on a route that names none.
pub static REGISTRY: [Authenticator; 3] = [Authenticator::ApiKey, Authenticator::Jwt(None), Authenticator::Session];

impl Authenticator {
    /// Parses `jwt`, `jwt:<issuer>`, `api_key` or `session`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "jwt" => Ok(Self::Jwt(None)),
            "api_key" => Ok(Self::ApiKey),
            "session" => Ok(Self::Session),
            _ => match text.strip_prefix("jwt:") {
                Some(issuer) if !issuer.is_empty() => Ok(Self::Jwt(Some(issuer.to_owned()))),
                _ => Err(format!("unknown authenticator {text:?}: expected jwt, jwt:<issuer>, api_key or session")),
            },
        }
    }

    /// Whether this authenticator claims the request: *mine* (with the credential it would
    /// verify) or *not mine*. A malformed `Authorization` header is an error only for the
    /// authenticators that read it.
    fn claims<'r>(&self, offered: &Offered<'r>) -> Result<Option<Credential<'r>>, AuthnError> {
        Ok(match self {
            Authenticator::ApiKey => match offered.api_key_header {
                Some(key) => Some(Credential::ApiKey(key)),
                None => match offered.bearer()? {
                    Some(Bearer::ApiKey(key)) => Some(Credential::ApiKey(key)),
                    _ => None,
                },
            },
            Authenticator::Jwt(_) => match offered.bearer()? {
                Some(Bearer::Jwt(token)) => Some(Credential::Jwt(token)),
                _ => None,
            },
            Authenticator::Session => offered.session_cookie.then_some(Credential::Session),
        })
    }
}

/// What a request presents, read from its headers without verifying anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered<'r> {
    /// The API key from the configured API key header (`X-API-Key`), when API keys are on.
    pub api_key_header: Option<&'r str>,
    /// The bearer token from `Authorization` (`Ok(None)` without one; an error when malformed).
    pub authorization: Result<Option<&'r str>, AuthnError>,
    /// This deployment's API key prefix, when API keys are on: a bearer token with it is a key.
    pub api_key_prefix: Option<&'r str>,
    /// Whether the request carries a session cookie and login is configured.
    pub session_cookie: bool,
}

/// A bearer token, told apart by its form.
enum Bearer<'r> {
    ApiKey(&'r str),
    Jwt(&'r str),
}

impl<'r> Offered<'r> {
    fn bearer(&self) -> Result<Option<Bearer<'r>>, AuthnError> {
        let Some(token) = self.authorization.clone()? else { return Ok(None) };
        let is_key = self.api_key_prefix.is_some_and(|prefix| super::api_key::format::has_prefix(prefix, token));
        Ok(Some(if is_key { Bearer::ApiKey(token) } else { Bearer::Jwt(token) }))
    }

    /// Whether the request presents any credential that is not a session cookie.
    fn presents_a_token(&self) -> bool {
        self.api_key_header.is_some() || matches!(self.authorization, Ok(Some(_)))
    }
}

/// The credential the selected authenticator verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'r> {
    /// An API key, from `X-API-Key` or a bearer token with the deployment's prefix.
    ApiKey(&'r str),
    /// Any other bearer token: a JWT, to be verified against the route's issuers.
    Jwt(&'r str),
    /// The session cookie.
    Session,
}

/// The one authenticator that runs for a request, and what it may accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected<'r, 'c> {
    /// The credential to verify.
    pub credential: Credential<'r>,
    /// For a JWT: the issuers the route accepts, or `None` for every configured issuer.
    pub issuers: Option<Vec<&'c str>>,
}

impl Selected<'_, '_> {
    /// Whether a JWT from `issuer` (the configured issuer its untrusted `iss` picked) may be
    /// verified for this route. Asked before any key is fetched.
    pub fn accepts_issuer(&self, issuer: &str) -> bool {
        self.issuers.as_ref().is_none_or(|issuers| issuers.contains(&issuer))
    }
}

/// Asks the route's authenticators (`accepted`; empty means the registry) in order, and returns
/// the first that claims the request.
///
/// - Nothing claimed, and nothing but perhaps a session cookie presented: [`AuthnError::Missing`].
/// - Nothing claimed, but a token the route does not take: [`AuthnError::NotAccepted`], before the
///   token is parsed or verified.
/// - A malformed `Authorization` header, read by an authenticator the route accepts:
///   [`AuthnError::MalformedAuthorization`].
pub fn select<'r, 'c>(accepted: &'c [Authenticator], offered: &Offered<'r>) -> Result<Selected<'r, 'c>, AuthnError> {
    let order: &'c [Authenticator] = if accepted.is_empty() { &REGISTRY } else { accepted };
    for authenticator in order {
        if let Some(credential) = authenticator.claims(offered)? {
            let issuers = match credential {
                Credential::Jwt(_) => jwt_issuers(order),
                _ => None,
            };
            return Ok(Selected { credential, issuers });
        }
    }
    if offered.presents_a_token() {
        return Err(AuthnError::NotAccepted);
    }
    Err(AuthnError::Missing)
}

/// The issuers a route's JWT authenticators accept: `None` when one of them takes any issuer.
fn jwt_issuers(order: &[Authenticator]) -> Option<Vec<&str>> {
    let mut issuers = Vec::new();
    for authenticator in order {
        match authenticator {
            Authenticator::Jwt(None) => return None,
            Authenticator::Jwt(Some(issuer)) => issuers.push(issuer.as_str()),
            _ => {}
        }
    }
    Some(issuers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Authenticator::{ApiKey, Jwt, Session};

    const KEY: &str = "pk_test_abcdefghijkl_secret";
    const JWT: &str = "eyJ.eyJ.sig";

    fn offered(header_key: bool, bearer: Option<&'static str>, cookie: bool) -> Offered<'static> {
        Offered {
            api_key_header: header_key.then_some(KEY),
            authorization: Ok(bearer),
            api_key_prefix: Some("pk_test"),
            session_cookie: cookie,
        }
    }

    fn jwt_from(issuer: &str) -> Authenticator {
        Jwt(Some(issuer.to_owned()))
    }

    #[test]
    fn the_first_accepted_authenticator_that_claims_the_request_runs() {
        use Credential as C;
        let cases: Vec<(Vec<Authenticator>, Offered, Result<C, AuthnError>)> = vec![
            // The registry order when the route names none: API key header, bearer, session.
            (vec![], offered(false, None, false), Err(AuthnError::Missing)),
            (vec![], offered(true, Some(JWT), true), Ok(C::ApiKey(KEY))),
            (vec![], offered(false, Some(KEY), true), Ok(C::ApiKey(KEY))),
            (vec![], offered(false, Some(JWT), true), Ok(C::Jwt(JWT))),
            (vec![], offered(false, None, true), Ok(C::Session)),
            // Only the route's authenticators: a JWT on an API-key route is refused unverified.
            (vec![ApiKey], offered(false, Some(JWT), false), Err(AuthnError::NotAccepted)),
            (vec![ApiKey], offered(false, None, true), Err(AuthnError::Missing)),
            (vec![Jwt(None)], offered(true, None, false), Err(AuthnError::NotAccepted)),
            (vec![Jwt(None)], offered(false, Some(KEY), false), Err(AuthnError::NotAccepted)),
            (vec![Session], offered(false, Some(JWT), false), Err(AuthnError::NotAccepted)),
            (vec![Jwt(None), ApiKey], offered(true, Some(JWT), false), Ok(C::Jwt(JWT))),
            // The route's order decides between two credentials.
            (vec![Session, Jwt(None)], offered(false, Some(JWT), true), Ok(C::Session)),
            (vec![Jwt(None), Session], offered(false, Some(JWT), true), Ok(C::Jwt(JWT))),
            (vec![Session, Jwt(None)], offered(false, Some(JWT), false), Ok(C::Jwt(JWT))),
        ];
        for (accepted, offered, expected) in cases {
            let got = select(&accepted, &offered).map(|selected| selected.credential);
            assert_eq!(got, expected, "{accepted:?} {offered:?}");
        }
    }

    #[test]
    fn a_malformed_authorization_header_matters_only_to_the_authenticators_that_read_it() {
        let malformed = |header_key: bool, cookie: bool| Offered {
            authorization: Err(AuthnError::MalformedAuthorization),
            ..offered(header_key, None, cookie)
        };
        let cases: Vec<(Vec<Authenticator>, Offered, Result<Credential, AuthnError>)> = vec![
            (vec![], malformed(false, true), Err(AuthnError::MalformedAuthorization)),
            (vec![], malformed(true, false), Ok(Credential::ApiKey(KEY))),
            (vec![Session], malformed(false, true), Ok(Credential::Session)),
            (vec![Session], malformed(false, false), Err(AuthnError::Missing)),
            (vec![Jwt(None)], malformed(false, false), Err(AuthnError::MalformedAuthorization)),
        ];
        for (accepted, offered, expected) in cases {
            let got = select(&accepted, &offered).map(|selected| selected.credential);
            assert_eq!(got, expected, "{accepted:?} {offered:?}");
        }
    }

    #[test]
    fn a_route_that_names_issuers_verifies_only_their_tokens() {
        let cases: &[(Vec<Authenticator>, &str, bool)] = &[
            (vec![], "https://a", true),
            (vec![Jwt(None)], "https://a", true),
            (vec![jwt_from("https://a")], "https://a", true),
            (vec![jwt_from("https://a")], "https://b", false),
            (vec![jwt_from("https://a"), jwt_from("https://b")], "https://b", true),
            (vec![jwt_from("https://a"), Jwt(None)], "https://c", true),
        ];
        for (accepted, issuer, expected) in cases {
            let selected = select(accepted, &offered(false, Some(JWT), false)).unwrap();
            assert_eq!(selected.accepts_issuer(issuer), *expected, "{accepted:?} {issuer}");
        }
    }
}

//! Errors: the single place that maps every stage's error (each defined by its own stage) to HTTP.
//!
//! Every rejection a client can see carries a stable, lower-case `error` code and a short
//! description that never names an internal detail. What actually went wrong goes to the audit
//! log (see [`crate::audit`]), keyed by the request id that the response echoes.

use crate::accounts::AccountError;
use crate::authn::AuthnError;
use crate::authz::AuthzError;
use crate::directory::tenancy::TenancyError;
use crate::directory::DirectoryError;
use crate::gateway::cors::CorsError;
use crate::gateway::refusals::{GuardError, RouteError};
use crate::gateway::upstream::ForwardError;
use crate::login::error::LoginError;
use crate::mfa::webauthn::PasskeyError;
use std::fmt;

/// Any reason the gateway refuses to serve a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The configuration is invalid, so nothing is served (fail closed).
    ConfigInvalid,
    /// See [`GuardError`].
    Guard(GuardError),
    /// See [`RouteError`].
    Route(RouteError),
    /// See [`AuthnError`].
    Authn(AuthnError),
    /// See [`AuthzError`].
    Authz(AuthzError),
    /// The request to an edge endpoint is invalid; the messages are about the client's own input.
    InvalidBody(Vec<String>),
    /// Authenticated, but not allowed to use an edge endpoint (the management API).
    Forbidden,
    /// The edge endpoint's subject does not exist (an unknown API key id, for instance).
    NotFound,
    /// A rate limit refused the request.
    RateLimited {
        /// The rule that refused.
        rule: String,
        /// Seconds until the same request would pass (`Retry-After`); `None` when it never will.
        retry_after_s: Option<u64>,
    },
    /// See [`CorsError`].
    Cors(CorsError),
    /// See [`ForwardError`].
    Forward(ForwardError),
    /// A runtime binding or other dependency failed; fail closed.
    Unavailable,
    /// See [`LoginError`].
    Login(LoginError),
    /// See [`DirectoryError`].
    Directory(DirectoryError),
}

macro_rules! failure_from {
    ($($stage:ident => $variant:ident),* $(,)?) => {
        $(impl From<$stage> for Failure {
            fn from(error: $stage) -> Self {
                Failure::$variant(error)
            }
        })*
    };
}
failure_from!(GuardError => Guard, RouteError => Route, AuthnError => Authn, AuthzError => Authz, CorsError => Cors, ForwardError => Forward, LoginError => Login, DirectoryError => Directory);

impl From<TenancyError> for Failure {
    fn from(error: TenancyError) -> Self {
        match error {
            TenancyError::Invalid(problems) => Failure::InvalidBody(problems),
            TenancyError::Directory(error) => Failure::Directory(error),
        }
    }
}

fn login_reply(error: &LoginError) -> (u16, &'static str, &'static str) {
    match error {
        LoginError::UnknownProvider => (400, "unknown_provider", "no such sign-in provider"),
        LoginError::StateInvalid => {
            (400, "login_state_invalid", "this sign-in attempt is unknown or has expired; start again")
        }
        LoginError::Replayed => (400, "login_replayed", "this sign-in response was already used; start again"),
        LoginError::IssuerMismatch => {
            (400, "issuer_mismatch", "the sign-in response does not come from the expected provider")
        }
        LoginError::ProviderRefused(_) => (403, "login_refused", "the provider did not sign you in"),
        LoginError::MissingCode => (400, "invalid_callback", "the sign-in response is incomplete"),
        LoginError::TokenExchangeFailed(_) => (502, "token_exchange_failed", "the provider refused the sign-in"),
        LoginError::IdTokenInvalid(_) => (401, "id_token_invalid", "the provider's identity token is invalid"),
        LoginError::ProfileInvalid(_) => (401, "profile_invalid", "the provider's description of you is unusable"),
        LoginError::EmailNotAllowed => (403, "email_not_allowed", "your email address may not sign in here"),
        LoginError::AccountNotAllowed => (403, "account_not_allowed", "this account may not sign in here"),
        LoginError::ProviderUnavailable(_) => {
            (502, "provider_unavailable", "the sign-in provider could not be reached")
        }
        LoginError::EndpointRefused(_) => {
            (502, "provider_endpoint_refused", "the provider names an endpoint this gateway may not call")
        }
        LoginError::CsrfRejected => (403, "csrf_rejected", "the request did not come from this site"),
        LoginError::AccountDisabled => (403, "account_disabled", "this account is disabled"),
        LoginError::EmailInUse => {
            (409, "email_in_use", "another account uses this email; sign in with the provider you used before")
        }
        LoginError::DirectoryUnavailable(_) => (503, "directory_unavailable", "the user directory is unavailable"),
        LoginError::LogoutFailed => {
            (503, "logout_failed", "you are still signed in: signing out failed for now, so try again")
        }
        LoginError::MfaRequired => {
            (403, "mfa_required", "this sign-in provider must confirm a second factor, and it did not")
        }
        LoginError::SamlRefused(_) => {
            (401, "saml_response_invalid", "the identity provider's sign-in response is invalid")
        }
        LoginError::SamlUnsolicited => {
            (400, "saml_unsolicited", "sign-ins with this identity provider must start here; start again")
        }
        LoginError::SamlLogoutRefused(_) => {
            (400, "saml_logout_invalid", "the identity provider's sign-out message is invalid")
        }
        LoginError::StepUpNotMet => (
            401,
            "step_up_not_met",
            "the sign-in provider did not complete the stronger or more recent sign-in this page needs",
        ),
    }
}

/// What an account page says about a refused submission: status, stable code, and the words for
/// the person (several for a password that breaks several rules).
pub fn account_reply(error: &AccountError) -> (u16, &'static str, Vec<String>) {
    let one = |status, code, text: &str| (status, code, vec![text.to_owned()]);
    match error {
        AccountError::Form(form) => (400, form.code(), vec![capitalised(&form.to_string())]),
        AccountError::UnknownTenant => one(404, "unknown_tenant", "This organisation has no email sign-in."),
        AccountError::EmailNotAllowed => {
            one(403, "email_not_allowed", "Email addresses of this domain may not sign up here.")
        }
        AccountError::Policy(failures) => (400, "password_policy", failures.iter().map(ToString::to_string).collect()),
        AccountError::Breached(times) => (
            400,
            "password_breached",
            vec![format!(
                "This password has appeared in data breaches ({times} times), so attackers know it. Choose another."
            )],
        ),
        AccountError::BreachCheckUnavailable => one(
            503,
            "breach_check_unavailable",
            "New passwords cannot be checked against known breaches right now. Try again in a few minutes.",
        ),
        AccountError::Incorrect => one(401, "sign_in_failed", "Email or password is incorrect."),
        AccountError::Wait(seconds) => {
            (429, "too_many_attempts", vec![format!("Too many attempts. Wait {seconds} seconds, then try again.")])
        }
        AccountError::Disabled => one(403, "account_disabled", "This account is disabled."),
        AccountError::LinkInvalid => one(400, "link_invalid", "This link is not valid any longer. Ask for a new one."),
        AccountError::EmailInUse => {
            one(409, "email_in_use", "This email already has an account: sign in, or reset its password.")
        }
        AccountError::CsrfRejected => one(403, "csrf_rejected", "The form did not come from this site. Reload it."),
        AccountError::MailUnavailable => {
            one(503, "mail_unavailable", "We could not send the email, so nothing was saved. Try again.")
        }
        AccountError::Unavailable => {
            one(503, "temporarily_unavailable", "Something we depend on is unavailable. Try again in a moment.")
        }
        AccountError::CodeIncorrect => one(401, "code_incorrect", "That code is not right, or was used already."),
        AccountError::SecondFactorExpired => {
            one(401, "second_factor_expired", "This sign-in took too long or is already complete. Sign in again.")
        }
        AccountError::EnrolmentExpired => {
            one(400, "enrolment_expired", "This set-up page is out of date. Start again with a new code.")
        }
        AccountError::SecondFactorNeeded => {
            one(403, "second_factor_needed", "Sign in again with your second factor before you change it.")
        }
        AccountError::RecentSignInNeeded => {
            one(403, "recent_sign_in_needed", "Sign in again before you add a second factor: your sign-in is too old.")
        }
        AccountError::Passkey(PasskeyError::Malformed(_)) => {
            one(400, "passkey_malformed", "The browser sent a passkey response we cannot read. Try again.")
        }
        AccountError::Passkey(PasskeyError::CeremonyExpired) => {
            one(400, "ceremony_expired", "This passkey request is out of date or was used already. Try again.")
        }
        AccountError::Passkey(PasskeyError::UnknownCredential) => {
            one(401, "passkey_unknown", "That passkey is not registered to an account here.")
        }
        AccountError::Passkey(_) => one(401, "passkey_rejected", "That passkey could not be verified."),
        AccountError::PasskeyExists => one(409, "passkey_exists", "That passkey is registered already."),
        AccountError::NoPasskey => one(400, "no_passkey", "There is no passkey to sign in with."),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

/// What a client is told about a [`Failure`]: status, stable code and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// HTTP status code.
    pub status: u16,
    /// Stable machine-readable code, the `error` member of the JSON body.
    pub code: &'static str,
    /// Human-readable description, the `error_description` member. Never holds internals.
    pub description: &'static str,
}

impl Failure {
    /// The one mapping from failures to HTTP replies.
    pub fn reply(&self) -> ErrorReply {
        let (status, code, description) = match self {
            Failure::ConfigInvalid => (503, "config_invalid", "the gateway is not configured correctly"),
            Failure::Unavailable => (503, "temporarily_unavailable", "a dependency of the gateway is unavailable"),
            Failure::Guard(GuardError::UrlTooLong) => (414, "url_too_long", "the request URL is too long"),
            Failure::Guard(GuardError::HeadersTooLarge) => {
                (431, "headers_too_large", "the request headers are too large")
            }
            Failure::Guard(GuardError::BodyTooLarge) => (413, "body_too_large", "the request body is too large"),
            Failure::Guard(GuardError::BodyNotAllowed) => {
                (400, "body_not_allowed", "a GET or HEAD request cannot carry a body")
            }
            Failure::Guard(GuardError::AmbiguousPath) => {
                (400, "ambiguous_path", "the request path is not in canonical form")
            }
            Failure::Guard(GuardError::Malformed(_)) => (400, "malformed_request", "the request is malformed"),
            Failure::Guard(GuardError::MethodOverride) => {
                (400, "method_override_refused", "method override headers are not accepted")
            }
            Failure::Route(RouteError::NoRoute) => (404, "no_route", "no route serves this request"),
            Failure::Route(RouteError::MethodNotAllowed) => {
                (405, "method_not_allowed", "the method is not allowed here")
            }
            Failure::Route(RouteError::UnknownEdgePath) => (404, "not_found", "no such gateway endpoint"),
            Failure::Route(RouteError::WebSocketNotAllowed) => {
                (400, "websocket_not_allowed", "this route does not take WebSocket upgrades")
            }
            Failure::Route(RouteError::WebSocketOriginDenied) => {
                (403, "websocket_origin_denied", "WebSocket connections from this origin are not allowed")
            }
            Failure::Authn(AuthnError::Missing) => {
                (401, "unauthenticated", "authentication is required for this route")
            }
            Failure::Authn(AuthnError::NotAccepted) => {
                (403, "authenticator_not_allowed", "this route does not accept this kind of credential")
            }
            Failure::Authn(AuthnError::MalformedAuthorization) => {
                (400, "invalid_request", "the authorization header is malformed")
            }
            Failure::Authn(AuthnError::InvalidToken(_) | AuthnError::InvalidApiKey(_)) => {
                (401, "invalid_token", "the access token is invalid")
            }
            Failure::Authn(AuthnError::Unavailable(_)) => {
                (503, "temporarily_unavailable", "a dependency of the gateway is unavailable")
            }
            Failure::Authn(AuthnError::InvalidSession(_)) => {
                (401, "invalid_session", "the session is invalid or has ended; sign in again")
            }
            Failure::Login(error) => login_reply(error),
            Failure::Directory(DirectoryError::UserNotFound) => (404, "user_not_found", "no such user in this tenant"),
            Failure::Directory(DirectoryError::TenantNotFound) => (404, "tenant_not_found", "no such tenant"),
            Failure::Directory(DirectoryError::TenantExists) => (409, "tenant_exists", "a tenant with this id exists"),
            Failure::Directory(DirectoryError::DomainClaimed) => {
                (409, "domain_claimed", "another tenant has verified this domain")
            }
            Failure::Directory(DirectoryError::DomainNotFound) => {
                (404, "domain_not_found", "this tenant has not claimed this domain")
            }
            Failure::Directory(DirectoryError::DomainNotVerified { .. }) => {
                (409, "domain_not_verified", "the domain's TXT record was not found; publish it and try again")
            }
            Failure::Directory(DirectoryError::ResolverUnavailable(_)) => {
                (503, "dns_unavailable", "the DNS resolver did not answer; try again")
            }
            Failure::Directory(DirectoryError::InvalidFilter(_)) => {
                (400, "invalid_filter", "the filter is malformed or names an attribute that cannot be filtered on")
            }
            Failure::Directory(DirectoryError::SetupLinkUnknown) => {
                (404, "setup_link_invalid", "this setup link is not valid: ask for a new one")
            }
            Failure::Directory(DirectoryError::SetupLinkUsed) => {
                (410, "setup_link_used", "this setup link was already used: ask for a new one")
            }
            Failure::Directory(DirectoryError::SetupLinkExpired) => {
                (410, "setup_link_expired", "this setup link has expired: ask for a new one")
            }
            Failure::Directory(DirectoryError::SetupSessionRequired) => {
                (401, "setup_session_required", "open a setup link to continue")
            }
            Failure::Directory(DirectoryError::ConnectionInUse) => {
                (409, "connection_in_use", "users have signed in with this connection: it can no longer change")
            }
            Failure::Directory(DirectoryError::Unavailable(_)) => {
                (503, "directory_unavailable", "the user directory is unavailable")
            }
            Failure::Authz(AuthzError::StepUpRequired { .. }) => {
                (401, "insufficient_user_authentication", "this route needs a stronger or more recent sign-in")
            }
            Failure::Authz(error) => (
                403,
                error.code(),
                match error {
                    AuthzError::InsufficientScope { .. } => "the credential lacks a scope this route requires",
                    AuthzError::AuthenticatorNotAllowed => "this route does not accept this kind of credential",
                    AuthzError::TenantMismatch => "the request addresses another tenant",
                    AuthzError::MissingRole => "the principal lacks a role this route requires",
                    AuthzError::MissingPermission => "the principal lacks a permission this route requires",
                    AuthzError::ClaimCondition(_) => "the principal does not meet this route's conditions",
                    AuthzError::StepUpRequired { .. } => "this route needs a stronger or more recent sign-in",
                },
            ),
            Failure::InvalidBody(_) => (400, "invalid_request_body", "the request body is invalid"),
            Failure::Forbidden => (403, "forbidden", "the credential may not use this endpoint"),
            Failure::NotFound => (404, "not_found", "no such resource"),
            Failure::RateLimited { .. } => {
                (429, "rate_limited", "too many requests; retry after the time in Retry-After")
            }
            Failure::Cors(_) => (403, "cors_rejected", "the cross-origin request is not allowed"),
            Failure::Forward(ForwardError::Unreachable) => {
                (502, "origin_unreachable", "the origin could not be reached")
            }
            Failure::Forward(ForwardError::Timeout) => (504, "origin_timeout", "the origin did not respond in time"),
        };
        ErrorReply { status, code, description }
    }

    /// The `WWW-Authenticate` challenge for a 401 or a bearer `invalid_request` (RFC 6750 §3).
    pub fn www_authenticate(&self) -> Option<String> {
        let error = match self {
            Failure::Authn(AuthnError::Missing) => None,
            Failure::Authn(AuthnError::MalformedAuthorization) => Some("invalid_request"),
            Failure::Authn(AuthnError::InvalidToken(_) | AuthnError::InvalidApiKey(_)) => Some("invalid_token"),
            Failure::Authz(AuthzError::InsufficientScope { required }) => {
                return Some(format!(
                    "Bearer realm=\"portcullis\", error=\"insufficient_scope\", scope=\"{}\"",
                    required.join(" ")
                ));
            }
            Failure::Authz(AuthzError::StepUpRequired { challenge, .. }) => return Some(challenge.clone()),
            _ => return None,
        };
        Some(match error {
            None => "Bearer realm=\"portcullis\"".to_owned(),
            Some(error) => format!("Bearer realm=\"portcullis\", error=\"{error}\""),
        })
    }

    /// The JSON body of the reply: `{"error": ..., "error_description": ..., "request_id": ...}`.
    pub fn json_body(&self, request_id: &str) -> String {
        let reply = self.reply();
        let mut body = serde_json::json!({
            "error": reply.code,
            "error_description": reply.description,
            "request_id": request_id,
        });
        if let Failure::InvalidBody(problems) = self {
            body["problems"] = serde_json::json!(problems);
        }
        if let Failure::Directory(DirectoryError::DomainNotVerified { found }) = self {
            body["found"] = serde_json::json!(found);
        }
        body.to_string()
    }
}

impl fmt::Display for Failure {
    /// The internal reason, for the audit log; more specific than the client-facing code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Guard(GuardError::Malformed(what)) => write!(f, "malformed request: {what}"),
            Failure::Cors(CorsError::OriginNotAllowed) => f.write_str("cors: origin not allowed"),
            Failure::Cors(CorsError::MethodNotAllowed) => f.write_str("cors: method not allowed"),
            Failure::Cors(CorsError::HeaderNotAllowed) => f.write_str("cors: header not allowed"),
            Failure::Authn(error) => error.fmt(f),
            Failure::Authz(error) => error.fmt(f),
            Failure::RateLimited { rule, .. } => write!(f, "rate_limited: {rule}"),
            Failure::Login(error) => write!(f, "{}: {error:?}", self.reply().code),
            Failure::Directory(DirectoryError::InvalidFilter(reason)) => write!(f, "invalid_filter: {reason}"),
            other => f.write_str(other.reply().code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_maps_to_a_4xx_or_5xx_with_a_stable_code() {
        let cases: &[(Failure, u16, &str)] = &[
            (Failure::ConfigInvalid, 503, "config_invalid"),
            (Failure::Unavailable, 503, "temporarily_unavailable"),
            (GuardError::UrlTooLong.into(), 414, "url_too_long"),
            (GuardError::HeadersTooLarge.into(), 431, "headers_too_large"),
            (GuardError::BodyTooLarge.into(), 413, "body_too_large"),
            (GuardError::BodyNotAllowed.into(), 400, "body_not_allowed"),
            (GuardError::AmbiguousPath.into(), 400, "ambiguous_path"),
            (GuardError::MethodOverride.into(), 400, "method_override_refused"),
            (GuardError::Malformed("content-length").into(), 400, "malformed_request"),
            (RouteError::NoRoute.into(), 404, "no_route"),
            (RouteError::MethodNotAllowed.into(), 405, "method_not_allowed"),
            (RouteError::UnknownEdgePath.into(), 404, "not_found"),
            (RouteError::WebSocketNotAllowed.into(), 400, "websocket_not_allowed"),
            (RouteError::WebSocketOriginDenied.into(), 403, "websocket_origin_denied"),
            (AuthnError::Missing.into(), 401, "unauthenticated"),
            (AuthnError::MalformedAuthorization.into(), 400, "invalid_request"),
            (AuthnError::NotAccepted.into(), 403, "authenticator_not_allowed"),
            (AuthnError::InvalidToken(crate::authn::jwt::error::JwtError::Expired).into(), 401, "invalid_token"),
            (AuthnError::Unavailable(crate::authn::Dependency::Keys).into(), 503, "temporarily_unavailable"),
            (AuthzError::InsufficientScope { required: vec!["a".into()] }.into(), 403, "insufficient_scope"),
            (Failure::InvalidBody(vec![]), 400, "invalid_request_body"),
            (Failure::Forbidden, 403, "forbidden"),
            (Failure::NotFound, 404, "not_found"),
            (Failure::RateLimited { rule: "r".into(), retry_after_s: Some(1) }, 429, "rate_limited"),
            (CorsError::OriginNotAllowed.into(), 403, "cors_rejected"),
            (ForwardError::Unreachable.into(), 502, "origin_unreachable"),
            (ForwardError::Timeout.into(), 504, "origin_timeout"),
            (AuthnError::InvalidSession(crate::session::SessionError::Revoked).into(), 401, "invalid_session"),
            (DirectoryError::UserNotFound.into(), 404, "user_not_found"),
            (DirectoryError::TenantNotFound.into(), 404, "tenant_not_found"),
            (DirectoryError::TenantExists.into(), 409, "tenant_exists"),
            (DirectoryError::DomainClaimed.into(), 409, "domain_claimed"),
            (DirectoryError::DomainNotFound.into(), 404, "domain_not_found"),
            (DirectoryError::DomainNotVerified { found: vec![] }.into(), 409, "domain_not_verified"),
            (
                DirectoryError::ResolverUnavailable(crate::ports::Unavailable("doh".into())).into(),
                503,
                "dns_unavailable",
            ),
            (DirectoryError::InvalidFilter("x".into()).into(), 400, "invalid_filter"),
            (DirectoryError::Unavailable(crate::ports::Unavailable("d1".into())).into(), 503, "directory_unavailable"),
            (LoginError::UnknownProvider.into(), 400, "unknown_provider"),
            (LoginError::StateInvalid.into(), 400, "login_state_invalid"),
            (LoginError::Replayed.into(), 400, "login_replayed"),
            (LoginError::IssuerMismatch.into(), 400, "issuer_mismatch"),
            (LoginError::ProviderRefused("access_denied".into()).into(), 403, "login_refused"),
            (LoginError::MissingCode.into(), 400, "invalid_callback"),
            (LoginError::TokenExchangeFailed("invalid_grant".into()).into(), 502, "token_exchange_failed"),
            (LoginError::IdTokenInvalid("bad_signature".into()).into(), 401, "id_token_invalid"),
            (LoginError::ProfileInvalid("no subject".into()).into(), 401, "profile_invalid"),
            (LoginError::EmailNotAllowed.into(), 403, "email_not_allowed"),
            (LoginError::AccountNotAllowed.into(), 403, "account_not_allowed"),
            (LoginError::ProviderUnavailable("timeout".into()).into(), 502, "provider_unavailable"),
            (LoginError::EndpointRefused("token_endpoint".into()).into(), 502, "provider_endpoint_refused"),
            (LoginError::CsrfRejected.into(), 403, "csrf_rejected"),
            (LoginError::AccountDisabled.into(), 403, "account_disabled"),
            (LoginError::EmailInUse.into(), 409, "email_in_use"),
            (LoginError::DirectoryUnavailable("d1".into()).into(), 503, "directory_unavailable"),
            (LoginError::LogoutFailed.into(), 503, "logout_failed"),
            (LoginError::StepUpNotMet.into(), 401, "step_up_not_met"),
            (LoginError::MfaRequired.into(), 403, "mfa_required"),
            (LoginError::SamlRefused("saml_audience").into(), 401, "saml_response_invalid"),
            (LoginError::SamlUnsolicited.into(), 400, "saml_unsolicited"),
            (LoginError::SamlLogoutRefused("signature_invalid").into(), 400, "saml_logout_invalid"),
        ];
        for (failure, status, code) in cases {
            let reply = failure.reply();
            assert_eq!((reply.status, reply.code), (*status, *code), "{failure:?}");
        }
    }

    #[test]
    fn second_factor_refusals_have_their_codes() {
        let cases = [
            (AccountError::SecondFactorExpired, 401, "second_factor_expired"),
            (AccountError::SecondFactorNeeded, 403, "second_factor_needed"),
            (AccountError::RecentSignInNeeded, 403, "recent_sign_in_needed"),
            (AccountError::CodeIncorrect, 401, "code_incorrect"),
        ];
        for (error, status, code) in cases {
            let (got_status, got_code, messages) = account_reply(&error);
            assert_eq!((got_status, got_code), (status, code), "{error:?}");
            assert!(!messages.is_empty());
        }
    }

    #[test]
    fn bearer_challenges_follow_rfc_6750() {
        let cases: &[(Failure, Option<&str>)] = &[
            (AuthnError::Missing.into(), Some("Bearer realm=\"portcullis\"")),
            (AuthnError::MalformedAuthorization.into(), Some("Bearer realm=\"portcullis\", error=\"invalid_request\"")),
            (
                AuthnError::InvalidToken(crate::authn::jwt::error::JwtError::BadSignature).into(),
                Some("Bearer realm=\"portcullis\", error=\"invalid_token\""),
            ),
            (AuthnError::Unavailable(crate::authn::Dependency::Keys).into(), None),
            (Failure::ConfigInvalid, None),
        ];
        for (failure, expected) in cases {
            assert_eq!(failure.www_authenticate().as_deref(), *expected, "{failure:?}");
        }
    }

    #[test]
    fn json_body_carries_code_description_and_request_id_only() {
        let body: serde_json::Value =
            serde_json::from_str(&Failure::Guard(GuardError::Malformed("content-length")).json_body("r1")).unwrap();
        assert_eq!(body["error"], "malformed_request");
        assert_eq!(body["request_id"], "r1");
        assert!(!body.to_string().contains("content-length"), "internal detail leaked: {body}");
    }
}

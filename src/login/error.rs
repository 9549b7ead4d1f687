//! Why a browser login failed; [`crate::error`] maps each to its status and stable code.

/// The browser login flow failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    /// No provider by that id.
    UnknownProvider,
    /// No valid login ticket for this callback: another browser, an expired or tampered ticket,
    /// or a `state` that does not match (CSRF).
    StateInvalid,
    /// The `state` or the code was already used.
    Replayed,
    /// RFC 9207: the `iss` parameter is missing or names another issuer (mix-up).
    IssuerMismatch,
    /// The provider answered with an error (the user declined, for instance).
    ProviderRefused(String),
    /// The callback has no code.
    MissingCode,
    /// The token endpoint refused the code, or answered nonsense.
    TokenExchangeFailed(String),
    /// The ID token failed verification; the reason is for the log.
    IdTokenInvalid(String),
    /// The profile has no usable subject, or userinfo is about someone else.
    ProfileInvalid(String),
    /// The user's email is not in the provider's allowed domains.
    EmailNotAllowed,
    /// The account lacks a required claim value (another Google Workspace domain, another
    /// Entra tenant).
    AccountNotAllowed,
    /// The provider (discovery, token or userinfo endpoint) could not be reached.
    ProviderUnavailable(String),
    /// A tenant's connection's discovery document names an endpoint the gateway may not call
    /// (one of the deployment's own hosts, or in production an internal address).
    EndpointRefused(String),
    /// A state-changing request came from another origin or without the session's token.
    CsrfRejected,
    /// The directory's user is blocked or deprovisioned.
    AccountDisabled,
    /// Another user of the tenant has this email, and this identity may not be linked to it.
    EmailInUse,
    /// The directory could not be reached: the login fails closed.
    DirectoryUnavailable(String),
    /// A step-up asked the provider for a recent (`max_age`) or stronger (`acr_values`) sign-in,
    /// and its ID token's `auth_time` or `acr` says it did not do it.
    StepUpNotMet,
    /// The provider must confirm a second factor (`authentication.require_mfa`), and what it
    /// says is not believed to show one.
    MfaRequired,
    /// A store failed while a session was being ended: it is still alive, and the user is told so.
    LogoutFailed,
    /// A SAML response (or its form) is refused; the stable reason (`saml_audience`,
    /// `signature_invalid`, `xml_doctype`, ...) is for the log.
    SamlRefused(&'static str),
    /// A SAML response that answers no request of this browser, from a provider that does not
    /// allow IdP-initiated login.
    SamlUnsolicited,
    /// A Single Logout message (or its query string) is refused; the stable reason is for the
    /// log.
    SamlLogoutRefused(&'static str),
}

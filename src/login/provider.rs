//! One identity provider of the `login` section: how it is spoken to (OpenID Connect or OAuth 2.0),
//! its client, the claims of its profiles, and who may sign in through it; raw configuration to
//! compiled [`Provider`].

use crate::authn::jwt::alg::Alg;
use crate::deploy::Environment;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Problems found while reading the section: (path relative to `login`, message).
pub type Problems = Vec<(String, String)>;
/// How a provider is spoken to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenID Connect: endpoints and keys from `{issuer}/.well-known/openid-configuration`.
    Oidc {
        /// The exact issuer identifier.
        issuer: String,
        /// ID token algorithms accepted.
        algorithms: Vec<Alg>,
        /// Clock leeway for the ID token's times.
        leeway_s: i64,
        /// Also read the userinfo endpoint (OIDC Core 5.3), merging its claims; its `sub` must
        /// match the ID token's.
        userinfo: bool,
    },
    /// OAuth 2.0 without ID tokens: identity from the userinfo endpoint.
    OAuth2 {
        /// Where browsers are sent.
        authorization_endpoint: String,
        /// Where codes are exchanged.
        token_endpoint: String,
        /// Who the access token belongs to.
        userinfo_endpoint: String,
        /// A list of `{email, primary, verified}` (GitHub's `/user/emails`), for a verified
        /// primary email when the profile has none.
        emails_endpoint: Option<String>,
    },
    /// SAML 2.0 (Web Browser SSO): an `AuthnRequest` over HTTP-Redirect, the response POSTed to
    /// the provider's own ACS, `{redirect_uri}/{id}`.
    Saml(Box<crate::saml::config::SamlSettings>),
}

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic with the form-encoded id and secret (the default).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// Where a provider's profile claims are (names or dotted paths).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileClaims {
    /// The stable subject; default `sub` for `oidc`, `id` for `oauth2` (GitHub's). Numbers are accepted.
    pub subject: String,
    /// The email address; `email` by default.
    pub email: String,
    /// Whether the email is verified: an email counts only when this claim is `true`. `null`: the provider
    /// only returns verified addresses. Default `email_verified` for `oidc`, `null` for `oauth2`.
    pub email_verified: Option<String>,
    /// The display name; `name` by default.
    pub name: String,
    /// Groups: an array, or a space-separated string; `groups` by default.
    pub groups: String,
    /// The tenant; `tenant` by default.
    pub tenant: String,
}

impl ProfileClaims {
    fn defaults(oidc: bool) -> Self {
        Self {
            subject: if oidc { "sub" } else { "id" }.into(),
            email: "email".into(),
            email_verified: oidc.then(|| "email_verified".into()),
            name: "name".into(),
            groups: "groups".into(),
            tenant: "tenant".into(),
        }
    }
}

/// One identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// A short id, used in URLs and the session.
    pub id: String,
    /// OIDC or OAuth 2.0.
    pub kind: ProviderKind,
    /// Shown on the login page.
    pub display_name: String,
    /// An icon for the login page: a same-origin path or a `data:` URL.
    pub icon: Option<String>,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The name of the secret binding holding the client secret.
    pub client_secret_binding: String,
    /// How the client authenticates at the token endpoint.
    pub client_auth: ClientAuth,
    /// Scopes requested.
    pub scopes: Vec<String>,
    /// Where the profile's claims are.
    pub claims: ProfileClaims,
    /// When not empty, only users whose verified email is in one of these domains may log in.
    pub allowed_email_domains: Vec<String>,
    /// Home-realm discovery: an email in one of these domains selects this provider.
    pub email_domains: Vec<String>,
    /// Extra authorisation request parameters (`hd`, `prompt`, `access_type`, ...).
    pub authorization_params: BTreeMap<String, String>,
    /// Whether the provider has a redirect URI of its own, `{redirect_uri}/{id}` (the default for
    /// `oauth2` providers, which cannot say who answered: RFC 9700 §4.4.2's mix-up defence).
    pub own_redirect_uri: bool,
    /// Claims the profile must carry with exactly these values (Google's `hd` for a Workspace
    /// domain, an Entra `tid`); checked on the verified claims, never on request parameters.
    pub required_claims: BTreeMap<String, String>,
    /// The tenant whose directory this provider's logins are provisioned into, if any.
    pub directory: Option<DirectoryLink>,
    /// How far its word on how its users authenticated (`amr`, `acr`) is taken.
    pub authentication: super::authentication::AuthenticationTrust,
}

/// Where a provider's users live in the directory.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryLink {
    /// The tenant's id: 1 to 64 characters of a-z, 0-9, `-` and `_`. Required.
    pub tenant: String,
    /// Link a new identity to the tenant's user with the same verified email (off by default:
    /// see the README's "Directory").
    #[serde(default)]
    pub link_by_email: bool,
    /// Trust an email only when its domain is one the tenant has verified. Off (the default): trust it unless
    /// another tenant has verified its domain (a tenant's IdP never speaks for another's users).
    #[serde(default)]
    pub verified_domains_only: bool,
    /// The tenant keeps its groups with SCIM Groups: a login leaves the user's memberships as
    /// they are, rather than replacing them with the login's groups. Off by default.
    #[serde(default)]
    pub groups_from_scim: bool,
}

/// Parameters Portcullis sets itself, which `authorization_params` may not override.
pub const RESERVED_AUTHORIZATION_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "login_hint",
    "response_mode",
    "request",
    "request_uri",
];

impl Provider {
    /// Whether verified claims carry every required value.
    pub fn meets_required_claims(&self, claims: &serde_json::Map<String, Value>) -> bool {
        self.required_claims.iter().all(|(path, expected)| {
            crate::authn::jwt::claims::lookup(claims, path).and_then(Value::as_str) == Some(expected.as_str())
        })
    }

    /// Whether a user with this (verified) email may log in through this provider.
    pub fn allows_email(&self, email: Option<&str>) -> bool {
        if self.allowed_email_domains.is_empty() {
            return true;
        }
        email.and_then(email_domain).is_some_and(|domain| self.allowed_email_domains.contains(&domain))
    }

    /// Who vouches for a session's subject, for the origin (`X-Auth-Issuer`, the assertion's
    /// `idp`): the OIDC issuer, or an OAuth 2.0 provider's authorisation server origin. Subjects
    /// are only unique per issuer, so the origin must key users on both.
    pub fn identity_issuer(&self) -> String {
        match &self.kind {
            ProviderKind::Oidc { issuer, .. } => issuer.clone(),
            ProviderKind::OAuth2 { authorization_endpoint, .. } => url::Url::parse(authorization_endpoint)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_else(|_| format!("urn:portcullis:provider:{}", self.id)),
            ProviderKind::Saml(settings) => settings.idp_entity_id.clone(),
        }
    }
}

/// The lower-cased domain of an email address (`None` unless it has exactly one `@`).
pub fn email_domain(email: &str) -> Option<String> {
    let (local, domain) = email.trim().split_once('@')?;
    if local.is_empty() || domain.is_empty() || domain.contains('@') {
        return None;
    }
    Some(domain.to_ascii_lowercase())
}

/// One identity provider for browser login: OpenID Connect (`oidc`), plain OAuth 2.0 (`oauth2`) or SAML 2.0
/// (`saml`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(extend("allOf" = [
    { "if": { "properties": { "type": { "description": "An oidc or oauth2 provider", "enum": ["oidc", "oauth2"] } } },
      "then": { "required": ["client_id", "client_secret"] } },
    { "if": { "properties": { "type": { "description": "A saml provider", "const": "saml" } } }, "then": { "required": ["saml"] } }
])))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvider {
    /// A short id, unique among providers, used in URLs (`?provider=`) and sessions: 1 to 32 characters of
    /// a-z, 0-9, `-` and `_`, not starting with `con_`. Required.
    id: String,
    /// `oidc` (endpoints and keys from the issuer's discovery document), `oauth2` (endpoints named here,
    /// identity from the userinfo endpoint) or `saml` (the IdP in `saml`). Required.
    #[serde(rename = "type")]
    kind: String,
    /// The provider's name on the login page. Default: the `id`.
    display_name: Option<String>,
    /// An icon for the login page: a same-origin path or a `data:image/` URL. None by default.
    icon: Option<String>,
    /// `oidc` only, and required there: the exact issuer identifier, an https URL (http in development);
    /// discovery is read from `{issuer}/.well-known/openid-configuration`.
    issuer: Option<String>,
    /// `oidc` only: the ID token algorithms accepted, asymmetric only (RS256/384/512, PS256/384/512, ES256,
    /// ES384, EdDSA). Default `["RS256", "ES256"]`.
    algorithms: Option<Vec<String>>,
    /// `oidc` only: clock leeway for the ID token's times, in seconds. Default 30, at most 300.
    leeway_s: Option<u32>,
    /// `oidc` only: also read the userinfo endpoint and merge its claims (its `sub` must be the ID token's).
    /// Default true.
    userinfo: Option<bool>,
    /// `oauth2` only, and required there: where browsers are sent to sign in; https (http in development).
    authorization_endpoint: Option<String>,
    /// `oauth2` only, and required there: where the code is exchanged for tokens; https (http in development).
    token_endpoint: Option<String>,
    /// `oauth2` only, and required there: the profile of the access token's owner (GitHub's `/user`).
    userinfo_endpoint: Option<String>,
    /// `oauth2` only, optional: a list of `{email, primary, verified}` (GitHub's `/user/emails`) whose verified
    /// primary address is the user's email, unless the profile has one and `claims.email_verified` is mapped.
    emails_endpoint: Option<String>,
    /// `oidc` and `oauth2`: the client id registered at the provider. Required there, non-empty.
    #[serde(default)]
    client_id: String,
    /// `oidc` and `oauth2`: the NAME of the Worker secret that holds the client secret (letters, digits and
    /// `_`, such as `OIDC_CORP_SECRET`), never the secret itself. Required there.
    #[serde(default)]
    client_secret: String,
    /// How the client authenticates at the token endpoint. Default `client_secret_basic`.
    client_auth: Option<ClientAuth>,
    /// Scopes requested, tokens without spaces. Default `["openid", "email", "profile"]` for `oidc` (which
    /// must include `openid`), none for `oauth2`.
    scopes: Option<Vec<String>>,
    /// Where the profile's claims are (`subject`, `email`, `email_verified`, `name`, `groups`, `tenant`);
    /// keys set here override the defaults: the OIDC names, with `id` as the subject for `oauth2`.
    #[cfg_attr(feature = "schema", schemars(with = "Option<ClaimOverrides>"))]
    claims: Option<Value>,
    /// When not empty, only a verified email in one of these lower-case domains may sign in (else 403
    /// `email_not_allowed`); `oauth2` also needs `emails_endpoint` or `claims.email_verified`. Empty by default.
    #[serde(default)]
    allowed_email_domains: Vec<String>,
    /// Home-realm discovery: an email (`/auth/login?email=`) in one of these lower-case domains selects this
    /// provider; a domain may select only one provider. Empty by default.
    #[serde(default)]
    email_domains: Vec<String>,
    /// Whether the provider has a redirect URI of its own, `{redirect_uri}/{id}`, to register at the provider
    /// (mix-up defence). Default true for `oauth2`, false for `oidc`.
    own_redirect_uri: Option<bool>,
    /// Extra parameters for the authorisation request, name to value (`hd`, `prompt`, `access_type`, ...);
    /// never one Portcullis sets itself (`state`, `scope`, `redirect_uri`, ...). None by default.
    #[serde(default)]
    authorization_params: BTreeMap<String, String>,
    /// Claims (names or dotted paths) the verified profile must carry with exactly these string values
    /// (Google's `hd`, an Entra `tid`); otherwise 403 `account_not_allowed`. None by default.
    #[serde(default)]
    required_claims: BTreeMap<String, String>,
    /// Provision this provider's users just in time into a tenant's directory. None by default: no directory.
    directory: Option<DirectoryLink>,
    /// `oidc` (and `saml`, whose `AuthnContextClassRef` is its `acr`; `trust_amr` is `oidc` only): how far
    /// the provider's word on how its users authenticated is believed (whether its logins can meet a
    /// route's `mfa`), and what to ask for at a step-up. Nothing by default: no `amr`.
    #[serde(default)]
    authentication: super::authentication::AuthenticationTrust,
    /// `saml` only, and required there: the IdP.
    saml: Option<crate::saml::config::RawSamlSettings>,
}

/// The schema of a provider's `claims` (see [`ProfileClaims`]): each key overrides one default.
#[cfg(feature = "schema")]
#[derive(schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // a description for schemars only: `claims` is merged over the defaults
struct ClaimOverrides {
    /// The claim holding the stable subject: `sub` for OIDC, `id` for `oauth2` by default.
    subject: Option<String>,
    /// The claim holding the email address (default `email`).
    email: Option<String>,
    /// The claim saying the email is verified, which must then be `true` for the email to count
    /// (default `email_verified` for `oidc`, `null` for `oauth2`), or `null`: not checked.
    #[serde(default)]
    #[schemars(schema_with = "nullable_string")]
    email_verified: Option<Option<String>>,
    /// The claim holding the display name (default `name`).
    name: Option<String>,
    /// The claim holding the groups, an array or a space-separated string (default `groups`).
    groups: Option<String>,
    /// The claim holding the tenant (default `tenant`).
    tenant: Option<String>,
}

#[cfg(feature = "schema")]
fn nullable_string(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "anyOf": [{ "type": "string" }, { "const": null }] })
}

/// The binding name a stored connection's settings hold in place of a secret's: the secret is the
/// sealed one of its row (see `connection.rs`).
pub const SEALED_SECRET: &str = "SEALED_IN_DIRECTORY";

/// A provider from a stored connection's settings (a provider's configuration object whose
/// `client_secret` names no binding: the shell holds the sealed secret). Every problem at once.
pub fn provider_from_settings(settings: &Value, environment: Environment) -> Result<Provider, Problems> {
    let raw: RawProvider = serde_path_to_error::deserialize(settings)
        .map_err(|error| vec![(error.path().to_string(), error.into_inner().to_string())])?;
    let mut problems = Problems::new();
    match parse_provider("", raw, environment, &mut problems) {
        Some(provider) if problems.is_empty() => Ok(provider),
        _ => Err(problems
            .into_iter()
            .map(|(path, message)| (path.trim_start_matches('.').to_owned(), message))
            .collect()),
    }
}

pub(crate) fn check_url(problems: &mut Problems, path: &str, text: &str, environment: Environment) {
    match url::Url::parse(text) {
        Ok(url) if url.scheme() == "https" => {}
        Ok(url) if url.scheme() == "http" && environment == Environment::Development => {}
        Ok(_) => problems.push((path.into(), format!("{text:?} must be an https URL"))),
        Err(_) => problems.push((path.into(), format!("{text:?} is not a URL"))),
    }
}

pub(super) fn is_page_asset(text: &str) -> bool {
    (text.starts_with('/') && !text.starts_with("//")) || text.starts_with("data:image/")
}

fn is_domain(text: &str) -> bool {
    !text.is_empty()
        && text == text.to_ascii_lowercase()
        && text
            .split('.')
            .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

pub(super) fn parse_provider(
    path: &str,
    raw: RawProvider,
    environment: Environment,
    problems: &mut Problems,
) -> Option<Provider> {
    let before = problems.len();
    let id_ok = !raw.id.is_empty()
        && raw.id.len() <= 32
        && raw.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !id_ok {
        problems.push((format!("{path}.id"), "1 to 32 characters of a-z, 0-9, - and _".into()));
    }
    // `con_` ids are the directory's stored connections' (whose secret is sealed there); a
    // configured provider never takes one, or its sessions would be admitted as a connection's.
    if raw.id.starts_with("con_") && raw.client_secret != SEALED_SECRET {
        problems.push((format!("{path}.id"), "ids starting with con_ are the directory's connections'".into()));
    }
    if let Some(link) = &raw.directory {
        // The directory stores and links by email: the provider must vouch for it.
        let verified_claim = raw.claims.as_ref().and_then(|claims| claims.get("email_verified"));
        let vouches = match raw.kind.as_str() {
            // OIDC's email_verified claim is mapped by default; mapping it away is refused here.
            "oidc" => !verified_claim.is_some_and(Value::is_null),
            // A SAML IdP's assertion is its signed word, the email included.
            "saml" => true,
            _ => raw.emails_endpoint.is_some() || verified_claim.is_some_and(Value::is_string),
        };
        if !vouches {
            problems.push((
                format!("{path}.directory"),
                "the provider's emails may be unverified: map claims.email_verified (or, for oauth2, set emails_endpoint)".into(),
            ));
        }
        if !crate::directory::tenant_id_ok(&link.tenant) {
            problems.push((format!("{path}.directory.tenant"), "1 to 64 characters of a-z, 0-9, - and _".into()));
        }
    }
    let oidc = raw.kind == "oidc";
    let saml = raw.kind == "saml";
    if !saml && raw.saml.is_some() {
        problems.push((format!("{path}.saml"), "only a saml provider has SAML settings".into()));
    }
    let mut raw = raw;
    let kind = match raw.kind.as_str() {
        "saml" => {
            let client_fields = [
                ("issuer", raw.issuer.is_some()),
                ("algorithms", raw.algorithms.is_some()),
                ("leeway_s", raw.leeway_s.is_some()),
                ("userinfo", raw.userinfo.is_some()),
                ("authorization_endpoint", raw.authorization_endpoint.is_some()),
                ("token_endpoint", raw.token_endpoint.is_some()),
                ("userinfo_endpoint", raw.userinfo_endpoint.is_some()),
                ("emails_endpoint", raw.emails_endpoint.is_some()),
                ("client_id", !raw.client_id.is_empty()),
                // (A tenant's stored SAML connection says its secret is sealed: an empty one.)
                ("client_secret", !raw.client_secret.is_empty() && raw.client_secret != SEALED_SECRET),
                ("client_auth", raw.client_auth.is_some()),
                ("scopes", raw.scopes.is_some()),
                ("claims", raw.claims.is_some()),
                ("own_redirect_uri", raw.own_redirect_uri.is_some()),
                ("authorization_params", !raw.authorization_params.is_empty()),
                ("required_claims", !raw.required_claims.is_empty()),
            ];
            for (field, present) in client_fields {
                if present {
                    problems.push((format!("{path}.{field}"), "a saml provider's settings are in `saml`".into()));
                }
            }
            if raw.authentication.trust_amr {
                problems.push((format!("{path}.authentication.trust_amr"), "SAML has no amr: map acr values".into()));
            }
            let Some(settings) = raw.saml.take() else {
                problems.push((format!("{path}.saml"), "a saml provider needs its IdP's settings".into()));
                return None;
            };
            // An email the IdP does not vouch for decides nothing.
            if !settings.trust_email {
                let why = "needs saml.trust_email: otherwise the assertion's email is not kept";
                if !raw.allowed_email_domains.is_empty() {
                    problems.push((format!("{path}.allowed_email_domains"), why.into()));
                }
                if raw.directory.as_ref().is_some_and(|link| link.link_by_email) {
                    problems.push((format!("{path}.directory.link_by_email"), why.into()));
                }
            }
            let checker =
                |problems: &mut Problems, field: &str, url: &str| check_url(problems, field, url, environment);
            let compiled = crate::saml::config::SamlSettings::compile(
                settings,
                &format!("{path}.saml"),
                environment,
                problems,
                checker,
            );
            ProviderKind::Saml(Box::new(compiled?))
        }
        "oidc" => {
            for (field, present) in [
                ("authorization_endpoint", raw.authorization_endpoint.is_some()),
                ("token_endpoint", raw.token_endpoint.is_some()),
                ("userinfo_endpoint", raw.userinfo_endpoint.is_some()),
                ("emails_endpoint", raw.emails_endpoint.is_some()),
            ] {
                if present {
                    problems
                        .push((format!("{path}.{field}"), "an oidc provider's endpoints come from discovery".into()));
                }
            }
            let issuer = raw.issuer.clone().unwrap_or_default();
            if issuer.is_empty() {
                problems.push((format!("{path}.issuer"), "an oidc provider needs its issuer".into()));
            } else {
                check_url(problems, &format!("{path}.issuer"), &issuer, environment);
            }
            let names = raw.algorithms.clone().unwrap_or_else(|| vec!["RS256".into(), "ES256".into()]);
            let mut algorithms = Vec::new();
            for (index, name) in names.iter().enumerate() {
                match Alg::parse(name).filter(|alg| !alg.is_symmetric()) {
                    Some(alg) => algorithms.push(alg),
                    None => problems.push((
                        format!("{path}.algorithms[{index}]"),
                        format!("{name:?} is not an asymmetric JWS algorithm"),
                    )),
                }
            }
            let leeway_s = raw.leeway_s.unwrap_or(30);
            if leeway_s > 300 {
                problems.push((format!("{path}.leeway_s"), "at most 300 seconds".into()));
            }
            ProviderKind::Oidc {
                issuer,
                algorithms,
                leeway_s: i64::from(leeway_s),
                userinfo: raw.userinfo.unwrap_or(true),
            }
        }
        "oauth2" => {
            if raw.issuer.is_some() || raw.algorithms.is_some() {
                problems.push((format!("{path}.issuer"), "an oauth2 provider has no issuer or ID tokens".into()));
            }
            let mut endpoint = |field: &str, value: &Option<String>, required: bool| -> Option<String> {
                match value {
                    Some(text) => {
                        check_url(problems, &format!("{path}.{field}"), text, environment);
                        Some(text.clone())
                    }
                    None if required => {
                        problems.push((format!("{path}.{field}"), "an oauth2 provider needs this endpoint".into()));
                        None
                    }
                    None => None,
                }
            };
            let authorization_endpoint = endpoint("authorization_endpoint", &raw.authorization_endpoint, true);
            let token_endpoint = endpoint("token_endpoint", &raw.token_endpoint, true);
            let userinfo_endpoint = endpoint("userinfo_endpoint", &raw.userinfo_endpoint, true);
            let emails_endpoint = endpoint("emails_endpoint", &raw.emails_endpoint, false);
            ProviderKind::OAuth2 {
                authorization_endpoint: authorization_endpoint.unwrap_or_default(),
                token_endpoint: token_endpoint.unwrap_or_default(),
                userinfo_endpoint: userinfo_endpoint.unwrap_or_default(),
                emails_endpoint,
            }
        }
        other => {
            problems.push((format!("{path}.type"), format!("{other:?}: expected \"oidc\", \"oauth2\" or \"saml\"")));
            return None;
        }
    };
    if !saml && raw.client_id.is_empty() {
        problems.push((format!("{path}.client_id"), "must not be empty".into()));
    }
    let secret_name_ok =
        !raw.client_secret.is_empty() && raw.client_secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !saml && !secret_name_ok {
        problems.push((
            format!("{path}.client_secret"),
            "the name of the secret binding that holds the client secret, such as \"OIDC_CORP_SECRET\"".into(),
        ));
    }
    let scopes = raw.scopes.unwrap_or_else(|| {
        if oidc {
            vec!["openid".into(), "email".into(), "profile".into()]
        } else {
            Vec::new()
        }
    });
    if oidc && !scopes.iter().any(|s| s == "openid") {
        problems.push((format!("{path}.scopes"), "an oidc provider needs the openid scope".into()));
    }
    if scopes.iter().any(|s| s.is_empty() || s.contains(' ')) {
        problems.push((format!("{path}.scopes"), "scopes are tokens without spaces".into()));
    }
    let verified_mapped = raw.claims.as_ref().and_then(|c| c.get("email_verified")).is_some_and(Value::is_string);
    let claims = match raw.claims {
        None => ProfileClaims::defaults(oidc),
        Some(value) if !value.is_object() => {
            problems.push((format!("{path}.claims"), "an object mapping profile fields to claim names".into()));
            ProfileClaims::defaults(oidc)
        }
        Some(value) => {
            let mut merged =
                serde_json::to_value(ProfileClaimsDefaults::from(ProfileClaims::defaults(oidc))).unwrap_or(Value::Null);
            if let (Some(base), Some(overrides)) = (merged.as_object_mut(), value.as_object()) {
                for (key, value) in overrides {
                    base.insert(key.clone(), value.clone());
                }
            }
            match serde_path_to_error::deserialize::<_, ProfileClaims>(&merged) {
                Ok(claims) => claims,
                Err(error) => {
                    problems.push((format!("{path}.claims.{}", error.path()), error.into_inner().to_string()));
                    ProfileClaims::defaults(oidc)
                }
            }
        }
    };
    for (field, list) in [("allowed_email_domains", &raw.allowed_email_domains), ("email_domains", &raw.email_domains)]
    {
        for (index, domain) in list.iter().enumerate() {
            if !is_domain(domain) {
                problems.push((format!("{path}.{field}[{index}]"), format!("{domain:?} is not a lower-case domain")));
            }
        }
    }
    if !oidc && !saml && !raw.allowed_email_domains.is_empty() && raw.emails_endpoint.is_none() && !verified_mapped {
        problems.push((
            format!("{path}.allowed_email_domains"),
            "an oauth2 provider's profile email may be unverified: set emails_endpoint, or map claims.email_verified"
                .into(),
        ));
    }
    for name in raw.authorization_params.keys() {
        if RESERVED_AUTHORIZATION_PARAMS.contains(&name.as_str()) {
            problems
                .push((format!("{path}.authorization_params.{name}"), "Portcullis sets this parameter itself".into()));
        }
    }
    if raw.authentication.believes_provider() && !oidc && !saml {
        problems
            .push((format!("{path}.authentication"), "only an oidc provider says how its users authenticated".into()));
    }
    problems.extend(raw.authentication.problems(&format!("{path}.authentication")));
    if let Some(icon) = &raw.icon {
        if !is_page_asset(icon) {
            problems.push((format!("{path}.icon"), "a same-origin path or a data:image/ URL".into()));
        }
    }
    if problems.len() != before {
        return None;
    }
    Some(Provider {
        display_name: raw.display_name.unwrap_or_else(|| raw.id.clone()),
        id: raw.id,
        kind,
        icon: raw.icon,
        client_id: raw.client_id,
        client_secret_binding: raw.client_secret,
        client_auth: raw.client_auth.unwrap_or(ClientAuth::ClientSecretBasic),
        scopes,
        claims,
        allowed_email_domains: raw.allowed_email_domains,
        email_domains: raw.email_domains,
        authorization_params: raw.authorization_params,
        required_claims: raw.required_claims,
        // An oauth2 provider cannot say who answered (mix-up); a SAML response is POSTed to its
        // provider's own ACS.
        own_redirect_uri: saml || raw.own_redirect_uri.unwrap_or(!oidc),
        directory: raw.directory,
        authentication: raw.authentication,
    })
}

/// Serializable twin of [`ProfileClaims`], so overrides merge onto the defaults.
#[derive(serde::Serialize)]
struct ProfileClaimsDefaults {
    subject: String,
    email: String,
    email_verified: Option<String>,
    name: String,
    groups: String,
    tenant: String,
}

impl From<ProfileClaims> for ProfileClaimsDefaults {
    fn from(c: ProfileClaims) -> Self {
        Self {
            subject: c.subject,
            email: c.email,
            email_verified: c.email_verified,
            name: c.name,
            groups: c.groups,
            tenant: c.tenant,
        }
    }
}

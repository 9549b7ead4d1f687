//! Calls to an identity provider over the [`HttpClient`] port: discovery, the token endpoint
//! (RFC 6749 §4.1.3 and §6, client authentication per §2.3.1), userinfo, GitHub-style emails, and
//! token revocation (RFC 7009). Caching discovery documents is the caller's business.

use super::error::LoginError;
use super::oidc::{self, Discovery, ExpectedIssuer};
use super::profile::{self, TokenError, TokenResponse};
use super::provider::{ClientAuth, Provider, ProviderKind};
use crate::deploy::Environment;
use crate::ports::{HttpClient, InboundResponse, Method, OutboundRequest};
use crate::secret::SecretString;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use url::form_urlencoded;

/// A provider's endpoints, from discovery (OIDC) or configuration (OAuth 2.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Where browsers are sent.
    pub authorization: String,
    /// Where codes are exchanged.
    pub token: String,
    /// Who the access token belongs to.
    pub userinfo: Option<String>,
    /// RP-initiated logout.
    pub end_session: Option<String>,
    /// Token revocation (RFC 7009).
    pub revocation: Option<String>,
    /// The ID token's keys (OIDC).
    pub jwks_uri: Option<String>,
    /// The issuer (OIDC).
    pub issuer: Option<String>,
    /// RFC 9207: `iss` is promised in every authorisation response.
    pub iss_parameter_supported: bool,
}

impl Endpoints {
    /// An OAuth 2.0 provider's endpoints, from its configuration; `None` for an OIDC provider,
    /// whose endpoints come from [`Endpoints::discovered`].
    pub fn configured(provider: &Provider) -> Option<Self> {
        match &provider.kind {
            ProviderKind::OAuth2 { authorization_endpoint, token_endpoint, userinfo_endpoint, .. } => Some(Self {
                authorization: authorization_endpoint.clone(),
                token: token_endpoint.clone(),
                userinfo: Some(userinfo_endpoint.clone()),
                end_session: None,
                revocation: None,
                jwks_uri: None,
                issuer: None,
                iss_parameter_supported: false,
            }),
            // The IdP's SSO URL; a SAML provider has no other endpoint.
            ProviderKind::Saml(settings) => Some(Self {
                authorization: settings.sso_url.clone(),
                token: String::new(),
                userinfo: None,
                end_session: None,
                revocation: None,
                jwks_uri: None,
                issuer: Some(settings.idp_entity_id.clone()),
                iss_parameter_supported: false,
            }),
            ProviderKind::Oidc { .. } => None,
        }
    }

    /// An OpenID Provider's endpoints, from its checked discovery document.
    pub fn discovered(discovery: &Discovery) -> Self {
        Self {
            authorization: discovery.authorization_endpoint.clone(),
            token: discovery.token_endpoint.clone(),
            userinfo: discovery.userinfo_endpoint.clone(),
            end_session: discovery.end_session_endpoint.clone(),
            revocation: discovery.revocation_endpoint.clone(),
            jwks_uri: Some(discovery.jwks_uri.clone()),
            issuer: Some(discovery.issuer.clone()),
            iss_parameter_supported: discovery.authorization_response_iss_parameter_supported,
        }
    }

    /// What RFC 9207 expects of an authorisation response.
    pub fn expected_issuer(&self) -> ExpectedIssuer<'_> {
        ExpectedIssuer { issuer: self.issuer.as_deref(), required: self.iss_parameter_supported }
    }
}

fn get(url: &str, headers: Vec<(String, String)>) -> OutboundRequest {
    OutboundRequest { method: Method::Get, url: url.to_owned(), headers, body: None }
}

/// Fetches and checks an issuer's discovery document (OIDC Discovery §4); the reason on failure
/// is for the log.
pub async fn discover(http: &impl HttpClient, issuer: &str, environment: Environment) -> Result<Discovery, String> {
    let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    match http.send(get(&url, Vec::new())).await {
        Ok(InboundResponse { status: 200, body }) => oidc::parse_discovery(&body, issuer, environment),
        Ok(InboundResponse { status, .. }) => Err(format!("discovery status {status}")),
        Err(unavailable) => Err(unavailable.0),
    }
}

/// A grant to redeem at the token endpoint.
pub enum Grant<'a> {
    /// An authorisation code, with the PKCE verifier and the redirect URI it was issued for.
    Code {
        /// The code.
        code: &'a SecretString,
        /// The PKCE code verifier.
        verifier: &'a SecretString,
        /// The exact redirect URI.
        redirect_uri: &'a str,
    },
    /// A refresh token (RFC 6749 §6).
    Refresh(&'a str),
}

impl std::fmt::Debug for Grant<'_> {
    /// The kind of grant only: never the code, the verifier or the refresh token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Grant::Code { .. } => "Grant::Code([redacted])",
            Grant::Refresh(_) => "Grant::Refresh([redacted])",
        })
    }
}

/// A form POST authenticated as the client (RFC 6749 §2.3.1): `client_secret_basic` puts the
/// form-encoded id and secret in `Authorization`, `client_secret_post` in the form.
fn client_form(
    provider: &Provider,
    secret: &SecretString,
    url: &str,
    mut form: form_urlencoded::Serializer<'_, String>,
) -> OutboundRequest {
    let mut headers = vec![("content-type".to_owned(), "application/x-www-form-urlencoded".to_owned())];
    match provider.client_auth {
        ClientAuth::ClientSecretBasic => {
            let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
            let credentials = STANDARD.encode(format!("{}:{}", encode(&provider.client_id), encode(secret.expose())));
            headers.push(("authorization".to_owned(), format!("Basic {credentials}")));
        }
        ClientAuth::ClientSecretPost => {
            form.append_pair("client_id", &provider.client_id).append_pair("client_secret", secret.expose());
        }
    }
    OutboundRequest { method: Method::Post, url: url.to_owned(), headers, body: Some(form.finish()) }
}

/// Redeems a grant at the token endpoint, authenticating as the client.
pub async fn redeem(
    http: &impl HttpClient,
    provider: &Provider,
    client_secret: &SecretString,
    token_endpoint: &str,
    grant: Grant<'_>,
) -> Result<TokenResponse, LoginError> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    match grant {
        Grant::Code { code, verifier, redirect_uri } => {
            form.append_pair("grant_type", "authorization_code")
                .append_pair("code", code.expose())
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("code_verifier", verifier.expose());
        }
        Grant::Refresh(refresh_token) => {
            form.append_pair("grant_type", "refresh_token").append_pair("refresh_token", refresh_token);
        }
    }
    let request = client_form(provider, client_secret, token_endpoint, form);
    let answer = http.send(request).await.map_err(|unavailable| LoginError::ProviderUnavailable(unavailable.0))?;
    if answer.status >= 500 {
        return Err(LoginError::ProviderUnavailable(format!("token endpoint status {}", answer.status)));
    }
    profile::parse_token_response(&answer.body).map_err(|error| match error {
        TokenError::Refused(code) => LoginError::TokenExchangeFailed(code),
        TokenError::Malformed => LoginError::TokenExchangeFailed(format!("malformed answer, status {}", answer.status)),
    })
}

/// Revokes a token at the provider (RFC 7009); returns the outcome, for the log.
pub async fn revoke(
    http: &impl HttpClient,
    provider: &Provider,
    client_secret: &SecretString,
    endpoint: &str,
    token: &str,
    hint: &str,
) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("token", token).append_pair("token_type_hint", hint);
    match http.send(client_form(provider, client_secret, endpoint, form)).await {
        Ok(InboundResponse { status: 200, .. }) => "revoked".to_owned(),
        Ok(InboundResponse { status, .. }) => format!("status {status}"),
        Err(unavailable) => unavailable.0,
    }
}

/// GETs a JSON document with the access token (userinfo, GitHub's emails).
pub async fn get_with_token(http: &impl HttpClient, url: &str, access_token: &str) -> Result<Value, LoginError> {
    let headers = vec![("authorization".to_owned(), format!("Bearer {access_token}"))];
    let answer =
        http.send(get(url, headers)).await.map_err(|unavailable| LoginError::ProviderUnavailable(unavailable.0))?;
    match answer.status {
        200 => {
            serde_json::from_slice(&answer.body).map_err(|_| LoginError::ProfileInvalid("userinfo is not JSON".into()))
        }
        401 | 403 => Err(LoginError::ProfileInvalid(format!("userinfo refused the token ({})", answer.status))),
        status => Err(LoginError::ProviderUnavailable(format!("userinfo status {status}"))),
    }
}

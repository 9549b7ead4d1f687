//! Talking to identity providers: discovery (cached per isolate), the token endpoint, userinfo
//! and GitHub-style emails, and ID token verification with the bearer JWT verifier.

use super::http::fetch_with_timeout;
use super::jwt_verifier::verify_jwt_with;
use crate::authn::jwt::issuer::{ClaimNames, Issuer, JwtConfig, KeySource};
use crate::authn::AuthnError;
use crate::config::Config;
use crate::deploy::Environment;
use crate::login::config::{ClientAuth, Provider, ProviderKind};
use crate::login::error::LoginError;
use crate::login::oidc::{self, Discovery, ExpectedIssuer};
use crate::login::profile::{self, TokenError, TokenResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use url::form_urlencoded;
use worker::{console_warn, Env, Headers, Method, Request, RequestInit, RequestRedirect};

/// How long a provider call may take.
const CALL_TIMEOUT_MS: u64 = 10_000;
/// The most a provider answer may weigh.
const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// Discovery documents are fresh for an hour, and used up to a day old when refetching fails.
const DISCOVERY_FRESH_MS: f64 = 3_600_000.0;
const DISCOVERY_STALE_MS: f64 = 86_400_000.0;

thread_local! {
    static DISCOVERY: RefCell<HashMap<String, (Rc<Discovery>, f64)>> = RefCell::new(HashMap::new());
}

/// A provider's endpoints, from discovery (OIDC) or configuration (OAuth 2.0).
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
    /// The issuer, and whether `iss` is promised in authorisation responses.
    pub issuer: Option<String>,
    /// RFC 9207 support.
    pub iss_parameter_supported: bool,
}

impl Endpoints {
    /// What RFC 9207 expects of an authorisation response.
    pub fn expected_issuer(&self) -> ExpectedIssuer<'_> {
        ExpectedIssuer { issuer: self.issuer.as_deref(), required: self.iss_parameter_supported }
    }
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The provider's endpoints; for OIDC, from its (cached) discovery document.
pub async fn endpoints(provider: &Provider, environment: Environment) -> Result<Endpoints, LoginError> {
    match &provider.kind {
        ProviderKind::OAuth2 { authorization_endpoint, token_endpoint, userinfo_endpoint, .. } => Ok(Endpoints {
            authorization: authorization_endpoint.clone(),
            token: token_endpoint.clone(),
            userinfo: Some(userinfo_endpoint.clone()),
            end_session: None,
            revocation: None,
            jwks_uri: None,
            issuer: None,
            iss_parameter_supported: false,
        }),
        ProviderKind::Oidc { issuer, .. } => {
            let discovery = discovery(issuer, environment).await?;
            Ok(Endpoints {
                authorization: discovery.authorization_endpoint.clone(),
                token: discovery.token_endpoint.clone(),
                userinfo: discovery.userinfo_endpoint.clone(),
                end_session: discovery.end_session_endpoint.clone(),
                revocation: discovery.revocation_endpoint.clone(),
                jwks_uri: Some(discovery.jwks_uri.clone()),
                issuer: Some(discovery.issuer.clone()),
                iss_parameter_supported: discovery.authorization_response_iss_parameter_supported,
            })
        }
    }
}

/// The endpoints a login or logout page may send the browser to, for its CSP `form-action`: the
/// issuer, and the discovered authorisation and end-session endpoints when this isolate has them.
pub fn page_endpoints(provider: &Provider) -> Vec<String> {
    match &provider.kind {
        ProviderKind::OAuth2 { authorization_endpoint, .. } => vec![authorization_endpoint.clone()],
        ProviderKind::Oidc { issuer, .. } => {
            let mut endpoints = vec![issuer.clone()];
            DISCOVERY.with(|d| {
                if let Some((doc, _)) = d.borrow().get(issuer) {
                    endpoints.push(doc.authorization_endpoint.clone());
                    endpoints.extend(doc.end_session_endpoint.clone());
                }
            });
            endpoints
        }
    }
}

async fn discovery(issuer: &str, environment: Environment) -> Result<Rc<Discovery>, LoginError> {
    let cached = DISCOVERY.with(|d| d.borrow().get(issuer).map(|(doc, at)| (Rc::clone(doc), *at)));
    if let Some((doc, at)) = &cached {
        if now_ms() - at < DISCOVERY_FRESH_MS {
            return Ok(Rc::clone(doc));
        }
    }
    let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    let fetched = match call(Method::Get, &url, Headers::new(), None).await {
        Ok((200, body)) => oidc::parse_discovery(&body, issuer, environment),
        Ok((status, _)) => Err(format!("discovery status {status}")),
        Err(reason) => Err(reason),
    };
    match fetched {
        Ok(doc) => {
            let doc = Rc::new(doc);
            DISCOVERY.with(|d| d.borrow_mut().insert(issuer.to_owned(), (Rc::clone(&doc), now_ms())));
            Ok(doc)
        }
        Err(reason) => {
            console_warn!(
                "{}",
                serde_json::json!({ "event": "oidc_discovery_failed", "issuer": issuer, "reason": reason })
            );
            match cached {
                Some((doc, at)) if now_ms() - at < DISCOVERY_STALE_MS => Ok(doc),
                _ => Err(LoginError::ProviderUnavailable(reason)),
            }
        }
    }
}

/// Sends a request to a provider; returns the status and the body (bounded).
async fn call(method: Method, url: &str, headers: Headers, body: Option<String>) -> Result<(u16, Vec<u8>), String> {
    let set = |name: &str, value: &str| headers.set(name, value).map_err(|e| e.to_string());
    if !headers.has("accept").unwrap_or(false) {
        set("accept", "application/json")?;
    }
    // GitHub refuses API calls without a User-Agent.
    set("user-agent", "Portcullis")?;
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers).with_redirect(RequestRedirect::Manual);
    if let Some(body) = body {
        init.with_body(Some(body.into()));
    }
    let request = Request::new_with_init(url, &init).map_err(|e| e.to_string())?;
    let mut response = fetch_with_timeout(request, CALL_TIMEOUT_MS).await.map_err(|f| format!("{f:?}"))?;
    let declared = response.headers().get("content-length").ok().flatten().and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_ANSWER_BYTES) {
        return Err("answer too large".into());
    }
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if body.len() > MAX_ANSWER_BYTES {
        return Err("answer too large".into());
    }
    Ok((response.status_code(), body))
}

fn client_secret(env: &Env, provider: &Provider) -> Result<String, LoginError> {
    env.secret(&provider.client_secret_binding).map(|s| s.to_string()).map_err(|_| {
        console_warn!(
            "{}",
            serde_json::json!({ "event": "client_secret_missing", "provider": provider.id,
                                "secret": provider.client_secret_binding })
        );
        LoginError::ProviderUnavailable("client secret missing".into())
    })
}

/// A grant to redeem at the token endpoint.
pub enum Grant<'a> {
    /// An authorisation code, with the PKCE verifier and the redirect URI it was issued for.
    Code {
        /// The code.
        code: &'a str,
        /// The PKCE code verifier.
        verifier: &'a str,
        /// The exact redirect URI.
        redirect_uri: &'a str,
    },
    /// A refresh token (RFC 6749 §6).
    Refresh(&'a str),
}

/// Redeems a grant at the token endpoint, authenticating as the client.
pub async fn redeem(
    env: &Env,
    provider: &Provider,
    token_endpoint: &str,
    grant: Grant<'_>,
) -> Result<TokenResponse, LoginError> {
    let secret = client_secret(env, provider)?;
    let mut form = form_urlencoded::Serializer::new(String::new());
    match grant {
        Grant::Code { code, verifier, redirect_uri } => {
            form.append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("code_verifier", verifier);
        }
        Grant::Refresh(refresh_token) => {
            form.append_pair("grant_type", "refresh_token").append_pair("refresh_token", refresh_token);
        }
    }
    let headers = authenticated_form(provider, &secret, &mut form);
    let (status, body) = call(Method::Post, token_endpoint, headers, Some(form.finish()))
        .await
        .map_err(LoginError::ProviderUnavailable)?;
    if status >= 500 {
        return Err(LoginError::ProviderUnavailable(format!("token endpoint status {status}")));
    }
    profile::parse_token_response(&body).map_err(|error| match error {
        TokenError::Refused(code) => LoginError::TokenExchangeFailed(code),
        TokenError::Malformed => LoginError::TokenExchangeFailed(format!("malformed answer, status {status}")),
    })
}

/// Headers for a form POST authenticated as the client (RFC 6749 §2.3.1); for
/// `client_secret_post` the credentials go into `form`.
fn authenticated_form(
    provider: &Provider,
    secret: &str,
    form: &mut form_urlencoded::Serializer<'_, String>,
) -> Headers {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/x-www-form-urlencoded");
    match provider.client_auth {
        ClientAuth::ClientSecretBasic => {
            // The id and secret are form-encoded before the Basic encoding.
            let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
            let credentials = STANDARD.encode(format!("{}:{}", encode(&provider.client_id), encode(secret)));
            let _ = headers.set("authorization", &format!("Basic {credentials}"));
        }
        ClientAuth::ClientSecretPost => {
            form.append_pair("client_id", &provider.client_id).append_pair("client_secret", secret);
        }
    }
    headers
}

/// Revokes a token at the provider (RFC 7009); failures are logged, not returned.
pub async fn revoke(env: &Env, provider: &Provider, endpoint: &str, token: &str, hint: &str) {
    let Ok(secret) = client_secret(env, provider) else { return };
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("token", token).append_pair("token_type_hint", hint);
    let headers = authenticated_form(provider, &secret, &mut form);
    let outcome = match call(Method::Post, endpoint, headers, Some(form.finish())).await {
        Ok((200, _)) => "revoked".to_owned(),
        Ok((status, _)) => format!("status {status}"),
        Err(reason) => reason,
    };
    worker::console_log!(
        "{}",
        serde_json::json!({ "event": "upstream_token_revocation", "provider": provider.id, "outcome": outcome })
    );
}

/// GETs a JSON document with the access token.
pub async fn get_with_token(url: &str, access_token: &str) -> Result<Value, LoginError> {
    let headers = Headers::new();
    let _ = headers.set("authorization", &format!("Bearer {access_token}"));
    let (status, body) = call(Method::Get, url, headers, None).await.map_err(LoginError::ProviderUnavailable)?;
    match status {
        200 => serde_json::from_slice(&body).map_err(|_| LoginError::ProfileInvalid("userinfo is not JSON".into())),
        401 | 403 => Err(LoginError::ProfileInvalid(format!("userinfo refused the token ({status})"))),
        _ => Err(LoginError::ProviderUnavailable(format!("userinfo status {status}"))),
    }
}

/// Verifies an OIDC ID token (OIDC Core 3.1.3.7) with the bearer verifier (signature against the
/// provider's JWKS, algorithm, `iss`, `aud` = client id, `exp`, `iat`), then `azp` and `nonce`.
/// Returns its claims.
pub async fn verify_id_token(
    env: &Env,
    config: &Config,
    provider: &Provider,
    endpoints: &Endpoints,
    id_token: &str,
    nonce: &str,
) -> Result<Map<String, Value>, LoginError> {
    let ProviderKind::Oidc { issuer, algorithms, leeway_s, .. } = &provider.kind else {
        return Err(LoginError::IdTokenInvalid("not an OIDC provider".into()));
    };
    let jwks_uri = endpoints.jwks_uri.clone().ok_or(LoginError::IdTokenInvalid("no jwks_uri".into()))?;
    let id_config = JwtConfig {
        issuers: vec![Issuer {
            issuer: issuer.clone(),
            audiences: vec![provider.client_id.clone()],
            key_source: KeySource::JwksUrl(jwks_uri),
            algorithms: algorithms.clone(),
            leeway_s: *leeway_s,
            required_claims: vec!["sub".into(), "iat".into()],
            typ: None,
            claims: ClaimNames::default(),
        }],
        jwks_cache: config.jwt.jwks_cache.clone(),
        verified_cache_entries: 0,
    };
    let principal = verify_jwt_with(env, &id_config, id_token, |_| true).await.map_err(|error| match error {
        AuthnError::KeysUnavailable => LoginError::ProviderUnavailable("the provider's keys".into()),
        other => LoginError::IdTokenInvalid(other.to_string()),
    })?;
    let claims = principal.claims().clone();
    oidc::check_id_token(&claims, &provider.client_id, nonce)
        .map_err(|error| LoginError::IdTokenInvalid(format!("{error:?}")))?;
    Ok(claims)
}

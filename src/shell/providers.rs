//! Identity providers in the worker: discovery documents cached per isolate, client secrets from
//! bindings, and best-effort token revocation. The calls themselves are
//! [`crate::login::provider_api`]'s, over [`FetchClient`].

use super::adapters::FetchClient;
use crate::config::Config;
use crate::deploy::Environment;
use crate::directory::connections::connection_id_ok;
use crate::login::connection::{endpoints_outside, provider_outside};
use crate::login::error::LoginError;
use crate::login::oidc::Discovery;
use crate::login::provider::{Provider, ProviderKind};
use crate::login::provider_api::{self, Endpoints};
use crate::secret::SecretString;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use worker::{console_warn, Env};

/// Discovery documents are fresh for an hour, and used up to a day old when refetching fails.
const DISCOVERY_FRESH_MS: f64 = 3_600_000.0;
const DISCOVERY_STALE_MS: f64 = 86_400_000.0;

// A plain map, not `BoundedCache`: the keys are configured issuers (no request adds one), and a
// document past its freshness stays usable as stale while the provider is down.
thread_local! {
    static DISCOVERY: RefCell<HashMap<String, (Rc<Discovery>, f64)>> = RefCell::new(HashMap::new());
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The provider's endpoints; for OIDC, from its (cached) discovery document. A tenant's stored
/// connection's endpoints must also keep clear of the deployment's own hosts (and, in
/// production, of internal addresses), whatever its discovery document says.
pub async fn endpoints(provider: &Provider, config: &Config) -> Result<Endpoints, LoginError> {
    // A stored connection's own URLs are checked before anything is fetched from them.
    let stored = connection_id_ok(&provider.id)
        .then(|| config.login.as_ref().map(|login| super::connections::own_hosts(config, login)).unwrap_or_default());
    if let Some(own_hosts) = &stored {
        provider_outside(provider, config.environment, own_hosts).map_err(|problems| refused(provider, problems))?;
    }
    let endpoints = match &provider.kind {
        ProviderKind::OAuth2 { .. } | ProviderKind::Saml(_) => {
            Endpoints::configured(provider).ok_or(LoginError::UnknownProvider)?
        }
        ProviderKind::Oidc { issuer, .. } => Endpoints::discovered(&*discovery(issuer, config.environment).await?),
    };
    if let Some(own_hosts) = &stored {
        endpoints_outside(&endpoints, config.environment, own_hosts).map_err(|problems| refused(provider, problems))?;
    }
    Ok(endpoints)
}

/// A stored connection's URL that may not be used, logged with every problem.
fn refused(provider: &Provider, problems: Vec<String>) -> LoginError {
    console_warn!(
        "{}",
        serde_json::json!({ "event": "connection_endpoint_refused", "connection": provider.id, "problems": problems })
    );
    LoginError::EndpointRefused(problems.join("; "))
}

/// The endpoints a login or logout page may send the browser to, for its CSP `form-action`: the
/// issuer, and the discovered authorisation and end-session endpoints when this isolate has them.
pub fn page_endpoints(provider: &Provider) -> Vec<String> {
    match &provider.kind {
        ProviderKind::OAuth2 { authorization_endpoint, .. } => vec![authorization_endpoint.clone()],
        ProviderKind::Saml(settings) => vec![settings.sso_url.clone()],
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
    match provider_api::discover(&FetchClient, issuer, environment).await {
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

/// The provider's client secret, from its binding.
pub fn client_secret(env: &Env, provider: &Provider) -> Result<SecretString, LoginError> {
    env.secret(&provider.client_secret_binding).map(|s| SecretString::new(s.to_string())).map_err(|_| {
        console_warn!(
            "{}",
            serde_json::json!({ "event": "client_secret_missing", "provider": provider.id,
                                "secret": provider.client_secret_binding })
        );
        LoginError::ProviderUnavailable("client secret missing".into())
    })
}

/// Revokes a token at the provider (RFC 7009); failures are logged, not returned.
pub async fn revoke(env: &Env, provider: &Provider, endpoint: &str, token: &str, hint: &str) {
    let Ok(secret) = client_secret(env, provider) else { return };
    let outcome = provider_api::revoke(&FetchClient, provider, &secret, endpoint, token, hint).await;
    worker::console_log!(
        "{}",
        serde_json::json!({ "event": "upstream_token_revocation", "provider": provider.id, "outcome": outcome })
    );
}

//! The directory key, and a tenant's stored connections as login providers.

use super::adapters::{FetchClient, WorkerClock};
use super::tenants::D1Tenants;
use super::webcrypto::WebCryptoSignatures;
use crate::config::Config;
use crate::directory::connections::{connection_id_ok, Connection};
use crate::directory::tenants::TenantStore;
use crate::error::Failure;
use crate::login::connection::{provider_of, unseal};
use crate::login::error::LoginError;
use crate::login::idp_metadata::{self, ImportFailure, Importing};
use crate::login::provider::Provider;
use crate::ports::Clock;
use crate::secret::{SecretBytes, SecretString};
use worker::{console_warn, Env};

/// The secret that seals connection secrets.
pub const DIRECTORY_KEY_SECRET: &str = crate::deploy::names::DIRECTORY_KEY_SECRET;

/// The directory key; without one (at least 32 characters) nothing is sealed or opened: 503.
pub fn directory_key(env: &Env) -> Result<SecretBytes, Failure> {
    match super::bindings::key_secret(env, DIRECTORY_KEY_SECRET) {
        Some(key) => Ok(key),
        None => {
            console_warn!(
                "{}",
                serde_json::json!({ "event": "directory_key_missing", "secret": DIRECTORY_KEY_SECRET })
            );
            Err(Failure::Unavailable)
        }
    }
}

/// What a stored connection is wanted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionUse {
    /// Signing users in: only an active connection.
    SignIn,
    /// A setup link's test sign-in: also its connection while the setup is under way.
    SetupTest,
}

/// A stored connection as a login provider, with its opened client secret; `None` when `id` is
/// no stored connection (or one whose settings or secret no longer open, or one not active yet
/// when it is wanted for signing in).
pub async fn stored_provider(
    env: &Env,
    config: &Config,
    id: &str,
    wanted_for: ConnectionUse,
) -> Result<Option<(Provider, SecretString)>, LoginError> {
    match stored_connection(env, id, wanted_for).await? {
        Some(stored) => provider_of_stored(env, config, &stored),
        None => Ok(None),
    }
}

/// The stored connection with this id, as D1 holds it; `None` when there is none (or it is not
/// active yet and is wanted for signing in).
pub async fn stored_connection(
    env: &Env,
    id: &str,
    wanted_for: ConnectionUse,
) -> Result<Option<Connection>, LoginError> {
    if !connection_id_ok(id) {
        return Ok(None);
    }
    let unavailable = |reason: crate::ports::Unavailable| LoginError::DirectoryUnavailable(reason.0);
    let stored = D1Tenants(env).connection(id).await.map_err(unavailable)?;
    Ok(stored.filter(|stored| stored.active || wanted_for == ConnectionUse::SetupTest))
}

/// A stored connection as a login provider, with its client secret opened under the directory
/// key; `None` when its settings or secret no longer open.
pub fn provider_of_stored(
    env: &Env,
    config: &Config,
    stored: &Connection,
) -> Result<Option<(Provider, SecretString)>, LoginError> {
    let key =
        directory_key(env).map_err(|_| LoginError::DirectoryUnavailable("the directory key is missing".into()))?;
    let Some(mut provider) = provider_of(stored, config.environment) else { return Ok(None) };
    // A SAML connection's URLs are checked again at every use (an OIDC one's when its endpoints
    // are found): the deployment's own hosts may have grown since it was saved.
    if matches!(provider.kind, crate::login::provider::ProviderKind::Saml(_)) {
        let own = config.login.as_ref().map(|login| own_hosts(config, login)).unwrap_or_default();
        let mut refused = crate::login::connection::provider_outside(&provider, config.environment, &own);
        // The rules a connection is saved under hold at use too (a row saved before them).
        if let (Some(login), crate::login::provider::ProviderKind::Saml(settings)) = (&config.login, &provider.kind) {
            let keys = [login.saml_signing.as_ref(), login.saml_encryption.as_ref()];
            let chosen = settings.sp_entity_id.is_some() || !settings.attributes.custom.is_empty();
            if chosen || crate::saml::config::pins_an_sp_key(settings, &keys) {
                refused = Err(vec!["saml: an SP entity id of its own, or this SP's certificate pinned".into()]);
            }
        }
        if let Err(problems) = refused {
            console_warn!(
                "{}",
                serde_json::json!({ "event": "connection_url_refused", "connection": stored.id, "problems": problems })
            );
            return Ok(None);
        }
    }
    // A tenant's IdP is not believed about how its users authenticated: where the tenant must use
    // a second factor (`local_accounts`), its connections' users present one of Portcullis's.
    let tenant_requires_mfa = config.local_accounts.as_ref().is_some_and(|accounts| {
        crate::accounts::uses_local_factors(accounts, config.login.as_ref(), &stored.id, Some(&stored.tenant))
    });
    if tenant_requires_mfa {
        provider.authentication.local_factors = true;
        provider.authentication.require_mfa = true;
    }
    let Some(secret) = unseal(&key, stored) else {
        console_warn!("{}", serde_json::json!({ "event": "connection_secret_unopenable", "connection": stored.id }));
        return Ok(None);
    };
    Ok(Some((provider, secret)))
}

/// `body` with a SAML connection's settings filled from the IdP metadata it names (see
/// [`crate::login::idp_metadata`]).
pub async fn with_idp_metadata(
    config: &Config,
    login: &crate::login::config::LoginConfig,
    body: &serde_json::Value,
) -> Result<serde_json::Value, Failure> {
    let own = own_hosts(config, login);
    let importing = Importing {
        environment: config.environment,
        own_hosts: &own,
        http: &FetchClient,
        verifier: &WebCryptoSignatures,
        now_s: u64::try_from(WorkerClock.now_s()).unwrap_or_default(),
        sp_signs: login.saml_signing.is_some(),
    };
    idp_metadata::with_idp_metadata(body, importing).await.map_err(|failure| match failure {
        ImportFailure::Invalid(problems) => Failure::InvalidBody(problems),
        ImportFailure::Unavailable(_) => Failure::Unavailable,
    })
}

/// The deployment's own hosts, which a tenant's connection may not name: the gateway's (from the
/// redirect URI), the app origins' and the routes' origins'.
pub fn own_hosts(config: &Config, login: &crate::login::config::LoginConfig) -> Vec<String> {
    let authority = |url: &str| {
        url::Url::parse(url).ok().and_then(|url| {
            let host = url.host_str()?.to_ascii_lowercase();
            Some(match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
    };
    let mut hosts: Vec<String> = std::iter::once(login.redirect_uri.clone())
        .chain(login.app_origins())
        .chain(config.routes.routes().iter().map(|route| route.upstream.origin()))
        .filter_map(|url| authority(&url))
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

//! The directory key, and a tenant's stored connections as login providers.

use super::tenants::D1Tenants;
use crate::config::Config;
use crate::directory::connections::connection_id_ok;
use crate::directory::tenants::TenantStore;
use crate::error::Failure;
use crate::login::connection::{provider_of, unseal};
use crate::login::error::LoginError;
use crate::login::provider::Provider;
use crate::secret::{SecretBytes, SecretString};
use worker::{console_warn, Env};

/// The secret that seals connection secrets.
pub const DIRECTORY_KEY_SECRET: &str = "PORTCULLIS_DIRECTORY_KEY";

/// The directory key; without one (at least 32 characters) nothing is sealed or opened: 503.
pub fn directory_key(env: &Env) -> Result<SecretBytes, Failure> {
    match env.secret(DIRECTORY_KEY_SECRET) {
        Ok(secret) if secret.to_string().len() >= 32 => Ok(SecretBytes::new(secret.to_string().into_bytes())),
        _ => {
            console_warn!(
                "{}",
                serde_json::json!({ "event": "directory_key_missing", "secret": DIRECTORY_KEY_SECRET })
            );
            Err(Failure::Unavailable)
        }
    }
}

/// A stored connection as a login provider, with its opened client secret; `None` when `id` is
/// no stored connection (or one whose settings or secret no longer open).
pub async fn stored_provider(
    env: &Env,
    config: &Config,
    id: &str,
) -> Result<Option<(Provider, SecretString)>, LoginError> {
    if !connection_id_ok(id) {
        return Ok(None);
    }
    let unavailable = |reason: crate::ports::Unavailable| LoginError::DirectoryUnavailable(reason.0);
    let Some(stored) = D1Tenants(env).connection(id).await.map_err(unavailable)? else { return Ok(None) };
    let key =
        directory_key(env).map_err(|_| LoginError::DirectoryUnavailable("the directory key is missing".into()))?;
    let Some(provider) = provider_of(&stored, config.environment) else { return Ok(None) };
    let Some(secret) = unseal(&key, &stored) else {
        console_warn!("{}", serde_json::json!({ "event": "connection_secret_unopenable", "connection": stored.id }));
        return Ok(None);
    };
    Ok(Some((provider, secret)))
}

//! The names of the worker's bindings that several shell modules share, and the reading of key
//! secrets.

use crate::deploy::MIN_KEY_SECRET_LEN;
use crate::secret::SecretBytes;
use worker::Env;

/// The KV namespace: API key records, sessions.
pub const KV_BINDING: &str = crate::deploy::names::KV;

/// The key secret `name`, or `None` when it is unset or shorter than [`MIN_KEY_SECRET_LEN`].
pub fn key_secret(env: &Env, name: &str) -> Option<SecretBytes> {
    let secret = env.secret(name).ok()?.to_string();
    (secret.len() >= MIN_KEY_SECRET_LEN).then(|| SecretBytes::new(secret.into_bytes()))
}

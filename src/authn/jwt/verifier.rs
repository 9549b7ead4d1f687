//! The token verifier port: checks a JWT against a set of trusted issuers and returns the
//! principal it names. In the worker, keys come from the JWKS cache and Web Crypto checks the
//! signature; on the host, [`KeySetVerifier`] checks with the pure-Rust algorithms against a
//! fixed key set. Both run the same [`super::precheck`] and [`super::PendingJwt`] steps.

use super::issuer::JwtConfig;
use crate::authn::principal::Principal;
use crate::authn::AuthnError;

/// Verifies JWTs.
#[allow(async_fn_in_trait, reason = "the worker is single-threaded: no port future needs to be Send")]
pub trait TokenVerifier {
    /// The principal `token` names, once every check of `config` passed.
    async fn verify(&self, config: &JwtConfig, token: &str) -> Result<Principal, AuthnError>;
}

#[cfg(not(target_arch = "wasm32"))]
pub use host::KeySetVerifier;

#[cfg(not(target_arch = "wasm32"))]
mod host {
    use super::super::error::JwtError;
    use super::super::keys::{KeyMaterial, KeySet};
    use super::super::{precheck, KeyLookup};
    use super::TokenVerifier;
    use crate::authn::jwt::issuer::JwtConfig;
    use crate::authn::principal::Principal;
    use crate::authn::AuthnError;
    use crate::ports::Clock;

    /// Verifies against one fixed key set (for every issuer), at the clock's time.
    #[derive(Debug)]
    pub struct KeySetVerifier<'c, C: Clock> {
        keys: KeySet,
        clock: &'c C,
    }

    impl<'c, C: Clock> KeySetVerifier<'c, C> {
        /// A verifier trusting `keys`.
        pub fn new(keys: KeySet, clock: &'c C) -> Self {
            Self { keys, clock }
        }
    }

    impl<C: Clock> TokenVerifier for KeySetVerifier<'_, C> {
        async fn verify(&self, config: &JwtConfig, token: &str) -> Result<Principal, AuthnError> {
            let pending = precheck(config, token, self.clock.now_s())?;
            let key = match pending.find_key(&self.keys) {
                KeyLookup::Found(key) => key,
                KeyLookup::RefreshAndRetry => return Err(JwtError::UnknownKid.into()),
                KeyLookup::Refused(error) => return Err(error.into()),
            };
            let proof = match key.material {
                KeyMaterial::Hmac(_) => pending.verify_hmac(key)?,
                _ => pending.verify_rust(key)?,
            };
            Ok(pending.into_principal(proof)?)
        }
    }
}

//! Verifying a JWT in the worker: the pure verifier, with keys from the JWKS cache, signatures
//! checked by WebCrypto (HMAC in Rust), and a per-isolate cache of verified tokens.

use super::{jwks_cache, webcrypto};
use crate::authn::jwt::error::JwtError;
use crate::authn::jwt::issuer::JwtConfig;
use crate::authn::jwt::keys::KeyMaterial;
use crate::authn::jwt::signature::VerifiedSignature;
use crate::authn::jwt::verified_cache::{token_digest, VerifiedCache};
use crate::authn::jwt::{self, KeyLookup};
use crate::authn::principal::Principal;
use crate::authn::AuthnError;
use std::cell::RefCell;
use worker::Env;

thread_local! {
    /// Tokens verified in this isolate (see `verified_cache`); sized on first use from the config.
    static VERIFIED: RefCell<Option<VerifiedCache<Principal>>> = const { RefCell::new(None) };
}

/// Verifies a JWT against a set of trusted issuers (the bearer configuration, or a login
/// provider's ID token rules), of an issuer `accepts_issuer` takes. A configuration with `verified_cache_entries: 0` never touches
/// the verified-token cache.
pub async fn verify_jwt_with(
    env: &Env,
    jwt_config: &JwtConfig,
    token: &str,
    accepts_issuer: impl Fn(&str) -> bool,
) -> Result<Principal, AuthnError> {
    let now_ms = js_sys::Date::now() as u64;
    let pending = jwt::precheck(jwt_config, token, (now_ms / 1000) as i64)?;
    // A route that names its issuers never fetches keys for another's token.
    if !accepts_issuer(&pending.issuer.issuer) {
        return Err(AuthnError::NotAccepted);
    }
    let policy = &jwt_config.jwks_cache;
    let issuer_keys = jwks_cache::keys_for(env, pending.issuer, policy).await?;
    // Checked after precheck, so time, issuer and header rules apply to cached tokens as to new.
    let capacity = jwt_config.verified_cache_entries;
    let digest = token_digest(token);
    let cached = if capacity == 0 {
        None
    } else {
        VERIFIED.with(|cache| cache.borrow_mut().as_mut().and_then(|c| c.get(&digest, now_ms, issuer_keys.generation)))
    };
    if let Some(principal) = cached {
        return Ok(principal);
    }
    let refreshed;
    let (key, generation) = match pending.find_key(&issuer_keys.keys) {
        KeyLookup::Found(key) => (key, issuer_keys.generation),
        KeyLookup::Refused(error) => return Err(error.into()),
        KeyLookup::RefreshAndRetry => {
            refreshed =
                jwks_cache::refresh_after_unknown_kid(pending.issuer, policy).await.ok_or(JwtError::UnknownKid)?;
            match pending.find_key(&refreshed.keys) {
                KeyLookup::Found(key) => (key, refreshed.generation),
                KeyLookup::RefreshAndRetry => return Err(JwtError::UnknownKid.into()),
                KeyLookup::Refused(error) => return Err(error.into()),
            }
        }
    };
    let proof = if matches!(key.material, KeyMaterial::Hmac(_)) {
        pending.verify_hmac(key)?
    } else {
        pending.precheck_signature(key)?;
        match webcrypto::verify(pending.alg, key, pending.signing_input(), pending.signature()).await {
            Ok(true) => VerifiedSignature::new(),
            _ => return Err(JwtError::BadSignature.into()),
        }
    };
    let acceptable_until_ms = (pending.acceptable_until_s() * 1000.0) as u64;
    let principal = pending.into_principal(proof)?;
    if capacity > 0 {
        VERIFIED.with(|cache| {
            cache.borrow_mut().get_or_insert_with(|| VerifiedCache::new(capacity)).insert(
                digest,
                principal.clone(),
                acceptable_until_ms,
                generation,
                now_ms,
            )
        });
    }
    Ok(principal)
}

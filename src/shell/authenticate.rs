//! Authentication in the worker: API keys, bearer JWTs (the pure verifier, with keys from the
//! cache and signatures checked by the configured backend), then browser sessions.

use super::{api_keys, jwks_cache, sessions, webcrypto};
use crate::authn::api_key::format::has_prefix;
use crate::authn::bearer::bearer_token;
use crate::authn::jwt::issuer::JwtConfig;
use crate::authn::jwt::keys::KeyMaterial;
use crate::authn::jwt::signature::VerifiedSignature;
use crate::authn::jwt::token::looks_like_jwt;
use crate::authn::jwt::verified_cache::{token_digest, VerifiedCache};
use crate::authn::jwt::{self, JwtError, KeyLookup};
use crate::authn::{public_pass, Access, AuthnError, Principal};
use crate::config::Config;
use crate::gateway::routes::Route;
use crate::gateway::RequestHead;
use std::cell::RefCell;
use worker::{Context, Env};

/// Authenticates a request for a route: public routes pass; others need a valid credential.
pub async fn authenticate(
    env: &Env,
    ctx: &Context,
    config: &Config,
    route: &Route,
    head: &RequestHead,
) -> Result<Access, AuthnError> {
    if let Some(pass) = public_pass(route) {
        return Ok(Access::Public(pass));
    }
    if let Some(keys) = &config.api_keys {
        if let Some(credential) = api_keys::credential_from_header(head, keys) {
            return Ok(Access::Authenticated(api_keys::authenticate(env, ctx, config, keys, credential).await?));
        }
    }
    if let Some(token) = bearer_token(head)? {
        return Ok(Access::Authenticated(principal_for(env, ctx, config, token).await?));
    }
    // No credential header: a browser session, when login is configured and the route takes one.
    if route.requirements.accepts_sessions() {
        if let Some(session) = sessions::current(env, ctx, config, head, sessions::Upkeep::Full).await? {
            return Ok(Access::Authenticated(sessions::principal(config, &session)));
        }
    }
    Err(AuthnError::Missing)
}

/// The principal for a bearer credential: an API key when it has this deployment's prefix,
/// otherwise a JWT.
pub async fn principal_for(env: &Env, ctx: &Context, config: &Config, token: &str) -> Result<Principal, AuthnError> {
    if let Some(keys) = &config.api_keys {
        if has_prefix(&keys.prefix, token) {
            return api_keys::authenticate(env, ctx, config, keys, token).await;
        }
    }
    if !looks_like_jwt(token) || config.jwt.issuers.is_empty() {
        return Err(JwtError::Malformed.into());
    }
    verify_jwt_with(env, &config.jwt, token).await
}

thread_local! {
    /// Tokens verified in this isolate (see `verified_cache`); sized on first use from the config.
    static VERIFIED: RefCell<Option<VerifiedCache<Principal>>> = const { RefCell::new(None) };
}

/// Verifies a JWT against a set of trusted issuers (the bearer configuration, or a login
/// provider's ID token rules). A configuration with `verified_cache_entries: 0` never touches
/// the verified-token cache.
pub async fn verify_jwt_with(env: &Env, jwt_config: &JwtConfig, token: &str) -> Result<Principal, AuthnError> {
    let now_s = js_sys::Date::now() / 1000.0;
    let pending = jwt::precheck(jwt_config, token, now_s as i64)?;
    let policy = &jwt_config.jwks_cache;
    let issuer_keys = jwks_cache::keys_for(env, pending.issuer, policy).await?;
    // Checked after precheck, so time, issuer and header rules apply to cached tokens as to new.
    let capacity = jwt_config.verified_cache_entries;
    let digest = token_digest(token);
    let cached = if capacity == 0 {
        None
    } else {
        VERIFIED.with(|cache| cache.borrow_mut().as_mut().and_then(|c| c.get(&digest, now_s, issuer_keys.generation)))
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
    let acceptable_until = pending.acceptable_until_s();
    let principal = pending.into_principal(proof)?;
    if capacity > 0 {
        VERIFIED.with(|cache| {
            cache.borrow_mut().get_or_insert_with(|| VerifiedCache::new(capacity)).insert(
                digest,
                principal.clone(),
                acceptable_until,
                generation,
            )
        });
    }
    Ok(principal)
}

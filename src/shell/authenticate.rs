//! Authentication in the worker: API keys, bearer JWTs (the pure verifier, with keys from the
//! cache and signatures checked by the configured backend), then browser sessions.

use super::{api_keys, jwt_verifier, sessions};
use crate::authn::api_key::format::has_prefix;
use crate::authn::bearer::bearer_token;
use crate::authn::jwt::error::JwtError;
use crate::authn::jwt::token::looks_like_jwt;
use crate::authn::principal::Principal;
use crate::authn::AuthnError;
use crate::config::Config;
use crate::gateway::access::{public_pass, Access};
use crate::gateway::routes::Route;
use crate::http::RequestHead;
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
    jwt_verifier::verify_jwt_with(env, &config.jwt, token).await
}

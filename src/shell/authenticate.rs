//! Authentication in the worker: the route's authenticator registry picks the one authenticator
//! that claims the request (an API key, a bearer JWT or a session), and only that one runs.

use super::{api_keys, jwt_verifier, sessions};
use crate::authn::api_key::format::has_prefix;
use crate::authn::bearer::bearer_token;
use crate::authn::jwt::error::JwtError;
use crate::authn::jwt::token::looks_like_jwt;
use crate::authn::principal::Principal;
use crate::authn::select::{select, Credential, Offered};
use crate::authn::AuthnError;
use crate::config::Config;
use crate::http::RequestHead;
use crate::policy::access::{public_pass, Access};
use crate::policy::routes::Route;
use worker::{Context, Env};

/// Authenticates a request for a route: public routes pass; on the others, the one
/// authenticator that claims the request ([`select`]) verifies its credential, and no other runs.
/// `upkeep` says what a session check may do besides checking (an open WebSocket's rechecks
/// must not keep its session from idling out).
pub async fn authenticate(
    env: &Env,
    ctx: &Context,
    config: &Config,
    route: &Route,
    head: &RequestHead,
    upkeep: sessions::Upkeep,
) -> Result<Access, AuthnError> {
    if let Some(pass) = public_pass(route) {
        return Ok(Access::Public(pass));
    }
    // The Cookie header is parsed once, here: the session authenticator gets the value.
    let session_cookie = config.login.as_ref().and_then(|_| head.header("cookie")).and_then(sessions::cookie_in);
    let offered = Offered {
        api_key_header: config.api_keys.as_ref().and_then(|keys| api_keys::credential_from_header(head, keys)),
        authorization: bearer_token(head),
        api_key_prefix: config.api_keys.as_ref().map(|keys| keys.prefix.as_str()),
        session_cookie: session_cookie.is_some(),
    };
    let selected = select(&route.requirements.authenticators, &offered)?;
    let principal = match selected.credential {
        Credential::ApiKey(key) => {
            let keys = config.api_keys.as_ref().ok_or(AuthnError::NotAccepted)?;
            api_keys::authenticate(env, ctx, config, keys, key).await?
        }
        Credential::Jwt(token) => bearer_jwt(env, config, token, |issuer| selected.accepts_issuer(issuer)).await?,
        Credential::Session => {
            let value = session_cookie.unwrap_or_default();
            let session = sessions::open(env, ctx, config, &value, upkeep).await?;
            let session = session.ok_or(AuthnError::Missing)?;
            session.into_principal()
        }
    };
    Ok(Access::Authenticated(principal))
}

/// The principal for a bearer credential: an API key when it has this deployment's prefix,
/// otherwise a JWT.
pub async fn principal_for(env: &Env, ctx: &Context, config: &Config, token: &str) -> Result<Principal, AuthnError> {
    if let Some(keys) = &config.api_keys {
        if has_prefix(&keys.prefix, token) {
            return api_keys::authenticate(env, ctx, config, keys, token).await;
        }
    }
    bearer_jwt(env, config, token, |_| true).await
}

/// Verifies a bearer token as a JWT from one of the configured issuers that `accepts_issuer`
/// takes; a token that is not a JWT at all is malformed.
async fn bearer_jwt(
    env: &Env,
    config: &Config,
    token: &str,
    accepts_issuer: impl Fn(&str) -> bool,
) -> Result<Principal, AuthnError> {
    if !looks_like_jwt(token) || config.jwt.issuers.is_empty() {
        return Err(JwtError::Malformed.into());
    }
    jwt_verifier::verify_jwt_with(env, &config.jwt, token, accepts_issuer).await
}

//! Issuer keys in the worker: JWKS fetched with `fetch`, cached per isolate and in the Cache API
//! (honouring `Cache-Control` within the configured floor and ceiling), refreshed single-flight.
//!
//! - A fresh set is used as is. An expired set is refreshed; if that fails, it is still used for
//!   `max_stale_s`, then requests fail closed with 503.
//! - An unknown `kid` refreshes the set at most once per `refresh_cooldown_s` per issuer, and
//!   concurrent requests share one fetch, so a flood of random `kid`s cannot hammer the IdP.
//!   Sharing is by polling, not by awaiting the other request's promise: the Workers runtime
//!   cancels a request that waits on I/O started by another request.
//! - HMAC secrets are read from their secret binding once per isolate.

use super::http::{fetch_with_timeout, read_answer};
use crate::authn::jwt::issuer::{Issuer, JwksCachePolicy, KeySource};
use crate::authn::jwt::keys::{cache_lifetime_s, KeySet, VerificationKey, MAX_JWKS_BYTES};
use crate::authn::{AuthnError, Dependency};
use crate::secret::SecretBytes;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use worker::{
    console_error, console_warn, Cache, Delay, Env, Headers, Method, Request, RequestInit, RequestRedirect, Response,
};

type Keys = Arc<KeySet>;

/// An issuer's keys and their generation: every key set loaded gets a new one, so a cache of
/// tokens verified with older keys can tell (inline and secret keys never change: generation 0).
pub struct IssuerKeys {
    /// The keys.
    pub keys: Keys,
    /// The load they came from.
    pub generation: u64,
}

struct Entry {
    keys: Keys,
    fresh_until_ms: f64,
    loaded_ms: f64,
    generation: u64,
}

/// How often a request waiting for another request's fetch looks again.
const POLL_MS: u64 = 5;

// Plain maps, not `BoundedCache`: every key is a configured issuer's key URL or secret, so the
// configuration bounds them (no request can add one), and an entry past its freshness must stay
// usable as stale while the issuer is down, which an expiring cache would drop.
thread_local! {
    static ENTRIES: RefCell<HashMap<String, Entry>> = RefCell::new(HashMap::new());
    /// Loads under way, by (URL, bypassing the Cache API), with their start time.
    static IN_FLIGHT: RefCell<HashMap<(String, bool), f64>> = RefCell::new(HashMap::new());
    static LAST_KID_REFRESH_MS: RefCell<HashMap<String, f64>> = RefCell::new(HashMap::new());
    static SECRETS: RefCell<HashMap<String, Keys>> = RefCell::new(HashMap::new());
    static GENERATION: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

const FRESH_UNTIL_HEADER: &str = "x-portcullis-fresh-until";

fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The keys for an issuer, fetching or refreshing as the policy says.
pub async fn keys_for(env: &Env, issuer: &Issuer, policy: &JwksCachePolicy) -> Result<IssuerKeys, AuthnError> {
    match &issuer.key_source {
        KeySource::Inline(keys) => Ok(IssuerKeys { keys: Arc::clone(keys), generation: 0 }),
        KeySource::HmacSecret(name) => hmac_keys(env, name).map(|keys| IssuerKeys { keys, generation: 0 }),
        KeySource::JwksUrl(url) => {
            let cached = ENTRIES.with(|e| {
                e.borrow().get(url).map(|entry| (Arc::clone(&entry.keys), entry.fresh_until_ms, entry.generation))
            });
            if let Some((keys, fresh_until, generation)) = &cached {
                if now_ms() < *fresh_until {
                    return Ok(IssuerKeys { keys: Arc::clone(keys), generation: *generation });
                }
            }
            match load(url, policy, false).await {
                Ok(keys) => Ok(keys),
                Err(reason) => {
                    console_error!(
                        "{}",
                        serde_json::json!({ "event": "jwks_fetch_failed", "jwks_url": url, "reason": reason })
                    );
                    match cached {
                        Some((keys, fresh_until, generation))
                            if now_ms() < fresh_until + policy.max_stale_s as f64 * 1000.0 =>
                        {
                            console_warn!("{}", serde_json::json!({ "event": "jwks_serving_stale", "jwks_url": url }));
                            Ok(IssuerKeys { keys, generation })
                        }
                        _ => Err(AuthnError::Unavailable(Dependency::Keys)),
                    }
                }
            }
        }
    }
}

/// Refreshes an issuer's key set after a token named an unknown `kid`, unless a refresh already
/// happened within the cooldown. Returns the new set, or `None` when no refresh was allowed or it
/// failed.
pub async fn refresh_after_unknown_kid(issuer: &Issuer, policy: &JwksCachePolicy) -> Option<IssuerKeys> {
    let KeySource::JwksUrl(url) = &issuer.key_source else {
        return None;
    };
    if IN_FLIGHT.with(|f| f.borrow().contains_key(&(url.clone(), true))) {
        return load(url, policy, true).await.ok();
    }
    let now = now_ms();
    let last = LAST_KID_REFRESH_MS.with(|l| l.borrow().get(url).copied());
    if last.is_some_and(|last| now - last < policy.refresh_cooldown_s as f64 * 1000.0) {
        return None;
    }
    LAST_KID_REFRESH_MS.with(|l| l.borrow_mut().insert(url.clone(), now));
    load(url, policy, true).await.ok()
}

fn hmac_keys(env: &Env, name: &str) -> Result<Keys, AuthnError> {
    if let Some(keys) = SECRETS.with(|s| s.borrow().get(name).cloned()) {
        return Ok(keys);
    }
    let secret = env.secret(name).map(|s| s.to_string()).map_err(|_| {
        console_error!("{}", serde_json::json!({ "event": "hmac_secret_missing", "secret": name }));
        AuthnError::Unavailable(Dependency::Keys)
    })?;
    let key = VerificationKey::hmac(SecretBytes::new(secret.into_bytes())).map_err(|reason| {
        console_error!("{}", serde_json::json!({ "event": "hmac_secret_unusable", "secret": name, "reason": reason }));
        AuthnError::Unavailable(Dependency::Keys)
    })?;
    let keys = Arc::new(KeySet::new(vec![key]));
    SECRETS.with(|s| s.borrow_mut().insert(name.to_owned(), Arc::clone(&keys)));
    Ok(keys)
}

/// One load per URL and kind at a time: a request that finds one under way waits for it (by
/// polling, within the fetch timeout) and takes its result from the isolate cache.
async fn load(url: &str, policy: &JwksCachePolicy, bypass_cache: bool) -> Result<IssuerKeys, String> {
    let key = (url.to_owned(), bypass_cache);
    let deadline_ms = policy.fetch_timeout_ms as f64 + 1000.0;
    if let Some(started) = IN_FLIGHT.with(|f| f.borrow().get(&key).copied()) {
        if now_ms() - started < deadline_ms {
            while IN_FLIGHT.with(|f| f.borrow().contains_key(&key)) && now_ms() - started < deadline_ms {
                Delay::from(Duration::from_millis(POLL_MS)).await;
            }
            return ENTRIES
                .with(|e| {
                    let entries = e.borrow();
                    let entry = entries.get(url).filter(|entry| entry.loaded_ms >= started)?;
                    Some(IssuerKeys { keys: Arc::clone(&entry.keys), generation: entry.generation })
                })
                .ok_or_else(|| "the concurrent load failed".to_owned());
        }
    }
    IN_FLIGHT.with(|f| f.borrow_mut().insert(key.clone(), now_ms()));
    let result = fetch_and_store(url, policy, bypass_cache).await;
    IN_FLIGHT.with(|f| f.borrow_mut().remove(&key));
    result
}

fn store(url: &str, keys: &Keys, fresh_until_ms: f64) -> IssuerKeys {
    let generation = GENERATION.with(|g| {
        g.set(g.get() + 1);
        g.get()
    });
    let entry = Entry { keys: Arc::clone(keys), fresh_until_ms, loaded_ms: now_ms(), generation };
    ENTRIES.with(|e| e.borrow_mut().insert(url.to_owned(), entry));
    IssuerKeys { keys: Arc::clone(keys), generation }
}

fn parse(url: &str, body: &[u8]) -> Result<Keys, String> {
    let (keys, ignored) = KeySet::from_jwks(body)?;
    for key in ignored {
        console_warn!(
            "{}",
            serde_json::json!({ "event": "jwks_key_ignored", "jwks_url": url, "kid": key.kid, "reason": key.reason })
        );
    }
    Ok(Arc::new(keys))
}

async fn fetch_and_store(url: &str, policy: &JwksCachePolicy, bypass_cache: bool) -> Result<IssuerKeys, String> {
    let cache = Cache::default();
    if !bypass_cache {
        if let Ok(Some(mut hit)) = cache.get(url, false).await {
            let fresh_until = hit.headers().get(FRESH_UNTIL_HEADER).ok().flatten().and_then(|v| v.parse::<f64>().ok());
            if let (Some(fresh_until), Ok(body)) = (fresh_until, hit.bytes().await) {
                if now_ms() < fresh_until {
                    let keys = parse(url, &body)?;
                    return Ok(store(url, &keys, fresh_until));
                }
            }
        }
    }

    let headers = Headers::new();
    headers.set("accept", "application/jwk-set+json, application/json").map_err(|e| e.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers).with_redirect(RequestRedirect::Manual);
    let request = Request::new_with_init(url, &init).map_err(|e| e.to_string())?;
    let mut response = fetch_with_timeout(request, policy.fetch_timeout_ms).await.map_err(|f| format!("{f:?}"))?;
    if response.status_code() != 200 {
        return Err(format!("status {}", response.status_code()));
    }
    let cache_control = response.headers().get("cache-control").ok().flatten();
    let body = read_answer(&mut response, MAX_JWKS_BYTES, policy.fetch_timeout_ms)
        .await
        .map_err(|failure| format!("key set: {failure:?}"))?;
    let keys = parse(url, &body)?;

    let ttl_s = cache_lifetime_s(cache_control.as_deref())
        .unwrap_or(policy.default_ttl_s)
        .clamp(policy.min_ttl_s, policy.max_ttl_s);
    let fresh_until = now_ms() + ttl_s as f64 * 1000.0;
    let stored = store(url, &keys, fresh_until);

    let cached_headers = Headers::new();
    let _ = cached_headers.set("content-type", "application/json");
    let _ = cached_headers.set("cache-control", &format!("max-age={ttl_s}"));
    let _ = cached_headers.set(FRESH_UNTIL_HEADER, &fresh_until.to_string());
    if let Ok(copy) = Response::from_bytes(body) {
        // Best effort: the Cache API only shares keys between isolates of one location.
        let _ = cache.put(url, copy.with_headers(cached_headers)).await;
    }
    Ok(stored)
}

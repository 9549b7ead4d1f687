//! API keys in the worker: verification at the edge, and the management API.
//!
//! Verification reads the record from KV and the revocation time from the `KeyRevocations`
//! Durable Object (in parallel), then trusts that pair for `api_keys.cache_ttl_s` in the isolate.
//! A revoke writes the Durable Object first, so once it answers, every cache miss anywhere sees
//! it: a revoked key works nowhere after `cache_ttl_s` (default 10 s), and not at all in the
//! isolate that served the revoke. KV's own replication delay never matters for revocation.

use super::bindings::KV_BINDING;
use super::deadline::store_call;
use super::key_revocations::{shard_name, Status};
use crate::authn::api_key::format;
use crate::authn::api_key::{self, ApiKeyConfig, ApiKeyError, KeyRecord};
use crate::authn::principal::Principal;
use crate::authn::{AuthnError, Dependency};
use crate::cache::BoundedCache;
use crate::config::Config;
use crate::deploy::Environment;
use crate::http::RequestHead;
use crate::secret::SecretBytes;
use std::cell::RefCell;
use worker::{console_warn, Context, Env, Result};

/// The revocation Durable Object binding.
pub const REVOCATIONS_BINDING: &str = super::key_revocations::client::BINDING;
/// The secret that peppers stored hashes.
pub const PEPPER_SECRET: &str = crate::deploy::names::API_KEY_PEPPER_SECRET;
/// The secret holding the bootstrap administrator key.
pub const ADMIN_KEY_SECRET: &str = crate::deploy::names::ADMIN_KEY_SECRET;
const DEVELOPMENT_PEPPER: &[u8] = b"portcullis-development-pepper, not a secret";
/// Writes of a key's last use are at most this far apart, per isolate.
const LAST_USED_INTERVAL_MS: u64 = 60_000;

struct Cached {
    record: KeyRecord,
    revoked_at_ms: Option<u64>,
}

/// The most keys an isolate keeps in memory.
const MAX_CACHED: usize = 10_000;

thread_local! {
    /// Key records and their revocation state, each for `api_keys.cache_ttl_s`.
    static CACHE: RefCell<BoundedCache<String, Cached>> = RefCell::new(BoundedCache::new(MAX_CACHED));
    /// Keys whose last use this isolate wrote within the last interval.
    static LAST_USED_WRITTEN: RefCell<BoundedCache<String, ()>> = RefCell::new(BoundedCache::new(MAX_CACHED));
}

pub(super) fn now_ms() -> f64 {
    js_sys::Date::now()
}

pub(super) fn pepper(env: &Env, config: &Config) -> Option<SecretBytes> {
    match super::bindings::key_secret(env, PEPPER_SECRET) {
        Some(pepper) => Some(pepper),
        None if config.environment == Environment::Development => Some(SecretBytes::new(DEVELOPMENT_PEPPER.to_vec())),
        _ => {
            console_warn!("{}", serde_json::json!({ "event": "api_key_pepper_missing", "secret": PEPPER_SECRET }));
            None
        }
    }
}

async fn revocation_status(env: &Env, id: &str) -> Result<Option<u64>> {
    let stub = env.durable_object(REVOCATIONS_BINDING)?.id_from_name(&shard_name(id))?.get_stub()?;
    store_call(async {
        let mut response = stub.fetch_with_str(&format!("https://revocations.internal/status?id={id}")).await?;
        if response.status_code() != 200 {
            return Err(worker::Error::RustError(format!("revocation status {}", response.status_code())));
        }
        Ok(response.json::<Status>().await?.revoked_at_ms)
    })
    .await
}

pub(super) async fn read_record(env: &Env, id: &str) -> Result<Option<KeyRecord>> {
    Ok(store_call(env.kv(KV_BINDING)?.get(&api_key::record_key(id)).json::<KeyRecord>()).await?)
}

/// Reads a key's record and revocation state, in parallel. Any failure fails closed, naming the
/// store that failed (the records' first when both did).
async fn load(env: &Env, id: &str) -> std::result::Result<Option<(KeyRecord, Option<u64>)>, Dependency> {
    let (record, revoked) = futures_util::future::join(read_record(env, id), revocation_status(env, id)).await;
    match (record, revoked) {
        (Ok(Some(record)), Ok(revoked_at_ms)) => Ok(Some((record, revoked_at_ms))),
        (Ok(None), Ok(_)) => Ok(None),
        (record, revoked) => {
            console_warn!(
                "{}",
                serde_json::json!({ "event": "api_key_store_unavailable", "kv_error": error_of(&record), "do_error": error_of(&revoked) })
            );
            Err(if record.is_err() { Dependency::KeyStore } else { Dependency::Revocations })
        }
    }
}

fn error_of<T>(result: &Result<T>) -> Option<String> {
    result.as_ref().err().map(ToString::to_string)
}

pub(super) fn forget(id: &str) {
    CACHE.with(|cache| cache.borrow_mut().remove(id));
}

/// Verifies an API key and returns the principal it acts as.
pub async fn authenticate(
    env: &Env,
    ctx: &Context,
    config: &Config,
    keys: &ApiKeyConfig,
    credential: &str,
) -> std::result::Result<Principal, AuthnError> {
    let parsed = format::parse(&keys.prefix, credential).map_err(ApiKeyError::Malformed)?;
    let pepper = pepper(env, config).ok_or(AuthnError::Unavailable(Dependency::Secret))?;
    let now = now_ms() as u64;
    let ttl_ms = keys.cache_ttl_s * 1000;
    let cached = CACHE
        .with(|cache| cache.borrow_mut().get(&parsed.id, now).map(|entry| (entry.record.clone(), entry.revoked_at_ms)));
    let (record, revoked_at_ms) = match cached {
        Some(pair) => pair,
        None => {
            let (record, revoked_at_ms) =
                load(env, &parsed.id).await.map_err(AuthnError::Unavailable)?.ok_or(ApiKeyError::UnknownKey)?;
            if ttl_ms > 0 {
                let entry = Cached { record: record.clone(), revoked_at_ms };
                CACHE.with(|cache| cache.borrow_mut().insert(parsed.id.clone(), entry, now + ttl_ms, now));
            }
            (record, revoked_at_ms)
        }
    };
    let principal = api_key::verify(&pepper, &parsed, &record, revoked_at_ms, now)?;
    note_use(env, ctx, &parsed.id, now);
    Ok(principal)
}

/// Records the last use, at most once a minute per key and isolate, after the response.
fn note_use(env: &Env, ctx: &Context, id: &str, now: u64) {
    let due = LAST_USED_WRITTEN.with(|written| {
        let mut written = written.borrow_mut();
        let due = written.get(id, now).is_none();
        if due {
            written.insert(id.to_owned(), (), now + LAST_USED_INTERVAL_MS, now);
        }
        due
    });
    if !due {
        return;
    }
    if let Ok(kv) = env.kv(KV_BINDING) {
        let key = api_key::last_used_key(id);
        let value = now.to_string();
        ctx.wait_until(async move {
            if let Ok(put) = kv.put(&key, value) {
                let _ = store_call(put.execute()).await;
            }
        });
    }
}

/// The presented credential, from `Authorization: Bearer` or the configured header.
pub fn credential_from_header<'h>(head: &'h RequestHead, keys: &ApiKeyConfig) -> Option<&'h str> {
    keys.header.as_deref().and_then(|name| head.header(name)).map(str::trim)
}

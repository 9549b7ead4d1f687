//! API keys in the worker: verification at the edge, and the management API.
//!
//! Verification reads the record from KV and the revocation time from the `KeyRevocations`
//! Durable Object (in parallel), then trusts that pair for `api_keys.cache_ttl_s` in the isolate.
//! A revoke writes the Durable Object first, so once it answers, every cache miss anywhere sees
//! it: a revoked key works nowhere after `cache_ttl_s` (default 10 s), and not at all in the
//! isolate that served the revoke. KV's own replication delay never matters for revocation.

use super::key_revocations::{shard_name, Status};
use super::respond;
use crate::authn::api_key::format;
use crate::authn::api_key::{self, ApiKeyConfig, ApiKeyError, CreateRequest, KeyRecord, KeyStatus, RotateRequest};
use crate::authn::{AuthnError, Principal};
use crate::config::{Config, Environment};
use crate::edge::KeyAdmin;
use crate::error::{Failure, GuardError};
use crate::gateway::{pair_value, RequestHead};
use crate::secret::SecretBytes;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::collections::HashMap;
use subtle::ConstantTimeEq;
use worker::{console_log, console_warn, Context, Env, Request, Response, Result};

/// The KV namespace binding.
pub const KV_BINDING: &str = "PORTCULLIS_KV";
/// The revocation Durable Object binding.
pub const REVOCATIONS_BINDING: &str = super::key_revocations::client::BINDING;
/// The secret that peppers stored hashes.
pub const PEPPER_SECRET: &str = "PORTCULLIS_API_KEY_PEPPER";
/// The secret holding the bootstrap administrator key.
pub const ADMIN_KEY_SECRET: &str = "PORTCULLIS_ADMIN_KEY";
const DEVELOPMENT_PEPPER: &[u8] = b"portcullis-development-pepper, not a secret";
/// Writes of a key's last use are at most this far apart, per isolate.
const LAST_USED_INTERVAL_MS: f64 = 60_000.0;

struct Cached {
    record: KeyRecord,
    revoked_at_ms: Option<u64>,
    loaded_ms: f64,
}

thread_local! {
    static CACHE: RefCell<HashMap<String, Cached>> = RefCell::new(HashMap::new());
    static LAST_USED_WRITTEN: RefCell<HashMap<String, f64>> = RefCell::new(HashMap::new());
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn pepper(env: &Env, config: &Config) -> Option<SecretBytes> {
    match env.secret(PEPPER_SECRET) {
        Ok(secret) if secret.to_string().len() >= 32 => Some(SecretBytes::new(secret.to_string().into_bytes())),
        _ if config.environment == Environment::Development => Some(SecretBytes::new(DEVELOPMENT_PEPPER.to_vec())),
        _ => {
            console_warn!("{}", serde_json::json!({ "event": "api_key_pepper_missing", "secret": PEPPER_SECRET }));
            None
        }
    }
}

async fn revocation_status(env: &Env, id: &str) -> Result<Option<u64>> {
    let stub = env.durable_object(REVOCATIONS_BINDING)?.id_from_name(&shard_name(id))?.get_stub()?;
    let mut response = stub.fetch_with_str(&format!("https://revocations.internal/status?id={id}")).await?;
    if response.status_code() != 200 {
        return Err(worker::Error::RustError(format!("revocation status {}", response.status_code())));
    }
    Ok(response.json::<Status>().await?.revoked_at_ms)
}

async fn record_revocation(env: &Env, id: &str, at_ms: u64) -> Result<()> {
    super::key_revocations::client::revoke(env, id, id, at_ms, None).await
}

async fn read_record(env: &Env, id: &str) -> Result<Option<KeyRecord>> {
    Ok(env.kv(KV_BINDING)?.get(&api_key::record_key(id)).json::<KeyRecord>().await?)
}

/// Reads a key's record and revocation state, in parallel. Any failure fails closed.
async fn load(env: &Env, id: &str) -> std::result::Result<Option<(KeyRecord, Option<u64>)>, ()> {
    let (record, revoked) = futures_util::future::join(read_record(env, id), revocation_status(env, id)).await;
    match (record, revoked) {
        (Ok(Some(record)), Ok(revoked_at_ms)) => Ok(Some((record, revoked_at_ms))),
        (Ok(None), Ok(_)) => Ok(None),
        (record, revoked) => {
            console_warn!(
                "{}",
                serde_json::json!({ "event": "api_key_store_unavailable", "kv_ok": record.is_ok(), "do_ok": revoked.is_ok() })
            );
            Err(())
        }
    }
}

fn forget(id: &str) {
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
    let pepper = pepper(env, config).ok_or(AuthnError::KeysUnavailable)?;
    let now = now_ms();
    let ttl_ms = keys.cache_ttl_s as f64 * 1000.0;
    let cached = CACHE.with(|cache| {
        cache
            .borrow()
            .get(&parsed.id)
            .filter(|entry| now - entry.loaded_ms < ttl_ms)
            .map(|entry| (entry.record.clone(), entry.revoked_at_ms))
    });
    let (record, revoked_at_ms) = match cached {
        Some(pair) => pair,
        None => {
            let (record, revoked_at_ms) = load(env, &parsed.id)
                .await
                .map_err(|()| AuthnError::KeysUnavailable)?
                .ok_or(ApiKeyError::UnknownKey)?;
            if ttl_ms > 0.0 {
                let entry = Cached { record: record.clone(), revoked_at_ms, loaded_ms: now };
                CACHE.with(|cache| cache.borrow_mut().insert(parsed.id.clone(), entry));
            }
            (record, revoked_at_ms)
        }
    };
    api_key::verify(&pepper, &parsed, &record, revoked_at_ms, now as u64)?;
    note_use(env, ctx, &parsed.id, now);
    Ok(api_key::principal(&record))
}

/// Records the last use, at most once a minute per key and isolate, after the response.
fn note_use(env: &Env, ctx: &Context, id: &str, now: f64) {
    let due = LAST_USED_WRITTEN.with(|written| {
        let mut written = written.borrow_mut();
        let due = written.get(id).is_none_or(|last| now - last >= LAST_USED_INTERVAL_MS);
        if due {
            written.insert(id.to_owned(), now);
        }
        due
    });
    if !due {
        return;
    }
    if let Ok(kv) = env.kv(KV_BINDING) {
        let key = api_key::last_used_key(id);
        let value = (now as u64).to_string();
        ctx.wait_until(async move {
            if let Ok(put) = kv.put(&key, value) {
                let _ = put.execute().await;
            }
        });
    }
}

/// The presented credential, from `Authorization: Bearer` or the configured header.
pub fn credential_from_header<'h>(head: &'h RequestHead, keys: &ApiKeyConfig) -> Option<&'h str> {
    keys.header.as_deref().and_then(|name| head.header(name)).map(str::trim)
}

/// Reads the whole body, refusing more than `limit` bytes.
pub(super) async fn read_bounded(req: &mut Request, limit: usize) -> std::result::Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    if let Ok(mut stream) = req.stream() {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| Failure::Guard(GuardError::Malformed("body")))?;
            if body.len() + chunk.len() > limit {
                return Err(Failure::Guard(GuardError::BodyTooLarge));
            }
            body.extend_from_slice(&chunk);
        }
    }
    Ok(body)
}

/// Parses a JSON body; `None` when it is empty.
pub(super) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> std::result::Result<Option<T>, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|e| Failure::InvalidBody(vec![format!("body: {e}")]))
}

fn summary(record: &KeyRecord) -> serde_json::Value {
    serde_json::json!({
        "id": record.id, "name": record.name, "owner": record.owner, "tenant": record.tenant,
        "status": record.status, "created_at_ms": record.created_at_ms, "expires_at_ms": record.expires_at_ms,
    })
}

async fn write_record(env: &Env, record: &KeyRecord) -> Result<()> {
    let json = serde_json::to_string(record).map_err(|e| worker::Error::RustError(e.to_string()))?;
    env.kv(KV_BINDING)?.put(&api_key::record_key(&record.id), json)?.metadata(summary(record))?.execute().await?;
    Ok(())
}

fn audit_change(action: &str, id: &str, actor: &str, request_id: &str) {
    console_log!(
        "{}",
        serde_json::json!({ "event": "api_key_change", "action": action, "key_id": id, "actor": actor, "request_id": request_id })
    );
}

/// A new key for a record template; returns (full key, record).
async fn mint(
    env: &Env,
    keys: &ApiKeyConfig,
    pepper: &SecretBytes,
    template: KeyRecord,
) -> std::result::Result<(String, KeyRecord), Failure> {
    for _ in 0..3 {
        let mut random = [0u8; 96];
        getrandom::fill(&mut random).map_err(|_| Failure::Unavailable)?;
        let (key, id) = format::compose(&keys.prefix, &random).ok_or(Failure::Unavailable)?;
        if read_record(env, &id).await.map_err(|_| Failure::Unavailable)?.is_some() {
            continue; // an id collision: draw again
        }
        let parsed = format::parse(&keys.prefix, &key).map_err(|_| Failure::Unavailable)?;
        let record = KeyRecord { hash: api_key::hash_secret(pepper, &id, &parsed.secret), id, ..template };
        return Ok((key, record));
    }
    Err(Failure::Unavailable)
}

/// Who is calling the management API: the bootstrap admin key, or a JWT with the admin scope.
/// (Without API keys configured, only the bootstrap key.)
pub(super) async fn administrator(
    env: &Env,
    ctx: &Context,
    config: &Config,
    head: &RequestHead,
) -> std::result::Result<String, Failure> {
    let token = crate::authn::bearer::bearer_token(head)?.ok_or(AuthnError::Missing)?;
    if let Ok(admin) = env.secret(ADMIN_KEY_SECRET) {
        let admin = admin.to_string();
        if admin.len() >= 32 && bool::from(admin.as_bytes().ct_eq(token.as_bytes())) {
            return Ok("bootstrap-admin".into());
        }
    }
    let principal = super::authenticate::principal_for(env, ctx, config, token).await?;
    // API keys are never administrators, whatever scopes they carry: a key must not mint keys.
    let is_jwt = principal.method() == crate::authn::AuthMethod::Jwt;
    let admin_scope = config.api_keys.as_ref().map(|keys| keys.admin_scope.as_str());
    if is_jwt && admin_scope.is_some_and(|admin| principal.identity().scopes.iter().any(|scope| scope == admin)) {
        Ok(principal.subject().to_owned())
    } else {
        Err(Failure::Forbidden)
    }
}

/// Serves the management API.
pub async fn admin(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    config: &Config,
    head: &RequestHead,
    op: KeyAdmin,
    request_id: &str,
) -> std::result::Result<Response, Failure> {
    let keys = config.api_keys.as_ref().ok_or(Failure::NotFound)?;
    // Read the (bounded) body before answering anything, so a refusal never cuts off an upload.
    let body = read_bounded(&mut req, config.limits.max_edge_body_bytes).await?;
    let actor = administrator(env, ctx, config, head).await?;
    let pepper = pepper(env, config).ok_or(Failure::Unavailable)?;
    let now = now_ms() as u64;
    let unavailable = |_| Failure::Unavailable;
    let respond = |status: u16, body: serde_json::Value| {
        respond::json(status, &body, &config.security_headers, request_id).map_err(|_| Failure::Unavailable)
    };
    match op {
        KeyAdmin::Create => {
            let create: CreateRequest = parse_body(&body)?
                .ok_or_else(|| Failure::InvalidBody(vec!["body: a JSON object is required".into()]))?;
            let problems: Vec<String> =
                create.problems(keys.max_lifetime_s).into_iter().map(|(f, m)| format!("{f}: {m}")).collect();
            if !problems.is_empty() {
                return Err(Failure::InvalidBody(problems));
            }
            let template = KeyRecord {
                id: String::new(),
                hash: String::new(),
                name: create.name,
                owner: create.owner,
                tenant: create.tenant,
                scopes: create.scopes,
                tier: create.tier,
                created_at_ms: now,
                expires_at_ms: create.expires_in_s.map(|s| now + s * 1000),
                status: KeyStatus::Active,
                valid_until_ms: None,
                rotated_to: None,
            };
            let (key, record) = mint(env, keys, &pepper, template).await?;
            write_record(env, &record).await.map_err(unavailable)?;
            audit_change("create", &record.id, &actor, request_id);
            let mut body = api_key::public_view(&record, None);
            body["key"] = serde_json::json!(key);
            respond(201, body)
        }
        KeyAdmin::List => {
            let query = head.query_pairs();
            let owner = pair_value(&query, "owner");
            let tenant = pair_value(&query, "tenant");
            let mut list = env.kv(KV_BINDING).map_err(unavailable)?.list().prefix("apikey:".into()).limit(1000);
            if let Some(cursor) = pair_value(&query, "cursor") {
                list = list.cursor(cursor.to_owned());
            }
            let listed = list.execute().await.map_err(|_| Failure::Unavailable)?;
            let items: Vec<serde_json::Value> = listed
                .keys
                .into_iter()
                .filter_map(|key| key.metadata)
                .filter(|meta| owner.is_none_or(|o| meta["owner"] == o))
                .filter(|meta| tenant.is_none_or(|t| meta["tenant"] == t))
                .collect();
            respond(
                200,
                serde_json::json!({ "keys": items, "cursor": if listed.list_complete { None } else { listed.cursor } }),
            )
        }
        KeyAdmin::Get(id) => {
            let record = read_record(env, &id).await.map_err(unavailable)?.ok_or(Failure::NotFound)?;
            let kv = env.kv(KV_BINDING).map_err(unavailable)?;
            let last_used =
                kv.get(&api_key::last_used_key(&id)).text().await.ok().flatten().and_then(|t| t.parse().ok());
            respond(200, api_key::public_view(&record, last_used))
        }
        KeyAdmin::Rotate(id) => {
            let rotate: RotateRequest = parse_body(&body)?.unwrap_or_default();
            let grace_s = rotate.grace_s.unwrap_or(keys.rotation_grace_s);
            if grace_s > 30 * 86_400 {
                return Err(Failure::InvalidBody(vec!["grace_s: at most 30 days".into()]));
            }
            let old = read_record(env, &id).await.map_err(unavailable)?.ok_or(Failure::NotFound)?;
            if old.status != KeyStatus::Active {
                return Err(Failure::InvalidBody(vec![
                    format!("id: the key is {:?}, not active", old.status).to_lowercase()
                ]));
            }
            let valid_until = now + grace_s * 1000;
            let template = KeyRecord { created_at_ms: now, valid_until_ms: None, rotated_to: None, ..old.clone() };
            let (key, fresh) = mint(env, keys, &pepper, template).await?;
            record_revocation(env, &id, valid_until).await.map_err(unavailable)?;
            write_record(env, &fresh).await.map_err(unavailable)?;
            let retired = KeyRecord {
                status: KeyStatus::Rotated,
                valid_until_ms: Some(valid_until),
                rotated_to: Some(fresh.id.clone()),
                ..old
            };
            write_record(env, &retired).await.map_err(unavailable)?;
            forget(&id);
            audit_change("rotate", &id, &actor, request_id);
            let mut body = api_key::public_view(&fresh, None);
            body["key"] = serde_json::json!(key);
            body["previous"] = serde_json::json!({ "id": id, "valid_until_ms": valid_until });
            respond(201, body)
        }
        KeyAdmin::Revoke(id) => {
            let _: Option<serde_json::Map<String, serde_json::Value>> = parse_body(&body)?;
            let old = read_record(env, &id).await.map_err(unavailable)?.ok_or(Failure::NotFound)?;
            // The Durable Object first: once it has answered, the key is dead everywhere.
            record_revocation(env, &id, now).await.map_err(unavailable)?;
            let revoked = KeyRecord { status: KeyStatus::Revoked, valid_until_ms: Some(now), ..old };
            write_record(env, &revoked).await.map_err(unavailable)?;
            forget(&id);
            audit_change("revoke", &id, &actor, request_id);
            respond(200, api_key::public_view(&revoked, None))
        }
    }
}

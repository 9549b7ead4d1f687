//! The API key management API: who may call it, and create, list, get, rotate and revoke.

use super::api_keys::{forget, now_ms, pepper, read_record, record_revocation, ADMIN_KEY_SECRET};
use super::bindings::KV_BINDING;
use super::body::{parse_body, read_bounded};
use super::respond;
use crate::authn::api_key::format;
use crate::authn::api_key::{self, ApiKeyConfig, CreateRequest, KeyRecord, KeyStatus, RotateRequest};
use crate::authn::AuthnError;
use crate::config::Config;
use crate::edge::KeyAdmin;
use crate::error::Failure;
use crate::http::{pair_value, RequestHead};
use crate::secret::SecretBytes;
use subtle::ConstantTimeEq;
use worker::{console_log, Context, Env, Request, Response, Result};

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
    let is_jwt = principal.method() == crate::authn::principal::AuthMethod::Jwt;
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

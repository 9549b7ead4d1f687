//! The API key management API: who may call it, and create, list, get, rotate and revoke.

use super::adapters::{DurableLedger, WorkerClock};
use super::api_keys::{forget, pepper, read_record, ADMIN_KEY_SECRET};
use super::bindings::KV_BINDING;
use super::body::{parse_body, read_bounded};
use super::deadline::store_call;
use super::respond;
use crate::authn::api_key::admin::{may_administer, AdminError, KeyAdmin as Admin};
use crate::authn::api_key::store::KeyStore;
use crate::authn::api_key::{self, CreateRequest, KeyRecord, RotateRequest};
use crate::authn::principal::Principal;
use crate::authn::AuthnError;
use crate::config::Config;
use crate::edge::KeyAdmin;
use crate::error::Failure;
use crate::http::{pair_value, RequestHead};
use crate::ports::{SystemEntropy, Unavailable};
use subtle::ConstantTimeEq;
use worker::{console_log, Context, Env, Request, Response};

fn summary(record: &KeyRecord) -> serde_json::Value {
    serde_json::json!({
        "id": record.id, "name": record.name, "owner": record.owner, "tenant": record.tenant,
        "status": record.status, "created_at_ms": record.created_at_ms, "expires_at_ms": record.expires_at_ms,
    })
}

/// Key records in Workers KV, each with its summary as metadata (for listing without reads).
struct KvKeys<'a>(&'a Env);

impl KeyStore for KvKeys<'_> {
    async fn read(&self, id: &str) -> Result<Option<KeyRecord>, Unavailable> {
        read_record(self.0, id).await.map_err(Unavailable::because)
    }

    async fn write(&self, record: &KeyRecord) -> Result<(), Unavailable> {
        let json = serde_json::to_string(record).map_err(Unavailable::because)?;
        let kv = self.0.kv(KV_BINDING).map_err(Unavailable::because)?;
        let put = kv.put(&api_key::record_key(&record.id), json).map_err(Unavailable::because)?;
        let put = put.metadata(summary(record)).map_err(Unavailable::because)?;
        store_call(put.execute()).await.map_err(Unavailable::because)
    }
}

fn audit_change(action: &str, id: &str, actor: &str, request_id: &str) {
    console_log!(
        "{}",
        serde_json::json!({ "event": "api_key_change", "action": action, "key_id": id, "actor": actor, "request_id": request_id })
    );
}

fn admin_failure(error: AdminError) -> Failure {
    match error {
        AdminError::NotFound => Failure::NotFound,
        AdminError::Invalid(problems) => Failure::InvalidBody(problems),
        AdminError::Unavailable(_) => Failure::Unavailable,
    }
}

/// Who is calling the management API: the bootstrap admin key, or a JWT with the admin scope.
/// (Without API keys configured, only the bootstrap key.)
pub(super) async fn administrator(
    env: &Env,
    ctx: &Context,
    config: &Config,
    head: &RequestHead,
) -> Result<String, Failure> {
    match admin_caller(env, ctx, config, head).await? {
        AdminCaller::Bootstrap => Ok("bootstrap-admin".into()),
        AdminCaller::Token(principal) if may_administer(&principal, config.api_keys.as_ref()) => {
            Ok(principal.subject().to_owned())
        }
        AdminCaller::Token(_) => Err(Failure::Forbidden),
    }
}

/// Who called an administration endpoint: the bootstrap admin key, or the principal of a bearer
/// token (whose rights the endpoint decides).
pub(super) enum AdminCaller {
    /// The bootstrap admin key (`PORTCULLIS_ADMIN_KEY`).
    Bootstrap,
    /// A verified bearer token's principal.
    Token(Principal),
}

/// Authenticates the caller of an administration endpoint; no credential is 401.
pub(super) async fn admin_caller(
    env: &Env,
    ctx: &Context,
    config: &Config,
    head: &RequestHead,
) -> Result<AdminCaller, Failure> {
    let token = crate::authn::bearer::bearer_token(head)?.ok_or(AuthnError::Missing)?;
    if let Some(admin) = super::bindings::key_secret(env, ADMIN_KEY_SECRET) {
        if bool::from(admin.expose().ct_eq(token.as_bytes())) {
            return Ok(AdminCaller::Bootstrap);
        }
    }
    Ok(AdminCaller::Token(super::authenticate::principal_for(env, ctx, config, token).await?))
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
) -> Result<Response, Failure> {
    let keys = config.api_keys.as_ref().ok_or(Failure::NotFound)?;
    // Read the (bounded) body before answering anything, so a refusal never cuts off an upload.
    let body = read_bounded(&mut req, config.limits.max_edge_body_bytes).await?;
    let actor = administrator(env, ctx, config, head).await?;
    let pepper = pepper(env, config).ok_or(Failure::Unavailable)?;
    let unavailable = |_| Failure::Unavailable;
    let respond = |status: u16, body: serde_json::Value| {
        respond::json(status, &body, &config.security_headers, request_id).map_err(|_| Failure::Unavailable)
    };
    let (store, ledger) = (KvKeys(env), DurableLedger(env));
    let admin =
        Admin { keys, pepper: &pepper, store: &store, ledger: &ledger, entropy: &SystemEntropy, clock: &WorkerClock };
    match op {
        KeyAdmin::Create => {
            let create: CreateRequest = parse_body(&body)?
                .ok_or_else(|| Failure::InvalidBody(vec!["body: a JSON object is required".into()]))?;
            let minted = admin.create(create).await.map_err(admin_failure)?;
            audit_change("create", &minted.record.id, &actor, request_id);
            let mut body = api_key::public_view(&minted.record, None);
            body["key"] = serde_json::json!(minted.key.expose());
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
            let listed = store_call(list.execute()).await.map_err(|_| Failure::Unavailable)?;
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
            let last_used = store_call(kv.get(&api_key::last_used_key(&id)).text())
                .await
                .ok()
                .flatten()
                .and_then(|t| t.parse().ok());
            respond(200, api_key::public_view(&record, last_used))
        }
        KeyAdmin::Rotate(id) => {
            let rotate: RotateRequest = parse_body(&body)?.unwrap_or_default();
            let rotated = admin.rotate(&id, rotate).await;
            // Whatever the answer: a call that timed out may have landed all the same.
            forget(&id);
            let rotated = rotated.map_err(admin_failure)?;
            audit_change("rotate", &id, &actor, request_id);
            let mut body = api_key::public_view(&rotated.minted.record, None);
            body["key"] = serde_json::json!(rotated.minted.key.expose());
            body["previous"] = serde_json::json!({ "id": id, "valid_until_ms": rotated.previous_valid_until_ms });
            respond(201, body)
        }
        KeyAdmin::Revoke(id) => {
            let _: Option<serde_json::Map<String, serde_json::Value>> = parse_body(&body)?;
            let revoked = admin.revoke(&id).await;
            // Whatever the answer: once the ledger has it (even if the record's write then timed
            // out), this isolate must not keep accepting the key from its cache.
            forget(&id);
            let revoked = revoked.map_err(admin_failure)?;
            audit_change("revoke", &id, &actor, request_id);
            respond(200, api_key::public_view(&revoked, None))
        }
    }
}

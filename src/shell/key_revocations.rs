//! The `KeyRevocations` Durable Object: the strongly consistent record of when each API key
//! stops working (revoked now, or at the end of a rotation's grace period), and of the same for
//! browser sessions (`session:<hash>`) and all sessions of a user (`subject:<provider>:<sub>`).
//! It also records one-time values (login `state`s and codes) and short leases (single-flight
//! refresh across isolates).
//!
//! KV replicates slowly (up to about 60 s), so KV alone cannot revoke at once. Records are sharded
//! over [`SHARDS`] objects by a hash of their id; each holds `revoked:<id>` → milliseconds.

use crate::accounts::throttle::{self, Failures, ThrottleRequest};
use crate::ledger::{self, Claim, ClaimOp, Held};
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, ListOptions, Method, Request, Response, Result, State};

/// How many objects the revocation records are spread over.
pub const SHARDS: u32 = 16;

/// The object name for a key id.
pub fn shard_name(key_id: &str) -> String {
    format!("revocations-{}", crc32fast::hash(key_id.as_bytes()) % SHARDS)
}

/// `POST /revoke` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct RevokeRequest {
    /// The key id.
    pub id: String,
    /// When the key stops working.
    pub at_ms: u64,
    /// When the record may be forgotten (a session's revocation is moot once the session would
    /// have expired anyway); `None`: kept for good (API keys).
    #[serde(default)]
    pub keep_until_ms: Option<u64>,
}

/// How often the sweep runs while there is something to forget.
const SWEEP_INTERVAL_MS: i64 = 3_600_000;
/// How many entries one sweep looks at.
const SWEEP_BATCH: usize = 1000;

/// `GET /status?id=` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct Status {
    /// When the key stops (or stopped) working, if it was revoked or rotated.
    pub revoked_at_ms: Option<u64>,
}

/// `GET /statuses?id=a&id=b` answer: each id's revocation time, in order.
#[derive(Debug, Serialize, Deserialize)]
pub struct Statuses {
    /// One entry per id asked.
    pub revoked_at_ms: Vec<Option<u64>>,
}

/// One shard of revocation records.
/// A throttled key's failures, kept until they would be forgotten anyway (swept like claims).
#[derive(Debug, Serialize, Deserialize)]
struct ThrottleStored {
    until_ms: u64,
    failures: Failures,
}

#[durable_object(alarm)]
pub struct KeyRevocations {
    state: State,
}

impl KeyRevocations {
    /// Makes sure a sweep is scheduled (one alarm per object at most).
    async fn schedule_sweep(&self) -> Result<()> {
        let storage = self.state.storage();
        if storage.get_alarm().await?.is_none() {
            storage.set_alarm(js_sys::Date::now() as i64 + SWEEP_INTERVAL_MS).await?;
        }
        Ok(())
    }
}

impl DurableObject for KeyRevocations {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let url = req.url()?;
        let storage = self.state.storage();
        match (req.method(), url.path()) {
            (Method::Get, "/status") => {
                let Some((_, id)) = url.query_pairs().find(|(name, _)| name == "id") else {
                    return Response::error("missing id", 400);
                };
                let revoked_at_ms = storage.get::<u64>(&format!("revoked:{id}")).await?;
                Response::from_json(&Status { revoked_at_ms })
            }
            (Method::Get, "/statuses") => {
                let mut revoked_at_ms = Vec::new();
                for (_, id) in url.query_pairs().filter(|(name, _)| name == "id").take(8) {
                    revoked_at_ms.push(storage.get::<u64>(&format!("revoked:{id}")).await?);
                }
                Response::from_json(&Statuses { revoked_at_ms })
            }
            (Method::Post, path @ ("/once" | "/lease" | "/complete" | "/release")) => {
                let op = match path {
                    "/once" => ClaimOp::Once,
                    "/lease" => ClaimOp::Lease,
                    "/complete" => ClaimOp::Complete,
                    _ => ClaimOp::Release,
                };
                // Durable Objects run one event at a time per object, so read-then-write is atomic.
                let claim: Claim = req.json().await?;
                let key = format!("claim:{}", claim.id);
                let stored = storage.get::<Held>(&key).await?;
                let (answer, change) = ledger::decide(op, stored.as_ref(), &claim);
                match change {
                    Some(Some(held)) => {
                        storage.put(&key, held).await?;
                        self.schedule_sweep().await?;
                    }
                    Some(None) => {
                        storage.delete(&key).await?;
                    }
                    None => {}
                }
                Response::from_json(&answer)
            }
            (Method::Post, "/throttle") => {
                let request: ThrottleRequest = req.json().await?;
                let key = format!("throttle:{}", request.id);
                let stored = storage.get::<ThrottleStored>(&key).await?.map(|stored| stored.failures);
                let (answer, keep) = throttle::apply(&request, stored);
                match keep {
                    Some(failures) => {
                        let until_ms = throttle::keep_until_ms(&request.policy, &failures);
                        storage.put(&key, ThrottleStored { until_ms, failures }).await?;
                        self.schedule_sweep().await?;
                    }
                    None if stored.is_some() => storage.delete(&key).await.map(|_| ())?,
                    None => {}
                }
                Response::from_json(&answer)
            }
            (Method::Post, "/revoke") => {
                let request: RevokeRequest = req.json().await?;
                let key = format!("revoked:{}", request.id);
                let existing = storage.get::<u64>(&key).await?;
                let at_ms = ledger::combined_revocation(&request.id, existing, request.at_ms);
                storage.put(&key, at_ms).await?;
                if let Some(keep_until_ms) = request.keep_until_ms {
                    storage.put(&format!("forget:{}", request.id), keep_until_ms).await?;
                    self.schedule_sweep().await?;
                }
                Response::from_json(&Status { revoked_at_ms: Some(at_ms) })
            }
            _ => Response::error("not found", 404),
        }
    }

    /// The sweep: forgets lapsed claims and moot session revocations, a batch at a time.
    async fn alarm(&self) -> Result<Response> {
        let storage = self.state.storage();
        let now = js_sys::Date::now() as u64;
        let mut doomed: Vec<String> = Vec::new();
        let mut remaining = false;
        for prefix in ["claim:", "forget:", "throttle:"] {
            let entries = storage.list_with_options(ListOptions::new().prefix(prefix).limit(SWEEP_BATCH)).await?;
            for entry in entries.entries() {
                let Ok(pair) = entry else { continue };
                let pair: js_sys::Array = pair.into();
                let Some(key) = pair.get(0).as_string() else { continue };
                let value = pair.get(1);
                let lapsed = if prefix != "forget:" {
                    let until_ms = js_sys::Reflect::get(&value, &"until_ms".into()).ok().and_then(|v| v.as_f64());
                    until_ms.is_some_and(|until| {
                        ledger::expired(&Held { until_ms: until as u64, owner: String::new() }, now)
                    })
                } else {
                    value.as_f64().is_some_and(|until| (until as u64) <= now)
                };
                if lapsed {
                    if let Some(id) = key.strip_prefix("forget:") {
                        doomed.push(format!("revoked:{id}"));
                    }
                    doomed.push(key);
                } else {
                    remaining = true;
                }
            }
            remaining |= entries.size() as usize >= SWEEP_BATCH;
        }
        for batch in doomed.chunks(128) {
            storage.delete_multiple(batch.to_vec()).await?;
        }
        if remaining {
            storage.set_alarm(now as i64 + SWEEP_INTERVAL_MS).await?;
        }
        Response::ok("swept")
    }
}

/// A client for the revocation objects, from the worker.
pub mod client {
    use super::{shard_name, RevokeRequest, Statuses};
    use crate::accounts::throttle::{ThrottleAnswer, ThrottleRequest};
    use crate::ledger::{Claim, ClaimOp, Claimed};
    use crate::shell::deadline::store_call;
    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use worker::{Env, Method, Request, RequestInit, Result};

    /// The Durable Object binding.
    pub const BINDING: &str = crate::deploy::names::REVOCATIONS;

    fn stub(env: &Env, shard_key: &str) -> Result<worker::Stub> {
        env.durable_object(BINDING)?.id_from_name(&shard_name(shard_key))?.get_stub()
    }

    async fn post<B: Serialize, T: DeserializeOwned>(env: &Env, shard_key: &str, path: &str, body: &B) -> Result<T> {
        let body = serde_json::to_string(body).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(body.into()));
        let request = Request::new_with_init(&format!("https://revocations.internal{path}"), &init)?;
        store_call(async {
            let mut response = stub(env, shard_key)?.fetch_with_request(request).await?;
            if response.status_code() != 200 {
                return Err(worker::Error::RustError(format!("revocations {path}: {}", response.status_code())));
            }
            response.json::<T>().await
        })
        .await
    }

    /// Records that `id` stops working at `at_ms` (see `ledger::combined_revocation` for which time a repeat keeps), in the
    /// shard of `shard_key`; the record may be forgotten after `keep_until_ms`, if given.
    pub async fn revoke(env: &Env, shard_key: &str, id: &str, at_ms: u64, keep_until_ms: Option<u64>) -> Result<()> {
        let body = RevokeRequest { id: id.to_owned(), at_ms, keep_until_ms };
        post::<_, serde_json::Value>(env, shard_key, "/revoke", &body).await?;
        Ok(())
    }

    /// The revocation times of several ids kept in the shard of `shard_key`.
    pub async fn statuses(env: &Env, shard_key: &str, ids: &[&str]) -> Result<Vec<Option<u64>>> {
        let query: String = ids
            .iter()
            .map(|id| format!("id={}", url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()))
            .collect::<Vec<_>>()
            .join("&");
        store_call(async {
            let url = format!("https://revocations.internal/statuses?{query}");
            let mut response = stub(env, shard_key)?.fetch_with_str(&url).await?;
            if response.status_code() != 200 {
                return Err(worker::Error::RustError(format!("revocations statuses: {}", response.status_code())));
            }
            Ok(response.json::<Statuses>().await?.revoked_at_ms)
        })
        .await
    }

    /// Applies a throttle operation to its key, at once for every location.
    pub async fn throttle(env: &Env, request: &ThrottleRequest) -> Result<ThrottleAnswer> {
        post(env, &request.id, "/throttle", request).await
    }

    /// Applies a claim operation to `id` in its own shard; `Ok(false)` when it did not take effect
    /// (used before, or leased to someone else). `owner` identifies a lease holder.
    pub async fn claim(env: &Env, op: ClaimOp, id: &str, ttl_ms: u64, owner: &str) -> Result<bool> {
        let path = match op {
            ClaimOp::Once => "/once",
            ClaimOp::Lease => "/lease",
            ClaimOp::Complete => "/complete",
            ClaimOp::Release => "/release",
        };
        let body = Claim { id: id.to_owned(), now_ms: js_sys::Date::now() as u64, ttl_ms, owner: owner.to_owned() };
        Ok(post::<_, Claimed>(env, id, path, &body).await?.granted)
    }
}

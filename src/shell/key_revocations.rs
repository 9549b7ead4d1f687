//! The `KeyRevocations` Durable Object: the strongly consistent record of when each API key
//! stops working (revoked now, or at the end of a rotation's grace period), and of the same for
//! browser sessions (`session:<hash>`) and all sessions of a user (`subject:<provider>:<sub>`).
//! It also records one-time values (login `state`s and codes) and short leases (single-flight
//! refresh across isolates).
//!
//! KV replicates slowly (up to about 60 s), so KV alone cannot revoke at once. Records are sharded
//! over [`SHARDS`] objects by a hash of their id; each holds `revoked:<id>` → milliseconds.

use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

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
}

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

/// `POST /once` and `POST /lease` body.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claim {
    /// What is claimed (`state:<hash>`, `code:<hash>`, `refresh:<hash>`).
    pub id: String,
    /// Now, in milliseconds.
    pub now_ms: u64,
    /// How long the claim holds.
    pub ttl_ms: u64,
}

/// `POST /once` and `POST /lease` answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claimed {
    /// Whether the caller got it (`false`: used before, or leased to someone else).
    pub granted: bool,
}

/// One shard of revocation records.
#[durable_object(fetch)]
pub struct KeyRevocations {
    state: State,
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
            (Method::Post, "/once" | "/lease") => {
                // Durable Objects run one event at a time per object, so read-then-write is atomic.
                let claim: Claim = req.json().await?;
                let key = format!("claim:{}", claim.id);
                let held_until = storage.get::<u64>(&key).await?;
                let once = url.path() == "/once";
                let granted = match held_until {
                    None => true,
                    // A one-time value is never granted twice while remembered; a lease frees up
                    // when it lapses.
                    Some(until) => !once && until <= claim.now_ms,
                };
                if granted {
                    storage.put(&key, claim.now_ms + claim.ttl_ms).await?;
                }
                Response::from_json(&Claimed { granted })
            }
            (Method::Post, "/release") => {
                let claim: Claim = req.json().await?;
                storage.delete(&format!("claim:{}", claim.id)).await?;
                Response::from_json(&Claimed { granted: true })
            }
            (Method::Post, "/revoke") => {
                let request: RevokeRequest = req.json().await?;
                let key = format!("revoked:{}", request.id);
                // The earliest time wins: a revoke during a rotation's grace period ends it.
                let at_ms = match storage.get::<u64>(&key).await? {
                    Some(existing) => existing.min(request.at_ms),
                    None => request.at_ms,
                };
                storage.put(&key, at_ms).await?;
                Response::from_json(&Status { revoked_at_ms: Some(at_ms) })
            }
            _ => Response::error("not found", 404),
        }
    }
}

/// A client for the revocation objects, from the worker.
pub mod client {
    use super::{shard_name, Claim, Claimed, RevokeRequest, Statuses};
    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use worker::{Env, Method, Request, RequestInit, Result};

    /// The Durable Object binding.
    pub const BINDING: &str = "API_KEY_REVOCATIONS";

    fn stub(env: &Env, shard_key: &str) -> Result<worker::Stub> {
        env.durable_object(BINDING)?.id_from_name(&shard_name(shard_key))?.get_stub()
    }

    async fn post<B: Serialize, T: DeserializeOwned>(env: &Env, shard_key: &str, path: &str, body: &B) -> Result<T> {
        let body = serde_json::to_string(body).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(body.into()));
        let request = Request::new_with_init(&format!("https://revocations.internal{path}"), &init)?;
        let mut response = stub(env, shard_key)?.fetch_with_request(request).await?;
        if response.status_code() != 200 {
            return Err(worker::Error::RustError(format!("revocations {path}: {}", response.status_code())));
        }
        response.json::<T>().await
    }

    /// Records that `id` stops working at `at_ms` (the earliest time recorded wins), in the
    /// shard of `shard_key`.
    pub async fn revoke(env: &Env, shard_key: &str, id: &str, at_ms: u64) -> Result<()> {
        post::<_, serde_json::Value>(env, shard_key, "/revoke", &RevokeRequest { id: id.to_owned(), at_ms }).await?;
        Ok(())
    }

    /// The revocation times of several ids kept in the shard of `shard_key`.
    pub async fn statuses(env: &Env, shard_key: &str, ids: &[&str]) -> Result<Vec<Option<u64>>> {
        let query: String = ids
            .iter()
            .map(|id| format!("id={}", url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()))
            .collect::<Vec<_>>()
            .join("&");
        let mut response =
            stub(env, shard_key)?.fetch_with_str(&format!("https://revocations.internal/statuses?{query}")).await?;
        if response.status_code() != 200 {
            return Err(worker::Error::RustError(format!("revocations statuses: {}", response.status_code())));
        }
        Ok(response.json::<Statuses>().await?.revoked_at_ms)
    }

    /// What a claim is for.
    #[derive(Debug, Clone, Copy)]
    pub enum ClaimKind {
        /// A one-time value: granted once, ever (while remembered).
        Once,
        /// A lease: granted again once it lapses or is released.
        Lease,
        /// Gives a lease back.
        Release,
    }

    /// Claims `id` for `ttl_ms` in its own shard; `Ok(false)` when it was used or is leased.
    pub async fn claim(env: &Env, kind: ClaimKind, id: &str, ttl_ms: u64) -> Result<bool> {
        let path = match kind {
            ClaimKind::Once => "/once",
            ClaimKind::Lease => "/lease",
            ClaimKind::Release => "/release",
        };
        let body = Claim { id: id.to_owned(), now_ms: js_sys::Date::now() as u64, ttl_ms };
        Ok(post::<_, Claimed>(env, id, path, &body).await?.granted)
    }
}

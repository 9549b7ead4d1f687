//! The `KeyRevocations` Durable Object: the strongly consistent record of when each API key
//! stops working (revoked now, or at the end of a rotation's grace period).
//!
//! KV replicates slowly (up to about 60 s), so KV alone cannot revoke at once. Keys are sharded
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

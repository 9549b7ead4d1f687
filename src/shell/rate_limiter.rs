//! The rate-limiting Durable Object class, bound as `RATE_LIMITER`.
//!
//! Minimal for now: it answers `GET /health` so deployments can check the binding. The limiter
//! itself (GCRA buckets, sharding, alarms) is not built yet, and no route uses it.

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// One shard of rate-limit buckets.
#[durable_object(fetch)]
pub struct RateLimiter {
    _state: State,
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        Self { _state: state }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        match req.path().as_str() {
            "/health" => Response::from_json(&serde_json::json!({ "status": "ok" })),
            _ => Response::error("not found", 404),
        }
    }
}

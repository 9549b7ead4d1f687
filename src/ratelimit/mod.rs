//! Rate limiting: the pure algorithm here, the Durable Object shell in `crate::shell`.

/// GCRA with an injected clock, and the `RateLimit`/`Retry-After` header values it produces.
pub mod gcra;

/// Route rules: what is counted, at which rate, with tiers.
pub mod rules;

/// All of a request's limits decided together: one batch per shard, all or nothing.
pub mod batch;

use serde::Deserialize;

/// The `rate_limiting` section: how the worker reaches the limiter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitingConfig {
    /// The Durable Object binding of the limiter.
    pub binding: String,
    /// How many objects the counters are spread over (by a hash of the counter).
    pub shards: u32,
    /// How long to wait for the limiter before the route's failure mode applies.
    pub timeout_ms: u64,
}

impl Default for RateLimitingConfig {
    fn default() -> Self {
        Self { binding: "RATE_LIMITER".into(), shards: 32, timeout_ms: 1000 }
    }
}

impl RateLimitingConfig {
    /// Every problem, as (field, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.shards == 0 || self.shards > 1024 {
            problems.push(("shards".into(), "between 1 and 1024".into()));
        }
        if self.timeout_ms == 0 || self.timeout_ms > 10_000 {
            problems.push(("timeout_ms".into(), "between 1 and 10000".into()));
        }
        if self.binding.is_empty() {
            problems.push(("binding".into(), "a binding name".into()));
        }
        problems
    }
}

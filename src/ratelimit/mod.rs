//! Rate limiting: the pure algorithm here, the Durable Object shell in `crate::shell`.

/// GCRA with an injected clock, and the `RateLimit`/`Retry-After` header values it produces.
pub mod gcra;

/// Route rules: what is counted, at which rate, with tiers.
pub mod rules;

/// All of a request's limits decided together: one batch per shard, all or nothing.
pub mod batch;

/// Units an isolate holds on lease, spent without a round trip.
pub mod lease;

use gcra::LeaseTerms;
use rules::Rule;
use serde::Deserialize;

/// The `rate_limiting` section: how the worker reaches the limiter.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitingConfig {
    /// The name of the limiter's Durable Object binding (`RateLimiter` class); default `RATE_LIMITER`.
    pub binding: String,
    /// How many objects the counters are spread over (by a hash of the counter). Default 32, 1 to 1024.
    pub shards: u32,
    /// How long to wait for the limiter before the route's failure mode applies, in milliseconds. Default
    /// 1000, 1 to 10000.
    pub timeout_ms: u64,
    /// The most units the limiter leases to an isolate at once, for a counter fast enough to
    /// lease; 1 decides every request at the limiter. Default 16, 1 to 1000.
    pub lease_units: u32,
    /// How long after asking an isolate may spend a leased unit; at least `timeout_ms`, so that
    /// an answer in time always lands inside its window. In milliseconds: default 1000, at most 60000.
    pub lease_window_ms: u64,
}

impl Default for RateLimitingConfig {
    fn default() -> Self {
        Self { binding: "RATE_LIMITER".into(), shards: 32, timeout_ms: 1000, lease_units: 16, lease_window_ms: 1000 }
    }
}

impl RateLimitingConfig {
    /// The lease terms for a rule's counters, or `None` to decide each request at the limiter.
    /// A rule leases only when every rate it has (its own and its tiers') can, so that every
    /// charge on any of its counters is made with the same window, as the guarantee needs.
    pub fn lease_terms(&self, rule: &Rule) -> Option<LeaseTerms> {
        let mut terms = None;
        for quota in std::iter::once(&rule.quota).chain(rule.tiers.values()) {
            terms = Some(LeaseTerms::for_quota(quota, self.lease_units, self.lease_window_ms)?);
        }
        terms
    }

    /// Every problem, as (field, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.shards == 0 || self.shards > 1024 {
            problems.push(("shards".into(), "between 1 and 1024".into()));
        }
        if self.timeout_ms == 0 || self.timeout_ms > 10_000 {
            problems.push(("timeout_ms".into(), "between 1 and 10000".into()));
        }
        if self.lease_units == 0 || self.lease_units > 1000 {
            problems.push(("lease_units".into(), "between 1 and 1000".into()));
        }
        if self.lease_window_ms > 60_000 {
            problems.push(("lease_window_ms".into(), "at most 60000".into()));
        } else if self.lease_units > 1 && self.lease_window_ms < self.timeout_ms {
            problems.push((
                "lease_window_ms".into(),
                "at least timeout_ms, so that an answer in time lands in its window".into(),
            ));
        }
        if self.binding.is_empty() {
            problems.push(("binding".into(), "a binding name".into()));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_problems() {
        let with = |change: fn(&mut RateLimitingConfig)| {
            let mut settings = RateLimitingConfig::default();
            change(&mut settings);
            settings.problems().into_iter().map(|(field, _)| field).collect::<Vec<_>>()
        };
        assert!(with(|_| {}).is_empty(), "the defaults are valid");
        assert_eq!(with(|s| s.lease_units = 0), ["lease_units"]);
        assert_eq!(with(|s| s.lease_window_ms = 500), ["lease_window_ms"], "shorter than the 1000 ms timeout");
        assert!(with(|s| (s.lease_units, s.lease_window_ms) = (1, 0)).is_empty(), "no leasing needs no window");
        assert_eq!(with(|s| s.lease_window_ms = 60_001), ["lease_window_ms"]);
        assert_eq!(with(|s| s.shards = 0), ["shards"]);
    }

    fn rule(limit: u32, tiers: &[(&str, u32)]) -> Rule {
        let rate = |limit| rules::RawRate { limit, period_s: 60, burst: None };
        Rule::compile(rules::RawRule {
            id: "r".into(),
            key: rules::LimitKey::Ip,
            limit,
            period_s: 60,
            burst: None,
            tiers: tiers.iter().map(|(name, limit)| ((*name).to_owned(), rate(*limit))).collect(),
        })
        .unwrap()
    }

    #[test]
    fn the_default_leases_fast_rules_only_and_only_when_every_tier_can() {
        let settings = RateLimitingConfig::default();
        assert!(settings.lease_terms(&rule(100, &[])).is_none());
        let terms = settings.lease_terms(&rule(6_000, &[])).expect("100 a second leases");
        assert_eq!((terms.units, terms.window_ms), (16, 1000));
        assert!(settings.lease_terms(&rule(6_000, &[("gold", 60_000)])).is_some());
        assert!(settings.lease_terms(&rule(6_000, &[("free", 100)])).is_none(), "one slow tier: none leases");
    }
}

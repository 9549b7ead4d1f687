//! Rate-limit rules of a route: what is counted (per IP, subject, API key, tenant or route), at
//! which rate, with per-tier rates, and how a request maps to its limit keys.

use super::gcra::{PolicyName, Quota};
use crate::authn::principal::Principal;
use serde::Deserialize;
use std::collections::BTreeMap;

/// What a limit counts by.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKey {
    /// The client IP (`CF-Connecting-IP`).
    Ip,
    /// The authenticated subject (anonymous requests are not counted by this limit).
    Subject,
    /// The API key id (requests without an API key are not counted by this limit).
    ApiKey,
    /// The principal's tenant (requests without one are not counted by this limit).
    Tenant,
    /// The route as a whole: every request counts.
    Route,
}

impl LimitKey {
    fn name(self) -> &'static str {
        match self {
            LimitKey::Ip => "ip",
            LimitKey::Subject => "subject",
            LimitKey::ApiKey => "api_key",
            LimitKey::Tenant => "tenant",
            LimitKey::Route => "route",
        }
    }
}

/// A rate as written in the configuration.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRate {
    /// Requests per period, at least 1.
    pub limit: u32,
    /// The period in seconds, at least 1.
    pub period_s: u64,
    /// Requests allowed at once, at least 1; the limit by default.
    pub burst: Option<u32>,
}

/// A rule as written in the configuration.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// The rule's name, used in headers and the audit log: 1 to 64 printable ASCII characters, unique on
    /// its route. Required.
    pub id: String,
    /// What it counts by.
    pub key: LimitKey,
    /// The rate: requests per `period_s`, at least 1. Required.
    pub limit: u32,
    /// The period in seconds, at least 1. Required.
    pub period_s: u64,
    /// Requests allowed at once, at least 1; the limit by default.
    pub burst: Option<u32>,
    /// Rates by the principal's tier (the API key's tier, or the issuer's tier claim), tier name to rate.
    /// None by default; a principal whose tier is not listed gets the rule's own rate.
    #[serde(default)]
    pub tiers: BTreeMap<String, RawRate>,
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's name.
    pub id: PolicyName,
    /// What it counts by.
    pub key: LimitKey,
    /// The rate for principals without a listed tier.
    pub quota: Quota,
    /// Rates by tier.
    pub tiers: BTreeMap<String, Quota>,
}

fn quota(rate: &RawRate) -> Result<Quota, String> {
    let period_ms = rate.period_s.checked_mul(1000).ok_or("period_s is too long")?;
    Quota::with_burst(rate.limit, period_ms, rate.burst.unwrap_or(rate.limit)).map_err(|e| e.to_string())
}

impl Rule {
    /// Compiles a rule; problems come back as (field, message).
    pub fn compile(raw: RawRule) -> Result<Self, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let id = PolicyName::parse(&raw.id).map_err(|e| problems.push(("id".to_owned(), e))).ok();
        let base = RawRate { limit: raw.limit, period_s: raw.period_s, burst: raw.burst };
        let quota_of = quota(&base).map_err(|e| problems.push(("limit".to_owned(), e))).ok();
        let mut tiers = BTreeMap::new();
        for (name, rate) in &raw.tiers {
            match quota(rate) {
                Ok(q) => {
                    tiers.insert(name.clone(), q);
                }
                Err(e) => problems.push((format!("tiers.{name}"), e)),
            }
        }
        match (id, quota_of) {
            (Some(id), Some(quota)) if problems.is_empty() => Ok(Self { id, key: raw.key, quota, tiers }),
            _ => Err(problems),
        }
    }

    /// The rate for a principal: its tier's, when the rule lists that tier.
    pub fn quota_for(&self, principal: Option<&Principal>) -> Quota {
        principal.and_then(Principal::tier).and_then(|tier| self.tiers.get(tier)).copied().unwrap_or(self.quota)
    }

    /// The counter this request increments, or `None` when the rule does not count it (an
    /// API-key limit on a JWT request, for instance).
    pub fn counter(&self, route_id: &str, principal: Option<&Principal>, client_ip: Option<&str>) -> Option<String> {
        let subject = match self.key {
            LimitKey::Ip => client_ip.unwrap_or("unknown").to_owned(),
            LimitKey::Subject => principal?.subject().to_owned(),
            LimitKey::ApiKey => principal?.key_id()?.to_owned(),
            LimitKey::Tenant => principal?.identity().tenant.clone()?,
            LimitKey::Route => String::new(),
        };
        // Lengths prefix each part so that no choice of values can make two counters collide.
        Some(format!(
            "{}:{route_id}|{}:{}|{}|{}:{subject}",
            route_id.len(),
            self.id.as_str().len(),
            self.id.as_str(),
            self.key.name(),
            subject.len()
        ))
    }
}

/// Which of `shards` Durable Objects holds a counter.
pub fn shard(counter: &str, shards: u32) -> u32 {
    crc32fast::hash(counter.as_bytes()) % shards.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::principal::{imagined, AuthMethod};
    use crate::identity::MappedIdentity;

    fn rule(key: LimitKey) -> Rule {
        Rule::compile(RawRule {
            id: "per-key".into(),
            key,
            limit: 100,
            period_s: 60,
            burst: None,
            tiers: BTreeMap::from([("gold".to_owned(), RawRate { limit: 1000, period_s: 60, burst: None })]),
        })
        .unwrap()
    }

    fn api_key_principal(tier: Option<&str>) -> Principal {
        let identity = MappedIdentity {
            subject: "svc".into(),
            email: None,
            groups: vec![],
            scopes: vec![],
            tenant: Some("acme".into()),
        };
        imagined(identity, AuthMethod::ApiKey, None, Default::default(), Some(("key1".into(), tier.map(str::to_owned))))
    }

    #[test]
    fn counters_table() {
        let with_key = api_key_principal(None);
        let jwt = imagined(
            MappedIdentity { subject: "u".into(), email: None, groups: vec![], scopes: vec![], tenant: None },
            AuthMethod::Jwt,
            None,
            Default::default(),
            None,
        );
        let cases: &[(LimitKey, Option<&Principal>, Option<&str>, Option<&str>)] = &[
            (LimitKey::Ip, None, Some("203.0.113.9"), Some("3:api|7:per-key|ip|11:203.0.113.9")),
            (LimitKey::Ip, None, None, Some("3:api|7:per-key|ip|7:unknown")),
            (LimitKey::Subject, Some(&with_key), None, Some("3:api|7:per-key|subject|3:svc")),
            (LimitKey::Subject, None, Some("1.2.3.4"), None),
            (LimitKey::ApiKey, Some(&with_key), None, Some("3:api|7:per-key|api_key|4:key1")),
            (LimitKey::ApiKey, Some(&jwt), None, None),
            (LimitKey::Tenant, Some(&with_key), None, Some("3:api|7:per-key|tenant|4:acme")),
            (LimitKey::Tenant, Some(&jwt), None, None),
            (LimitKey::Route, None, None, Some("3:api|7:per-key|route|0:")),
        ];
        for (key, principal, ip, expected) in cases {
            assert_eq!(rule(*key).counter("api", *principal, *ip).as_deref(), *expected, "{key:?}");
        }
    }

    #[test]
    fn tiers_choose_the_rate() {
        let rule = rule(LimitKey::ApiKey);
        assert_eq!(rule.quota_for(Some(&api_key_principal(Some("gold")))).limit(), 1000);
        assert_eq!(rule.quota_for(Some(&api_key_principal(Some("bronze")))).limit(), 100);
        assert_eq!(rule.quota_for(Some(&api_key_principal(None))).limit(), 100);
        assert_eq!(rule.quota_for(None).limit(), 100);
    }

    #[test]
    fn bad_rules_are_reported() {
        let problems = Rule::compile(RawRule {
            id: String::new(),
            key: LimitKey::Ip,
            limit: 0,
            period_s: 60,
            burst: None,
            tiers: BTreeMap::from([("x".to_owned(), RawRate { limit: 1, period_s: 0, burst: None })]),
        })
        .unwrap_err();
        let fields: Vec<String> = problems.into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["id", "limit", "tiers.x"]);
    }

    #[test]
    fn shards_spread_counters() {
        let used: std::collections::HashSet<u32> = (0..1000).map(|i| shard(&format!("c{i}"), 32)).collect();
        assert_eq!(used.len(), 32);
        assert_eq!(shard("x", 0), 0);
    }
}

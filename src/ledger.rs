//! One-time values and leases, as the revocation Durable Object keeps them (the pure rules; the
//! object applies them one event at a time, so each decision is atomic).
//!
//! - A *one-time* claim (a login `state`, an authorisation code) is granted once, ever, while it
//!   is remembered (until it expires and is swept).
//! - A *lease* (a session's refresh) is granted when free or lapsed. Only its owner can complete
//!   it, which keeps it closed for a settling window so that isolates still holding the old
//!   tokens do not refresh again, or release it early after a failure.

use serde::{Deserialize, Serialize};

/// What is stored under `claim:<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// Until when the claim holds (and after which the sweep forgets it), in ms.
    pub until_ms: u64,
    /// Who holds a lease (empty for one-time claims and completed leases).
    #[serde(default)]
    pub owner: String,
}

/// A claim operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOp {
    /// Take a one-time value.
    Once,
    /// Take a lease.
    Lease,
    /// The owner finished: hold the lease closed for its `ttl_ms` more.
    Complete,
    /// The owner gives the lease back.
    Release,
}

/// The request body of every claim operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claim {
    /// What is claimed (`state:<hash>`, `code:<hash>`, `refresh:<session>`).
    pub id: String,
    /// Now, in ms.
    pub now_ms: u64,
    /// How long the claim (or the settling window) holds.
    pub ttl_ms: u64,
    /// The lease owner's random token (empty for one-time claims).
    #[serde(default)]
    pub owner: String,
}

/// The answer of every claim operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claimed {
    /// Whether the operation took effect.
    pub granted: bool,
}

/// What to do with what is stored: `Some(Some(held))` writes it, `Some(None)` deletes it, `None`
/// leaves it.
pub type Change = Option<Option<Held>>;

/// What the ids of "every session of a user, created before" revocations start with.
pub const SUBJECT_REVOCATION_PREFIX: &str = "subject:";

/// The time a revocation keeps when it is recorded again. A credential's revocation (a key, one
/// session) means "invalid from then on": the earliest time wins, so a revoke during a
/// rotation's grace period ends it. A user's revocation means "every session created before
/// then ends": the latest wins, so a user signed out, signed in again and deprovisioned loses
/// the new session too.
pub fn combined_revocation(id: &str, existing: Option<u64>, at_ms: u64) -> u64 {
    match existing {
        None => at_ms,
        Some(existing) if id.starts_with(SUBJECT_REVOCATION_PREFIX) => existing.max(at_ms),
        Some(existing) => existing.min(at_ms),
    }
}

/// Decides a claim operation against what is stored.
pub fn decide(op: ClaimOp, stored: Option<&Held>, claim: &Claim) -> (Claimed, Change) {
    let free = stored.is_none_or(|held| held.until_ms <= claim.now_ms);
    let owned = stored.is_some_and(|held| !held.owner.is_empty() && held.owner == claim.owner);
    let hold = |owner: &str| Some(Some(Held { until_ms: claim.now_ms + claim.ttl_ms, owner: owner.to_owned() }));
    match op {
        ClaimOp::Once if stored.is_none() => (Claimed { granted: true }, hold("")),
        ClaimOp::Once => (Claimed { granted: false }, None),
        ClaimOp::Lease if free && !claim.owner.is_empty() => (Claimed { granted: true }, hold(&claim.owner)),
        ClaimOp::Lease => (Claimed { granted: false }, None),
        ClaimOp::Complete if owned => (Claimed { granted: true }, hold("")),
        ClaimOp::Release if owned => (Claimed { granted: true }, Some(None)),
        ClaimOp::Complete | ClaimOp::Release => (Claimed { granted: false }, None),
    }
}

/// Whether the sweep may forget a stored claim at `now_ms`.
pub fn expired(held: &Held, now_ms: u64) -> bool {
    held.until_ms <= now_ms
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_credential_keeps_its_earliest_revocation_and_a_user_the_latest() {
        assert_eq!(combined_revocation("revoked-key", None, 5), 5);
        assert_eq!(combined_revocation("apikey:k1", Some(10), 20), 10);
        assert_eq!(combined_revocation("session:abc", Some(20), 10), 10);
        assert_eq!(combined_revocation("subject:okta:abc", Some(10), 20), 20, "signed in again, then deprovisioned");
        assert_eq!(combined_revocation("subject:okta:abc", Some(20), 10), 20);
    }

    use super::*;

    fn claim(now_ms: u64, owner: &str) -> Claim {
        Claim { id: "x".into(), now_ms, ttl_ms: 100, owner: owner.into() }
    }

    fn held(until_ms: u64, owner: &str) -> Held {
        Held { until_ms, owner: owner.into() }
    }

    #[test]
    fn claims_table() {
        let cases: &[(ClaimOp, Option<Held>, Claim, bool, Change)] = &[
            (ClaimOp::Once, None, claim(10, ""), true, Some(Some(held(110, "")))),
            (ClaimOp::Once, Some(held(110, "")), claim(20, ""), false, None),
            // Used is used, even after the memory would lapse, until the sweep forgets it.
            (ClaimOp::Once, Some(held(110, "")), claim(500, ""), false, None),
            (ClaimOp::Lease, None, claim(10, "a"), true, Some(Some(held(110, "a")))),
            (ClaimOp::Lease, Some(held(110, "a")), claim(20, "b"), false, None),
            (ClaimOp::Lease, Some(held(110, "a")), claim(20, "a"), false, None),
            (ClaimOp::Lease, Some(held(110, "a")), claim(110, "b"), true, Some(Some(held(210, "b")))),
            (ClaimOp::Lease, None, claim(10, ""), false, None),
            (ClaimOp::Complete, Some(held(110, "a")), claim(20, "a"), true, Some(Some(held(120, "")))),
            (ClaimOp::Complete, Some(held(110, "a")), claim(20, "b"), false, None),
            (ClaimOp::Lease, Some(held(120, "")), claim(60, "c"), false, None),
            (ClaimOp::Release, Some(held(110, "a")), claim(20, "a"), true, Some(None)),
            (ClaimOp::Release, Some(held(110, "a")), claim(20, "b"), false, None),
            (ClaimOp::Release, Some(held(120, "")), claim(20, ""), false, None),
            (ClaimOp::Release, None, claim(20, "a"), false, None),
        ];
        for (op, stored, claim, granted, change) in cases {
            let (answer, decided) = decide(*op, stored.as_ref(), claim);
            assert_eq!((answer.granted, &decided), (*granted, change), "{op:?} on {stored:?} by {claim:?}");
        }
        assert!(expired(&held(100, ""), 100) && !expired(&held(100, ""), 99));
    }
}

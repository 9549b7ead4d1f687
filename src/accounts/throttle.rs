//! Failed sign-in throttling (OWASP ASVS 5.0 V6.3.1, NIST SP 800-63B-4 §3.2.2): failures are
//! counted per key (an email, a client IP); past a few, each one makes the key wait longer before
//! its next attempt, and enough of them lock it for a while. The Durable Object ledger applies
//! these rules one event at a time, so concurrent attempts cannot slip past the count.
//!
//! Keys are counted whether or not an account exists, so a wait or a lock says nothing about
//! which emails have accounts.
//!
//! An attempt is counted as a failure *before* its password is checked, in the same ledger event
//! that lets it through ([`ThrottleOp::Attempt`]): a burst of concurrent guesses cannot all pass
//! the gate before any of them is counted. A sign-in that succeeds then clears the email's count
//! and gives the IP's one back ([`ThrottleOp::Refund`]), so that signing in to one's own account
//! between guesses never wipes an IP's record.

use serde::{Deserialize, Serialize};

/// The rules for one kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottlePolicy {
    /// Failures allowed without a wait.
    pub free_failures: u32,
    /// The first wait; each further failure doubles it.
    pub base_delay_ms: u64,
    /// The failure count that locks the key.
    pub lock_after: u32,
    /// How long a lock lasts.
    pub lock_ms: u64,
    /// Failures older than this (since the last one) are forgotten.
    pub window_ms: u64,
}

/// What is remembered about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Failures {
    /// Failures in the current window.
    pub count: u32,
    /// When the last one happened.
    pub last_ms: u64,
    /// Until when the key is locked (0: it is not).
    pub locked_until_ms: u64,
}

/// Whether a key may try now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "gate", rename_all = "snake_case")]
pub enum Gate {
    /// It may.
    Open,
    /// Not before `until_ms` (a progressive delay).
    Wait {
        /// When the next attempt is allowed.
        until_ms: u64,
    },
    /// Locked until `until_ms`.
    Locked {
        /// When the lock ends.
        until_ms: u64,
    },
}

/// The most a single wait lasts (beyond it, the lock takes over).
const MAX_DELAY_MS: u64 = 5 * 60_000;

impl Failures {
    /// What is left of the record at `now_ms`: a lapsed lock and a lapsed window start afresh.
    pub fn current(self, policy: &ThrottlePolicy, now_ms: u64) -> Failures {
        let lock_over = self.locked_until_ms != 0 && self.locked_until_ms <= now_ms;
        let window_over = now_ms.saturating_sub(self.last_ms) >= policy.window_ms;
        if lock_over || (self.locked_until_ms == 0 && window_over) {
            Failures::default()
        } else {
            self
        }
    }
}

/// Whole seconds until `until_ms`, at least 1: what `Retry-After` says of a lock or a delay.
pub fn wait_s(until_ms: u64, now_ms: u64) -> u64 {
    until_ms.saturating_sub(now_ms).div_ceil(1000).max(1)
}

/// Whether the key may try at `now_ms`.
pub fn gate(policy: &ThrottlePolicy, record: Failures, now_ms: u64) -> Gate {
    let record = record.current(policy, now_ms);
    if record.locked_until_ms > now_ms {
        return Gate::Locked { until_ms: record.locked_until_ms };
    }
    if record.count < policy.free_failures.max(1) {
        return Gate::Open;
    }
    let doublings = (record.count - policy.free_failures.max(1)).min(20);
    let delay = policy.base_delay_ms.saturating_mul(1 << doublings).min(MAX_DELAY_MS);
    let until_ms = record.last_ms.saturating_add(delay);
    if until_ms > now_ms {
        Gate::Wait { until_ms }
    } else {
        Gate::Open
    }
}

/// The record after a failure at `now_ms`, and whether this failure locked the key.
pub fn after_failure(policy: &ThrottlePolicy, record: Failures, now_ms: u64) -> (Failures, bool) {
    let record = record.current(policy, now_ms);
    if record.locked_until_ms > now_ms {
        return (record, false);
    }
    let count = record.count.saturating_add(1);
    let locks = count >= policy.lock_after;
    let locked_until_ms = if locks { now_ms.saturating_add(policy.lock_ms) } else { 0 };
    (Failures { count, last_ms: now_ms, locked_until_ms }, locks)
}

/// Until when a record must be kept (after that it would be forgotten anyway).
pub fn keep_until_ms(policy: &ThrottlePolicy, record: &Failures) -> u64 {
    record.locked_until_ms.max(record.last_ms.saturating_add(policy.window_ms))
}

/// What the ledger is asked to do with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThrottleOp {
    /// Only say whether it may try.
    Check,
    /// An attempt: when the gate is open, count it as a failure now (before its password is
    /// checked); the answer's gate is the one the attempt met.
    Attempt,
    /// Give back one counted attempt (it succeeded), unless the key is locked.
    Refund,
    /// Forget its failures (a successful sign-in, a password reset).
    Clear,
}

/// The request body of a throttle operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThrottleRequest {
    /// The key (`pwd:<tenant>:<email digest>` or `pwdip:<ip>`).
    pub id: String,
    /// The operation.
    pub op: ThrottleOp,
    /// The rules.
    pub policy: ThrottlePolicy,
    /// Now, in ms.
    pub now_ms: u64,
}

/// The answer: the gate (for an attempt, the one it met; else the one after the operation), and
/// whether this attempt locked the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottleAnswer {
    /// Whether the key may try (or, for an attempt, whether it was let through).
    pub gate: Gate,
    /// This attempt locked the key: if it fails, its owner is told (once: only one attempt locks).
    pub newly_locked: bool,
}

/// Applies an operation to what is stored: the answer, and the record to keep (`None`: forget it).
pub fn apply(request: &ThrottleRequest, stored: Option<Failures>) -> (ThrottleAnswer, Option<Failures>) {
    let policy = &request.policy;
    let now = request.now_ms;
    let record = stored.unwrap_or_default().current(policy, now);
    let met = gate(policy, record, now);
    let (record, newly_locked, answered) = match request.op {
        ThrottleOp::Check => (record, false, met),
        ThrottleOp::Attempt if met == Gate::Open => {
            let (counted, locked) = after_failure(policy, record, now);
            (counted, locked, met)
        }
        ThrottleOp::Attempt => (record, false, met),
        ThrottleOp::Refund if record.locked_until_ms == 0 => {
            let count = record.count.saturating_sub(1);
            (Failures { count, ..record }, false, Gate::Open)
        }
        ThrottleOp::Refund => (record, false, gate(policy, record, now)),
        ThrottleOp::Clear => (Failures::default(), false, Gate::Open),
    };
    let answered = match request.op {
        ThrottleOp::Refund | ThrottleOp::Clear => gate(policy, record, now),
        _ => answered,
    };
    let keep = (record != Failures::default()).then_some(record);
    (ThrottleAnswer { gate: answered, newly_locked }, keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_is_whole_seconds_rounded_up_and_never_zero() {
        for (until, now, expected) in
            [(10_000, 10_000, 1), (10_001, 10_000, 1), (11_000, 10_000, 1), (11_001, 10_000, 2), (0, 10_000, 1)]
        {
            assert_eq!(wait_s(until, now), expected, "{until} at {now}");
        }
    }

    const POLICY: ThrottlePolicy =
        ThrottlePolicy { free_failures: 3, base_delay_ms: 1000, lock_after: 6, lock_ms: 60_000, window_ms: 600_000 };

    #[test]
    fn failures_bring_growing_waits_then_a_lock() {
        let mut record = Failures::default();
        let mut now = 1_000_000;
        // (gate before the attempt, locked by this failure)
        let expected = [
            (Gate::Open, false),
            (Gate::Open, false),
            (Gate::Open, false),
            (Gate::Wait { until_ms: now + 1_020 }, false),
            (Gate::Wait { until_ms: now + 3_020 }, false),
            (Gate::Wait { until_ms: now + 7_020 }, true),
        ];
        for (attempt, (wanted_gate, wanted_lock)) in expected.into_iter().enumerate() {
            assert_eq!(gate(&POLICY, record, now), wanted_gate, "attempt {attempt}");
            // Waits are served: the next attempt comes once the gate opens.
            if let Gate::Wait { until_ms } = wanted_gate {
                now = until_ms;
                assert_eq!(gate(&POLICY, record, now), Gate::Open);
            }
            let (next, locked) = after_failure(&POLICY, record, now);
            assert_eq!(locked, wanted_lock, "attempt {attempt}");
            record = next;
            now += 10;
        }
        let locked_until = record.locked_until_ms;
        assert_eq!(gate(&POLICY, record, now), Gate::Locked { until_ms: locked_until });
        // More failures while locked neither extend the lock nor notify again.
        assert_eq!(after_failure(&POLICY, record, now), (record, false));
        // The lock lapses into a clean slate.
        assert_eq!(gate(&POLICY, record, locked_until), Gate::Open);
        assert_eq!(record.current(&POLICY, locked_until), Failures::default());
    }

    #[test]
    fn a_quiet_window_forgets_the_failures() {
        let (record, _) = after_failure(&POLICY, Failures { count: 4, last_ms: 0, locked_until_ms: 0 }, 1);
        assert_eq!(record.count, 5);
        assert_eq!(record.current(&POLICY, 1 + POLICY.window_ms), Failures::default());
        assert_eq!(keep_until_ms(&POLICY, &record), 1 + POLICY.window_ms);
    }

    #[test]
    fn the_ledger_operations() {
        let request = |op| ThrottleRequest { id: "pwd:x".into(), op, policy: POLICY, now_ms: 5_000 };
        let (answer, kept) = apply(&request(ThrottleOp::Check), None);
        assert_eq!((answer.gate, kept), (Gate::Open, None));
        // An attempt is counted as it is let through.
        let (answer, kept) = apply(&request(ThrottleOp::Attempt), None);
        assert_eq!((answer.gate, kept.map(|r| r.count)), (Gate::Open, Some(1)));
        let (answer, kept) = apply(&request(ThrottleOp::Clear), kept);
        assert_eq!((answer.gate, kept), (Gate::Open, None));
        // A refund gives one attempt back.
        let (_, counted) =
            apply(&request(ThrottleOp::Attempt), Some(Failures { count: 2, last_ms: 4_000, locked_until_ms: 0 }));
        let (_, refunded) = apply(&request(ThrottleOp::Refund), counted);
        assert_eq!(refunded.map(|r| r.count), Some(2));
        // The attempt that reaches the lock is let through (its password decides), and locks.
        let near = Failures { count: 5, last_ms: 0, locked_until_ms: 0 };
        let (answer, kept) = apply(&request(ThrottleOp::Attempt), Some(near));
        assert!(answer.newly_locked);
        assert_eq!(answer.gate, Gate::Open);
        assert_eq!(kept.map(|r| r.locked_until_ms), Some(65_000));
        // Then nothing passes, and a refund does not lift the lock.
        let (answer, after) = apply(&request(ThrottleOp::Attempt), kept);
        assert_eq!((answer.gate, answer.newly_locked, after), (Gate::Locked { until_ms: 65_000 }, false, kept));
        let (answer, _) = apply(&request(ThrottleOp::Refund), kept);
        assert_eq!(answer.gate, Gate::Locked { until_ms: 65_000 });
        let json = serde_json::to_value(answer.gate).expect("json");
        assert_eq!(json["gate"], "locked");
    }
}

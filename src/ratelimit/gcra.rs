//! GCRA, the generic cell rate algorithm: a pure rate limiter with an injected clock.
//!
//! This is the algorithm of the [`governor`](https://docs.rs/governor) crate and of Brandur Leach's
//! ["Rate limiting, cells, and GCRA"](https://brandur.org/rate-limiting). A [`Quota`] of `limit`
//! requests per `period_ms` gives every request unit an *emission interval* `T = period_ms / limit`.
//! The whole state of a key is one instant, the theoretical arrival time ([`Tat`]): when the key
//! would be idle again if it stopped now. A request of `cost` units at `now` is allowed when
//!
//! ```text
//! max(tat, now) + cost × T  ≤  now + burst × T
//! ```
//!
//! and then that left side becomes the new TAT. A refusal changes nothing.
//!
//! - **Time** is always an argument (`now_ms`, milliseconds on the caller's clock); nothing here
//!   reads a clock. Internally time is kept in nanoseconds in `u128`, so a quota whose interval is
//!   not a whole number of milliseconds (3 per second, 3000 per second) is enforced at its rate.
//!   `T` is rounded up to the nanosecond, which can only make the limiter stricter, by at most 1 ns
//!   per unit.
//! - **Arithmetic** is integer only and cannot overflow: every input range is bounded (see
//!   [`MAX_PERIOD_MS`]) and the `u128` sums stay far below its limit; conversions back to `u64`
//!   saturate.
//! - **Guarantee.** Over any `w` consecutive milliseconds, the allowed units `n` satisfy
//!   `(n - burst) × period_ms ≤ (w - 1) × limit`. In particular any window of `period_ms`
//!   milliseconds allows at most `burst + limit - 1` units. Why: each allowed request moves the TAT
//!   forward by at least `cost × T` from `max(tat, now)`, so after the window's first request at
//!   `a` the TAT is at least `a + n × T`; the last allowed request, at most `a + w - 1`, left the
//!   TAT at most `burst × T` ahead of it. Hence `n × T ≤ (w - 1) ms + burst × T`, and `T` is at
//!   least `period_ms / limit`.
//! - **Headers.** [`rate_limit_policy_value`], [`rate_limit_value`] and [`Decision::retry_after_s`]
//!   format the `RateLimit-Policy`, `RateLimit` and `Retry-After` fields
//!   ([draft-ietf-httpapi-ratelimit-headers](https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/),
//!   [RFC 9110 §10.2.3](https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3)).

use serde::{Deserialize, Serialize};
use std::fmt;

const NS_PER_MS: u128 = 1_000_000;

/// The latest representable instant, in nanoseconds: `u64::MAX` milliseconds.
const MAX_NS: u128 = u64::MAX as u128 * NS_PER_MS;

/// The longest accepted period: the largest Structured Field integer
/// ([RFC 9651 §3.3.1](https://www.rfc-editor.org/rfc/rfc9651#section-3.3.1)), about 31,700 years, so
/// that every quota can be advertised in `RateLimit-Policy`.
pub const MAX_PERIOD_MS: u64 = 999_999_999_999_999;

/// The largest value a Structured Field integer can carry.
const MAX_SF_INTEGER: u64 = 999_999_999_999_999;

/// Why a quota is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaError {
    /// `limit` is zero.
    ZeroLimit,
    /// `period_ms` is zero.
    ZeroPeriod,
    /// `burst` is zero.
    ZeroBurst,
    /// `period_ms` is over [`MAX_PERIOD_MS`].
    PeriodTooLong,
    /// The quota allows more than one request per nanosecond.
    TooFast,
}

impl fmt::Display for QuotaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroLimit => f.write_str("a quota needs a limit of at least 1 request"),
            Self::ZeroPeriod => f.write_str("a quota needs a period of at least 1 ms"),
            Self::ZeroBurst => f.write_str("a quota needs a burst of at least 1 request"),
            Self::PeriodTooLong => write!(f, "a quota's period is at most {MAX_PERIOD_MS} ms"),
            Self::TooFast => f.write_str("a quota of more than one request per nanosecond is not supported"),
        }
    }
}

impl std::error::Error for QuotaError {}

/// A validated rate: `limit` requests per `period_ms`, of which up to `burst` may come at once.
///
/// Serialized as `{"limit":100,"period_ms":60000,"burst":100}`; `burst` may be left out, and
/// deserializing validates like [`Quota::with_burst`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawQuota", into = "RawQuota")]
pub struct Quota {
    limit: u32,
    period_ms: u64,
    burst: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuota {
    limit: u32,
    period_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    burst: Option<u32>,
}

impl TryFrom<RawQuota> for Quota {
    type Error = QuotaError;

    fn try_from(raw: RawQuota) -> Result<Self, QuotaError> {
        Self::with_burst(raw.limit, raw.period_ms, raw.burst.unwrap_or(raw.limit))
    }
}

impl From<Quota> for RawQuota {
    fn from(quota: Quota) -> Self {
        Self { limit: quota.limit, period_ms: quota.period_ms, burst: Some(quota.burst) }
    }
}

impl Quota {
    /// `limit` requests per `period_ms`, with a burst of `limit`.
    pub fn new(limit: u32, period_ms: u64) -> Result<Self, QuotaError> {
        Self::with_burst(limit, period_ms, limit)
    }

    /// `limit` requests per `period_ms`, of which up to `burst` may be sent at once. Reports the
    /// first problem, checking limit, period and burst in that order.
    pub fn with_burst(limit: u32, period_ms: u64, burst: u32) -> Result<Self, QuotaError> {
        if limit == 0 {
            return Err(QuotaError::ZeroLimit);
        }
        if period_ms == 0 {
            return Err(QuotaError::ZeroPeriod);
        }
        if period_ms > MAX_PERIOD_MS {
            return Err(QuotaError::PeriodTooLong);
        }
        if burst == 0 {
            return Err(QuotaError::ZeroBurst);
        }
        if u128::from(limit) > u128::from(period_ms) * NS_PER_MS {
            return Err(QuotaError::TooFast);
        }
        Ok(Self { limit, period_ms, burst })
    }

    /// Requests per period.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The period, in milliseconds.
    pub fn period_ms(&self) -> u64 {
        self.period_ms
    }

    /// The most requests allowed at one instant, after a long enough idle time.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// `T`: nanoseconds per request unit, rounded up. At least 1, at most `MAX_PERIOD_MS × 10⁶`.
    fn emission_interval_ns(&self) -> u128 {
        (u128::from(self.period_ms) * NS_PER_MS).div_ceil(u128::from(self.limit))
    }

    /// `burst × T`: how far ahead of now the TAT may run. Below 2¹⁰².
    fn tolerance_ns(&self) -> u128 {
        self.emission_interval_ns().saturating_mul(u128::from(self.burst))
    }
}

/// The state of one key: its theoretical arrival time, with nanosecond precision.
///
/// A TAT at or before now means the same as no state: the key is idle and has its full burst. The
/// Durable Object may therefore delete a key's state from [`Tat::idle_at_ms`] on.
///
/// Serialized as `{"ms":1767225600123,"ns":428571}`: whole milliseconds on the caller's clock and
/// the nanoseconds past them (below 1 000 000). Both stay exact as JavaScript numbers (up to
/// 2⁵³ ms, the year 287 396).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawTat", into = "RawTat")]
pub struct Tat {
    /// Nanoseconds on the caller's clock; at most `MAX_NS`.
    ns: u128,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTat {
    ms: u64,
    ns: u32,
}

impl TryFrom<RawTat> for Tat {
    type Error = String;

    fn try_from(raw: RawTat) -> Result<Self, String> {
        let ns = u128::from(raw.ms) * NS_PER_MS + u128::from(raw.ns);
        if u128::from(raw.ns) >= NS_PER_MS || ns > MAX_NS {
            return Err(format!(
                "invalid theoretical arrival time: ns must be below {NS_PER_MS} and the instant at most {} ms",
                u64::MAX
            ));
        }
        Ok(Self { ns })
    }
}

impl From<Tat> for RawTat {
    fn from(tat: Tat) -> Self {
        // ns ≤ MAX_NS, so the quotient fits a u64 and the remainder a u32.
        Self {
            ms: u64::try_from(tat.ns / NS_PER_MS).unwrap_or(u64::MAX),
            ns: u32::try_from(tat.ns % NS_PER_MS).unwrap_or(0),
        }
    }
}

impl Tat {
    /// The TAT at a whole millisecond.
    pub fn from_ms(ms: u64) -> Self {
        Self { ns: u128::from(ms) * NS_PER_MS }
    }

    /// The first millisecond at which the key is idle (the state can be forgotten).
    pub fn idle_at_ms(&self) -> u64 {
        ceil_ms(self.ns)
    }

    /// Whether the key is idle at `now_ms`, so that its state means the same as none.
    pub fn is_idle_at(&self, now_ms: u64) -> bool {
        self.ns <= u128::from(now_ms) * NS_PER_MS
    }
}

/// Nanoseconds to milliseconds, rounded up, saturating at `u64::MAX`.
fn ceil_ms(ns: u128) -> u64 {
    u64::try_from(ns.div_ceil(NS_PER_MS)).unwrap_or(u64::MAX)
}

/// Milliseconds to seconds, rounded up.
fn ceil_s(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

/// The outcome of [`check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// The request may pass. Store `new_state` for the key.
    Allowed {
        /// The key's state after this request.
        new_state: Tat,
        /// Unit requests that would still be allowed at this instant.
        remaining: u32,
        /// Milliseconds, rounded up, until the key is idle again (its full burst is back).
        reset_after_ms: u64,
    },
    /// The request is refused for now; the key's state is unchanged.
    Denied {
        /// Milliseconds, rounded up, after which this same request would be allowed if nothing
        /// else is allowed in between: waiting exactly this long succeeds, 1 ms less fails.
        retry_after_ms: u64,
        /// Unit requests that would still be allowed at this instant: 0 for a unit-cost request,
        /// possibly more when a larger request was refused.
        remaining: u32,
        /// Milliseconds, rounded up, until the key is idle again.
        reset_after_ms: u64,
    },
    /// The request can never be allowed, so retrying is pointless; the key's state is unchanged.
    /// That is the case when it costs more than the quota's burst, or (only with a broken clock)
    /// when its TAT would pass `u64::MAX` milliseconds.
    Impossible {
        /// Unit requests that would still be allowed at this instant.
        remaining: u32,
        /// Milliseconds, rounded up, until the key is idle again.
        reset_after_ms: u64,
    },
}

impl Decision {
    /// Whether the request may pass.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }

    /// The state to store, only when the request was allowed.
    pub fn new_state(&self) -> Option<Tat> {
        match self {
            Self::Allowed { new_state, .. } => Some(*new_state),
            Self::Denied { .. } | Self::Impossible { .. } => None,
        }
    }

    /// Unit requests still allowed at this instant.
    pub fn remaining(&self) -> u32 {
        match self {
            Self::Allowed { remaining, .. } | Self::Denied { remaining, .. } | Self::Impossible { remaining, .. } => {
                *remaining
            }
        }
    }

    /// Milliseconds until the key is idle again.
    pub fn reset_after_ms(&self) -> u64 {
        match self {
            Self::Allowed { reset_after_ms, .. }
            | Self::Denied { reset_after_ms, .. }
            | Self::Impossible { reset_after_ms, .. } => *reset_after_ms,
        }
    }

    /// Milliseconds until the same request would be allowed, only when it was denied.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Self::Denied { retry_after_ms, .. } => Some(*retry_after_ms),
            Self::Allowed { .. } | Self::Impossible { .. } => None,
        }
    }

    /// The `Retry-After` value in seconds ([RFC 9110 §10.2.3]): rounded up, at least 1, only when
    /// the request was denied. An impossible request gets none, since waiting does not help.
    ///
    /// [RFC 9110 §10.2.3]: https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
    pub fn retry_after_s(&self) -> Option<u64> {
        self.retry_after_ms().map(|ms| ceil_s(ms).max(1))
    }

    /// The `t` (reset) parameter of the `RateLimit` field, in seconds, rounded up: the time until
    /// the key is idle again. On a denial it is the `Retry-After` value instead, because the draft
    /// asks that `Retry-After` never point before the reset ([§6][server-behavior]).
    ///
    /// [server-behavior]: https://datatracker.ietf.org/doc/html/draft-ietf-httpapi-ratelimit-headers#section-6
    pub fn reset_s(&self) -> u64 {
        match self.retry_after_s() {
            Some(seconds) => seconds,
            None => ceil_s(self.reset_after_ms()),
        }
    }
}

/// Gives back what an allowed request of `cost` units was charged, when another limit refused
/// the same request: the TAT moves back by `cost` emission intervals, never before `now_ms`
/// (GCRA charges add up, so this undoes exactly that charge whatever else was charged since).
/// `None` when the counter is then idle and may be forgotten.
pub fn refund(quota: &Quota, state: Tat, now_ms: u64, cost: u32) -> Option<Tat> {
    let now = u128::from(now_ms) * NS_PER_MS;
    let charge = quota.emission_interval_ns().saturating_mul(u128::from(cost));
    let ns = state.ns.saturating_sub(charge);
    (ns > now).then_some(Tat { ns })
}

/// Decides a request of `cost` units at `now_ms` for a key whose stored state is `state` (`None`
/// for a key never seen, or forgotten once idle).
///
/// - `cost` 0 is a query: always allowed, and `new_state` is the given state unchanged (or, with
///   none, an idle state at `now_ms`, which means the same).
/// - `cost` above the burst is [`Decision::Impossible`], whatever the state and time.
/// - A refusal never changes the state: only [`Decision::Allowed`] carries one.
///
/// The clock may go backwards without harm: a TAT ahead of `now_ms` is simply further away.
pub fn check(quota: &Quota, state: Option<Tat>, now_ms: u64, cost: u32) -> Decision {
    let now = u128::from(now_ms) * NS_PER_MS;
    let interval = quota.emission_interval_ns();
    let tolerance = quota.tolerance_ns();
    // A TAT in the past means the same as a TAT of now.
    let tat = state.map_or(now, |state| state.ns.max(now));
    // Both only ever see a TAT at or after now, so remaining ≤ tolerance / interval = burst.
    let remaining = |tat: u128| {
        let slack = now.saturating_add(tolerance).saturating_sub(tat);
        u32::try_from(slack / interval).unwrap_or(u32::MAX).min(quota.burst)
    };
    let reset_after_ms = |tat: u128| ceil_ms(tat.saturating_sub(now));

    if cost > quota.burst {
        return Decision::Impossible { remaining: remaining(tat), reset_after_ms: reset_after_ms(tat) };
    }
    if cost == 0 {
        return Decision::Allowed {
            new_state: state.unwrap_or(Tat { ns: now }),
            remaining: remaining(tat),
            reset_after_ms: reset_after_ms(tat),
        };
    }
    let new_tat = tat.saturating_add(interval.saturating_mul(u128::from(cost)));
    if new_tat > now.saturating_add(tolerance) {
        // Denied means tat > now (with tat ≤ now, new_tat = now + cost × T ≤ now + tolerance),
        // and at any later instant t the request fits exactly when t ≥ new_tat - tolerance.
        let earliest = new_tat.saturating_sub(tolerance);
        return Decision::Denied {
            retry_after_ms: ceil_ms(earliest.saturating_sub(now)),
            remaining: remaining(tat),
            reset_after_ms: reset_after_ms(tat),
        };
    }
    if new_tat > MAX_NS {
        // Fail closed rather than store a TAT the state cannot represent.
        return Decision::Impossible { remaining: remaining(tat), reset_after_ms: reset_after_ms(tat) };
    }
    Decision::Allowed {
        new_state: Tat { ns: new_tat },
        remaining: remaining(new_tat),
        reset_after_ms: reset_after_ms(new_tat),
    }
}

/// How much of the burst leasing may cost a quota, at most: one part in this many.
const LEASE_BURST_SHARE: u128 = 16;

/// The terms on which the limiter leases units of a quota to an isolate: up to `units` at once,
/// each spent within `window_ms` of the moment the lease was asked for.
///
/// **Why the limiter never admits more than the quota.** A leased unit is charged when the
/// limiter decides (instant `c`) but spent later, at some `u` with `c ≤ u ≤ c + window`. GCRA
/// gives every charged unit a slot `[tat - T, tat)` of the virtual timeline: slots are disjoint,
/// each starts no earlier than its charge, and the check `tat ≤ c + τ` bounds where it ends. So
/// the limiter charges leases against a tolerance shortened by the window, `τ' = τ - window`
/// ([`lease`]). Then the units spent in any interval `[a, b]` were charged within
/// `[a - window, b]`, their slots lie within `[a - window, b + τ - window]`, and there are at
/// most `(b - a + τ) / T` of them: exactly the bound GCRA gives requests decided one by one
/// (this is ATM's cell delay variation tolerance, used the other way round).
///
/// **What it costs** (under-admission, never over-admission):
/// - at an instant, up to `⌈window / T⌉` units less burst than the quota's;
/// - units an isolate leased but did not spend before the window closed are spent for nobody,
///   at most `units - 1` per isolate and counter each window;
/// - near the limit a lease shrinks to half of what is left, down to one unit, so isolates share
///   what remains instead of one holding it.
///
/// A quota gets terms only when leasing pays and costs little ([`LeaseTerms::for_quota`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseTerms {
    /// The most units one lease holds.
    pub units: u32,
    /// How long after asking an isolate may spend a leased unit, in milliseconds.
    pub window_ms: u64,
}

impl LeaseTerms {
    /// The terms for `quota`, or `None` when its counters should be decided one request at a
    /// time: when `units` is below 2 or `window_ms` is 0, when the quota's sustained rate does not
    /// refill a whole lease within the window (a slow counter gains nothing from leasing), or when
    /// the burst it costs, `⌈window / T⌉` units, is over a sixteenth of the quota's burst.
    pub fn for_quota(quota: &Quota, units: u32, window_ms: u64) -> Option<Self> {
        if units < 2 || window_ms == 0 {
            return None;
        }
        let interval = quota.emission_interval_ns();
        let window = u128::from(window_ms) * NS_PER_MS;
        let pays = window >= interval.saturating_mul(u128::from(units));
        let burst_cost = window.div_ceil(interval);
        let cheap = burst_cost.saturating_mul(LEASE_BURST_SHARE) <= u128::from(quota.burst);
        (pays && cheap).then_some(Self { units, window_ms })
    }
}

/// Decides a lease at `now_ms`: between 1 and `terms.units` units, charged at once against the
/// tolerance shortened by the window (see [`LeaseTerms`]), and the number granted (0 unless
/// allowed). The grant is half of what fits, at least one and at most `terms.units`.
///
/// The decision's `remaining` counts what could still be leased after this grant, and a refusal's
/// `retry_after_ms` is exact for a lease of one unit: waiting exactly that long succeeds, 1 ms
/// less fails, if nothing else is charged in between.
pub fn lease(quota: &Quota, state: Option<Tat>, now_ms: u64, terms: &LeaseTerms) -> (Decision, u32) {
    let now = u128::from(now_ms) * NS_PER_MS;
    let interval = quota.emission_interval_ns();
    let tolerance = quota.tolerance_ns().saturating_sub(u128::from(terms.window_ms) * NS_PER_MS);
    let tat = state.map_or(now, |state| state.ns.max(now));
    let limit = now.saturating_add(tolerance);
    let fits = |tat: u128| limit.saturating_sub(tat) / interval;
    let reset_after_ms = |tat: u128| ceil_ms(tat.saturating_sub(now));
    let capped = |units: u128| u32::try_from(units).unwrap_or(u32::MAX).min(quota.burst);
    let fit = fits(tat);
    if fit == 0 {
        // One unit fits at t exactly when t + tolerance ≥ tat + interval, which is after now.
        let earliest = tat.saturating_add(interval).saturating_sub(tolerance);
        let decision = Decision::Denied {
            retry_after_ms: ceil_ms(earliest.saturating_sub(now)).max(1),
            remaining: 0,
            reset_after_ms: reset_after_ms(tat),
        };
        return (decision, 0);
    }
    let granted = capped(fit / 2).clamp(1, terms.units.max(1));
    let new_tat = tat.saturating_add(interval.saturating_mul(u128::from(granted)));
    if new_tat > MAX_NS {
        return (Decision::Impossible { remaining: capped(fit), reset_after_ms: reset_after_ms(tat) }, 0);
    }
    let decision = Decision::Allowed {
        new_state: Tat { ns: new_tat },
        remaining: capped(fits(new_tat)),
        reset_after_ms: reset_after_ms(new_tat),
    };
    (decision, granted)
}

/// The name of a rate-limit policy, as the `RateLimit-Policy` and `RateLimit` fields show it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyName(String);

impl PolicyName {
    /// Accepts 1 to 64 printable ASCII characters, the alphabet of a Structured Field string
    /// ([RFC 9651 §3.3.3](https://www.rfc-editor.org/rfc/rfc9651#section-3.3.3)).
    pub fn parse(name: &str) -> Result<Self, String> {
        if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(format!(
                "invalid rate-limit policy name {name:?}: expected 1 to 64 printable ASCII characters"
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a Structured Field string: quoted, with `"` and `\` escaped.
    fn sf_string(&self) -> String {
        let mut out = String::with_capacity(self.0.len() + 2);
        out.push('"');
        for c in self.0.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        out
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// One quota policy item of the `RateLimit-Policy` field, e.g. `"default";q=100;w=60`
/// ([draft-ietf-httpapi-ratelimit-headers §3][policy-field]).
///
/// [policy-field]: https://datatracker.ietf.org/doc/html/draft-ietf-httpapi-ratelimit-headers#section-3
///
/// `q` is the limit and `w` the period in seconds. The draft only has whole seconds, so a period
/// that is not one is scaled up to the shortest whole-second window with the same rate: 3 per
/// 1500 ms is `q=6;w=3`. The burst has no parameter in the draft and is not shown. Join several
/// items with `, `.
pub fn rate_limit_policy_value(name: &PolicyName, quota: &Quota) -> String {
    // period_ms ≤ MAX_PERIOD_MS, so w is a valid integer; q ≤ u32::MAX × 1000.
    let divisor = gcd(quota.period_ms, 1000);
    let window_s = quota.period_ms / divisor;
    let q = u64::from(quota.limit) * (1000 / divisor);
    format!("{};q={q};w={window_s}", name.sf_string())
}

/// One service limit item of the `RateLimit` field after a decision, e.g. `"default";r=42;t=17`
/// ([draft-ietf-httpapi-ratelimit-headers §4][field]).
///
/// [field]: https://datatracker.ietf.org/doc/html/draft-ietf-httpapi-ratelimit-headers#section-4
///
/// `r` is [`Decision::remaining`] and `t` is [`Decision::reset_s`], capped at the largest
/// Structured Field integer.
pub fn rate_limit_value(name: &PolicyName, decision: &Decision) -> String {
    let reset_s = decision.reset_s().min(MAX_SF_INTEGER);
    format!("{};r={};t={reset_s}", name.sf_string(), decision.remaining())
}

/// The `RateLimit` item for a request admitted on a lease: what this isolate knows is left (the
/// limiter's last word plus the units it holds), and the limiter's reset, rounded up.
pub fn leased_rate_limit_value(name: &PolicyName, remaining: u32, reset_after_ms: u64) -> String {
    format!("{};r={remaining};t={}", name.sf_string(), ceil_s(reset_after_ms).min(MAX_SF_INTEGER))
}

/// The `RateLimit` item for a limit this isolate remembers refusing, `Retry-After` seconds ago at
/// most: nothing remains, and the reset is the retry time.
pub fn refused_rate_limit_value(name: &PolicyName, retry_after_s: u64) -> String {
    format!("{};r=0;t={}", name.sf_string(), retry_after_s.min(MAX_SF_INTEGER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn quota(limit: u32, period_ms: u64, burst: u32) -> Quota {
        Quota::with_burst(limit, period_ms, burst).unwrap()
    }

    /// A decision in one short line: `ok r=.. z=..`, `no ra=.. r=.. z=..`, `never r=.. z=..`
    /// (`z` is the reset in ms).
    fn show(decision: &Decision) -> String {
        match decision {
            Decision::Allowed { remaining, reset_after_ms, .. } => format!("ok r={remaining} z={reset_after_ms}"),
            Decision::Denied { retry_after_ms, remaining, reset_after_ms } => {
                format!("no ra={retry_after_ms} r={remaining} z={reset_after_ms}")
            }
            Decision::Impossible { remaining, reset_after_ms } => format!("never r={remaining} z={reset_after_ms}"),
        }
    }

    /// Runs `(now_ms, cost)` events against one key, keeping the state as a Durable Object would.
    fn run(quota: &Quota, state: &mut Option<Tat>, now_ms: u64, cost: u32) -> Decision {
        let decision = check(quota, *state, now_ms, cost);
        if let Some(new_state) = decision.new_state() {
            *state = Some(new_state);
        }
        decision
    }

    #[test]
    fn quotas_are_validated() {
        let cases: &[(u32, u64, u32, Result<(), QuotaError>)] = &[
            // limit, period_ms, burst, expected
            (1, 1, 1, Ok(())),
            (100, 60_000, 100, Ok(())),
            (10, 1_000, 1, Ok(())),
            (1, 1_000, 50, Ok(())),
            (u32::MAX, MAX_PERIOD_MS, u32::MAX, Ok(())),
            (1_000_000, 1, 1, Ok(())),
            (0, 1_000, 1, Err(QuotaError::ZeroLimit)),
            (0, 0, 0, Err(QuotaError::ZeroLimit)),
            (1, 0, 1, Err(QuotaError::ZeroPeriod)),
            (1, 1_000, 0, Err(QuotaError::ZeroBurst)),
            (1, MAX_PERIOD_MS + 1, 1, Err(QuotaError::PeriodTooLong)),
            (1, u64::MAX, 1, Err(QuotaError::PeriodTooLong)),
            (1_000_001, 1, 1, Err(QuotaError::TooFast)),
            (u32::MAX, 4_294, 1, Err(QuotaError::TooFast)),
            (u32::MAX, 4_295, 1, Ok(())),
        ];
        for (limit, period_ms, burst, expected) in cases {
            let got = Quota::with_burst(*limit, *period_ms, *burst).map(|_| ());
            assert_eq!(got, *expected, "{limit}/{period_ms} burst {burst}");
        }
        assert_eq!(Quota::new(7, 60_000).unwrap().burst(), 7, "the burst defaults to the limit");
        assert_eq!(QuotaError::ZeroPeriod.to_string(), "a quota needs a period of at least 1 ms");
    }

    #[test]
    fn scripted_timelines() {
        let cases: &[(&str, (u32, u64, u32), &[(u64, u32, &str)])] = &[
            // name, (limit, period_ms, burst), events: (now_ms, cost, expected decision)
            (
                "the burst equals the quota and the next request is refused",
                (5, 1_000, 5),
                &[
                    (0, 1, "ok r=4 z=200"),
                    (0, 1, "ok r=3 z=400"),
                    (0, 1, "ok r=2 z=600"),
                    (0, 1, "ok r=1 z=800"),
                    (0, 1, "ok r=0 z=1000"),
                    (0, 1, "no ra=200 r=0 z=1000"),
                    (199, 1, "no ra=1 r=0 z=801"),
                    (200, 1, "ok r=0 z=1000"),
                    (200, 1, "no ra=200 r=0 z=1000"),
                ],
            ),
            (
                "a long idle period grants the burst and no more",
                (5, 1_000, 5),
                &[
                    (0, 5, "ok r=0 z=1000"),
                    (1_000_000_000, 1, "ok r=4 z=200"),
                    (1_000_000_000, 4, "ok r=0 z=1000"),
                    (1_000_000_000, 1, "no ra=200 r=0 z=1000"),
                ],
            ),
            (
                "a burst below the limit spaces requests out",
                (10, 1_000, 2),
                &[
                    (0, 1, "ok r=1 z=100"),
                    (0, 1, "ok r=0 z=200"),
                    (0, 1, "no ra=100 r=0 z=200"),
                    (100, 1, "ok r=0 z=200"),
                ],
            ),
            (
                "a burst above the limit is allowed once, then the rate applies",
                (1, 1_000, 3),
                &[
                    (0, 3, "ok r=0 z=3000"),
                    (0, 1, "no ra=1000 r=0 z=3000"),
                    (999, 1, "no ra=1 r=0 z=2001"),
                    (1_000, 1, "ok r=0 z=3000"),
                ],
            ),
            (
                "an interval that is not whole milliseconds is rounded up to the nanosecond",
                (3, 1_000, 3),
                &[
                    (0, 1, "ok r=2 z=334"),
                    (0, 2, "ok r=0 z=1001"),
                    (0, 1, "no ra=334 r=0 z=1001"),
                    (333, 1, "no ra=1 r=0 z=668"),
                    (334, 1, "ok r=0 z=1000"),
                ],
            ),
            (
                "sub-millisecond intervals keep their rate",
                (4_000, 1_000, 4),
                &[(0, 4, "ok r=0 z=1"), (0, 1, "no ra=1 r=0 z=1"), (1, 4, "ok r=0 z=1"), (1, 1, "no ra=1 r=0 z=1")],
            ),
            (
                "a large request refused still reports what smaller ones may use",
                (10, 1_000, 10),
                &[
                    (0, 7, "ok r=3 z=700"),
                    (0, 4, "no ra=100 r=3 z=700"),
                    (100, 4, "ok r=0 z=1000"),
                    (100, 1, "no ra=100 r=0 z=1000"),
                ],
            ),
            (
                "a request above the burst is impossible, even when idle",
                (10, 1_000, 5),
                &[
                    (0, 6, "never r=5 z=0"),
                    (0, 5, "ok r=0 z=500"),
                    (0, 6, "never r=0 z=500"),
                    (0, u32::MAX, "never r=0 z=500"),
                ],
            ),
            (
                "cost 0 is a query that never refuses",
                (2, 1_000, 2),
                &[
                    (0, 0, "ok r=2 z=0"),
                    (0, 2, "ok r=0 z=1000"),
                    (0, 0, "ok r=0 z=1000"),
                    (250, 0, "ok r=0 z=750"),
                    (500, 0, "ok r=1 z=500"),
                ],
            ),
            (
                "a clock that goes back only pushes the next slot further away",
                (1, 1_000, 1),
                &[(10_000, 1, "ok r=0 z=1000"), (5_000, 1, "no ra=6000 r=0 z=6000"), (11_000, 1, "ok r=0 z=1000")],
            ),
        ];
        for (name, (limit, period_ms, burst), events) in cases {
            let quota = quota(*limit, *period_ms, *burst);
            let mut state = None;
            for (index, (now_ms, cost, expected)) in events.iter().enumerate() {
                let got = show(&run(&quota, &mut state, *now_ms, *cost));
                assert_eq!(got, *expected, "{name}: event {index} (cost {cost} at {now_ms} ms)");
            }
        }
    }

    #[test]
    fn refusals_and_queries_leave_the_state_unchanged() {
        let quota = quota(2, 1_000, 2);
        let busy = Some(Tat::from_ms(1_500));
        let cases: &[(Option<Tat>, u64, u32, Option<Option<Tat>>)] = &[
            // state, now_ms, cost, expected new_state (None: the decision carries no state)
            (busy, 600, 1, None),
            (busy, 600, 3, None),
            (busy, 600, 0, Some(busy)),
            (Some(Tat::from_ms(10)), 600, 0, Some(Some(Tat::from_ms(10)))),
            (None, 600, 0, Some(Some(Tat::from_ms(600)))),
            (busy, 1_000, 1, Some(Some(Tat::from_ms(2_000)))),
        ];
        for (state, now_ms, cost, expected) in cases {
            let got = check(&quota, *state, *now_ms, *cost).new_state().map(Some);
            assert_eq!(got, *expected, "{state:?} at {now_ms} ms, cost {cost}");
        }
    }

    #[test]
    fn a_client_pacing_at_the_rate_is_never_refused() {
        let cases: &[(u32, u64, u32, u64)] = &[
            // limit, period_ms, burst, pace_ms (the interval rounded up to whole milliseconds)
            (1, 1_000, 1, 1_000),
            (10, 1_000, 1, 100),
            (7, 60_000, 1, 8_572),
            (3, 1_000, 1, 334),
            (1_000, 1_000, 1, 1),
        ];
        for (limit, period_ms, burst, pace_ms) in cases {
            let quota = quota(*limit, *period_ms, *burst);
            let mut state = None;
            for step in 0..10_000u64 {
                let decision = run(&quota, &mut state, 1_700_000_000_000 + step * pace_ms, 1);
                assert!(decision.is_allowed(), "{limit}/{period_ms}: step {step}: {decision:?}");
            }
        }
    }

    #[test]
    fn a_greedy_client_reaches_the_window_bound_exactly() {
        let cases: &[(u32, u64, u32)] = &[
            // limit, period_ms, burst: a client asking every millisecond gets burst + limit - 1
            // units into the first period_ms milliseconds, and not one more.
            (5, 1_000, 5),
            (10, 1_000, 2),
            (1, 1_000, 3),
            (3, 1_000, 3),
            (7, 60_000, 1),
        ];
        for (limit, period_ms, burst) in cases {
            let quota = quota(*limit, *period_ms, *burst);
            let mut state = None;
            let allowed = (0..*period_ms).filter(|now_ms| run(&quota, &mut state, *now_ms, 1).is_allowed()).count();
            assert_eq!(allowed, (burst + limit - 1) as usize, "{quota:?}");
        }
    }

    #[test]
    fn a_state_left_by_a_larger_quota_is_honoured_exactly() {
        // The quota shrank from 100 to 1 per second while the key had used 100.
        let quota = quota(1, 1_000, 1);
        let state = Some(Tat::from_ms(1_000));
        assert_eq!(show(&check(&quota, state, 0, 1)), "no ra=1000 r=0 z=1000");
        assert_eq!(show(&check(&quota, state, 999, 1)), "no ra=1 r=0 z=1");
        assert_eq!(show(&check(&quota, state, 1_000, 1)), "ok r=0 z=1000");
        assert_eq!(show(&check(&quota, Some(Tat::from_ms(u64::MAX)), 0, 0)), format!("ok r=0 z={}", u64::MAX));
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        let quotas = [
            quota(1, 1, 1),
            quota(u32::MAX, MAX_PERIOD_MS, u32::MAX),
            quota(1, MAX_PERIOD_MS, u32::MAX),
            quota(1_000_000, 1, 1),
        ];
        let states = [None, Some(Tat::from_ms(0)), Some(Tat::from_ms(u64::MAX)), Some(Tat { ns: MAX_NS - 1 })];
        for quota in &quotas {
            for state in states {
                for now_ms in [0, 1, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
                    for cost in [0, 1, 2, quota.burst(), u32::MAX] {
                        let decision = check(quota, state, now_ms, cost);
                        let _ = (decision.retry_after_s(), decision.reset_s());
                        assert!(decision.remaining() <= quota.burst(), "{quota:?} {state:?} {now_ms} {cost}");
                        if cost > quota.burst() {
                            assert!(matches!(decision, Decision::Impossible { .. }));
                        }
                    }
                }
            }
        }
        // At the end of the clock a TAT that cannot be stored is refused, not wrapped.
        let quota = quota(1, 1_000, 1);
        assert_eq!(show(&check(&quota, None, u64::MAX, 1)), "never r=1 z=0");
        assert_eq!(show(&check(&quota, None, u64::MAX - 1_000, 1)), "ok r=0 z=1000");
    }

    #[test]
    fn the_state_round_trips_through_json() {
        let cases: &[(Tat, &str)] = &[
            (Tat::from_ms(0), r#"{"ms":0,"ns":0}"#),
            (Tat { ns: 1_767_225_600_123 * NS_PER_MS + 428_571 }, r#"{"ms":1767225600123,"ns":428571}"#),
            (Tat::from_ms(u64::MAX), r#"{"ms":18446744073709551615,"ns":0}"#),
        ];
        for (tat, json) in cases {
            assert_eq!(serde_json::to_string(tat).unwrap(), *json);
            assert_eq!(serde_json::from_str::<Tat>(json).unwrap(), *tat, "{json}");
        }
        for bad in [
            r#"{"ms":0,"ns":1000000}"#,
            r#"{"ms":18446744073709551615,"ns":1}"#,
            r#"{"ms":-1,"ns":0}"#,
            r#"{"ms":0}"#,
            r#"{"ms":0,"ns":0,"x":1}"#,
            r#"12"#,
        ] {
            assert!(serde_json::from_str::<Tat>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quotas_and_decisions_round_trip_through_json() {
        let cases: &[(&str, Result<Quota, ()>)] = &[
            (r#"{"limit":100,"period_ms":60000}"#, Ok(quota(100, 60_000, 100))),
            (r#"{"limit":100,"period_ms":60000,"burst":10}"#, Ok(quota(100, 60_000, 10))),
            (r#"{"limit":0,"period_ms":60000}"#, Err(())),
            (r#"{"limit":1,"period_ms":1000,"burst":0}"#, Err(())),
            (r#"{"limit":1,"period_ms":1000,"window":5}"#, Err(())),
        ];
        for (json, expected) in cases {
            assert_eq!(serde_json::from_str::<Quota>(json).map_err(|_| ()), *expected, "{json}");
        }
        let quota = quota(5, 1_000, 5);
        assert_eq!(serde_json::to_string(&quota).unwrap(), r#"{"limit":5,"period_ms":1000,"burst":5}"#);
        for decision in
            [check(&quota, None, 7, 1), check(&quota, Some(Tat::from_ms(2_000)), 7, 1), check(&quota, None, 7, 9)]
        {
            let json = serde_json::to_string(&decision).unwrap();
            assert_eq!(serde_json::from_str::<Decision>(&json).unwrap(), decision, "{json}");
        }
        assert_eq!(
            serde_json::to_string(&check(&quota, None, 7, 1)).unwrap(),
            r#"{"decision":"allowed","new_state":{"ms":207,"ns":0},"remaining":4,"reset_after_ms":200}"#
        );
    }

    #[test]
    fn header_values() {
        let name = PolicyName::parse("default").unwrap();
        let cases: &[((u32, u64, u32), Option<Tat>, u64, u32, &str, &str, Option<u64>)] = &[
            // quota, state, now_ms, cost, RateLimit-Policy, RateLimit, Retry-After
            ((100, 60_000, 100), None, 0, 58, r#""default";q=100;w=60"#, r#""default";r=42;t=35"#, None),
            ((100, 10_000, 100), None, 0, 1, r#""default";q=100;w=10"#, r#""default";r=99;t=1"#, None),
            ((100, 60_000, 100), None, 0, 0, r#""default";q=100;w=60"#, r#""default";r=100;t=0"#, None),
            (
                (1, 60_000, 1),
                Some(Tat::from_ms(60_000)),
                43_000,
                1,
                r#""default";q=1;w=60"#,
                r#""default";r=0;t=17"#,
                Some(17),
            ),
            (
                (1, 60_000, 1),
                Some(Tat::from_ms(60_000)),
                59_999,
                1,
                r#""default";q=1;w=60"#,
                r#""default";r=0;t=1"#,
                Some(1),
            ),
            ((3, 1_500, 3), None, 0, 1, r#""default";q=6;w=3"#, r#""default";r=2;t=1"#, None),
            ((1, 250, 1), None, 0, 1, r#""default";q=4;w=1"#, r#""default";r=0;t=1"#, None),
            ((5, 1_001, 5), None, 0, 9, r#""default";q=5000;w=1001"#, r#""default";r=5;t=0"#, None),
            ((1, 86_400_000, 1), None, 0, 1, r#""default";q=1;w=86400"#, r#""default";r=0;t=86400"#, None),
            (
                (1, MAX_PERIOD_MS, 1),
                Some(Tat::from_ms(u64::MAX)),
                0,
                0,
                r#""default";q=1000;w=999999999999999"#,
                r#""default";r=0;t=999999999999999"#,
                None,
            ),
        ];
        for ((limit, period_ms, burst), state, now_ms, cost, policy, current, retry_after) in cases {
            let quota = quota(*limit, *period_ms, *burst);
            let decision = check(&quota, *state, *now_ms, *cost);
            assert_eq!(rate_limit_policy_value(&name, &quota), *policy, "{quota:?}");
            assert_eq!(rate_limit_value(&name, &decision), *current, "{quota:?} {decision:?}");
            assert_eq!(decision.retry_after_s(), *retry_after, "{quota:?} {decision:?}");
        }
    }

    #[test]
    fn retry_after_is_rounded_up_to_at_least_one_second() {
        let cases: &[(u64, u64)] =
            &[(1, 1), (999, 1), (1_000, 1), (1_001, 2), (59_001, 60), (u64::MAX, u64::MAX.div_ceil(1000))];
        for (retry_after_ms, expected_s) in cases {
            let decision =
                Decision::Denied { retry_after_ms: *retry_after_ms, remaining: 0, reset_after_ms: *retry_after_ms };
            assert_eq!(decision.retry_after_s(), Some(*expected_s), "{retry_after_ms} ms");
            assert_eq!(decision.reset_s(), *expected_s, "t never points before Retry-After");
        }
    }

    #[test]
    fn policy_names() {
        let cases: &[(&str, Option<&str>)] = &[
            // name, its Structured Field string (None: refused)
            ("default", Some(r#""default""#)),
            ("per user", Some(r#""per user""#)),
            (r#"a"b\c"#, Some(r#""a\"b\\c""#)),
            ("", None),
            ("tab\there", None),
            ("naïve", None),
            ("line\nbreak", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(PolicyName::parse(raw).ok().map(|name| name.sf_string()).as_deref(), *expected, "{raw:?}");
        }
        assert!(PolicyName::parse(&"a".repeat(64)).is_ok());
        assert!(PolicyName::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn idle_states_can_be_forgotten() {
        let tat = Tat { ns: 1_000 * NS_PER_MS + 1 };
        assert_eq!(tat.idle_at_ms(), 1_001);
        assert!(!tat.is_idle_at(1_000));
        assert!(tat.is_idle_at(1_001));
        // Forgetting an idle state changes no decision.
        let quota = quota(3, 1_000, 2);
        for cost in 0..=3 {
            assert_eq!(check(&quota, Some(tat), 1_001, cost).remaining(), check(&quota, None, 1_001, cost).remaining());
            assert_eq!(show(&check(&quota, Some(tat), 1_001, cost)), show(&check(&quota, None, 1_001, cost)));
        }
    }

    // Property tests: random quotas and timelines of (delay, cost) events against one key.

    /// One step of a timeline: the state before, the event, and the decision.
    #[derive(Debug, Clone, PartialEq)]
    struct Step {
        before: Option<Tat>,
        now_ms: u64,
        cost: u32,
        decision: Decision,
    }

    fn simulate(quota: &Quota, start_ms: u64, events: &[(u64, u32)]) -> Vec<Step> {
        let mut state = None;
        let mut now_ms = start_ms;
        events
            .iter()
            .map(|(delay_ms, cost)| {
                now_ms += delay_ms;
                let before = state;
                let decision = run(quota, &mut state, now_ms, *cost);
                Step { before, now_ms, cost: *cost, decision }
            })
            .collect()
    }

    fn any_quota() -> impl Strategy<Value = Quota> {
        prop_oneof![
            // Intervals of whole or fractional milliseconds.
            (1..=12u32, 1..=3_000u64, 1..=12u32),
            // Sub-millisecond intervals.
            (1..=5_000u32, 1..=20u64, 1..=12u32),
        ]
        .prop_map(|(limit, period_ms, burst)| quota(limit, period_ms, burst))
    }

    fn any_timeline() -> impl Strategy<Value = Vec<(u64, u32)>> {
        let delay = prop_oneof![Just(0u64), 0..=20u64, 0..=5_000u64];
        let cost = prop_oneof![3 => Just(1u32), 1 => 0..=14u32];
        prop::collection::vec((delay, cost), 1..=80)
    }

    /// Start times far from the end of the clock (about the year 37 000 at most).
    fn any_start() -> impl Strategy<Value = u64> {
        prop_oneof![Just(0u64), 0..=(1u64 << 50)]
    }

    fn config() -> ProptestConfig {
        ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() }
    }

    proptest! {
        #![proptest_config(config())]

        /// Over any w consecutive milliseconds, (allowed units − burst) × period ≤ (w − 1) × limit;
        /// so a window of period_ms allows at most burst + limit − 1 units. Checking every pair of
        /// allowed requests (i, j) checks the tightest window around every allowed set.
        #[test]
        fn no_window_allows_more_than_the_gcra_bound(
            quota in any_quota(), start in any_start(), events in any_timeline(),
        ) {
            let steps = simulate(&quota, start, &events);
            let allowed: Vec<(u64, u128)> = steps
                .iter()
                .filter(|step| step.decision.is_allowed())
                .map(|step| (step.now_ms, u128::from(step.cost)))
                .collect();
            let limit = u128::from(quota.limit());
            let period = u128::from(quota.period_ms());
            let burst = u128::from(quota.burst());
            for i in 0..allowed.len() {
                let mut units = 0u128;
                for &(t_j, cost) in &allowed[i..] {
                    units += cost;
                    let span = u128::from(t_j - allowed[i].0); // w - 1
                    prop_assert!(units * period <= burst * period + span * limit,
                        "{units} units within {} ms under {quota:?}", span + 1);
                    if span < period {
                        prop_assert!(units < burst + limit, "{units} units within one period under {quota:?}");
                    }
                }
            }
        }

        /// At every denial, waiting exactly retry_after_ms succeeds and 1 ms less fails; a denial
        /// only ever happens to a request within the burst.
        #[test]
        fn retry_after_is_exact(quota in any_quota(), start in any_start(), events in any_timeline()) {
            for step in simulate(&quota, start, &events) {
                match step.decision {
                    Decision::Denied { retry_after_ms, .. } => {
                        prop_assert!(step.cost >= 1 && step.cost <= quota.burst());
                        prop_assert!(retry_after_ms >= 1);
                        let at = step.now_ms + retry_after_ms;
                        prop_assert!(check(&quota, step.before, at, step.cost).is_allowed(), "{step:?}");
                        prop_assert!(!check(&quota, step.before, at - 1, step.cost).is_allowed(), "{step:?}");
                    }
                    Decision::Impossible { .. } => prop_assert!(step.cost > quota.burst(), "{step:?}"),
                    Decision::Allowed { .. } => prop_assert!(step.cost <= quota.burst()),
                }
            }
        }

        /// After every decision, exactly `remaining` more unit requests pass at the same instant,
        /// and at exactly reset_after_ms later the full burst is back (1 ms sooner it is not).
        #[test]
        fn remaining_and_reset_are_exact(quota in any_quota(), start in any_start(), events in any_timeline()) {
            for step in simulate(&quota, start, &events) {
                let mut state = step.decision.new_state().or(step.before);
                let mut passed = 0u32;
                while run(&quota, &mut state, step.now_ms, 1).is_allowed() {
                    passed += 1;
                    prop_assert!(passed <= quota.burst(), "{step:?}");
                }
                prop_assert_eq!(passed, step.decision.remaining(), "{:?}", step);

                let state = step.decision.new_state().or(step.before);
                let reset = step.decision.reset_after_ms();
                let full_at = step.now_ms + reset;
                prop_assert_eq!(check(&quota, state, full_at, 0).remaining(), quota.burst(), "{:?}", step);
                if reset > 0 {
                    prop_assert!(check(&quota, state, full_at - 1, 0).remaining() < quota.burst(), "{step:?}");
                }
            }
        }

        /// However long a key stays idle, at most `burst` unit requests pass at once (exactly
        /// `burst` once the reset has passed).
        #[test]
        fn idle_time_never_grants_more_than_the_burst(
            quota in any_quota(), start in any_start(), events in any_timeline(), idle_ms in 0..=(1u64 << 40),
        ) {
            let steps = simulate(&quota, start, &events);
            let last = steps.last().map(|step| (step.now_ms, step.decision.new_state().or(step.before)));
            let (now_ms, mut state) = last.unwrap_or((start, None));
            let at = now_ms + idle_ms;
            let mut passed = 0u32;
            while run(&quota, &mut state, at, 1).is_allowed() {
                passed += 1;
                prop_assert!(passed <= quota.burst());
            }
            if idle_ms >= quota.period_ms().saturating_mul(u64::from(quota.burst())) {
                prop_assert_eq!(passed, quota.burst());
            }
        }

        /// Decisions depend on nothing but their arguments: replaying a timeline, or storing the
        /// state as JSON between requests as the Durable Object does, gives the same decisions.
        #[test]
        fn decisions_are_deterministic(quota in any_quota(), start in any_start(), events in any_timeline()) {
            let first = simulate(&quota, start, &events);
            prop_assert_eq!(&first, &simulate(&quota, start, &events));
            let mut stored: Option<String> = None;
            let mut now_ms = start;
            for ((delay_ms, cost), expected) in events.iter().zip(&first) {
                now_ms += delay_ms;
                let state = stored.as_deref().map(|json| serde_json::from_str::<Tat>(json).unwrap());
                let decision = check(&quota, state, now_ms, *cost);
                prop_assert_eq!(decision, expected.decision);
                if let Some(new_state) = decision.new_state() {
                    stored = Some(serde_json::to_string(&new_state).unwrap());
                }
            }
        }

        /// Any inputs at all, up to the end of the clock: no panic, a request above the burst is
        /// impossible, remaining never exceeds the burst, a refusal carries no state.
        #[test]
        fn any_inputs_are_total(
            limit in 1..=u32::MAX, period_ms in 4_295..=MAX_PERIOD_MS, burst in 1..=u32::MAX,
            state in proptest::option::of(any::<u64>()), now_ms in any::<u64>(), cost in any::<u32>(),
        ) {
            let quota = quota(limit, period_ms, burst);
            let decision = check(&quota, state.map(Tat::from_ms), now_ms, cost);
            prop_assert!(decision.remaining() <= burst);
            if cost > burst {
                prop_assert!(matches!(decision, Decision::Impossible { .. }), "{decision:?}");
            }
            if let Some(retry_after_s) = decision.retry_after_s() {
                prop_assert!(retry_after_s >= 1 && decision.new_state().is_none());
            }
            let _ = (rate_limit_value(&PolicyName::parse("p").unwrap(), &decision), decision.reset_s());
        }
    }
}

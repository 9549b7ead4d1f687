//! The units an isolate holds on lease from the limiter, spent on later requests without a round
//! trip (see [`super::gcra::LeaseTerms`] for why this never admits more than the quota).
//!
//! A unit may be spent only before its lease's window closes, measured from when the isolate
//! *asked* (which is before the limiter charged it). Each grant is held as its own lot with its
//! own close, spent earliest close first, so a later grant never shortens an earlier one's life or
//! lengthens it. A unit put back (its request was refused by another limit) rejoins a lot that
//! closes no later than its own, so no unit ever outlives its window.

use super::gcra::Quota;
use crate::cache::BoundedCache;

/// Lots held per counter, at most; past that, a new grant joins the lot closing nearest before it.
const MAX_LOTS: usize = 8;

/// Units granted by the limiter for one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The rate they were charged at: only a request counted at the same rate may spend them
    /// (tiers can share a counter).
    pub quota: Quota,
    /// Units to hold for later requests.
    pub units: u32,
    /// When they may no longer be spent: when the isolate asked, plus the lease window.
    pub closes_at_ms: u64,
    /// What the limiter said was left after this grant.
    pub remaining: u32,
    /// When the limiter said the counter would be idle again.
    pub reset_at_ms: u64,
}

/// One unit taken from the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spent {
    /// What the limiter last said was left (not counting units held by isolates).
    pub remaining: u32,
    /// Milliseconds until the counter is idle again, as the limiter last said.
    pub reset_after_ms: u64,
    /// When the unit's lease closes (for [`LeasePool::put_back`]).
    closes_at_ms: u64,
}

/// Units of one grant (or of grants merged under the earliest of their closes).
#[derive(Debug, Clone, Copy)]
struct Lot {
    units: u32,
    closes_at_ms: u64,
}

/// A counter's held lots, earliest close first, and the limiter's last word on it.
#[derive(Debug, Clone)]
struct Held {
    quota: Quota,
    lots: Vec<Lot>,
    remaining: u32,
    reset_at_ms: u64,
}

impl Held {
    /// Forgets lots that closed, and with `empty`, lots with nothing left.
    fn prune(&mut self, now_ms: u64, empty: bool) {
        self.lots.retain(|lot| lot.closes_at_ms > now_ms && (lot.units > 0 || !empty));
    }

    /// When the last lot closes: the entry is worth keeping until then.
    fn last_close(&self) -> u64 {
        self.lots.iter().map(|lot| lot.closes_at_ms).max().unwrap_or(0)
    }

    /// Adds a lot, keeping the order; past `MAX_LOTS`, it joins the lot closing nearest before
    /// it (or, when none closes before it, takes the earliest lot's close).
    fn add(&mut self, lot: Lot) {
        if self.lots.len() >= MAX_LOTS {
            let target = self.lots.iter().rposition(|held| held.closes_at_ms <= lot.closes_at_ms).unwrap_or(0);
            let held = &mut self.lots[target];
            held.units = held.units.saturating_add(lot.units);
            held.closes_at_ms = held.closes_at_ms.min(lot.closes_at_ms);
            return;
        }
        let position = self.lots.partition_point(|held| held.closes_at_ms <= lot.closes_at_ms);
        self.lots.insert(position, lot);
    }
}

/// Leased units per counter, bounded in the number of counters.
pub struct LeasePool {
    held: BoundedCache<String, Held>,
}

impl LeasePool {
    /// A pool holding leases for at most `capacity` counters.
    pub fn new(capacity: usize) -> Self {
        Self { held: BoundedCache::new(capacity) }
    }

    /// Whether a unit of `counter`'s leases at `quota` could be taken now.
    pub fn holds(&mut self, counter: &str, quota: &Quota, now_ms: u64) -> bool {
        self.held.get(counter, now_ms).is_some_and(|held| {
            held.quota == *quota && held.lots.iter().any(|lot| lot.units > 0 && lot.closes_at_ms > now_ms)
        })
    }

    /// Takes one unit of `counter`'s leases at `quota`, from the open lot that closes first.
    pub fn take(&mut self, counter: &str, quota: &Quota, now_ms: u64) -> Option<Spent> {
        let held = self.held.get_mut(counter, now_ms)?;
        if held.quota != *quota {
            return None;
        }
        held.prune(now_ms, false);
        let lot = held.lots.iter_mut().find(|lot| lot.units > 0)?;
        lot.units -= 1;
        let closes_at_ms = lot.closes_at_ms;
        Some(Spent { remaining: held.remaining, reset_after_ms: held.reset_at_ms.saturating_sub(now_ms), closes_at_ms })
    }

    /// Returns a unit taken for a request that was then refused. It rejoins the open lot that
    /// closes latest but no later than its own; when there is none, it is dropped.
    pub fn put_back(&mut self, counter: &str, spent: Spent, now_ms: u64) {
        let Some(held) = self.held.get_mut(counter, now_ms) else { return };
        held.prune(now_ms, false);
        if let Some(lot) = held.lots.iter_mut().rev().find(|lot| lot.closes_at_ms <= spent.closes_at_ms) {
            lot.units = lot.units.saturating_add(1);
        }
    }

    /// Holds a grant's units for `counter`, as a lot of its own. Units held at another rate are
    /// dropped.
    pub fn keep(&mut self, counter: &str, grant: Grant, now_ms: u64) {
        let fresh = Held { quota: grant.quota, lots: Vec::new(), remaining: 0, reset_at_ms: 0 };
        let mut held = match self.held.get(counter, now_ms) {
            Some(held) if held.quota == grant.quota => held.clone(),
            _ if grant.units == 0 => return,
            _ => fresh,
        };
        held.prune(now_ms, true);
        if grant.units > 0 && grant.closes_at_ms > now_ms {
            held.add(Lot { units: grant.units, closes_at_ms: grant.closes_at_ms });
        }
        held.remaining = grant.remaining;
        held.reset_at_ms = grant.reset_at_ms;
        let expires_at_ms = held.last_close();
        self.held.insert(counter.to_owned(), held, expires_at_ms, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::gcra::{self, LeaseTerms, Quota, Tat};
    use proptest::prelude::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    fn rate() -> Quota {
        Quota::new(1_000, 1_000).unwrap()
    }

    fn grant(units: u32, closes_at_ms: u64) -> Grant {
        Grant { quota: rate(), units, closes_at_ms, remaining: 50, reset_at_ms: closes_at_ms + 500 }
    }

    #[test]
    fn units_are_spent_only_inside_their_window() {
        let mut pool = LeasePool::new(8);
        pool.keep("c", grant(2, 1_000), 0);
        let spent = pool.take("c", &rate(), 999).unwrap();
        assert_eq!((spent.remaining, spent.reset_after_ms), (50, 501), "the limiter's last word");
        assert!(pool.holds("c", &rate(), 999), "one unit left");
        assert!(pool.take("c", &rate(), 1_000).is_none(), "the window closed at 1000");
        assert!(!pool.holds("c", &rate(), 999));
        assert!(pool.take("other", &rate(), 0).is_none());
    }

    #[test]
    fn each_grant_keeps_its_own_close_and_the_earliest_is_spent_first() {
        let mut pool = LeasePool::new(8);
        // An answer to a later ask can land before the answer to an earlier one.
        pool.keep("c", grant(2, 1_200), 0);
        pool.keep("c", grant(1, 1_000), 0);
        assert_eq!(pool.take("c", &rate(), 10).map(|s| s.closes_at_ms), Some(1_000));
        assert_eq!(pool.take("c", &rate(), 1_100).map(|s| s.closes_at_ms), Some(1_200));
        assert_eq!(pool.take("c", &rate(), 1_199).map(|s| s.closes_at_ms), Some(1_200));
        assert!(pool.take("c", &rate(), 1_199).is_none());
    }

    #[test]
    fn past_the_lot_limit_a_grant_joins_an_earlier_close() {
        let mut pool = LeasePool::new(8);
        for close in 1..=MAX_LOTS as u64 {
            pool.keep("c", grant(1, close * 100), 0);
        }
        pool.keep("c", grant(5, 450), 0);
        let closes: Vec<u64> = std::iter::from_fn(|| pool.take("c", &rate(), 0).map(|s| s.closes_at_ms)).collect();
        assert_eq!(closes.len(), MAX_LOTS + 5);
        assert_eq!(closes.iter().filter(|close| **close == 400).count(), 6, "joined the lot closing at 400");
    }

    #[test]
    fn a_unit_put_back_never_outlives_its_window() {
        let mut pool = LeasePool::new(8);
        pool.keep("c", grant(1, 1_000), 0);
        let spent = pool.take("c", &rate(), 10).unwrap();
        pool.put_back("c", spent, 20);
        assert!(pool.take("c", &rate(), 30).is_some(), "back under the same close");

        let spent = {
            pool.keep("c", grant(1, 1_000), 40);
            pool.take("c", &rate(), 50).unwrap()
        };
        // The lease closes; a new one, closing later, arrives before the unit comes back.
        pool.keep("c", grant(1, 2_000), 1_500);
        pool.put_back("c", spent, 1_600);
        assert!(pool.take("c", &rate(), 1_700).is_some());
        assert!(pool.take("c", &rate(), 1_700).is_none(), "the old unit was dropped, not moved to the later close");
    }

    #[test]
    fn units_leased_at_one_rate_are_not_spent_at_another() {
        let mut pool = LeasePool::new(8);
        pool.keep("c", grant(2, 1_000), 0);
        let gold = Quota::new(5_000, 1_000).unwrap();
        assert!(pool.take("c", &gold, 1).is_none(), "a tier sharing the counter");
        pool.keep("c", Grant { quota: gold, ..grant(1, 1_000) }, 2);
        assert!(pool.take("c", &gold, 3).is_some());
        assert!(pool.take("c", &rate(), 3).is_none(), "the other rate's units were dropped");
    }

    #[test]
    fn a_grant_of_nothing_holds_nothing() {
        let mut pool = LeasePool::new(8);
        pool.keep("c", grant(0, 1_000), 0);
        assert!(pool.take("c", &rate(), 1).is_none());
    }

    /// What happens in a simulated deployment.
    enum Event {
        /// A request reaches an isolate.
        Arrive { isolate: usize },
        /// The limiter decides an isolate's ask, sent at `asked_at`.
        Decide { isolate: usize, asked_at: u64 },
        /// The limiter's answer reaches the isolate.
        Answer { isolate: usize, asked_at: u64, granted: u32, remaining: u32, reset_at: u64, retry_at: Option<u64> },
    }

    struct Run {
        /// When each admitted request was admitted, in milliseconds.
        admitted_at: Vec<u64>,
        /// How many times an isolate asked the limiter.
        asks: usize,
    }

    /// Runs requests against `isolates` isolates sharing one limiter, each request taking a unit
    /// from its isolate's pool or asking. `arrivals` are (gap since the last arrival, isolate),
    /// and each ask takes `delays[k]` = (to the limiter, back) milliseconds, cycled.
    fn simulate(
        quota: &Quota,
        terms: &LeaseTerms,
        isolates: usize,
        arrivals: &[(u64, usize)],
        delays: &[(u64, u64)],
    ) -> Run {
        let mut queue: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
        let mut events: Vec<Event> = Vec::new();
        let schedule = |queue: &mut BinaryHeap<_>, events: &mut Vec<Event>, at: u64, event: Event| {
            events.push(event);
            queue.push(Reverse((at, events.len() as u64, events.len() - 1)));
        };
        let mut now = 0;
        for (gap, isolate) in arrivals {
            now += gap;
            schedule(&mut queue, &mut events, now, Event::Arrive { isolate: isolate % isolates });
        }
        let mut pools: Vec<LeasePool> = (0..isolates).map(|_| LeasePool::new(4)).collect();
        // As the worker does, an isolate that was refused does not ask again before Retry-After.
        let mut refused_until: Vec<u64> = vec![0; isolates];
        let mut limiter: Option<Tat> = None;
        let mut run = Run { admitted_at: Vec::new(), asks: 0 };
        while let Some(Reverse((at, _, index))) = queue.pop() {
            match events[index] {
                Event::Arrive { isolate } => {
                    if pools[isolate].take("c", quota, at).is_some() {
                        run.admitted_at.push(at);
                        continue;
                    }
                    if at < refused_until[isolate] {
                        continue;
                    }
                    let (to, _) = delays[run.asks % delays.len()];
                    run.asks += 1;
                    schedule(&mut queue, &mut events, at + to, Event::Decide { isolate, asked_at: at });
                }
                Event::Decide { isolate, asked_at } => {
                    let (decision, granted) = gcra::lease(quota, limiter, at, terms);
                    if let Some(tat) = decision.new_state() {
                        limiter = Some(tat);
                    }
                    let (_, back) = delays[(run.asks + isolate) % delays.len()];
                    let reset_at = at + decision.reset_after_ms();
                    let retry_at = decision.retry_after_ms().map(|ms| at + ms);
                    let remaining = decision.remaining();
                    let answer = Event::Answer { isolate, asked_at, granted, remaining, reset_at, retry_at };
                    schedule(&mut queue, &mut events, at + back, answer);
                }
                Event::Answer { isolate, asked_at, granted, remaining, reset_at, retry_at } => {
                    if let Some(retry_at) = retry_at {
                        refused_until[isolate] = refused_until[isolate].max(retry_at);
                    }
                    let closes_at_ms = asked_at + terms.window_ms;
                    // An answer that lands after its window closed admits nothing.
                    if granted == 0 || at >= closes_at_ms {
                        continue;
                    }
                    run.admitted_at.push(at);
                    let grant =
                        Grant { quota: *quota, units: granted - 1, closes_at_ms, remaining, reset_at_ms: reset_at };
                    pools[isolate].keep("c", grant, at);
                }
            }
        }
        run
    }

    /// Whether admissions at these instants are within the quota: a limiter deciding each one at
    /// its instant would have allowed them all.
    fn within_quota(quota: &Quota, admitted_at: &[u64]) -> Result<(), String> {
        let mut sorted = admitted_at.to_vec();
        sorted.sort_unstable();
        let mut state = None;
        for (n, at) in sorted.iter().enumerate() {
            match gcra::check(quota, state, *at, 1).new_state() {
                Some(tat) => state = Some(tat),
                None => return Err(format!("admission {n} at {at} ms is over the quota")),
            }
        }
        Ok(())
    }

    /// The requests a limiter deciding each one on arrival would admit.
    fn exactly_admitted(quota: &Quota, arrivals: &[(u64, usize)]) -> usize {
        let (mut now, mut state, mut admitted) = (0, None, 0);
        for (gap, _) in arrivals {
            now += gap;
            if let Some(tat) = gcra::check(quota, state, now, 1).new_state() {
                state = Some(tat);
                admitted += 1;
            }
        }
        admitted
    }

    #[test]
    fn under_its_limit_a_fast_counter_asks_about_once_a_lease() {
        // 2000 per second; two isolates, a request every ms (half the rate) for 4 s, each ask
        // taking 1 ms there and 1 ms back.
        let quota = Quota::new(2_000, 1_000).unwrap();
        let terms = LeaseTerms::for_quota(&quota, 16, 50).expect("a fast counter leases");
        let arrivals: Vec<(u64, usize)> = (0..4_000).map(|i| (1, i % 2)).collect();
        let run = simulate(&quota, &terms, 2, &arrivals, &[(1, 1)]);
        assert_eq!(run.admitted_at.len(), 4_000, "nothing refused under the limit");
        assert!(run.asks * 8 <= run.admitted_at.len(), "{} asks for {} admissions", run.asks, run.admitted_at.len());
    }

    #[test]
    fn over_its_limit_a_fast_counter_admits_what_an_exact_limiter_would_less_the_window() {
        // 2000 per second, bursts of 2000; one isolate, a request every 0.25 ms (twice the rate)
        // for 4 s.
        let quota = Quota::new(2_000, 1_000).unwrap();
        let terms = LeaseTerms::for_quota(&quota, 16, 50).expect("a fast counter leases");
        let arrivals: Vec<(u64, usize)> = (0..16_000).map(|i| (u64::from(i % 4 == 0), 0)).collect();
        let run = simulate(&quota, &terms, 1, &arrivals, &[(1, 1)]);
        within_quota(&quota, &run.admitted_at).unwrap();
        let exact = exactly_admitted(&quota, &arrivals);
        // The window costs ⌈50 ms / 0.5 ms⌉ = 100 units of burst, and a lease strands at most 15.
        let shortfall = exact - run.admitted_at.len();
        assert!(shortfall <= 100 + 15, "admitted {} of the exact {exact}", run.admitted_at.len());
    }

    #[test]
    fn a_slow_or_small_quota_is_not_leased() {
        let cases: &[(u32, u64, u32, u32, u64, bool)] = &[
            // limit, period_ms, burst, units, window_ms, leased
            (1_000, 60_000, 1_000, 16, 1_000, true),
            (100, 60_000, 100, 16, 1_000, false), // 1.7 per second cannot refill 16 in a second
            (100, 600_000, 100, 16, 1_000, false),
            (10_000, 1_000, 100, 16, 1_000, false), // the window would cost all of a burst of 100
            (10_000, 1_000, 10_000, 16, 50, true),
            (1_000, 60_000, 1_000, 1, 1_000, false), // a lease of one unit is no lease
            (1_000, 60_000, 1_000, 16, 0, false),
        ];
        for (limit, period_ms, burst, units, window_ms, leased) in cases {
            let quota = Quota::with_burst(*limit, *period_ms, *burst).unwrap();
            let terms = LeaseTerms::for_quota(&quota, *units, *window_ms);
            assert_eq!(
                terms.is_some(),
                *leased,
                "{limit}/{period_ms} ms, burst {burst}, {units} units, {window_ms} ms"
            );
        }
    }

    #[test]
    fn a_lease_shrinks_near_the_limit_and_a_refusal_says_exactly_when_to_retry() {
        let quota = Quota::new(100, 1_000).unwrap(); // T = 10 ms, τ = 1000 ms
        let terms = LeaseTerms { units: 16, window_ms: 100 }; // τ' = 900 ms: 90 units fit at once
        let mut state = None;
        let mut grants = Vec::new();
        loop {
            let (decision, granted) = gcra::lease(&quota, state, 0, &terms);
            let Some(tat) = decision.new_state() else {
                assert_eq!(decision.retry_after_ms(), Some(10), "one unit's interval");
                break;
            };
            state = Some(tat);
            grants.push(granted);
        }
        assert_eq!(grants.iter().sum::<u32>(), 90, "the shortened tolerance, exactly");
        assert_eq!(grants[0], 16);
        assert_eq!(grants.last(), Some(&1));
        let (_, after_9) = gcra::lease(&quota, state, 9, &terms);
        let (_, after_10) = gcra::lease(&quota, state, 10, &terms);
        assert_eq!((after_9, after_10), (0, 1));
    }

    fn any_quota() -> impl Strategy<Value = Quota> {
        (1u32..3_000, 100u64..5_000, 1u32..3_000)
            .prop_map(|(limit, period_ms, burst)| Quota::with_burst(limit, period_ms, burst).expect("in range"))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// However isolates, requests and round trips interleave, and whatever the terms, the
        /// requests admitted are within the quota: never more than a limiter deciding each one.
        #[test]
        fn leases_never_admit_more_than_the_quota(
            quota in any_quota(),
            units in 1u32..40,
            window_ms in 1u64..400,
            isolates in 1usize..6,
            arrivals in proptest::collection::vec((0u64..8, 0usize..6), 1..600),
            delays in proptest::collection::vec((0u64..300, 0u64..300), 1..8),
        ) {
            let terms = LeaseTerms { units, window_ms };
            let run = simulate(&quota, &terms, isolates, &arrivals, &delays);
            prop_assert!(within_quota(&quota, &run.admitted_at).is_ok(), "{:?}", within_quota(&quota, &run.admitted_at));
        }

        /// Taking, putting back and merging in any order never lets a unit be spent after the
        /// close of the lease it came from, nor more units than were granted.
        #[test]
        fn the_pool_never_spends_a_unit_late_or_twice(
            steps in proptest::collection::vec((0u8..3, 1u32..5, 0u64..50, 1u64..300), 1..200),
        ) {
            let mut pool = LeasePool::new(2);
            let (mut now, mut granted, mut spent_total) = (0u64, 0u64, 0u64);
            let mut closes: Vec<u64> = Vec::new();
            let mut taken: Vec<Spent> = Vec::new();
            for (op, units, gap, window) in steps {
                now += gap;
                match op {
                    0 => {
                        pool.keep("c", grant(units, now + window), now);
                        granted += u64::from(units);
                        closes.push(now + window);
                    }
                    1 => {
                        if let Some(spent) = pool.take("c", &rate(), now) {
                            prop_assert!(now < spent.closes_at_ms);
                            prop_assert!(closes.contains(&spent.closes_at_ms), "a close some grant had");
                            spent_total += 1;
                            taken.push(spent);
                        }
                    }
                    _ => {
                        if let Some(spent) = taken.pop() {
                            pool.put_back("c", spent, now);
                            spent_total -= 1;
                        }
                    }
                }
                prop_assert!(spent_total <= granted);
            }
        }
    }
}

//! Deciding all of a request's rate limits together, so that no limit is charged when another
//! refuses the request.
//!
//! Counters are spread over limiter shards by a hash, so one request's limits may live in several
//! shards. The worker sends each shard one batch ([`Batch`]), all the shards at once: one round
//! trip per shard. Within a shard the batch is decided all or nothing ([`decide`]): its counters
//! are charged only when every check in it allows. When one shard refuses, the shards that allowed
//! are refunded ([`super::gcra::refund`]), so a refused request costs no budget anywhere once the
//! refund has landed (until then, for that one round trip, the charge is visible to others).
//!
//! A check may ask for a lease instead ([`gcra::LeaseTerms`]): then the shard charges between one
//! and `units` units, and the worker spends the rest on later requests without asking. A lease
//! is never refunded: units a refused request was granted stay with the worker for later ones.

use super::gcra::{self, Decision, LeaseTerms, Quota, Tat};
use serde::{Deserialize, Serialize};

/// One limit to check: a counter, its rate, and what the request costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The counter (see `ratelimit::rules::Rule::counter`).
    pub counter: String,
    /// Its rate.
    pub quota: Quota,
    /// What the request costs.
    pub cost: u32,
    /// Lease units on these terms rather than charge `cost` (which is then 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<LeaseTerms>,
}

/// The checks one shard decides for one request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Batch {
    /// The checks, in the route's rule order.
    pub checks: Vec<Check>,
}

/// A shard's answer: one decision per check, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The decisions.
    pub decisions: Vec<Decision>,
    /// The units charged for each check: its cost, or a lease's size, and 0 for every check of a
    /// refused batch. A limiter from before leases sends none: see [`Answer::granted`].
    #[serde(default)]
    pub granted: Vec<u32>,
}

impl Answer {
    /// The units charged for check `index`. An answer without `granted` comes from a limiter that
    /// predates leases and charged every allowed check its cost of 1.
    pub fn granted(&self, index: usize) -> u32 {
        match self.granted.get(index) {
            Some(units) => *units,
            None if self.granted.is_empty() => self.decisions.get(index).map_or(0, |d| u32::from(d.is_allowed())),
            None => 0,
        }
    }

    /// Whether the shard allowed (and so charged) every check.
    pub fn allowed(&self) -> bool {
        self.decisions.iter().all(Decision::is_allowed)
    }
}

/// What a shard does with a batch: the decisions, and the states to store (empty when any check
/// refused: then nothing is charged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// One decision per check.
    pub answer: Answer,
    /// (counter, new state) to store, all or none.
    pub writes: Vec<(String, Tat)>,
}

/// Decides a batch at `now_ms` against the counters' stored states (`states[i]` for
/// `batch.checks[i]`). Two checks of one counter in a batch see each other's charge.
pub fn decide(batch: &Batch, states: &[Option<Tat>], now_ms: u64) -> Outcome {
    let mut writes: Vec<(String, Tat)> = Vec::with_capacity(batch.checks.len());
    let mut decisions = Vec::with_capacity(batch.checks.len());
    let mut granted = Vec::with_capacity(batch.checks.len());
    for (index, check) in batch.checks.iter().enumerate() {
        let earlier = writes.iter().rev().find(|(counter, _)| *counter == check.counter).map(|(_, tat)| *tat);
        let state = earlier.or(states.get(index).copied().flatten());
        let (decision, units) = match &check.lease {
            Some(terms) if check.cost == 1 => gcra::lease(&check.quota, state, now_ms, terms),
            _ => {
                let decision = gcra::check(&check.quota, state, now_ms, check.cost);
                (decision, if decision.is_allowed() { check.cost } else { 0 })
            }
        };
        if let Some(tat) = decision.new_state() {
            writes.push((check.counter.clone(), tat));
        }
        decisions.push(decision);
        granted.push(units);
    }
    let mut answer = Answer { decisions, granted };
    if !answer.allowed() {
        writes.clear();
        answer.granted.iter_mut().for_each(|units| *units = 0);
    }
    Outcome { answer, writes }
}

/// The states after refunding a batch that was charged (`states[i]` for `batch.checks[i]`):
/// (counter, state to store, or `None` to forget an idle counter). Leases are left as they are.
pub fn refund(batch: &Batch, states: &[Option<Tat>], now_ms: u64) -> Vec<(String, Option<Tat>)> {
    let mut out: Vec<(String, Option<Tat>)> = Vec::with_capacity(batch.checks.len());
    for (index, check) in batch.checks.iter().enumerate() {
        if check.lease.is_some() {
            continue;
        }
        let earlier = out.iter().rev().find(|(counter, _)| *counter == check.counter).map(|(_, tat)| *tat);
        let state = match earlier {
            Some(state) => state,
            None => states.get(index).copied().flatten(),
        };
        let Some(state) = state else { continue };
        out.push((check.counter.clone(), gcra::refund(&check.quota, state, now_ms, check.cost)));
    }
    out
}

/// A request's checks spread over the shards: one batch per shard, and where each check went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// One batch per shard, in the order the shards first appear.
    pub shards: Vec<(u32, Batch)>,
    /// For each check, in the order added: its shard's position in `shards`, and its index there.
    placed: Vec<(usize, usize)>,
}

/// What the shards' answers mean for the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<E> {
    /// Every check allowed: (check, decision) for each, in order.
    Allowed(Vec<(usize, Decision)>),
    /// A check refused, whatever another shard's outage: the first refusal, and (check, decision)
    /// for the checks before it, in order, leaving out those whose shard did not answer. The
    /// shards to refund are [`Plan::charged`].
    Refused {
        /// The allowed checks before the refusal.
        before: Vec<(usize, Decision)>,
        /// The refusing check and its decision.
        refused: (usize, Decision),
    },
    /// No check refused, but a shard could not be asked: the route's failure mode decides, and
    /// what the others charged stays charged.
    Unavailable(E),
}

impl Plan {
    /// Adds a check for the shard that holds its counter; checks are numbered in the order added.
    pub fn add(&mut self, shard_id: u32, check: Check) {
        let position = match self.shards.iter().position(|(id, _)| *id == shard_id) {
            Some(position) => position,
            None => {
                self.shards.push((shard_id, Batch::default()));
                self.shards.len() - 1
            }
        };
        let batch = &mut self.shards[position].1;
        self.placed.push((position, batch.checks.len()));
        batch.checks.push(check);
    }

    /// Whether there is nothing to ask.
    pub fn is_empty(&self) -> bool {
        self.placed.is_empty()
    }

    /// The counter of check number `check`.
    pub fn counter(&self, check: usize) -> &str {
        let (position, index) = self.placed[check];
        &self.shards[position].1.checks[index].counter
    }

    /// Reads the shards' answers, one per entry of `shards`, in the same order. An answer holds
    /// one decision per check of its batch: the caller turns any other answer into an error.
    pub fn verdict<E: Clone>(&self, answers: &[Result<Answer, E>]) -> Verdict<E> {
        let mut decisions = Vec::with_capacity(self.placed.len());
        for (check, (position, index)) in self.placed.iter().enumerate() {
            let Some(Ok(answer)) = answers.get(*position) else { continue };
            let Some(decision) = answer.decisions.get(*index) else { continue };
            if !decision.is_allowed() {
                return Verdict::Refused { before: decisions, refused: (check, *decision) };
            }
            decisions.push((check, *decision));
        }
        match answers.iter().find_map(|answer| answer.as_ref().err()) {
            Some(error) => Verdict::Unavailable(error.clone()),
            None => Verdict::Allowed(decisions),
        }
    }

    /// The shards that charged their whole batch, with their answers: after a refusal, their
    /// charges are refunded and their leases kept.
    pub fn charged<'p, E>(
        &'p self,
        answers: &'p [Result<Answer, E>],
    ) -> impl Iterator<Item = (&'p (u32, Batch), &'p Answer)> {
        self.shards.iter().zip(answers).filter_map(|(shard, answer)| match answer {
            Ok(answer) if answer.allowed() => Some((shard, answer)),
            _ => None,
        })
    }

    /// Where check number `check` went: its shard's position in `shards`, and its index there.
    pub fn placement(&self, check: usize) -> (usize, usize) {
        self.placed[check]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(counter: &str, limit: u32) -> Check {
        Check { counter: counter.into(), quota: Quota::with_burst(limit, 60_000, limit).unwrap(), cost: 1, lease: None }
    }

    /// Runs a batch against a map of stored states, as a shard would.
    fn run(store: &mut std::collections::HashMap<String, Tat>, batch: &Batch, now_ms: u64) -> Answer {
        let states: Vec<Option<Tat>> = batch.checks.iter().map(|c| store.get(&c.counter).copied()).collect();
        let outcome = decide(batch, &states, now_ms);
        for (counter, tat) in outcome.writes {
            store.insert(counter, tat);
        }
        outcome.answer
    }

    #[test]
    fn a_batch_is_charged_only_when_every_check_allows() {
        let mut store = Default::default();
        let batch = Batch { checks: vec![check("per-ip", 5), check("per-key", 2)] };
        let allowed: Vec<bool> = (0..4).map(|_| run(&mut store, &batch, 1_000).allowed()).collect();
        assert_eq!(allowed, [true, true, false, false], "the smaller limit refuses the third request");
        // per-ip was charged twice, not four times: three more requests fit its limit of five.
        let alone = Batch { checks: vec![check("per-ip", 5)] };
        let more: Vec<bool> = (0..4).map(|_| run(&mut store, &alone, 1_000).allowed()).collect();
        assert_eq!(more, [true, true, true, false]);
    }

    #[test]
    fn an_answer_from_a_limiter_before_leases_grants_each_allowed_check_one_unit() {
        let outcome = decide(&Batch { checks: vec![check("a", 5), check("b", 5)] }, &[None, None], 0);
        let json = serde_json::json!({ "decisions": outcome.answer.decisions });
        let legacy: Answer = serde_json::from_value(json).unwrap();
        assert!(legacy.granted.is_empty());
        assert_eq!((legacy.granted(0), legacy.granted(1), legacy.granted(2)), (1, 1, 0));
        assert_eq!(outcome.answer.granted(1), 1);
    }

    #[test]
    fn two_checks_of_one_counter_see_each_others_charge() {
        let batch = Batch { checks: vec![check("c", 1), check("c", 1)] };
        let outcome = decide(&batch, &[None, None], 0);
        assert!(!outcome.answer.allowed());
        assert!(outcome.writes.is_empty());
    }

    #[test]
    fn a_refund_gives_back_exactly_the_charge() {
        let mut store = Default::default();
        let batch = Batch { checks: vec![check("a", 3), check("b", 3)] };
        assert!(run(&mut store, &batch, 0).allowed());
        assert!(run(&mut store, &batch, 0).allowed());
        let states: Vec<Option<Tat>> = batch.checks.iter().map(|c| store.get(&c.counter).copied()).collect();
        for (counter, state) in refund(&batch, &states, 0) {
            match state {
                Some(tat) => store.insert(counter, tat),
                None => store.remove(&counter),
            };
        }
        let after: Vec<bool> = (0..3).map(|_| run(&mut store, &batch, 0).allowed()).collect();
        assert_eq!(after, [true, true, false], "one charge was refunded: two of three remain");
    }

    #[test]
    fn a_plan_groups_checks_by_shard_and_reads_the_answers_in_check_order() {
        let mut plan = Plan::default();
        plan.add(7, check("a", 5));
        plan.add(3, check("b", 5));
        plan.add(7, check("c", 5));
        let shard_ids: Vec<u32> = plan.shards.iter().map(|(id, _)| *id).collect();
        assert_eq!(shard_ids, [7, 3], "one batch per shard");
        assert_eq!(plan.shards[0].1.checks.len(), 2);
        assert_eq!((plan.counter(0), plan.counter(1), plan.counter(2)), ("a", "b", "c"));
        let allow = decide(&Batch { checks: vec![check("x", 5)] }, &[None], 0).answer.decisions[0];
        let deny = decide(&Batch { checks: vec![check("y", 1), check("y", 1)] }, &[None, None], 0).answer.decisions[1];
        let answer = |decisions: Vec<Decision>| {
            let granted = decisions.iter().map(|d| u32::from(d.is_allowed())).collect();
            Ok::<_, &str>(Answer { decisions, granted })
        };
        // (answers of shard 7 and shard 3, the verdict, the shards to refund)
        let cases: Vec<(Vec<Result<Answer, &str>>, Verdict<&str>, Vec<u32>)> = vec![
            (
                vec![answer(vec![allow, allow]), answer(vec![allow])],
                Verdict::Allowed(vec![(0, allow), (1, allow), (2, allow)]),
                vec![7, 3],
            ),
            (
                vec![answer(vec![allow, deny]), answer(vec![allow])],
                Verdict::Refused { before: vec![(0, allow), (1, allow)], refused: (2, deny) },
                vec![3],
            ),
            (
                vec![answer(vec![allow, allow]), answer(vec![deny])],
                Verdict::Refused { before: vec![(0, allow)], refused: (1, deny) },
                vec![7],
            ),
            // A refusal wins over another shard's outage; the outage alone leaves it to the route.
            (vec![Err("down"), answer(vec![deny])], Verdict::Refused { before: vec![], refused: (1, deny) }, vec![]),
            (vec![Err("down"), answer(vec![allow])], Verdict::Unavailable("down"), vec![3]),
        ];
        for (answers, expected, refund) in cases {
            assert_eq!(plan.verdict(&answers), expected, "{answers:?}");
            let refundable: Vec<u32> = plan.charged(&answers).map(|((id, _), _)| *id).collect();
            assert_eq!(refundable, refund, "{answers:?}");
        }
    }

    proptest! {
        /// Charging then refunding a counter leaves it as if the request never came, and a
        /// refund never lends budget: a TAT never moves before now.
        #[test]
        fn refund_undoes_check(limit in 1u32..50, burst in 1u32..50, cost in 1u32..5, start in 0u64..1_000_000,
                               history in proptest::collection::vec(0u64..5_000, 0..20)) {
            let quota = Quota::with_burst(limit, 10_000, burst).unwrap();
            let mut state = None;
            let mut now = start;
            for step in history {
                now += step;
                if let Some(tat) = gcra::check(&quota, state, now, 1).new_state() { state = Some(tat); }
            }
            let before = gcra::check(&quota, state, now, 1);
            if let Some(charged) = gcra::check(&quota, state, now, cost).new_state() {
                let refunded = gcra::refund(&quota, charged, now, cost);
                prop_assert_eq!(gcra::check(&quota, refunded, now, 1), before);
                if let Some(tat) = refunded { prop_assert!(!tat.is_idle_at(now)); }
            }
        }
    }
}

//! Enforcing a route's rate limits: one `RateLimiter` Durable Object round trip per shard, all the
//! shards at once, each deciding its batch all or nothing; when one refuses, the others are
//! refunded, so no limit is charged for a refused request (`ratelimit::batch`). A per-isolate
//! memory of refusals means a client hammering a limit it already hit costs no round trip until
//! its `Retry-After` has passed (waiting that long is exactly enough, so this is safe).
//!
//! A fast counter is leased instead (`ratelimit::gcra::LeaseTerms`): the limiter's answer carries
//! up to `lease_units` units, held in this isolate (`ratelimit::lease`) and spent by later
//! requests without a round trip, never past their window. Leased units a refused request took
//! are put back, and leases a refused request was granted are kept rather than refunded.

use super::deadline::TimedOut;
use crate::authn::principal::Principal;
use crate::cache::BoundedCache;
use crate::config::Config;
use crate::error::Failure;
use crate::http::headers::HeaderList;
use crate::policy::routes::Route;
use crate::ratelimit::batch::{Answer, Batch, Check, Plan, Verdict as PlanVerdict};
use crate::ratelimit::gcra::{
    leased_rate_limit_value, rate_limit_policy_value, rate_limit_value, refused_rate_limit_value, LeaseTerms, Quota,
};
use crate::ratelimit::lease::{Grant, LeasePool, Spent};
use crate::ratelimit::rules::{shard, Rule};
use std::cell::RefCell;
use worker::{Env, Method, Request, RequestInit};

const MAX_REMEMBERED_REFUSALS: usize = 10_000;

const MAX_LEASED_COUNTERS: usize = 10_000;

thread_local! {
    /// Counters refused recently, each until its refusal's `Retry-After` (the value, in ms since
    /// the epoch, is that time).
    static REFUSED_UNTIL: RefCell<BoundedCache<String, u64>> = RefCell::new(BoundedCache::new(MAX_REMEMBERED_REFUSALS));

    /// Units leased from the limiter, per counter.
    static LEASES: RefCell<LeasePool> = RefCell::new(LeasePool::new(MAX_LEASED_COUNTERS));

    /// Counters this isolate is asking the limiter for a whole lease right now, each until its
    /// window closes (a request the client abandons never clears its mark), numbered. While one
    /// is marked, other requests wait for it (up to the limiter timeout) and then ask for a single
    /// unit if it brought none for them, so concurrent or abandoned asks cannot make the limiter
    /// grant (and this isolate strand) many leases.
    static ASKING: RefCell<BoundedCache<String, u64>> = RefCell::new(BoundedCache::new(MAX_LEASED_COUNTERS));

    /// Numbers the asks, so that a waiter knows its ask from a later one.
    static NEXT_ASK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Clears the marks of the asks this request made.
fn finish_asks(counters: &[String]) {
    ASKING.with(|asking| {
        let mut asking = asking.borrow_mut();
        for counter in counters {
            asking.remove(counter);
        }
    });
}

/// Whether the ask numbered `id` for `counter` is still in flight.
fn still_asking(counter: &str, id: u64) -> bool {
    let now = js_sys::Date::now() as u64;
    ASKING.with(|asking| asking.borrow_mut().get(counter, now).is_some_and(|ask| *ask == id))
}

/// Waits, up to the limiter timeout, for the whole-lease asks in flight for these leased rules'
/// counters when this isolate holds no unit for them.
async fn wait_for_asks(config: &Config, counting: &[Counting<'_>]) {
    let settings = &config.rate_limiting;
    let now = js_sys::Date::now() as u64;
    let mut pending: Vec<(&str, u64)> = Vec::new();
    for Counting { counter, quota, lease, .. } in counting {
        if lease.is_none() || LEASES.with(|leases| leases.borrow_mut().holds(counter, quota, now)) {
            continue;
        }
        if let Some(id) = ASKING.with(|asking| asking.borrow_mut().get(counter, now).copied()) {
            pending.push((counter, id));
        }
    }
    if pending.is_empty() {
        return;
    }
    // Workers let a request resume only on its own events, so a waiter checks on a timer of its
    // own rather than being woken by the asking request.
    let deadline = now.saturating_add(settings.timeout_ms);
    while pending.iter().any(|(counter, id)| still_asking(counter, *id)) && (js_sys::Date::now() as u64) < deadline {
        worker::Delay::from(std::time::Duration::from_millis(1)).await;
    }
}

/// What the limits decided.
#[derive(Debug)]
pub enum Verdict {
    /// Every rule allowed the request; these headers go on the response.
    Allowed(HeaderList, Source),
    /// A rule refused; the failure and the headers for the 429.
    Limited(Failure, HeaderList),
    /// The limiter could not be asked (the route's failure mode decides).
    Unavailable(String),
}

/// Who allowed a request, for the audit line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// No rule counted the request.
    Uncounted,
    /// Every counted rule was charged from this isolate's leases.
    Lease,
    /// The limiter was asked.
    Limiter,
}

impl Source {
    /// The audit line's `rate_limit` value.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Source::Uncounted => None,
            Source::Lease => Some("lease"),
            Source::Limiter => Some("limiter"),
        }
    }
}

/// Sends one shard a batch at `path` (`/decide` or `/refund`) and reads its answer, both within
/// the configured timeout: a shard that sends headers and then stalls is cut off too.
async fn call_shard<T: serde::de::DeserializeOwned>(
    env: &Env,
    config: &Config,
    shard_id: u32,
    path: &str,
    batch: &Batch,
) -> Result<T, String> {
    let settings = &config.rate_limiting;
    let namespace = env.durable_object(&settings.binding).map_err(|e| format!("binding: {e}"))?;
    let name = format!("rl-{shard_id}");
    let stub = namespace.id_from_name(&name).and_then(|id| id.get_stub()).map_err(|e| format!("stub: {e}"))?;
    let body = serde_json::to_string(batch).map_err(|e| e.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let url = format!("https://rate-limiter.internal{path}");
    let request = Request::new_with_init(&url, &init).map_err(|e| e.to_string())?;
    // A stub call is not a global fetch, so race it against a timer the same way.
    let call = async {
        let mut response = stub.fetch_with_request(request).await.map_err(|error| format!("limiter: {error}"))?;
        if response.status_code() != 200 {
            return Err(format!("limiter answered {}", response.status_code()));
        }
        response.json::<T>().await.map_err(|e| format!("limiter answer: {e}"))
    };
    super::deadline::within(settings.timeout_ms, call).await.unwrap_or_else(|TimedOut| Err("limiter timed out".into()))
}

/// Asks one shard to decide its batch.
async fn decide(env: &Env, config: &Config, shard_id: u32, batch: &Batch) -> Result<Answer, String> {
    let answer: Answer = call_shard(env, config, shard_id, "/decide", batch).await?;
    let granted_ok = answer.granted.is_empty() || answer.granted.len() == batch.checks.len();
    if answer.decisions.len() != batch.checks.len() || !granted_ok {
        return Err("limiter answer: wrong number of decisions".into());
    }
    Ok(answer)
}

/// Gives back the charges of the shards a refused request charged, best effort: a refund that
/// fails leaves the request counted, which errs on the side of the limit.
async fn refund<'p>(env: &Env, config: &Config, shards: impl Iterator<Item = &'p (u32, Batch)>) {
    let refunds = shards.map(|(shard_id, batch)| async move {
        if let Err(reason) = call_shard::<serde::de::IgnoredAny>(env, config, *shard_id, "/refund", batch).await {
            worker::console_warn!("{}", serde_json::json!({ "event": "rate_limit_refund_failed", "reason": reason }));
        }
    });
    futures_util::future::join_all(refunds).await;
}

/// Checks every rule of the route for this request.
pub async fn enforce(
    env: &Env,
    config: &Config,
    route: &Route,
    principal: Option<&Principal>,
    client_ip: Option<&str>,
) -> Verdict {
    enforce_rules(env, config, &route.id, &route.rate_limits.rules, principal, client_ip).await
}

/// A counted rule's part in one request: a unit from this isolate's leases, or check number
/// `usize` of the plan sent to the limiter.
enum Part {
    Leased(Spent),
    Asked(usize),
}

/// A rule that counts this request, with its counter, its rate for the principal, and the terms
/// it is leased on (if it is).
struct Counting<'r> {
    rule: &'r Rule,
    counter: String,
    quota: Quota,
    lease: Option<LeaseTerms>,
}

/// A rule that counts this request, and its part in it.
struct Counted<'r> {
    rule: &'r Rule,
    counter: String,
    part: Part,
}

/// Gives back the leased units a refused (or unlimited) request took.
fn put_back(counted: &[Counted<'_>], now_ms: u64) {
    LEASES.with(|leases| {
        let mut leases = leases.borrow_mut();
        for counted in counted {
            if let Part::Leased(spent) = counted.part {
                leases.put_back(&counted.counter, spent, now_ms);
            }
        }
    });
}

/// Holds the units the limiter leased, less `own` per lease for this request when it passes.
/// Their window is measured from `asked_at`, before the limiter charged them.
fn keep_leases(plan: &Plan, answers: &[Result<Answer, String>], own: u32, asked_at: u64, answered_at: u64) {
    LEASES.with(|leases| {
        let mut leases = leases.borrow_mut();
        for ((_, batch), answer) in plan.charged(answers) {
            for (index, (check, decision)) in batch.checks.iter().zip(&answer.decisions).enumerate() {
                let Some(terms) = check.lease else { continue };
                let grant = Grant {
                    quota: check.quota,
                    units: answer.granted(index).saturating_sub(own),
                    closes_at_ms: asked_at.saturating_add(terms.window_ms),
                    remaining: decision.remaining(),
                    reset_at_ms: answered_at.saturating_add(decision.reset_after_ms()),
                };
                leases.keep(&check.counter, grant, answered_at);
            }
        }
    });
}

/// Checks rules for this request, counting under `scope` (a route id, or an edge endpoint's).
///
/// A counter fast enough to lease (`RateLimitingConfig::lease_terms`) is charged from this
/// isolate's leased units when it holds one; only the others go to the limiter, which leases
/// more with its answer.
pub async fn enforce_rules(
    env: &Env,
    config: &Config,
    scope: &str,
    rules: &[Rule],
    principal: Option<&Principal>,
    client_ip: Option<&str>,
) -> Verdict {
    let settings = &config.rate_limiting;
    let counting: Vec<Counting<'_>> = rules
        .iter()
        .filter_map(|rule| {
            let counter = rule.counter(scope, principal, client_ip)?;
            Some(Counting { rule, counter, quota: rule.quota_for(principal), lease: settings.lease_terms(rule) })
        })
        .collect();
    wait_for_asks(config, &counting).await;
    let now = js_sys::Date::now() as u64;
    let mut policies = Vec::new();
    let mut counted: Vec<Counted<'_>> = Vec::new();
    let mut plan = Plan::default();
    let mut asked = 0;
    // The counters this request marked in `ASKING`.
    let mut asking_for: Vec<String> = Vec::new();
    for Counting { rule, counter, quota, mut lease } in counting {
        policies.push(rate_limit_policy_value(&rule.id, &quota));
        let refused_until = REFUSED_UNTIL.with(|r| r.borrow_mut().get(&counter, now).copied());
        if let Some(until) = refused_until {
            put_back(&counted, now);
            let retry_after_s = (until - now).div_ceil(1000).max(1);
            let headers =
                limited_headers(&policies, Some(retry_after_s), refused_rate_limit_value(&rule.id, retry_after_s));
            return Verdict::Limited(
                Failure::RateLimited { rule: rule.id.as_str().to_owned(), retry_after_s: Some(retry_after_s) },
                headers,
            );
        }
        let spent = lease.and_then(|_| LEASES.with(|leases| leases.borrow_mut().take(&counter, &quota, now)));
        let part = match spent {
            Some(spent) => Part::Leased(spent),
            None => {
                if let Some(terms) = lease.as_mut() {
                    let closes_at = now.saturating_add(terms.window_ms);
                    let marked = ASKING.with(|asking| {
                        let mut asking = asking.borrow_mut();
                        let already = asking.get(&counter, now).is_some();
                        if !already {
                            let id = NEXT_ASK.with(|next| next.replace(next.get().wrapping_add(1)));
                            asking.insert(counter.clone(), id, closes_at, now);
                        }
                        !already
                    });
                    if marked {
                        asking_for.push(counter.clone());
                    } else {
                        terms.units = 1;
                    }
                }
                plan.add(shard(&counter, settings.shards), Check { counter: counter.clone(), quota, cost: 1, lease });
                asked += 1;
                Part::Asked(asked - 1)
            }
        };
        counted.push(Counted { rule, counter, part });
    }
    let leased_value =
        |rule: &Rule, spent: &Spent| leased_rate_limit_value(&rule.id, spent.remaining, spent.reset_after_ms);
    if plan.is_empty() {
        if counted.is_empty() {
            return Verdict::Allowed(HeaderList::new(), Source::Uncounted);
        }
        let states: Vec<String> = counted
            .iter()
            .filter_map(|c| match &c.part {
                Part::Leased(spent) => Some(leased_value(c.rule, spent)),
                Part::Asked(_) => None,
            })
            .collect();
        let headers = vec![("ratelimit-policy".into(), policies.join(", ")), ("ratelimit".into(), states.join(", "))];
        return Verdict::Allowed(headers, Source::Lease);
    }
    let asks = plan.shards.iter().map(|(shard_id, batch)| decide(env, config, *shard_id, batch));
    let answers = futures_util::future::join_all(asks).await;
    let answered_at = js_sys::Date::now() as u64;
    finish_asks(&asking_for);
    // A unit may be spent only inside its lease's window; an answer that lands later admits
    // nothing on a lease (with `lease_window_ms` ≥ `timeout_ms` it cannot happen on time).
    let late = answered_at >= now.saturating_add(settings.lease_window_ms)
        && plan.shards.iter().any(|(_, batch)| batch.checks.iter().any(|check| check.lease.is_some()));
    // The decision on each asked check that was answered, by check number.
    let answered = |check: usize| {
        let (position, index) = plan.placement(check);
        answers.get(position)?.as_ref().ok()?.decisions.get(index)
    };
    match plan.verdict(&answers) {
        // When the limiter cannot decide, the route's failure mode may still let the request
        // through: the leased units it took stay spent, and it spends one of each lease granted.
        PlanVerdict::Allowed(_) if late => {
            keep_leases(&plan, &answers, 1, now, answered_at);
            Verdict::Unavailable("limiter answered after the lease window".into())
        }
        PlanVerdict::Allowed(_) => {
            keep_leases(&plan, &answers, 1, now, answered_at);
            let states: Vec<String> = counted
                .iter()
                .filter_map(|c| match &c.part {
                    Part::Leased(spent) => Some(leased_value(c.rule, spent)),
                    Part::Asked(number) => answered(*number).map(|decision| rate_limit_value(&c.rule.id, decision)),
                })
                .collect();
            let headers =
                vec![("ratelimit-policy".into(), policies.join(", ")), ("ratelimit".into(), states.join(", "))];
            Verdict::Allowed(headers, Source::Limiter)
        }
        PlanVerdict::Unavailable(reason) => {
            keep_leases(&plan, &answers, 1, now, answered_at);
            Verdict::Unavailable(reason)
        }
        PlanVerdict::Refused { refused: (refused_check, decision), .. } => {
            put_back(&counted, answered_at);
            keep_leases(&plan, &answers, 0, now, answered_at);
            let refunds: Vec<(u32, Batch)> = plan
                .charged(&answers)
                .filter_map(|((shard_id, batch), _)| {
                    let checks: Vec<Check> = batch.checks.iter().filter(|c| c.lease.is_none()).cloned().collect();
                    (!checks.is_empty()).then_some((*shard_id, Batch { checks }))
                })
                .collect();
            refund(env, config, refunds.iter()).await;
            if let Some(retry_ms) = decision.retry_after_ms() {
                let until = now + retry_ms;
                REFUSED_UNTIL
                    .with(|r| r.borrow_mut().insert(plan.counter(refused_check).to_owned(), until, until, now));
            }
            // The items of the rules up to the one that refused, in rule order.
            let mut states = Vec::new();
            let mut refusing_rule = None;
            for c in &counted {
                match &c.part {
                    Part::Leased(spent) => states.push(leased_value(c.rule, spent)),
                    Part::Asked(number) if *number == refused_check => {
                        states.push(rate_limit_value(&c.rule.id, &decision));
                        refusing_rule = Some(c.rule);
                        break;
                    }
                    Part::Asked(number) => {
                        if let Some(decision) = answered(*number) {
                            states.push(rate_limit_value(&c.rule.id, decision));
                        }
                    }
                }
            }
            let headers = limited_headers(&policies, decision.retry_after_s(), states.join(", "));
            let rule = refusing_rule.map_or_else(String::new, |rule| rule.id.as_str().to_owned());
            Verdict::Limited(Failure::RateLimited { rule, retry_after_s: decision.retry_after_s() }, headers)
        }
    }
}

fn limited_headers(policies: &[String], retry_after_s: Option<u64>, state: String) -> HeaderList {
    let mut headers = vec![("ratelimit-policy".to_owned(), policies.join(", ")), ("ratelimit".to_owned(), state)];
    if let Some(seconds) = retry_after_s {
        headers.push(("retry-after".to_owned(), seconds.to_string()));
    }
    headers
}

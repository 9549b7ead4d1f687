//! Enforcing a route's rate limits: one `RateLimiter` Durable Object round trip per shard, all the
//! shards at once, each deciding its batch all or nothing; when one refuses, the others are
//! refunded, so no limit is charged for a refused request (`ratelimit::batch`). A per-isolate
//! memory of refusals means a client hammering a limit it already hit costs no round trip until
//! its `Retry-After` has passed (waiting that long is exactly enough, so this is safe).

use super::http::FetchFailure;
use crate::authn::principal::Principal;
use crate::cache::BoundedCache;
use crate::config::Config;
use crate::error::Failure;
use crate::http::headers::HeaderList;
use crate::policy::routes::Route;
use crate::ratelimit::batch::{Answer, Batch, Check, Plan, Verdict as PlanVerdict};
use crate::ratelimit::gcra::Decision;
use crate::ratelimit::gcra::{rate_limit_policy_value, rate_limit_value, refused_rate_limit_value};
use crate::ratelimit::rules::{shard, Rule};
use std::cell::RefCell;
use worker::{Env, Method, Request, RequestInit, Response};

const MAX_REMEMBERED_REFUSALS: usize = 10_000;

thread_local! {
    /// Counters refused recently, each until its refusal's `Retry-After` (the value, in ms since
    /// the epoch, is that time).
    static REFUSED_UNTIL: RefCell<BoundedCache<String, u64>> = RefCell::new(BoundedCache::new(MAX_REMEMBERED_REFUSALS));
}

/// What the limits decided.
#[derive(Debug)]
pub enum Verdict {
    /// Every rule allowed the request; these headers go on the response.
    Allowed(HeaderList),
    /// A rule refused; the failure and the headers for the 429.
    Limited(Failure, HeaderList),
    /// The limiter could not be asked (the route's failure mode decides).
    Unavailable(String),
}

/// Sends one shard a batch at `path` (`/decide` or `/refund`), within the configured timeout.
async fn call_shard(env: &Env, config: &Config, shard_id: u32, path: &str, batch: &Batch) -> Result<Response, String> {
    let settings = &config.rate_limiting;
    let namespace = env.durable_object(&settings.binding).map_err(|e| format!("binding: {e}"))?;
    let name = format!("rl-{shard_id}");
    let stub = namespace.id_from_name(&name).and_then(|id| id.get_stub()).map_err(|e| format!("stub: {e}"))?;
    let body = serde_json::to_string(batch).map_err(|e| e.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let url = format!("https://rate-limiter.internal{path}");
    let request = Request::new_with_init(&url, &init).map_err(|e| e.to_string())?;
    let call = stub.fetch_with_request(request);
    // A stub call is not a global fetch, so race it against a timer the same way.
    let response = match with_deadline(call, settings.timeout_ms).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => return Err(format!("limiter: {error}")),
        Err(FetchFailure::Timeout) => return Err("limiter timed out".into()),
        Err(FetchFailure::Unreachable) => return Err("limiter unreachable".into()),
    };
    if response.status_code() != 200 {
        return Err(format!("limiter answered {}", response.status_code()));
    }
    Ok(response)
}

/// Asks one shard to decide its batch.
async fn decide(env: &Env, config: &Config, shard_id: u32, batch: &Batch) -> Result<Answer, String> {
    let mut response = call_shard(env, config, shard_id, "/decide", batch).await?;
    let answer: Answer = response.json().await.map_err(|e| format!("limiter answer: {e}"))?;
    if answer.decisions.len() != batch.checks.len() {
        return Err("limiter answer: wrong number of decisions".into());
    }
    Ok(answer)
}

/// Gives back the charges of the shards a refused request charged, best effort: a refund that
/// fails leaves the request counted, which errs on the side of the limit.
async fn refund<'p>(env: &Env, config: &Config, shards: impl Iterator<Item = &'p (u32, Batch)>) {
    let refunds = shards.map(|(shard_id, batch)| async move {
        if let Err(reason) = call_shard(env, config, *shard_id, "/refund", batch).await {
            worker::console_warn!("{}", serde_json::json!({ "event": "rate_limit_refund_failed", "reason": reason }));
        }
    });
    futures_util::future::join_all(refunds).await;
}

async fn with_deadline<F: std::future::Future>(future: F, timeout_ms: u64) -> Result<F::Output, FetchFailure> {
    use futures_util::future::{select, Either};
    let deadline = worker::Delay::from(std::time::Duration::from_millis(timeout_ms));
    futures_util::pin_mut!(future);
    match select(future, deadline).await {
        Either::Left((output, _)) => Ok(output),
        Either::Right(_) => Err(FetchFailure::Timeout),
    }
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

/// Checks rules for this request, counting under `scope` (a route id, or an edge endpoint's).
pub async fn enforce_rules(
    env: &Env,
    config: &Config,
    scope: &str,
    rules: &[Rule],
    principal: Option<&Principal>,
    client_ip: Option<&str>,
) -> Verdict {
    let now = js_sys::Date::now() as u64;
    let mut policies = Vec::new();
    // The rules counted, in order: check number i of the plan is `counted[i]`'s.
    let mut counted = Vec::new();
    let mut plan = Plan::default();
    for rule in rules {
        let Some(counter) = rule.counter(scope, principal, client_ip) else { continue };
        let quota = rule.quota_for(principal);
        policies.push(rate_limit_policy_value(&rule.id, &quota));
        let refused_until = REFUSED_UNTIL.with(|r| r.borrow_mut().get(&counter, now).copied());
        if let Some(until) = refused_until {
            let retry_after_s = (until - now).div_ceil(1000).max(1);
            let headers =
                limited_headers(&policies, Some(retry_after_s), refused_rate_limit_value(&rule.id, retry_after_s));
            return Verdict::Limited(
                Failure::RateLimited { rule: rule.id.as_str().to_owned(), retry_after_s: Some(retry_after_s) },
                headers,
            );
        }
        plan.add(shard(&counter, config.rate_limiting.shards), Check { counter, quota, cost: 1 });
        counted.push(rule);
    }
    if plan.is_empty() {
        return Verdict::Allowed(HeaderList::new());
    }
    let asks = plan.shards.iter().map(|(shard_id, batch)| decide(env, config, *shard_id, batch));
    let answers = futures_util::future::join_all(asks).await;
    let states = |decisions: &[(usize, Decision)]| {
        decisions.iter().map(|(check, decision)| rate_limit_value(&counted[*check].id, decision)).collect::<Vec<_>>()
    };
    match plan.verdict(&answers) {
        PlanVerdict::Allowed(decisions) => Verdict::Allowed(vec![
            ("ratelimit-policy".into(), policies.join(", ")),
            ("ratelimit".into(), states(&decisions).join(", ")),
        ]),
        PlanVerdict::Unavailable(reason) => Verdict::Unavailable(reason),
        PlanVerdict::Refused { mut before, refused: (check, decision) } => {
            refund(env, config, plan.refundable(&answers)).await;
            if let Some(retry_ms) = decision.retry_after_ms() {
                let until = now + retry_ms;
                REFUSED_UNTIL.with(|r| r.borrow_mut().insert(plan.counter(check).to_owned(), until, until, now));
            }
            before.push((check, decision));
            let retry_after_s = decision.retry_after_s();
            let headers = limited_headers(&policies, retry_after_s, states(&before).join(", "));
            let rule = counted[check].id.as_str().to_owned();
            Verdict::Limited(Failure::RateLimited { rule, retry_after_s }, headers)
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

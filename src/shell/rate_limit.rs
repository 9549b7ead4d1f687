//! Enforcing a route's rate limits: one `RateLimiter` Durable Object round trip per rule, with a
//! per-isolate memory of refusals so a client hammering a limit it already hit costs no round trip
//! until its `Retry-After` has passed (waiting that long is exactly enough, so this is safe).

use super::http::FetchFailure;
use super::rate_limiter::CheckRequest;
use crate::authn::principal::Principal;
use crate::cache::BoundedCache;
use crate::config::Config;
use crate::error::Failure;
use crate::gateway::routes::Route;
use crate::http::headers::HeaderList;
use crate::ratelimit::gcra::{rate_limit_policy_value, rate_limit_value, Decision};
use crate::ratelimit::rules::{shard, Rule};
use std::cell::RefCell;
use worker::{Env, Method, Request, RequestInit};

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

async fn ask(env: &Env, config: &Config, counter: &str, check: &CheckRequest) -> Result<Decision, String> {
    let settings = &config.rate_limiting;
    let namespace = env.durable_object(&settings.binding).map_err(|e| format!("binding: {e}"))?;
    let name = format!("rl-{}", shard(counter, settings.shards));
    let stub = namespace.id_from_name(&name).and_then(|id| id.get_stub()).map_err(|e| format!("stub: {e}"))?;
    let body = serde_json::to_string(check).map_err(|e| e.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let request = Request::new_with_init("https://rate-limiter.internal/check", &init).map_err(|e| e.to_string())?;
    let call = stub.fetch_with_request(request);
    // A stub call is not a global fetch, so race it against a timer the same way.
    let mut response = match with_deadline(call, settings.timeout_ms).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => return Err(format!("limiter: {error}")),
        Err(FetchFailure::Timeout) => return Err("limiter timed out".into()),
        Err(FetchFailure::Unreachable) => return Err("limiter unreachable".into()),
    };
    if response.status_code() != 200 {
        return Err(format!("limiter answered {}", response.status_code()));
    }
    response.json::<Decision>().await.map_err(|e| format!("limiter answer: {e}"))
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
    let mut policies = Vec::new();
    let mut states = Vec::new();
    for rule in rules {
        let Some(counter) = rule.counter(scope, principal, client_ip) else { continue };
        let quota = rule.quota_for(principal);
        policies.push(rate_limit_policy_value(&rule.id, &quota));
        let now = js_sys::Date::now() as u64;
        let refused_until = REFUSED_UNTIL.with(|r| r.borrow_mut().get(&counter, now).copied());
        if let Some(until) = refused_until {
            let retry_after_s = (until - now).div_ceil(1000).max(1);
            let headers = limited_headers(
                &policies,
                Some(retry_after_s),
                format!("\"{}\";r=0;t={retry_after_s}", rule.id.as_str()),
            );
            return Verdict::Limited(
                Failure::RateLimited { rule: rule.id.as_str().to_owned(), retry_after_s: Some(retry_after_s) },
                headers,
            );
        }
        let check = CheckRequest { counter: counter.clone(), quota, cost: 1 };
        let decision = match ask(env, config, &counter, &check).await {
            Ok(decision) => decision,
            Err(reason) => return Verdict::Unavailable(reason),
        };
        states.push(rate_limit_value(&rule.id, &decision));
        if !decision.is_allowed() {
            let retry_after_s = decision.retry_after_s();
            if let Some(retry_ms) = decision.retry_after_ms() {
                let until = now + retry_ms;
                REFUSED_UNTIL.with(|r| r.borrow_mut().insert(counter, until, until, now));
            }
            let headers = limited_headers(&policies, retry_after_s, states.join(", "));
            return Verdict::Limited(
                Failure::RateLimited { rule: rule.id.as_str().to_owned(), retry_after_s },
                headers,
            );
        }
    }
    let mut headers = HeaderList::new();
    if !policies.is_empty() {
        headers.push(("ratelimit-policy".into(), policies.join(", ")));
        headers.push(("ratelimit".into(), states.join(", ")));
    }
    Verdict::Allowed(headers)
}

fn limited_headers(policies: &[String], retry_after_s: Option<u64>, state: String) -> HeaderList {
    let mut headers = vec![("ratelimit-policy".to_owned(), policies.join(", ")), ("ratelimit".to_owned(), state)];
    if let Some(seconds) = retry_after_s {
        headers.push(("retry-after".to_owned(), seconds.to_string()));
    }
    headers
}

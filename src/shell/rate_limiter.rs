//! The `RateLimiter` Durable Object: one shard of GCRA counters.
//!
//! A Durable Object handles one event at a time and its storage calls are gated, so the
//! read-decide-write of a batch is atomic: N concurrent requests against a limit of L admit
//! exactly L, and a batch charges all its counters or none (`ratelimit::batch`). Counters live in memory and in the object's storage (`c:<counter>` → the GCRA state
//! as JSON), so an evicted object resumes exactly; an alarm deletes counters that went idle.

use crate::ratelimit::batch::{self, Answer, Batch};
use crate::ratelimit::gcra::Tat;
use std::cell::RefCell;
use std::collections::HashMap;
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

/// How often idle counters are swept, at most.
const SWEEP_INTERVAL_MS: i64 = 60_000;

/// One shard of rate-limit counters.
#[durable_object]
pub struct RateLimiter {
    state: State,
    counters: RefCell<HashMap<String, Tat>>,
    sweep_scheduled: RefCell<bool>,
}

fn storage_key(counter: &str) -> String {
    format!("c:{counter}")
}

impl RateLimiter {
    async fn stored(&self, counter: &str) -> Result<Option<Tat>> {
        if let Some(tat) = self.counters.borrow().get(counter) {
            return Ok(Some(*tat));
        }
        let text: Option<String> = self.state.storage().get(&storage_key(counter)).await?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    async fn states(&self, batch: &Batch) -> Result<Vec<Option<Tat>>> {
        let mut states = Vec::with_capacity(batch.checks.len());
        for check in &batch.checks {
            states.push(self.stored(&check.counter).await?);
        }
        Ok(states)
    }

    async fn store(&self, counter: &str, tat: Option<Tat>) -> Result<()> {
        match tat {
            Some(tat) => {
                self.counters.borrow_mut().insert(counter.to_owned(), tat);
                let json = serde_json::to_string(&tat).map_err(|e| worker::Error::RustError(e.to_string()))?;
                self.state.storage().put(&storage_key(counter), json).await?;
                if !*self.sweep_scheduled.borrow() {
                    self.state.storage().set_alarm(SWEEP_INTERVAL_MS).await?;
                    *self.sweep_scheduled.borrow_mut() = true;
                }
            }
            None => {
                self.counters.borrow_mut().remove(counter);
                self.state.storage().delete(&storage_key(counter)).await?;
            }
        }
        Ok(())
    }

    /// Decides a batch, charging all of its counters or none.
    async fn decide(&self, batch: Batch) -> Result<Answer> {
        let now_ms = js_sys::Date::now() as u64;
        let states = self.states(&batch).await?;
        let outcome = batch::decide(&batch, &states, now_ms);
        for (counter, tat) in outcome.writes {
            self.store(&counter, Some(tat)).await?;
        }
        Ok(outcome.answer)
    }

    /// Gives back a batch's charge (another shard refused the request).
    async fn refund(&self, batch: Batch) -> Result<()> {
        let now_ms = js_sys::Date::now() as u64;
        let states = self.states(&batch).await?;
        for (counter, tat) in batch::refund(&batch, &states, now_ms) {
            self.store(&counter, tat).await?;
        }
        Ok(())
    }
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        Self { state, counters: RefCell::new(HashMap::new()), sweep_scheduled: RefCell::new(false) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/decide") => {
                let batch: Batch = req.json().await?;
                Response::from_json(&self.decide(batch).await?)
            }
            (Method::Post, "/refund") => {
                let batch: Batch = req.json().await?;
                self.refund(batch).await?;
                Response::from_json(&serde_json::json!({ "refunded": true }))
            }
            (Method::Get, "/health") => Response::from_json(&serde_json::json!({ "status": "ok" })),
            _ => Response::error("not found", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let now_ms = js_sys::Date::now() as u64;
        self.counters.borrow_mut().retain(|_, tat| !tat.is_idle_at(now_ms));
        let storage = self.state.storage();
        let listed = storage.list().await?;
        let mut idle = Vec::new();
        let mut remaining = 0;
        for entry in listed.entries() {
            let Ok(entry) = entry else { continue };
            let pair = js_sys::Array::from(&entry);
            let key = pair.get(0).as_string().unwrap_or_default();
            let tat = pair.get(1).as_string().and_then(|t| serde_json::from_str::<Tat>(&t).ok());
            match tat {
                Some(tat) if !tat.is_idle_at(now_ms) => remaining += 1,
                _ if key.starts_with("c:") => idle.push(key),
                _ => {}
            }
        }
        for key in idle {
            storage.delete(&key).await?;
        }
        *self.sweep_scheduled.borrow_mut() = remaining > 0;
        if remaining > 0 {
            storage.set_alarm(SWEEP_INTERVAL_MS).await?;
        }
        Response::ok("swept")
    }
}

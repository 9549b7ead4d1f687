//! Deadlines on the calls the worker makes: to its own stores (KV, the Durable Objects, D1) and to
//! peers. A store that does not answer in time counts as failed, so a request fails closed within
//! a bound instead of waiting as long as the platform lets it.

use futures_util::future::{select, Either};
use std::future::Future;
use std::time::Duration;
use worker::Delay;

/// How long a call to one of the worker's own stores may take before it counts as failed. Local
/// and production reads answer in milliseconds; a store this slow is as good as down.
pub const STORE_TIMEOUT_MS: u64 = 2_000;

/// A call that did not finish before its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut;

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timed out")
    }
}

impl From<TimedOut> for worker::Error {
    fn from(_: TimedOut) -> Self {
        worker::Error::RustError("timed out".into())
    }
}

impl From<TimedOut> for worker::kv::KvError {
    fn from(_: TimedOut) -> Self {
        worker::kv::KvError::JavaScript(wasm_bindgen::JsValue::from_str("timed out"))
    }
}

/// Runs `future` for at most `timeout_ms`; a future cut off is dropped.
pub async fn within<F: Future>(timeout_ms: u64, future: F) -> Result<F::Output, TimedOut> {
    futures_util::pin_mut!(future);
    match select(future, Delay::from(Duration::from_millis(timeout_ms))).await {
        Either::Left((output, _)) => Ok(output),
        Either::Right(_) => Err(TimedOut),
    }
}

/// Runs a store call within [`STORE_TIMEOUT_MS`]; running out of time is the call's own error.
pub async fn store_call<T, E: From<TimedOut>>(call: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    within(STORE_TIMEOUT_MS, call).await.unwrap_or_else(|timed_out| Err(timed_out.into()))
}

/// [`store_call`] as a method, for store calls written as chains (`statement.all().in_time()`).
pub trait InTime<T, E: From<TimedOut>>: Future<Output = Result<T, E>> + Sized {
    /// This call within [`STORE_TIMEOUT_MS`]; running out of time is its own error.
    fn in_time(self) -> impl Future<Output = Result<T, E>> {
        store_call(self)
    }
}

impl<T, E: From<TimedOut>, F: Future<Output = Result<T, E>>> InTime<T, E> for F {}

//! Outbound `fetch` with a deadline on the response headers.

use futures_util::future::{select, Either};
use std::time::Duration;
use worker::{AbortController, Delay, Fetch, Request, Response};

/// Why an outbound fetch failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchFailure {
    /// The peer refused, reset, or the request could not be made.
    Unreachable,
    /// No response headers before the deadline; the request was aborted.
    Timeout,
}

/// Sends a request; aborts it when no response arrives within `timeout_ms`.
pub async fn fetch_with_timeout(request: Request, timeout_ms: u64) -> Result<Response, FetchFailure> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let call = Fetch::Request(request);
    let sent = call.send_with_signal(&signal);
    let deadline = Delay::from(Duration::from_millis(timeout_ms));
    futures_util::pin_mut!(sent);
    match select(sent, deadline).await {
        Either::Left((Ok(response), _)) => Ok(response),
        Either::Left((Err(_), _)) => Err(FetchFailure::Unreachable),
        Either::Right(_) => {
            controller.abort();
            Err(FetchFailure::Timeout)
        }
    }
}

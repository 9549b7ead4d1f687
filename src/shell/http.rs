//! Outbound `fetch` with a deadline on the response headers.

use futures_util::future::{select, Either};
use futures_util::StreamExt;
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

/// Why an outbound answer's body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerFailure {
    /// It is longer than the limit (declared so, or found so while reading).
    TooLarge,
    /// It did not arrive in time (a peer that trickles its body).
    Timeout,
    /// The stream failed (the peer reset the connection, or sent less than it declared).
    Unreadable,
}

/// Reads an outbound answer's body: at most `limit` bytes, within `timeout_ms`. A peer that
/// trickles its body or sends an endless one is cut off, not waited for or buffered.
pub async fn read_answer(response: &mut Response, limit: usize, timeout_ms: u64) -> Result<Vec<u8>, AnswerFailure> {
    let declared = response.headers().get("content-length").ok().flatten().and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(AnswerFailure::TooLarge);
    }
    let read = async {
        let mut body = Vec::new();
        let mut stream = response.stream().map_err(|_| AnswerFailure::Unreadable)?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| AnswerFailure::Unreadable)?;
            if body.len() + chunk.len() > limit {
                return Err(AnswerFailure::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    futures_util::pin_mut!(read);
    match select(read, Delay::from(Duration::from_millis(timeout_ms))).await {
        Either::Left((body, _)) => body,
        Either::Right(_) => Err(AnswerFailure::Timeout),
    }
}

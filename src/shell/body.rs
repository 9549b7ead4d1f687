//! Reading request bodies in the shell: bounded, and parsed as JSON without leaking parser detail.

use crate::error::Failure;
use crate::gateway::refusals::GuardError;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use worker::Request;

/// Reads the whole body, refusing more than `limit` bytes.
pub async fn read_bounded(req: &mut Request, limit: usize) -> std::result::Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    if let Ok(mut stream) = req.stream() {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| Failure::Guard(GuardError::Malformed("body")))?;
            if body.len() + chunk.len() > limit {
                return Err(Failure::Guard(GuardError::BodyTooLarge));
            }
            body.extend_from_slice(&chunk);
        }
    }
    Ok(body)
}

/// Parses a JSON body that must be there: an empty one is a 400 like a malformed one.
pub fn required_body<T: DeserializeOwned>(body: &[u8]) -> std::result::Result<T, Failure> {
    parse_body(body)?.ok_or_else(|| Failure::InvalidBody(vec!["body: a JSON object is required".into()]))
}

/// Parses a JSON body; `None` when it is empty.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> std::result::Result<Option<T>, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|e| Failure::InvalidBody(vec![format!("body: {e}")]))
}

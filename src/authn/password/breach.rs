//! The breached-password check, through the k-anonymity range API of Have I Been Pwned's Pwned
//! Passwords (or any service that speaks it): only the first 5 hex digits of the password's SHA-1
//! leave the edge (`GET {range_url}{prefix}`), and the answer lists the suffixes of every breached
//! password with that prefix (`SUFFIX:COUNT` lines). The request asks for padding
//! (`Add-Padding: true`), so the answer's size does not tell which prefix was asked; padded lines
//! have a count of 0.
//!
//! The service may be down: by configuration, a new password is then allowed (fail open) or
//! refused for now (fail closed).

use crate::ports::{HttpClient, Method, OutboundRequest};
use sha1::{Digest, Sha1};

/// The most suffix lines an answer may have (the real service sends about 800 to 1,000).
const MAX_LINES: usize = 10_000;

/// What to do when the service cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnavailable {
    /// Allow the password without the check.
    FailOpen,
    /// Refuse to set a password for now.
    FailClosed,
}

/// The outcome of the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreachVerdict {
    /// Not among the breached passwords (or not checked: the service was down, failing open).
    NotFound,
    /// Seen in breaches this many times.
    Breached(u64),
    /// The service could not be asked, and the check fails closed.
    Unavailable,
}

/// The part of a password's SHA-1 that is sent (5 hex digits) and the part that is not (35).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeQuery {
    /// Upper-case hex, sent.
    pub prefix: String,
    /// Upper-case hex, compared locally.
    suffix: String,
}

/// The query for a (normalised) password.
pub fn range_query(password: &[u8]) -> RangeQuery {
    let hex: String = Sha1::digest(password).iter().map(|b| format!("{b:02X}")).collect();
    let (prefix, suffix) = hex.split_at(5);
    RangeQuery { prefix: prefix.to_owned(), suffix: suffix.to_owned() }
}

/// Why an answer was not understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    /// A line that is not `SUFFIX:COUNT` (the 1-based line number).
    Malformed(usize),
    /// More lines than any real answer has.
    TooLong,
}

/// How often the answer lists the query's suffix: 0 when it does not, or lists it as padding.
pub fn times_breached(body: &str, query: &RangeQuery) -> Result<u64, RangeError> {
    let mut found = 0;
    for (index, line) in body.lines().enumerate() {
        if index >= MAX_LINES {
            return Err(RangeError::TooLong);
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (suffix, count) = line.split_once(':').ok_or(RangeError::Malformed(index + 1))?;
        let well_formed = suffix.len() == 35 && suffix.bytes().all(|b| b.is_ascii_hexdigit());
        let count: u64 = count.trim().parse().map_err(|_| RangeError::Malformed(index + 1))?;
        if !well_formed {
            return Err(RangeError::Malformed(index + 1));
        }
        if suffix.eq_ignore_ascii_case(&query.suffix) {
            found = count;
        }
    }
    Ok(found)
}

/// Asks the range service about a (normalised) password. `range_url` ends where the prefix goes
/// (`https://api.pwnedpasswords.com/range/`).
pub async fn check(
    client: &impl HttpClient,
    range_url: &str,
    password: &[u8],
    when_unavailable: WhenUnavailable,
) -> BreachVerdict {
    let query = range_query(password);
    let request = OutboundRequest {
        method: Method::Get,
        url: format!("{range_url}{}", query.prefix),
        headers: vec![("add-padding".into(), "true".into()), ("accept".into(), "text/plain".into())],
        body: None,
    };
    let answer = match client.send(request).await {
        Ok(response) if response.status == 200 => {
            std::str::from_utf8(&response.body).ok().and_then(|body| times_breached(body, &query).ok())
        }
        _ => None,
    };
    match (answer, when_unavailable) {
        (Some(0), _) => BreachVerdict::NotFound,
        (Some(times), _) => BreachVerdict::Breached(times),
        (None, WhenUnavailable::FailOpen) => BreachVerdict::NotFound,
        (None, WhenUnavailable::FailClosed) => BreachVerdict::Unavailable,
    }
}

#[cfg(test)]
mod tests;

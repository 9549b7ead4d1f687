//! An index of each user's sessions, for administrators. A session's record is sealed with a key
//! only its cookie holds, so the gateway cannot read it without the cookie; beside it, KV keeps
//! one small entry per session under the user's (provider, subject), expiring with the session:
//! its handle, when it began and ends, and the address and browser it began from. Listing reads
//! the entries; ending one revokes its session through the same path logout takes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What every index key starts with.
pub const INDEX_PREFIX: &str = "session-index:";

/// The most bytes of a user agent kept (KV metadata holds at most 1024 bytes).
pub const MAX_USER_AGENT_BYTES: usize = 256;

/// A session as an administrator sees it: never its id, key or record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// Its handle: the session's KV key without `session:` (a hash of its id, which opens
    /// nothing; `GET /auth/session` shows a user the same value as `session_id`).
    pub id: String,
    /// When it began.
    pub created_at_ms: u64,
    /// When it ends at the latest (its absolute lifetime).
    pub expires_at_s: i64,
    /// The address it began from.
    pub client_ip: Option<String>,
    /// The browser it began in (the first [`MAX_USER_AGENT_BYTES`] bytes).
    pub user_agent: Option<String>,
}

impl SessionSummary {
    /// The summary of a session just begun, with the request's address and user agent.
    pub fn new(
        kv_key: &str,
        created_at_ms: u64,
        expires_at_s: i64,
        client_ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Self {
        SessionSummary {
            id: handle_of(kv_key).to_owned(),
            created_at_ms,
            expires_at_s,
            client_ip: client_ip.map(|ip| truncate(ip, 64)),
            user_agent: user_agent.map(|agent| truncate(agent, MAX_USER_AGENT_BYTES)),
        }
    }

    /// The session's KV key.
    pub fn kv_key(&self) -> String {
        format!("session:{}", self.id)
    }
}

fn truncate(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// The handle of a session's KV key (`session:<handle>`).
pub fn handle_of(kv_key: &str) -> &str {
    kv_key.strip_prefix("session:").unwrap_or(kv_key)
}

/// Whether `handle` can be a session's handle: unpadded base64url of a SHA-256.
pub fn handle_ok(handle: &str) -> bool {
    handle.len() == 43 && handle.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A user's tag: the provider's id and a hash of the subject, so any subject fits a key or a URL
/// (the revocation of all of a user's sessions is kept under it too).
pub fn subject_tag(provider: &str, subject: &str) -> String {
    format!("{provider}:{}", URL_SAFE_NO_PAD.encode(Sha256::digest(subject.as_bytes())))
}

/// The prefix of a user's entries (the hash in the tag has a fixed length and no `:`, so no
/// user's prefix reaches into another's).
pub fn prefix_of(subject_tag: &str) -> String {
    format!("{INDEX_PREFIX}{subject_tag}:")
}

/// The key of one session's entry.
pub fn key_of(subject_tag: &str, handle: &str) -> String {
    format!("{}{handle}", prefix_of(subject_tag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "session:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn a_summary_keeps_the_handle_and_bounded_client_facts() {
        let agent = "Mozilla/5.0 ".repeat(40) + "é";
        let summary = SessionSummary::new(KEY, 5, 6, Some("203.0.113.7"), Some(&agent));
        assert_eq!(summary.id, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        assert!(handle_ok(&summary.id));
        assert_eq!(summary.kv_key(), KEY);
        assert_eq!(summary.user_agent.as_ref().map(String::len), Some(MAX_USER_AGENT_BYTES));
        assert!(serde_json::to_string(&summary).unwrap().len() < 1024, "fits KV metadata");
    }

    #[test]
    fn keys_of_one_subject_never_fall_under_another_s_prefix() {
        let a = prefix_of("con_a:X");
        let b = key_of("con_a:XY", "h");
        assert!(!b.starts_with(&a), "{b} is not under {a}");
        assert!(key_of("con_a:X", "h").starts_with(&a));
    }

    proptest! {
            #![proptest_config(crate::testing::generative(256))]
    #[test]
            fn truncation_never_splits_a_character(text in "\\PC{0,400}", max in 0usize..300) {
                let cut = truncate(&text, max);
                prop_assert!(cut.len() <= max);
                prop_assert!(text.starts_with(&cut));
            }

            #[test]
            fn only_hash_shaped_handles_pass(text in "\\PC{0,60}") {
                if handle_ok(&text) {
                    prop_assert_eq!(text.len(), 43);
                    prop_assert!(!text.contains(':') && !text.contains('/'));
                }
            }
        }
}

//! A per-isolate cache of verified tokens, so a client that sends the same token on every
//! request (the common case) pays for its signature once, as Envoy's `jwt_cache_config` does.
//!
//! An entry is keyed by the SHA-256 of the whole token, is used only while the token is unexpired
//! (`exp` plus leeway), and only while the issuer's key set is the one it was verified with: a
//! refreshed JWKS has a new generation, which invalidates every entry verified before it.

use crate::cache::BoundedCache;
use sha2::{Digest, Sha256};

/// The SHA-256 of a token, the cache key.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

struct Entry<T> {
    value: T,
    key_generation: u64,
}

/// Verified values by token digest, bounded to `capacity` entries (a full cache evicts one).
pub struct VerifiedCache<T> {
    entries: BoundedCache<[u8; 32], Entry<T>>,
}

impl<T: Clone> VerifiedCache<T> {
    /// An empty cache that holds at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self { entries: BoundedCache::new(capacity) }
    }

    /// The value for a token verified under `key_generation`, if it has not expired at `now_ms`.
    pub fn get(&mut self, digest: &[u8; 32], now_ms: u64, key_generation: u64) -> Option<T> {
        match self.entries.get(digest, now_ms) {
            Some(entry) if entry.key_generation == key_generation => Some(entry.value.clone()),
            Some(_) => {
                self.entries.remove(digest);
                None
            }
            None => None,
        }
    }

    /// Remembers a verified value until `expires_at_ms`.
    pub fn insert(&mut self, digest: [u8; 32], value: T, expires_at_ms: u64, key_generation: u64, now_ms: u64) {
        self.entries.insert(digest, Entry { value, key_generation }, expires_at_ms, now_ms);
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_live_until_expiry_and_die_with_their_key_set() {
        let mut cache = VerifiedCache::new(10);
        let a = token_digest("token-a");
        cache.insert(a, "alice", 100_000, 1, 0);
        let cases: &[(u64, u64, Option<&str>)] = &[
            (50_000, 1, Some("alice")),
            (99_999, 1, Some("alice")),
            (100_000, 1, None), // expired: and now gone
            (50_000, 1, None),
        ];
        for (now, generation, expected) in cases {
            assert_eq!(cache.get(&a, *now, *generation), *expected, "at {now}");
        }
        cache.insert(a, "alice", 100_000, 1, 0);
        assert_eq!(cache.get(&a, 50_000, 2), None, "a refreshed key set invalidates it");
        assert!(cache.is_empty(), "and removes it");
        assert_eq!(cache.get(&token_digest("token-b"), 50_000, 1), None);
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut cache = VerifiedCache::new(3);
        for i in 0..10 {
            cache.insert(token_digest(&format!("t{i}")), i, 100_000, 1, 0);
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.get(&token_digest("t9"), 1, 1), Some(9));
        assert_eq!(cache.len(), 3, "a full cache evicts one entry, never all");
    }
}

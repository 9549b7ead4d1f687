//! A per-isolate cache of verified tokens, so a client that sends the same token on every
//! request (the common case) pays for its signature once, as Envoy's `jwt_cache_config` does.
//!
//! An entry is keyed by the SHA-256 of the whole token, is used only while the token is unexpired
//! (`exp` plus leeway), and only while the issuer's key set is the one it was verified with: a
//! refreshed JWKS has a new generation, which invalidates every entry verified before it.

use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The SHA-256 of a token, the cache key.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

struct Entry<T> {
    value: T,
    expires_at_s: f64,
    key_generation: u64,
}

/// Verified values by token digest, bounded to `capacity` entries.
pub struct VerifiedCache<T> {
    entries: HashMap<[u8; 32], Entry<T>>,
    capacity: usize,
}

impl<T: Clone> VerifiedCache<T> {
    /// An empty cache that holds at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self { entries: HashMap::new(), capacity }
    }

    /// The value for a token verified under `key_generation`, if it has not expired at `now_s`.
    pub fn get(&mut self, digest: &[u8; 32], now_s: f64, key_generation: u64) -> Option<T> {
        let entry = self.entries.get(digest)?;
        if now_s < entry.expires_at_s && entry.key_generation == key_generation {
            return Some(entry.value.clone());
        }
        self.entries.remove(digest);
        None
    }

    /// Remembers a verified value until `expires_at_s`.
    pub fn insert(&mut self, digest: [u8; 32], value: T, expires_at_s: f64, key_generation: u64) {
        if self.entries.len() >= self.capacity {
            let now_expired: Vec<[u8; 32]> =
                self.entries.iter().filter(|(_, e)| e.key_generation != key_generation).map(|(k, _)| *k).collect();
            for digest in now_expired {
                self.entries.remove(&digest);
            }
            if self.entries.len() >= self.capacity {
                // Full of live entries: start over rather than grow (verification is the fallback).
                self.entries.clear();
            }
        }
        self.entries.insert(digest, Entry { value, expires_at_s, key_generation });
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
        cache.insert(a, "alice", 100.0, 1);
        let cases: &[(f64, u64, Option<&str>)] = &[
            (50.0, 1, Some("alice")),
            (99.9, 1, Some("alice")),
            (100.0, 1, None), // expired: and now gone
            (50.0, 1, None),
        ];
        for (now, generation, expected) in cases {
            assert_eq!(cache.get(&a, *now, *generation), *expected, "at {now}");
        }
        cache.insert(a, "alice", 100.0, 1);
        assert_eq!(cache.get(&a, 50.0, 2), None, "a refreshed key set invalidates it");
        assert_eq!(cache.get(&token_digest("token-b"), 50.0, 1), None);
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut cache = VerifiedCache::new(3);
        for i in 0..10 {
            cache.insert(token_digest(&format!("t{i}")), i, 100.0, 1);
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.get(&token_digest("t9"), 1.0, 1), Some(9));
    }
}

//! The one bounded cache type behind the per-isolate caches that requests fill (verified tokens,
//! sessions, API keys, imported keys, remembered rate-limit refusals). The JWKS and discovery
//! caches, keyed by configured issuers and providers, still have their own maps.
//!
//! Entries carry their own expiry (a time in milliseconds from the clock port), and the cache holds
//! at most `capacity` of them. When it is full, an insert evicts exactly one entry, chosen by the
//! CLOCK algorithm (a second-chance approximation of LRU): the hand sweeps the slots, takes the
//! first expired entry or the first one not read since the hand last passed, and clears the
//! "read" mark of the others on its way. A full cache therefore never empties itself at once,
//! which would send every client back to KV and the Durable Objects in the same instant.
//!
//! Lookups are O(1); an eviction visits at most two rounds of the slots, and O(1) on average.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// An expiry far enough away to mean "until evicted".
pub const NEVER_EXPIRES: u64 = u64::MAX;

struct Slot<K, V> {
    key: K,
    value: V,
    expires_at_ms: u64,
    referenced: bool,
}

/// A map of at most `capacity` entries, each live until its expiry, evicting one entry at a time.
pub struct BoundedCache<K, V> {
    index: HashMap<K, usize>,
    slots: Vec<Slot<K, V>>,
    hand: usize,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> BoundedCache<K, V> {
    /// An empty cache of at most `capacity` entries. A capacity of 0 caches nothing.
    pub fn new(capacity: usize) -> Self {
        Self { index: HashMap::new(), slots: Vec::new(), hand: 0, capacity }
    }

    /// The most entries it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many entries it holds now (expired ones included until they are swept or read).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The live value for `key` at `now_ms`, marked as recently used. An expired entry is
    /// removed and reads as absent.
    pub fn get<Q>(&mut self, key: &Q, now_ms: u64) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let position = self.live_position(key, now_ms)?;
        Some(&self.slots[position].value)
    }

    /// Like [`Self::get`], for changing the value in place (its expiry stays).
    pub fn get_mut<Q>(&mut self, key: &Q, now_ms: u64) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let position = self.live_position(key, now_ms)?;
        Some(&mut self.slots[position].value)
    }

    /// The slot of a live entry, marked as read; an expired one is removed.
    fn live_position<Q>(&mut self, key: &Q, now_ms: u64) -> Option<usize>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let position = *self.index.get(key)?;
        if self.slots[position].expires_at_ms <= now_ms {
            self.remove_at(position);
            return None;
        }
        self.slots[position].referenced = true;
        Some(position)
    }

    /// Stores `value` under `key` until `expires_at_ms`, replacing any previous value. When the
    /// cache is full, one other entry is evicted first.
    pub fn insert(&mut self, key: K, value: V, expires_at_ms: u64, now_ms: u64) {
        if self.capacity == 0 || expires_at_ms <= now_ms {
            self.remove(&key);
            return;
        }
        if let Some(&position) = self.index.get(&key) {
            let slot = &mut self.slots[position];
            slot.value = value;
            slot.expires_at_ms = expires_at_ms;
            slot.referenced = true;
            return;
        }
        if self.slots.len() >= self.capacity {
            let victim = self.victim(now_ms);
            self.remove_at(victim);
        }
        self.index.insert(key.clone(), self.slots.len());
        // A new entry starts unmarked: it must be read once to earn a second chance.
        self.slots.push(Slot { key, value, expires_at_ms, referenced: false });
    }

    /// Removes `key`, returning its value whether or not it had expired.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let position = *self.index.get(key)?;
        Some(self.remove_at(position))
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.hand = 0;
    }

    /// Removes every entry for which `keep` is false.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let mut position = 0;
        while position < self.slots.len() {
            let slot = &self.slots[position];
            if keep(&slot.key, &slot.value) {
                position += 1;
            } else {
                self.remove_at(position);
            }
        }
    }

    /// The slot the CLOCK hand settles on: the first expired one, or the first not read since
    /// the hand last passed. Two rounds always find one, since the first clears every mark.
    fn victim(&mut self, now_ms: u64) -> usize {
        let count = self.slots.len();
        for _ in 0..2 * count {
            let position = self.hand % count;
            self.hand = (position + 1) % count;
            let slot = &mut self.slots[position];
            if slot.expires_at_ms <= now_ms || !slot.referenced {
                return position;
            }
            slot.referenced = false;
        }
        self.hand % count
    }

    /// Removes the slot at `position` by moving the last slot into its place.
    fn remove_at(&mut self, position: usize) -> V {
        let removed = self.slots.swap_remove(position);
        self.index.remove(&removed.key);
        if let Some(moved) = self.slots.get(position) {
            self.index.insert(moved.key.clone(), position);
        }
        if self.hand >= self.slots.len() {
            self.hand = 0;
        }
        removed.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn entries_live_until_their_expiry() {
        let mut cache = BoundedCache::new(4);
        cache.insert("a", 1, 100, 0);
        let cases: &[(u64, Option<i32>)] = &[(0, Some(1)), (99, Some(1)), (100, None), (50, None)];
        for (now, expected) in cases {
            assert_eq!(cache.get("a", *now).copied(), *expected, "at {now}");
        }
        assert!(cache.is_empty(), "an expired entry read is gone");
    }

    #[test]
    fn a_full_cache_evicts_one_entry_not_all() {
        let mut cache = BoundedCache::new(3);
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            cache.insert(key, i, NEVER_EXPIRES, 0);
        }
        cache.get("a", 1);
        cache.get("c", 1);
        cache.insert("d", 3, NEVER_EXPIRES, 1);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("b", 2), None, "the one entry not read since is the victim");
        for key in ["a", "c", "d"] {
            assert!(cache.get(key, 2).is_some(), "{key} survives");
        }
    }

    #[test]
    fn an_expired_entry_is_evicted_before_a_live_unread_one() {
        let mut cache = BoundedCache::new(2);
        cache.insert("live", 1, NEVER_EXPIRES, 0);
        cache.insert("stale", 2, 10, 0);
        cache.get("live", 5);
        cache.insert("new", 3, NEVER_EXPIRES, 20);
        assert_eq!(cache.get("live", 21).copied(), Some(1));
        assert_eq!(cache.get("new", 21).copied(), Some(3));
    }

    #[test]
    fn replacing_keeps_one_entry_and_takes_the_new_expiry() {
        let mut cache = BoundedCache::new(2);
        cache.insert("a", 1, 10, 0);
        cache.insert("a", 2, 50, 5);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get("a", 20).copied(), Some(2));
    }

    #[test]
    fn capacity_zero_and_past_expiry_store_nothing() {
        let mut none = BoundedCache::new(0);
        none.insert("a", 1, NEVER_EXPIRES, 0);
        assert!(none.is_empty());
        let mut cache = BoundedCache::new(2);
        cache.insert("a", 1, 10, 0);
        cache.insert("a", 2, 10, 10);
        assert!(cache.is_empty(), "an insert that is already expired removes the old value");
    }

    #[test]
    fn remove_and_retain() {
        let mut cache = BoundedCache::new(4);
        for i in 0..4 {
            cache.insert(i, i * 10, NEVER_EXPIRES, 0);
        }
        assert_eq!(cache.remove(&1), Some(10));
        assert_eq!(cache.remove(&1), None);
        cache.retain(|_, value| *value != 20);
        let mut left: Vec<i32> = (0..4).filter_map(|k| cache.get(&k, 0).copied()).collect();
        left.sort();
        assert_eq!(left, [0, 30]);
    }

    proptest! {
        /// Whatever the operations, the cache never exceeds its capacity, its index agrees with its
        /// slots, and it returns exactly what a plain map with the same expiries would, for
        /// every key it still holds.
        #[test]
        fn behaves_like_a_bounded_map(operations in proptest::collection::vec((0u8..4, 0u8..12, 0u64..40), 1..200)) {
            let mut cache = BoundedCache::new(5);
            let mut model: HashMap<u8, (u64, u64)> = HashMap::new();
            let mut now = 0;
            for (kind, key, amount) in operations {
                now += amount % 3;
                match kind {
                    0 | 1 => {
                        let value = now * 100 + amount;
                        cache.insert(key, value, now + amount, now);
                        if amount > 0 { model.insert(key, (value, now + amount)); } else { model.remove(&key); }
                    }
                    2 => {
                        let got = cache.get(&key, now).copied();
                        if let Some(value) = got {
                            let (expected, expires) = model[&key];
                            prop_assert_eq!(value, expected);
                            prop_assert!(now < expires);
                        }
                    }
                    _ => {
                        cache.remove(&key);
                        model.remove(&key);
                    }
                }
                prop_assert!(cache.len() <= 5);
                prop_assert_eq!(cache.index.len(), cache.slots.len());
                for (position, slot) in cache.slots.iter().enumerate() {
                    prop_assert_eq!(cache.index[&slot.key], position);
                }
            }
        }
    }
}

//! A map whose entries expire a fixed time after they were stored, holding
//! at most a fixed number of them: the one time-limited cache the portal
//! (`cordond`'s answers, rendered pages), the DNSBL checker (questions
//! asked) and `cordond` (the kernel's SMTP answers) share.
//!
//! The time is an argument, never read here, so the cache is pure and its
//! tests set the clock. Entries are kept in the order stored, which is also
//! the order they expire in (every entry lives the same `ttl`), so expired
//! and surplus entries are both taken from the front, a few at each insert:
//! the map never holds more than `capacity`, and never much that is stale.

use std::collections::hash_map::RandomState;
use std::hash::Hash;
use std::time::{Duration, Instant};

use hashlink::LinkedHashMap;

/// Entries of `V` by `K`, each fresh for `ttl` after it was stored.
#[derive(Debug, Clone)]
pub struct Expiring<K: Hash + Eq, V> {
    ttl: Duration,
    capacity: usize,
    // SipHash with a random key: the keys are often addresses a client
    // chooses.
    entries: LinkedHashMap<K, (Instant, V), RandomState>,
}

impl<K: Hash + Eq, V> Expiring<K, V> {
    /// Keeps up to `capacity` entries (`usize::MAX`: only expiry bounds it;
    /// 0: nothing is kept) for `ttl` each.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Expiring {
            ttl,
            capacity,
            entries: LinkedHashMap::with_hasher(RandomState::new()),
        }
    }

    fn fresh(&self, stored: Instant, now: Instant) -> bool {
        now.saturating_duration_since(stored) < self.ttl
    }

    /// The value stored for `key` less than `ttl` before `now`.
    pub fn get(&self, key: &K, now: Instant) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|(stored, _)| self.fresh(*stored, now))
            .map(|(_, v)| v)
    }

    /// Stores `value` for `key` at `now` (replacing any older value, which
    /// then lives its own new `ttl`), and drops what expired or is beyond
    /// the capacity, oldest first.
    pub fn insert(&mut self, key: K, value: V, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        // `insert` moves an existing key to the back: order stays by time.
        self.entries.insert(key, (now, value));
        while let Some((_, (stored, _))) = self.entries.front() {
            if self.entries.len() <= self.capacity && self.fresh(*stored, now) {
                break;
            }
            self.entries.pop_front();
        }
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Entries held, expired ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TTL: Duration = Duration::from_secs(1);

    #[test]
    fn an_entry_lives_its_ttl_and_no_longer() {
        let mut m = Expiring::new(TTL, 4);
        let t0 = Instant::now();
        m.insert(1, "a", t0);
        assert_eq!(m.get(&1, t0 + Duration::from_millis(999)), Some(&"a"));
        assert_eq!(m.get(&1, t0 + TTL), None);
        assert_eq!(m.get(&2, t0), None);
    }

    #[test]
    fn the_oldest_go_first_past_the_capacity() {
        let mut m = Expiring::new(TTL, 3);
        let t0 = Instant::now();
        for k in 0..10 {
            m.insert(k, k, t0);
            assert!(m.len() <= 3);
        }
        assert_eq!(m.get(&6, t0), None);
        assert_eq!(m.get(&7, t0), Some(&7));
        assert_eq!(m.get(&9, t0), Some(&9));
    }

    #[test]
    fn expired_entries_are_dropped_as_new_ones_come_even_without_a_cap() {
        let mut m = Expiring::new(TTL, usize::MAX);
        let t0 = Instant::now();
        for k in 0..50 {
            m.insert(k, (), t0);
        }
        m.insert(77, (), t0 + 2 * TTL);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn a_replaced_entry_moves_to_the_back_and_removal_forgets() {
        let mut m = Expiring::new(TTL, 2);
        let t0 = Instant::now();
        m.insert(1, "old", t0);
        m.insert(2, "b", t0);
        m.insert(1, "new", t0 + Duration::from_millis(600));
        // 2 is now the oldest: the next key evicts it, not 1.
        m.insert(3, "c", t0 + Duration::from_millis(600));
        assert_eq!(m.get(&2, t0), None);
        assert_eq!(m.get(&1, t0 + Duration::from_millis(1_500)), Some(&"new"));
        m.remove(&1);
        assert_eq!(m.get(&1, t0 + Duration::from_millis(700)), None);
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let mut m = Expiring::new(TTL, 0);
        m.insert(1, (), Instant::now());
        assert!(m.is_empty());
    }
}

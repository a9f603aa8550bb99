//! The undo journal the policy's memories share (the report ledger's
//! units, the suspects, and the lifecycle's records, which it puts back
//! through their tally): during a batch, each key's value as it stood
//! before the batch's first change to it, so a batch the store refuses is
//! put back exactly, at the cost of what it touched rather than of what
//! the memory holds.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, Hash};

/// Open between [`Journal::begin`] and [`Journal::finish`]; outside a
/// batch it remembers nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal<K, V>(Option<BTreeMap<K, Option<V>>>);

impl<K, V> Default for Journal<K, V> {
    fn default() -> Self {
        Journal(None)
    }
}

/// What a batch changed in one map, as it stood before (`None`: the key
/// was absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undo<K, V>(BTreeMap<K, Option<V>>);

impl<K, V> Default for Undo<K, V> {
    fn default() -> Self {
        Undo(BTreeMap::new())
    }
}

impl<K: Ord, V> Journal<K, V> {
    /// Starts remembering what changes, so the batch can be undone.
    pub fn begin(&mut self) {
        self.0 = Some(BTreeMap::new());
    }

    /// Call before `key` changes: remembers how it stands now (`before`,
    /// asked only then) if this is the batch's first change to it. Only
    /// the first change counts: that is how it stood before the batch.
    pub fn touch(&mut self, key: K, before: impl FnOnce() -> Option<V>) {
        if let Some(journal) = &mut self.0 {
            journal.entry(key).or_insert_with(before);
        }
    }

    /// Stops remembering; returns what the batch changed, as it was.
    pub fn finish(&mut self) -> Undo<K, V> {
        Undo(self.0.take().unwrap_or_default())
    }
}

impl<K: Ord, V> Undo<K, V> {
    /// `Some(value before the batch)` if the batch changed `key`, `None`
    /// if it left it alone.
    pub fn before(&self, key: &K) -> Option<Option<&V>> {
        self.0.get(key).map(Option::as_ref)
    }
}

impl<K, V> Undo<K, V> {
    /// How many keys the batch changed (what an undo would rewrite).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether an undo would have nothing to do.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Puts every key the batch changed back in `map` as it was.
    pub fn restore(self, map: &mut impl Restore<K, V>) {
        for (key, before) in self.0 {
            map.restore(key, before);
        }
    }
}

/// A map an [`Undo`] puts back.
pub trait Restore<K, V> {
    /// `key` holds `value` again, or is absent when it is `None`.
    fn restore(&mut self, key: K, value: Option<V>);
}

impl<K: Ord, V> Restore<K, V> for BTreeMap<K, V> {
    fn restore(&mut self, key: K, value: Option<V>) {
        match value {
            Some(v) => self.insert(key, v),
            None => self.remove(&key),
        };
    }
}

/// A set is a map to nothing: present or absent.
impl<K: Ord> Restore<K, ()> for BTreeSet<K> {
    fn restore(&mut self, key: K, value: Option<()>) {
        match value {
            Some(()) => self.insert(key),
            None => self.remove(&key),
        };
    }
}

impl<K: Hash + Eq, V, S: BuildHasher> Restore<K, V> for HashMap<K, V, S> {
    fn restore(&mut self, key: K, value: Option<V>) {
        match value {
            Some(v) => self.insert(key, v),
            None => self.remove(&key),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undo_puts_back_the_first_value_of_each_key_touched_only() {
        let mut map: BTreeMap<u8, &str> = [(1, "one"), (2, "two")].into();
        let mut journal = Journal::default();
        // Outside a batch nothing is remembered.
        journal.touch(2, || map.get(&2).copied());
        map.insert(2, "zwei");
        journal.begin();
        for (key, value) in [(1, Some("uno")), (1, Some("eins")), (3, Some("drei"))] {
            journal.touch(key, || map.get(&key).copied());
            map.restore(key, value);
        }
        journal.touch(2, || map.get(&2).copied());
        map.remove(&2);
        journal.finish().restore(&mut map);
        assert_eq!(map, [(1, "one"), (2, "zwei")].into());
        // Finished: touching again remembers nothing.
        journal.touch(1, || Some("x"));
        assert_eq!(journal.finish(), Undo::default());
    }
}

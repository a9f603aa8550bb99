//! The ledger's undo log: each change a batch made to the ledger, so the
//! batch can be taken back change by change, last first, when the store
//! refuses it.

use std::collections::HashMap;
use std::time::SystemTime;

use super::{Entry, Unit, weights};
use crate::subject::Subject;

/// One change to the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Op {
    /// The unit was added (it had no entry before).
    Created(Subject),
    /// These entries, the first of the unit's, expired and were removed.
    Expired { unit: Subject, entries: Vec<Entry> },
    /// A seen key was set; `before` is its time before (`None`: absent).
    Seen {
        unit: Subject,
        key: (String, String),
        before: Option<SystemTime>,
    },
    /// An entry was inserted at `at`.
    Inserted { unit: Subject, at: usize },
}

impl Op {
    /// Takes the change back. Changes are taken back last first, so each
    /// finds the unit as the change left it.
    pub(super) fn revert(self, units: &mut HashMap<Subject, Unit>) {
        match self {
            Op::Created(unit) => {
                units.remove(&unit);
            }
            Op::Expired { unit, entries } => {
                let state = units.entry(unit).or_default();
                state.total += weights(&entries);
                state.entries.splice(0..0, entries);
            }
            Op::Seen { unit, key, before } => {
                if let Some(state) = units.get_mut(&unit) {
                    match before {
                        Some(t) => state.seen.insert(key, t),
                        None => state.seen.remove(&key),
                    };
                }
            }
            Op::Inserted { unit, at } => {
                if let Some(state) = units.get_mut(&unit)
                    && at < state.entries.len()
                {
                    let e = state.entries.remove(at);
                    state.total -= u64::from(e.report.weight);
                }
            }
        }
    }
}

/// Open between `begin` and `finish`: the changes so far, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Log(Option<Vec<Op>>);

impl Log {
    pub(super) fn begin(&mut self) {
        self.0 = Some(Vec::new());
    }

    /// Notes a change (made only when the log is open).
    pub(super) fn record(&mut self, op: impl FnOnce() -> Op) {
        if let Some(log) = &mut self.0 {
            log.push(op());
        }
    }

    pub(super) fn finish(&mut self) -> Vec<Op> {
        self.0.take().unwrap_or_default()
    }
}

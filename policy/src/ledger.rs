//! The report ledger: outside reports adding up per subscriber unit.
//!
//! Pure: no clock, no I/O. Time comes in as `now`, so the ledger is tested
//! with a virtual clock and proptest. A report counts from its own time
//! (`Report::at`, clamped to `now` so a feed with a clock in the future
//! cannot make a report live longer) until `at + window`. Reports about
//! the same unit from the same source with the same message id count once:
//! a feedback loop that sends the same complaint twice, or a block list
//! listing seen again, is one piece of evidence. The id is remembered until
//! the window has passed since its *latest* copy, so re-sending a complaint
//! every few days does not make it count again.
//!
//! The ledger is keyed by [`Subject`]: the subscriber who held the address
//! when the reported thing happened, or the address's unit (an IPv6 report
//! counts against the subscriber's whole prefix), which also means the
//! caller has already refused non-subscriber and never-quarantine
//! addresses.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::subject::Subject;

use crate::report::Report;

mod undo;

use undo::{Log, Op};

/// The configured score was reached for a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreReached {
    /// Whose score.
    pub unit: Subject,
    /// The score now (sum of the weights of the reports in the window).
    pub score: u32,
    /// The configured score it reached.
    pub threshold: u32,
    /// The reports that make up the score, oldest first: the evidence for
    /// the quarantine record and the audit trail.
    pub reports: Vec<Report>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// When the report started counting (its time, at most `now` at add).
    from: SystemTime,
    report: Report,
}

/// One unit's reports and the ids it has seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Unit {
    /// Counted reports, oldest first.
    entries: Vec<Entry>,
    /// The sum of the entries' weights, kept as they come and go so a
    /// report's score costs the expired entries, not all of them.
    total: u64,
    /// (source, message id) → until when a report with that key is a
    /// duplicate. Extended by each duplicate, so a complaint re-sent
    /// every few days never counts twice, even after the first copy
    /// has left the window. A key past its time is no longer a
    /// duplicate; [`ReportLedger::prune`] removes it.
    seen: HashMap<(String, String), SystemTime>,
}

impl Unit {
    /// Removes the entries no longer live at `now` (a prefix: entries are
    /// ordered by `from`) and returns them.
    fn expire(&mut self, window: Duration, now: SystemTime) -> Vec<Entry> {
        let k = self.entries.partition_point(|e| !live(e.from, window, now));
        let gone: Vec<Entry> = self.entries.drain(..k).collect();
        self.total -= weights(&gone);
        gone
    }
}

/// Reports per subscriber unit within a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLedger {
    threshold: u32,
    window: Duration,
    units: HashMap<Subject, Unit>,
    /// Open during a batch: each change the batch made, in order (see
    /// [`ReportLedger::begin`]).
    journal: Log,
}

/// The changes a batch made, in order: undone last first, they put the
/// ledger back when the store refuses the batch. Each costs what it
/// changed (an entry, a key), never a copy of the unit: a copy of each
/// unit the batch touched made every import slower than the one before
/// (the units hold every report of the window).
#[derive(Debug, Default)]
pub struct LedgerUndo(Vec<Op>);

impl LedgerUndo {
    /// How many reports the undo holds (those that expired in the batch):
    /// what it costs besides one small change per report.
    pub fn reports_held(&self) -> usize {
        self.0
            .iter()
            .map(|op| match op {
                Op::Expired { entries, .. } => entries.len(),
                _ => 0,
            })
            .sum()
    }
}

impl ReportLedger {
    /// A ledger for `detection.reports` (its `score` and `window`).
    pub fn new(config: &cordon_config::Reports) -> Self {
        Self::with(config.score, config.window)
    }

    /// A ledger firing at `threshold` points within `window`.
    pub fn with(threshold: u32, window: Duration) -> Self {
        ReportLedger {
            threshold,
            window,
            units: HashMap::new(),
            journal: Log::default(),
        }
    }

    /// Starts remembering what changes, so the batch can be undone.
    pub fn begin(&mut self) {
        self.journal.begin();
    }

    /// Stops remembering; returns what the batch changed, as it was.
    pub fn finish(&mut self) -> LedgerUndo {
        LedgerUndo(self.journal.finish())
    }

    /// Puts every unit a batch changed back as it was before the batch.
    pub fn undo(&mut self, undo: LedgerUndo) {
        for op in undo.0.into_iter().rev() {
            op.revert(&mut self.units);
        }
    }

    /// Records a report about `unit`. Returns `Some` when, with this
    /// report, the unit's score is at or above the configured score. It
    /// fires again for each further new report while the score stays
    /// there: the ledger does not know whether the caller has acted (an
    /// operator may have released the host since), and the caller ignores
    /// it for a unit already quarantined.
    ///
    /// Nothing is recorded (and `None` returned) for a duplicate (same
    /// source and message id as a report still in the window) or a report
    /// already older than the window.
    pub fn add(&mut self, unit: Subject, report: Report, now: SystemTime) -> Option<ScoreReached> {
        let from = report.at.min(now);
        if !self.counts(from, now) {
            return None;
        }
        let window = self.window;
        let until = from.checked_add(window);
        if !self.units.contains_key(&unit) {
            self.journal.record(|| Op::Created(unit.clone()));
        }
        let state = self.units.entry(unit.clone()).or_default();
        let gone = state.expire(window, now);
        if !gone.is_empty() {
            self.journal.record(|| Op::Expired {
                unit: unit.clone(),
                entries: gone,
            });
        }
        if let Some(id) = &report.message_id {
            let key = (report.source.clone(), id.clone());
            let before = state.seen.get(&key).copied();
            let until = until.unwrap_or(from);
            let (kept, duplicate) = match before {
                Some(t) if now < t => (t.max(until), true),
                _ => (until, false),
            };
            if before != Some(kept) {
                state.seen.insert(key.clone(), kept);
                self.journal.record(|| Op::Seen {
                    unit: unit.clone(),
                    key,
                    before,
                });
            }
            if duplicate {
                return None;
            }
        }
        let entries = &mut state.entries;
        let pos = entries.partition_point(|e| e.from <= from);
        state.total += u64::from(report.weight);
        entries.insert(pos, Entry { from, report });
        self.journal.record(|| Op::Inserted {
            unit: unit.clone(),
            at: pos,
        });
        let score = clamp(state.total);
        (score >= self.threshold).then(|| ScoreReached {
            unit,
            score,
            threshold: self.threshold,
            reports: state.entries.iter().map(|e| e.report.clone()).collect(),
        })
    }

    /// The unit's score at `now`: its total less what has expired since
    /// it was last pruned (a prefix of its entries).
    pub fn score(&self, unit: &Subject, now: SystemTime) -> u32 {
        self.units.get(unit).map_or(0, |state| {
            let expired: u64 = state
                .entries
                .iter()
                .take_while(|e| !live(e.from, self.window, now))
                .map(|e| u64::from(e.report.weight))
                .sum();
            clamp(state.total - expired)
        })
    }

    /// Drops expired reports and units left without any. Call it on a
    /// timer; its cost is the number of reports held.
    pub fn prune(&mut self, now: SystemTime) {
        let window = self.window;
        self.units.retain(|_, state| {
            state.expire(window, now);
            state.seen.retain(|_, t| now < *t);
            !state.entries.is_empty() || !state.seen.is_empty()
        });
    }

    /// Forgets everything about a unit (for example when the retention
    /// period or an operator says so).
    pub fn forget(&mut self, unit: &Subject) {
        self.units.remove(unit);
    }

    /// How many units hold reports (before pruning).
    pub fn units(&self) -> usize {
        self.units.len()
    }

    /// Whether a report of a thing that happened at `from` is still inside
    /// the window at `now`.
    pub fn counts(&self, from: SystemTime, now: SystemTime) -> bool {
        live(from, self.window, now)
    }
}

/// A report counts while `now < from + window`.
fn live(from: SystemTime, window: Duration, now: SystemTime) -> bool {
    match from.checked_add(window) {
        Some(until) => now < until,
        None => true,
    }
}

/// The sum of the entries' weights.
fn weights(entries: &[Entry]) -> u64 {
    entries.iter().map(|e| u64::from(e.report.weight)).sum()
}

/// A score as the ledger answers it (saturating, as the weights add up).
fn clamp(total: u64) -> u32 {
    u32::try_from(total).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;

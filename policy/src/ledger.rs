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

use crate::journal::{Journal, Undo};
use crate::report::Report;

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
    /// (source, message id) → until when a report with that key is a
    /// duplicate. Extended by each duplicate, so a complaint re-sent
    /// every few days never counts twice, even after the first copy
    /// has left the window.
    seen: HashMap<(String, String), SystemTime>,
}

/// Reports per subscriber unit within a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLedger {
    threshold: u32,
    window: Duration,
    units: HashMap<Subject, Unit>,
    /// Open during a batch: each unit the batch touched, as it was before
    /// (see [`ReportLedger::begin`]).
    journal: Journal<Subject, Unit>,
}

/// The units a batch changed, as they were before it: what puts the
/// ledger back when the store refuses the batch. Costs what the batch
/// touched, not what the ledger holds.
#[derive(Debug, Default)]
pub struct LedgerUndo(Undo<Subject, Unit>);

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
            journal: Journal::default(),
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
        undo.0.restore(&mut self.units);
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
        self.journal
            .touch(unit.clone(), || self.units.get(&unit).cloned());
        let state = self.units.entry(unit.clone()).or_default();
        state.entries.retain(|e| live(e.from, window, now));
        state.seen.retain(|_, t| now < *t);
        if let Some(id) = &report.message_id {
            let key = (report.source.clone(), id.clone());
            if let Some(t) = state.seen.get_mut(&key) {
                if let Some(until) = until {
                    *t = (*t).max(until);
                }
                return None;
            }
            state.seen.insert(key, until.unwrap_or(from));
        }
        let entries = &mut state.entries;
        let pos = entries.partition_point(|e| e.from <= from);
        entries.insert(pos, Entry { from, report });
        let score = sum(entries);
        (score >= self.threshold).then(|| ScoreReached {
            unit,
            score,
            threshold: self.threshold,
            reports: entries.iter().map(|e| e.report.clone()).collect(),
        })
    }

    /// The unit's score at `now`.
    pub fn score(&self, unit: &Subject, now: SystemTime) -> u32 {
        self.units.get(unit).map_or(0, |state| {
            state
                .entries
                .iter()
                .filter(|e| live(e.from, self.window, now))
                .fold(0u32, |s, e| s.saturating_add(e.report.weight))
        })
    }

    /// Drops expired reports and units left without any. Call it on a
    /// timer; its cost is the number of reports held.
    pub fn prune(&mut self, now: SystemTime) {
        let window = self.window;
        self.units.retain(|_, state| {
            state.entries.retain(|e| live(e.from, window, now));
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

fn sum(entries: &[Entry]) -> u32 {
    entries
        .iter()
        .fold(0u32, |s, e| s.saturating_add(e.report.weight))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use cordon_testkit::Fixture;

    use super::*;
    use proptest::prelude::*;
    use std::net::IpAddr;

    fn config() -> cordon_config::Config {
        Fixture::new()
            .prefixes("[100.64.0.0/16, 2001:db8:1000::/36]")
            .load()
    }

    fn unit(c: &cordon_config::Config, ip: &str) -> Subject {
        Subject::Addr(c.subscriber_of(ip.parse().unwrap()).unwrap())
    }

    const T0: u64 = 1_700_000_000;
    const WINDOW: Duration = Duration::from_secs(3600);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + secs)
    }

    fn report(ip: &str, t: u64, source: &str, id: Option<&str>, weight: u32) -> Report {
        Report {
            address: ip.parse::<IpAddr>().unwrap(),
            at: at(t),
            source: source.into(),
            kind: crate::ReportKind::Other,
            evidence: "spam".into(),
            message_id: id.map(str::to_owned),
            weight,
        }
    }

    #[test]
    fn score_reached_at_threshold() {
        let c = config();
        let u = unit(&c, "100.64.1.7");
        let mut l = ReportLedger::with(3, WINDOW);
        assert_eq!(
            l.add(u.clone(), report("100.64.1.7", 0, "a", None, 1), at(0)),
            None
        );
        assert_eq!(
            l.add(u.clone(), report("100.64.1.7", 1, "b", None, 1), at(1)),
            None
        );
        let hit = l
            .add(u.clone(), report("100.64.1.7", 2, "c", None, 1), at(2))
            .unwrap();
        assert_eq!(hit.score, 3);
        assert_eq!(hit.reports.len(), 3);
        assert_eq!(hit.unit, u);
    }

    #[test]
    fn ipv6_reports_add_up_per_prefix() {
        let c = config();
        let mut l = ReportLedger::with(2, WINDOW);
        let a = "2001:db8:1000:7::1";
        let b = "2001:db8:1000:7:abcd::9";
        assert_eq!(unit(&c, a), unit(&c, b));
        assert!(
            l.add(unit(&c, a), report(a, 0, "x", None, 1), at(0))
                .is_none()
        );
        assert!(
            l.add(unit(&c, b), report(b, 0, "y", None, 1), at(0))
                .is_some()
        );
    }

    #[test]
    fn duplicates_and_old_reports_do_not_count() {
        let c = config();
        let u = unit(&c, "100.64.1.7");
        let mut l = ReportLedger::with(2, WINDOW);
        assert!(
            l.add(
                u.clone(),
                report("100.64.1.7", 0, "fbl", Some("m1"), 1),
                at(0)
            )
            .is_none()
        );
        assert!(
            l.add(
                u.clone(),
                report("100.64.1.7", 5, "fbl", Some("m1"), 1),
                at(5)
            )
            .is_none()
        );
        assert_eq!(l.score(&u, at(5)), 1);
        // Same message id from another source is other evidence.
        assert!(
            l.add(
                u.clone(),
                report("100.64.1.7", 5, "other", Some("m1"), 1),
                at(5)
            )
            .is_some()
        );
        // Too old on arrival.
        let mut l = ReportLedger::with(1, WINDOW);
        assert!(
            l.add(u, report("100.64.1.7", 0, "a", None, 1), at(3600))
                .is_none()
        );
        assert_eq!(l.units(), 0);
    }

    #[test]
    fn future_reports_count_from_now() {
        let c = config();
        let u = unit(&c, "100.64.1.7");
        let mut l = ReportLedger::with(5, WINDOW);
        l.add(u.clone(), report("100.64.1.7", 10_000, "a", None, 1), at(0));
        assert_eq!(l.score(&u, at(3599)), 1);
        assert_eq!(l.score(&u, at(3600)), 0);
        l.prune(at(3600));
        assert_eq!(l.units(), 0);
    }

    /// One generated report: time offset, source index, message id index
    /// (None sometimes), weight.
    fn arb_report() -> impl Strategy<Value = (u64, u8, Option<u8>, u32)> {
        (0u64..10_000, 0u8..3, proptest::option::of(0u8..4), 0u32..4)
    }

    fn make(r: &(u64, u8, Option<u8>, u32)) -> Report {
        let id = r.2.map(|i| format!("m{i}"));
        report("100.64.1.7", r.0, &format!("s{}", r.1), id.as_deref(), r.3)
    }

    proptest! {
        /// Re-adding any report still in the window never changes the score.
        #[test]
        fn duplicates_never_change_the_score(
            mut reports in proptest::collection::vec(arb_report(), 1..40),
            dup in any::<proptest::sample::Index>(),
        ) {
            let c = config();
            let u = unit(&c, "100.64.1.7");
            reports.sort_by_key(|r| r.0);
            let mut l = ReportLedger::with(u32::MAX, WINDOW);
            for r in &reports {
                l.add(u.clone(), make(r), at(r.0));
            }
            let now = at(reports.last().unwrap().0);
            let before = l.score(&u, now);
            let d = dup.get(&reports);
            if d.2.is_some() && live(at(d.0), WINDOW, now) {
                l.add(u.clone(), make(d), now);
                prop_assert_eq!(l.score(&u, now), before);
            }
        }

        /// The score is the sum of the distinct reports still in the window,
        /// whatever the order they came in; pruning changes nothing visible.
        #[test]
        fn expired_reports_do_not_count(
            reports in proptest::collection::vec(arb_report(), 0..40),
            later in 0u64..20_000,
        ) {
            let c = config();
            let u = unit(&c, "100.64.1.7");
            let mut sorted = reports.clone();
            sorted.sort_by_key(|r| r.0);
            let mut l = ReportLedger::with(u32::MAX, WINDOW);
            // The model: counted reports, and per (source, id) the time
            // until which it is a duplicate (extended by each duplicate).
            let mut model: Vec<(u64, u8, Option<u8>, u32)> = Vec::new();
            let mut seen: HashMap<(u8, u8), u64> = HashMap::new();
            for r in &sorted {
                l.add(u.clone(), make(r), at(r.0));
                let now = r.0;
                model.retain(|m| now < m.0 + 3600);
                seen.retain(|_, t| now < *t);
                match r.2 {
                    Some(id) if seen.contains_key(&(r.1, id)) => {
                        let t = seen.get_mut(&(r.1, id)).unwrap();
                        *t = (*t).max(r.0 + 3600);
                    }
                    Some(id) => {
                        seen.insert((r.1, id), r.0 + 3600);
                        model.push(*r);
                    }
                    None => model.push(*r),
                }
            }
            let now = sorted.last().map_or(0, |r| r.0) + later;
            let expected: u32 = model.iter().filter(|m| now < m.0 + 3600).map(|m| m.3).sum();
            prop_assert_eq!(l.score(&u, at(now)), expected);
            l.prune(at(now));
            prop_assert_eq!(l.score(&u, at(now)), expected);
            if now >= seen.values().copied().max().unwrap_or(0)
                && now >= model.iter().map(|m| m.0 + 3600).max().unwrap_or(0)
            {
                prop_assert_eq!(l.units(), 0);
            }
        }
    }
}

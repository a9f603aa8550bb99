//! What the core remembers about detection: the outside-report ledger
//! (rebuilt from the store at start) and the suspects (hosts a signal fired
//! for in `observe` or `notice` mode). The core task owns it beside the
//! lifecycle, so a report that reaches the score and the quarantine it
//! causes are decided by one owner, in one order.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use cordon_config::{Action, Config};
use cordon_proto::control::Suspicion;
use cordon_proto::time::{Unix, system_time, unix};

use crate::journal::{Journal, Undo};
use crate::ledger::{LedgerUndo, ReportLedger, ScoreReached};
use crate::report::{Report, StoredReport};
use crate::signal::action_name;
use crate::subject::Subject;

/// How long a suspect is remembered after its signal last fired: a day, so
/// the morning shift still sees what fired at night. Suspects live in
/// memory only: they decide nothing, and the log and metrics keep the
/// history.
pub const SUSPECT_MEMORY: Duration = Duration::from_secs(86_400);

/// Why a report stored did not add to the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotCounted {
    /// The same source and message id came before, within the window.
    Duplicate,
    /// What it reports happened before the window.
    TooOld,
    /// Its kind weighs nothing in the config.
    WeighsNothing,
}

impl NotCounted {
    /// The name the protocol uses.
    pub fn as_str(self) -> &'static str {
        match self {
            NotCounted::Duplicate => "duplicate",
            NotCounted::TooOld => "too_old",
            NotCounted::WeighsNothing => "weighs_nothing",
        }
    }
}

/// What adding one report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// Whether it raised the score (not a duplicate, not too old).
    pub counted: bool,
    /// Why not, when it did not.
    pub not_counted: Option<NotCounted>,
    /// The unit's score after it.
    pub score: u32,
    /// Set when this report brought or kept the score at the threshold.
    pub reached: Option<ScoreReached>,
}

/// Detection's memory in the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Book {
    ledger: ReportLedger,
    threshold: u32,
    suspects: BTreeMap<Subject, Suspicion>,
    /// Open during a batch: each suspect the batch touched, as it was.
    journal: Journal<Subject, Suspicion>,
}

/// What a batch changed in the book, as it was before: the ledger's units
/// and the suspects it touched.
#[derive(Debug, Default)]
pub struct BookUndo {
    ledger: LedgerUndo,
    suspects: Undo<Subject, Suspicion>,
}

impl Book {
    /// An empty book for `config`.
    pub fn new(config: &Config) -> Self {
        Book {
            ledger: ReportLedger::new(&config.detection.reports),
            threshold: config.detection.reports.score,
            suspects: BTreeMap::new(),
            journal: Journal::default(),
        }
    }

    /// Starts remembering what changes, so the batch can be undone.
    pub fn begin(&mut self) {
        self.ledger.begin();
        self.journal.begin();
    }

    /// Stops remembering; returns what the batch changed, as it was.
    pub fn finish(&mut self) -> BookUndo {
        BookUndo {
            ledger: self.ledger.finish(),
            suspects: self.journal.finish(),
        }
    }

    /// Puts the book back as it was before the batch.
    pub fn undo(&mut self, undo: BookUndo) {
        self.ledger.undo(undo.ledger);
        undo.suspects.restore(&mut self.suspects);
    }

    /// The ledger rebuilt from stored reports (oldest first), as of `now`.
    /// Crossing the score while replaying decides nothing: those decisions
    /// were taken (or released by an operator) when the reports came in.
    /// Reports whose unit the config no longer admits are left out.
    pub fn rebuild(&mut self, config: &Config, stored: &[StoredReport], now: SystemTime) {
        self.ledger = ReportLedger::new(&config.detection.reports);
        self.threshold = config.detection.reports.score;
        for r in stored {
            let Ok(addr) = config.subscriber_addr(&r.unit) else {
                continue;
            };
            let unit = match r.subscriber.as_deref().map(str::parse) {
                Some(Ok(s)) => Subject::Subscriber(s),
                Some(Err(_)) => continue,
                None => Subject::Addr(addr),
            };
            let Ok(address) = r.address.parse() else {
                continue;
            };
            let report = Report {
                address,
                at: system_time(r.at),
                source: r.source.clone(),
                kind: r.kind,
                evidence: r.evidence.clone(),
                message_id: r.message_id.clone(),
                weight: r.weight,
            };
            let _ = self.ledger.add(unit, report, now);
        }
    }

    /// The score that fires.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// Adds a report about `unit`.
    pub fn add_report(&mut self, unit: Subject, report: Report, now: SystemTime) -> Added {
        let before = self.ledger.score(&unit, now);
        let (weight, in_window) = (report.weight, self.ledger.counts(report.at.min(now), now));
        let reached = self.ledger.add(unit.clone(), report, now);
        let score = self.ledger.score(&unit, now);
        let counted = score > before;
        let not_counted = (!counted).then_some(if weight == 0 {
            NotCounted::WeighsNothing
        } else if !in_window {
            NotCounted::TooOld
        } else {
            NotCounted::Duplicate
        });
        Added {
            counted,
            not_counted,
            score,
            reached: reached.filter(|_| counted),
        }
    }

    /// The unit's report score at `now`.
    pub fn score(&self, unit: &Subject, now: SystemTime) -> u32 {
        self.ledger.score(unit, now)
    }

    /// Remembers that `signal` fired for `unit` at `at` without a quarantine.
    pub fn suspect(&mut self, unit: Subject, signal: &str, action: Action, at: Unix) {
        self.journal
            .touch(unit.clone(), || self.suspects.get(&unit).cloned());
        let s = self.suspects.entry(unit).or_insert_with(|| Suspicion {
            signal: signal.to_owned(),
            action: action_name(action).to_owned(),
            first: at,
            last: at,
            count: 0,
        });
        s.signal = signal.to_owned();
        s.action = action_name(action).to_owned();
        s.last = s.last.max(at);
        s.count = s.count.saturating_add(1);
    }

    /// What fired for `unit` (also when the unit lies in a suspect range).
    pub fn suspicion(&self, unit: &Subject) -> Option<&Suspicion> {
        self.suspects.get(unit)
    }

    /// Every suspect.
    pub fn suspects(&self) -> impl Iterator<Item = (&Subject, &Suspicion)> {
        self.suspects.iter()
    }

    /// Forgets expired reports and suspects older than [`SUSPECT_MEMORY`].
    pub fn prune(&mut self, now: SystemTime) {
        self.ledger.prune(now);
        let horizon = unix(now) - i64::try_from(SUSPECT_MEMORY.as_secs()).unwrap_or(0);
        self.suspects.retain(|_, s| s.last >= horizon);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use cordon_testkit::Fixture;

    use super::*;

    fn config() -> Config {
        Fixture::new()
            .prefixes("[100.64.0.0/16]")
            .set("detection.reports", "{score: 3, window: 1d}")
            .load()
    }

    fn report(source: &str, id: Option<&str>, at: Unix) -> Report {
        Report {
            address: "100.64.1.2".parse().unwrap(),
            at: system_time(at),
            source: source.into(),
            kind: crate::ReportKind::Other,
            evidence: "spam".into(),
            message_id: id.map(String::from),
            weight: 1,
        }
    }

    #[test]
    fn the_score_fires_at_the_threshold_and_duplicates_count_once() {
        let c = config();
        let unit = Subject::Addr(c.subscriber_addr("100.64.1.2").unwrap());
        let now = system_time(10_000);
        let mut b = Book::new(&c);
        let a = b.add_report(unit.clone(), report("fbl", Some("<1@x>"), 9_000), now);
        assert!(a.counted && a.reached.is_none() && a.score == 1);
        let dup = b.add_report(unit.clone(), report("fbl", Some("<1@x>"), 9_100), now);
        assert!(!dup.counted && dup.score == 1 && dup.reached.is_none());
        b.add_report(unit.clone(), report("desk", None, 9_200), now);
        let third = b.add_report(unit.clone(), report("desk", None, 9_300), now);
        assert_eq!(third.score, 3);
        assert_eq!(third.reached.unwrap().reports.len(), 3);
    }

    #[test]
    fn a_rebuilt_ledger_has_the_same_scores() {
        let c = config();
        let stored: Vec<StoredReport> = [
            ("fbl", Some("<1@x>")),
            ("fbl", Some("<1@x>")),
            ("desk", None),
        ]
        .iter()
        .map(|(s, id)| StoredReport {
            unit: "100.64.1.2".into(),
            subscriber: None,
            address: "100.64.1.2".into(),
            at: 9_000,
            received_at: 9_000,
            source: (*s).into(),
            kind: crate::ReportKind::Other,
            evidence: "spam".into(),
            message_id: id.map(String::from),
            weight: 1,
            counted: true,
        })
        .collect();
        let mut b = Book::new(&c);
        b.rebuild(&c, &stored, system_time(10_000));
        let unit = Subject::Addr(c.subscriber_addr("100.64.1.2").unwrap());
        assert_eq!(b.score(&unit, system_time(10_000)), 2);
        // A day later they have left the window.
        assert_eq!(b.score(&unit, system_time(9_000 + 86_400)), 0);
    }

    #[test]
    fn a_report_not_counted_says_why() {
        let c = config();
        let unit = Subject::Addr(c.subscriber_addr("100.64.1.2").unwrap());
        let now = system_time(10 * 86_400);
        let mut b = Book::new(&c);
        let first = b.add_report(
            unit.clone(),
            report("fbl", Some("<1@x>"), 9 * 86_400 + 3_600),
            now,
        );
        assert_eq!((first.counted, first.not_counted), (true, None));
        let again = b.add_report(
            unit.clone(),
            report("fbl", Some("<1@x>"), 9 * 86_400 + 3_600),
            now,
        );
        assert_eq!(again.not_counted, Some(NotCounted::Duplicate));
        let old = b.add_report(unit.clone(), report("desk", None, 86_400), now);
        assert_eq!(old.not_counted, Some(NotCounted::TooOld));
        let scan = Report {
            kind: crate::ReportKind::Scan,
            weight: 0,
            ..report("shadowserver", None, 9 * 86_400 + 3_600)
        };
        let scan = b.add_report(unit, scan, now);
        assert_eq!(scan.not_counted, Some(NotCounted::WeighsNothing));
    }

    #[test]
    fn suspects_are_remembered_then_forgotten() {
        let c = config();
        let unit = Subject::Addr(c.subscriber_addr("100.64.1.2").unwrap());
        let mut b = Book::new(&c);
        b.suspect(unit.clone(), "smtp_attempts", Action::Observe, 100);
        b.suspect(unit.clone(), "smtp_attempts", Action::Observe, 150);
        let s = b.suspicion(&unit).unwrap();
        assert_eq!((s.first, s.last, s.count), (100, 150, 2));
        assert_eq!(s.action, "observe");
        b.prune(system_time(150 + 86_400 + 1));
        assert!(b.suspicion(&unit).is_none());
    }
}

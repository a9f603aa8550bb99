//! What an outside report does in a batch: it is kept (with its audit
//! line) whether or not it counts, and when it brings the unit's score to
//! the threshold, `detection.reports.action` applies in the same batch.

use std::collections::BTreeMap;

use cordon_config::Action as SignalAction;
use cordon_proto::portal::{HostState, Reason};
use cordon_proto::time::{Unix, system_time, unix};

use super::{Change, Engine, Plan, ReportTaken};
use crate::actor::Actor;
use crate::book::Added;
use crate::ledger::ScoreReached;
use crate::lifecycle::{Audit, Event, NoticeRequest, QuarantineRequest};
use crate::report::{Incoming, Report, StoredReport};
use crate::subject::Subject;

impl Engine {
    pub(super) fn report(&mut self, incoming: Incoming, now: Unix, plan: &mut Plan) -> ReportTaken {
        let Incoming {
            unit,
            holder,
            report,
            actor,
        } = incoming;
        // The store named who held the address when the reported thing
        // happened; without a holder then, an address record in force
        // now, or the address.
        let addr = unit;
        // Without the history's word, whoever has held the address since
        // before the reported time held it then.
        let holder = holder.or_else(|| {
            self.sessions
                .covering(addr.net())
                .last()
                .filter(|h| h.since <= unix(report.at))
                .map(|h| h.subscriber.clone())
        });
        let unit = match holder {
            Some(s) => Subject::Subscriber(s),
            None => Subject::Addr(addr),
        };
        let added: Added = self
            .book
            .add_report(unit.clone(), report.clone(), system_time(now));
        let state = self.state_of(&unit);
        let threshold = self.book.threshold();
        plan.changes.push(Change::Report(stored(
            addr,
            &unit,
            &report,
            now,
            added.counted,
        )));
        plan.changes.push(Change::Audit(Audit {
            at: now,
            subject: unit.clone(),
            address: Some(addr),
            from: state,
            to: state,
            actor,
            note: report_note(&report, &added, threshold),
        }));
        let reached = added.reached.as_ref().map(|reached| {
            match self.report_action {
                SignalAction::Enforce if state != HostState::Quarantined => {
                    // Decided now, in this batch: the report and the
                    // quarantine are kept together or not at all.
                    let _ = self.event(report_quarantine(reached), now, plan);
                }
                SignalAction::Enforce => {}
                // A notice, or for one already noticed a crossing the
                // ladder counts; in this batch, like the quarantine.
                SignalAction::Notice => {
                    let _ = self.event(report_notice(reached), now, plan);
                }
                action @ SignalAction::Observe => {
                    self.book.suspect(unit.clone(), "reports", action, now);
                }
            }
            self.report_action
        });
        ReportTaken {
            unit,
            counted: added.counted,
            not_counted: added.not_counted,
            score: added.score,
            threshold,
            state,
            reached,
        }
    }
}

/// A report as the store keeps it: the address's unit, and the
/// subscriber it counts against when one held the address.
pub fn stored(
    addr: cordon_config::SubscriberAddr,
    unit: &Subject,
    r: &Report,
    received_at: Unix,
    counted: bool,
) -> StoredReport {
    StoredReport {
        unit: addr.to_string(),
        subscriber: unit.subscriber().map(ToString::to_string),
        address: r.address.to_string(),
        at: unix(r.at),
        received_at,
        source: r.source.clone(),
        kind: r.kind,
        evidence: r.evidence.clone(),
        message_id: r.message_id.clone(),
        weight: r.weight,
        counted,
    }
}

/// The audit trail's words for a report.
pub fn report_note(r: &Report, added: &Added, threshold: u32) -> String {
    let counted = if added.counted {
        String::new()
    } else if r.weight == 0 {
        format!(" (a {} report weighs 0: recorded, not counted)", r.kind)
    } else {
        " (a duplicate or older than the window: not counted)".into()
    };
    let evidence = if r.evidence.is_empty() {
        "no evidence given".to_owned()
    } else {
        r.evidence.clone()
    };
    format!(
        "{} report from {}: {evidence}; weight {}, score {} of {threshold}{counted}",
        r.kind, r.source, r.weight, added.score
    )
}

/// The notice a reached report score asks for (`action: notice`).
pub fn report_notice(reached: &ScoreReached) -> Event {
    let q = report_request(reached);
    Event::Notice(NoticeRequest {
        subject: q.subject,
        reason: q.reason,
        actor: q.actor,
        note: q.note,
        mac: q.mac,
        evidence: q.evidence,
    })
}

/// The quarantine a reached report score asks for.
pub fn report_quarantine(reached: &ScoreReached) -> Event {
    Event::Quarantine(report_request(reached))
}

/// Whom a reached score is about, why and with what evidence.
fn report_request(reached: &ScoreReached) -> QuarantineRequest {
    let mut sources: Vec<&str> = reached.reports.iter().map(|r| r.source.as_str()).collect();
    sources.sort_unstable();
    sources.dedup();
    QuarantineRequest {
        subject: reached.unit.clone(),
        reason: Reason::Report,
        actor: Actor::Report,
        note: format!(
            "report score {} reached {} ({} reports from {})",
            reached.score,
            reached.threshold,
            reached.reports.len(),
            sources.join(", ")
        ),
        hold: None,
        mac: None,
        evidence: BTreeMap::from([
            (
                "reports".to_owned(),
                u64::try_from(reached.reports.len()).unwrap_or(u64::MAX),
            ),
            ("score".to_owned(), u64::from(reached.score)),
        ]),
    }
}

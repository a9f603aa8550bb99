//! The notice's transitions: notice, a crossing the ladder counts, the
//! subscriber's acknowledgement, the interval passing, the review, and the
//! operator's withdrawal. Apart from the quarantine's transitions because
//! these never touch the walled garden: a notice changes only the kernel's
//! notice set, and never a host's established flows (HTTPS, a download, a
//! mail submission must not notice it).

use std::time::Duration;

use cordon_proto::portal::{HostState, Reason};
use cordon_proto::time::secs;

use super::Lifecycle;
use crate::actor::Actor;
use crate::lifecycle::events::{Action, Audit, NoticeRequest, QuarantineRequest, Refusal};
use crate::lifecycle::state::{Host, Noticed, State, Unix};
use crate::subject::Subject;

impl Lifecycle {
    /// A notice: a clean subject (or one on probation, whose relapses it
    /// carries) becomes noticed; a quarantined one stays as it is; for one
    /// already noticed, a signal's notice is a crossing the ladder counts
    /// (an operator's changes nothing).
    pub(super) fn notice(
        &mut self,
        request: NoticeRequest,
        now: Unix,
    ) -> Result<Vec<Action>, Refusal> {
        let mut host = self
            .get(&request.subject)
            .cloned()
            .unwrap_or_else(|| Host::clean(request.subject.clone()));
        if request.mac.is_some() {
            host.mac.clone_from(&request.mac);
        }
        let (relapses, relapse) = match &host.state {
            State::Quarantined(_) => return Ok(Vec::new()),
            State::Noticed(n) => {
                if is_operator(&request.actor) {
                    return Ok(Vec::new());
                }
                let mut n = n.clone();
                return Ok(self.crossed(host, &mut n, request, now));
            }
            State::Probation(p) => (p.relapses, true),
            State::Clean => (0, false),
        };
        let from = host.state.kind();
        host.state = State::Noticed(Noticed {
            since: now,
            reason: request.reason,
            actor: request.actor.clone(),
            note: request.note.clone(),
            review_at: now + secs(self.policy.notice_review),
            acknowledged_until: None,
            crossings: 0,
            last_crossing: 0,
            relapses,
            relapse,
            evidence: request.evidence,
        });
        let audit = Audit {
            at: now,
            subject: request.subject.clone(),
            address: None,
            from,
            to: HostState::Noticed,
            actor: request.actor,
            note: request.note,
        };
        self.set(request.subject.clone(), Some(host.clone()));
        Ok(persisted(host, audit, request.subject))
    }

    /// A noticed subject crossed a signal again: counted (unless within
    /// `ALERT_REPEAT` of the notice or of the last counted crossing, the
    /// same burst), and quarantined when the ladder's `crossings` is
    /// reached.
    fn crossed(
        &mut self,
        mut host: Host,
        n: &mut Noticed,
        request: NoticeRequest,
        now: Unix,
    ) -> Vec<Action> {
        // One burst crossing two signals can be reported twice (see
        // `ALERT_REPEAT`): it moves the ladder once. A second short of the
        // repeat: the times compared are when the core decided, which can
        // lag the kernel's reports by different amounts, and a real next
        // report is never less than the repeat after the last one.
        let burst = secs(cordon_config::ALERT_REPEAT).saturating_sub(1);
        if now < n.since.max(n.last_crossing).saturating_add(burst) {
            return Vec::new();
        }
        n.crossings = n.crossings.saturating_add(1);
        n.last_crossing = now;
        // What the notice counted so far, and what this crossing names (its
        // signal's threshold): the record, and the ladder's quarantine,
        // keep both.
        n.evidence.extend(request.evidence);
        let limit = self.policy.ladder.and_then(|l| l.crossings);
        if limit.is_some_and(|l| n.crossings >= l) {
            let note = format!(
                "{} (crossing {} since the notice: the ladder quarantines)",
                request.note, n.crossings
            );
            return self.escalate(
                &host,
                request.reason,
                request.actor,
                note,
                n.evidence.clone(),
                now,
            );
        }
        host.state = State::Noticed(n.clone());
        self.set(request.subject, Some(host.clone()));
        vec![Action::Store(Box::new(host))]
    }

    /// The ladder moves a noticed subject on: a quarantine as any other,
    /// a relapse when the notice came on probation (see `quarantine`). An
    /// address notice that a quarantined range now overlaps stays noticed:
    /// the range walls it in anyway.
    fn escalate(
        &mut self,
        host: &Host,
        reason: Reason,
        actor: Actor,
        note: String,
        evidence: std::collections::BTreeMap<String, u64>,
        now: Unix,
    ) -> Vec<Action> {
        let request = QuarantineRequest {
            subject: host.subject.clone(),
            reason,
            actor,
            note,
            hold: None,
            mac: None,
            evidence,
        };
        let mut actions = self.quarantine(request, now).unwrap_or_default();
        actions.push(Action::Notice(host.subject.clone()));
        actions
    }

    /// "I understand, take me to my page": the notice stays away for the
    /// interval.
    pub(super) fn acknowledge(
        &mut self,
        subject: Subject,
        now: Unix,
    ) -> Result<Vec<Action>, Refusal> {
        let Some(mut host) = self.get(&subject).cloned() else {
            return Err(Refusal::NotNoticed(subject));
        };
        let State::Noticed(n) = &mut host.state else {
            return Err(Refusal::NotNoticed(subject));
        };
        n.acknowledged_until = Some(now + secs(self.policy.notice_interval));
        let audit = Audit {
            at: now,
            subject: subject.clone(),
            address: None,
            from: HostState::Noticed,
            to: HostState::Noticed,
            actor: Actor::Subscriber,
            note: format!(
                "the subscriber acknowledged the notice; shown again in {}",
                cordon_config::duration::format(self.policy.notice_interval)
            ),
        };
        self.set(subject.clone(), Some(host.clone()));
        Ok(persisted(host, audit, subject))
    }

    /// Acknowledged notices whose interval has passed show again.
    pub(super) fn notices_due(&mut self, now: Unix) -> Vec<Action> {
        let due: Vec<Host> = self
            .hosts()
            .filter(|h| {
                matches!(&h.state, State::Noticed(n) if n.acknowledged_until.is_some_and(|a| a <= now))
            })
            .cloned()
            .collect();
        let mut actions = Vec::new();
        for mut host in due {
            if let State::Noticed(n) = &mut host.state {
                n.acknowledged_until = None;
            }
            let subject = host.subject.clone();
            self.set(subject.clone(), Some(host.clone()));
            actions.push(Action::Store(Box::new(host)));
            actions.push(Action::Notice(subject));
        }
        actions
    }

    /// The review, once the kernel said when the subject last sent: quiet
    /// for the quiet period ends the notice; still sending quarantines it
    /// with the ladder's `still_sending`, or keeps it for another review.
    /// Before its time, nothing.
    pub(super) fn review(
        &mut self,
        subject: Subject,
        since_last: Option<Duration>,
        now: Unix,
    ) -> Vec<Action> {
        let Some(mut host) = self.get(&subject).cloned() else {
            return Vec::new();
        };
        let State::Noticed(n) = &host.state else {
            return Vec::new();
        };
        if n.review_at > now {
            return Vec::new();
        }
        let n = n.clone();
        let quiet = self.policy.quiet_period;
        if since_last.is_none_or(|ago| ago >= quiet) {
            host.state = State::Clean;
            let audit = Audit {
                at: now,
                subject: subject.clone(),
                address: None,
                from: HostState::Noticed,
                to: HostState::Clean,
                actor: Actor::Cordond,
                note: format!(
                    "no SMTP attempt for {} at the notice's review",
                    cordon_config::duration::format(quiet)
                ),
            };
            self.set(subject.clone(), Some(host.clone()));
            return persisted(host, audit, subject);
        }
        if self.policy.ladder.is_some_and(|l| l.still_sending) {
            let note = format!(
                "still sending at the notice's review, {} after the notice: the ladder quarantines",
                cordon_config::duration::format(self.policy.notice_review)
            );
            let evidence = n.evidence.clone();
            return self.escalate(&host, n.reason, Actor::Cordond, note, evidence, now);
        }
        let mut kept = n;
        kept.review_at = now + secs(self.policy.notice_review);
        host.state = State::Noticed(kept);
        self.set(subject, Some(host.clone()));
        vec![Action::Store(Box::new(host))]
    }

    /// An operator withdraws a notice: clean again (probation it came
    /// from is not restored; the relapse count is kept with the record's
    /// history in the audit trail).
    pub(super) fn withdraw(
        &mut self,
        subject: Subject,
        actor: Actor,
        note: String,
        now: Unix,
    ) -> Vec<Action> {
        let Some(mut host) = self.get(&subject).cloned() else {
            return Vec::new();
        };
        host.state = State::Clean;
        let audit = Audit {
            at: now,
            subject: subject.clone(),
            address: None,
            from: HostState::Noticed,
            to: HostState::Clean,
            actor,
            note,
        };
        self.set(subject.clone(), Some(host.clone()));
        persisted(host, audit, subject)
    }
}

fn is_operator(actor: &Actor) -> bool {
    matches!(actor, Actor::Operator(_))
}

/// A notice change: the record, then the notice set (no conntrack flush:
/// the subscriber's flows are none of the notice's business).
fn persisted(host: Host, audit: Audit, subject: Subject) -> Vec<Action> {
    vec![
        Action::Persist {
            host: Box::new(host),
            audit,
        },
        Action::Notice(subject),
    ]
}

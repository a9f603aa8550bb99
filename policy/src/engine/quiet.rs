//! The quiet test for subjects: the kernel is asked per address, a
//! subscriber is quiet when every address it holds is.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cordon_config::SubscriberAddr;
use cordon_proto::time::{Unix, duration, secs};

use super::Engine;
use super::bind::subject_for;
use crate::lifecycle::{Event, State};
use crate::quiet::{Due, Quietness, Seen};
use crate::subject::Subject;

impl Engine {
    /// The addresses of quarantines whose hold has passed and that end by
    /// the quiet test, with when each quarantine began. A subscriber that
    /// holds no address now is not judged: a computer that is off cannot
    /// show it has stopped. Forgets what was looked up for quarantines that
    /// have ended.
    pub fn quiet_due(&mut self, now: Unix) -> Vec<Due> {
        let due = self
            .lifecycle
            .due_quiet_checks(now)
            .into_iter()
            .flat_map(|(subject, since)| {
                self.addresses_of(&subject)
                    .into_iter()
                    .map(move |addr| Due { addr, since })
            })
            .collect();
        let (lifecycle, sessions) = (&self.lifecycle, &self.sessions);
        self.before.retain(|a, since| {
            let subject = subject_for(lifecycle, sessions, a);
            matches!(
                lifecycle.lookup(&subject).map(|h| &h.state),
                Some(State::Quarantined(q)) if q.since == since
            )
        });
        due
    }

    /// Answers what the kernel's list of quarantined senders (`held`) and
    /// earlier look-ups can answer; returns the rest, to be looked up.
    /// The listings are iterated, not copied: after a burst of quarantines
    /// `smtp_recent` can hold every subscriber seen sending.
    pub fn judge_quiet(
        &self,
        due: &[Due],
        held: impl IntoIterator<Item = Seen>,
        now: Unix,
    ) -> (Vec<Quietness>, Vec<Due>) {
        self.before.judge(due, held, self.quiet_period(), now)
    }

    /// Remembers what the look-ups found and answers for them.
    pub fn learn_quiet(
        &mut self,
        looked_up: &[Due],
        recent: impl IntoIterator<Item = Seen>,
        now: Unix,
    ) -> Vec<Quietness> {
        self.before.learn(looked_up, recent, now)
    }

    /// The quiet checks the answers per address make, one per subject: a
    /// subscriber's last attempt is the latest on any address it holds,
    /// and one whose addresses were not all answered (a session began
    /// meanwhile) waits for the next round. An address held for less than
    /// the quiet period counts as quiet only since its session began.
    pub fn quiet_checks(&self, answers: Vec<Quietness>, now: Unix) -> Vec<Event> {
        let quiet = self.quiet_period();
        let answered: BTreeSet<SubscriberAddr> = answers.iter().map(|(a, _)| *a).collect();
        let mut per: BTreeMap<Subject, Option<Duration>> = BTreeMap::new();
        for (addr, since_last) in answers {
            let since_last = since_last.or_else(|| {
                self.sessions
                    .holding(&addr)
                    .filter(|h| h.since > now - secs(quiet))
                    .map(|h| duration(now - h.since))
            });
            per.entry(self.subject_of(&addr))
                .and_modify(|v| *v = latest(*v, since_last))
                .or_insert(since_last);
        }
        per.into_iter()
            .filter(|(subject, _)| match subject {
                Subject::Subscriber(s) => self
                    .sessions
                    .addresses(s)
                    .iter()
                    .all(|a| answered.contains(a)),
                Subject::Addr(_) => true,
            })
            .map(|(subject, since_last)| Event::QuietChecked {
                subject,
                since_last,
            })
            .collect()
    }

    /// No SMTP attempt for this long counts as stopped.
    pub fn quiet_period(&self) -> Duration {
        self.lifecycle.policy().quiet_period
    }
}

/// The more recent of two last attempts (`None`: none).
fn latest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

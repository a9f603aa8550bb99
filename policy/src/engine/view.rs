//! What the engine knows about an address or a subscriber, for the answers
//! `cordond` gives (`cordon show`, `list`, the portal).

use cordon_config::SubscriberAddr;
use cordon_proto::control::{Rung, Suspicion};
use cordon_proto::portal::HostState;
use cordon_proto::subscriber::SubscriberId;
use cordon_proto::time::{Unix, system_time};

use super::Engine;
use crate::lifecycle::{Host, State};
use crate::subject::Subject;

/// A snapshot of one address or subscriber.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// Whom it is about: the subscriber holding the address asked about,
    /// or the address.
    pub subject: Subject,
    /// The address asked about (none when asked by subscriber, or for a
    /// subscriber in a listing).
    pub asked: Option<SubscriberAddr>,
    /// The addresses it stands for now (a subscriber's current ones).
    pub addresses: Vec<SubscriberAddr>,
    /// The deciding record, if any.
    pub host: Option<Host>,
    /// Self-releases left now.
    pub self_releases_left: u32,
    /// What detection saw without quarantining (observe mode).
    pub suspect: Option<Suspicion>,
    /// The outside-report score now.
    pub report_score: u32,
    /// While noticed: what moves it on (the ladder's next rung).
    pub next_rung: Option<Rung>,
}

impl Engine {
    /// The address as it stands at `now`: whom it stands for, the deciding
    /// record (its own, a quarantined range covering it, or its holder's),
    /// suspicion and report score.
    pub fn view(&self, addr: &SubscriberAddr, now: Unix) -> View {
        let mut view = self.view_subject(self.subject_of(addr), now);
        view.asked = Some(*addr);
        view
    }

    /// A subscriber as it stands at `now`.
    pub fn view_subscriber(&self, id: &SubscriberId, now: Unix) -> View {
        self.view_subject(Subject::Subscriber(id.clone()), now)
    }

    fn view_subject(&self, subject: Subject, now: Unix) -> View {
        match self.lifecycle.lookup(&subject) {
            Some(h) => View {
                asked: None,
                ..self.view_of(h, now)
            },
            None => View {
                addresses: self.addresses_of(&subject),
                host: None,
                self_releases_left: self.lifecycle.policy().self_release_count,
                suspect: self.book.suspicion(&subject).cloned(),
                report_score: self.book.score(&subject, system_time(now)),
                asked: None,
                next_rung: None,
                subject,
            },
        }
    }

    /// Every record that is not clean, then the suspects that are
    /// otherwise clean.
    pub fn list(&self, now: Unix) -> Vec<View> {
        let mut views: Vec<View> = self
            .lifecycle
            .hosts()
            .filter(|h| !matches!(h.state, State::Clean))
            .map(|h| self.view_of(h, now))
            .collect();
        let suspects: Vec<Subject> = self
            .book
            .suspects()
            .map(|(u, _)| u.clone())
            .filter(|u| self.state_of(u) == HostState::Clean)
            .collect();
        views.extend(suspects.into_iter().map(|u| self.view_subject(u, now)));
        views
    }

    fn view_of(&self, h: &Host, now: Unix) -> View {
        View {
            subject: h.subject.clone(),
            asked: None,
            addresses: self.addresses_of(&h.subject),
            self_releases_left: self.lifecycle.self_releases_left(h, now),
            host: Some(h.clone()),
            suspect: self.book.suspicion(&h.subject).cloned(),
            report_score: self.book.score(&h.subject, system_time(now)),
            next_rung: self.next_rung(h),
        }
    }

    /// The ladder's next rung for a noticed record: its review, what the
    /// review does to a subscriber still sending, the crossings left.
    fn next_rung(&self, h: &Host) -> Option<Rung> {
        let State::Noticed(n) = &h.state else {
            return None;
        };
        let ladder = self.lifecycle.policy().ladder;
        Some(Rung {
            review_at: n.review_at,
            if_still_sending: if ladder.is_some_and(|l| l.still_sending) {
                HostState::Quarantined
            } else {
                HostState::Noticed
            },
            crossings_left: ladder
                .and_then(|l| l.crossings)
                .map(|c| c.saturating_sub(n.crossings)),
        })
    }
}

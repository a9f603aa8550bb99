//! Binding an address to whom it stands for: the subscriber holding it now,
//! unless an address record is in force for it.

use cordon_config::SubscriberAddr;

use super::Engine;
use crate::lifecycle::{Event, Lifecycle, State};
use crate::sessions::Sessions;
use crate::subject::Subject;

impl Engine {
    /// Whom an address stands for now: the address itself when an address
    /// quarantine is in force for it (decided while nobody was known to
    /// hold it, or a quarantined range covering it), else the subscriber
    /// holding it, else the address. An address record on probation does
    /// not capture a holder a session has named since: nobody knows it was
    /// the same computer.
    pub fn subject_of(&self, addr: &SubscriberAddr) -> Subject {
        subject_for(&self.lifecycle, &self.sessions, addr)
    }

    /// An event about an address, bound: a quarantine follows the holder
    /// (its note says at which address it was decided), and a release or
    /// self-release reaches the record that decides about the address; a
    /// notice and an acknowledgement the same way.
    pub(super) fn bind(&self, event: Event) -> Event {
        match event {
            Event::Quarantine(mut r) => {
                if let Subject::Addr(a) = r.subject {
                    let bound = self.subject_of(&a);
                    if bound != r.subject {
                        r.note = format!("{} (at {a})", r.note);
                        r.subject = bound;
                    }
                }
                Event::Quarantine(r)
            }
            Event::Notice(mut r) => {
                if let Subject::Addr(a) = r.subject {
                    let bound = self.subject_of(&a);
                    if bound != r.subject {
                        r.note = format!("{} (at {a})", r.note);
                        r.subject = bound;
                    }
                }
                Event::Notice(r)
            }
            // The record whose notice the page showed: the holder's, or
            // the address's own (noticed while nobody was known to hold it).
            Event::Acknowledge {
                subject: Subject::Addr(a),
            } => {
                let bound = self.subject_of(&a);
                let noticed = |s: &Subject| {
                    matches!(
                        self.lifecycle.get(s).map(|h| &h.state),
                        Some(State::Noticed(_))
                    )
                };
                let subject = if !noticed(&bound) && noticed(&Subject::Addr(a)) {
                    Subject::Addr(a)
                } else {
                    bound
                };
                Event::Acknowledge { subject }
            }
            Event::Release {
                subject: Subject::Addr(a),
                actor,
                note,
            } => Event::Release {
                subject: self.subject_of(&a),
                actor,
                note,
            },
            Event::SelfRelease {
                subject: Subject::Addr(a),
                since_last,
            } => Event::SelfRelease {
                subject: self.subject_of(&a),
                since_last,
            },
            other => other,
        }
    }
}

/// [`Engine::subject_of`] over the two parts it reads, so callers holding
/// another part of the engine mutably can ask too.
pub(super) fn subject_for(
    lifecycle: &Lifecycle,
    sessions: &Sessions,
    addr: &SubscriberAddr,
) -> Subject {
    if lifecycle
        .lookup_addr(addr)
        .is_some_and(|h| h.state.is_quarantined())
    {
        return Subject::Addr(*addr);
    }
    match sessions.holder_of(addr) {
        Some(s) => Subject::Subscriber(s.clone()),
        None => Subject::Addr(*addr),
    }
}

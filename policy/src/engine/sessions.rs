//! A session event in a batch: the sessions change, each change is a line
//! of history to write, and each address whose holder changed is touched so
//! the kernel follows (a quarantined subscriber's new address goes in, an
//! address it gave up comes out for its next holder).

use cordon_proto::time::Unix;

use super::{Change, Engine, Outcome, Plan};
use crate::sessions::{SessionChange, SessionEvent};

impl Engine {
    pub(super) fn session(&mut self, event: SessionEvent, now: Unix, plan: &mut Plan) -> Outcome {
        let subscriber = event.subscriber().cloned();
        let result = self.sessions.handle(event, now).map(|changes| {
            for change in changes {
                self.touched.insert(change.addr());
                plan.session_changes += 1;
                plan.changes.push(match change {
                    SessionChange::Began(h) => Change::SessionBegan(h.record(None)),
                    SessionChange::Ended { holding, at } => Change::SessionEnded {
                        subscriber: holding.subscriber.to_string(),
                        address: holding.addr.to_string(),
                        at,
                    },
                });
            }
        });
        Outcome::Session { subscriber, result }
    }
}

//! What a record is about: a subscriber when one is known, an address when
//! none is.
//!
//! Addresses move between subscribers within hours, so a quarantine, its
//! hold, probation and relapses follow the subscriber who held the address
//! when it was decided. An address quarantine is what remains when no
//! session named a holder (static addresses, a gateway without RADIUS or
//! DHCP hooks); it stays on the address, as before sessions existed.

use std::fmt;

use cordon_config::SubscriberAddr;
use cordon_proto::subscriber::SubscriberId;

/// A record's key: the subscriber, or the address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// No session named a holder: the quarantine unit itself.
    Addr(SubscriberAddr),
    /// A subscriber: its current addresses are what the kernel holds.
    Subscriber(SubscriberId),
}

impl Subject {
    /// The address, for an address record.
    pub fn addr(&self) -> Option<SubscriberAddr> {
        match self {
            Subject::Addr(a) => Some(*a),
            Subject::Subscriber(_) => None,
        }
    }

    /// The subscriber, for a subscriber's record.
    pub fn subscriber(&self) -> Option<&SubscriberId> {
        match self {
            Subject::Addr(_) => None,
            Subject::Subscriber(s) => Some(s),
        }
    }

    /// How `cordon` names it on the command line (for messages that say
    /// what to type next).
    pub fn cli(&self) -> String {
        match self {
            Subject::Addr(a) => a.to_string(),
            Subject::Subscriber(s) => format!("--subscriber {s}"),
        }
    }
}

impl From<SubscriberAddr> for Subject {
    fn from(a: SubscriberAddr) -> Self {
        Subject::Addr(a)
    }
}

impl From<SubscriberId> for Subject {
    fn from(s: SubscriberId) -> Self {
        Subject::Subscriber(s)
    }
}

/// An address prints as itself, a subscriber as `subscriber ID`, so a log
/// line or an audit note never leaves the reader guessing which it is.
impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Addr(a) => a.fmt(f),
            Subject::Subscriber(s) => write!(f, "subscriber {s}"),
        }
    }
}

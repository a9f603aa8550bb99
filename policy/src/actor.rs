//! Who made a decision. A type, not a string: the lifecycle treats a
//! subscriber's own release differently from an operator's (it uses up a
//! self-release), and the metrics must not grow a label per user name.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Who decided.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Actor {
    /// An operator, by the user name the control socket's peer runs as.
    Operator(String),
    /// Detection: a kernel threshold crossing.
    Detection,
    /// The outside-report score.
    Report,
    /// The DNS block-list check.
    Dnsbl,
    /// The subscriber, through the portal's "I have cleaned my computer".
    Subscriber,
    /// cordond by itself: a hold or probation ended, the quiet test passed.
    Cordond,
}

impl Actor {
    /// The name as the audit trail, the store and the CLI write it. The
    /// subscriber is `self`, as in every version before this type.
    pub fn name(&self) -> &str {
        match self {
            Actor::Operator(user) => user,
            Actor::Detection => "detection",
            Actor::Report => "report",
            Actor::Dnsbl => "dnsbl",
            Actor::Subscriber => "self",
            Actor::Cordond => "cordond",
        }
    }

    /// The actor a stored name stands for: the reserved names are cordond's
    /// own actors, anything else an operator.
    pub fn from_name(name: &str) -> Actor {
        match name {
            "detection" => Actor::Detection,
            "report" => Actor::Report,
            "dnsbl" => Actor::Dnsbl,
            "self" => Actor::Subscriber,
            "cordond" => Actor::Cordond,
            user => Actor::Operator(user.to_owned()),
        }
    }

    /// The metric label: every operator is `operator`, so the series stay
    /// few whoever runs `cordon`.
    pub fn label(&self) -> &'static str {
        match self {
            Actor::Operator(_) => "operator",
            Actor::Detection => "detection",
            Actor::Report => "report",
            Actor::Dnsbl => "dnsbl",
            Actor::Subscriber => "self",
            Actor::Cordond => "cordond",
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<String> for Actor {
    fn from(name: String) -> Self {
        Actor::from_name(&name)
    }
}

impl From<Actor> for String {
    fn from(actor: Actor) -> Self {
        actor.name().to_owned()
    }
}

impl PartialEq<&str> for Actor {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names_round_trip_and_operators_keep_theirs() {
        for a in [
            Actor::Operator("alice".into()),
            Actor::Detection,
            Actor::Report,
            Actor::Dnsbl,
            Actor::Subscriber,
            Actor::Cordond,
        ] {
            assert_eq!(Actor::from_name(a.name()), a);
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.name()));
            assert_eq!(serde_json::from_str::<Actor>(&json).unwrap(), a);
        }
        assert_eq!(Actor::Operator("root".into()).label(), "operator");
        assert_eq!(Actor::Subscriber.name(), "self");
    }
}

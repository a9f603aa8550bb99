//! Who a subscriber is, as the ISP's other systems name it, and where the
//! news that it holds an address came from.
//!
//! A subscriber id is what the ISP bills: a RADIUS `User-Name`, a DHCP
//! client's MAC or DUID, or a relay agent's circuit id. It comes from
//! outside (accounting packets, hook scripts, operators), so it is checked
//! once, here, and every later holder of a [`SubscriberId`] knows it is
//! bounded and printable: it reaches logs, terminals and the store.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest id taken: a RADIUS attribute's value is at most 253 bytes.
pub const MAX_SUBSCRIBER_ID: usize = 253;

/// A subscriber's id: 1 to 253 bytes of printable text, no control
/// characters, no spaces at either end.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SubscriberId(String);

/// Why text is not a subscriber id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadSubscriberId {
    /// Nothing given.
    #[error(
        "the subscriber id is empty; give the RADIUS user name, the MAC or DUID, or the circuit id"
    )]
    Empty,
    /// Longer than a RADIUS attribute can carry.
    #[error("the subscriber id is {0} bytes long; at most {MAX_SUBSCRIBER_ID} are taken")]
    TooLong(usize),
    /// A control character (or a space at an end), which would reach logs
    /// and terminals.
    #[error(
        "the subscriber id {0} has control characters or spaces at its ends; give it as the ISP's systems print it"
    )]
    Unprintable(String),
}

impl SubscriberId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SubscriberId {
    type Error = BadSubscriberId;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.is_empty() {
            return Err(BadSubscriberId::Empty);
        }
        if s.len() > MAX_SUBSCRIBER_ID {
            return Err(BadSubscriberId::TooLong(s.len()));
        }
        if s.chars().any(char::is_control) || s.trim() != s {
            return Err(BadSubscriberId::Unprintable(
                crate::text::printable(&s).into_owned(),
            ));
        }
        Ok(SubscriberId(s))
    }
}

impl FromStr for SubscriberId {
    type Err = BadSubscriberId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SubscriberId::try_from(s.to_owned())
    }
}

impl From<SubscriberId> for String {
    fn from(id: SubscriberId) -> String {
        id.0
    }
}

impl fmt::Display for SubscriberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which of the ISP's systems said a subscriber holds an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionSource {
    /// RADIUS accounting from a BNG or FreeRADIUS.
    Radius,
    /// A DHCP server's hook (dnsmasq, Kea).
    Dhcp,
    /// A PPP server's script (accel-ppp's ip-up and ip-down).
    Ppp,
    /// An operator, by hand.
    Operator,
}

impl SessionSource {
    /// The name as the CLI and the store spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionSource::Radius => "radius",
            SessionSource::Dhcp => "dhcp",
            SessionSource::Ppp => "ppp",
            SessionSource::Operator => "operator",
        }
    }

    /// The source a name spells, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Radius, Self::Dhcp, Self::Ppp, Self::Operator]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

impl fmt::Display for SessionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One address held by one subscriber for a while: a line of the session
/// history (`ended` absent while it holds the address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Who.
    pub subscriber: String,
    /// The address or prefix held (a quarantine unit: `100.64.1.7`,
    /// `2001:db8:100::/56`).
    pub address: String,
    /// Which system said so.
    pub source: SessionSource,
    /// The RADIUS `Acct-Session-Id`, when the session came from accounting.
    #[serde(default)]
    pub session_id: Option<String>,
    /// The NAS (`NAS-Identifier`) or DHCP server that reported it.
    #[serde(default)]
    pub nas: Option<String>,
    /// The RADIUS `Calling-Station-Id` or the DHCP client's MAC.
    #[serde(default)]
    pub calling_station: Option<String>,
    /// When it began holding the address (Unix seconds).
    pub started: i64,
    /// When it stopped (Unix seconds); absent while it still holds it.
    #[serde(default)]
    pub ended: Option<i64>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_are_bounded_and_printable() {
        assert_eq!(
            "alice@isp".parse::<SubscriberId>().unwrap().as_str(),
            "alice@isp"
        );
        assert_eq!("".parse::<SubscriberId>(), Err(BadSubscriberId::Empty));
        assert!(matches!(
            "a\u{1b}[2J".parse::<SubscriberId>(),
            Err(BadSubscriberId::Unprintable(s)) if !s.contains('\u{1b}')
        ));
        assert!(" alice".parse::<SubscriberId>().is_err());
        assert_eq!(
            "x".repeat(254).parse::<SubscriberId>(),
            Err(BadSubscriberId::TooLong(254))
        );
        let back: Result<SubscriberId, _> = serde_json::from_str("\"a\\nb\"");
        assert!(back.is_err());
    }

    #[test]
    fn sources_read_as_they_print() {
        for s in ["radius", "dhcp", "ppp", "operator"] {
            assert_eq!(SessionSource::from_name(s).unwrap().as_str(), s);
        }
        assert_eq!(SessionSource::from_name("x"), None);
    }
}

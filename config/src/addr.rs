//! Subscriber addresses: what an operator, a detector or a report may name
//! for quarantine, checked against the config.
//!
//! A [`SubscriberAddr`] can only be made by [`Config::subscriber_addr`] (from
//! text) or [`Config::subscriber_of`] (from a packet's source address), so
//! holding one proves it is inside the subscriber prefixes and clear of the
//! never-quarantine list.

use std::borrow::Borrow;
use std::fmt;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv6Net};
use serde::{Serialize, Serializer};

use crate::sections::Config;
use crate::types::Prefix;

/// What a quarantine applies to: one IPv4 host, an IPv6 subscriber prefix
/// (a /64 by default), or a range inside the subscriber prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriberAddr(IpNet);

impl SubscriberAddr {
    /// The range the quarantine covers.
    pub fn net(&self) -> IpNet {
        self.0
    }

    /// True for IPv4.
    pub fn is_ipv4(&self) -> bool {
        matches!(self.0, IpNet::V4(_))
    }

    /// True when `ip` is covered.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.0.contains(ip)
    }
}

/// So that maps keyed by unit can be searched for plain ranges, such as the
/// wider prefixes that could cover a unit, which are not units themselves
/// until they pass the config's checks. Equality and order are the range's.
impl Borrow<IpNet> for SubscriberAddr {
    fn borrow(&self) -> &IpNet {
        &self.0
    }
}

impl fmt::Display for SubscriberAddr {
    /// An IPv4 host prints as a bare address; prefixes print with their length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Prefix::new(self.0).fmt(f)
    }
}

impl Serialize for SubscriberAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why an address cannot be quarantined. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddrError {
    /// Not an address or prefix at all.
    #[error(
        "`{0}` is not an IP address or prefix; write it like 100.64.1.7, 2001:db8:1:2::5 or 100.64.1.0/24"
    )]
    Malformed(String),
    /// A prefix written with host bits set.
    #[error("`{given}` has host bits set; did you mean {suggest}?")]
    HostBits {
        /// As given.
        given: String,
        /// The prefix with host bits cleared.
        suggest: IpNet,
    },
    /// Outside every subscriber prefix.
    #[error(
        "{} is not inside any subscriber prefix in the config (subscribers.prefixes); Cordon only quarantines subscribers",
        Prefix::new(*.0)
    )]
    NotSubscriber(IpNet),
    /// Touches the never-quarantine list.
    #[error("{}", never_message(addr, entry))]
    NeverQuarantine {
        /// What was asked for.
        addr: IpNet,
        /// The protected entry.
        entry: Prefix,
    },
    /// An IPv6 range narrower than the quarantine prefix length.
    #[error(
        "{given} is narrower than the IPv6 quarantine prefix (/{len}); name the address or its /{len} instead"
    )]
    TooNarrow {
        /// As given.
        given: IpNet,
        /// The configured length.
        len: u8,
    },
}

fn never_message(addr: &IpNet, entry: &Prefix) -> String {
    let asked = Prefix::new(*addr);
    if asked == *entry || entry.covers(&asked) {
        format!(
            "{asked} is on the never-quarantine list ({entry}: the gateway, resolvers, relays and other protected addresses); Cordon never quarantines it"
        )
    } else {
        format!(
            "{asked} covers {entry}, which is on the never-quarantine list (the gateway, resolvers, relays); pick a narrower range"
        )
    }
}

impl Config {
    /// Checks an address as an operator or a report names it: an IPv4
    /// address, an IPv6 address (widened to its subscriber prefix), or a
    /// CIDR range inside the subscriber prefixes.
    pub fn subscriber_addr(&self, text: &str) -> Result<SubscriberAddr, AddrError> {
        let text = text.trim();
        let net = if let Ok(ip) = text.parse::<IpAddr>() {
            self.widen(ip)
        } else {
            let net: IpNet = text
                .parse()
                .map_err(|_| AddrError::Malformed(text.to_owned()))?;
            if net.trunc() != net {
                return Err(AddrError::HostBits {
                    given: text.to_owned(),
                    suggest: net.trunc(),
                });
            }
            if let IpNet::V6(v6) = net
                && v6.prefix_len() > self.subscribers.ipv6_quarantine_prefix
            {
                return Err(AddrError::TooNarrow {
                    given: net,
                    len: self.subscribers.ipv6_quarantine_prefix,
                });
            }
            net
        };
        self.admit(net)
    }

    /// Checks an address or prefix as the ISP's systems report a session
    /// holding it: host bits are cleared (accel-ppp gives the peer's
    /// address with its prefix length), and an IPv6 prefix narrower than
    /// the quarantine prefix is widened to it, like an IPv6 address.
    pub fn session_addr(&self, text: &str) -> Result<SubscriberAddr, AddrError> {
        let text = text.trim();
        let Ok(net) = text.parse::<IpNet>() else {
            return self.subscriber_addr(text);
        };
        let net = match net {
            IpNet::V6(v6) if v6.prefix_len() > self.subscribers.ipv6_quarantine_prefix => {
                self.widen(IpAddr::V6(v6.addr()))
            }
            other => other.trunc(),
        };
        self.admit(net)
    }

    /// The quarantine unit a packet's source address belongs to, if it is a
    /// subscriber that may be quarantined at all.
    pub fn subscriber_of(&self, ip: IpAddr) -> Result<SubscriberAddr, AddrError> {
        self.admit(self.widen(ip))
    }

    fn widen(&self, ip: IpAddr) -> IpNet {
        match ip {
            IpAddr::V4(_) => IpNet::from(ip),
            IpAddr::V6(v6) => {
                let len = self.subscribers.ipv6_quarantine_prefix.min(128);
                Ipv6Net::new(v6, len)
                    .map(|n| IpNet::V6(n.trunc()))
                    .unwrap_or_else(|_| IpNet::from(ip))
            }
        }
    }

    fn admit(&self, net: IpNet) -> Result<SubscriberAddr, AddrError> {
        if !self
            .subscribers
            .prefixes
            .iter()
            .any(|p| p.net().contains(&net))
        {
            return Err(AddrError::NotSubscriber(net));
        }
        if let Some(entry) = self
            .never_quarantine
            .iter()
            .find(|n| net.contains(&n.net()) || n.net().contains(&net))
        {
            return Err(AddrError::NeverQuarantine {
                addr: net,
                entry: *entry,
            });
        }
        Ok(SubscriberAddr(net))
    }
}

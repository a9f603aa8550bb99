//! Set elements: how Cordon's values become nftables elements and back.

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::Duration;

use cordon_config::SubscriberAddr;
use ipnet::IpNet;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// What a replaced table keeps from before: the quarantines (from the store,
/// which is the truth), walled-garden addresses resolved from names, and the
/// kernel's own memory of recent SMTP attempts (read back from the old table).
#[derive(Debug, Clone, Default)]
pub struct Carried {
    /// Every current quarantine.
    pub quarantined: Vec<SubscriberAddr>,
    /// Every notice that shows now (the notice set's elements).
    pub noticed: Vec<SubscriberAddr>,
    /// Addresses of walled-garden DNS names, as last resolved.
    pub garden: Vec<IpNet>,
    /// Recent SMTP attempts, so a reload does not make a sender look quiet.
    pub smtp_recent: Vec<SmtpSeen>,
    /// The same for attempts made while quarantined.
    pub smtp_held: Vec<SmtpSeen>,
}

/// One host's recent SMTP activity, as the kernel's `smtp_recent` set knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmtpSeen {
    /// The host (IPv4) or its prefix's first address (IPv6).
    pub key: IpAddr,
    /// Time left before the host counts as quiet.
    pub expires: Duration,
    /// Attempts counted since the element was created.
    pub attempts: u64,
}

impl SmtpSeen {
    /// How long ago the last attempt was, given the set's timeout (the
    /// quiet period): each attempt resets the element's timer.
    pub fn since_last(&self, quiet_period: Duration) -> Duration {
        quiet_period.saturating_sub(self.expires)
    }
}

/// A prefix as nft syntax: single hosts bare, ranges with their length.
pub(crate) fn nft_text(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.trunc().to_string()
    }
}

/// A set as `nft -j list set` prints it, read for its elements only.
///
/// Why not the `nftables` crate's `Expression`: it is a large untagged
/// enum, so serde tries its variants one by one on a buffered copy of every
/// element. Reading the recent-SMTP set of 100 000 hosts that way took most
/// of a core and hundreds of MiB in cordond; these types read the few
/// shapes Cordon's sets hold, borrowing the strings from nft's output.
#[derive(Debug, Deserialize)]
pub(crate) struct Listing<'a> {
    #[serde(borrow)]
    nftables: Vec<ListingItem<'a>>,
}

#[derive(Debug, Deserialize)]
struct ListingItem<'a> {
    #[serde(borrow, default)]
    set: Option<ListedSet<'a>>,
}

#[derive(Debug, Deserialize)]
struct ListedSet<'a> {
    #[serde(borrow, default)]
    elem: Vec<Listed<'a>>,
}

impl<'a> Listing<'a> {
    /// Every element of every set in the listing.
    pub(crate) fn elements(&self) -> impl Iterator<Item = &Listed<'a>> {
        self.nftables
            .iter()
            .filter_map(|i| i.set.as_ref())
            .flat_map(|s| s.elem.iter())
    }
}

/// One listed element: an address, a prefix, or either wrapped with the
/// element's expiry and counter. Anything else (ranges, which Cordon never
/// writes) is `Other` and skipped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Listed<'a> {
    Addr(Cow<'a, str>),
    Prefix {
        addr: Cow<'a, str>,
        len: u8,
    },
    Elem {
        val: Box<Listed<'a>>,
        expires: u64,
        packets: u64,
    },
    Other,
}

impl Listed<'_> {
    /// The element as a prefix (single addresses as /32 or /128).
    pub(crate) fn net(&self) -> Option<IpNet> {
        match self {
            Listed::Addr(a) => a.parse::<IpAddr>().ok().map(IpNet::from),
            Listed::Prefix { addr, len } => IpNet::new(addr.parse().ok()?, *len).ok(),
            Listed::Elem { val, .. } => val.net(),
            Listed::Other => None,
        }
    }

    /// The element as an entry of the `smtp_recent` set.
    pub(crate) fn seen(&self) -> Option<SmtpSeen> {
        let Listed::Elem {
            val,
            expires,
            packets,
        } = self
        else {
            return None;
        };
        let Listed::Addr(key) = val.as_ref() else {
            return None;
        };
        Some(SmtpSeen {
            key: key.parse().ok()?,
            // `nft -j` gives whole seconds, cut down: the time left is
            // below `expires + 1`. Taking the upper end means a host never
            // looks quiet early (by up to a second) because of rounding.
            expires: Duration::from_secs(expires.saturating_add(1)),
            attempts: *packets,
        })
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Listed<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ListedVisitor)
    }
}

struct ListedVisitor;

#[derive(Deserialize)]
struct PrefixBody<'a> {
    #[serde(borrow)]
    addr: Cow<'a, str>,
    len: u8,
}

#[derive(Deserialize)]
struct ElemBody<'a> {
    #[serde(borrow)]
    val: Listed<'a>,
    #[serde(default)]
    expires: u64,
    #[serde(default)]
    counter: Option<CounterBody>,
}

#[derive(Deserialize)]
struct CounterBody {
    #[serde(default)]
    packets: u64,
}

impl<'de> Visitor<'de> for ListedVisitor {
    type Value = Listed<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a set element as nft lists it")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Listed::Addr(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Listed::Addr(Cow::Owned(v.to_owned())))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Listed::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Listed::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Listed::Other)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Listed::Other)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Listed::Other;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "prefix" => {
                    let p: PrefixBody<'de> = map.next_value()?;
                    out = Listed::Prefix {
                        addr: p.addr,
                        len: p.len,
                    };
                }
                "elem" => {
                    let e: ElemBody<'de> = map.next_value()?;
                    out = Listed::Elem {
                        val: Box::new(e.val),
                        expires: e.expires,
                        packets: e.counter.map_or(0, |c| c.packets),
                    };
                }
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nftables::expr::{Expression, NamedExpression, Prefix};

    /// A prefix as the `nftables` crate writes a JSON element.
    fn to_expr(net: &IpNet) -> Expression<'static> {
        let addr = Expression::String(net.addr().to_string().into());
        if net.prefix_len() == net.max_prefix_len() {
            addr
        } else {
            Expression::Named(NamedExpression::Prefix(Prefix {
                addr: Box::new(addr),
                len: u32::from(net.prefix_len()),
            }))
        }
    }

    #[test]
    fn prefixes_round_trip_through_json_elements() {
        for text in [
            "100.64.1.2/32",
            "100.64.1.0/24",
            "2001:db8:100:1::/64",
            "2001:db8::1/128",
        ] {
            let net: IpNet = text.parse().unwrap();
            let json = serde_json::to_string(&to_expr(&net)).unwrap();
            let listed: Listed = serde_json::from_str(&json).unwrap();
            assert_eq!(listed.net(), Some(net), "{text}");
        }
        assert_eq!(nft_text(&"100.64.1.2/32".parse().unwrap()), "100.64.1.2");
        assert_eq!(
            nft_text(&"2001:db8:100:1::/64".parse().unwrap()),
            "2001:db8:100:1::/64"
        );
    }

    #[test]
    fn recent_smtp_elements_read_from_nft_json() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
            {"set": {"family": "inet", "name": "smtp_recent_v4", "table": "cordon", "type": "ipv4_addr",
             "flags": ["timeout"], "timeout": 7200, "elem": [
               {"elem": {"val": "100.64.1.2", "timeout": 7200, "expires": 7000, "counter": {"packets": 12, "bytes": 720}}},
               {"elem": {"val": "100.64.1.3", "timeout": 7200, "expires": 10}}
             ]}}]}"#;
        let listing: Listing = serde_json::from_str(json).unwrap();
        let seen: Vec<SmtpSeen> = listing.elements().filter_map(Listed::seen).collect();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].key, "100.64.1.2".parse::<IpAddr>().unwrap());
        assert_eq!(seen[0].attempts, 12);
        // 7000 whole seconds left means at least 7000 and under 7001.
        assert_eq!(
            seen[0].since_last(Duration::from_secs(7200)),
            Duration::from_secs(199)
        );
        assert_eq!(seen[1].attempts, 0);
    }

    #[test]
    fn interval_set_elements_read_from_nft_json() {
        let json = r#"{"nftables": [{"metainfo": {}}, {"set": {"name": "quarantined_v4", "elem": [
            "100.64.3.7", {"prefix": {"addr": "100.64.9.0", "len": 24}},
            {"range": ["100.64.10.1", "100.64.10.5"]}, {"elem": {"val": {"prefix": {"addr": "2001:db8::", "len": 64}}, "comment": "x"}}
        ]}}]}"#;
        let listing: Listing = serde_json::from_str(json).unwrap();
        let nets: Vec<String> = listing
            .elements()
            .filter_map(Listed::net)
            .map(|n| n.to_string())
            .collect();
        assert_eq!(nets, ["100.64.3.7/32", "100.64.9.0/24", "2001:db8::/64"]);
        let empty: Listing =
            serde_json::from_str(r#"{"nftables": [{"set": {"name": "garden_v4"}}]}"#).unwrap();
        assert_eq!(empty.elements().count(), 0);
    }
}

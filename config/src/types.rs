//! Value types of the config: each parses from the YAML string an operator
//! writes and cannot hold a value that would be refused later by the kernel.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// Reads a type from a YAML string through its `FromStr`, so that the reader
/// attaches the line and column to the type's own error message.
macro_rules! serde_via_str {
    ($ty:ty, $expecting:literal) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$ty, E> {
                        s.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}
pub(crate) use serde_via_str;

/// A network interface name as the kernel accepts it: 1 to 15 bytes, no
/// slash, no whitespace. A trailing `*` makes it a pattern (`sub*` matches
/// every subscriber session interface), as nftables' `iifname` understands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IfName(String);

impl IfName {
    /// The name (or pattern) as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for IfName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("expected an interface name, found an empty string".into());
        }
        if s.len() > 15 {
            return Err(format!(
                "interface name `{s}` is {} bytes long; Linux allows at most 15",
                s.len()
            ));
        }
        if s.contains(['/', ' ', '\t', '\n', '"']) || s == "." || s == ".." {
            return Err(format!(
                "interface name `{s}` may not contain `/`, quotes or whitespace"
            ));
        }
        if s.trim_end_matches('*').contains('*') {
            return Err(format!(
                "interface pattern `{s}` may only have `*` at its end (like `sub*`)"
            ));
        }
        Ok(IfName(s.to_owned()))
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

serde_via_str!(
    IfName,
    "an interface name of at most 15 bytes, like `eth0` or `sub*`"
);

/// An IPv4 or IPv6 prefix with no host bits set. A bare address reads as a
/// single-host prefix (/32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix(IpNet);

impl Prefix {
    /// Wraps a prefix, clearing host bits.
    pub fn new(net: IpNet) -> Self {
        Prefix(net.trunc())
    }

    /// The prefix as an `ipnet` network.
    pub fn net(&self) -> IpNet {
        self.0
    }

    /// True for an IPv4 prefix.
    pub fn is_ipv4(&self) -> bool {
        matches!(self.0, IpNet::V4(_))
    }

    /// True when `addr` lies inside this prefix.
    pub fn contains(&self, addr: &IpAddr) -> bool {
        self.0.contains(addr)
    }

    /// True when `other` lies entirely inside this prefix.
    pub fn covers(&self, other: &Prefix) -> bool {
        self.0.contains(&other.0)
    }
}

impl From<IpAddr> for Prefix {
    fn from(a: IpAddr) -> Self {
        Prefix(IpNet::from(a))
    }
}

impl FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(a) = s.parse::<IpAddr>() {
            return Ok(Prefix::from(a));
        }
        let net: IpNet = s.parse().map_err(|_| {
            format!("expected an IP address or prefix like `192.0.2.0/24` or `2001:db8::/48`, found `{s}`")
        })?;
        if net.trunc() != net {
            return Err(format!(
                "prefix `{s}` has host bits set; did you mean `{}`?",
                net.trunc()
            ));
        }
        Ok(Prefix(net))
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let single = self.0.prefix_len() == self.0.max_prefix_len();
        if single {
            write!(f, "{}", self.0.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

serde_via_str!(Prefix, "an IP address or prefix");

/// A DNS name (for walled-garden destinations that Cordon resolves and keeps
/// fresh). Lower-cased; labels of 1 to 63 letters, digits and hyphens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnsName(String);

impl DnsName {
    /// The name, lower-cased, without a trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DnsName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let name = s.trim_end_matches('.').to_ascii_lowercase();
        let bad = || format!("expected an address, a prefix or a DNS name, found `{s}`");
        if name.is_empty() || name.len() > 253 || !name.contains('.') {
            return Err(bad());
        }
        for label in name.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(bad());
            }
        }
        if name
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        Ok(DnsName(name))
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

serde_via_str!(DnsName, "a DNS name");

/// A walled-garden destination: fixed addresses, or a name whose addresses
/// Cordon looks up and keeps fresh.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    /// An address or prefix.
    Prefix(Prefix),
    /// A DNS name, resolved at run time.
    Name(DnsName),
}

impl FromStr for Destination {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.contains('/') || s.parse::<IpAddr>().is_ok() {
            return s.parse().map(Destination::Prefix);
        }
        s.parse().map(Destination::Name)
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Prefix(p) => p.fmt(f),
            Destination::Name(n) => n.fmt(f),
        }
    }
}

serde_via_str!(Destination, "an address, a prefix or a DNS name");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_follow_the_kernel() {
        assert!("eth0".parse::<IfName>().is_ok());
        assert!("sub*".parse::<IfName>().is_ok());
        assert!("abcdefghijklmno".parse::<IfName>().is_ok());
        let e = "abcdefghijklmnop".parse::<IfName>().unwrap_err();
        assert!(e.contains("at most 15"), "{e}");
        assert!("".parse::<IfName>().is_err());
        assert!("a/b".parse::<IfName>().is_err());
        assert!("a*b".parse::<IfName>().is_err());
    }

    #[test]
    fn prefixes_refuse_host_bits_and_accept_bare_addresses() {
        assert_eq!(
            "192.0.2.7".parse::<Prefix>().unwrap().to_string(),
            "192.0.2.7"
        );
        assert_eq!(
            "2001:db8::/32".parse::<Prefix>().unwrap().to_string(),
            "2001:db8::/32"
        );
        let e = "192.0.2.7/24".parse::<Prefix>().unwrap_err();
        assert!(e.contains("did you mean `192.0.2.0/24`"), "{e}");
        assert!("192.0.2.300".parse::<Prefix>().is_err());
        assert!("banana".parse::<Prefix>().is_err());
    }

    #[test]
    fn destinations_are_prefixes_or_names() {
        assert_eq!(
            "203.0.113.0/24".parse::<Destination>().unwrap(),
            Destination::Prefix("203.0.113.0/24".parse().unwrap())
        );
        assert_eq!(
            "Update.Microsoft.com.".parse::<Destination>().unwrap(),
            Destination::Name("update.microsoft.com".parse().unwrap())
        );
        assert!("not a name".parse::<Destination>().is_err());
        assert!("localhost".parse::<Destination>().is_err());
        assert!("10.0.0.300".parse::<Destination>().is_err());
    }
}

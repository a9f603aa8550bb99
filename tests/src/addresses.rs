//! The lab's addresses. Tests elsewhere are written against exactly these,
//! so they are constants and small functions, not options.
//!
//! ```text
//!  cl-N-sI  eth0 100.64.{I+1}.2/24  2001:db8:100:{I+1}::2/64
//!     |
//!  cl-N-gw  subI 100.64.{I+1}.1/24  2001:db8:100:{I+1}::1/64
//!           lo   100.64.0.1/32      2001:db8:100::1/128        (the portal)
//!           uplink 192.0.2.1/24     2001:db8:0:1::1/64
//!     |
//!  cl-N-net eth0 192.0.2.2/24       2001:db8:0:1::2/64
//!           + relay .25, resolver .53, web .80 (and 2001:db8:0:1::25/53/80)
//!           lo: mail servers 198.51.100.1-64, 2001:db8:ffff::1-40 (hex),
//!               garden host 203.0.113.10, 2001:db8:203::10
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The portal's address on the gateway's `lo`, reachable by every subscriber.
pub const PORTAL_V4: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
/// The portal's IPv6 address on the gateway's `lo`.
pub const PORTAL_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 1);

/// The gateway's end of the uplink.
pub const UPLINK_GW_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The gateway's end of the uplink, IPv6.
pub const UPLINK_GW_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1);
/// The internet's end of the uplink.
pub const UPLINK_NET_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// The internet's end of the uplink, IPv6.
pub const UPLINK_NET_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 2);

/// The ISP's mail relay.
pub const RELAY_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 25);
/// The ISP's mail relay, IPv6.
pub const RELAY_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 0x25);
/// The DNS resolver (the walled garden's).
pub const RESOLVER_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
/// The DNS resolver, IPv6.
pub const RESOLVER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 0x53);
/// The "real site" web server (every address of the internet serves it, this
/// one is where the lab's DNS points every name).
pub const WEB_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 80);
/// The web server, IPv6.
pub const WEB_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 0x80);
/// A host inside the walled garden's destinations (a cleanup-tool vendor).
pub const GARDEN_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
/// The garden host, IPv6.
pub const GARDEN_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x203, 0, 0, 0, 0, 0x10);

/// How many "other networks' mail servers" the internet has per family.
pub const MAIL_SERVERS: u16 = 64;

/// Subscriber prefixes as the lab's config lists them.
pub const SUBSCRIBER_PREFIXES: [&str; 2] = ["100.64.0.0/16", "2001:db8:100::/48"];
/// Walled-garden destinations as the lab's config lists them.
pub const GARDEN_PREFIXES: [&str; 2] = ["203.0.113.0/24", "2001:db8:203::/48"];

/// Most subscribers a lab can have (the third octet is `i + 1`).
pub const MAX_SUBSCRIBERS: usize = 250;

/// Subscriber `i`'s IPv4 address (0-based): `100.64.{i+1}.2`.
pub fn subscriber_v4(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(100, 64, octet(i), 2)
}

/// The gateway's address on subscriber `i`'s link: `100.64.{i+1}.1`.
pub fn subscriber_gw_v4(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(100, 64, octet(i), 1)
}

/// Subscriber `i`'s IPv6 address: `2001:db8:100:{i+1 in hex}::2`.
pub fn subscriber_v6(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0x100, u16::from(octet(i)), 0, 0, 0, 2)
}

/// The gateway's IPv6 address on subscriber `i`'s link.
pub fn subscriber_gw_v6(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0x100, u16::from(octet(i)), 0, 0, 0, 1)
}

/// Subscriber `i`'s /64 (what Cordon quarantines for IPv6).
pub fn subscriber_v6_prefix(i: usize) -> String {
    format!(
        "{}/64",
        Ipv6Addr::new(0x2001, 0xdb8, 0x100, u16::from(octet(i)), 0, 0, 0, 0)
    )
}

/// The gateway's interface towards subscriber `i`.
pub fn subscriber_ifname(i: usize) -> String {
    format!("sub{i}")
}

/// The gateway's bridge when the subscribers share one link
/// ([`crate::LabBuilder::shared_link`]): the `sub*` veths are its ports, and
/// its name matches the config's `interfaces.downlink: ["sub*"]` too.
pub const SHARED_LINK: &str = "sublan";

/// The gateway's interface that routes subscriber `i`'s traffic: its veth,
/// or the bridge when the subscribers share one link.
pub fn subscriber_link(i: usize, shared_link: bool) -> String {
    if shared_link {
        SHARED_LINK.to_owned()
    } else {
        subscriber_ifname(i)
    }
}

fn octet(i: usize) -> u8 {
    u8::try_from(i + 1).unwrap_or(u8::MAX)
}

/// The `n`th mail server (1..=64): `198.51.100.n`.
pub fn mail_server_v4(n: u16) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, u8::try_from(n).unwrap_or(u8::MAX))
}

/// The `n`th IPv6 mail server (1..=64): `2001:db8:ffff::n` (the last group
/// is `n`, so it reads in hex: `::1` .. `::40`).
pub fn mail_server_v6(n: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, n)
}

/// All mail servers, IPv4 then IPv6.
pub fn mail_servers() -> Vec<IpAddr> {
    let v4 = (1..=MAIL_SERVERS).map(|n| IpAddr::V4(mail_server_v4(n)));
    let v6 = (1..=MAIL_SERVERS).map(|n| IpAddr::V6(mail_server_v6(n)));
    v4.chain(v6).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriber_addresses_follow_the_contract() {
        assert_eq!(subscriber_v4(0).to_string(), "100.64.1.2");
        assert_eq!(subscriber_gw_v4(2).to_string(), "100.64.3.1");
        assert_eq!(subscriber_v6(0).to_string(), "2001:db8:100:1::2");
        assert_eq!(subscriber_v6(9).to_string(), "2001:db8:100:a::2");
        assert_eq!(subscriber_gw_v6(15).to_string(), "2001:db8:100:10::1");
        assert_eq!(subscriber_v6_prefix(0), "2001:db8:100:1::/64");
    }

    #[test]
    fn mail_servers_are_sixty_four_per_family() {
        let all = mail_servers();
        assert_eq!(all.len(), 128);
        assert_eq!(all[0].to_string(), "198.51.100.1");
        assert_eq!(all[63].to_string(), "198.51.100.64");
        assert_eq!(all[64].to_string(), "2001:db8:ffff::1");
        assert_eq!(all[127].to_string(), "2001:db8:ffff::40");
    }
}

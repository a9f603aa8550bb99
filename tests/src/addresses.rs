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
//!
//! A lab with several gateways ([`crate::LabBuilder::gateways`]) gives gateway
//! `G` (0-based; gateway 0 is the one above, unchanged) its own share
//! ([`GatewayNet`]), as real BNGs have their own address pools: subscribers
//! `100.{64+G}.0.0/16` and `2001:db8:{100+G}::/48`, its portal on
//! `100.{64+G}.0.1`, and its own uplink veth to the internet (`uplink` in
//! the gateway, `eth{G}` in the internet): `198.18.{G}.1/24` and
//! `2001:db8:0:{G+1}::1/64` for `G >= 1`, the internet's end `.2` / `::2`.
//! Subscriber `I` sits behind gateway `I mod N` ([`gateway_of`]) and keeps
//! its lab-wide index in its addresses (`100.{64+G}.{I+1}.2`) and names.

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

/// Subscriber prefixes as the lab's config lists them (gateway 0's; see
/// [`GatewayNet::subscriber_prefixes`] for the others).
pub const SUBSCRIBER_PREFIXES: [&str; 2] = ["100.64.0.0/16", "2001:db8:100::/48"];
/// Walled-garden destinations as the lab's config lists them.
pub const GARDEN_PREFIXES: [&str; 2] = ["203.0.113.0/24", "2001:db8:203::/48"];

/// Most subscribers a lab can have (the third octet is `i + 1`).
pub const MAX_SUBSCRIBERS: usize = 250;

/// Most gateways a lab can have: each takes one `100.{64+G}.0.0/16`, and
/// a handful is enough to show a fleet without slowing a test down.
pub const MAX_GATEWAYS: usize = 4;

/// The gateway subscriber `i` sits behind in a lab of `gateways`: they are
/// dealt out in turn (`i mod gateways`), so every gateway has subscribers
/// and a one-gateway lab is unchanged.
pub fn gateway_of(i: usize, gateways: usize) -> usize {
    i % gateways.max(1)
}

/// Gateway `G`'s share of the address plan (see the module doc). Gateway 0
/// is exactly the one-gateway lab: the constants and free functions of this
/// module are its addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GatewayNet(u8);

impl GatewayNet {
    /// Gateway `g`'s share (`g` below [`MAX_GATEWAYS`]; larger values are
    /// clamped to the last one, as the lab refuses them first).
    pub fn of(g: usize) -> Self {
        GatewayNet(u8::try_from(g.min(MAX_GATEWAYS - 1)).unwrap_or(0))
    }

    /// Its index in the lab.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// The second IPv4 octet of everything behind it: `64 + G`.
    fn v4(self) -> u8 {
        64 + self.0
    }

    /// The third IPv6 group of everything behind it: `0x100 + G`.
    fn v6(self) -> u16 {
        0x100 + u16::from(self.0)
    }

    /// The portal's address on its `lo`: `100.{64+G}.0.1`.
    pub fn portal_v4(self) -> Ipv4Addr {
        Ipv4Addr::new(100, self.v4(), 0, 1)
    }

    /// The portal's IPv6 address: `2001:db8:{100+G}::1`.
    pub fn portal_v6(self) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, self.v6(), 0, 0, 0, 0, 1)
    }

    /// Its subscriber prefixes as (network, length): IPv4, then IPv6.
    pub fn subscriber_nets(self) -> [(IpAddr, u8); 2] {
        [
            (Ipv4Addr::new(100, self.v4(), 0, 0).into(), 16),
            (
                Ipv6Addr::new(0x2001, 0xdb8, self.v6(), 0, 0, 0, 0, 0).into(),
                48,
            ),
        ]
    }

    /// Its subscriber prefixes, as its config lists them.
    pub fn subscriber_prefixes(self) -> [String; 2] {
        self.subscriber_nets()
            .map(|(net, len)| format!("{net}/{len}"))
    }

    /// Subscriber `i`'s IPv4 address behind it: `100.{64+G}.{i+1}.2`.
    pub fn subscriber_v4(self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(100, self.v4(), octet(i), 2)
    }

    /// Its address on subscriber `i`'s link: `100.{64+G}.{i+1}.1`.
    pub fn subscriber_gw_v4(self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(100, self.v4(), octet(i), 1)
    }

    /// Subscriber `i`'s IPv6 address: `2001:db8:{100+G}:{i+1 in hex}::2`.
    pub fn subscriber_v6(self, i: usize) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, self.v6(), u16::from(octet(i)), 0, 0, 0, 2)
    }

    /// Its IPv6 address on subscriber `i`'s link.
    pub fn subscriber_gw_v6(self, i: usize) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, self.v6(), u16::from(octet(i)), 0, 0, 0, 1)
    }

    /// Subscriber `i`'s /64 (what Cordon quarantines for IPv6).
    pub fn subscriber_v6_prefix(self, i: usize) -> String {
        let net = Ipv6Addr::new(0x2001, 0xdb8, self.v6(), u16::from(octet(i)), 0, 0, 0, 0);
        format!("{net}/64")
    }

    /// Its end of its uplink: [`UPLINK_GW_V4`] for gateway 0,
    /// `198.18.{G}.1` (the benchmarking range, never routed) for the others.
    pub fn uplink_v4(self) -> Ipv4Addr {
        match self.0 {
            0 => UPLINK_GW_V4,
            g => Ipv4Addr::new(198, 18, g, 1),
        }
    }

    /// Its end of its uplink, IPv6: `2001:db8:0:{G+1}::1`.
    pub fn uplink_v6(self) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, 0, u16::from(self.0) + 1, 0, 0, 0, 1)
    }

    /// The internet's end of its uplink (its next hop).
    pub fn internet_v4(self) -> Ipv4Addr {
        match self.0 {
            0 => UPLINK_NET_V4,
            g => Ipv4Addr::new(198, 18, g, 2),
        }
    }

    /// The internet's end of its uplink, IPv6: `2001:db8:0:{G+1}::2`.
    pub fn internet_v6(self) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, 0, u16::from(self.0) + 1, 0, 0, 0, 2)
    }

    /// The internet's interface towards it: `eth{G}` (gateway 0's is the
    /// one-gateway lab's `eth0`).
    pub fn internet_ifname(self) -> String {
        format!("eth{}", self.0)
    }
}

/// Subscriber `i`'s IPv4 address (0-based) in a one-gateway lab:
/// `100.64.{i+1}.2`.
pub fn subscriber_v4(i: usize) -> Ipv4Addr {
    GatewayNet::of(0).subscriber_v4(i)
}

/// The gateway's address on subscriber `i`'s link: `100.64.{i+1}.1`.
pub fn subscriber_gw_v4(i: usize) -> Ipv4Addr {
    GatewayNet::of(0).subscriber_gw_v4(i)
}

/// Subscriber `i`'s IPv6 address: `2001:db8:100:{i+1 in hex}::2`.
pub fn subscriber_v6(i: usize) -> Ipv6Addr {
    GatewayNet::of(0).subscriber_v6(i)
}

/// The gateway's IPv6 address on subscriber `i`'s link.
pub fn subscriber_gw_v6(i: usize) -> Ipv6Addr {
    GatewayNet::of(0).subscriber_gw_v6(i)
}

/// Subscriber `i`'s /64 (what Cordon quarantines for IPv6).
pub fn subscriber_v6_prefix(i: usize) -> String {
    GatewayNet::of(0).subscriber_v6_prefix(i)
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
    fn gateway_zero_is_the_one_gateway_lab() {
        let g = GatewayNet::of(0);
        assert_eq!((g.portal_v4(), g.portal_v6()), (PORTAL_V4, PORTAL_V6));
        assert_eq!((g.uplink_v4(), g.uplink_v6()), (UPLINK_GW_V4, UPLINK_GW_V6));
        assert_eq!(
            (g.internet_v4(), g.internet_v6()),
            (UPLINK_NET_V4, UPLINK_NET_V6)
        );
        assert_eq!(
            g.subscriber_prefixes(),
            SUBSCRIBER_PREFIXES.map(String::from)
        );
        assert_eq!(g.internet_ifname(), "eth0");
    }

    #[test]
    fn each_gateway_has_its_own_prefixes_portal_and_uplink() {
        let g = GatewayNet::of(1);
        assert_eq!(
            g.subscriber_prefixes(),
            ["100.65.0.0/16", "2001:db8:101::/48"]
        );
        assert_eq!(g.portal_v4().to_string(), "100.65.0.1");
        assert_eq!(g.portal_v6().to_string(), "2001:db8:101::1");
        assert_eq!(g.subscriber_v4(1).to_string(), "100.65.2.2");
        assert_eq!(g.subscriber_gw_v6(1).to_string(), "2001:db8:101:2::1");
        assert_eq!(g.subscriber_v6_prefix(1), "2001:db8:101:2::/64");
        assert_eq!(g.uplink_v4().to_string(), "198.18.1.1");
        assert_eq!(g.internet_v6().to_string(), "2001:db8:0:2::2");
        assert_eq!(g.internet_ifname(), "eth1");
        // Every gateway's prefixes are apart from every other's.
        let all: Vec<String> = (0..MAX_GATEWAYS)
            .flat_map(|g| GatewayNet::of(g).subscriber_prefixes())
            .collect();
        let mut dedup = all.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), all.len());
    }

    #[test]
    fn subscribers_are_dealt_out_to_gateways_in_turn() {
        let behind: Vec<usize> = (0..5).map(|i| gateway_of(i, 2)).collect();
        assert_eq!(behind, [0, 1, 0, 1, 0]);
        assert!((0..5).all(|i| gateway_of(i, 1) == 0));
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

//! The lab's links, addresses and routes.
//!
//! [`scripts`] turns a lab name, subscriber and gateway counts into what
//! each namespace needs (pure, unit-tested); [`netlink::apply`] carries a
//! script out through `rtnetlink`, on a connection opened *inside* the
//! namespace so that nothing is ever created in the root namespace. Veth
//! pairs are made in a gateway with their far end placed straight into the
//! other namespace: one per subscriber behind it, and its uplink to the
//! internet (`uplink` there, `eth{G}` in the internet, which routes each
//! gateway's subscriber prefixes back through that gateway's uplink).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::addresses::*;
use crate::error::LabError;
use crate::names::LabName;
use crate::netns;

mod netlink;

pub(crate) use netlink::apply;

/// One step of wiring inside a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// A veth pair: `name` here, `peer` in namespace `peer_netns`.
    Veth {
        name: String,
        peer: String,
        peer_netns: String,
    },
    /// A bridge (forward delay 0, so its ports pass frames at once).
    Bridge(String),
    /// Make `link` a port of `bridge`.
    Port { link: String, bridge: String },
    /// Set a link up.
    Up(String),
    /// An address on a link (IPv6 ones without duplicate detection, so they
    /// work at once).
    Addr { link: String, addr: IpAddr, len: u8 },
    /// A route via a next hop.
    Route { dest: IpAddr, len: u8, via: IpAddr },
}

/// What one namespace needs: sysctls first (before any link exists, so new
/// links inherit them), then netlink steps.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    pub netns: String,
    pub sysctls: Vec<(&'static str, &'static str)>,
    pub ops: Vec<Op>,
}

/// IPv6 addresses must be usable at once (no duplicate address detection),
/// and reverse-path filtering inherited from the host must not drop the
/// lab's asymmetric-looking test traffic.
const EVERY_NS: [(&str, &str); 6] = [
    ("net.ipv6.conf.all.accept_dad", "0"),
    ("net.ipv6.conf.default.accept_dad", "0"),
    ("net.ipv6.conf.all.disable_ipv6", "0"),
    ("net.ipv6.conf.default.disable_ipv6", "0"),
    ("net.ipv4.conf.all.rp_filter", "0"),
    ("net.ipv4.conf.default.rp_filter", "0"),
];

/// Every namespace's script, the gateways' first (they create the links
/// the others configure). With `shared_link` the subscribers behind a
/// gateway share one link: ports of one bridge there ([`SHARED_LINK`]) that
/// carries each of their gateway addresses; each subscriber keeps its own
/// addresses and routes, and a DHCP server on the bridge can hand any of
/// them an address of any of those subnets.
pub(crate) fn scripts(
    name: &LabName,
    subscribers: usize,
    gateways: usize,
    shared_link: bool,
) -> Vec<Script> {
    let mut out = Vec::with_capacity(subscribers + gateways + 1);
    for g in 0..gateways {
        let behind: Vec<usize> = (0..subscribers)
            .filter(|&i| gateway_of(i, gateways) == g)
            .collect();
        out.push(gateway(name, g, &behind, shared_link));
    }
    for i in 0..subscribers {
        out.push(subscriber(name, i, gateway_of(i, gateways)));
    }
    out.push(internet(name, gateways));
    out
}

fn addr(link: &str, addr: impl Into<IpAddr>, len: u8) -> Op {
    Op::Addr {
        link: link.to_owned(),
        addr: addr.into(),
        len,
    }
}

fn route(dest: impl Into<IpAddr>, len: u8, via: impl Into<IpAddr>) -> Op {
    Op::Route {
        dest: dest.into(),
        len,
        via: via.into(),
    }
}

/// Gateway `g` with the subscribers `behind` it.
fn gateway(name: &LabName, g: usize, behind: &[usize], shared_link: bool) -> Script {
    let net = GatewayNet::of(g);
    let mut ops = vec![
        Op::Up("lo".into()),
        addr("lo", net.portal_v4(), 32),
        addr("lo", net.portal_v6(), 128),
    ];
    if shared_link {
        ops.push(Op::Bridge(SHARED_LINK.into()));
        ops.push(Op::Up(SHARED_LINK.into()));
    }
    for &i in behind {
        let link = subscriber_ifname(i);
        ops.push(Op::Veth {
            name: link.clone(),
            peer: "eth0".into(),
            peer_netns: name.subscriber_netns(i),
        });
        ops.push(Op::Up(link.clone()));
        let l3 = if shared_link {
            ops.push(Op::Port {
                link: link.clone(),
                bridge: SHARED_LINK.into(),
            });
            SHARED_LINK.to_owned()
        } else {
            link
        };
        ops.push(addr(&l3, net.subscriber_gw_v4(i), 24));
        ops.push(addr(&l3, net.subscriber_gw_v6(i), 64));
    }
    ops.extend([
        Op::Veth {
            name: "uplink".into(),
            peer: net.internet_ifname(),
            peer_netns: name.internet_netns(),
        },
        Op::Up("uplink".into()),
        addr("uplink", net.uplink_v4(), 24),
        addr("uplink", net.uplink_v6(), 64),
    ]);
    let mut sysctls = EVERY_NS.to_vec();
    sysctls.extend([
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv6.conf.all.forwarding", "1"),
    ]);
    Script {
        netns: name.gateway_netns_at(g),
        sysctls,
        ops,
    }
}

/// Routes gateway `g` adds once the internet's end of its uplink is up.
fn gateway_routes(g: usize) -> Vec<Op> {
    let net = GatewayNet::of(g);
    vec![
        route(Ipv4Addr::new(198, 51, 100, 0), 24, net.internet_v4()),
        route(Ipv4Addr::UNSPECIFIED, 0, net.internet_v4()),
        route(
            Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 0),
            48,
            net.internet_v6(),
        ),
        route(Ipv6Addr::UNSPECIFIED, 0, net.internet_v6()),
    ]
}

/// Subscriber `i`, behind gateway `g`.
fn subscriber(name: &LabName, i: usize, g: usize) -> Script {
    let net = GatewayNet::of(g);
    Script {
        netns: name.subscriber_netns(i),
        sysctls: EVERY_NS.to_vec(),
        ops: vec![
            Op::Up("lo".into()),
            Op::Up("eth0".into()),
            addr("eth0", net.subscriber_v4(i), 24),
            addr("eth0", net.subscriber_v6(i), 64),
            route(Ipv4Addr::UNSPECIFIED, 0, net.subscriber_gw_v4(i)),
            route(Ipv6Addr::UNSPECIFIED, 0, net.subscriber_gw_v6(i)),
        ],
    }
}

/// The internet, with an uplink from each of `gateways`.
fn internet(name: &LabName, gateways: usize) -> Script {
    let mut ops = vec![
        Op::Up("lo".into()),
        Op::Up("eth0".into()),
        addr("eth0", UPLINK_NET_V4, 24),
        addr("eth0", UPLINK_NET_V6, 64),
    ];
    // Service addresses sit on eth0 so gateway 0's ARP and neighbour
    // discovery on the shared /24 and /64 find them; the other gateways
    // route to them over their own uplinks.
    for a in [RELAY_V4, RESOLVER_V4, WEB_V4] {
        ops.push(addr("eth0", a, 32));
    }
    for a in [RELAY_V6, RESOLVER_V6, WEB_V6] {
        ops.push(addr("eth0", a, 128));
    }
    // Mail servers and the garden host are routed to this namespace by the
    // gateways, so they can live on lo.
    for n in 1..=MAIL_SERVERS {
        ops.push(addr("lo", mail_server_v4(n), 32));
        ops.push(addr("lo", mail_server_v6(n), 128));
    }
    ops.push(addr("lo", GARDEN_V4, 32));
    ops.push(addr("lo", GARDEN_V6, 128));
    for g in 1..gateways {
        let net = GatewayNet::of(g);
        let link = net.internet_ifname();
        ops.push(Op::Up(link.clone()));
        ops.push(addr(&link, net.internet_v4(), 24));
        ops.push(addr(&link, net.internet_v6(), 64));
    }
    // Each gateway's subscribers are reached through that gateway.
    for g in 0..gateways {
        let net = GatewayNet::of(g);
        let [(v4, v4_len), (v6, v6_len)] = net.subscriber_nets();
        ops.push(route(v4, v4_len, net.uplink_v4()));
        ops.push(route(v6, v6_len, net.uplink_v6()));
    }
    let mut sysctls = EVERY_NS.to_vec();
    // The services bind `[::]` once per port and expect IPv4 clients too.
    sysctls.push(("net.ipv6.bindv6only", "0"));
    Script {
        netns: name.internet_netns(),
        sysctls,
        ops,
    }
}

/// Wires the whole lab: every namespace must already exist.
pub(crate) fn wire(
    name: &LabName,
    subscribers: usize,
    gateways: usize,
    shared_link: bool,
) -> Result<(), LabError> {
    let all = scripts(name, subscribers, gateways, shared_link);
    for s in &all {
        netns::set_sysctls(&s.netns, &s.sysctls)?;
    }
    for s in &all {
        apply(&s.netns, &s.ops)?;
    }
    // The gateways' routes go via the internet's ends of their uplinks,
    // which exist only now that the internet namespace has been configured.
    for g in 0..gateways {
        apply(&name.gateway_netns_at(g), &gateway_routes(g))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;

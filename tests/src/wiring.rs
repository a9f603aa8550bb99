//! The lab's links, addresses and routes.
//!
//! [`scripts`] turns a lab name and subscriber count into what each namespace
//! needs (pure, unit-tested); [`apply`] carries a script out through
//! `rtnetlink`, on a connection opened *inside* the namespace so that nothing
//! is ever created in the root namespace. Veth pairs are made in the gateway
//! with their far end placed straight into the other namespace.

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use crate::addresses::*;
use crate::error::LabError;
use crate::names::LabName;
use crate::netns::{self, in_netns, netns_path};

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

/// Every namespace's script, the gateway's first (it creates the links the
/// others configure). With `shared_link` the subscribers' links are ports of
/// one bridge ([`SHARED_LINK`]) that carries every subscriber's gateway
/// addresses: each subscriber keeps its own addresses and routes, and a DHCP
/// server on the bridge can hand any of them an address of any subnet.
pub(crate) fn scripts(name: &LabName, subscribers: usize, shared_link: bool) -> Vec<Script> {
    let mut out = Vec::with_capacity(subscribers + 2);
    out.push(gateway(name, subscribers, shared_link));
    for i in 0..subscribers {
        out.push(subscriber(name, i));
    }
    out.push(internet(name));
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

fn gateway(name: &LabName, subscribers: usize, shared_link: bool) -> Script {
    let mut ops = vec![
        Op::Up("lo".into()),
        addr("lo", PORTAL_V4, 32),
        addr("lo", PORTAL_V6, 128),
    ];
    if shared_link {
        ops.push(Op::Bridge(SHARED_LINK.into()));
        ops.push(Op::Up(SHARED_LINK.into()));
    }
    for i in 0..subscribers {
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
        ops.push(addr(&l3, subscriber_gw_v4(i), 24));
        ops.push(addr(&l3, subscriber_gw_v6(i), 64));
    }
    ops.extend([
        Op::Veth {
            name: "uplink".into(),
            peer: "eth0".into(),
            peer_netns: name.internet_netns(),
        },
        Op::Up("uplink".into()),
        addr("uplink", UPLINK_GW_V4, 24),
        addr("uplink", UPLINK_GW_V6, 64),
    ]);
    let mut sysctls = EVERY_NS.to_vec();
    sysctls.extend([
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv6.conf.all.forwarding", "1"),
    ]);
    Script {
        netns: name.gateway_netns(),
        sysctls,
        ops,
    }
}

/// Routes the gateway adds once the internet's end of the uplink is up.
fn gateway_routes() -> Vec<Op> {
    vec![
        route(std::net::Ipv4Addr::new(198, 51, 100, 0), 24, UPLINK_NET_V4),
        route(std::net::Ipv4Addr::UNSPECIFIED, 0, UPLINK_NET_V4),
        route(
            std::net::Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 0),
            48,
            UPLINK_NET_V6,
        ),
        route(std::net::Ipv6Addr::UNSPECIFIED, 0, UPLINK_NET_V6),
    ]
}

fn subscriber(name: &LabName, i: usize) -> Script {
    Script {
        netns: name.subscriber_netns(i),
        sysctls: EVERY_NS.to_vec(),
        ops: vec![
            Op::Up("lo".into()),
            Op::Up("eth0".into()),
            addr("eth0", subscriber_v4(i), 24),
            addr("eth0", subscriber_v6(i), 64),
            route(std::net::Ipv4Addr::UNSPECIFIED, 0, subscriber_gw_v4(i)),
            route(std::net::Ipv6Addr::UNSPECIFIED, 0, subscriber_gw_v6(i)),
        ],
    }
}

fn internet(name: &LabName) -> Script {
    let mut ops = vec![
        Op::Up("lo".into()),
        Op::Up("eth0".into()),
        addr("eth0", UPLINK_NET_V4, 24),
        addr("eth0", UPLINK_NET_V6, 64),
    ];
    // Service addresses sit on eth0 so the gateway's ARP and neighbour
    // discovery on the shared /24 and /64 find them.
    for a in [RELAY_V4, RESOLVER_V4, WEB_V4] {
        ops.push(addr("eth0", a, 32));
    }
    for a in [RELAY_V6, RESOLVER_V6, WEB_V6] {
        ops.push(addr("eth0", a, 128));
    }
    // Mail servers and the garden host are routed to this namespace by the
    // gateway, so they can live on lo.
    for n in 1..=MAIL_SERVERS {
        ops.push(addr("lo", mail_server_v4(n), 32));
        ops.push(addr("lo", mail_server_v6(n), 128));
    }
    ops.push(addr("lo", GARDEN_V4, 32));
    ops.push(addr("lo", GARDEN_V6, 128));
    ops.push(route(
        std::net::Ipv4Addr::new(100, 64, 0, 0),
        16,
        UPLINK_GW_V4,
    ));
    ops.push(route(
        std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0),
        48,
        UPLINK_GW_V6,
    ));
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
pub(crate) fn wire(name: &LabName, subscribers: usize, shared_link: bool) -> Result<(), LabError> {
    let all = scripts(name, subscribers, shared_link);
    for s in &all {
        netns::set_sysctls(&s.netns, &s.sysctls)?;
    }
    for s in &all {
        apply(&s.netns, &s.ops)?;
    }
    // The gateway's routes go via the internet's end of the uplink, which
    // exists only now that the internet namespace has been configured.
    apply(&name.gateway_netns(), &gateway_routes())
}

/// Carries out `ops` inside `netns` over a netlink socket opened there.
pub(crate) fn apply(netns: &str, ops: &[Op]) -> Result<(), LabError> {
    in_netns(netns, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(LabError::io("starting a runtime for netlink"))?;
        rt.block_on(async {
            let (conn, handle, _) =
                rtnetlink::new_connection().map_err(LabError::io("opening a netlink socket"))?;
            let task = tokio::spawn(conn);
            let result = run_ops(netns, &handle, ops).await;
            task.abort();
            result
        })
    })?
}

async fn run_ops(netns: &str, handle: &Handle, ops: &[Op]) -> Result<(), LabError> {
    let nl = |what: String| {
        let netns = netns.to_owned();
        move |source| LabError::Netlink {
            netns,
            what,
            source,
        }
    };
    for op in ops {
        match op {
            Op::Veth {
                name,
                peer,
                peer_netns,
            } => {
                // Held open until the kernel has placed the peer there.
                let target = File::open(netns_path(peer_netns)).map_err(|e| LabError::Netns {
                    netns: peer_netns.clone(),
                    reason: e.to_string(),
                })?;
                let peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
                    .name(peer.clone())
                    .setns_by_fd(target.as_raw_fd())
                    .build();
                let msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
                    .name(name.clone())
                    .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)))
                    .build();
                handle.link().add(msg).execute().await.map_err(nl(format!(
                    "create veth {name} (peer {peer} in {peer_netns})"
                )))?;
                drop(target);
            }
            Op::Bridge(bridge) => {
                let msg = LinkMessageBuilder::<LinkBridge>::new(bridge)
                    .forward_delay(0)
                    .build();
                handle
                    .link()
                    .add(msg)
                    .execute()
                    .await
                    .map_err(nl(format!("create bridge {bridge}")))?;
            }
            Op::Port { link, bridge } => {
                let index = link_index(netns, handle, link).await?;
                let master = link_index(netns, handle, bridge).await?;
                let msg = LinkUnspec::new_with_index(index).controller(master).build();
                handle
                    .link()
                    .set(msg)
                    .execute()
                    .await
                    .map_err(nl(format!("make {link} a port of {bridge}")))?;
            }
            Op::Up(link) => {
                let index = link_index(netns, handle, link).await?;
                let msg = LinkUnspec::new_with_index(index).up().build();
                handle
                    .link()
                    .set(msg)
                    .execute()
                    .await
                    .map_err(nl(format!("set {link} up")))?;
            }
            Op::Addr { link, addr, len } => {
                let index = link_index(netns, handle, link).await?;
                let mut req = handle.address().add(index, *addr, *len);
                if addr.is_ipv6() {
                    let m = req.message_mut();
                    m.header.flags |= AddressHeaderFlags::Nodad;
                    m.attributes
                        .push(AddressAttribute::Flags(AddressFlags::Nodad));
                }
                req.execute()
                    .await
                    .map_err(nl(format!("add address {addr}/{len} to {link}")))?;
            }
            Op::Route { dest, len, via } => {
                let invalid = |e: &dyn std::fmt::Display| {
                    LabError::InvalidOption(format!("route {dest}/{len} via {via}: {e}"))
                };
                let msg = RouteMessageBuilder::<IpAddr>::new()
                    .destination_prefix(*dest, *len)
                    .map_err(|e| invalid(&e))?
                    .gateway(*via)
                    .map_err(|e| invalid(&e))?
                    .build();
                handle
                    .route()
                    .add(msg)
                    .execute()
                    .await
                    .map_err(nl(format!("add route {dest}/{len} via {via}")))?;
            }
        }
    }
    Ok(())
}

async fn link_index(netns: &str, handle: &Handle, link: &str) -> Result<u32, LabError> {
    let found = handle
        .link()
        .get()
        .match_name(link.to_owned())
        .execute()
        .try_next()
        .await
        .map_err(|source| LabError::Netlink {
            netns: netns.to_owned(),
            what: format!("look up link {link}"),
            source,
        })?;
    found
        .map(|m| m.header.index)
        .ok_or_else(|| LabError::Netns {
            netns: netns.to_owned(),
            reason: format!("no link named {link}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops_of<'a>(all: &'a [Script], netns: &str) -> &'a [Op] {
        &all.iter().find(|s| s.netns == netns).unwrap().ops
    }

    #[test]
    fn gateway_has_one_link_per_subscriber_and_the_uplink() {
        let name = LabName::new("t").unwrap();
        let all = scripts(&name, 3, false);
        assert_eq!(all[0].netns, "cl-t-gw");
        let gw = ops_of(&all, "cl-t-gw");
        let veths: Vec<_> = gw
            .iter()
            .filter_map(|o| match o {
                Op::Veth {
                    name, peer_netns, ..
                } => Some((name.as_str(), peer_netns.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            veths,
            [
                ("sub0", "cl-t-s0"),
                ("sub1", "cl-t-s1"),
                ("sub2", "cl-t-s2"),
                ("uplink", "cl-t-net")
            ]
        );
        assert!(gw.contains(&addr("sub1", "100.64.2.1".parse::<IpAddr>().unwrap(), 24)));
        assert!(gw.contains(&addr("lo", PORTAL_V4, 32)));
        assert!(all[0].sysctls.contains(&("net.ipv4.ip_forward", "1")));
    }

    #[test]
    fn subscribers_route_via_their_own_gateway_address() {
        let name = LabName::new("t").unwrap();
        let all = scripts(&name, 2, false);
        let s1 = ops_of(&all, "cl-t-s1");
        assert!(s1.contains(&addr(
            "eth0",
            "2001:db8:100:2::2".parse::<IpAddr>().unwrap(),
            64
        )));
        assert!(s1.contains(&route(
            std::net::Ipv6Addr::UNSPECIFIED,
            0,
            "2001:db8:100:2::1".parse::<std::net::Ipv6Addr>().unwrap()
        )));
    }

    #[test]
    fn internet_holds_every_service_and_mail_server_address() {
        let name = LabName::new("t").unwrap();
        let all = scripts(&name, 1, false);
        let net = ops_of(&all, "cl-t-net");
        for a in [RELAY_V4, RESOLVER_V4, WEB_V4] {
            assert!(net.contains(&addr("eth0", a, 32)));
        }
        let on_lo = net
            .iter()
            .filter(|o| matches!(o, Op::Addr { link, .. } if link == "lo"))
            .count();
        assert_eq!(on_lo, 2 * usize::from(MAIL_SERVERS) + 2);
    }

    #[test]
    fn a_shared_link_bridges_every_subscriber_and_carries_their_gateway_addresses() {
        let name = LabName::new("t").unwrap();
        let all = scripts(&name, 2, true);
        let gw = ops_of(&all, "cl-t-gw");
        assert!(gw.contains(&Op::Bridge(SHARED_LINK.into())));
        for i in 0..2 {
            let link = subscriber_ifname(i);
            assert!(gw.contains(&Op::Port {
                link: link.clone(),
                bridge: SHARED_LINK.into()
            }));
            assert!(gw.contains(&addr(SHARED_LINK, subscriber_gw_v4(i), 24)));
            assert!(gw.contains(&addr(SHARED_LINK, subscriber_gw_v6(i), 64)));
            assert!(
                !gw.iter()
                    .any(|o| matches!(o, Op::Addr { link: l, .. } if *l == link)),
                "a bridge port carries no address"
            );
        }
        // The subscribers themselves are wired as without the bridge.
        assert_eq!(
            ops_of(&all, "cl-t-s1"),
            ops_of(&scripts(&name, 2, false), "cl-t-s1")
        );
    }
}

//! The wiring scripts, checked without a kernel.

use super::*;

fn ops_of<'a>(all: &'a [Script], netns: &str) -> &'a [Op] {
    &all.iter().find(|s| s.netns == netns).unwrap().ops
}

#[test]
fn gateway_has_one_link_per_subscriber_and_the_uplink() {
    let name = LabName::new("t").unwrap();
    let all = scripts(&name, 3, 1, false);
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
    let all = scripts(&name, 2, 1, false);
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
    let all = scripts(&name, 1, 1, false);
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
    let all = scripts(&name, 2, 1, true);
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
        ops_of(&scripts(&name, 2, 1, false), "cl-t-s1")
    );
}

#[test]
fn each_gateway_has_its_subscribers_and_its_own_uplink_and_the_internet_routes_back() {
    let name = LabName::new("t").unwrap();
    let all = scripts(&name, 3, 2, false);
    let netns: Vec<&str> = all.iter().map(|s| s.netns.as_str()).collect();
    assert_eq!(
        netns,
        [
            "cl-t-gw", "cl-t-gw1", "cl-t-s0", "cl-t-s1", "cl-t-s2", "cl-t-net"
        ]
    );
    let veths = |ns: &str| -> Vec<(String, String, String)> {
        ops_of(&all, ns)
            .iter()
            .filter_map(|o| match o {
                Op::Veth {
                    name,
                    peer,
                    peer_netns,
                } => Some((name.clone(), peer.clone(), peer_netns.clone())),
                _ => None,
            })
            .collect()
    };
    let v = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    assert_eq!(
        veths("cl-t-gw"),
        [
            v("sub0", "eth0", "cl-t-s0"),
            v("sub2", "eth0", "cl-t-s2"),
            v("uplink", "eth0", "cl-t-net")
        ]
    );
    assert_eq!(
        veths("cl-t-gw1"),
        [
            v("sub1", "eth0", "cl-t-s1"),
            v("uplink", "eth1", "cl-t-net")
        ]
    );
    let gw1 = ops_of(&all, "cl-t-gw1");
    assert!(gw1.contains(&addr("lo", "100.65.0.1".parse::<IpAddr>().unwrap(), 32)));
    assert!(gw1.contains(&addr("sub1", "100.65.2.1".parse::<IpAddr>().unwrap(), 24)));
    assert!(gw1.contains(&addr("uplink", "198.18.1.1".parse::<IpAddr>().unwrap(), 24)));
    assert!(gateway_routes(1).contains(&route(
        Ipv4Addr::UNSPECIFIED,
        0,
        "198.18.1.2".parse::<Ipv4Addr>().unwrap()
    )));
    let s1 = ops_of(&all, "cl-t-s1");
    assert!(s1.contains(&route(
        Ipv6Addr::UNSPECIFIED,
        0,
        "2001:db8:101:2::1".parse::<Ipv6Addr>().unwrap()
    )));
    let net = ops_of(&all, "cl-t-net");
    assert!(net.contains(&addr("eth1", "198.18.1.2".parse::<IpAddr>().unwrap(), 24)));
    for (dest, len, via) in [
        ("100.64.0.0", 16, "192.0.2.1"),
        ("2001:db8:100::", 48, "2001:db8:0:1::1"),
        ("100.65.0.0", 16, "198.18.1.1"),
        ("2001:db8:101::", 48, "2001:db8:0:2::1"),
    ] {
        let want = route(
            dest.parse::<IpAddr>().unwrap(),
            len,
            via.parse::<IpAddr>().unwrap(),
        );
        assert!(net.contains(&want), "{want:?}");
    }
}

#[test]
fn one_gateway_is_wired_as_before() {
    // gateway 0 of a one-gateway lab: the uplink's far end is eth0, and
    // the internet has no other uplink.
    let name = LabName::new("t").unwrap();
    let all = scripts(&name, 2, 1, false);
    assert_eq!(all.len(), 4);
    let net = ops_of(&all, "cl-t-net");
    assert!(
        !net.iter()
            .any(|o| matches!(o, Op::Up(l) | Op::Addr { link: l, .. } if l == "eth1"))
    );
}

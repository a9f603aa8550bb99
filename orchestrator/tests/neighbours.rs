//! The MAC lookup against a real neighbour table, in a network namespace
//! of its own (removed by a guard even when a test panics): a single host
//! is answered by the kernel for that address alone, a range or an IPv6
//! unit from a dump that concurrent lookups share. Needs root.

#![allow(clippy::unwrap_used)]

use cordon_orchestrator::kernel::mac_of;
use cordon_testkit::Netns;
use ipnet::IpNet;

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

#[test]
fn macs_are_found_for_hosts_ranges_and_ipv6_units() {
    let ns = Netns::new("onb");
    let ip = |args: &str| ns.ip(&args.split_whitespace().collect::<Vec<_>>());
    ip("link add sub0 type veth peer name sub0p");
    ip("addr add 100.64.0.1/16 dev sub0");
    ip("addr add 2001:db8::1/64 dev sub0 nodad");
    ip("link set sub0 up");
    ip("link set sub0p up");
    ip("neigh add 100.64.1.7 lladdr 02:00:00:00:01:07 dev sub0 nud permanent");
    ip("neigh add 100.64.2.9 lladdr 02:00:00:00:02:09 dev sub0 nud permanent");
    ip("neigh add 2001:db8::7 lladdr 02:00:00:00:06:07 dev sub0 nud permanent");
    // An entry on the other end, which the route to 100.64.1.7 does not
    // use, must not be mistaken for it.
    ip("neigh add 100.64.1.8 lladdr 02:00:00:00:0f:08 dev sub0p nud permanent");

    let found = ns.block_on(|| {
        Box::pin(async {
            let mut found = Vec::new();
            for text in [
                "100.64.1.7/32",
                "100.64.1.6/32",
                "100.64.1.8/32",
                "198.51.100.1/32",
                "100.64.2.0/24",
                "100.64.3.0/24",
                "2001:db8::/64",
                "2001:db8::7/128",
                "2001:db8:1::/64",
            ] {
                found.push((text, mac_of(net(text)).await));
            }
            // Many at once share dumps and all get the answer.
            let many = futures::future::join_all((0..32).map(|_| mac_of(net("2001:db8::/64"))));
            (found, many.await)
        })
    });
    let (found, many) = found;
    let mac = |s: &str| Some(s.to_owned());
    assert_eq!(
        found,
        [
            ("100.64.1.7/32", mac("02:00:00:00:01:07")),
            ("100.64.1.6/32", None),
            ("100.64.1.8/32", None),
            ("198.51.100.1/32", None),
            ("100.64.2.0/24", mac("02:00:00:00:02:09")),
            ("100.64.3.0/24", None),
            ("2001:db8::/64", mac("02:00:00:00:06:07")),
            ("2001:db8::7/128", mac("02:00:00:00:06:07")),
            ("2001:db8:1::/64", None),
        ]
    );
    assert!(
        many.iter().all(|m| *m == mac("02:00:00:00:06:07")),
        "{many:?}"
    );
}

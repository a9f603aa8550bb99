//! Which addresses may be quarantined, and as what.

#![allow(clippy::unwrap_used)] // a failed unwrap is the test failing

use cordon_config::{AddrError, Config};
use cordon_testkit::Fixture;

fn config() -> Config {
    Fixture::new()
        .set("never_quarantine", "[100.64.0.1, 2001:db8:1000::1]")
        .load()
}

#[test]
fn ipv4_hosts_and_ranges() {
    let c = config();
    assert_eq!(
        c.subscriber_addr("100.64.3.7").unwrap().to_string(),
        "100.64.3.7"
    );
    assert_eq!(
        c.subscriber_addr(" 100.64.3.0/24 ").unwrap().to_string(),
        "100.64.3.0/24"
    );
}

#[test]
fn ipv6_addresses_widen_to_the_quarantine_prefix() {
    let c = config();
    let a = c.subscriber_addr("2001:db8:1000:7:1234::9").unwrap();
    assert_eq!(a.to_string(), "2001:db8:1000:7::/64");
    assert!(a.contains(&"2001:db8:1000:7:ffff::1".parse().unwrap()));
    assert_eq!(
        c.subscriber_addr("2001:db8:1000:100::/56")
            .unwrap()
            .to_string(),
        "2001:db8:1000:100::/56"
    );
    assert!(matches!(
        c.subscriber_addr("2001:db8:1000:7::/80"),
        Err(AddrError::TooNarrow { len: 64, .. })
    ));
}

#[test]
fn refusals_say_why() {
    let c = config();
    assert!(matches!(
        c.subscriber_addr("100.64.3"),
        Err(AddrError::Malformed(_))
    ));
    assert!(matches!(
        c.subscriber_addr("banana"),
        Err(AddrError::Malformed(_))
    ));
    assert!(matches!(
        c.subscriber_addr("8.8.8.8"),
        Err(AddrError::NotSubscriber(_))
    ));
    assert!(matches!(
        c.subscriber_addr("100.0.0.0/8"),
        Err(AddrError::NotSubscriber(_))
    ));
    assert!(matches!(
        c.subscriber_addr("100.64.0.1"),
        Err(AddrError::NeverQuarantine { .. })
    ));
    // A range that would sweep up a protected address is refused too.
    assert!(matches!(
        c.subscriber_addr("100.64.0.0/24"),
        Err(AddrError::NeverQuarantine { .. })
    ));
    assert!(matches!(
        c.subscriber_addr("2001:db8:1000::77"),
        Err(AddrError::NeverQuarantine { .. })
    ));
    let e = c.subscriber_addr("100.64.3.1/24").unwrap_err();
    assert!(e.to_string().contains("did you mean 100.64.3.0/24"), "{e}");
}

#[test]
fn packet_sources_map_to_their_unit() {
    let c = config();
    let a = c
        .subscriber_of("2001:db8:1000:9::abcd".parse().unwrap())
        .unwrap();
    assert_eq!(a.to_string(), "2001:db8:1000:9::/64");
    assert!(c.subscriber_of("203.0.113.9".parse().unwrap()).is_err());
}

#[test]
fn refusal_messages_name_the_address_as_written_and_what_to_do() {
    let c = config();
    let e = c.subscriber_addr("8.8.8.8").unwrap_err().to_string();
    assert!(
        e.starts_with("8.8.8.8 is not inside any subscriber prefix"),
        "{e}"
    );
    let e = c.subscriber_addr("100.64.0.1").unwrap_err().to_string();
    assert!(e.contains("never quarantines it"), "{e}");
    let e = c.subscriber_addr("100.64.0.0/24").unwrap_err().to_string();
    assert!(
        e.contains("covers 100.64.0.1") && e.contains("pick a narrower range"),
        "{e}"
    );
}

#[test]
fn session_addresses_lose_host_bits_and_widen_like_addresses() {
    let c = config();
    let s = |t: &str| c.session_addr(t).map(|a| a.to_string());
    assert_eq!(s("100.64.3.7").unwrap(), "100.64.3.7");
    // accel-ppp's IPV6_PREFIX is the peer's address with the length.
    assert_eq!(s("2001:db8:1000:7::5/64").unwrap(), "2001:db8:1000:7::/64");
    assert_eq!(
        s("2001:db8:1000:100::/56").unwrap(),
        "2001:db8:1000:100::/56"
    );
    // A Framed-IPv6-Address (/128) is its subscriber prefix, as an address is.
    assert_eq!(s("2001:db8:1000:7::9/128").unwrap(), "2001:db8:1000:7::/64");
    assert!(matches!(
        c.session_addr("100.64.0.1"),
        Err(AddrError::NeverQuarantine { .. })
    ));
    assert!(matches!(
        c.session_addr("192.0.2.1"),
        Err(AddrError::NotSubscriber(_))
    ));
    assert!(matches!(c.session_addr("x"), Err(AddrError::Malformed(_))));
}

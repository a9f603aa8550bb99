//! The lab's and the example's config: it loads, matches the topology, and
//! agrees with the systemd units and sysusers.

use cordon_lab::addresses::{
    GARDEN_PREFIXES, PORTAL_V4, PORTAL_V6, RELAY_V4, RELAY_V6, RESOLVER_V4, RESOLVER_V6,
    SUBSCRIBER_PREFIXES,
};
use cordon_lab::config::{PORTAL_PORT, REDIRECT_PORT};

use super::common::repo::{read, root, unit};

#[test]
fn the_vagrant_config_loads_and_matches_the_topology() {
    let path = root().join("vagrant/cordon.yaml");
    let c = cordon_config::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let strings = |v: &mut dyn Iterator<Item = String>| v.collect::<Vec<_>>();

    assert_eq!(
        strings(&mut c.subscribers.prefixes.iter().map(ToString::to_string)),
        SUBSCRIBER_PREFIXES
    );
    assert_eq!(
        strings(&mut c.relays.addresses.iter().map(ToString::to_string)),
        [RELAY_V4.to_string(), RELAY_V6.to_string()]
    );
    assert_eq!(
        strings(&mut c.walled_garden.resolvers.iter().map(ToString::to_string)),
        [RESOLVER_V4.to_string(), RESOLVER_V6.to_string()]
    );
    assert_eq!(
        strings(&mut c.walled_garden.destinations.iter().map(ToString::to_string)),
        GARDEN_PREFIXES
    );
    let never = strings(&mut c.never_quarantine.iter().map(ToString::to_string));
    for addr in [PORTAL_V4.to_string(), PORTAL_V6.to_string()] {
        assert!(never.contains(&addr), "{addr} must never be quarantined");
    }
    assert_eq!(
        c.portal.public_url.as_str(),
        format!("http://{PORTAL_V4}:{PORTAL_PORT}/")
    );
    assert_eq!(c.portal.redirect_port, REDIRECT_PORT);
    // gateway.sh rewrites exactly these two lines when the NICs are named
    // otherwise.
    let text = read("vagrant/cordon.yaml");
    assert!(text.contains("\n  downlink: [eth1]\n"), "downlink line");
    assert!(text.contains("\n  uplink: [eth2]\n"), "uplink line");
    assert_eq!(c.interfaces.downlink[0].as_str(), "eth1");
    assert_eq!(c.interfaces.uplink[0].as_str(), "eth2");
    agrees_with_the_units(&c, "vagrant/cordon.yaml");
}

#[test]
fn the_example_config_agrees_with_the_units() {
    let path = root().join("cordon.example.yaml");
    let c = cordon_config::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    agrees_with_the_units(&c, "cordon.example.yaml");
}

/// What the units and sysusers.d take for granted about a config.
fn agrees_with_the_units(c: &cordon_config::Config, name: &str) {
    let portal = unit("deploy/cordon-portal.service");
    let user = portal.one("Service", "User");
    assert_eq!(
        c.portal.user.as_deref(),
        Some(user.as_str()),
        "{name}: portal.user must be the user cordon-portal.service runs as, \
         or cordond hands portal.sock to someone else"
    );
    assert_eq!(c.control.group.as_deref(), Some("cordon"), "{name}");
    let sysusers = read("deploy/sysusers.d/cordon.conf");
    assert!(sysusers_has(&sysusers, "g", "cordon"), "sysusers: g cordon");
    assert!(sysusers_has(&sysusers, "u", &user), "sysusers: u {user}");
    for socket in [&c.control.socket, &c.control.portal_socket] {
        assert!(
            socket.starts_with("/run/cordon"),
            "{name}: {} is outside cordond's RuntimeDirectory /run/cordon",
            socket.display()
        );
    }
    assert!(
        c.store
            .sqlite_path()
            .unwrap()
            .starts_with("/var/lib/cordon"),
        "{name}: the store {} is outside ReadWritePaths=/var/lib/cordon",
        c.store.sqlite_path().unwrap().display()
    );
    for addr in &c.portal.listen {
        assert!(
            addr.port() >= 1024,
            "{name}: the portal has no CAP_NET_BIND_SERVICE"
        );
    }
    assert!(c.portal.redirect_port >= 1024, "{name}: redirect_port");
    assert!(c.portal.notice_port >= 1024, "{name}: notice_port");
    if let Some(m) = c.metrics.listen {
        assert!(m.port() >= 1024, "{name}: metrics.listen");
    }
    if let Some(m) = c.portal.metrics_listen {
        assert!(m.port() >= 1024, "{name}: portal.metrics_listen");
        assert!(
            m.ip().is_loopback(),
            "{name}: portal.metrics_listen {m}: cordon-portal.service allows IP with loopback and subscribers only"
        );
    }
}

fn sysusers_has(text: &str, kind: &str, name: &str) -> bool {
    text.lines()
        .map(str::split_whitespace)
        .any(|mut w| w.next() == Some(kind) && w.next() == Some(name))
}

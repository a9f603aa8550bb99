//! The portal's listeners: each port of its own, metrics off the
//! subscribers' ports.

use super::{MINIMAL, load, one_error};

#[test]
fn the_portal_serves_metrics_on_loopback_unless_told_otherwise() {
    let default = load(MINIMAL).unwrap();
    assert_eq!(
        default.portal.metrics_listen,
        Some("127.0.0.1:9465".parse().unwrap())
    );
    let off = load(&format!("{MINIMAL}  metrics_listen: null\n")).unwrap();
    assert_eq!(off.portal.metrics_listen, None);
    let set = load(&format!("{MINIMAL}  metrics_listen: \"[::1]:9999\"\n")).unwrap();
    assert_eq!(
        set.portal.metrics_listen,
        Some("[::1]:9999".parse().unwrap())
    );
    let any =
        "  listen: [\"127.0.0.1:0\"]\n  redirect_port: 0\n  metrics_listen: \"127.0.0.1:0\"\n";
    assert!(
        load(&format!("{MINIMAL}{any}")).is_ok(),
        "port 0 clashes with nothing"
    );
    let e = one_error(&format!("{MINIMAL}  metrics_listen: localhost\n"));
    assert!(e.starts_with("10:19: portal.metrics_listen: "), "{e}");
}

#[test]
fn portal_metrics_on_a_subscriber_port_are_refused() {
    // portal.listen defaults to 0.0.0.0:8080, the redirect to 8081, the
    // notice to 8082.
    for clash in [
        "127.0.0.1:8080",
        "0.0.0.0:8081",
        "127.0.0.1:8082",
        "127.0.0.1:9464",
    ] {
        let e = one_error(&format!("{MINIMAL}  metrics_listen: \"{clash}\"\n"));
        assert!(
            e.starts_with("10:19: portal.metrics_listen: "),
            "{clash}: {e}"
        );
        assert!(e.contains("a port of their own"), "{clash}: {e}");
    }
}

/// Noticed hosts' `http` goes to a port of its own: the redirect port
/// answers without asking cordond because the kernel sends only
/// quarantined hosts there.
#[test]
fn the_notice_port_is_a_port_of_its_own() {
    for (clash, line) in [
        ("notice_port: 8081", "10:16"),
        ("notice_port: 8080", "10:16"),
    ] {
        let e = one_error(&format!("{MINIMAL}  {clash}\n"));
        assert!(
            e.starts_with(&format!("{line}: portal.notice_port: ")),
            "{clash}: {e}"
        );
        assert!(e.contains("a port of its own"), "{clash}: {e}");
    }
    let c = load(&format!("{MINIMAL}  notice_port: 9000\n")).unwrap();
    assert_eq!(c.portal.notice_port, 9000);
    let zeros = "  listen: [\"127.0.0.1:0\"]\n  redirect_port: 0\n  notice_port: 0\n";
    assert!(
        load(&format!("{MINIMAL}{zeros}")).is_ok(),
        "port 0 clashes with nothing"
    );
}

/// A quarantined host's own connections to the portal go to a port of their
/// own: the portal answers everything there as captive.
#[test]
fn the_captive_port_is_a_port_of_its_own() {
    for clash in [
        "captive_port: 8081",
        "captive_port: 8082",
        "captive_port: 8080",
    ] {
        let e = one_error(&format!("{MINIMAL}  {clash}\n"));
        assert!(
            e.starts_with("10:17: portal.captive_port: "),
            "{clash}: {e}"
        );
        assert!(e.contains("a port of its own"), "{clash}: {e}");
    }
    let e = one_error(&format!("{MINIMAL}  metrics_listen: \"127.0.0.1:8083\"\n"));
    assert!(e.contains("portal.captive_port"), "{e}");
    let c = load(&format!("{MINIMAL}  captive_port: 9001\n")).unwrap();
    assert_eq!(c.portal.captive_port, 9001);
    let zeros =
        "  listen: [\"127.0.0.1:0\"]\n  redirect_port: 0\n  notice_port: 0\n  captive_port: 0\n";
    assert!(
        load(&format!("{MINIMAL}{zeros}")).is_ok(),
        "port 0 clashes with nothing"
    );
}

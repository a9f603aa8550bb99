//! The systemd units (`deploy/*.service`) keep their hardening and limits,
//! and systemd itself accepts them: `verify`, `security --offline` within
//! bounds, sysusers.d and tmpfiles.d applied to an empty root. Needs no
//! root; needs `systemd-analyze` (scripts/install-deps test), and says so
//! when it is missing rather than skipping.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;

use common::repo::{TempDir, Unit, read, root, run, set, text, unit};

/// Sandboxing both units keep.
const SANDBOX: [(&str, &str); 17] = [
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectHostname", "yes"),
    ("RestrictNamespaces", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("LockPersonality", "yes"),
    ("MemoryDenyWriteExecute", "yes"),
    ("SystemCallArchitectures", "native"),
];

fn sandboxed(u: &Unit) {
    for (key, value) in SANDBOX {
        u.expect("Service", key, value);
    }
    assert!(
        u.words("Service", "SystemCallFilter")
            .contains("@system-service"),
        "{}: SystemCallFilter=@system-service",
        u.path
    );
    u.expect("Service", "Restart", "on-failure");
    u.expect("Service", "AmbientCapabilities", "");
    u.expect("Install", "WantedBy", "multi-user.target");
    assert!(
        !u.has("Service", "PermissionsStartOnly") && !u.has("Service", "DynamicUser"),
        "{}",
        u.path
    );
}

#[test]
fn cordond_unit_is_bounded_to_what_it_needs() {
    let u = unit("deploy/cordond.service");
    sandboxed(&u);
    u.expect("Service", "Type", "notify");
    u.expect("Service", "WatchdogSec", "30s");
    u.expect(
        "Service",
        "ExecStart",
        "/usr/local/bin/cordond --config /etc/cordon/cordon.yaml",
    );
    u.expect("Service", "ExecReload", "/bin/kill -HUP $MAINPID");
    // Root, but only these.
    assert!(!u.has("Service", "User"), "cordond runs as root");
    let caps = u.words("Service", "CapabilityBoundingSet");
    assert!(caps.contains("CAP_NET_ADMIN"), "CAP_NET_ADMIN: {caps:?}");
    assert!(
        caps.is_subset(&set(&["CAP_NET_ADMIN", "CAP_CHOWN"])),
        "cordond's capabilities grew: {caps:?} (document each in the unit and deploy/README.md)"
    );
    u.expect("Service", "ReadWritePaths", "/var/lib/cordon");
    u.expect("Service", "StateDirectory", "cordon");
    u.expect("Service", "RuntimeDirectory", "cordon");
    u.expect("Service", "RuntimeDirectoryMode", "0711");
    u.expect("Service", "RuntimeDirectoryPreserve", "yes");
    assert_eq!(
        u.words("Service", "RestrictAddressFamilies"),
        set(&["AF_UNIX", "AF_NETLINK", "AF_INET", "AF_INET6"])
    );
    u.expect("Service", "ProcSubset", "pid");
    u.expect("Service", "PrivateIPC", "yes");
    limited(&u, "1G");
}

/// Descriptors, tasks and memory: the default soft limit of 1024
/// descriptors ran out under 1 100 idle connections.
fn limited(u: &Unit, memory: &str) {
    u.expect("Service", "LimitNOFILE", "65536");
    u.expect("Service", "TasksMax", "1024");
    u.expect("Service", "MemoryMax", memory);
}

#[test]
fn the_portal_unit_has_no_privilege() {
    let u = unit("deploy/cordon-portal.service");
    sandboxed(&u);
    u.expect("Service", "User", "cordon-portal");
    u.expect("Service", "Group", "cordon-portal");
    u.expect("Service", "CapabilityBoundingSet", "");
    u.expect(
        "Service",
        "ExecStart",
        "/usr/local/bin/cordon-portal --config /etc/cordon/cordon.yaml",
    );
    assert!(
        !u.words("Service", "SupplementaryGroups").contains("cordon"),
        "the group cordon may use the control socket; the portal must not be in it"
    );
    assert_eq!(
        u.words("Service", "RestrictAddressFamilies"),
        set(&["AF_UNIX", "AF_INET", "AF_INET6"])
    );
    assert!(u.words("Unit", "After").contains("cordond.service"));
    assert!(u.words("Unit", "Wants").contains("cordond.service"));
    let filters = u.all("Service", "SystemCallFilter");
    assert!(
        filters
            .iter()
            .any(|f| f.starts_with('~') && f.contains("@privileged")),
        "the portal excludes @privileged system calls: {filters:?}"
    );
    u.expect("Service", "PrivateMounts", "yes");
    u.expect("Service", "ProcSubset", "pid");
    u.expect("Service", "PrivateIPC", "yes");
    limited(&u, "512M");
    u.expect("Service", "IPAddressDeny", "any");
}

/// The portal talks IP only with loopback and the subscriber prefixes: the
/// unit lists the example config's, the Vagrant gateway its own in a
/// drop-in. A prefix missing there is a subscriber who never sees the page.
#[test]
fn the_portal_unit_admits_the_subscriber_prefixes_and_nothing_else() {
    let u = unit("deploy/cordon-portal.service");
    u.expect("Service", "IPAddressDeny", "any");
    let example = cordon_config::load_file(&root().join("cordon.example.yaml")).unwrap();
    let mut want: BTreeSet<String> = example
        .subscribers
        .prefixes
        .iter()
        .map(|p| p.to_string())
        .collect();
    want.insert("localhost".into());
    assert_eq!(u.words("Service", "IPAddressAllow"), want);

    let vagrant = cordon_config::load_file(&root().join("vagrant/cordon.yaml")).unwrap();
    let provision = read("vagrant/provision/gateway.sh");
    let allow = provision
        .lines()
        .filter_map(|l| l.strip_prefix("IPAddressAllow="))
        .next_back()
        .unwrap_or_else(|| panic!("vagrant/provision/gateway.sh sets no IPAddressAllow drop-in"));
    let mut want: BTreeSet<String> = vagrant
        .subscribers
        .prefixes
        .iter()
        .map(|p| p.to_string())
        .collect();
    want.insert("localhost".into());
    assert_eq!(
        allow
            .split_whitespace()
            .map(str::to_owned)
            .collect::<BTreeSet<_>>(),
        want,
        "the Vagrant gateway's portal drop-in and vagrant/cordon.yaml's subscribers.prefixes"
    );
}

/// What systemd itself says: `verify` (with stand-ins for the binaries, which
/// verify insists exist), `security --offline` within bounds, and the
/// sysusers.d and tmpfiles.d files applied to an empty root.
#[test]
fn systemd_accepts_the_units() {
    let hint = "apt install systemd (its tools work without systemd running)";
    let dir = TempDir::new("units");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let mut copies = Vec::new();
    for name in ["cordond.service", "cordon-portal.service"] {
        let text = read(&format!("deploy/{name}"))
            .replace("/usr/local/bin/", &format!("{}/", bin.display()));
        let copy = dir.path().join(name);
        std::fs::write(&copy, text).unwrap();
        copies.push(copy);
    }
    for exe in ["cordond", "cordon-portal"] {
        let path = bin.join(exe);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // A fresh Debian root has no `man`, and `verify` runs it for every
    // `Documentation=man:` line unless told not to. A `man` that finds no
    // page, first in PATH, shows this test what that root shows.
    let no_man = dir.path().join("no-man");
    std::fs::create_dir_all(&no_man).unwrap();
    let man = no_man.join("man");
    std::fs::write(&man, "#!/bin/sh\necho \"no man here\" >&2\nexit 16\n").unwrap();
    std::fs::set_permissions(&man, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        no_man.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = run("systemd-analyze", hint, |c| {
        // --man=no: whether a man page exists is the packager's business,
        // not the units'.
        c.args(["verify", "--man=no"])
            .args(&copies)
            .env("PATH", &path);
    });
    // Warnings (unknown keys, bad values) come with exit code 0 and name the
    // unit file.
    let report = text(&out);
    assert!(
        out.status.success() && !report.contains("cordon"),
        "systemd-analyze verify:\n{report}"
    );

    // What `systemd-analyze security` (systemd 252) scores them now: what
    // is left is root, netlink and CAP_NET_ADMIN for cordond, and for both
    // the network they serve.
    for (copy, most) in copies.iter().zip([2.1, 1.2]) {
        let out = run("systemd-analyze", hint, |c| {
            c.args(["security", "--offline=yes", "--no-pager"])
                .arg(copy);
        });
        let report = text(&out);
        let level: f64 = report
            .lines()
            .find_map(|l| {
                l.split_once("Overall exposure level for ")?
                    .1
                    .split_once(": ")
            })
            .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
        assert!(
            level <= most,
            "{}: exposure {level} > {most}:\n{report}",
            copy.display()
        );
    }

    let sysroot = TempDir::new("sysroot");
    std::fs::create_dir_all(sysroot.path().join("etc")).unwrap();
    let out = run("systemd-sysusers", hint, |c| {
        c.arg(format!("--root={}", sysroot.path().display()))
            .arg(root().join("deploy/sysusers.d/cordon.conf"));
    });
    assert!(out.status.success(), "systemd-sysusers:\n{}", text(&out));
    let passwd = std::fs::read_to_string(sysroot.path().join("etc/passwd")).unwrap();
    assert!(passwd.contains("cordon-portal:"), "{passwd}");
    let out = run("systemd-tmpfiles", hint, |c| {
        c.arg(format!("--root={}", sysroot.path().display()))
            .arg("--create")
            .arg(root().join("deploy/tmpfiles.d/cordon.conf"));
    });
    assert!(out.status.success(), "systemd-tmpfiles:\n{}", text(&out));
    assert!(sysroot.path().join("var/lib/cordon/tools").is_dir());
}

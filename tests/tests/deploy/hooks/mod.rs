//! The session hooks in `deploy/hooks/`, called exactly as their servers
//! call them (arguments and environment from dnsmasq(8), Kea's run_script
//! hook and accel-ppp's pppd_compat.c), with a recording `cordon` in place
//! of the real one: the exact `cordon session` command each produces, odd
//! input refused with a message and no call, ignored actions silent.

use std::path::PathBuf;
use std::process::{Command, Output};

use cordon_lab::hooks::RecordingCordon;

use super::common::repo::{TempDir, root};

mod kea;
mod ppp;

const SOCKET: &str = "/run/test/control.sock";

pub(super) struct Hook {
    _dir: TempDir,
    cordon: RecordingCordon,
}

impl Hook {
    pub(super) fn new() -> Hook {
        let dir = TempDir::new("hooks");
        let cordon = RecordingCordon::new(dir.path()).unwrap();
        Hook { _dir: dir, cordon }
    }

    /// Runs deploy/hooks/SCRIPT with ARGS and only ENV (as accel-ppp does:
    /// an environment of the server's own), plus the settings.
    pub(super) fn run(&self, script: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let path: PathBuf = root().join("deploy/hooks").join(script);
        let mut cmd = Command::new(&path);
        cmd.args(args)
            .env_clear()
            .env(
                "PATH",
                format!(
                    "{}:/usr/local/bin:/usr/bin:/bin",
                    self.cordon.dir().display()
                ),
            )
            .env("CORDON", self.cordon.program())
            .env("CORDON_SOCKET", SOCKET)
            .env("CORDON_HOOKS_CONF", self.cordon.dir().join("hooks.conf"))
            .envs(env.iter().copied());
        cmd.output().unwrap()
    }

    pub(super) fn calls(&self) -> Vec<Vec<String>> {
        self.cordon.calls()
    }
}

/// `--socket SOCKET session` and then `rest`.
pub(super) fn session(rest: &[&str]) -> Vec<String> {
    ["--socket", SOCKET, "session"]
        .iter()
        .chain(rest)
        .map(|s| (*s).to_owned())
        .collect()
}

pub(super) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn dnsmasq_add_old_del_become_session_start_and_stop() {
    let hook = Hook::new();
    let mac = "52:54:00:12:34:56";
    for action in ["add", "old"] {
        let out = hook.run(
            "dnsmasq-dhcp-script",
            &[action, mac, "100.64.0.50", "laptop"],
            &[
                ("DNSMASQ_INTERFACE", "dl0"),
                ("DNSMASQ_TIME_REMAINING", "60"),
            ],
        );
        assert!(out.status.success(), "{action}: {}", stderr(&out));
    }
    let out = hook.run("dnsmasq-dhcp-script", &["del", mac, "100.64.0.50"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let start = session(&[
        "start",
        "--subscriber",
        mac,
        "--address",
        "100.64.0.50",
        "--source",
        "dhcp",
    ]);
    let stop = session(&[
        "stop",
        "--subscriber",
        mac,
        "--address",
        "100.64.0.50",
        "--source",
        "dhcp",
    ]);
    assert_eq!(hook.calls(), vec![start.clone(), start, stop]);
}

#[test]
fn dnsmasq_ipv6_uses_the_duid_and_circuit_id_when_asked() {
    let hook = Hook::new();
    let duid = "00:01:00:01:2c:3a:4b:5c:52:54:00:12:34:56";
    let out = hook.run(
        "dnsmasq-dhcp-script",
        &["add", duid, "2001:db8:1::50"],
        &[("DNSMASQ_IAID", "1"), ("DNSMASQ_MAC", "52:54:00:12:34:56")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let circuit = [
        ("CORDON_SUBSCRIBER_FROM", "circuit-id"),
        ("DNSMASQ_CIRCUIT_ID", "olt1 1/1/3:100"),
    ];
    let out = hook.run(
        "dnsmasq-dhcp-script",
        &["add", "52:54:00:12:34:56", "100.64.0.51"],
        &circuit,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        hook.calls(),
        vec![
            session(&[
                "start",
                "--subscriber",
                duid,
                "--address",
                "2001:db8:1::50",
                "--source",
                "dhcp"
            ]),
            session(&[
                "start",
                "--subscriber",
                "olt1 1/1/3:100",
                "--address",
                "100.64.0.51",
                "--source",
                "dhcp"
            ]),
        ]
    );
}

#[test]
fn the_settings_file_is_read_and_an_unknown_key_refused() {
    let hook = Hook::new();
    let conf = hook.cordon.dir().join("hooks.conf");
    std::fs::write(
        &conf,
        "# from the file\nCORDON_SUBSCRIBER_FROM=circuit-id\nCORDON_TIMEOUT=3\n",
    )
    .unwrap();
    let out = hook.run(
        "dnsmasq-dhcp-script",
        &["add", "52:54:00:12:34:56", "100.64.0.52"],
        &[("DNSMASQ_CIRCUIT_ID", "port7")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(hook.calls()[0][5], "port7", "{:?}", hook.calls());
    std::fs::write(&conf, "CORDON_SUBSCRIBER_FORM=circuit-id\n").unwrap();
    let out = hook.run(
        "dnsmasq-dhcp-script",
        &["add", "52:54:00:12:34:56", "100.64.0.52"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown setting 'CORDON_SUBSCRIBER_FORM'"),
        "{}",
        stderr(&out)
    );
    assert_eq!(hook.calls().len(), 1, "no call after a refused setting");
}

#[test]
fn ignored_actions_exit_0_without_a_call() {
    let hook = Hook::new();
    for args in [
        &["init"][..],
        &["tftp", "1024", "100.64.0.50", "/srv/tftp/pxelinux.0"],
        &["arp-add", "52:54:00:12:34:56", "100.64.0.50"],
        &["relay-snoop", "dl0", "fe80::1", "2001:db8:100::/56"],
    ] {
        let out = hook.run("dnsmasq-dhcp-script", args, &[]);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    for point in ["lease4_recover", "lease6_recover", "something_new"] {
        let out = hook.run(
            "kea-run-script",
            &[point],
            &[("LEASE4_ADDRESS", "100.64.0.50")],
        );
        assert!(out.status.success(), "{point}: {}", stderr(&out));
    }
    assert_eq!(hook.calls(), Vec::<Vec<String>>::new());
    assert_eq!(hook.cordon.logged(), Vec::<Vec<String>>::new());
}

/// A script, its arguments, its environment, and what its message says.
type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn odd_input_is_refused_with_a_message_and_no_call() {
    let hook = Hook::new();
    let cases: [Case; 6] = [
        (
            "dnsmasq-dhcp-script",
            &["add", "", "100.64.0.50"],
            &[],
            "is empty",
        ),
        (
            "dnsmasq-dhcp-script",
            &["add", "52:54\n:00", "100.64.0.50"],
            &[],
            "control character: '52:54?:00'",
        ),
        (
            "dnsmasq-dhcp-script",
            &["add", "52:54:00:12:34:56", "100.64.0.50; reboot"],
            &[],
            "is not an address",
        ),
        (
            "dnsmasq-dhcp-script",
            &["del", "52:54:00:12:34:56", "100.64.0.50"],
            &[("CORDON_SUBSCRIBER_FROM", "circuit-id")],
            "DNSMASQ_CIRCUIT_ID is empty",
        ),
        (
            "accel-ppp-ip-up",
            &["ppp0", "none", "0", "100.64.0.1", "100.64.0.60", "aa"],
            &[("PEERNAME", "alice\u{1b}[31m")],
            "control character: 'alice?[31m'",
        ),
        (
            "kea-run-script",
            &["lease4_renew"],
            &[("LEASE4_ADDRESS", "100.64.0.50"), ("LEASE4_HWADDR", "")],
            "LEASE4_HWADDR is empty",
        ),
    ];
    for (script, args, env, message) in cases {
        let out = hook.run(script, args, env);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{script} {args:?}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(message),
            "{script} {args:?}: {}",
            stderr(&out)
        );
        assert!(
            !stderr(&out).contains('\u{1b}'),
            "raw control character logged"
        );
    }
    let long = "x".repeat(254);
    let out = hook.run(
        "accel-ppp-ip-up",
        &["ppp0", "none", "0", "100.64.0.1", "100.64.0.60"],
        &[("PEERNAME", &long)],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(hook.calls(), Vec::<Vec<String>>::new());
    assert_eq!(
        hook.cordon.logged().len(),
        7,
        "each refusal also goes to syslog: {:?}",
        hook.cordon.logged()
    );
    assert_eq!(
        hook.cordon.logged()[0][..4],
        ["-t", "cordon", "-p", "daemon.notice"]
    );
}

#[test]
fn a_cordon_failure_is_logged_and_its_status_passed_on() {
    let hook = Hook::new();
    hook.cordon.exit_with(1).unwrap();
    let out = hook.run(
        "dnsmasq-dhcp-script",
        &["add", "52:54:00:12:34:56", "100.64.0.50"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cordon failed (status 1)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(hook.calls().len(), 1);
    assert_eq!(hook.cordon.logged().len(), 1);
}

#[test]
fn a_cordon_that_hangs_is_cut_off_at_the_timeout() {
    let hook = Hook::new();
    let slow = hook.cordon.dir().join("slow-cordon");
    std::fs::write(&slow, "#!/bin/sh\nexec sleep 30\n").unwrap();
    std::fs::set_permissions(&slow, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let started = std::time::Instant::now();
    let out = hook.run(
        "dnsmasq-dhcp-script",
        &["add", "52:54:00:12:34:56", "100.64.0.50"],
        &[("CORDON", slow.to_str().unwrap()), ("CORDON_TIMEOUT", "1")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        stderr(&out).contains("took longer than 1s"),
        "{}",
        stderr(&out)
    );
}

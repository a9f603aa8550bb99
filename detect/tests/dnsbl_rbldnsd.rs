//! The DNSBL checker against a real `rbldnsd`, in a namespace of its own.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cordon_config::{Dnsbl, DnsblZone};
use cordon_detect::dnsbl::{
    DnsblChecker, DnsblTiming, NotAsked, ServerState, build_query, interpret,
};
use cordon_testkit::{Netns, eventually};

const ZONE: &str = "xbl.lab.example";
const LIVE: &str = "127.0.0.1:5353";
/// Packets to this port are dropped by nftables: a server that never answers.
const DEAD: &str = "127.0.0.1:5399";

/// rbldnsd serving ZONE inside a namespace; killed with it on drop.
struct Rbldnsd {
    ns: Netns,
    _dir: tempfile::TempDir,
}

fn rbldnsd() -> Rbldnsd {
    let ns = Netns::new("det");
    ns.load_ruleset(
        "table inet cl_drop {\n  chain out {\n    type filter hook output priority 0; policy accept;\n    udp dport 5399 drop\n  }\n}\n",
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut v4 = std::fs::File::create(dir.path().join("xbl4")).unwrap();
    writeln!(v4, ":127.0.0.4:Listed: infected host").unwrap();
    writeln!(v4, "100.64.1.7").unwrap();
    let mut v6 = std::fs::File::create(dir.path().join("xbl6")).unwrap();
    writeln!(v6, ":127.0.0.4:Listed: infected host").unwrap();
    writeln!(v6, "2001:db8:1000:7::/64").unwrap();
    for f in ["xbl4", "xbl6"] {
        std::fs::set_permissions(dir.path().join(f), std::fs::Permissions::from_mode(0o644))
            .unwrap();
    }
    ns.spawn(
        ns.command("rbldnsd")
            .args(["-n", "-u", "rbldns", "-b", "127.0.0.1/5353", "-w"])
            .arg(dir.path())
            .args([
                format!("{ZONE}:ip4set:xbl4"),
                format!("{ZONE}:ip6trie:xbl6"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let server = Rbldnsd { ns, _dir: dir };
    wait_ready(&server.ns);
    server
}

/// Polls rbldnsd with a query until it answers (deadline 5 s).
fn wait_ready(ns: &Netns) {
    let qname = format!("7.1.64.100.{ZONE}");
    eventually(Duration::from_secs(5), "rbldnsd to answer", || {
        ns.block_on(|| async {
            let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            sock.connect(LIVE).await.unwrap();
            sock.send(&build_query(1, &qname).unwrap()).await.unwrap();
            let mut buf = [0u8; 512];
            matches!(
                tokio::time::timeout(Duration::from_millis(100), sock.recv(&mut buf)).await,
                Ok(Ok(n)) if interpret(&buf[..n], 1, &qname).is_ok()
            )
        })
    });
}

fn config(servers: &[&str]) -> Dnsbl {
    Dnsbl {
        zones: vec![DnsblZone {
            zone: ZONE.parse().unwrap(),
            weight: 2,
        }],
        interval: Duration::from_secs(3600),
        queries_per_second: 100,
        servers: servers
            .iter()
            .map(|s| s.parse::<SocketAddr>().unwrap())
            .collect(),
    }
}

fn timing() -> DnsblTiming {
    DnsblTiming {
        query_timeout: Duration::from_millis(300),
        ..DnsblTiming::default()
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Log lines captured from the checker, to count "unreachable" warnings.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .matches(needle)
            .count()
    }
}

fn capture(logs: &Logs) -> tracing::subscriber::DefaultGuard {
    let logs = logs.clone();
    tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || logs.clone())
            .with_ansi(false)
            .finish(),
    )
}

#[test]
fn listed_address_is_reported_unlisted_is_not() {
    let server = rbldnsd();
    server.ns.block_on(|| {
        Box::pin(async {
            let checker = DnsblChecker::new(&config(&[LIVE]), timing()).unwrap();
            let out = checker.check(ip("100.64.1.7")).await;
            assert_eq!(out.not_asked, vec![]);
            assert_eq!(out.reports.len(), 1);
            let r = &out.reports[0];
            assert_eq!(r.source, ZONE);
            assert_eq!(r.weight, 2);
            assert_eq!(r.address, ip("100.64.1.7"));
            assert!(r.evidence.contains("127.0.0.4"), "{}", r.evidence);

            let out = checker.check(ip("100.64.1.8")).await;
            assert_eq!(out.reports, vec![]);
            assert_eq!(out.not_asked, vec![]);

            let out = checker.check(ip("2001:db8:1000:7::5")).await;
            assert_eq!(out.reports.len(), 1, "{out:?}");

            // Asked within the interval: not asked again.
            let out = checker.check(ip("100.64.1.7")).await;
            assert_eq!(out.reports, vec![]);
            assert_eq!(out.not_asked, vec![(ZONE.to_owned(), NotAsked::Cached)]);
        })
    });
}

#[test]
fn unreachable_server_delays_nothing_else_and_is_logged_once() {
    let server = rbldnsd();
    server.ns.block_on(|| {
        Box::pin(async {
            let logs = Logs::default();
            let _guard = capture(&logs);
            let checker = DnsblChecker::new(&config(&[DEAD, LIVE]), timing()).unwrap();
            // The first query finds the dead server (one timeout), then asks the live one.
            let out = checker.check(ip("100.64.1.7")).await;
            assert_eq!(out.reports.len(), 1, "{out:?}");
            assert!(matches!(
                checker.server_states()[0].1,
                ServerState::Down { .. }
            ));
            // From now on the dead server is skipped: every check is quick.
            for last in 1..=20u8 {
                let started = Instant::now();
                let out = checker.check(ip(&format!("100.64.2.{last}"))).await;
                assert_eq!(out.not_asked, vec![], "{out:?}");
                assert!(
                    started.elapsed() < Duration::from_millis(150),
                    "{:?}",
                    started.elapsed()
                );
            }
            assert_eq!(logs.count("DNSBL server unreachable"), 1);
        })
    });
}

#[test]
fn only_server_unreachable_returns_in_time_with_nothing() {
    let server = rbldnsd();
    server.ns.block_on(|| {
        Box::pin(async {
            let logs = Logs::default();
            let _guard = capture(&logs);
            let checker = DnsblChecker::new(&config(&[DEAD]), timing()).unwrap();
            let started = Instant::now();
            let out = checker.check(ip("100.64.1.7")).await;
            assert!(
                started.elapsed() < Duration::from_millis(600),
                "{:?}",
                started.elapsed()
            );
            assert_eq!(out.reports, vec![]);
            assert_eq!(out.not_asked, vec![(ZONE.to_owned(), NotAsked::NoAnswer)]);
            // Down and not due for a retry: answered at once, not asked.
            for _ in 0..10 {
                let started = Instant::now();
                let out = checker.check(ip("100.64.1.7")).await;
                assert!(started.elapsed() < Duration::from_millis(50));
                assert_eq!(out.not_asked, vec![(ZONE.to_owned(), NotAsked::NoServer)]);
            }
            assert_eq!(logs.count("DNSBL server unreachable"), 1);
        })
    });
}

#[test]
fn query_budget_is_enforced() {
    let server = rbldnsd();
    server.ns.block_on(|| {
        Box::pin(async {
            let mut cfg = config(&[LIVE]);
            cfg.queries_per_second = 5;
            let checker = DnsblChecker::new(
                &cfg,
                DnsblTiming {
                    max_budget_wait: Duration::ZERO,
                    ..timing()
                },
            )
            .unwrap();
            let mut over = 0;
            for last in 1..=20u8 {
                let out = checker.check(ip(&format!("100.64.3.{last}"))).await;
                if out.not_asked == vec![(ZONE.to_owned(), NotAsked::OverBudget)] {
                    over += 1;
                }
            }
            assert!(over >= 14, "only {over} of 20 refused with a budget of 5/s");
        })
    });
}

//! The NFLOG subscriber against the real kernel, in a namespace of its own.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use cordon_detect::nflog::{NflogConfig, NflogEvent, NflogSubscriber, SignalKind};
use cordon_testkit::Netns;

const GROUP: u16 = 7107;

fn ruleset() -> String {
    format!(
        r#"table inet cl_detect {{
    chain out {{
        type filter hook output priority 0; policy accept;
        tcp dport 25 tcp flags syn log group {GROUP} prefix "cordon smtp_attempts " snaplen 80 queue-threshold 1
    }}
}}
"#
    )
}

async fn crossing_from(target: SocketAddr) -> (IpAddr, SignalKind, Duration) {
    let mut sub = NflogSubscriber::open(NflogConfig::new(GROUP))
        .await
        .unwrap();
    let started = Instant::now();
    // Nothing listens on port 25: the SYN is logged on output, then refused.
    let _ = tokio::time::timeout(
        Duration::from_millis(500),
        tokio::net::TcpStream::connect(target),
    )
    .await;
    let event = tokio::time::timeout(Duration::from_secs(1), sub.next())
        .await
        .expect("no NFLOG event within 1 s")
        .expect("NFLOG connection closed");
    let NflogEvent::Crossing(c) = event else {
        panic!("expected a crossing, got {event:?}")
    };
    (c.source, c.signal, started.elapsed())
}

#[test]
fn crossing_arrives_within_a_second_ipv4() {
    let ns = Netns::new("det");
    ns.exec("ip", &["addr", "add", "100.64.1.7/32", "dev", "lo"]);
    ns.load_ruleset(&ruleset());
    let (source, signal, took) =
        ns.block_on(|| Box::pin(crossing_from("100.64.1.7:25".parse().unwrap())));
    assert_eq!(signal, SignalKind::SmtpAttempts);
    assert_eq!(source, "100.64.1.7".parse::<IpAddr>().unwrap());
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[test]
fn crossing_arrives_within_a_second_ipv6() {
    let ns = Netns::new("det");
    ns.load_ruleset(&ruleset());
    let (source, signal, _) = ns.block_on(|| Box::pin(crossing_from("[::1]:25".parse().unwrap())));
    assert_eq!(signal, SignalKind::SmtpAttempts);
    assert_eq!(source, "::1".parse::<IpAddr>().unwrap());
}

#[test]
fn second_subscriber_on_the_same_group_is_refused() {
    let ns = Netns::new("det");
    let err = ns.block_on(|| {
        Box::pin(async {
            let _first = NflogSubscriber::open(NflogConfig::new(GROUP))
                .await
                .unwrap();
            NflogSubscriber::open(NflogConfig::new(GROUP)).await.err()
        })
    });
    let err = err.expect("binding a bound group must fail");
    assert!(err.to_string().contains("7107"), "{err}");
}

#[test]
fn overflow_yields_resync_and_keeps_going() {
    let ns = Netns::new("det");
    ns.load_ruleset(&ruleset());
    let (resyncs, later) = ns.block_on(|| {
        Box::pin(async {
            let config = NflogConfig {
                receive_buffer: 0, // the kernel's minimum: overflows after a few messages
                ..NflogConfig::new(GROUP)
            };
            let mut sub = NflogSubscriber::open(config).await.unwrap();
            // Blocking connects on this (only) runtime thread: the connection
            // task cannot drain the socket meanwhile, so it overflows.
            for _ in 0..200 {
                let _ = std::net::TcpStream::connect("127.0.0.1:25");
            }
            let mut resyncs = 0;
            while let Ok(Some(ev)) =
                tokio::time::timeout(Duration::from_millis(200), sub.next()).await
            {
                if ev == NflogEvent::Resync {
                    resyncs += 1;
                }
            }
            // Still working after the overflow.
            let _ = std::net::TcpStream::connect("127.0.0.1:25");
            let later = tokio::time::timeout(Duration::from_secs(1), sub.next())
                .await
                .ok()
                .flatten();
            (resyncs, later)
        })
    });
    assert!(resyncs >= 1, "no Resync after overflowing the socket");
    assert!(
        matches!(later, Some(NflogEvent::Crossing(_))),
        "no crossing after the resync: {later:?}"
    );
}

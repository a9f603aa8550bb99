//! The portal's Prometheus metrics: served on `portal.metrics_listen` only,
//! counting refusals at the caps by reason, open connections and answers.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use common::{Portal, Setup, curl};
use cordon_testkit::eventually;

/// The value of one sample line (`name{labels} value`) in `text`.
fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn scrape(p: &Portal) -> String {
    let a = curl(&[&format!("http://{}/metrics", p.metrics.unwrap())]);
    assert_eq!(a.status, 200, "{}", a.text());
    a.text()
}

const SUBSCRIBER: &str = "cordon_portal_connections_refused_total{reason=\"subscriber\"}";

#[test]
fn refusals_at_the_subscriber_cap_are_counted_by_reason() {
    let p = Portal::start(Setup::default());
    let before = scrape(&p);
    assert_eq!(sample(&before, SUBSCRIBER), Some(0), "{before}");

    // Subscribers cannot read the metrics on the portal's own port.
    let public = curl(&[&p.url("/metrics")]);
    assert_eq!(public.status, 404, "{}", public.text());
    assert!(
        !public.text().contains("cordon_portal"),
        "{}",
        public.text()
    );
    eventually(Duration::from_secs(5), "the 404 counted", || {
        sample(&scrape(&p), "cordon_portal_responses_total{class=\"4xx\"}") == Some(1)
    });

    // One subscriber (127.0.0.1) opens more idle connections than its cap
    // (64, or less under a small descriptor limit): the portal keeps the cap
    // and closes the rest unanswered.
    const OPENED: u64 = 80;
    let mut held: Vec<TcpStream> = (0..OPENED)
        .map(|_| TcpStream::connect(p.portal).unwrap())
        .collect();
    let mut last = String::new();
    eventually(
        Duration::from_secs(8),
        "open + refused to account for every connection",
        || {
            last = scrape(&p);
            let open = sample(&last, "cordon_portal_connections").unwrap();
            let refused = sample(&last, SUBSCRIBER).unwrap();
            open + refused == OPENED
        },
    );
    let refused = sample(&last, SUBSCRIBER).unwrap();
    assert!((1..OPENED).contains(&refused), "{last}");
    for other in ["full", "reserve"] {
        let series = format!("cordon_portal_connections_refused_total{{reason=\"{other}\"}}");
        assert_eq!(sample(&last, &series), Some(0), "{last}");
    }
    assert!(
        !last.contains("127.0.0.1"),
        "no addresses in labels: {last}"
    );

    // A refused connection is closed, not served: the last one reads EOF.
    let last_conn = held.last_mut().unwrap();
    last_conn
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(last_conn.read(&mut buf).unwrap_or(0), 0);

    // Freed slots show in the gauge.
    drop(held);
    eventually(Duration::from_secs(5), "the gauge to fall to 0", || {
        sample(&scrape(&p), "cordon_portal_connections") == Some(0)
    });
}

#[test]
fn metrics_can_be_turned_off() {
    let p = Portal::start(Setup {
        portal: vec![("metrics_listen", "null".into())],
        ..Setup::default()
    });
    assert_eq!(p.metrics, None);
    assert!(!p.log().contains("metrics listening"), "{}", p.log());
    assert_eq!(curl(&[&p.url("/metrics")]).status, 404);
}

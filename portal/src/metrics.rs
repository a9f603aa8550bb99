//! The portal's Prometheus metrics, served on `portal.metrics_listen` (never
//! on a subscriber-facing listener) by the endpoint `cordond` uses too,
//! `cordon_runtime::metrics`: connections open now, connections refused at
//! the caps by reason, answers by status class. No label carries an address:
//! addresses are personal data, and one label value each would grow without
//! bound.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::connlimit::ConnLimiter;
use crate::cordond::Waits;

/// Label of a refusal.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    /// `full`, `subscriber` or `reserve` (see [`crate::connlimit::Full`]).
    reason: &'static str,
}

/// Label of an answer.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    /// `1xx` .. `5xx`.
    class: &'static str,
}

/// The status classes, in order.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Reads the connection counts from the limiter at each scrape, so that
/// they are counted once, where the caps are decided.
#[derive(Debug)]
struct Connections(Arc<ConnLimiter>);

impl Collector for Connections {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let open = ConstGauge::new(i64::try_from(self.0.open()).unwrap_or(i64::MAX));
        open.encode(encoder.encode_descriptor(
            "connections",
            "Connections open now, on all subscriber-facing listeners",
            None,
            open.metric_type(),
        )?)?;
        let r = self.0.refusals();
        let mut refused = encoder.encode_descriptor(
            "connections_refused",
            "Connections closed unanswered at the caps: full (no slot left), \
             subscriber (its own cap), reserve (only the reserve left, and it held its share)",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (reason, n) in [
            ("full", r.total),
            ("subscriber", r.subscriber),
            ("reserve", r.reserve),
        ] {
            ConstCounter::new(n).encode(refused.encode_family(&ReasonLabel { reason })?)?;
        }
        Ok(())
    }
}

/// Every metric the portal exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// The answers' counters by status class (`1xx` first), looked up once:
    /// a lookup in the family per answer took a lock every runtime shares.
    responses: [Counter; 5],
    limiter: Arc<ConnLimiter>,
}

impl Metrics {
    /// Registers the metrics; the connection counts come from `limiter`,
    /// the waits for `cordond` from its client.
    pub fn new(limiter: Arc<ConnLimiter>, waits: Waits) -> Metrics {
        let mut registry = Registry::with_prefix("cordon_portal");
        registry.register_collector(Box::new(Connections(Arc::clone(&limiter))));
        let responses = Family::<StatusLabel, Counter>::default();
        registry.register(
            "responses",
            "Answers sent on subscriber-facing listeners, by status class",
            responses.clone(),
        );
        let responses =
            CLASSES.map(|class| responses.get_or_create(&StatusLabel { class }).clone());
        registry.register(
            "cordond_wait_seconds",
            "How long a page, probe or button waited for cordond's answer (a free slot included)",
            waits.answered,
        );
        registry.register(
            "cordond_failures",
            "Questions to cordond that got no answer (none in time, cannot connect); their pages showed general advice",
            waits.failed,
        );
        Metrics {
            registry,
            responses,
            limiter,
        }
    }

    /// The caps whose counts these metrics show.
    pub fn limiter(&self) -> &Arc<ConnLimiter> {
        &self.limiter
    }

    /// Counts one answer.
    pub fn response(&self, status: http::StatusCode) {
        let class = usize::from(status.as_u16() / 100).clamp(1, CLASSES.len()) - 1;
        self.responses[class].inc();
    }

    /// The exposition text.
    pub fn encode(&self) -> String {
        cordon_runtime::metrics::encode(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn counts_are_encoded_by_reason_and_class_without_addresses() {
        let limiter = ConnLimiter::new(3, 1, 64);
        let waits = Waits::default();
        let m = Metrics::new(Arc::clone(&limiter), waits.clone());
        waits.answered.observe(0.000_3);
        waits.failed.inc();
        let a: IpAddr = "100.64.0.1".parse().unwrap();
        let _held = limiter.try_acquire(a).unwrap();
        assert!(limiter.try_acquire(a).is_err());
        assert!(limiter.try_acquire(a).is_err());
        m.response(http::StatusCode::OK);
        m.response(http::StatusCode::FOUND);
        m.response(http::StatusCode::NOT_FOUND);
        m.response(http::StatusCode::NOT_FOUND);
        m.response(http::StatusCode::SERVICE_UNAVAILABLE);
        m.response(http::StatusCode::from_u16(999).unwrap());
        let text = m.encode();
        for line in [
            "# TYPE cordon_portal_connections gauge",
            "cordon_portal_connections 1",
            "# TYPE cordon_portal_connections_refused counter",
            "cordon_portal_connections_refused_total{reason=\"full\"} 0",
            "cordon_portal_connections_refused_total{reason=\"subscriber\"} 2",
            "cordon_portal_connections_refused_total{reason=\"reserve\"} 0",
            "cordon_portal_responses_total{class=\"2xx\"} 1",
            "cordon_portal_responses_total{class=\"3xx\"} 1",
            "cordon_portal_responses_total{class=\"4xx\"} 2",
            "cordon_portal_responses_total{class=\"5xx\"} 2",
            // Every class is there from the start, at 0 until answered.
            "cordon_portal_responses_total{class=\"1xx\"} 0",
            "# TYPE cordon_portal_cordond_wait_seconds histogram",
            "cordon_portal_cordond_wait_seconds_count 1",
            "cordon_portal_cordond_wait_seconds_bucket{le=\"0.0004\"} 1",
            "cordon_portal_cordond_wait_seconds_bucket{le=\"0.0002\"} 0",
            "cordon_portal_cordond_failures_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(!text.contains("100.64"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}

//! Prometheus metrics, encoded by `prometheus-client` and served on
//! `metrics.listen` (loopback by default) by the server the portal shares,
//! `cordon_runtime::metrics`: hosts per state,
//! transitions by reason, rule-change latency, store write latency,
//! detections by signal and action, detection latency (threshold crossing to
//! enforced), outside reports, relay-limit hits, repairs of the table
//! after someone changed it, and whether the store answers (with the
//! batches its outbox holds meanwhile).

use cordon_policy::Actor;
use cordon_proto::portal::HostState;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Label: a state name.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// `quarantined`, `probation`, `clean`.
    pub state: String,
}

/// Labels of a transition.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransitionLabels {
    /// The state entered.
    pub to: String,
    /// Who moved it: `operator`, `self`, `cordond` (timers), `detection`, `report`.
    pub by: String,
}

/// Labels of a detection.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DetectionLabels {
    /// `smtp_attempts`, `smtp_destinations`, `reports`.
    pub signal: String,
    /// `observe`, `notice`, `enforce`.
    pub action: String,
}

/// Label of an outside report.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReportLabels {
    /// `true` when it added to a score; `false` for duplicates, refused or
    /// too old ones.
    pub counted: String,
}

/// Label of a DNSBL check.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DnsblLabels {
    /// `listed`, `not_listed`, or `not_asked` (cached, over budget, no
    /// server answered).
    pub result: String,
}

/// Label of a repair of the table.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RepairLabels {
    /// `repaired`, or `failed` (the table still differs; `cordon status`
    /// says how).
    pub result: String,
}

/// Label of a RADIUS accounting request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RadiusLabels {
    /// `applied` (answered once in force), `replayed` (a retransmission,
    /// answered again), `refused` (unknown client, wrong secret,
    /// malformed: no answer), `failed` (not applied: no answer, the client
    /// retries).
    pub result: String,
}

/// Label of a message from the abuse Maildir.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MaildirMessageLabels {
    /// `imported` (moved to `cur/`) or `failed` (moved to `failed/`).
    pub result: String,
}

/// Label of a report read from the abuse Maildir.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MaildirReportLabels {
    /// `counted`, `duplicate`, `too_old`, `weighs_nothing`, or `refused`
    /// (cordond's checks refused it: not a subscriber, bad fields).
    pub outcome: String,
}

/// Label of a webhook's events.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HookLabels {
    /// The hook's URL.
    pub hook: String,
}

/// Labels of a webhook delivery that failed.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HookFailureLabels {
    /// The hook's URL.
    pub hook: String,
    /// `status` (an answer other than 2xx), `error` (no answer: refused,
    /// TLS, timeout), `expired` (older than `max_age`, dropped), `dropped`
    /// (beyond `max_queued`, dropped).
    pub why: String,
}

/// Every metric `cordond` exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Hosts per state.
    pub hosts: Family<StateLabel, Gauge>,
    /// Transitions by target state and cause.
    pub transitions: Family<TransitionLabels, Counter>,
    /// Seconds one batch of set changes took in the kernel.
    pub rule_change: Histogram,
    /// Seconds from queuing a store write to its commit.
    pub store_write: Histogram,
    /// Seconds one batch's conntrack flush took (a dump of the machine's
    /// table and the deletions), which a batch waits for before answering.
    pub conntrack_flush: Histogram,
    /// Detection signals that fired, by signal and configured action.
    pub detections: Family<DetectionLabels, Counter>,
    /// Seconds from the kernel's threshold-crossing event to the quarantine
    /// being in force in the kernel.
    pub detection_latency: Histogram,
    /// Outside reports taken.
    pub reports: Family<ReportLabels, Counter>,
    /// New relay connections refused by the per-subscriber relay limit.
    pub relay_limit_hits: Counter,
    /// DNS block-list checks of one address, by result.
    pub dnsbl_checks: Family<DnsblLabels, Counter>,
    /// Times the live table was found changed outside cordond and
    /// reinstalled, by result.
    pub table_repairs: Family<RepairLabels, Counter>,
    /// Lines of session history written (a subscriber began or stopped
    /// holding an address).
    pub session_changes: Counter,
    /// RADIUS accounting requests, by result.
    pub radius_requests: Family<RadiusLabels, Counter>,
    /// Batches of decisions waiting in the outbox for the store (a server
    /// store that cannot be reached; see `store::outbox`).
    pub store_outbox_batches: Gauge,
    /// 1 while the store answers, 0 while it cannot be reached. A local
    /// SQLite store always answers: it is 1 unless an outbox says otherwise.
    pub store_reachable: Gauge,
    /// Batches of decisions the store refused for their data, kept aside
    /// in the outbox file for the operator (see `store::outbox`).
    pub store_outbox_refused: Gauge,
    /// Messages taken from the abuse Maildir, by where they went.
    pub maildir_messages: Family<MaildirMessageLabels, Counter>,
    /// Reports read from the abuse Maildir's messages, by outcome.
    pub maildir_reports: Family<MaildirReportLabels, Counter>,
    /// Events a webhook acknowledged (2xx), per hook.
    pub webhooks_sent: Family<HookLabels, Counter>,
    /// Webhook attempts that failed and events given up, per hook and why.
    pub webhooks_failed: Family<HookFailureLabels, Counter>,
    /// Events waiting for each hook.
    pub webhooks_queued: Family<HookLabels, Gauge>,
    /// The alarm: 1 while a hook's queue is at its `max_queued` (the
    /// oldest events are being dropped), else 0.
    pub webhooks_queue_full: Family<HookLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("cordon");
        let hosts = Family::<StateLabel, Gauge>::default();
        let transitions = Family::<TransitionLabels, Counter>::default();
        // 0.5 ms .. ~16 s: an nft call takes milliseconds, a big batch longer.
        let rule_change = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let store_write = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register("hosts", "Subscriber addresses per state", hosts.clone());
        registry.register(
            "transitions",
            "State transitions by target state and cause",
            transitions.clone(),
        );
        registry.register(
            "rule_change_seconds",
            "Time to apply one batch of quarantine set changes in the kernel",
            rule_change.clone(),
        );
        registry.register(
            "store_write_seconds",
            "Time from queuing a store write to its durable commit",
            store_write.clone(),
        );
        let conntrack_flush = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "conntrack_flush_seconds",
            "Time to delete one batch's hosts' conntrack entries",
            conntrack_flush.clone(),
        );
        let detections = Family::<DetectionLabels, Counter>::default();
        registry.register(
            "detections",
            "Detection signals that fired, by signal and configured action",
            detections.clone(),
        );
        // 1 ms .. ~65 s: the target is well under a second.
        let detection_latency = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        registry.register(
            "detection_latency_seconds",
            "Time from the kernel's threshold-crossing event to the quarantine in force",
            detection_latency.clone(),
        );
        let reports = Family::<ReportLabels, Counter>::default();
        registry.register(
            "reports",
            "Outside reports taken (abuse desk, feeds, block lists)",
            reports.clone(),
        );
        let relay_limit_hits = Counter::default();
        registry.register(
            "relay_limit_hits",
            "New connections to the ISP's relays refused by the per-subscriber limit",
            relay_limit_hits.clone(),
        );
        let dnsbl_checks = Family::<DnsblLabels, Counter>::default();
        registry.register(
            "dnsbl_checks",
            "DNS block-list checks of one address, by result",
            dnsbl_checks.clone(),
        );
        let table_repairs = Family::<RepairLabels, Counter>::default();
        registry.register(
            "table_repairs",
            "Times the table was found changed outside cordond and reinstalled, by result",
            table_repairs.clone(),
        );
        let session_changes = Counter::default();
        registry.register(
            "session_changes",
            "Session history lines written: a subscriber began or stopped holding an address",
            session_changes.clone(),
        );
        let radius_requests = Family::<RadiusLabels, Counter>::default();
        registry.register(
            "radius_requests",
            "RADIUS accounting requests, by result",
            radius_requests.clone(),
        );
        let store_outbox_batches = Gauge::default();
        registry.register(
            "store_outbox_batches",
            "Batches of decisions queued in the local outbox while the store cannot be reached",
            store_outbox_batches.clone(),
        );
        let store_reachable = Gauge::default();
        store_reachable.set(1);
        registry.register(
            "store_reachable",
            "1 while the store answers, 0 while it cannot be reached (decisions then queue in the outbox)",
            store_reachable.clone(),
        );
        let store_outbox_refused = Gauge::default();
        registry.register(
            "store_outbox_refused",
            "Batches of queued decisions the store refused for their data, kept aside in the outbox file's `refused` table for the operator",
            store_outbox_refused.clone(),
        );
        let maildir_messages = Family::<MaildirMessageLabels, Counter>::default();
        registry.register(
            "maildir_messages",
            "Messages taken from the abuse Maildir: imported (moved to cur/) or failed (moved to failed/)",
            maildir_messages.clone(),
        );
        let maildir_reports = Family::<MaildirReportLabels, Counter>::default();
        registry.register(
            "maildir_reports",
            "Reports read from the abuse Maildir, by outcome: counted, duplicate, too_old, weighs_nothing, refused",
            maildir_reports.clone(),
        );
        let webhooks_sent = Family::<HookLabels, Counter>::default();
        registry.register(
            "webhooks_sent",
            "Events a webhook acknowledged with a 2xx",
            webhooks_sent.clone(),
        );
        let webhooks_failed = Family::<HookFailureLabels, Counter>::default();
        registry.register(
            "webhooks_failed",
            "Webhook attempts that failed (status, error) and events given up (expired, dropped)",
            webhooks_failed.clone(),
        );
        let webhooks_queued = Family::<HookLabels, Gauge>::default();
        registry.register(
            "webhooks_queued",
            "Events waiting for a webhook",
            webhooks_queued.clone(),
        );
        let webhooks_queue_full = Family::<HookLabels, Gauge>::default();
        registry.register(
            "webhooks_queue_full",
            "1 while a webhook's queue is at its max_queued and the oldest events are dropped",
            webhooks_queue_full.clone(),
        );
        Metrics {
            webhooks_sent,
            webhooks_failed,
            webhooks_queued,
            webhooks_queue_full,
            store_outbox_batches,
            store_reachable,
            store_outbox_refused,
            maildir_messages,
            maildir_reports,
            session_changes,
            radius_requests,
            table_repairs,
            dnsbl_checks,
            registry,
            hosts,
            transitions,
            rule_change,
            store_write,
            conntrack_flush,
            detections,
            detection_latency,
            reports,
            relay_limit_hits,
        }
    }

    /// Counts a webhook's failure or an event given up.
    pub fn webhook_failed(&self, hook: &str, why: &'static str, n: u64) {
        self.webhooks_failed
            .get_or_create(&HookFailureLabels {
                hook: hook.into(),
                why: why.into(),
            })
            .inc_by(n);
    }

    /// Counts one transition.
    pub fn transition(&self, to: HostState, actor: &Actor) {
        let (to, by) = (to.as_str(), actor.label());
        self.transitions
            .get_or_create(&TransitionLabels {
                to: to.into(),
                by: by.into(),
            })
            .inc();
    }

    /// Counts one detection.
    pub fn detection(&self, signal: &str, action: &str) {
        self.detections
            .get_or_create(&DetectionLabels {
                signal: signal.into(),
                action: action.into(),
            })
            .inc();
    }

    /// Counts one DNSBL check.
    pub fn dnsbl_check(&self, result: &str) {
        self.dnsbl_checks
            .get_or_create(&DnsblLabels {
                result: result.into(),
            })
            .inc();
    }

    /// Counts one repair of the table.
    pub fn table_repair(&self, repaired: bool) {
        self.table_repairs
            .get_or_create(&RepairLabels {
                result: if repaired { "repaired" } else { "failed" }.into(),
            })
            .inc();
    }

    /// Counts session history lines written.
    pub fn session_changes(&self, n: usize) {
        self.session_changes
            .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    /// Counts one RADIUS accounting request by result.
    pub fn radius(&self, result: &'static str) {
        self.radius_requests
            .get_or_create(&RadiusLabels {
                result: result.into(),
            })
            .inc();
    }

    /// Counts one outside report.
    pub fn report(&self, counted: bool) {
        self.reports
            .get_or_create(&ReportLabels {
                counted: counted.to_string(),
            })
            .inc();
    }

    /// Counts one message taken from the abuse Maildir.
    pub fn maildir_message(&self, imported: bool) {
        self.maildir_messages
            .get_or_create(&MaildirMessageLabels {
                result: if imported { "imported" } else { "failed" }.into(),
            })
            .inc();
    }

    /// Counts reports read from the abuse Maildir with one outcome.
    pub fn maildir_reports(&self, outcome: &str, n: usize) {
        if n > 0 {
            self.maildir_reports
                .get_or_create(&MaildirReportLabels {
                    outcome: outcome.into(),
                })
                .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
        }
    }

    /// Sets the per-state gauges.
    pub fn set_hosts(&self, t: cordon_policy::lifecycle::Tally) {
        for (state, n) in [
            ("quarantined", t.quarantined),
            ("noticed", t.noticed),
            ("probation", t.probation),
        ] {
            self.hosts
                .get_or_create(&StateLabel {
                    state: state.into(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Records a duration in a histogram.
    pub fn observe(h: &Histogram, d: Duration) {
        h.observe(d.as_secs_f64());
    }

    /// The exposition text.
    pub fn encode(&self) -> String {
        cordon_runtime::metrics::encode(&self.registry)
    }
}

/// Serves `GET /metrics` until cancelled (the server both daemons share).
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, cancel: CancellationToken) {
    let encode = Arc::new(move || metrics.encode());
    cordon_runtime::metrics::serve(listener, encode, cancel).await;
}

/// Binds the metrics address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

//! Detection's decisions through a real core (SQLite in a temporary
//! directory) over the in-memory kernel: enforce quarantines with the
//! kernel's counts as evidence, observe only remembers a suspect, allowed
//! senders and never-quarantine addresses are left alone, a host on
//! probation relapses, reports quarantine at the score and the ledger
//! survives a restart. Also where a batch is seen to flush conntrack once.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cordon_config::{Config, SubscriberAddr};
use cordon_detect::Report;
use cordon_detect::nflog::{Crossing, SignalKind};
use cordon_proto::portal::{HostState, Reason};
use cordon_rules::SmtpSeen;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::*;
use crate::core::{Built, Core, CoreHandle};
use crate::kernel::FakeKernel;
use crate::store::Store;
use cordon_policy::Incoming;
use cordon_policy::lifecycle::{Event, QuarantineRequest, State};

fn config(attempts: &str, reports: &str) -> Config {
    cordon_config::load_str(
        &format!(
            r#"
subscribers: {{ prefixes: [100.64.0.0/16, "2001:db8::/32"] }}
interfaces: {{ downlink: [sub0], uplink: [up0] }}
never_quarantine: [100.64.0.1]
port25: {{ allowed_senders: [100.64.3.2] }}
walled_garden: {{ resolvers: [192.0.2.53] }}
portal: {{ public_url: "http://portal.test/" }}
detection:
  smtp_attempts: {{ threshold: 20, window: 10s, action: {attempts} }}
  reports: {{ score: 3, window: 7d, action: {reports} }}
quarantine: {{ min_hold: 30m, quiet_period: 2h }}
"#
        ),
        Path::new("test.yaml"),
    )
    .unwrap()
}

pub(super) struct Rig {
    /// The core's and the detector's clock: the system's, moved ahead by
    /// hand where a test needs time to pass (the ladder counts one
    /// crossing per `ALERT_REPEAT`).
    pub(super) clock: Arc<Ahead>,
    pub(super) detector: Detector,
    pub(super) kernel: Arc<FakeKernel>,
    pub(super) core: CoreHandle,
    pub(super) cancel: CancellationToken,
    pub(super) config: Arc<Config>,
    pub(super) db: std::path::PathBuf,
    _dir: Option<tempfile::TempDir>,
}

/// The system clock, plus whatever a test skipped.
#[derive(Debug, Default)]
pub(super) struct Ahead(std::sync::atomic::AtomicI64);

impl cordon_proto::time::Clock for Ahead {
    fn now(&self) -> cordon_proto::time::Unix {
        cordon_proto::time::SystemClock.now() + self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Ahead {
    /// Moves the clock `by` ahead.
    pub(super) fn skip(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap();
        self.0.fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn rig_in(dir: &Path, config: Config) -> Rig {
    let config = Arc::new(config);
    let db = dir.join("c.db");
    let (store, loaded) = Store::open(&db).unwrap();
    let kernel = Arc::new(FakeKernel::default());
    let metrics = Arc::new(Metrics::new());
    let enforcer: Arc<dyn Enforcer> = kernel.clone();
    let clock = Arc::new(Ahead::default());
    let Built {
        mut core,
        config: rx,
        ..
    } = Core::builder(config.clone(), store)
        .kernel(enforcer.clone())
        .metrics(metrics.clone())
        .clock(clock.clone())
        .build(loaded);
    core.install().await.unwrap();
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let core = crate::core::spawn(core, Duration::from_secs(3600), cancel.clone(), &tracker);
    Rig {
        clock: clock.clone(),
        detector: Detector {
            core: core.clone(),
            kernel: enforcer,
            metrics,
            config: rx,
            dnsbl: None,
            clock,
        },
        kernel,
        core,
        cancel,
        config,
        db,
        _dir: None,
    }
}

pub(super) async fn rig(attempts: &str, reports: &str) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let mut r = rig_in(dir.path(), config(attempts, reports)).await;
    r._dir = Some(dir);
    r
}

pub(super) fn crossing(source: &str) -> Crossing {
    Crossing {
        signal: SignalKind::SmtpAttempts,
        source: source.parse().unwrap(),
        observed_at: SystemTime::now(),
    }
}

impl Rig {
    pub(super) fn unit(&self, text: &str) -> SubscriberAddr {
        self.config.subscriber_addr(text).unwrap()
    }

    fn in_kernel(&self, text: &str) -> bool {
        let net = self.unit(text).net();
        self.kernel.state.lock().quarantined.contains(&net)
    }

    pub(super) fn seen(&self, key: &str, attempts: u64) {
        let key: IpAddr = key.parse().unwrap();
        self.kernel.state.lock().smtp.insert(
            key,
            SmtpSeen {
                key,
                expires: Duration::from_secs(7000),
                attempts,
            },
        );
    }

    pub(super) async fn state(&self, text: &str) -> Option<State> {
        self.core
            .view(self.unit(text))
            .await
            .unwrap()
            .host
            .map(|h| h.state)
    }

    async fn report(
        &self,
        addr: &str,
        source: &str,
        id: Option<&str>,
    ) -> Vec<cordon_proto::control::ReportOutcome> {
        let address: IpAddr = addr.parse().unwrap();
        let incoming = Incoming {
            unit: self.unit(addr),
            holder: None,
            report: Report {
                address,
                at: SystemTime::now() - Duration::from_secs(60),
                source: source.into(),
                kind: cordon_policy::ReportKind::Other,
                evidence: "spam complaint".into(),
                message_id: id.map(String::from),
                weight: 1,
            },
            actor: cordon_policy::Actor::Operator("abuse".into()),
        };
        self.core.report(vec![incoming]).await.unwrap()
    }
}

#[tokio::test]
async fn enforce_quarantines_with_the_kernel_count_as_evidence() {
    let r = rig("enforce", "enforce").await;
    r.seen("100.64.1.2", 31);
    let outcome = r.detector.handle_crossing(crossing("100.64.1.2")).await;
    assert!(
        matches!(outcome, CrossingOutcome::Quarantined(..)),
        "{outcome:?}"
    );
    assert!(r.in_kernel("100.64.1.2"));
    let Some(State::Quarantined(q)) = r.state("100.64.1.2").await else {
        panic!("not quarantined")
    };
    assert_eq!(q.reason, Reason::Detection);
    assert_eq!(q.actor, "detection");
    assert_eq!(q.note, "smtp_attempts over 20 in 10s");
    assert_eq!(q.evidence["smtp_attempts"], 31);
    let text = r.detector.metrics.encode();
    assert!(
        text.contains("cordon_detection_latency_seconds_count 1"),
        "{text}"
    );
    assert!(
        text.contains(r#"cordon_detections_total{signal="smtp_attempts",action="enforce"} 1"#),
        "{text}"
    );
    // Crossing again while quarantined changes nothing.
    let again = r.detector.handle_crossing(crossing("100.64.1.2")).await;
    assert!(
        matches!(again, CrossingOutcome::AlreadyQuarantined(_)),
        "{again:?}"
    );
}

#[tokio::test]
async fn ipv6_crossings_quarantine_the_prefix() {
    let r = rig("enforce", "enforce").await;
    r.detector
        .handle_crossing(crossing("2001:db8:100:1::2"))
        .await;
    assert!(r.in_kernel("2001:db8:100:1::/64"));
}

#[tokio::test]
async fn observe_remembers_a_suspect_and_quarantines_nobody() {
    let r = rig("observe", "enforce").await;
    let outcome = r.detector.handle_crossing(crossing("100.64.1.2")).await;
    assert!(
        matches!(outcome, CrossingOutcome::Suspect(_)),
        "{outcome:?}"
    );
    let view = r.core.view(r.unit("100.64.1.2")).await.unwrap();
    assert!(view.host.is_none());
    let s = view.suspect.unwrap();
    assert_eq!(
        (s.signal.as_str(), s.action.as_str(), s.count),
        ("smtp_attempts", "observe", 1)
    );
    assert!(r.kernel.state.lock().quarantined.is_empty());
    // Listed although clean.
    assert_eq!(r.core.list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn allowed_senders_and_never_quarantine_are_left_alone() {
    let r = rig("enforce", "enforce").await;
    for a in ["100.64.3.2", "100.64.0.1", "198.51.100.9"] {
        let outcome = r.detector.handle_crossing(crossing(a)).await;
        assert!(
            matches!(outcome, CrossingOutcome::Skipped(_)),
            "{a}: {outcome:?}"
        );
    }
    assert!(r.kernel.state.lock().quarantined.is_empty());
}

#[tokio::test]
async fn a_host_on_probation_relapses_and_is_held_longer() {
    let r = rig("enforce", "enforce").await;
    r.detector.handle_crossing(crossing("100.64.1.2")).await;
    r.core
        .apply(Event::Release {
            subject: cordon_policy::subject::Subject::Addr(r.unit("100.64.1.2")),
            actor: cordon_policy::Actor::Operator("alice".into()),
            note: "cleaned".into(),
        })
        .await
        .unwrap();
    assert!(!r.in_kernel("100.64.1.2"));
    // Quarantine and release each cut the host's flows.
    assert_eq!(
        r.kernel.state.lock().flushed,
        [[r.unit("100.64.1.2")], [r.unit("100.64.1.2")]]
    );
    let outcome = r.detector.handle_crossing(crossing("100.64.1.2")).await;
    assert!(
        matches!(outcome, CrossingOutcome::Quarantined(..)),
        "{outcome:?}"
    );
    let Some(State::Quarantined(q)) = r.state("100.64.1.2").await else {
        panic!("not quarantined")
    };
    assert_eq!(q.relapses, 1);
    assert!(!q.self_release);
    assert!(q.hold_until - q.since > 30 * 60);
}

#[tokio::test]
async fn a_batch_of_quarantines_flushes_conntrack_once() {
    let r = rig("enforce", "enforce").await;
    let units: Vec<_> = [
        "100.64.2.9",
        "2001:db8:5:6::/64",
        "100.64.2.1",
        "100.64.2.5",
    ]
    .into_iter()
    .map(|a| r.unit(a))
    .collect();
    // Sent before the core runs (a current-thread runtime), so they arrive
    // as one batch.
    let applied = futures::future::join_all(units.iter().map(|&addr| {
        r.core.apply(Event::Quarantine(QuarantineRequest {
            subject: cordon_policy::subject::Subject::Addr(addr),
            reason: Reason::Operator,
            actor: cordon_policy::Actor::Operator("alice".into()),
            note: "batch".into(),
            hold: None,
            mac: None,
            evidence: Default::default(),
        }))
    }))
    .await;
    assert!(applied.iter().all(Result::is_ok), "{applied:?}");
    let mut sorted = units.clone();
    sorted.sort();
    assert_eq!(r.kernel.state.lock().flushed, [sorted]);
}

#[tokio::test]
async fn reports_quarantine_at_the_score_and_duplicates_count_once() {
    let r = rig("enforce", "enforce").await;
    let a = "100.64.1.2";
    assert_eq!(r.report(a, "fbl", Some("<1@x>")).await[0].score, 1);
    let dup = r.report(a, "fbl", Some("<1@x>")).await;
    assert!(!dup[0].counted && dup[0].score == 1);
    assert_eq!(r.report(a, "desk", None).await[0].state, HostState::Clean);
    let third = r.report(a, "desk", None).await;
    assert_eq!(
        (third[0].score, third[0].state),
        (3, HostState::Quarantined)
    );
    assert!(r.in_kernel(a));
    let Some(State::Quarantined(q)) = r.state(a).await else {
        panic!("not quarantined")
    };
    assert_eq!(q.reason, Reason::Report);
    assert_eq!(q.evidence["reports"], 3);
    assert_eq!(q.evidence["score"], 3);
    // Every report is in the audit trail (and the quarantine too).
    let store = Store::open(&r.db).unwrap().0;
    let history = store.history(Some(a.into()), None, 50).await.unwrap();
    assert_eq!(
        history
            .iter()
            .filter(|e| e.note.contains(" report from "))
            .count(),
        4
    );
    assert!(
        history
            .iter()
            .any(|e| e.actor == "report" && e.to == HostState::Quarantined)
    );
}

#[tokio::test]
async fn the_ledger_is_rebuilt_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    {
        let r = rig_in(dir.path(), config("enforce", "enforce")).await;
        r.report("100.64.1.2", "fbl", Some("<1@x>")).await;
        r.report("100.64.1.2", "desk", None).await;
    }
    let r = rig_in(dir.path(), config("enforce", "enforce")).await;
    let view = r.core.view(r.unit("100.64.1.2")).await.unwrap();
    assert_eq!(view.report_score, 2);
    // The duplicate is still known after the restart.
    assert!(!r.report("100.64.1.2", "fbl", Some("<1@x>")).await[0].counted);
    let third = r.report("100.64.1.2", "abuse-desk", None).await;
    assert_eq!(third[0].state, HostState::Quarantined);
}

#[tokio::test]
async fn reports_in_observe_mode_make_a_suspect() {
    let r = rig("enforce", "observe").await;
    for s in ["a", "b", "c"] {
        r.report("100.64.1.2", s, None).await;
    }
    let view = r.core.view(r.unit("100.64.1.2")).await.unwrap();
    assert!(view.host.is_none());
    assert_eq!(view.suspect.unwrap().signal, "reports");
    assert!(r.kernel.state.lock().quarantined.is_empty());
}

#[test]
fn dnsbl_servers_default_to_the_resolvers() {
    let c = config("enforce", "enforce");
    assert_eq!(
        dnsbl_task::effective(&c).servers,
        vec!["192.0.2.53:53".parse().unwrap()]
    );
}

#[path = "tests/notice.rs"]
mod notice;

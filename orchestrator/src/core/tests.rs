//! A store that refuses a batch leaves memory, the kernel and the
//! gauges exactly as they were before the batch. The rig here is what the
//! repair tests use too.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

use cordon_config::SubscriberAddr;
use cordon_policy::lifecycle::{Event, Host, QuarantineRequest, State};
use cordon_policy::subject::Subject;
use cordon_proto::portal::Reason;
use cordon_testkit::Fixture;
use ipnet::IpNet;
use tokio::sync::oneshot;

use super::*;
use crate::kernel::FakeKernel;
use crate::store::Backend;
use crate::store::faulty::{Faulty, Switch};

fn config(dir: &Path) -> Config {
    Fixture::new()
        .prefixes("[100.64.0.0/16]")
        .section("quarantine", "min_hold: 30m, quiet_period: 2h")
        .set_path("store.path", &dir.join("c.db"))
        .load()
}

pub(super) struct Rig {
    pub(super) core: Core,
    pub(super) kernel: Arc<FakeKernel>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) db: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

pub(super) async fn rig() -> Rig {
    rig_over(None).await
}

/// The rig over a store whose commits `switch` can hold back or fail.
pub(super) async fn switched(switch: &Switch) -> Rig {
    rig_over(Some(switch)).await
}

async fn rig_over(switch: Option<&Switch>) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(config(dir.path()));
    let db = dir.path().join("c.db");
    let (store, loaded) = match switch {
        None => Store::open(&db).unwrap(),
        Some(switch) => {
            let backend = Faulty::open(&db, switch);
            let loaded = backend.load().await.unwrap();
            (Store::over(Arc::new(backend)), loaded)
        }
    };
    let kernel = Arc::new(FakeKernel::default());
    let metrics = Arc::new(Metrics::new());
    let mut core = Core::builder(config, store)
        .kernel(kernel.clone())
        .metrics(metrics.clone())
        .build(loaded)
        .core;
    core.install().await.unwrap();
    Rig {
        core,
        kernel,
        metrics,
        db,
        _dir: dir,
    }
}

impl Rig {
    pub(super) fn addr(&self, text: &str) -> SubscriberAddr {
        self.core.config.subscriber_addr(text).unwrap()
    }

    pub(super) fn quarantine(&self, text: &str, hold: Option<Duration>) -> Event {
        Event::Quarantine(QuarantineRequest {
            subject: Subject::Addr(self.addr(text)),
            reason: Reason::Operator,
            actor: cordon_policy::Actor::Operator("alice".into()),
            note: "ticket".into(),
            hold,
            mac: None,
            evidence: Default::default(),
        })
    }

    pub(super) fn release(&self, text: &str) -> Event {
        Event::Release {
            subject: Subject::Addr(self.addr(text)),
            actor: cordon_policy::Actor::Operator("alice".into()),
            note: "cleaned".into(),
        }
    }

    /// Carries out `events` as one batch; the answers in order.
    pub(super) async fn batch(&mut self, events: Vec<Event>) -> Vec<Result<Option<Host>, Failure>> {
        let answers = self.decide(events).await;
        self.core.drain().await;
        let mut out = Vec::new();
        for rx in answers {
            out.push(rx.await.unwrap());
        }
        out
    }

    /// Decides `events` as one batch and queues it for the store, without
    /// waiting for its commit; where each answer will come.
    pub(super) async fn decide(&mut self, events: Vec<Event>) -> Vec<oneshot::Receiver<Applied>> {
        let mut answers = Vec::new();
        let mut inputs = Vec::new();
        let mut waiting = Vec::new();
        for e in events {
            let (tx, rx) = oneshot::channel();
            inputs.push(Input::Event(e));
            waiting.push(Waiting::Event(tx));
            answers.push(rx);
        }
        self.core.decide(inputs, waiting).await;
        answers
    }

    pub(super) fn refuse_writes(&self, refuse: bool) {
        let conn = rusqlite::Connection::open(&self.db).unwrap();
        conn.execute_batch(if refuse {
            "CREATE TRIGGER refuse BEFORE INSERT ON hosts BEGIN SELECT RAISE(ABORT, 'disk full'); END;"
        } else {
            "DROP TRIGGER refuse;"
        })
        .unwrap();
    }

    pub(super) fn kernel_set(&self) -> BTreeSet<IpNet> {
        self.kernel.state.lock().quarantined.clone()
    }

    fn gauges(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .metrics
            .encode()
            .lines()
            .filter(|l| l.starts_with("cordon_hosts{"))
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    }
}

#[tokio::test]
async fn a_refused_store_write_puts_back_exactly_the_records_the_batch_touched() {
    let mut r = rig().await;
    let hold = Some(Duration::from_secs(3600));
    let held = [
        r.quarantine("100.64.1.1", None),
        r.quarantine("100.64.1.2", None),
        r.quarantine("100.64.1.3", None),
        r.quarantine("100.64.1.4", None),
        r.release("100.64.1.3"),
    ];
    assert!(r.batch(held.into()).await.iter().all(Result::is_ok));
    let hosts: Vec<Host> = r.core.engine.lifecycle().hosts().cloned().collect();
    let (tally, kernel, gauges) = (
        r.core.engine.lifecycle().tally(),
        r.kernel_set(),
        r.gauges(),
    );
    assert_eq!(
        gauges,
        [
            r#"cordon_hosts{state="noticed"} 0"#,
            r#"cordon_hosts{state="probation"} 1"#,
            r#"cordon_hosts{state="quarantined"} 3"#
        ]
    );

    r.refuse_writes(true);
    // Released and quarantined again in the same batch (the undo must
    // go back to the first version), a fixed end on a quarantine, a
    // relapse from probation, a new host, and a refused release.
    let batch = vec![
        r.release("100.64.1.1"),
        r.quarantine("100.64.1.1", None),
        r.quarantine("100.64.1.2", hold),
        r.quarantine("100.64.1.3", None),
        r.quarantine("100.64.1.5", None),
        r.release("100.64.1.9"),
    ];
    let answers = r.batch(batch.clone()).await;
    assert!(
        answers[..5]
            .iter()
            .all(|a| matches!(a, Err(Failure::Store(_)))),
        "{answers:?}"
    );
    assert!(matches!(answers[5], Err(Failure::Refused(_))));
    assert_eq!(
        r.core
            .engine
            .lifecycle()
            .hosts()
            .cloned()
            .collect::<Vec<_>>(),
        hosts
    );
    assert_eq!(r.core.engine.lifecycle().tally(), tally);
    assert_eq!(r.kernel_set(), kernel);
    assert_eq!(r.gauges(), gauges);

    // Once the store takes writes again the same batch goes through
    // from the states that were put back.
    r.refuse_writes(false);
    let answers = r.batch(batch).await;
    assert!(answers[..5].iter().all(Result::is_ok), "{answers:?}");
    let relapses = |text: &str| match r
        .core
        .engine
        .lifecycle()
        .get(&Subject::Addr(r.addr(text)))
        .map(|h| &h.state)
    {
        Some(State::Quarantined(q)) => q.relapses,
        other => panic!("{text} is {other:?}"),
    };
    assert_eq!(relapses("100.64.1.1"), 1);
    assert_eq!(relapses("100.64.1.3"), 1);
    assert!(r.kernel_set().contains(&r.addr("100.64.1.5").net()));
    assert_eq!(
        r.core.engine.lifecycle().tally(),
        r.core.engine.lifecycle().recount()
    );
    assert_eq!(
        r.gauges(),
        [
            r#"cordon_hosts{state="noticed"} 0"#,
            r#"cordon_hosts{state="probation"} 0"#,
            r#"cordon_hosts{state="quarantined"} 5"#
        ]
    );
}

#[tokio::test]
async fn a_record_decided_elsewhere_is_enforced_here_and_nothing_is_written() {
    let mut here = rig().await;
    let mut there = rig().await;
    let q = there.quarantine("100.64.1.7", None);
    assert!(there.batch(vec![q]).await[0].is_ok());
    let subject = Subject::Addr(there.addr("100.64.1.7"));
    let decided = there
        .core
        .engine
        .lifecycle()
        .get(&subject)
        .cloned()
        .unwrap();

    here.core
        .commands(vec![Command::Stored(vec![decided])])
        .await;
    here.core.drain().await;
    assert!(here.kernel_set().contains(&here.addr("100.64.1.7").net()));
    assert_eq!(
        here.gauges(),
        [
            r#"cordon_hosts{state="noticed"} 0"#,
            r#"cordon_hosts{state="probation"} 0"#,
            r#"cordon_hosts{state="quarantined"} 1"#
        ]
    );
    let written = here.core.store.history(None, None, 10).await.unwrap();
    assert!(written.is_empty(), "adopting wrote {written:?}");

    // Released there: the wall comes down here too.
    here.core
        .commands(vec![Command::Stored(vec![Host::clean(subject)])])
        .await;
    here.core.drain().await;
    assert!(here.kernel_set().is_empty());
    assert!(
        here.core
            .store
            .history(None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

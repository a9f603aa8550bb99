#![allow(clippy::unwrap_used)]

use cordon_rules::Difference;

use cordon_policy::lifecycle::{Event, NoticeRequest};
use cordon_policy::subject::Subject;

use super::super::tests::{Rig, rig};
use super::*;

fn flushed() -> Vec<Difference> {
    vec![Difference::RuleCount {
        chain: "forward".into(),
        live: 0,
        expected: 15,
    }]
}

fn repairs(metrics: &crate::metrics::Metrics) -> Vec<String> {
    metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with("cordon_table_repairs_total{"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_changed_table_is_installed_again_with_its_quarantines_and_counted() {
    let mut rig = rig().await;
    let q = rig.quarantine("100.64.1.7", None);
    rig.batch(vec![q]).await;
    let installs = rig.kernel.state.lock().installs;
    rig.kernel.state.lock().drift = flushed();

    rig.core.repair_table(Asked::Monitor).await.unwrap();
    let s = rig.kernel.state.lock();
    assert_eq!(s.installs, installs + 1, "installed again");
    assert_eq!(s.installs_anew, 0, "in place was enough");
    assert!(s.drift.is_empty());
    assert_eq!(
        s.quarantined
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["100.64.1.7/32"]
    );
    drop(s);
    assert!(rig.core.unrepaired().is_empty());
    assert_eq!(
        repairs(&rig.metrics),
        ["cordon_table_repairs_total{result=\"repaired\"} 1"]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_table_that_matches_is_left_alone() {
    let mut rig = rig().await;
    let installs = rig.kernel.state.lock().installs;
    rig.core.repair_table(Asked::Monitor).await.unwrap();
    rig.core.repair_table(Asked::Reconcile).await.unwrap();
    assert_eq!(rig.kernel.state.lock().installs, installs);
    assert_eq!(repairs(&rig.metrics), Vec::<String>::new());
}

#[tokio::test(flavor = "current_thread")]
async fn what_in_place_cannot_undo_is_undone_by_a_fresh_table() {
    let mut rig = rig().await;
    rig.kernel.state.lock().drift = vec![Difference::Other("counter".into(), "mine".into())];
    rig.core.repair_table(Asked::Monitor).await.unwrap();
    let s = rig.kernel.state.lock();
    assert_eq!(s.installs_anew, 1);
    assert!(s.drift.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn an_unrepairable_change_is_reported_and_retried_by_the_reconcile_only() {
    let mut rig = rig().await;
    {
        let mut s = rig.kernel.state.lock();
        s.drift = flushed();
        s.stubborn = true;
    }
    let installs = rig.kernel.state.lock().installs;
    rig.core.repair_table(Asked::Monitor).await.unwrap();
    assert_eq!(
        rig.core.unrepaired(),
        ["chain forward: 0 rules, expected 15"]
    );
    assert_eq!(
        repairs(&rig.metrics),
        ["cordon_table_repairs_total{result=\"failed\"} 1"]
    );
    let after_first = rig.kernel.state.lock().installs;
    assert_eq!(after_first, installs + 2, "in place, then anew");

    // The repair's own changes make the monitor ask again: no new attempt.
    rig.core.repair_table(Asked::Monitor).await.unwrap();
    assert_eq!(rig.kernel.state.lock().installs, after_first);
    // The reconcile tries again; once it works, the report clears.
    rig.kernel.state.lock().stubborn = false;
    rig.core.reconcile().await.unwrap();
    assert!(rig.core.unrepaired().is_empty());
    assert!(rig.kernel.state.lock().drift.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn the_reconcile_puts_the_notice_set_back_as_the_store_says() {
    let mut rig = rig().await;
    let notice = |rig: &Rig, text: &str| {
        Event::Notice(NoticeRequest {
            subject: Subject::Addr(rig.addr(text)),
            reason: cordon_proto::portal::Reason::Operator,
            actor: cordon_policy::Actor::Operator("alice".into()),
            note: "ticket".into(),
            mac: None,
            evidence: Default::default(),
        })
    };
    let (showing, acknowledged) = (notice(&rig, "100.64.1.7"), notice(&rig, "100.64.1.8"));
    let ack = Event::Acknowledge {
        subject: Subject::Addr(rig.addr("100.64.1.8")),
    };
    for answer in rig.batch(vec![showing, acknowledged, ack]).await {
        answer.unwrap();
    }
    let noticed = |rig: &Rig| -> Vec<String> {
        let s = rig.kernel.state.lock();
        s.noticed.iter().map(ToString::to_string).collect()
    };
    assert_eq!(noticed(&rig), ["100.64.1.7/32"]);
    // By hand: the showing notice deleted, the acknowledged one put back,
    // and a stray subscriber noticed that the store knows nothing of.
    {
        let mut s = rig.kernel.state.lock();
        s.noticed.clear();
        s.noticed.insert(rig.addr("100.64.1.8").net());
        s.noticed.insert(rig.addr("100.64.2.0/24").net());
    }
    let installs = rig.kernel.state.lock().installs;
    rig.core.reconcile().await.unwrap();
    assert_eq!(noticed(&rig), ["100.64.1.7/32"]);
    assert_eq!(
        rig.kernel.state.lock().installs,
        installs,
        "changed element by element"
    );
    assert!(rig.kernel.state.lock().quarantined.is_empty());
    // Something that is no subscriber at all: the table is replaced.
    let stray: IpNet = "198.51.100.7/32".parse().unwrap();
    rig.kernel.state.lock().noticed.insert(stray);
    rig.core.reconcile().await.unwrap();
    assert_eq!(noticed(&rig), ["100.64.1.7/32"]);
    assert_eq!(rig.kernel.state.lock().installs, installs + 1);
}

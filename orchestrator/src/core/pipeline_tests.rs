//! The pipeline: a crossing is walled in while an earlier batch's commit
//! is still being written; a refused commit undoes every batch decided
//! behind it; a crossing that an earlier batch's kernel change would race
//! waits its turn; each asker hears its own batch. The store is real
//! SQLite behind a switch that holds its commits back.

#![allow(clippy::unwrap_used)]

use cordon_config::SubscriberAddr;
use cordon_policy::lifecycle::State;
use cordon_policy::subject::Subject;
use cordon_proto::portal::HostState;
use tokio::sync::oneshot;
use tokio::sync::oneshot::error::TryRecvError;

use super::many_tests::detected;
use super::tests::Rig;
use super::tests::switched;
use super::*;
use crate::store::faulty::{Mode, Switch};

/// The crossing's wall is up (marked unrecorded) while the operator's
/// quarantine still waits for its record.
fn walled_first(r: &Rig, crossing: SubscriberAddr, operator: SubscriberAddr, behind: &str) {
    let s = r.kernel.state.lock();
    assert!(
        s.quarantined.contains(&crossing.net()) && s.unrecorded.contains(&crossing.net()),
        "the crossing waited for {behind}: {:?}",
        s.journal
    );
    assert!(
        !s.quarantined.contains(&operator.net()),
        "the operator's quarantine went in before its record"
    );
}

#[tokio::test]
async fn a_crossing_is_walled_in_while_an_earlier_commit_is_still_being_written() {
    let switch = Switch::default();
    let mut r = switched(&switch).await;
    let (a, b) = (r.addr("100.64.3.1"), r.addr("100.64.3.2"));
    switch.set(Mode::Held);
    let mut operator = r.decide(vec![r.quarantine("100.64.3.1", None)]).await;
    let mut crossing = r.decide(vec![detected(b)]).await;
    walled_first(&r, b, a, "the commit ahead of it");
    assert_eq!(operator[0].try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(crossing[0].try_recv().unwrap_err(), TryRecvError::Empty);

    switch.set(Mode::Up);
    r.core.drain().await;
    assert!(operator.pop().unwrap().await.unwrap().is_ok());
    assert!(crossing.pop().unwrap().await.unwrap().is_ok());
    {
        let s = r.kernel.state.lock();
        assert!(s.quarantined.contains(&a.net()) && s.quarantined.contains(&b.net()));
        assert!(s.unrecorded.is_empty(), "a mark stayed: {:?}", s.unrecorded);
    }
    assert_eq!(r.core.store.history(None, None, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_refused_commit_undoes_the_batches_decided_behind_it_and_takes_their_walls_down() {
    let switch = Switch::default();
    let mut r = switched(&switch).await;
    let (a, b) = (r.addr("100.64.3.3"), r.addr("100.64.3.4"));
    switch.set(Mode::Held);
    let operator = r.decide(vec![r.quarantine("100.64.3.3", None)]).await;
    let crossing = r.decide(vec![detected(b)]).await;
    assert!(r.kernel_set().contains(&b.net()));

    // The first commit fails; the crossing behind it was decided on top
    // of it and goes too.
    switch.set(Mode::Down);
    r.core.drain().await;
    for rx in operator.into_iter().chain(crossing) {
        let answer = rx.await.unwrap();
        assert!(matches!(answer, Err(Failure::Store(_))), "{answer:?}");
    }
    {
        let s = r.kernel.state.lock();
        assert!(s.quarantined.is_empty(), "{:?}", s.quarantined);
        assert!(s.unrecorded.is_empty(), "{:?}", s.unrecorded);
        assert_eq!(s.journal, [format!("enforce {b}"), format!("withdraw {b}")]);
    }
    for x in [a, b] {
        assert!(r.core.engine.lifecycle().get(&Subject::Addr(x)).is_none());
    }
    assert_eq!(r.core.engine.lifecycle().tally().quarantined, 0);

    // Once the store answers, the same crossing goes through.
    switch.set(Mode::Up);
    assert!(r.batch(vec![detected(b)]).await[0].is_ok());
    assert!(r.kernel_set().contains(&b.net()));
}

#[tokio::test]
async fn a_crossing_of_a_host_an_earlier_batch_is_releasing_waits_its_turn() {
    let switch = Switch::default();
    let mut r = switched(&switch).await;
    let a = r.addr("100.64.3.5");
    assert!(r.batch(vec![r.quarantine("100.64.3.5", None)]).await[0].is_ok());
    r.kernel.state.lock().journal.clear();
    switch.set(Mode::Held);
    let release = r.decide(vec![r.release("100.64.3.5")]).await;
    // The host relapses while its release is being written: enforced
    // first, the release's removal (after its commit) would take the new
    // wall down.
    let crossing = r.decide(vec![detected(a)]).await;
    assert!(
        r.kernel.state.lock().journal.is_empty(),
        "nothing may reach the kernel before the release's commit"
    );
    switch.set(Mode::Up);
    r.core.drain().await;
    assert!(release.into_iter().next().unwrap().await.unwrap().is_ok());
    assert!(crossing.into_iter().next().unwrap().await.unwrap().is_ok());
    let s = r.kernel.state.lock();
    assert!(
        s.quarantined.contains(&a.net()),
        "the relapsed host is free: {:?}",
        s.journal
    );
    assert!(s.unrecorded.is_empty());
    drop(s);
    assert!(matches!(
        r.core.engine.lifecycle().get(&Subject::Addr(a)).map(|h| &h.state),
        Some(State::Quarantined(q)) if q.relapses == 1
    ));
}

#[tokio::test]
async fn each_asker_hears_the_host_as_its_own_batch_left_it() {
    let switch = Switch::default();
    let mut r = switched(&switch).await;
    switch.set(Mode::Held);
    let quarantine = r.decide(vec![r.quarantine("100.64.3.6", None)]).await;
    let release = r.decide(vec![r.release("100.64.3.6")]).await;
    switch.set(Mode::Up);
    r.core.drain().await;
    let state = |rx: Vec<oneshot::Receiver<Applied>>| async move {
        let host = rx.into_iter().next().unwrap().await.unwrap().unwrap();
        host.unwrap().state.kind()
    };
    assert_eq!(state(quarantine).await, HostState::Quarantined);
    assert_eq!(state(release).await, HostState::Probation);
}

#[tokio::test]
async fn the_batches_of_one_commit_change_the_kernel_once() {
    let switch = Switch::default();
    let mut r = switched(&switch).await;
    let [a, b, c] = ["100.64.3.7", "100.64.3.8", "100.64.3.9"].map(|t| r.addr(t));
    switch.set(Mode::Held);
    // The first batch's commit is under way; the three behind it go
    // together into the next one, the last undoing the first of them.
    let mut answers = r.decide(vec![r.quarantine("100.64.3.7", None)]).await;
    for event in [
        r.quarantine("100.64.3.8", None),
        r.quarantine("100.64.3.9", None),
        r.release("100.64.3.8"),
    ] {
        answers.extend(r.decide(vec![event]).await);
    }
    switch.set(Mode::Up);
    r.core.drain().await;
    for rx in answers {
        assert!(rx.await.unwrap().is_ok());
    }
    let s = r.kernel.state.lock();
    assert_eq!(
        s.journal,
        [format!("change +{a} -"), format!("change +{c} -")],
        "one change per commit, and {b}, put in and taken out within one, never reached the kernel"
    );
    assert_eq!(
        s.quarantined,
        [a.net(), c.net()].into_iter().collect(),
        "{:?}",
        s.journal
    );
}

#[tokio::test]
async fn a_crossing_that_came_in_beside_other_requests_is_still_enforced_first() {
    let switch = Switch::default();
    let mut r = switched(&switch).await;
    let (a, b) = (r.addr("100.64.3.10"), r.addr("100.64.3.11"));
    switch.set(Mode::Held);
    let (operator, heard) = oneshot::channel();
    let (crossing, enforced) = oneshot::channel();
    // Gathered together, as the evidence of one zombie and the next one's
    // crossing often are.
    r.core
        .commands(vec![
            Command::Apply(r.quarantine("100.64.3.10", None), operator),
            Command::ApplyMany(vec![detected(b)], crossing),
        ])
        .await;
    walled_first(&r, b, a, "the commit of what came in beside it");
    switch.set(Mode::Up);
    r.core.drain().await;
    assert!(heard.await.unwrap().is_ok());
    let taken = enforced.await.unwrap().pop().unwrap().unwrap();
    assert!(
        taken.in_force.is_some(),
        "the answer does not say when the wall went up"
    );
    let s = r.kernel.state.lock();
    assert!(s.quarantined.contains(&a.net()) && s.quarantined.contains(&b.net()));
    assert!(s.unrecorded.is_empty(), "a mark stayed: {:?}", s.unrecorded);
}

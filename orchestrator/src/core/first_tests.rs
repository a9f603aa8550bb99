//! Enforce first: a batch of crossings is in the kernel before its records
//! are written, marked until they are; a refused write takes it back out;
//! a mark a crash left behind is recorded at the next start; everything
//! else is still written first.

#![allow(clippy::unwrap_used)]

use cordon_policy::lifecycle::State;
use cordon_policy::subject::Subject;

use super::many_tests::detected;
use super::tests::rig;
use super::*;
use crate::store::Store;

#[tokio::test]
async fn a_crossing_is_enforced_then_recorded_and_its_mark_comes_off() {
    let mut r = rig().await;
    let x = r.addr("100.64.2.1");
    let answers = r.batch(vec![detected(x)]).await;
    assert!(answers[0].is_ok(), "{answers:?}");
    {
        let s = r.kernel.state.lock();
        assert_eq!(
            s.journal,
            [format!("enforce {x}")],
            "one transaction, marked"
        );
        assert!(s.quarantined.contains(&x.net()));
        assert!(
            s.unrecorded.is_empty(),
            "the mark stayed: {:?}",
            s.unrecorded
        );
    }
    let written = r.core.store.history(None, None, 10).await.unwrap();
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0].actor, "detection");
}

#[tokio::test]
async fn a_crossing_the_store_refuses_comes_back_out_of_the_kernel() {
    let mut r = rig().await;
    let x = r.addr("100.64.2.2");
    r.refuse_writes(true);
    let answers = r.batch(vec![detected(x)]).await;
    assert!(matches!(answers[0], Err(Failure::Store(_))), "{answers:?}");
    let s = r.kernel.state.lock();
    // In before the store was asked, out once it refused.
    assert_eq!(s.journal, [format!("enforce {x}"), format!("withdraw {x}")]);
    assert!(s.quarantined.is_empty() && s.unrecorded.is_empty());
    drop(s);
    assert!(r.core.engine.lifecycle().get(&Subject::Addr(x)).is_none());
}

#[tokio::test]
async fn an_operators_quarantine_is_still_written_before_the_kernel_changes() {
    let mut r = rig().await;
    r.refuse_writes(true);
    let q = r.quarantine("100.64.2.3", None);
    let mixed = vec![detected(r.addr("100.64.2.4")), q.clone()];
    assert!(matches!(r.batch(vec![q]).await[0], Err(Failure::Store(_))));
    // A crossing in the same batch as an operator's decision waits too.
    assert!(r.batch(mixed).await.iter().all(Result::is_err));
    assert!(r.kernel.state.lock().journal.is_empty());
}

#[tokio::test]
async fn a_mark_a_crash_left_is_recorded_at_the_next_start() {
    let r = rig().await;
    let x = r.addr("100.64.2.5");
    // cordond stopped between enforcing and recording: the kernel holds
    // the quarantine and its mark, the store knows nothing.
    r.kernel.enforce_unrecorded(&[x]).unwrap();
    let (store, loaded) = Store::open(&r.db).unwrap();
    assert!(loaded.hosts.is_empty());
    let mut core = Core::builder(r.core.config.clone(), store)
        .kernel(r.kernel.clone())
        .build(loaded)
        .core;
    core.install().await.unwrap();

    {
        let s = r.kernel.state.lock();
        assert!(s.quarantined.contains(&x.net()), "the start freed it");
        assert!(s.unrecorded.is_empty());
    }
    let host = core.engine.lifecycle().get(&Subject::Addr(x)).cloned();
    assert!(
        matches!(host.as_ref().map(|h| &h.state), Some(State::Quarantined(_))),
        "{host:?}"
    );
    let (_, loaded) = Store::open(&r.db).unwrap();
    assert_eq!(loaded.hosts.len(), 1, "not recorded: {:?}", loaded.hosts);
    let history = core.store.history(None, None, 10).await.unwrap();
    assert_eq!(history[0].actor, "detection");
    assert!(history[0].note.contains("recorded at start"), "{history:?}");
}

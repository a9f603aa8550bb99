//! Any interleaving of the store going away, coming back, losing answers,
//! cordond crashing, replays and commits: once the store is back and the
//! outbox replayed, the store holds every acknowledged batch exactly once,
//! in the order acknowledged.

use proptest::prelude::*;

use super::{Rig, decision};
use crate::store::Backend;
use crate::store::faulty::Mode;

#[derive(Debug, Clone, Copy)]
enum Op {
    Commit,
    Switch(Mode),
    Crash,
    Replay,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Commit),
        1 => Just(Op::Switch(Mode::Up)),
        1 => Just(Op::Switch(Mode::Down)),
        1 => Just(Op::Switch(Mode::LostAnswer)),
        1 => Just(Op::Crash),
        1 => Just(Op::Replay),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn every_acknowledged_batch_lands_once_in_order(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let rig = Rig::new();
            let mut outbox = rig.open();
            let mut acknowledged = Vec::new();
            for op in ops {
                match op {
                    Op::Commit => {
                        let i = i64::try_from(acknowledged.len()).unwrap() + 1;
                        outbox.commit(decision(i)).await.unwrap();
                        acknowledged.push(i);
                    }
                    Op::Switch(mode) => rig.set(mode),
                    Op::Crash => {
                        drop(outbox);
                        outbox = rig.open();
                    }
                    Op::Replay => {
                        let _ = outbox.replay().await;
                    }
                }
            }
            rig.set(Mode::Up);
            outbox.replay().await.unwrap();
            assert_eq!(outbox.state().queued, 0);
            let n = acknowledged.len();
            assert_eq!(rig.remote().await, (acknowledged, n));
        });
    }
}

//! Gathering the requests that arrive together into one batch: one store
//! commit, one `nft` transaction, one conntrack dump per address family,
//! whatever the number of requests in it.

use std::time::Duration;

use tokio::sync::mpsc;

use super::handle::Command;

/// Largest batch of requests handled together.
pub(super) const BATCH: usize = 1024;
/// Longest wait for the rest of a batch (see [`gather`]).
pub(super) const GATHER: Duration = Duration::from_millis(2);

/// What is queued behind `first`, as one batch. Each batch costs about the
/// same whatever its size (a commit, an `nft` transaction, a conntrack
/// dump), and under load the callers the last batch answered come back a
/// moment after it: taking only what was queued then made batches
/// alternate between the one request that came in meanwhile and all the
/// rest. So when the queue holds less than half of the last batch, wait up
/// to [`GATHER`] for as many as it had. A request after a quiet spell
/// follows a batch of one and never waits.
pub(super) async fn gather(
    commands: &mut mpsc::Receiver<Command>,
    first: Command,
    last: usize,
) -> Vec<Command> {
    let mut batch = vec![first];
    let drain = |commands: &mut mpsc::Receiver<Command>, batch: &mut Vec<Command>| {
        while batch.len() < BATCH {
            match commands.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
    };
    drain(commands, &mut batch);
    if batch.len() * 2 < last {
        let until = tokio::time::Instant::now() + GATHER;
        while batch.len() < last.min(BATCH) {
            match tokio::time::timeout_at(until, commands.recv()).await {
                Ok(Some(c)) => {
                    batch.push(c);
                    drain(commands, &mut batch);
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Instant;

    use tokio::sync::oneshot;

    use super::*;

    fn counts() -> Command {
        Command::Counts(oneshot::channel().0)
    }

    fn queue(n: usize) -> (mpsc::Sender<Command>, mpsc::Receiver<Command>) {
        let (tx, rx) = mpsc::channel(4096);
        for _ in 0..n {
            tx.try_send(counts()).unwrap();
        }
        (tx, rx)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_batch_after_a_quiet_spell_takes_what_is_queued_at_once() {
        let (_tx, mut rx) = queue(2);
        assert_eq!(gather(&mut rx, counts(), 0).await.len(), 3);
        // The last batch was one request: this one goes at once, without
        // waiting for the one on its way (it would come in once the core
        // yields, which it must not).
        let (tx, mut rx) = queue(0);
        tokio::spawn(async move { tx.send(counts()).await });
        assert_eq!(gather(&mut rx, counts(), 1).await.len(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn under_load_a_batch_waits_briefly_for_the_rest() {
        // The last batch had 10; one is queued, nine are on their way.
        let (tx, mut rx) = queue(0);
        tokio::spawn(async move {
            for _ in 0..9 {
                tx.send(counts()).await.unwrap();
            }
        });
        assert_eq!(gather(&mut rx, counts(), 10).await.len(), 10);
        // Nothing more comes: it gives up after GATHER.
        let (_tx, mut rx) = queue(0);
        let t = Instant::now();
        assert_eq!(gather(&mut rx, counts(), 10).await.len(), 1);
        assert!(t.elapsed() >= GATHER);
    }
}

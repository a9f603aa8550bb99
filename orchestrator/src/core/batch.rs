//! Gathering the requests that arrive together into one batch: one
//! decision by the policy and one kernel transaction, whatever the number
//! of requests in it.

use tokio::sync::mpsc;

use super::handle::Command;

/// Largest batch of requests handled together.
pub(super) const BATCH: usize = 1024;

/// What is queued behind `first`, as one batch, without waiting for more.
///
/// This used to wait up to 2 ms for more requests when the queue held
/// less than half of the last batch, so that a commit (an fsync) would
/// serve as many as possible. The pipeline does that now: the batches
/// decided while a commit runs go together into the next one, so a
/// request never waits for others to come, and a crossing's wall goes up
/// at once.
pub(super) fn gather(commands: &mut mpsc::Receiver<Command>, first: Command) -> Vec<Command> {
    let mut batch = vec![first];
    while batch.len() < BATCH {
        match commands.try_recv() {
            Ok(c) => batch.push(c),
            Err(_) => break,
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::sync::oneshot;

    use super::*;

    fn counts() -> Command {
        Command::Counts(oneshot::channel().0)
    }

    #[test]
    fn a_batch_takes_what_is_queued_up_to_its_size() {
        let (tx, mut rx) = mpsc::channel(4096);
        for _ in 0..2 {
            tx.try_send(counts()).unwrap();
        }
        assert_eq!(gather(&mut rx, counts()).len(), 3);
        assert_eq!(gather(&mut rx, counts()).len(), 1);
        for _ in 0..BATCH + 10 {
            tx.try_send(counts()).unwrap();
        }
        assert_eq!(gather(&mut rx, counts()).len(), BATCH);
        assert_eq!(gather(&mut rx, counts()).len(), 12);
    }
}

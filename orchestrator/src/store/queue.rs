//! The queue between a backend and its writer (a task for PostgreSQL, a
//! thread for SQLite): callers' batches go in, and the writer takes them
//! in groups, commits each group in one transaction (group commit: one
//! flush serves many decisions) and answers every caller.

use tokio::sync::{mpsc, oneshot};

use super::{StoreError, Write};

/// One caller's batch, and where to answer.
pub(crate) struct Job {
    pub(crate) writes: Vec<Write>,
    pub(crate) reply: oneshot::Sender<Result<(), StoreError>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("writes", &self.writes.len())
            .finish()
    }
}

/// Queues `writes` for the writer behind `jobs` and waits for its answer;
/// [`StoreError::Stopped`] when the writer is gone.
pub(crate) async fn commit(jobs: &mpsc::Sender<Job>, writes: Vec<Write>) -> Result<(), StoreError> {
    let (reply, answer) = oneshot::channel();
    jobs.send(Job { writes, reply })
        .await
        .map_err(|_| StoreError::Stopped)?;
    answer.await.map_err(|_| StoreError::Stopped)?
}

/// The group that begins with `first`: it and the jobs already queued
/// behind it, up to `max` in all, taken without waiting for more.
pub(crate) fn group(first: Job, jobs: &mut mpsc::Receiver<Job>, max: usize) -> Vec<Job> {
    let mut group = vec![first];
    while group.len() < max {
        match jobs.try_recv() {
            Ok(job) => group.push(job),
            Err(_) => break,
        }
    }
    group
}

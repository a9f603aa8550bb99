//! Conntrack flushes beside the core rather than in it. Each flush dumps
//! the machine's whole conntrack table (some 10 ms at 262 144 buckets,
//! more on a big BNG), whatever the number of hosts in it; done inside the
//! core, it was most of every batch's time, and in an outbreak benchmark
//! most of cordond's CPU (8.3 s of 8.3 s over 10 000 quarantines in 770
//! batches), while the core could take no new crossing.
//!
//! So a batch hands its flush and its answers here once its store commit
//! and kernel change are done, and the core goes on to the next batch. The
//! flusher takes every batch that queued while it was busy in one flush,
//! and only then answers their askers: each asker still hears back after
//! store, kernel and conntrack, in that order, as before.

use std::sync::Arc;
use std::time::Instant;

use cordon_config::SubscriberAddr;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::apply::Delivery;
use super::blocking;
use crate::kernel::Enforcer;
use crate::metrics::Metrics;

/// One batch's flush and the answers waiting on it.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) hosts: Vec<SubscriberAddr>,
    pub(super) answers: Vec<Delivery>,
}

/// The handle the core queues jobs on.
#[derive(Debug)]
pub(super) struct Flusher(mpsc::UnboundedSender<Job>);

impl Flusher {
    /// Starts the flusher task (it ends when the core drops its handle,
    /// once every queued job is done).
    pub(super) fn spawn(kernel: Arc<dyn Enforcer>, metrics: Arc<Metrics>) -> Flusher {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(rx, kernel, metrics));
        Flusher(tx)
    }

    /// Queues a batch's flush; its answers go out once it is done. If the
    /// task is gone (cordond is stopping) they go out at once.
    pub(super) fn queue(&self, job: Job) {
        if let Err(mpsc::error::SendError(job)) = self.0.send(job) {
            job.answers.into_iter().for_each(Delivery::send);
        }
    }
}

async fn run(
    mut jobs: mpsc::UnboundedReceiver<Job>,
    kernel: Arc<dyn Enforcer>,
    metrics: Arc<Metrics>,
) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while let Ok(job) = jobs.try_recv() {
            batch.push(job);
        }
        let mut hosts: Vec<SubscriberAddr> =
            batch.iter().flat_map(|j| j.hosts.iter().copied()).collect();
        hosts.sort_unstable();
        hosts.dedup();
        let (count, batches) = (hosts.len(), batch.len());
        let k = kernel.clone();
        let started = Instant::now();
        let flushed = blocking(move || k.flush_conntrack(&hosts)).await;
        Metrics::observe(&metrics.conntrack_flush, started.elapsed());
        match flushed {
            Ok(n) => debug!(
                hosts = count,
                batches,
                deleted = n,
                "conntrack entries deleted"
            ),
            Err(e) => warn!(
                hosts = count,
                error = %e,
                "cannot delete the conntrack entries of {count} quarantined or released hosts; their established flows keep going until they end"
            ),
        }
        for job in batch {
            job.answers.into_iter().for_each(Delivery::send);
        }
    }
}

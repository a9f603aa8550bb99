//! Conntrack flushes beside the core rather than in it. Each flush dumps
//! the machine's whole conntrack table (some 10 ms at 262 144 buckets,
//! more on a big BNG), whatever the number of hosts in it; done inside the
//! core, it was most of every batch's time, and in an outbreak benchmark
//! most of cordond's CPU (8.3 s of 8.3 s over 10 000 quarantines in 770
//! batches), while the core could take no new crossing.
//!
//! So a batch hands its flush and its answers here once its store commit
//! and kernel change are done, and the core goes on to the next batch. The
//! flushes run on a thread of their own at the lowest CPU priority. The
//! flusher takes every batch that queued while it was busy in one flush,
//! and only then answers their askers: each asker still hears back after
//! store, kernel and conntrack, in that order, as before.

use std::sync::Arc;
use std::time::Instant;

use cordon_config::SubscriberAddr;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::apply::Delivery;
use crate::kernel::Enforcer;
use crate::metrics::Metrics;

/// The flusher thread's nice value: the lowest CPU priority there is.
/// A dump of the whole table is some 10 ms of CPU per flush, most of it in
/// the kernel; at the default priority it took a core from the threads
/// that read detection's NFLOG events and enforce them, and a crossing
/// that came in meanwhile waited for it (the single-host detection
/// benchmark's p99 was 30.6 ms, and 1.0 ms with the flush switched off).
/// At nice 19 any of cordond's other threads that wakes takes the CPU
/// from it at once; the flush itself, and the answers waiting on it, wait
/// only when the machine has no CPU to spare.
const NICE: i32 = 19;

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
    /// Starts the flusher thread (it ends when the core drops its handle,
    /// once every queued job is done).
    pub(super) fn spawn(kernel: Arc<dyn Enforcer>, metrics: Arc<Metrics>) -> Flusher {
        let (tx, rx) = mpsc::unbounded_channel();
        let started = std::thread::Builder::new()
            .name("cordon-flush".into())
            .spawn(move || {
                lower_priority();
                run(rx, &*kernel, &metrics);
            });
        if let Err(e) = started {
            // Then the jobs find no receiver and their answers go out at
            // once, unflushed: the walls are up all the same.
            warn!(error = %e, "cannot start the conntrack flusher thread; quarantined hosts' established flows keep going until they end");
        }
        Flusher(tx)
    }

    /// Queues a batch's flush; its answers go out once it is done. If the
    /// thread is gone (cordond is stopping) they go out at once.
    pub(super) fn queue(&self, job: Job) {
        if let Err(mpsc::error::SendError(job)) = self.0.send(job) {
            job.answers.into_iter().for_each(Delivery::send);
        }
    }
}

/// Gives the calling thread the lowest CPU priority (see [`NICE`]). On
/// Linux a nice value belongs to a thread, not to the whole process.
fn lower_priority() {
    let me = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(me), NICE) {
        warn!(error = %e, "cannot lower the conntrack flusher's CPU priority; its dumps compete with detection for the CPU");
    }
}

/// Takes every job queued while the last flush ran as one flush, then
/// answers their askers, until the core drops its handle.
fn run(mut jobs: mpsc::UnboundedReceiver<Job>, kernel: &dyn Enforcer, metrics: &Metrics) {
    while let Some(first) = jobs.blocking_recv() {
        let mut batch = vec![first];
        while let Ok(job) = jobs.try_recv() {
            batch.push(job);
        }
        let mut hosts: Vec<SubscriberAddr> =
            batch.iter().flat_map(|j| j.hosts.iter().copied()).collect();
        hosts.sort_unstable();
        hosts.dedup();
        let (count, batches) = (hosts.len(), batch.len());
        let started = Instant::now();
        let flushed = kernel.flush_conntrack(&hosts);
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

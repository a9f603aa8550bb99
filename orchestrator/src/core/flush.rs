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
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use cordon_config::SubscriberAddr;
use tracing::{debug, warn};

use super::apply::Delivery;
use crate::kernel::Enforcer;
use crate::metrics::Metrics;

/// The flusher thread's nice value: the lowest CPU priority there is, so
/// that a dump's CPU (some 10 ms a flush, most of it in the kernel) comes
/// after cordond's other work and the portal's. It was first meant to cut
/// the single-host detection tail, and measured did not (p99 35.4 ms with
/// it, and `perf sched` showed cordond's threads waiting at most 2.3 ms
/// for a CPU): the tail was the dump stalling nftables transactions, which
/// [`CALM`] answers. Kept as cheap, not as measured.
const NICE: i32 = 19;

/// How long no new flush must have been queued before one starts. A dump
/// walks the machine's whole conntrack table in one go when the table is
/// sparse (every bucket of 262 144, with the kernel's bottom halves off:
/// about 10 ms), and an nftables transaction made meanwhile waits for it:
/// measured, `nft add element` took 18.7 ms at the median while another
/// process dumped the table in a loop, 4.6 ms alone and 6.4 ms beside a
/// process that only burned CPU. So a flush waits for a pause in the
/// quarantines (each one queues a flush), and a zombie's crossing does not
/// find its wall behind one.
const CALM: Duration = Duration::from_millis(20);

/// The longest a flush waits for that pause: a quarantined host's
/// established flows end at most this long after its wall went up (its
/// new flows meet the wall at once). Only detection's own flushes wait:
/// an operator's, a session's or a report's goes at once, as its asker
/// waits on it.
const LATEST: Duration = Duration::from_millis(500);

/// One batch's flush and the answers waiting on it.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) hosts: Vec<SubscriberAddr>,
    pub(super) answers: Vec<Delivery>,
    /// Whether someone other than detection waits on it (an operator, a
    /// NAS, a report's sender): then it does not wait for a pause.
    pub(super) urgent: bool,
}

/// Why a flush started when it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// No new flush was queued for [`CALM`].
    Calm,
    /// Someone other than detection waits on it.
    Urgent,
    /// [`LATEST`] passed without a pause.
    Late,
    /// The core is gone: what it queued goes at once.
    Stopping,
}

/// The handle the core queues jobs on.
#[derive(Debug)]
pub(super) struct Flusher(mpsc::Sender<Job>);

impl Flusher {
    /// Starts the flusher thread (it ends when the core drops its handle,
    /// once every queued job is done).
    pub(super) fn spawn(kernel: Arc<dyn Enforcer>, metrics: Arc<Metrics>) -> Flusher {
        let (tx, rx) = mpsc::channel();
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
        if let Err(mpsc::SendError(job)) = self.0.send(job) {
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

/// Takes the jobs queued until a pause ([`CALM`], at most [`LATEST`]
/// after the first) as one flush, then answers their askers, until the
/// core drops its handle (then what is queued is flushed at once).
fn run(jobs: mpsc::Receiver<Job>, kernel: &dyn Enforcer, metrics: &Metrics) {
    while let Ok(first) = jobs.recv() {
        let (batch, start) = until_calm(&jobs, first);
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
                start = ?start,
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

/// `first` and the jobs queued after it until none has come for [`CALM`],
/// or [`LATEST`] has passed since `first`, or one is urgent, or the core
/// is gone; and which of those it was.
fn until_calm(jobs: &mpsc::Receiver<Job>, first: Job) -> (Vec<Job>, Start) {
    let opened = Instant::now();
    let mut last = opened;
    let mut urgent = first.urgent;
    let mut batch = vec![first];
    loop {
        if urgent {
            // What is already queued goes with it.
            batch.extend(jobs.try_iter());
            return (batch, Start::Urgent);
        }
        let now = Instant::now();
        if now >= opened + LATEST {
            return (batch, Start::Late);
        }
        let Some(wait) = (last + CALM)
            .min(opened + LATEST)
            .checked_duration_since(now)
        else {
            return (batch, Start::Calm);
        };
        match jobs.recv_timeout(wait) {
            Ok(job) => {
                urgent = job.urgent;
                batch.push(job);
                last = Instant::now();
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return (batch, Start::Stopping),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn job() -> Job {
        Job {
            hosts: Vec::new(),
            answers: Vec::new(),
            urgent: false,
        }
    }

    #[test]
    fn a_flush_waits_for_a_pause_and_takes_what_came_meanwhile() {
        let (tx, rx) = mpsc::channel();
        tx.send(job()).unwrap();
        tx.send(job()).unwrap();
        let first = rx.recv().unwrap();
        let started = Instant::now();
        let (batch, start) = until_calm(&rx, first);
        assert_eq!((batch.len(), start), (2, Start::Calm));
        assert!(started.elapsed() >= CALM, "{:?}", started.elapsed());
        drop(tx);
    }

    #[test]
    fn quarantines_that_never_pause_hold_a_flush_back_no_longer_than_latest() {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sender = std::thread::spawn({
            let stop = stop.clone();
            move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if tx.send(job()).is_err() {
                        break;
                    }
                    std::thread::sleep(CALM / 4);
                }
            }
        });
        let first = rx.recv().unwrap();
        let started = Instant::now();
        let (batch, start) = until_calm(&rx, first);
        let took = started.elapsed();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        sender.join().unwrap();
        assert!(took < LATEST + Duration::from_secs(1), "{took:?}");
        assert!(batch.len() > 1);
        // Calm only if the sender stalled for a pause on a loaded machine.
        assert!(matches!(start, Start::Late | Start::Calm), "{start:?}");
    }

    #[test]
    fn what_a_stopping_core_queued_is_all_flushed() {
        let (tx, rx) = mpsc::channel();
        for _ in 0..3 {
            tx.send(job()).unwrap();
        }
        drop(tx);
        let first = rx.recv().unwrap();
        let (batch, start) = until_calm(&rx, first);
        assert_eq!((batch.len(), start), (3, Start::Stopping));
    }

    #[test]
    fn a_flush_someone_else_waits_on_goes_at_once_with_what_is_queued() {
        let (tx, rx) = mpsc::channel();
        tx.send(job()).unwrap();
        tx.send(Job {
            urgent: true,
            ..job()
        })
        .unwrap();
        tx.send(job()).unwrap();
        let first = rx.recv().unwrap();
        let (batch, start) = until_calm(&rx, first);
        assert_eq!((batch.len(), start), (3, Start::Urgent));
        // The sender is still there: it did not end the wait.
        drop(tx);
    }
}

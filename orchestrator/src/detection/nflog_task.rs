//! The NFLOG task: reads the kernel's threshold crossings and hands them to
//! [`Detector::handle_crossings`] in a task of their own, so a slow
//! quarantine (a busy store) never holds up reading the next crossing.
//! Every crossing already read when one arrives goes with it, up to
//! [`READ_BATCH`]: in an outbreak the crossings that came in together are
//! one request to the core (one commit, one kernel transaction), not one
//! task and one round trip each.
//!
//! The socket is reopened with a backoff when it closes (`next()` gives
//! `None`) or when the configured group changes on reload.
//!
//! On `Resync` (the socket overflowed and crossings were lost) we log and
//! rely on the kernel: the `alerted_*` sets that suppress repeats time out
//! after 10 s, so a host still over its threshold is logged again within
//! 10 s and handled then. A host that crossed once and then stopped is not
//! found again, and need not be: it stopped. Re-reading the whole
//! recent-SMTP set instead would be the per-subscriber work this design
//! avoids, at exactly the moment the gateway is overloaded.

use std::time::Duration;

use cordon_detect::nflog::{Crossing, NflogEvent, NflogSubscriber};
use futures::FutureExt;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{Detector, open_nflog};

/// First pause before reopening; doubled up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Most crossings handed over together (the core's own batch is 1024
/// requests; a read batch is one of them).
const READ_BATCH: usize = 4096;

/// Runs until cancelled. `first` is the subscriber opened before readiness.
pub async fn run(detector: Detector, first: Option<NflogSubscriber>, cancel: CancellationToken) {
    let mut config = detector.config.clone();
    let mut group = config.borrow().detection.nflog_group;
    let mut subscriber = first;
    let mut backoff = BACKOFF_MIN;
    loop {
        if subscriber.is_none() {
            subscriber = open_nflog(group).await;
        }
        let mut regroup = false;
        if let Some(mut sub) = subscriber.take() {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    changed = config.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let now = config.borrow_and_update().detection.nflog_group;
                        if now != group {
                            info!(from = group, to = now, "detection.nflog_group changed; listening on the new group");
                            group = now;
                            regroup = true;
                            break;
                        }
                    }
                    event = sub.next() => {
                        let Some(event) = event else {
                            warn!(group, "the NFLOG socket closed; reopening");
                            break;
                        };
                        backoff = BACKOFF_MIN;
                        let mut crossings = Vec::new();
                        take(&detector, group, event, &mut crossings);
                        let mut open = true;
                        // What has been read already goes with it. `next`
                        // gives up nothing when it is not ready.
                        while open && crossings.len() < READ_BATCH {
                            match sub.next().now_or_never() {
                                Some(Some(event)) => take(&detector, group, event, &mut crossings),
                                Some(None) => open = false,
                                None => break,
                            }
                        }
                        if !crossings.is_empty() {
                            let d = detector.clone();
                            tokio::spawn(async move { d.handle_crossings(crossings).await });
                        }
                        if !open {
                            warn!(group, "the NFLOG socket closed; reopening");
                            break;
                        }
                    }
                }
            }
        }
        if regroup {
            continue;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Takes one event: a crossing is kept for the batch, a sender goes to the
/// DNSBL checks, an overflow is said.
fn take(detector: &Detector, group: u16, event: NflogEvent, crossings: &mut Vec<Crossing>) {
    match event {
        NflogEvent::Crossing(c) => crossings.push(c),
        NflogEvent::Sender(ip) => {
            if let Some(tx) = &detector.dnsbl {
                // A full queue: the kernel logs the sender again one DNSBL
                // interval later.
                if tx.try_send(ip).is_err() {
                    debug!(sender = %ip, "DNSBL checks busy; this sender is asked about next interval");
                }
            }
        }
        NflogEvent::Resync => {
            warn!(
                group,
                "threshold crossings were lost (NFLOG overflow); hosts still over a threshold are reported again by the kernel within 10 s"
            );
        }
        // `NflogEvent` is non-exhaustive: nothing else is ours.
        _ => {}
    }
}

//! The sender: one task per hook, each sending its hook's queue in order,
//! oldest first. An event leaves the queue only after the hook answered
//! 2xx (one delete, committed before the next event is sent), or when it
//! is given up (older than `max_age`, or beyond `max_queued`), counted.
//! A failure is retried with exponential backoff and jitter, the same
//! event first: nothing overtakes it.

use std::sync::Arc;
use std::time::Duration;

use cordon_proto::text::printable;
use cordon_proto::time::Clock;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::Hook;
use super::client::{Attempt, post};
use crate::metrics::{HookLabels, Metrics};
use crate::store::{Store, Write};

/// How many events are read from the queue at once.
const BATCH: u32 = 32;
/// The first retry's wait; each failure doubles it, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between attempts: a minute keeps a receiver back from
/// an outage hearing soon, at one request a minute meanwhile.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// With nothing queued, the queue is read again at least this often (a
/// wake-up from the core usually comes first).
const IDLE: Duration = Duration::from_secs(30);

/// What one hook's task needs.
#[derive(Debug, Clone)]
pub struct Context {
    /// The store holding the queue.
    pub store: Store,
    /// This gateway's name: it sends only the events it decided.
    pub gateway: String,
    /// Rung by the core after it committed events.
    pub wake: Arc<Notify>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

/// The wait after `failures` failures in a row: doubling from
/// [`FIRST_BACKOFF`] to [`MAX_BACKOFF`], then a random part of up to half
/// of it taken off (jitter), so gateways do not retry in step.
pub fn backoff(failures: u32) -> Duration {
    let full = FIRST_BACKOFF
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    let mut r = [0u8; 4];
    let _ = getrandom::fill(&mut r);
    let fraction = f64::from(u32::from_le_bytes(r)) / f64::from(u32::MAX);
    full.mul_f64(1.0 - fraction / 2.0)
}

/// Sends `hook`'s queue until `cancel`.
pub async fn run(hook: Hook, cx: Context, cancel: CancellationToken) {
    let url = hook.settings.url.as_str().to_owned();
    let label = HookLabels { hook: url.clone() };
    let mut failures = 0u32;
    info!(hook = %url, "webhook sender started");
    loop {
        // Armed before the queue is read, so a wake-up between the read
        // and the wait is not lost.
        let woken = cx.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let wait = match step(&hook, &cx, &url, &label, &mut failures).await {
            Next::Again => continue,
            Next::Idle => IDLE,
            Next::Backoff => backoff(failures),
        };
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
            () = &mut woken, if failures == 0 => {}
        }
    }
    debug!(hook = %url, "webhook sender stopped");
}

/// What the loop does after a step.
enum Next {
    /// Read the queue again now.
    Again,
    /// Nothing queued: wait for a wake-up.
    Idle,
    /// Something failed: wait [`backoff`].
    Backoff,
}

async fn step(
    hook: &Hook,
    cx: &Context,
    url: &str,
    label: &HookLabels,
    failures: &mut u32,
) -> Next {
    let s = &hook.settings;
    let queue = match cx.store.webhooks_due(&cx.gateway, url, BATCH).await {
        Ok(q) => q,
        Err(e) => {
            warn!(hook = %url, error = %e, "cannot read the webhook queue; retrying");
            *failures = failures.saturating_add(1);
            return Next::Backoff;
        }
    };
    let queued = i64::try_from(queue.queued).unwrap_or(i64::MAX);
    cx.metrics.webhooks_queued.get_or_create(label).set(queued);
    let full = queue.queued >= s.max_queued;
    cx.metrics
        .webhooks_queue_full
        .get_or_create(label)
        .set(i64::from(full));
    if queue.queued > s.max_queued {
        let dropped = queue.queued - s.max_queued;
        warn!(hook = %url, dropped, max_queued = s.max_queued, "webhook queue full; dropping the oldest events");
        let trim = Write::WebhooksTrim {
            gateway: cx.gateway.clone(),
            hook: url.to_owned(),
            keep: s.max_queued,
        };
        return match cx.store.write(vec![trim]).await {
            Ok(()) => {
                cx.metrics.webhook_failed(url, "dropped", dropped);
                Next::Again
            }
            Err(e) => {
                warn!(hook = %url, error = %e, "cannot trim the webhook queue");
                Next::Backoff
            }
        };
    }
    let Some(row) = queue.rows.into_iter().next() else {
        return Next::Idle;
    };
    let now = cx.clock.now();
    let max_age = i64::try_from(s.max_age.as_secs()).unwrap_or(i64::MAX);
    let expired = row.at < now.saturating_sub(max_age);
    if !expired {
        match post(
            &hook.client,
            &hook.uri,
            &hook.key,
            &row.event_id,
            row.body,
            now,
            s.timeout,
        )
        .await
        {
            Attempt::Delivered => {}
            Attempt::Status(status) => {
                *failures = failures.saturating_add(1);
                cx.metrics.webhook_failed(url, "status", 1);
                warn!(hook = %url, event = %printable(&row.event_id), %status, failures = *failures, "webhook refused the event; retrying with backoff");
                return Next::Backoff;
            }
            Attempt::Failed(why) => {
                *failures = failures.saturating_add(1);
                cx.metrics.webhook_failed(url, "error", 1);
                warn!(hook = %url, event = %printable(&row.event_id), error = %printable(&why), failures = *failures, "webhook unreachable; retrying with backoff");
                return Next::Backoff;
            }
        }
    }
    // Delivered or given up: out of the queue in one statement. A crash
    // before this commits sends the event once more (receivers dedupe by
    // its id).
    let done = Write::WebhooksDone {
        gateway: cx.gateway.clone(),
        hook: url.to_owned(),
        through: row.id,
    };
    if let Err(e) = cx.store.write(vec![done]).await {
        warn!(hook = %url, error = %e, "cannot remove a delivered event from the webhook queue; it may be sent again");
        *failures = failures.saturating_add(1);
        return Next::Backoff;
    }
    if expired {
        cx.metrics.webhook_failed(url, "expired", 1);
        warn!(hook = %url, event = %printable(&row.event_id), "webhook event older than max_age dropped undelivered");
    } else {
        cx.metrics.webhooks_sent.get_or_create(label).inc();
        debug!(hook = %url, event = %printable(&row.event_id), "webhook event delivered");
    }
    *failures = 0;
    Next::Again
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_with_jitter_below_it() {
        for (failures, full) in [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (40, 60)] {
            let full = Duration::from_secs(full);
            for _ in 0..50 {
                let d = backoff(failures);
                assert!(d <= full && d >= full / 2, "{failures}: {d:?} for {full:?}");
            }
        }
    }
}

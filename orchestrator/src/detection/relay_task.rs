//! Relay-limit hits: the kernel's relay-limit rules count every connection
//! they refuse; this task reads those counters (one small chain listing,
//! whatever the number of subscribers) into `cordon_relay_limit_hits_total`.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::kernel::Enforcer;
use crate::metrics::Metrics;

/// How often the counters are read: metrics are scraped every 15 to 60 s,
/// so reading more often would be work nobody sees.
pub const EVERY: Duration = Duration::from_secs(10);

/// The increase since the last reading. The kernel's counters start again
/// from zero when the table is replaced (reload, reconcile); a reading
/// below the last one is counted from that zero.
pub fn increase(last: u64, now: u64) -> u64 {
    if now >= last { now - last } else { now }
}

/// Runs until cancelled.
pub async fn run(kernel: Arc<dyn Enforcer>, metrics: Arc<Metrics>, cancel: CancellationToken) {
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = 0u64;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let k = kernel.clone();
        match tokio::task::spawn_blocking(move || k.relay_limit_hits()).await {
            Ok(Ok(now)) => {
                metrics.relay_limit_hits.inc_by(increase(last, now));
                last = now;
            }
            Ok(Err(e)) => debug!(error = %e, "cannot read the relay-limit counters; trying again"),
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::increase;

    #[test]
    fn counters_that_restart_count_from_zero() {
        assert_eq!(increase(0, 5), 5);
        assert_eq!(increase(5, 7), 2);
        assert_eq!(increase(7, 3), 3);
    }
}

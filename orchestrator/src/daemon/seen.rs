//! The kernel's answer to "when did this host last try SMTP?", kept for a
//! moment for pages and `cordon show`.
//!
//! Each answer costs a netlink round trip. A subscriber reloading the cleanup page, or a browser fetching it with its
//! probes, would otherwise make one per request; displays can be a second
//! old. Decisions (self-release, the
//! quiet checks) always ask the kernel afresh.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cordon_config::SubscriberAddr;
use cordon_proto::expiring::Expiring;
use cordon_rules::SmtpSeen;
use parking_lot::Mutex;

use crate::kernel::Enforcer;

/// How long an answer is reused.
const FRESH: Duration = Duration::from_secs(1);
/// Answers held at once: far more units than are shown within a second
/// (past it, the oldest answer goes and its unit's next display asks again).
const CAPACITY: usize = 4096;

/// Recent kernel answers per subscriber unit.
#[derive(Debug, Clone)]
pub struct SeenCache {
    entries: Arc<Mutex<Expiring<SubscriberAddr, Option<SmtpSeen>>>>,
}

impl Default for SeenCache {
    fn default() -> Self {
        SeenCache {
            entries: Arc::new(Mutex::new(Expiring::new(FRESH, CAPACITY))),
        }
    }
}

impl SeenCache {
    /// The kernel's answer for `addr`, at most [`FRESH`] old; `None` when
    /// the kernel could not be asked (the display then shows no attempts).
    pub async fn lookup(
        &self,
        kernel: &Arc<dyn Enforcer>,
        addr: SubscriberAddr,
    ) -> Option<SmtpSeen> {
        // Taken before asking: the answer is at least as old as the question.
        let now = Instant::now();
        if let Some(seen) = self.entries.lock().get(&addr, now) {
            return *seen;
        }
        let seen = fresh(kernel, addr).await;
        self.entries.lock().insert(addr, seen, now);
        seen
    }
}

/// What the kernel counted for a subscriber's addresses together: every
/// attempt, and the latest (`fresh`: asked now, for decisions).
pub async fn of_all(
    cache: &SeenCache,
    kernel: &Arc<dyn Enforcer>,
    addrs: &[SubscriberAddr],
    now: bool,
) -> Option<SmtpSeen> {
    let mut merged: Option<SmtpSeen> = None;
    for a in addrs {
        let seen = if now {
            fresh(kernel, *a).await
        } else {
            cache.lookup(kernel, *a).await
        };
        merged = match (merged, seen) {
            (Some(m), Some(s)) => Some(SmtpSeen {
                attempts: m.attempts + s.attempts,
                ..if s.expires > m.expires { s } else { m }
            }),
            (m, s) => m.or(s),
        };
    }
    merged
}

/// Asks the kernel now, for decisions.
///
/// On the calling thread, not the blocking pool: one netlink request and
/// its answer, which the kernel writes before the request's send returns,
/// on a socket that only such lookups use (never held by a large change).
/// Handing it to a blocking thread cost more than the lookup itself (two
/// thread wake-ups for some 10 µs of work): under an outbreak, with
/// every new zombie's first page asking, most of `cordond`'s time per
/// portal question went to those wake-ups.
pub async fn fresh(kernel: &Arc<dyn Enforcer>, addr: SubscriberAddr) -> Option<SmtpSeen> {
    kernel.smtp_seen(&addr).ok().flatten()
}

//! The kernel's answer to "when did this host last try SMTP?", kept for a
//! moment for pages and `cordon show`.
//!
//! Each answer costs an `nft` process. A subscriber reloading the cleanup
//! page, or a browser fetching it with its probes, would otherwise start one
//! per request; displays can be a second old. Decisions (self-release, the
//! quiet checks) always ask the kernel afresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cordon_config::SubscriberAddr;
use cordon_rules::SmtpSeen;

use crate::kernel::Enforcer;

/// How long an answer is reused.
const FRESH: Duration = Duration::from_secs(1);
/// Past this many entries, expired ones are dropped before adding.
const PRUNE_AT: usize = 4096;

/// When the kernel was asked, and what it said.
type Answer = (Instant, Option<SmtpSeen>);

/// Recent kernel answers per subscriber unit.
#[derive(Debug, Clone, Default)]
pub struct SeenCache {
    entries: Arc<Mutex<HashMap<SubscriberAddr, Answer>>>,
}

impl SeenCache {
    /// The kernel's answer for `addr`, at most [`FRESH`] old; `None` when
    /// the kernel could not be asked (the display then shows no attempts).
    pub async fn lookup(
        &self,
        kernel: &Arc<dyn Enforcer>,
        addr: SubscriberAddr,
    ) -> Option<SmtpSeen> {
        let now = Instant::now();
        if let Ok(map) = self.entries.lock()
            && let Some((at, seen)) = map.get(&addr)
            && now.duration_since(*at) < FRESH
        {
            return *seen;
        }
        let seen = fresh(kernel, addr).await;
        if let Ok(mut map) = self.entries.lock() {
            if map.len() >= PRUNE_AT {
                map.retain(|_, (at, _)| now.duration_since(*at) < FRESH);
            }
            map.insert(addr, (now, seen));
        }
        seen
    }
}

/// Asks the kernel now, for decisions.
pub async fn fresh(kernel: &Arc<dyn Enforcer>, addr: SubscriberAddr) -> Option<SmtpSeen> {
    let kernel = kernel.clone();
    tokio::task::spawn_blocking(move || kernel.smtp_seen(&addr))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten()
}

//! Putting the store's quarantines into the kernel: at start, and with a
//! reloaded config.

use std::sync::Arc;

use cordon_config::Config;
use tracing::{info, warn};

use super::handle::ReloadError;
use super::repair::Sets;
use super::{Core, blocking};
use crate::kernel::KernelError;

impl Core {
    /// Installs the table with the store's quarantines (the store is the
    /// truth), logging how the kernel differed if a table was there.
    pub async fn install(&mut self) -> Result<(), KernelError> {
        // Quarantines enforced but never recorded are recorded first: the
        // install empties their marks and keeps only what the store holds.
        self.adopt_unrecorded().await;
        let desired = self.engine.quarantined();
        let noticed = self.engine.noticed();
        let held = desired.len();
        let kernel = self.kernel.clone();
        let config = self.config.clone();
        let before = blocking(move || {
            let before = if kernel.exists()? {
                Some(kernel.quarantined()?)
            } else {
                None
            };
            kernel.install(&config, &desired, &noticed)?;
            Ok(before)
        })
        .await?;
        match before {
            None => info!(quarantined = held, "table installed from the store"),
            Some(before) => {
                self.log_diff(Sets::Quarantine, &before, "at start");
                info!(quarantined = held, "table replaced from the store");
            }
        }
        self.last_reconcile = Some(self.clock.now());
        self.update_gauges();
        Ok(())
    }

    /// A new config (already checked): its table is installed with the
    /// current quarantines, then its policy applies to the next decisions.
    pub(super) async fn reload(&mut self, config: Arc<Config>) -> Result<(), ReloadError> {
        // The kernel handle, the stored IPv6 quarantines and the live sets
        // are all keyed by these; changing them under a running cordond
        // would leave quarantines in a table or a shape nobody reads.
        if config.table != self.config.table {
            return Err(ReloadError::NeedsRestart("table"));
        }
        // The listener is bound once; its clients and secrets reload.
        let listen = |c: &Config| c.sessions.radius.as_ref().map(|r| r.listen);
        if listen(&config) != listen(&self.config) {
            return Err(ReloadError::NeedsRestart("sessions.radius.listen"));
        }
        if config.subscribers.ipv6_quarantine_prefix
            != self.config.subscribers.ipv6_quarantine_prefix
        {
            return Err(ReloadError::NeedsRestart(
                "subscribers.ipv6_quarantine_prefix",
            ));
        }
        let desired = self.engine.quarantined();
        let noticed = self.engine.noticed();
        let kernel = self.kernel.clone();
        let new = config.clone();
        blocking(move || kernel.install(&new, &desired, &noticed)).await?;
        let stored = if config.detection.reports != self.config.detection.reports {
            // A new score or window: rebuild the ledger from the store.
            match self.store.reports().await {
                Ok(stored) => Some(stored),
                Err(e) => {
                    warn!(error = %e, "cannot re-read the reports for the new score and window; the old ones apply until the next start");
                    None
                }
            }
        } else {
            None
        };
        self.engine
            .reconfigure(&config, stored.as_deref(), self.clock.now());
        self.config = config.clone();
        self.config_tx.send_replace(config);
        info!("config reloaded; the table now holds the new rules and the current quarantines");
        Ok(())
    }
}

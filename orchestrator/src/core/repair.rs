//! The reconcile, and putting the table back when someone changed it.
//!
//! The core compares the live table with what its last install left
//! (chains, rules, set definitions) and, on a difference, installs again:
//! in place first, and if that leaves a difference (objects cordond never
//! declares, such as a named counter), by deleting and creating the table.
//! Asked by the nftables monitor within milliseconds of a change, and by
//! every reconcile as the backstop, which then also brings the quarantine
//! and notice sets in line with the store.

use std::collections::BTreeSet;
use std::time::Instant;

use cordon_config::SubscriberAddr;
use cordon_rules::Difference;
use ipnet::IpNet;
use tracing::{error, warn};

use super::{Core, blocking};
use crate::kernel::KernelError;

/// Who asked for the comparison. Ordered: when both ask in one batch,
/// the reconcile's retry wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Asked {
    /// The monitor heard the table change.
    Monitor,
    /// The periodic reconcile (or a monitor that lost events).
    Reconcile,
}

/// Differences in words, one after another.
fn words(found: &[Difference]) -> String {
    found
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The kernel's two sets of subscribers, which the reconcile brings in
/// line with the store alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sets {
    /// The quarantine sets: the walled garden.
    Quarantine,
    /// The notice sets: the notices that show (not acknowledged).
    Notice,
}

impl Sets {
    /// What the store holds, and what the kernel's sets are called, in
    /// the log's words.
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Sets::Quarantine => ("quarantined", "quarantine set"),
            Sets::Notice => ("noticed (and showing)", "notice set"),
        }
    }
}

impl Core {
    /// What is missing from the kernel's `sets` and what is there that the
    /// store does not have, each logged.
    pub(super) fn log_diff(
        &self,
        sets: Sets,
        actual: &[IpNet],
        when: &str,
    ) -> (Vec<SubscriberAddr>, Vec<IpNet>) {
        let wanted = match sets {
            Sets::Quarantine => self.engine.quarantined(),
            Sets::Notice => self.engine.noticed(),
        };
        let desired: BTreeSet<IpNet> = wanted.iter().map(SubscriberAddr::net).collect();
        let actual: BTreeSet<IpNet> = actual.iter().copied().collect();
        let missing: Vec<SubscriberAddr> = wanted
            .into_iter()
            .filter(|a| !actual.contains(&a.net()))
            .collect();
        let extra: Vec<IpNet> = actual.difference(&desired).copied().collect();
        let (state, set) = sets.words();
        for m in &missing {
            warn!(subscriber = %m, when, "{state} in the store but missing from the kernel's {set}; adding it");
        }
        for x in &extra {
            warn!(subscriber = %x, when, "in the kernel's {set} but not {state} in the store; removing it");
        }
        (missing, extra)
    }

    /// Brings the kernel in line with the store: repairs a table changed
    /// by hand, reinstalls a missing one, adds missing quarantines and
    /// notices, removes ones the store does not have. (The monitor hears
    /// no element changes, so an element added or deleted by hand is found
    /// here.)
    pub async fn reconcile(&mut self) -> Result<(), KernelError> {
        self.repair_table(Asked::Reconcile).await?;
        let kernel = self.kernel.clone();
        let exists = blocking(move || kernel.exists()).await?;
        if !exists {
            warn!(table = %self.config.table, "Cordon's table is missing from the kernel (deleted by hand?); installing it again from the store");
            return self.install().await;
        }
        for sets in [Sets::Quarantine, Sets::Notice] {
            if !self.align(sets).await? {
                return self.install().await;
            }
        }
        self.last_reconcile = Some(self.clock.now());
        Ok(())
    }

    /// Brings one of the kernel's sets in line with the store in one
    /// transaction; false when it holds something that is no subscriber at
    /// all, which only replacing the table removes.
    async fn align(&mut self, sets: Sets) -> Result<bool, KernelError> {
        let kernel = self.kernel.clone();
        let actual = blocking(move || match sets {
            Sets::Quarantine => kernel.quarantined(),
            Sets::Notice => kernel.noticed(),
        })
        .await?;
        let (missing, extra) = self.log_diff(sets, &actual, "at reconcile");
        if missing.is_empty() && extra.is_empty() {
            return Ok(true);
        }
        let admitted: Option<Vec<SubscriberAddr>> = extra
            .iter()
            .map(|n| {
                self.config
                    .subscriber_addr(&n.to_string())
                    .ok()
                    .filter(|a| a.net() == *n)
            })
            .collect();
        let Some(remove) = admitted else {
            return Ok(false);
        };
        let kernel = self.kernel.clone();
        blocking(move || match sets {
            Sets::Quarantine => kernel.change(&missing, &remove),
            Sets::Notice => kernel.change_noticed(&missing, &remove),
        })
        .await?;
        Ok(true)
    }

    /// Compares the live table with the installed one and repairs it.
    ///
    /// A difference that a repair could not undo is remembered, and the
    /// monitor's notices do not retry it (the repair's own changes would
    /// notify again, for ever); the reconcile does, every interval.
    pub(crate) async fn repair_table(&mut self, asked: Asked) -> Result<(), KernelError> {
        let kernel = self.kernel.clone();
        let found = blocking(move || kernel.drift()).await?;
        if found.is_empty() {
            self.table_unrepaired.clear();
            return Ok(());
        }
        if asked == Asked::Monitor && found == self.table_unrepaired {
            return Ok(());
        }
        let started = Instant::now();
        let what = words(&found);
        let table = self.config.table.clone();
        let result = self.reinstall().await;
        let took_ms = started.elapsed().as_millis();
        match result {
            Ok(left) if left.is_empty() => {
                warn!(
                    %table,
                    took_ms,
                    "table inet {table} was changed outside cordond ({what}); repaired"
                );
                self.metrics.table_repair(true);
                self.table_unrepaired.clear();
                Ok(())
            }
            Ok(left) => {
                let still = words(&left);
                error!(
                    %table,
                    "table inet {table} was changed outside cordond ({what}) and could not be repaired: still {still}; cordond tries again at every reconcile"
                );
                self.metrics.table_repair(false);
                self.table_unrepaired = left;
                Ok(())
            }
            Err(e) => {
                error!(
                    %table,
                    error = %e,
                    "table inet {table} was changed outside cordond ({what}) and could not be repaired; cordond tries again at every reconcile"
                );
                self.metrics.table_repair(false);
                self.table_unrepaired = found;
                Err(e)
            }
        }
    }

    /// Installs in place, then anew if a difference is left; answers what
    /// is left after that.
    async fn reinstall(&mut self) -> Result<Vec<Difference>, KernelError> {
        self.install().await?;
        let kernel = self.kernel.clone();
        let left = blocking(move || kernel.drift()).await?;
        if left.is_empty() {
            return Ok(left);
        }
        warn!(
            table = %self.config.table,
            left = %words(&left),
            "an update in place left the table different; deleting and creating it in one transaction"
        );
        let (kernel, config) = (self.kernel.clone(), self.config.clone());
        let desired = self.engine.quarantined();
        let noticed = self.engine.noticed();
        blocking(move || {
            kernel.install_anew(&config, &desired, &noticed)?;
            kernel.drift()
        })
        .await
    }

    /// What a repair could not undo, in words (empty: nothing).
    pub(crate) fn unrepaired(&self) -> Vec<String> {
        self.table_unrepaired
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests;

//! The real kernel: `cordon_rules::Kernel` for nftables (the table
//! installed with `nft`, set elements changed and looked up over netlink
//! from cordond itself), ctnetlink for conntrack.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use cordon_config::{Config, SubscriberAddr};
use cordon_rules::{
    Carried, Difference, Installed, Kernel, NftCommand, RulesError, Shape, SmtpSeen,
};
use ipnet::IpNet;
use parking_lot::{Mutex, MutexGuard};

use super::{Enforcer, KernelError, conntrack};

/// nftables (installs through `nft`, element changes and lookups over
/// netlink), conntrack through netlink, in the namespace `cordond` runs in.
#[derive(Debug, Clone)]
pub struct NetKernel {
    nft: Kernel,
    /// What the kernel listed right after our last install: the table as
    /// cordond wants it, in nft's own normal form. The lock is held across
    /// an install and its listing, and across a comparison, so a
    /// comparison never sees a new table against the old record.
    installed: Arc<Mutex<Option<Shape>>>,
    /// `portal.captive_port` of the config last installed (0: none): its
    /// connections are kept by the conntrack flush ([`conntrack::flush`]).
    captive_port: Arc<AtomicU16>,
}

impl NetKernel {
    /// The table `config` names, in `cordond`'s own namespace.
    pub fn new(config: &Config) -> Self {
        NetKernel {
            nft: Kernel::new(config, NftCommand::default()),
            installed: Arc::default(),
            captive_port: Arc::new(AtomicU16::new(config.portal.captive_port)),
        }
    }

    fn installed(&self) -> MutexGuard<'_, Option<Shape>> {
        self.installed.lock()
    }

    /// Runs an install and records what the kernel then lists. A refused
    /// install changed nothing (one transaction), so the record of the
    /// table still in the kernel stays; it stays too when the listing
    /// fails, and the next comparison then reinstalls and records again.
    fn recorded(
        &self,
        install: impl FnOnce(&Kernel) -> Result<(), KernelError>,
    ) -> Result<(), KernelError> {
        let mut installed = self.installed();
        install(&self.nft)?;
        match self.nft.shape() {
            Ok(shape) => *installed = shape.map(Shape::declared),
            Err(e) => tracing::warn!(
                error = %e,
                "cannot list the table just installed; the next comparison repairs it against the previous record"
            ),
        }
        Ok(())
    }
}

fn carried(quarantined: &[SubscriberAddr], noticed: &[SubscriberAddr]) -> Carried {
    Carried {
        quarantined: quarantined.to_vec(),
        noticed: noticed.to_vec(),
        ..Carried::default()
    }
}

impl Enforcer for NetKernel {
    fn exists(&self) -> Result<bool, KernelError> {
        Ok(self.nft.exists()?)
    }

    fn install(
        &self,
        config: &Config,
        quarantined: &[SubscriberAddr],
        noticed: &[SubscriberAddr],
    ) -> Result<(), KernelError> {
        self.captive_port
            .store(config.portal.captive_port, Ordering::Relaxed);
        self.recorded(|nft| {
            if let Installed::Replaced { refusal } =
                nft.install(config, &carried(quarantined, noticed))?
            {
                tracing::warn!(
                    %refusal,
                    "the live table could not be updated in place, so it was replaced in one transaction"
                );
            }
            Ok(())
        })
    }

    fn install_anew(
        &self,
        config: &Config,
        quarantined: &[SubscriberAddr],
        noticed: &[SubscriberAddr],
    ) -> Result<(), KernelError> {
        self.captive_port
            .store(config.portal.captive_port, Ordering::Relaxed);
        self.recorded(|nft| Ok(nft.install_anew(config, &carried(quarantined, noticed))?))
    }

    fn drift(&self) -> Result<Vec<Difference>, KernelError> {
        let installed = self.installed();
        let Some(want) = installed.as_ref() else {
            // Nothing installed yet (or the last install failed): there is
            // no table of ours to compare with.
            return Ok(Vec::new());
        };
        Ok(match self.nft.shape()? {
            None => vec![Difference::TableMissing],
            Some(live) => want.differences(&live),
        })
    }

    fn remove(&self) -> Result<(), KernelError> {
        Ok(self.nft.remove()?)
    }

    fn quarantined(&self) -> Result<Vec<IpNet>, KernelError> {
        Ok(self.nft.quarantined()?)
    }

    fn noticed(&self) -> Result<Vec<IpNet>, KernelError> {
        Ok(self.nft.noticed()?)
    }

    fn change(&self, add: &[SubscriberAddr], remove: &[SubscriberAddr]) -> Result<(), KernelError> {
        Ok(self.nft.change_quarantined(add, remove)?)
    }

    fn change_noticed(
        &self,
        add: &[SubscriberAddr],
        remove: &[SubscriberAddr],
    ) -> Result<(), KernelError> {
        Ok(self.nft.change_noticed(add, remove)?)
    }

    fn enforce_unrecorded(&self, add: &[SubscriberAddr]) -> Result<(), KernelError> {
        Ok(self.nft.enforce_unrecorded(add)?)
    }

    fn withdraw_unrecorded(&self, addrs: &[SubscriberAddr]) -> Result<(), KernelError> {
        Ok(self.nft.withdraw_unrecorded(addrs)?)
    }

    fn mark_recorded(&self, addrs: &[SubscriberAddr]) -> Result<(), KernelError> {
        Ok(self.nft.mark_recorded(addrs)?)
    }

    fn unrecorded(&self) -> Result<Vec<IpAddr>, KernelError> {
        Ok(self.nft.unrecorded()?)
    }

    fn smtp_seen(&self, addr: &SubscriberAddr) -> Result<Option<SmtpSeen>, KernelError> {
        Ok(self.nft.smtp_seen(addr)?)
    }

    fn smtp_recent(&self) -> Result<Vec<SmtpSeen>, KernelError> {
        Ok(self.nft.smtp_recent()?)
    }

    fn smtp_held(&self) -> Result<Vec<SmtpSeen>, KernelError> {
        Ok(self.nft.smtp_held()?)
    }

    fn flush_conntrack(&self, addrs: &[SubscriberAddr]) -> Result<usize, KernelError> {
        let nets: Vec<IpNet> = addrs.iter().map(SubscriberAddr::net).collect();
        let spare = Some(self.captive_port.load(Ordering::Relaxed)).filter(|&p| p != 0);
        conntrack::flush(&nets, spare).map_err(|source| KernelError::Netlink {
            what: match addrs {
                [one] => format!("delete the conntrack entries of {one}"),
                many => format!("delete the conntrack entries of {} hosts", many.len()),
            },
            source,
        })
    }

    fn relay_limit_hits(&self) -> Result<u64, KernelError> {
        let table = self.nft.table().to_owned();
        let out = std::process::Command::new("nft")
            .args(["-j", "list", "chain", "inet", &table, "relay_limit"])
            .output()
            .map_err(|source| {
                KernelError::Rules(RulesError::Spawn {
                    program: "nft".into(),
                    source,
                })
            })?;
        if !out.status.success() {
            return Err(KernelError::Rules(RulesError::Refused {
                what: "read the relay-limit counters".into(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            }));
        }
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|source| {
            KernelError::Rules(RulesError::BadAnswer {
                what: "read the relay-limit counters".into(),
                source,
            })
        })?;
        Ok(counter_packets(&doc))
    }
}

/// The sum of the packet counts of every `counter` in an `nft -j list
/// chain` answer. Only the relay-limit chain's refusing rules carry one, so
/// this is the number of refused connections. Read as loose JSON: the
/// `nftables` crate's typed schema is not a dependency of this crate, and
/// only one field of one statement is wanted.
fn counter_packets(doc: &serde_json::Value) -> u64 {
    let Some(objects) = doc.get("nftables").and_then(|v| v.as_array()) else {
        return 0;
    };
    objects
        .iter()
        .filter_map(|o| o.get("rule")?.get("expr")?.as_array())
        .flatten()
        .filter_map(|e| e.get("counter")?.get("packets")?.as_u64())
        .sum()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn relay_limit_counters_add_up() {
        let doc: serde_json::Value = serde_json::from_str(
            r#"{"nftables": [{"metainfo": {"json_schema_version": 1}},
            {"chain": {"family": "inet", "table": "cordon", "name": "relay_limit"}},
            {"rule": {"expr": [{"match": {}}, {"counter": {"packets": 3, "bytes": 180}}, {"reject": {}}]}},
            {"rule": {"expr": [{"counter": {"packets": 2, "bytes": 120}}, {"reject": {}}]}},
            {"rule": {"expr": [{"accept": null}]}}]}"#,
        )
        .unwrap();
        assert_eq!(counter_packets(&doc), 5);
    }
}

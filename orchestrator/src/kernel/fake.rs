//! A kernel in memory, for unit tests of the daemon core: it refuses what
//! nftables refuses (deleting an absent element, overlapping intervals), so
//! tests catch the same mistakes the real kernel would.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use cordon_config::{Config, SubscriberAddr};
use cordon_rules::{Difference, RulesError, SmtpSeen};
use ipnet::IpNet;
use parking_lot::Mutex;

use super::{Enforcer, KernelError};

/// The state of the pretend kernel.
#[derive(Debug, Default)]
pub struct FakeState {
    /// Whether the table exists.
    pub table: bool,
    /// The quarantine sets.
    pub quarantined: BTreeSet<IpNet>,
    /// The notice sets.
    pub noticed: BTreeSet<IpNet>,
    /// Recent SMTP activity per key.
    pub smtp: BTreeMap<IpAddr, SmtpSeen>,
    /// The part of it made while quarantined.
    pub held: BTreeMap<IpAddr, SmtpSeen>,
    /// Conntrack flushes asked for, one entry per call, so tests see both
    /// which hosts were flushed and how the daemon batched them.
    pub flushed: Vec<Vec<SubscriberAddr>>,
    /// The nice value of the thread each flush ran on.
    pub flush_nice: Vec<i32>,
    /// Changes applied.
    pub changes: usize,
    /// What the relay-limit counters say.
    pub relay_limit_hits: u64,
    /// How the table differs from the one installed (tests set it, as a
    /// person changing the table by hand would).
    pub drift: Vec<Difference>,
    /// An install leaves `drift` as it is, and a fresh install too: a
    /// change cordond cannot undo.
    pub stubborn: bool,
    /// Installs done, in place or anew.
    pub installs: usize,
    /// Each single host's SMTP count looked up, and whether its quarantine
    /// was in the set when it was (detection enforces before it looks).
    pub smtp_lookups: Vec<(SubscriberAddr, bool)>,
    /// How long a conntrack flush takes (a big table's dump).
    pub flush_delay: Duration,
    /// Of the installs, those that deleted and created the table.
    pub installs_anew: usize,
    /// Quarantines marked unrecorded (enforced before their records).
    pub unrecorded: BTreeSet<IpNet>,
    /// Every quarantine set change, in order: `+`/`-` and whether it was
    /// the unrecorded path (`enforce`, `withdraw`) or the recorded one
    /// (`change`), for tests of what happened before the store.
    pub journal: Vec<String>,
}

/// A kernel in memory.
#[derive(Debug, Default)]
pub struct FakeKernel {
    /// Its state, for tests to read and change (a parking_lot lock: a
    /// test that panics while holding it does not poison it for the rest).
    pub state: Mutex<FakeState>,
}

fn refused(what: &str, why: &str) -> KernelError {
    KernelError::Rules(RulesError::Refused {
        what: what.into(),
        stderr: why.into(),
    })
}

impl FakeKernel {
    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock())
    }
}

impl Enforcer for FakeKernel {
    fn exists(&self) -> Result<bool, KernelError> {
        Ok(self.with(|s| s.table))
    }

    fn install(
        &self,
        _config: &Config,
        quarantined: &[SubscriberAddr],
        noticed: &[SubscriberAddr],
    ) -> Result<(), KernelError> {
        self.with(|s| {
            s.table = true;
            s.quarantined = quarantined.iter().map(SubscriberAddr::net).collect();
            s.noticed = noticed.iter().map(SubscriberAddr::net).collect();
            // The marks are no set of the store's: an install empties them.
            s.unrecorded.clear();
            s.installs += 1;
            // In place, the real installer redoes the table's attributes,
            // chains, rules and sets, and leaves other objects alone.
            if !s.stubborn {
                s.drift.retain(|d| matches!(d, Difference::Other(..)));
            }
        });
        Ok(())
    }

    fn install_anew(
        &self,
        config: &Config,
        quarantined: &[SubscriberAddr],
        noticed: &[SubscriberAddr],
    ) -> Result<(), KernelError> {
        self.install(config, quarantined, noticed)?;
        self.with(|s| {
            s.installs_anew += 1;
            if !s.stubborn {
                s.drift.clear();
            }
        });
        Ok(())
    }

    fn drift(&self) -> Result<Vec<Difference>, KernelError> {
        Ok(self.with(|s| {
            if s.table {
                s.drift.clone()
            } else {
                vec![Difference::TableMissing]
            }
        }))
    }

    fn remove(&self) -> Result<(), KernelError> {
        self.with(|s| {
            s.table = false;
            s.quarantined.clear();
            s.noticed.clear();
        });
        Ok(())
    }

    fn quarantined(&self) -> Result<Vec<IpNet>, KernelError> {
        self.with(|s| {
            if !s.table {
                return Err(refused("read a set", "No such file or directory"));
            }
            Ok(s.quarantined.iter().copied().collect())
        })
    }

    fn noticed(&self) -> Result<Vec<IpNet>, KernelError> {
        self.with(|s| {
            if !s.table {
                return Err(refused("read a set", "No such file or directory"));
            }
            Ok(s.noticed.iter().copied().collect())
        })
    }

    fn change(&self, add: &[SubscriberAddr], remove: &[SubscriberAddr]) -> Result<(), KernelError> {
        self.with(|s| {
            s.quarantined = changed(
                s.table,
                &s.quarantined,
                add,
                remove,
                "change quarantined hosts",
            )?;
            s.changes += 1;
            s.journal
                .push(format!("change +{} -{}", list(add), list(remove)));
            Ok(())
        })
    }

    fn change_noticed(
        &self,
        add: &[SubscriberAddr],
        remove: &[SubscriberAddr],
    ) -> Result<(), KernelError> {
        self.with(|s| {
            s.noticed = changed(s.table, &s.noticed, add, remove, "change noticed hosts")?;
            Ok(())
        })
    }

    fn enforce_unrecorded(&self, add: &[SubscriberAddr]) -> Result<(), KernelError> {
        self.with(|s| {
            let what = "enforce quarantines before recording them";
            s.quarantined = changed(s.table, &s.quarantined, add, &[], what)?;
            s.unrecorded = changed(s.table, &s.unrecorded, add, &[], what)?;
            s.changes += 1;
            s.journal.push(format!("enforce {}", list(add)));
            Ok(())
        })
    }

    fn withdraw_unrecorded(&self, addrs: &[SubscriberAddr]) -> Result<(), KernelError> {
        self.with(|s| {
            let what = "withdraw quarantines the store refused";
            s.quarantined = changed(s.table, &s.quarantined, &[], addrs, what)?;
            s.unrecorded = changed(s.table, &s.unrecorded, &[], addrs, what)?;
            s.journal.push(format!("withdraw {}", list(addrs)));
            Ok(())
        })
    }

    fn mark_recorded(&self, addrs: &[SubscriberAddr]) -> Result<(), KernelError> {
        self.with(|s| {
            s.unrecorded = changed(s.table, &s.unrecorded, &[], addrs, "mark recorded")?;
            Ok(())
        })
    }

    fn unrecorded(&self) -> Result<Vec<IpAddr>, KernelError> {
        Ok(self.with(|s| s.unrecorded.iter().map(IpNet::network).collect()))
    }

    fn smtp_seen(&self, addr: &SubscriberAddr) -> Result<Option<SmtpSeen>, KernelError> {
        Ok(self.with(|s| {
            let held = s.quarantined.contains(&addr.net());
            s.smtp_lookups.push((*addr, held));
            s.smtp.get(&addr.net().network()).copied()
        }))
    }

    fn smtp_recent(&self) -> Result<Vec<SmtpSeen>, KernelError> {
        Ok(self.with(|s| s.smtp.values().copied().collect()))
    }

    fn smtp_held(&self) -> Result<Vec<SmtpSeen>, KernelError> {
        Ok(self.with(|s| s.held.values().copied().collect()))
    }

    fn flush_conntrack(&self, addrs: &[SubscriberAddr]) -> Result<usize, KernelError> {
        let delay = self.with(|s| s.flush_delay);
        std::thread::sleep(delay);
        let nice = rustix::process::getpriority_process(Some(rustix::thread::gettid()))
            .unwrap_or(i32::MIN);
        self.with(|s| {
            s.flushed.push(addrs.to_vec());
            s.flush_nice.push(nice);
        });
        Ok(0)
    }

    fn relay_limit_hits(&self) -> Result<u64, KernelError> {
        Ok(self.with(|s| s.relay_limit_hits))
    }
}

/// A set after a change, refused as nftables refuses it: no table, an
/// absent element deleted, overlapping intervals added.
/// Addresses as a journal line shows them.
fn list(addrs: &[SubscriberAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn changed(
    table: bool,
    set: &BTreeSet<IpNet>,
    add: &[SubscriberAddr],
    remove: &[SubscriberAddr],
    what: &str,
) -> Result<BTreeSet<IpNet>, KernelError> {
    if !table {
        return Err(refused(what, "No such file or directory"));
    }
    let mut next = set.clone();
    for r in remove {
        if !next.remove(&r.net()) {
            return Err(refused(what, "element does not exist"));
        }
    }
    for a in add {
        let a = a.net();
        if next
            .iter()
            .any(|n| *n != a && (n.contains(&a) || a.contains(n)))
        {
            return Err(refused(what, "conflicting intervals"));
        }
        next.insert(a);
    }
    Ok(next)
}

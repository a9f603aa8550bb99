//! The edge between `cordond` and the kernel: the nftables table, conntrack,
//! the neighbour table. The daemon only sees the [`Enforcer`] trait, so its
//! core runs in unit tests without CAP_NET_ADMIN ([`FakeKernel`]) while the
//! lab drives the real one ([`NetKernel`]).
//!
//! Every method blocks (it spawns `nft` or talks netlink): the daemon calls
//! them from `tokio::task::spawn_blocking`.

mod conntrack;
mod fake;
mod monitor;
mod neighbours;
mod real;

use std::net::IpAddr;

use cordon_config::{Config, SubscriberAddr};
use cordon_rules::{Difference, SmtpSeen};
use ipnet::IpNet;

pub use fake::FakeKernel;
pub use monitor::{Notice, TableEvents, watch_table};
pub use neighbours::{mac_of, macs_of};
pub use real::NetKernel;

/// A kernel operation that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// nftables refused or could not be run (the message is nft's own).
    #[error(transparent)]
    Rules(#[from] cordon_rules::RulesError),
    /// A netlink request failed (conntrack). Usually missing CAP_NET_ADMIN
    /// or the nf_conntrack_netlink module not loaded (`modprobe nf_conntrack_netlink`).
    #[error("netlink request failed while trying to {what}: {source}")]
    Netlink {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

/// What `cordond` needs from the kernel.
pub trait Enforcer: Send + Sync + std::fmt::Debug + 'static {
    /// Whether Cordon's table is there.
    fn exists(&self) -> Result<bool, KernelError>;
    /// Installs the table with these quarantines and notices, or brings
    /// the live one to it in place, in one transaction.
    fn install(
        &self,
        config: &Config,
        quarantined: &[SubscriberAddr],
        noticed: &[SubscriberAddr],
    ) -> Result<(), KernelError>;
    /// Deletes the table and creates it again in one transaction: the
    /// repair for what [`Enforcer::install`] cannot undo in place.
    fn install_anew(
        &self,
        config: &Config,
        quarantined: &[SubscriberAddr],
        noticed: &[SubscriberAddr],
    ) -> Result<(), KernelError>;
    /// How the live table differs from what the last install left in the
    /// kernel (chains, rules, set definitions; not elements): empty when
    /// it is the same table.
    fn drift(&self) -> Result<Vec<Difference>, KernelError>;
    /// Removes Cordon's table (tests and `cordond` never do this on stop).
    fn remove(&self) -> Result<(), KernelError>;
    /// Every element of the quarantine sets.
    fn quarantined(&self) -> Result<Vec<IpNet>, KernelError>;
    /// Every element of the notice sets (what the reconcile compares with
    /// the notices that show).
    fn noticed(&self) -> Result<Vec<IpNet>, KernelError>;
    /// Adds and removes quarantines in one transaction.
    fn change(&self, add: &[SubscriberAddr], remove: &[SubscriberAddr]) -> Result<(), KernelError>;
    /// Adds and removes notices (the notice set) in one transaction.
    fn change_noticed(
        &self,
        add: &[SubscriberAddr],
        remove: &[SubscriberAddr],
    ) -> Result<(), KernelError>;
    /// Enforces detection's quarantines (single units) before their
    /// records are written: each into the quarantine set, marked
    /// unrecorded, in one transaction (see [`cordon_rules::names::UNRECORDED`]).
    fn enforce_unrecorded(&self, add: &[SubscriberAddr]) -> Result<(), KernelError>;
    /// Takes back, with their marks, quarantines enforced unrecorded whose
    /// records the store refused.
    fn withdraw_unrecorded(&self, addrs: &[SubscriberAddr]) -> Result<(), KernelError>;
    /// Takes the marks off quarantines whose records are now written.
    fn mark_recorded(&self, addrs: &[SubscriberAddr]) -> Result<(), KernelError>;
    /// The quarantines still marked unrecorded (first addresses): read at
    /// start, before the install empties the marks.
    fn unrecorded(&self) -> Result<Vec<IpAddr>, KernelError>;
    /// One host's recent SMTP activity (a point lookup).
    fn smtp_seen(&self, addr: &SubscriberAddr) -> Result<Option<SmtpSeen>, KernelError>;
    /// Every host with SMTP activity within the quiet period (one listing).
    fn smtp_recent(&self) -> Result<Vec<SmtpSeen>, KernelError>;
    /// The same for attempts made while quarantined (one listing, as long
    /// as the quarantines still sending).
    fn smtp_held(&self) -> Result<Vec<SmtpSeen>, KernelError>;
    /// Deletes the conntrack entries of every address in `addrs`; returns
    /// how many were deleted. Takes a whole batch because finding a host's
    /// entries means reading the machine's whole table: one read per batch,
    /// not one per host.
    fn flush_conntrack(&self, addrs: &[SubscriberAddr]) -> Result<usize, KernelError>;
    /// Packets the relay-limit rules refused since the table was installed
    /// (the rules' counters; they start again from zero when the table is
    /// replaced). One small read of one chain, whatever the number of hosts.
    fn relay_limit_hits(&self) -> Result<u64, KernelError>;
}

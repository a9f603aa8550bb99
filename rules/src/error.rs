//! What can go wrong between Cordon and the kernel's nftables.

/// An nftables operation that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// `nft` could not be started. Install the `nftables` package, or check
    /// that `nft` is on `PATH`.
    #[error("cannot run `{program}` (is the nftables package installed?): {source}")]
    Spawn {
        /// The program that failed to start.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// The kernel (or `nft`) refused the change. The message is `nft`'s own;
    /// a refusal is usually missing CAP_NET_ADMIN or a kernel without
    /// nf_tables support.
    #[error("nft refused to {what}: {stderr}")]
    Refused {
        /// What was being done.
        what: String,
        /// `nft`'s error output.
        stderr: String,
    },
    /// `nft` answered with JSON this version does not understand.
    #[error("cannot read nft's answer while trying to {what}: {source}")]
    BadAnswer {
        /// What was being done.
        what: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The kernel's nf_tables could not be asked over netlink (reading the
    /// table's definition). Needs CAP_NET_ADMIN in the table's namespace.
    #[error("cannot {what} (does cordond hold CAP_NET_ADMIN?): {source}")]
    Netlink {
        /// What was being done.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// A set Cordon reads is not in its table (or the table is gone):
    /// someone removed it by hand, or the table is from another release.
    #[error("set {set} is not in table inet {table} (restart cordond to reinstall the ruleset)")]
    MissingSet {
        /// The set asked for.
        set: String,
        /// The table it should be in.
        table: String,
    },
    /// The kernel refused a transaction of element changes; nothing of it
    /// was applied (boxed: it names the element, and errors stay small).
    #[error(transparent)]
    ElementRefused(Box<ElementRefusal>),
    /// A bug in the caller: only single units (an IPv4 host, an IPv6
    /// subscriber prefix) are enforced before they are recorded; a wider
    /// quarantine takes the recorded path.
    #[error(
        "{addr} is wider than one subscriber: only single subscribers are enforced before their record is written"
    )]
    NotAUnit {
        /// The quarantine asked for.
        addr: ipnet::IpNet,
    },
    /// A bug: the ruleset template failed to render.
    #[error("cannot render the ruleset: {0}")]
    Template(#[from] minijinja::Error),
}

/// A transaction of element changes the kernel refused, with the first
/// element it refused and why.
#[derive(Debug, thiserror::Error)]
#[error(
    "the kernel refused to {what} (nothing was changed): cannot {op} {element} in set {set}: {reason}"
)]
pub struct ElementRefusal {
    /// What was being done.
    pub what: String,
    /// `add` or `delete`.
    pub op: String,
    /// The element refused, as nft writes it.
    pub element: String,
    /// The set it was meant for.
    pub set: String,
    /// What the refusal means, and the remedy.
    pub reason: String,
    /// The kernel's error number.
    pub source: std::io::Error,
}

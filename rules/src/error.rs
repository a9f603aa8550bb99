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
    /// A bug: the ruleset template failed to render.
    #[error("cannot render the ruleset: {0}")]
    Template(#[from] minijinja::Error),
}

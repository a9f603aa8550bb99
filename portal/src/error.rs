//! The portal's one error type. Every variant says what went wrong and what
//! the operator can do about it; the binary prints it and exits non-zero.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the portal could not start, or why one lookup failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The config file could not be read or is invalid. Fix the file; `cordon
    /// check-config PATH` shows every problem at once.
    #[error("{0}")]
    Config(String),

    /// A listening socket could not be opened: another program has the port,
    /// or the address is not on this machine, or the port is below 1024 and
    /// the portal is not root.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from the config.
        addr: SocketAddr,
        /// What the kernel said.
        source: std::io::Error,
    },

    /// Started as root without `portal.user`: the portal faces every
    /// subscriber and must not keep root. Set `portal.user` to an unprivileged
    /// account (it drops to it after opening its ports), or start it as that user.
    #[error(
        "refusing to run as root: set portal.user in the config to the account to switch to (e.g. cordon-portal), or start the portal as that user"
    )]
    RootWithoutUser,

    /// Switching to `portal.user` failed: the account does not exist, or the
    /// kernel refused. Create the account (`useradd --system cordon-portal`).
    #[error("cannot switch to user {user:?}: {reason}")]
    Privileges {
        /// The account named in `portal.user`.
        user: String,
        /// What went wrong.
        reason: String,
    },

    /// A template (built-in or from `portal.templates_dir`) does not parse or
    /// render. The message names the template and the line.
    #[error("template error: {0}")]
    Template(String),

    /// A translation file does not parse, or a configured language has no
    /// file. Add `LANG.ftl` to `portal.translations_dir` or remove the
    /// language from `portal.languages`.
    #[error("translations: {0}")]
    Translations(String),

    /// The tools directory or its `tools.yaml` is unreadable or invalid.
    #[error("tools in {dir}: {reason}")]
    Tools {
        /// `portal.tools_dir`.
        dir: PathBuf,
        /// What was wrong (file, line and column for YAML).
        reason: String,
    },

    /// `cordond` could not be asked: it is not running, the portal's user may
    /// not open `control.portal_socket`, or it did not answer in time. Pages
    /// still render, with general advice instead of the caller's facts.
    #[error("cannot ask cordond on {socket}: {reason}")]
    Cordond {
        /// `control.portal_socket`.
        socket: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// A runtime or its thread could not be started (out of memory or
    /// threads: check the unit's `TasksMax=` and the machine's limits).
    #[error(
        "cannot start a runtime thread: {0}; check the process and thread limits (TasksMax=, ulimit -u)"
    )]
    Runtime(#[source] std::io::Error),
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The contract's exit code: 2 for what the operator wrote (config,
    /// templates, translations, tools list), 1 for what could not be done.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_)
            | Error::RootWithoutUser
            | Error::Template(_)
            | Error::Translations(_)
            | Error::Tools { .. } => 2,
            Error::Bind { .. }
            | Error::Privileges { .. }
            | Error::Cordond { .. }
            | Error::Runtime(_) => 1,
        }
    }
}

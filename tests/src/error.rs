//! The lab's one error type. Every variant says what went wrong and, where
//! there is one, what to do about it, because the reader is usually a
//! developer looking at a failed test.

use std::path::PathBuf;
use std::time::Duration;

/// Why building, using or tearing down a lab failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// The lab name cannot be used in namespace names. Use 1 to 24 lower-case
    /// letters, digits or `-`, starting with a letter.
    #[error("lab name `{name}` is not usable: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An option is out of range (for example zero subscribers).
    #[error("invalid lab option: {0}")]
    InvalidOption(String),

    /// A lab of this name already exists (its run directory or one of its
    /// namespaces). Tear it down with `cordon-lab down --name NAME`.
    #[error(
        "a lab named `{name}` already exists ({what}); remove it with `cordon-lab down --name {name}` or pick another name"
    )]
    AlreadyExists {
        /// The lab name.
        name: String,
        /// What was found.
        what: String,
    },

    /// An external program (`ip`, `curl`, `swaks`...) could not be started.
    /// Install it (`scripts/install-deps test`) or check the path.
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The portal's own system user does not exist on this machine.
    #[error(
        "the user `{user}` does not exist: the lab runs the portal as its own user, as production does; run scripts/install-deps (or systemd-sysusers deploy/sysusers.d/cordon.conf)"
    )]
    MissingUser {
        /// The user name.
        user: String,
    },

    /// An external command ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },

    /// Entering a network namespace failed: it does not exist (any more) or
    /// this process lacks CAP_SYS_ADMIN (run the lab as root).
    #[error("cannot enter network namespace `{netns}`: {reason}")]
    Netns {
        /// The namespace.
        netns: String,
        /// Why.
        reason: String,
    },

    /// A namespace could not be entered (the test kit's answer, which says
    /// why: it is gone, or entering needs root).
    #[error(transparent)]
    Enter(#[from] cordon_testkit::NetnsError),

    /// The kernel refused a netlink request (link, address or route).
    #[error("in namespace `{netns}`, {what}: {source}")]
    Netlink {
        /// The namespace.
        netns: String,
        /// The request, e.g. "add address 100.64.1.1/24 to sub0".
        what: String,
        /// The kernel's answer.
        #[source]
        source: rtnetlink::Error,
    },

    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the path.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The lab's generated config was refused by `cordon_config`: a bug in
    /// the lab's template or in a test's `configure` closure.
    #[error("the lab's cordond config is invalid:\n{0}")]
    Config(#[from] cordon_config::ConfigErrors),

    /// The lab's config could not be written as YAML.
    #[error("cannot write the lab's config as YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),

    /// Something did not happen within its deadline.
    #[error("timed out after {waited:?} waiting for {what}{detail}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        waited: Duration,
        /// Extra detail (e.g. the tail of a log), prefixed with a separator.
        detail: String,
    },

    /// A lab process exited before it was ready. Its log explains why.
    #[error("{what} exited ({status}) before it was ready; log {log:?}:\n{log_tail}")]
    ProcessExited {
        /// Which process.
        what: String,
        /// Its exit status.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of the log.
        log_tail: String,
    },

    /// A program the lab needs was not found. Build it (`cargo build
    /// --workspace`) or pass its path to the builder.
    #[error(
        "cannot find the `{name}` executable (looked in {looked:?}); build it or pass its path"
    )]
    ExeNotFound {
        /// The executable's name.
        name: String,
        /// Where the lab looked.
        looked: Vec<PathBuf>,
    },

    /// The internet services answered something that is not their stats.
    #[error("bad answer from the internet services' stats socket: {0}")]
    Stats(String),

    /// A DNS message could not be built or read.
    #[error("DNS: {0}")]
    Dns(String),

    /// The lab's PostgreSQL (for a fleet of gateways) cannot be run here.
    #[error("the lab's PostgreSQL: {0}")]
    Postgres(#[from] cordon_testkit::pg::PgMissing),
}

impl From<cordon_testkit::TimedOut> for LabError {
    fn from(t: cordon_testkit::TimedOut) -> LabError {
        LabError::Timeout {
            what: t.what,
            waited: t.waited,
            detail: String::new(),
        }
    }
}

/// A command's failure as the lab has always named it.
impl From<cordon_testkit::command::CommandError> for LabError {
    fn from(e: cordon_testkit::command::CommandError) -> LabError {
        use cordon_testkit::command::CommandError;
        match e {
            CommandError::Spawn { program, source } => LabError::Spawn { program, source },
            CommandError::Timeout(t) => t.into(),
            CommandError::Wait { program, source } => LabError::Io {
                what: format!("waiting for `{program}`"),
                source,
            },
            CommandError::Failed {
                command,
                status,
                stderr,
            } => LabError::Command {
                command,
                status,
                stderr,
            },
        }
    }
}

impl LabError {
    /// Shorthand for [`LabError::Io`] with a description of the operation.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LabError {
        let what = what.into();
        move |source| LabError::Io { what, source }
    }
}

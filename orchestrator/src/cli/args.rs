//! The command line, as clap reads it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The default config file.
pub const DEFAULT_CONFIG: &str = "/etc/cordon/cordon.yaml";

/// Operate Cordon: see and change quarantines, check configs.
#[derive(Debug, Parser)]
#[command(name = "cordon", version, about, propagate_version = true)]
pub struct Cli {
    /// cordond's control socket (default: control.socket from the config).
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Print one JSON document on stdout instead of text for people.
    #[arg(long, global = true)]
    pub json: bool,
    /// The config, used to check addresses before asking cordond and to
    /// find its socket [default: /etc/cordon/cordon.yaml].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// How cordond is doing.
    Status,
    /// Every host quarantined or on probation.
    List,
    /// One address or subscriber: its state, reason, times, SMTP attempts,
    /// and a subscriber's sessions.
    Show(Whom),
    /// Put an address in the walled garden: the subscriber holding it when
    /// a session names one (it stays walled in at its next addresses), else
    /// the address.
    Quarantine {
        /// Whom, and why.
        #[command(flatten)]
        change: Change,
        /// A fixed length (30m, 2h, 7d): it ends then, whatever the host does.
        #[arg(long, value_name = "DURATION")]
        hold: Option<String>,
    },
    /// Notice an address or subscriber: its next plain http:// page load,
    /// once per `notice.interval`, shows the notice page with the cleanup
    /// steps; nothing is blocked. The subscriber holding the address when
    /// a session names one. `detection.ladder` may move it on to
    /// quarantine if it keeps sending.
    Notice(Change),
    /// Lift a quarantine (the host goes on probation), or withdraw a
    /// notice (the host is clean).
    #[command(mut_arg("address", |a| a.help("The address as quarantined (or one its subscriber holds)")))]
    Release(Change),
    /// The audit trail, newest first.
    History {
        /// Only this address.
        address: Option<String>,
        /// Only this subscriber.
        #[arg(long, value_name = "ID", conflicts_with = "address")]
        subscriber: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Hand in an outside report (abuse desk): it adds to the address's
    /// score, and reaching detection.reports.score applies its action.
    Report {
        /// The reported IPv4 or IPv6 address.
        address: String,
        /// Who reports it (a feed, a person, a list).
        #[arg(long)]
        source: String,
        /// What they say (recorded in the audit trail).
        #[arg(long)]
        evidence: String,
        /// What happened: spam, bot, sinkhole, malware, phishing,
        /// brute_force, scan or other.
        #[arg(long, default_value = "other", value_parser = ["spam", "bot", "sinkhole", "malware", "phishing", "brute_force", "scan", "other"])]
        kind: String,
        /// Points it adds to the score [default: the config's weight for
        /// its kind, detection.reports.weights].
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        weight: Option<u32>,
        /// The reported message's id: the same source and id count once.
        #[arg(long, value_name = "ID")]
        message_id: Option<String>,
        /// When it happened (RFC 3339 or Unix seconds) [default: now].
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
    /// Read report feeds (CSV `address,time,source,evidence` lines, or ARF
    /// messages) and hand in every valid report. Bad lines are listed with
    /// their numbers on stderr and skipped; the valid ones are all applied.
    /// Exit 0 when any report was valid, 2 when none was.
    Import {
        /// Feed files (each one feed; its format is told by its content);
        /// `-` reads one message or feed from standard input (an MTA's pipe
        /// alias), at most 64 MiB.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Tell cordond who holds which address (DHCP and PPP hooks, or by
    /// hand): a quarantined subscriber is walled in at every address it
    /// gets, and an address it gives up is free for its next holder.
    Session {
        /// Start or stop.
        #[command(subcommand)]
        action: SessionAction,
    },
    /// The session history (who held which address when), newest first.
    Sessions {
        /// Only this subscriber.
        #[arg(value_name = "ID")]
        subscriber: Option<String>,
        /// At most this many lines.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Check a config file (exit 0, or 2 with every error at file:line:col).
    CheckConfig {
        /// The file.
        path: PathBuf,
    },
    /// Print the nftables ruleset cordond would install (`nft -f` syntax).
    Rules {
        /// The config file.
        #[arg(long, value_name = "PATH")]
        config: PathBuf,
    },
}

/// Whom a command about one host is about: an address, or a subscriber
/// (exactly one), as `show`, `quarantine`, `notice` and `release` take it.
#[derive(Debug, Args)]
pub struct Whom {
    /// IPv4 address, IPv6 address (its /64), or a CIDR range.
    #[arg(required_unless_present = "subscriber")]
    pub address: Option<String>,
    /// A subscriber id in place of the address.
    #[arg(long, value_name = "ID", conflicts_with = "address")]
    pub subscriber: Option<String>,
}

/// An operator's change to one host (quarantine, notice, release): whom,
/// and the reason the audit trail keeps.
#[derive(Debug, Args)]
pub struct Change {
    /// Whom.
    #[command(flatten)]
    pub whom: Whom,
    /// Why (recorded in the audit trail).
    #[arg(long)]
    pub reason: String,
}

/// `cordon session start|stop`.
#[derive(Debug, Subcommand)]
pub enum SessionAction {
    /// A subscriber holds these addresses from now (a refresh when it held
    /// them already). Returns once a quarantined subscriber's addresses are
    /// in the walled garden.
    Start {
        /// Who: a RADIUS user name, a DHCP client's MAC or DUID, a circuit id.
        #[arg(long, value_name = "ID")]
        subscriber: String,
        /// Its IPv4 or IPv6 address.
        #[arg(long, value_name = "A", required_unless_present = "prefix")]
        address: Option<String>,
        /// An IPv6 prefix it holds (a delegated /56 is walled in whole);
        /// repeat for several.
        #[arg(long, value_name = "P")]
        prefix: Vec<String>,
        /// Which system says so: dhcp, ppp, radius or operator.
        #[arg(long, default_value = "operator", value_parser = ["dhcp", "ppp", "radius", "operator"])]
        source: String,
    },
    /// A subscriber no longer holds these addresses (all of them, when none
    /// is given).
    Stop {
        /// Who.
        #[arg(long, value_name = "ID")]
        subscriber: String,
        /// The address it gave up.
        #[arg(long, value_name = "A")]
        address: Option<String>,
        /// A prefix it gave up; repeat for several.
        #[arg(long, value_name = "P")]
        prefix: Vec<String>,
        /// Which system says so: dhcp, ppp, radius or operator.
        #[arg(long, default_value = "operator", value_parser = ["dhcp", "ppp", "radius", "operator"])]
        source: String,
    },
}

//! The lab builder: a test names its lab and says what differs from the
//! defaults, so that its first lines read like the story it checks:
//!
//! ```no_run
//! # use std::time::Duration;
//! let lab = cordon_lab::Lab::builder("flood")
//!     .subscribers(3)
//!     .allowed_sender(2)
//!     .smtp_attempts(20, Duration::from_secs(10))
//!     .up()?;
//! # Ok::<(), cordon_lab::LabError>(())
//! ```

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use cordon_config::{Action, Config, Port25Mode, Signal};

use crate::config::{ConfigEdit, ConfigOptions};
use crate::daemons::DaemonOptions;
use crate::error::LabError;
use crate::lab::Lab;

/// Default number of subscribers.
pub const DEFAULT_SUBSCRIBERS: usize = 3;

/// Default number of gateways.
pub const DEFAULT_GATEWAYS: usize = 1;

/// Options for a lab; [`LabBuilder::up`] builds it.
pub struct LabBuilder {
    pub(crate) name: String,
    pub(crate) subscribers: usize,
    pub(crate) gateways: usize,
    pub(crate) shared_link: bool,
    pub(crate) config: ConfigOptions,
    pub(crate) edits: Vec<ConfigEdit>,
    pub(crate) lab_exe: Option<PathBuf>,
    pub(crate) daemons: DaemonOptions,
    pub(crate) postgres: bool,
}

impl fmt::Debug for LabBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabBuilder")
            .field("name", &self.name)
            .field("subscribers", &self.subscribers)
            .field("gateways", &self.gateways)
            .field("shared_link", &self.shared_link)
            .field("config", &self.config)
            .field("edits", &self.edits.len())
            .field("lab_exe", &self.lab_exe)
            .field("daemons", &self.daemons)
            .field("postgres", &self.postgres)
            .finish()
    }
}

impl LabBuilder {
    pub(crate) fn new(name: &str) -> Self {
        LabBuilder {
            name: name.to_owned(),
            subscribers: DEFAULT_SUBSCRIBERS,
            gateways: DEFAULT_GATEWAYS,
            shared_link: false,
            config: ConfigOptions::default(),
            edits: Vec::new(),
            lab_exe: None,
            daemons: DaemonOptions::default(),
            postgres: false,
        }
    }

    /// How many subscribers (1 to 250; default 3).
    pub fn subscribers(mut self, k: usize) -> Self {
        self.subscribers = k;
        self
    }

    /// How many gateways (1 to [`crate::addresses::MAX_GATEWAYS`]; default
    /// 1). Each has its own namespace, cordond config, control socket,
    /// portal, RADIUS listener, store and subscriber prefixes
    /// ([`crate::addresses::GatewayNet`]), and its own uplink to the one
    /// internet. The subscribers are dealt out in turn (subscriber `i`
    /// behind gateway `i mod N`, [`crate::addresses::gateway_of`]), so
    /// there must be at least as many subscribers as gateways.
    pub fn gateways(mut self, n: usize) -> Self {
        self.gateways = n;
        self
    }

    /// Keeps the gateways' decisions in a PostgreSQL the lab runs
    /// ([`crate::postgres`]) even with one gateway (default off: one
    /// gateway keeps its own SQLite file). A lab of several gateways always
    /// shares one, as a fleet does.
    pub fn postgres(mut self, on: bool) -> Self {
        self.postgres = on;
        self
    }

    /// Puts every subscriber on one link (default off: a link each): the
    /// gateway's `sub{i}` veths become ports of one bridge, `sublan`
    /// ([`crate::addresses::SHARED_LINK`]), which carries every subscriber's
    /// gateway addresses. Each subscriber keeps its addresses and routes,
    /// and one DHCP server on the bridge can hand any subscriber any
    /// address, as on a cable or fibre segment where a neighbour may be
    /// given the address another subscriber held. With several gateways,
    /// each has such a bridge for the subscribers behind it.
    pub fn shared_link(mut self, on: bool) -> Self {
        self.shared_link = on;
        self
    }

    /// Lets subscriber `i` send on port 25 (both its IPv4 address and /64).
    pub fn allowed_sender(mut self, i: usize) -> Self {
        self.config.allowed_senders.push(i);
        self
    }

    /// The port-25 policy mode (default `block`).
    pub fn port25_mode(mut self, mode: Port25Mode) -> Self {
        self.config.port25_mode = mode;
        self
    }

    /// New port-25 attempts per host in `window` that trigger quarantine
    /// (default 20 in 10 s).
    pub fn smtp_attempts(mut self, threshold: u32, window: Duration) -> Self {
        self.config.smtp_attempts = Signal {
            threshold,
            window,
            action: self.config.smtp_attempts.action,
        };
        self
    }

    /// What the SMTP-attempts signal does (default enforce).
    pub fn smtp_attempts_action(mut self, action: Action) -> Self {
        self.config.smtp_attempts.action = action;
        self
    }

    /// Distinct port-25 destinations per host in `window` that trigger
    /// quarantine (default 10 in 10 s).
    pub fn smtp_destinations(mut self, threshold: u32, window: Duration) -> Self {
        self.config.smtp_destinations = Signal {
            threshold,
            window,
            action: self.config.smtp_destinations.action,
        };
        self
    }

    /// Report score that triggers quarantine (default 3).
    pub fn report_score(mut self, score: u32) -> Self {
        self.config.report_score = score;
        self
    }

    /// Quiet period before release (default 4 s).
    pub fn quiet_period(mut self, d: Duration) -> Self {
        self.config.quiet_period = d;
        self
    }

    /// Shortest quarantine (default 2 s).
    pub fn min_hold(mut self, d: Duration) -> Self {
        self.config.min_hold = d;
        self
    }

    /// New relay connections per subscriber per minute, and the burst
    /// (default 20 and 40).
    pub fn relay_rate(mut self, per_minute: u32, burst: u32) -> Self {
        self.config.relay_rate = (per_minute, burst);
        self
    }

    /// Any other change to the config, on the typed struct; with several
    /// gateways, made to each gateway's config. The result is checked as
    /// cordond would check it.
    pub fn configure(mut self, edit: impl Fn(&mut Config) + Send + 'static) -> Self {
        self.edits.push(Box::new(edit));
        self
    }

    /// The `cordon-lab` executable that serves the internet (tests pass
    /// `env!("CARGO_BIN_EXE_cordon-lab")`; default: found beside the
    /// current executable).
    pub fn lab_exe(mut self, path: impl Into<PathBuf>) -> Self {
        self.lab_exe = Some(path.into());
        self
    }

    /// Starts cordond and cordon-portal in the gateway (default off).
    pub fn daemons(mut self, on: bool) -> Self {
        self.daemons.cordond = on;
        self.daemons.portal = on;
        self
    }

    /// Starts cordond from `path` (tests pass
    /// `env!("CARGO_BIN_EXE_cordond")`).
    pub fn cordond(mut self, path: impl Into<PathBuf>) -> Self {
        self.daemons.cordond_path = Some(path.into());
        self.daemons.cordond = true;
        self
    }

    /// Starts cordon-portal from `path`.
    pub fn portal(mut self, path: impl Into<PathBuf>) -> Self {
        self.daemons.portal_path = Some(path.into());
        self.daemons.portal = true;
        self
    }

    /// Starts the daemons under a descriptor limit of `n` (soft and hard).
    pub fn daemon_nofile(mut self, n: u64) -> Self {
        self.daemons.nofile = Some(n);
        self
    }

    /// Builds the lab. Refuses ([`LabError::AlreadyExists`]) when a lab of
    /// this name exists; anything half-built on failure is removed.
    pub fn up(self) -> Result<Lab, LabError> {
        Lab::up(self)
    }
}

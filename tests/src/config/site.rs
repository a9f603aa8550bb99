//! What differs between the gateways of one lab ([`GatewaySite`]), and
//! the store hook: a gateway's `store:` section is written in one place,
//! [`store_section`], from the [`StoreChoice`] the lab makes once for all
//! its gateways (see the parent module).

use std::path::PathBuf;

use super::q;
use crate::addresses::gateway_of;
use crate::names::{LabName, gateway_name};

/// Which store a lab's gateways keep their decisions in; the doc of
/// [`crate::config`] says how a shared PostgreSQL joins.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreChoice {
    /// Each gateway its own SQLite file, `cordon.db` in its directory.
    Sqlite,
    /// One PostgreSQL the lab runs ([`crate::postgres`]), shared by every
    /// gateway, each naming itself (`gw0`, `gw1`, ...) and keeping its
    /// outbox, `outbox.db`, in its own directory.
    Postgres {
        /// The server's socket directory (libpq's `host`).
        socket_dir: PathBuf,
    },
}

/// The `store:` section of gateway `site`'s config for `choice`: the one
/// place the lab writes it.
pub fn store_section(choice: &StoreChoice, site: &GatewaySite) -> String {
    match choice {
        StoreChoice::Sqlite => format!(
            "store:\n  backend: sqlite\n  path: {}\n",
            q(site.dir.join("cordon.db").display())
        ),
        StoreChoice::Postgres { socket_dir } => format!(
            "store:\n  backend: postgres\n  url: {}\n  gateway: {}\n  outbox: {}\n",
            q(crate::postgres::url(socket_dir)),
            q(site.name()),
            q(site.dir.join("outbox.db").display())
        ),
    }
}

/// What differs between the gateways of one lab: which one it is, where
/// its files live, and its store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySite {
    /// Its index (0-based).
    pub index: usize,
    /// How many gateways the lab has.
    pub gateways: usize,
    /// Its config, sockets, store and logs ([`LabName::gateway_dir`]).
    pub dir: PathBuf,
    /// The cleanup tools the portal offers (one copy for the whole lab).
    pub tools_dir: PathBuf,
    /// Its store.
    pub store: StoreChoice,
}

impl GatewaySite {
    /// Gateway `g` of `gateways` in lab `lab`.
    pub fn new(lab: &LabName, g: usize, gateways: usize, store: StoreChoice) -> Self {
        GatewaySite {
            index: g,
            gateways,
            dir: lab.gateway_dir(g),
            tools_dir: lab.run_dir().join("tools"),
            store,
        }
    }

    /// Its name: `gw0`, `gw1`, ...
    pub fn name(&self) -> String {
        gateway_name(self.index)
    }

    /// Its config file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("cordon.yaml")
    }

    /// Whose config this is, for its first line.
    pub(super) fn whose(&self, lab: &str) -> String {
        match self.gateways {
            1 => format!("the lab `{lab}`"),
            _ => format!("gateway `{}` of the lab `{lab}`", self.name()),
        }
    }

    /// True when subscriber `i` sits behind it.
    pub fn serves(&self, i: usize) -> bool {
        gateway_of(i, self.gateways) == self.index
    }
}

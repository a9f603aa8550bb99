//! The change feed of a store shared by a fleet of gateways: what any
//! gateway wrote since a position, and a signal when the database says
//! the feed moved (PostgreSQL's `LISTEN`/`NOTIFY`). A gateway follows it to
//! enforce, for the subscribers and addresses it serves, what was decided
//! elsewhere (see `daemon::fleet`).
//!
//! Positions are the store's change sequence: every write of a host or
//! subscriber row takes the next number, and a backend must make commits
//! visible in that order (PostgreSQL: one transaction-level advisory lock
//! around taking numbers and committing), or a reader that has seen 11
//! would never see a 10 committed after it.

use cordon_config::Config;
use cordon_policy::lifecycle::{Host, Unix};
use futures::future::BoxFuture;
use tokio::sync::watch;

use super::StoreError;
use super::records::{StoredHost, StoredSubscriber, row_host};

/// A position in the change feed: 0 is before everything.
pub type Position = u64;

/// What the database last said about the feed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signal {
    /// The highest position a notification named.
    pub notified: Position,
    /// Counts the listening connection's (re)connections: when it moves,
    /// notifications may have been missed while it was down, so the
    /// follower reads everything again, as at start.
    pub connection: u64,
    /// Whether the listening connection is up now.
    pub listening: bool,
}

/// Records written after a position.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Address rows, as stored.
    pub hosts: Vec<StoredHost>,
    /// Subscriber rows, as stored.
    pub subscribers: Vec<StoredSubscriber>,
    /// The position these reach (the highest one read, or the one asked
    /// when nothing was newer).
    pub upto: Position,
}

impl Changes {
    /// The records this gateway enforces, under its `config`: every
    /// subscriber's, and the address rows inside its own subscriber
    /// prefixes. Address rows of other gateways' prefixes are not this
    /// gateway's to enforce; they are counted, not refused.
    pub fn into_hosts(self, config: &Config) -> (Vec<Host>, usize) {
        let mut hosts = Vec::with_capacity(self.hosts.len() + self.subscribers.len());
        let mut elsewhere = 0;
        for row in self.hosts {
            match row_host(config, row) {
                Ok(h) => hosts.push(h),
                Err(_) => elsewhere += 1,
            }
        }
        for row in self.subscribers {
            match row.id.parse() {
                Ok(id) => hosts.push(super::records::host(
                    cordon_policy::subject::Subject::Subscriber(id),
                    row.record,
                )),
                Err(_) => elsewhere += 1,
            }
        }
        (hosts, elsewhere)
    }
}

/// A decision in force somewhere in the fleet, as the shared store holds
/// it: for `cordon list` on any gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRow {
    /// The address (as stored) or the subscriber id.
    pub key: String,
    /// Whether `key` is a subscriber id.
    pub subscriber: bool,
    /// The record.
    pub record: super::Record,
    /// The gateway that wrote it.
    pub gateway: Option<String>,
    /// What a subscriber holds now, by its open sessions anywhere in the
    /// fleet (empty for an address row): a gateway serving none of them
    /// still lists them.
    pub addresses: Vec<String>,
}

/// The most [`Feed::decisions`] returns: a listing, not an export.
pub const MAX_FLEET_ROWS: u32 = 10_000;

/// What a store shared by a fleet offers beside [`Backend`](super::Backend).
pub trait Feed: Send + Sync + std::fmt::Debug {
    /// This gateway's name in the fleet.
    fn gateway(&self) -> &str;

    /// The position the store's load at start reached: following from
    /// there misses nothing written since.
    fn start(&self) -> Position;

    /// Every host and subscriber row written after `after` (by any
    /// gateway, this one included), oldest first, at most `limit` rows.
    fn changes(&self, after: Position, limit: u32) -> BoxFuture<'_, Result<Changes, StoreError>>;

    /// What the database last said about the feed; changes when it says
    /// more.
    fn signal(&self) -> watch::Receiver<Signal>;

    /// Every record not clean, fleet-wide, with the gateway that wrote it;
    /// at most `limit`.
    fn decisions(&self, limit: u32) -> BoxFuture<'_, Result<Vec<FleetRow>, StoreError>>;

    /// The gateway that wrote the stored record of an address (`key` as
    /// stored) or of a subscriber (`subscriber`), if there is one.
    fn decided_by(
        &self,
        key: String,
        subscriber: bool,
    ) -> BoxFuture<'_, Result<Option<String>, StoreError>>;

    /// Tells the fleet this gateway is alive at `at`.
    fn heartbeat(&self, at: Unix) -> BoxFuture<'_, Result<(), StoreError>>;
}

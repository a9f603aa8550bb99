//! Retransmissions (RFC 5080 §2.2.2): a client that hears no answer sends
//! the same request again, with the same identifier and the same
//! authenticator. The listener must answer it again and apply it once. A
//! request with the same identifier and a different authenticator is a new
//! one (the identifier wraps after 256 requests; an Acct-Delay-Time that
//! grew changes the authenticator too).
//!
//! A retransmission can also arrive while the first copy is still being
//! applied (a login storm, a slow store): [`Replay::InFlight`] says so,
//! and the listener drops it, since the answer to the first copy is on its
//! way. Entries live [`Replays::new`]'s `ttl` and at most `capacity` are
//! kept, oldest dropped first: the cache is bounded whatever the clients
//! send. Time is an argument (pure, as `cordon_proto::expiring::Expiring`,
//! which holds the entries).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cordon_proto::expiring::Expiring;

/// How long a request is remembered by default: longer than clients keep
/// retransmitting (`radclient`: 3 tries of 3 s; FreeRADIUS proxies and
/// BNGs: up to 30 s).
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// How many requests are remembered by default: a login storm of 10 000
/// Starts, and room to spare.
pub const DEFAULT_CAPACITY: usize = 65_536;

/// One request, as the client identifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayKey {
    /// The sender (address and port: each of a NAS's sockets has its own
    /// identifiers).
    pub client: SocketAddr,
    /// The request's identifier.
    pub identifier: u8,
    /// The request's authenticator.
    pub authenticator: [u8; 16],
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay<'a> {
    /// Not seen: apply it, then [`Replays::remember`] the answer (or
    /// [`Replays::forget`] it if applying failed, so a retransmission is
    /// tried again). It is marked in flight from now on.
    New,
    /// Seen and still being applied: drop this copy, the answer follows.
    InFlight,
    /// Seen and answered: send these bytes again, apply nothing.
    Answered(&'a [u8]),
}

/// The requests seen lately and their answers.
#[derive(Debug)]
pub struct Replays {
    // `None`: in flight.
    entries: Expiring<ReplayKey, Option<Vec<u8>>>,
}

impl Default for Replays {
    fn default() -> Self {
        Replays::new(DEFAULT_TTL, DEFAULT_CAPACITY)
    }
}

impl Replays {
    /// Remembers up to `capacity` requests for `ttl` each.
    pub fn new(ttl: Duration, capacity: usize) -> Replays {
        Replays {
            entries: Expiring::new(ttl, capacity),
        }
    }

    /// Whether `key` was seen (and is still remembered) at `now`; a new
    /// key is marked in flight.
    pub fn admit(&mut self, key: ReplayKey, now: Instant) -> Replay<'_> {
        if self.entries.get(&key, now).is_none() {
            self.entries.insert(key, None, now);
            return Replay::New;
        }
        match self.entries.get(&key, now) {
            Some(Some(answer)) => Replay::Answered(answer),
            _ => Replay::InFlight,
        }
    }

    /// Stores the answer sent to `key`, for its retransmissions.
    pub fn remember(&mut self, key: ReplayKey, response: Vec<u8>, now: Instant) {
        self.entries.insert(key, Some(response), now);
    }

    /// Forgets `key` (applying it failed: a retransmission is new again).
    pub fn forget(&mut self, key: &ReplayKey) {
        self.entries.remove(key);
    }

    /// Requests held, expired ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

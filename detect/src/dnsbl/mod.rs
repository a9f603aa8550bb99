//! DNS block lists: asking the configured zones about subscriber addresses
//! that made SMTP attempts.
//!
//! The agencies' plan is to find zombies in public spam databases, so a
//! listing is a [`Report`](crate::reports::Report) with the zone as its source and the zone's
//! weight. The checker protects the lists and itself:
//!
//! - **Cache**: one address is asked about each zone at most once per
//!   `interval` (a DNSBL's own TTLs are minutes to hours; asking again
//!   sooner adds load and no news). Only answered questions are cached, so
//!   an unreachable server does not hide an address for a whole interval.
//! - **Budget**: a token bucket of `queries_per_second` (burst of one
//!   second's worth) across all addresses and zones. Public lists block
//!   heavy askers; a flood of crossings must not get the ISP's resolvers
//!   blocked. A query that would wait longer than `max_budget_wait` is not
//!   made ([`NotAsked::OverBudget`]); the caller asks again later.
//! - **Servers**: each query has its own timeout. A server that fails
//!   (timeout, ICMP unreachable) is marked down and logged *once*; while
//!   down it is skipped, so it delays nothing else, and it is tried again
//!   at most once per `retry_down_after` (one query, not all of them). Its
//!   recovery is logged once too.
//!
//! Answers are read as RFC 5782 says: an A record in 127.0.0.0/8 means
//! listed, NXDOMAIN or no such record means not listed. Answers in
//! 127.255.255.0/24 are the lists' error codes (for example "queries
//! through public resolvers are refused"), not listings.
//!
//! Pure parts ([`query_name`], [`interpret`], [`TokenBucket`],
//! [`ServerHealth`], [`AskCache`]) take time as an argument; [`DnsblChecker`]
//! is the async shell around them.
//!
//! The module is split by what each part knows: `wire` (the DNS messages),
//! `guards` (cache, budget, server health: pure, with time passed in) and
//! `checker` (the only part with sockets and a clock).

mod checker;
mod guards;
mod wire;

pub use checker::{DnsblChecker, DnsblOutcome, DnsblTiming, NotAsked};
pub use guards::{AskCache, HealthChange, ServerHealth, ServerState, TokenBucket};
pub use wire::{Answer, NotOurs, build_query, interpret, query_name};

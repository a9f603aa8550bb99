//! The quarantine lifecycle as a deterministic state machine: no sockets, no
//! clock, no kernel. Time is passed in; [`Lifecycle::handle`] returns the
//! [`Action`]s the daemon must carry out (write this record, add this element,
//! flush this host's conntrack), in the quinn-proto manner, so that every
//! transition is tested over a virtual clock and by proptest.
//!
//! Per subscriber address (an IPv4 host, an IPv6 prefix, or a range):
//!
//! ```text
//!   clean ──quarantine──▶ quarantined ──release (operator | quiet | self | hold end)──▶ probation
//!     ▲                         ▲                                                         │
//!     │                         └──────────── relapse: quarantine again, longer ──────────┤
//!     └─────────────────────────────── probation ends ◀────────────────────────────────────┘
//! ```
//!
//! Beside it the soft answer, `noticed` (see [`notice`](machine)): a notice
//! (operator, or a signal whose action is `notice`) browses freely; its
//! review ends it when quiet, and the ladder (`detection.ladder`) moves one
//! that keeps sending on to quarantined; an `enforce` signal or an operator
//! quarantines it at once.
//!
//! ```text
//!   clean | probation ──notice──▶ noticed ──review: quiet──▶ clean
//!                                   │ ▲ acknowledge / tick (interval)
//!                                   └─┘
//!                      noticed ──ladder (crossings, still sending at review) | quarantine──▶ quarantined
//! ```

mod events;
mod machine;
mod policy;
mod state;

#[cfg(test)]
mod tests;

pub use events::{Action, Audit, Event, EvidenceUpdate, NoticeRequest, QuarantineRequest, Refusal};
pub use machine::{Lifecycle, Tally, Undo};
pub use policy::Policy;
pub use state::{Host, Noticed, Probation, Quarantined, State, Unix};

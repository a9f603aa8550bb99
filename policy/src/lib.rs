//! Cordon's decisions, and nothing else.
//!
//! Deterministic in the manner of `quinn-proto`: no networking code, no
//! disk, no timestamps from the operating system (a clippy
//! `disallowed-methods` rule keeps `SystemTime::now` and `Instant::now`
//! out). Time is an argument; what the policy decides comes back as values
//! for `cordond` to carry out, in order: store first, then the kernel.
//!
//! | module | what it decides |
//! |---|---|
//! | [`lifecycle`] | clean → quarantined → probation → clean, per subscriber unit: holds, relapses, self-release, the quiet test |
//! | [`signal`] | which unit a kernel crossing is about, whether it may be touched, and the signal's action (observe, notice, enforce) |
//! | [`ledger`] | outside reports adding up per unit within a window, duplicates counted once |
//! | [`book`] | the report ledger and the suspects (signals that fired without a quarantine) |
//! | [`quiet`] | which kernel look-ups answer "has this quarantine gone quiet?", at a cost that follows the quarantines |
//! | [`actor`] | who made a decision ([`Actor`]), as a type rather than a string |
//! | [`engine`] | the entry point: a batch of inputs in, one [`Plan`] out (records to write, elements to add and remove, conntrack to flush, transitions), undone whole if the store refuses it |
//! | [`journal`] | nothing: it remembers what a batch changed in the ledger and the suspects, so a refused batch is put back |
//! | [`report`] | an outside report as it comes in and as the store keeps it |

#![forbid(unsafe_code)]

pub mod actor;
pub mod book;
pub mod engine;
pub mod journal;
pub mod ledger;
pub mod lens;
pub mod lifecycle;
pub mod quiet;
pub mod report;
pub mod sessions;
pub mod signal;
pub mod subject;

pub use actor::Actor;
pub use book::{Added, Book, SUSPECT_MEMORY};
pub use engine::{Change, Engine, Input, Outcome, Plan, ReportTaken, View};
pub use ledger::{ReportLedger, ScoreReached};
pub use report::{Incoming, Report, ReportKind, StoredReport};
pub use signal::SignalKind;

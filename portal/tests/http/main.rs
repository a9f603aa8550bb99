//! Every route of the real `cordon-portal` binary, through `curl`, with a
//! stand-in `cordond` answering canned facts for 127.0.0.1.
//!
//! One test binary (`--test http`), split by topic: the captive-portal
//! probes, the pages, self-release, the tools directory, the limits on
//! hostile clients, and the process itself.
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

use common::{Portal, Setup, quarantined};

mod limits;
mod notice;
mod pages;
mod probes;
mod process;
mod self_release;
mod tools;

fn quarantined_portal() -> Portal {
    Portal::start(Setup {
        status: Some(quarantined()),
        ..Setup::default()
    })
}

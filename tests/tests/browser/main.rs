//! What a person sees, seen by a real browser: Debian's Chromium, driven
//! through Debian's `chromedriver` from inside a subscriber's namespace,
//! opens ordinary `http://` addresses in the person's language, and axe-core
//! audits each page on the way (WCAG 2.1 A/AA and best practice).
//!
//! - `cleanup`: a quarantined subscriber lands on the portal's cleanup page
//!   in Spanish (its Accept-Language), presses "He limpiado mi equipo" and
//!   reads the answer ("not yet" while the computer still sends mail); once
//!   the computer is quiet, the portal says the internet works again and the
//!   address opens the real site.
//! - `notice`: a noticed subscriber's page load shows the notice in Danish;
//!   "Jeg forstår, før mig til min side" leads back to the page it asked
//!   for, on the real site.
//!
//! The screenshots are kept as test output in
//! `target/tmp/browser-screens/STORY/` (`CARGO_TARGET_TMPDIR`), with
//! chromedriver's log, for a person to look at.
//!
//! Needs root, `chromium`, `chromium-driver` and axe-core
//! (`scripts/install-deps test`), and the workspace's binaries beside the test executable, which
//! `cargo test --workspace` (scripts/test) builds before running any test.

#![allow(clippy::unwrap_used)]

// The same accessibility audit as the portal's browser test.
#[path = "../../../portal/tests/axe/mod.rs"]
mod axe;
#[path = "../common/mod.rs"]
mod common;

mod cleanup;
mod notice;
mod session;

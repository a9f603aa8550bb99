//! `subscribers`: the address space subscribers' addresses come from.

use serde::{Deserialize, Serialize};

use crate::check::Section;
use crate::locate::Seg::{Index, Key};
use crate::overlap::Prefixes;
use crate::types::Prefix;

/// Subscriber address space.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Subscribers {
    /// IPv4 and IPv6 prefixes subscribers' addresses come from.
    pub prefixes: Vec<Prefix>,
    /// IPv6 quarantines cover the subscriber's prefix of this length (a /64
    /// by default; up to the delegated prefix, e.g. 56), because single
    /// IPv6 addresses change every few hours.
    #[serde(default = "default_v6_len")]
    pub ipv6_quarantine_prefix: u8,
}

fn default_v6_len() -> u8 {
    64
}

impl Subscribers {
    /// At least one prefix, none overlapping another, a usable IPv6
    /// quarantine length. `sorted` is `prefixes` sorted once for this and
    /// the checks across sections.
    pub(crate) fn check(&self, sorted: &Prefixes<'_>, p: &mut Section<'_>) {
        if self.prefixes.is_empty() {
            p.push(
                &[Key("prefixes")],
                "list at least one subscriber prefix (IPv4 and/or IPv6)",
            );
        }
        if !(16..=128).contains(&self.ipv6_quarantine_prefix) {
            p.push(
                &[Key("ipv6_quarantine_prefix")],
                format!(
                    "expected a prefix length between 16 and 128 (64 is usual), found {}",
                    self.ipv6_quarantine_prefix
                ),
            );
        }
        for (i, j) in sorted.overlaps() {
            let (a, b) = (&self.prefixes[i], &self.prefixes[j]);
            p.push(
                &[Key("prefixes"), Index(i)],
                format!("`{a}` overlaps `{b}` listed before it; list each range once"),
            );
        }
    }
}

//! `walled_garden`: what a quarantined host may still reach.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::unbuilt::{Unbuilt, not_yet};
use crate::check::Section;
use crate::locate::Seg::{Index, Key};
use crate::types::Destination;

/// The walled garden.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WalledGarden {
    /// DNS resolvers quarantined hosts may ask.
    pub resolvers: Vec<IpAddr>,
    /// Cleanup tool vendors, OS updates: addresses, prefixes or DNS names.
    #[serde(default)]
    pub destinations: Vec<Destination>,
    /// How often DNS names are looked up again: names are not resolved
    /// yet, so the key is refused when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<Unbuilt>,
}

impl WalledGarden {
    /// At least one resolver; DNS names (not resolved yet) refused.
    pub(crate) fn check(&self, p: &mut Section<'_>) {
        if self.resolvers.is_empty() {
            p.push(
                &[Key("resolvers")],
                "list at least one DNS resolver, or quarantined hosts cannot even find the portal",
            );
        }
        if self.refresh.is_some() {
            p.push(
                &[Key("refresh")],
                not_yet(
                    "resolving walled-garden DNS names is",
                    "remove `refresh` and list addresses or prefixes",
                ),
            );
        }
        for (i, dest) in self.destinations.iter().enumerate() {
            if let Destination::Name(name) = dest {
                p.push(
                    &[Key("destinations"), Index(i)],
                    not_yet(
                        &format!("`{name}`: resolving walled-garden DNS names is"),
                        "list the addresses or prefixes it serves instead",
                    ),
                );
            }
        }
    }
}

//! `interfaces`: where subscribers and the internet are.

use serde::{Deserialize, Serialize};

use crate::check::Section;
use crate::locate::Seg::Key;
use crate::types::IfName;

/// Interfaces of the gateway.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Interfaces {
    /// Towards subscribers (names or patterns such as `ppp*`).
    pub downlink: Vec<IfName>,
    /// Towards the internet.
    pub uplink: Vec<IfName>,
}

impl Interfaces {
    /// Both sides name at least one interface.
    pub(crate) fn check(&self, p: &mut Section<'_>) {
        for (field, list) in [("downlink", &self.downlink), ("uplink", &self.uplink)] {
            if list.is_empty() {
                p.push(&[Key(field)], "list at least one interface name");
            }
        }
    }
}

//! What the unit tests share.

use std::net::IpAddr;

use cordon_proto::portal::{HostState, HostStatus};

/// `cordond`'s answer about a quarantined `address` with nothing counted.
pub(crate) fn quarantined(address: IpAddr) -> HostStatus {
    HostStatus {
        subscriber: None,
        acknowledged_until: None,
        address: address.to_string(),
        state: HostState::Quarantined,
        reason: None,
        since: None,
        until: None,
        smtp_attempts: 0,
        last_smtp_attempt: None,
        quiet_period_s: 60,
        self_releases_left: 1,
    }
}

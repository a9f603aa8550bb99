//! Which listener a connection came in on, and what that tells the portal.

use std::time::Duration;

use serde::Serialize;

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The portal's own origin (`portal.listen`).
    Portal,
    /// Where the kernel sends quarantined hosts' `http`
    /// (`portal.redirect_port`): a redirect to the portal's page, without
    /// asking `cordond` (the kernel sends nobody else here).
    Redirect,
    /// Where the kernel sends noticed hosts' `http` (`portal.notice_port`):
    /// the notice page for the page they asked for.
    Notice,
    /// Where the kernel sends a quarantined host's own connections to the
    /// portal (`portal.captive_port`): served as [`Role::Portal`], except
    /// that the probes and the RFC 8908 API answer "captive" without asking
    /// `cordond`, while the connection is new (see [`Role::aged`]).
    Captive,
}

impl Role {
    /// The role a request on a connection `age` old is served in. The
    /// kernel's word that a caller is quarantined was given when its
    /// connection began, and it is taken for as long as `cordond`'s own
    /// answers are kept ([`crate::cache::FACTS_TTL`]); on an older
    /// connection (kept alive while the caller may have been released) the
    /// portal asks, as on its own listener.
    pub fn aged(self, age: Duration) -> Role {
        match self {
            Role::Captive if age >= crate::cache::FACTS_TTL => Role::Portal,
            role => role,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Portal => "portal",
            Role::Redirect => "redirect",
            Role::Notice => "notice",
            Role::Captive => "captive",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::FACTS_TTL;

    /// The kernel's word holds as long as an answer from cordond is kept;
    /// only the captive role ages, into the portal's own.
    #[test]
    fn a_captive_connection_is_served_as_the_portals_own_once_old() {
        let fresh = FACTS_TTL.saturating_sub(Duration::from_millis(1));
        assert_eq!(Role::Captive.aged(Duration::ZERO), Role::Captive);
        assert_eq!(Role::Captive.aged(fresh), Role::Captive);
        assert_eq!(Role::Captive.aged(FACTS_TTL), Role::Portal);
        for role in [Role::Portal, Role::Redirect, Role::Notice] {
            assert_eq!(role.aged(Duration::from_secs(3600)), role);
        }
        assert_eq!(Role::Captive.to_string(), "captive");
    }
}

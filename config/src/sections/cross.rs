//! The checks that need two sections: each names the key an operator should
//! change.

use super::Config;
use super::portal::same_port;
use crate::check::Problems;
use crate::locate::Seg::{Index, Key};
use crate::overlap::Prefixes;

/// Every `never_quarantine` entry lies inside a subscriber prefix
/// (`subscribers`, sorted): one outside could never be quarantined anyway,
/// so it is a typo.
pub(super) fn never_quarantine_is_subscribers(
    c: &Config,
    subscribers: &Prefixes<'_>,
    p: &mut Problems,
) {
    for (i, n) in c.never_quarantine.iter().enumerate() {
        if !subscribers.covers(n) {
            p.push(
                &[Key("never_quarantine"), Index(i)],
                format!(
                    "`{n}` is inside no subscriber prefix, so it could never be quarantined anyway; \
                     list only subscriber-side addresses (the gateway, resolvers, relays) or fix the typo"
                ),
            );
        }
    }
}

/// `portal.metrics_listen` is not cordond's `metrics.listen`, or one of the
/// two daemons fails to bind. (A clash with the portal's own public ports is
/// the portal section's check, and reported instead of this one.)
pub(super) fn portal_metrics_apart_from_cordonds(c: &Config, p: &mut Problems) {
    let Some(m) = c.portal.metrics_listen else {
        return;
    };
    if c.portal.metrics_on_public_port(m) {
        return;
    }
    if c.metrics.listen.is_some_and(|a| same_port(a, m)) {
        p.push(
            &[Key("portal"), Key("metrics_listen")],
            format!(
                "{m} is also cordond's metrics.listen; give the portal's metrics a port of their own (9465 is usual)"
            ),
        );
    }
}

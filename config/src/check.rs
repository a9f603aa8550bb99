//! The checks that one field's type cannot make by itself, and the refusal
//! of keys whose features are not built yet. Each runs in time linear (or
//! n log n) in the config: a big ISP lists 100 000 subscriber prefixes.

use std::net::SocketAddr;

use crate::locate::Seg;
use crate::model::{Action, Config, StoreBackend};
use crate::overlap::Prefixes;
use crate::types::Destination;

/// A problem: where (a path into the document) and what.
pub(crate) type Problem = (Vec<Seg>, String);

/// The checks that one field's type cannot make by itself.
pub(crate) fn check(c: &Config) -> Vec<Problem> {
    use Seg::{Index, Key};
    let mut p: Vec<Problem> = Vec::new();

    if !valid_table_name(&c.table) {
        p.push((
            vec![Key("table")],
            format!(
                "`{}` is not a usable nftables table name: use letters, digits and `_`, starting with a letter, at most 32",
                c.table
            ),
        ));
    }
    let subs = &c.subscribers;
    if subs.prefixes.is_empty() {
        p.push((
            vec![Key("subscribers"), Key("prefixes")],
            "list at least one subscriber prefix (IPv4 and/or IPv6)".into(),
        ));
    }
    if !(16..=128).contains(&subs.ipv6_quarantine_prefix) {
        p.push((
            vec![Key("subscribers"), Key("ipv6_quarantine_prefix")],
            format!(
                "expected a prefix length between 16 and 128 (64 is usual), found {}",
                subs.ipv6_quarantine_prefix
            ),
        ));
    }
    let sorted = Prefixes::new(&subs.prefixes);
    for (i, j) in sorted.overlaps() {
        let (a, b) = (&subs.prefixes[i], &subs.prefixes[j]);
        p.push((
            vec![Key("subscribers"), Key("prefixes"), Index(i)],
            format!("`{a}` overlaps `{b}` listed before it; list each range once"),
        ));
    }
    for (field, list) in [
        ("downlink", &c.interfaces.downlink),
        ("uplink", &c.interfaces.uplink),
    ] {
        if list.is_empty() {
            p.push((
                vec![Key("interfaces"), Key(field)],
                "list at least one interface name".into(),
            ));
        }
    }
    for (i, n) in c.never_quarantine.iter().enumerate() {
        if !sorted.covers(n) {
            p.push((
                vec![Key("never_quarantine"), Index(i)],
                format!(
                    "`{n}` is inside no subscriber prefix, so it could never be quarantined anyway; \
                     list only subscriber-side addresses (the gateway, resolvers, relays) or fix the typo"
                ),
            ));
        }
    }
    for (i, port) in c.port25.submission_ports.iter().enumerate() {
        if *port == 25 || *port == 0 {
            p.push((
                vec![Key("port25"), Key("submission_ports"), Index(i)],
                format!("{port} is not a submission port; use 587 and 465"),
            ));
        }
    }
    for (name, v) in [
        (
            "new_connections_per_minute",
            c.relays.new_connections_per_minute,
        ),
        ("burst", c.relays.burst),
    ] {
        if !(1..=RELAY_MAX).contains(&v) {
            p.push((
                vec![Key("relays"), Key(name)],
                format!(
                    "expected 1 to {RELAY_MAX}, found {v}: nftables refuses a limit of 0, \
                     and the kernel one whose bucket overflows"
                ),
            ));
        }
    }
    let d = &c.detection;
    for (name, s) in [
        ("smtp_attempts", &d.smtp_attempts),
        ("smtp_destinations", &d.smtp_destinations),
    ] {
        if s.threshold == 0 {
            p.push((
                vec![Key("detection"), Key(name), Key("threshold")],
                "expected a threshold of at least 1".into(),
            ));
        }
        if s.window.as_secs() == 0 {
            p.push((
                vec![Key("detection"), Key(name), Key("window")],
                "expected a window of at least 1s".into(),
            ));
        }
    }
    if d.reports.score == 0 {
        p.push((
            vec![Key("detection"), Key("reports"), Key("score")],
            "expected a score of at least 1".into(),
        ));
    }
    let q = &c.quarantine;
    for (name, v) in [
        ("quiet_period", q.quiet_period),
        ("min_hold", q.min_hold),
        ("max_hold", q.max_hold),
    ] {
        if v.as_secs() == 0 {
            p.push((
                vec![Key("quarantine"), Key(name)],
                "expected at least 1s".into(),
            ));
        }
    }
    if q.max_hold < q.min_hold {
        p.push((
            vec![Key("quarantine"), Key("max_hold")],
            "max_hold is shorter than min_hold; it must be at least as long".into(),
        ));
    }
    if !(q.escalation >= 1.0 && q.escalation <= 1000.0) {
        p.push((
            vec![Key("quarantine"), Key("escalation")],
            format!(
                "expected a factor between 1 and 1000 (4 means each relapse holds four times as long), found {}",
                q.escalation
            ),
        ));
    }
    if c.walled_garden.resolvers.is_empty() {
        p.push((
            vec![Key("walled_garden"), Key("resolvers")],
            "list at least one DNS resolver, or quarantined hosts cannot even find the portal"
                .into(),
        ));
    }
    let portal = &c.portal;
    if portal.languages.is_empty() {
        p.push((
            vec![Key("portal"), Key("languages")],
            "list at least one language; the first is the fallback".into(),
        ));
    }
    for (i, l) in portal.languages.iter().enumerate() {
        if !valid_language_tag(l) {
            p.push((
                vec![Key("portal"), Key("languages"), Index(i)],
                format!("expected a language tag such as `en`, `es` or `pt-BR`, found `{l}`"),
            ));
        }
    }
    if let Some(clash) = portal.metrics_listen.and_then(|m| metrics_clash(c, m)) {
        p.push((vec![Key("portal"), Key("metrics_listen")], clash));
    }
    if c.store.backend == StoreBackend::Postgres {
        p.push((
            vec![Key("store"), Key("backend")],
            "the postgres backend is not available in this version; use `sqlite`".into(),
        ));
    }
    let mode = c.control.mode.trim_start_matches("0o");
    if u32::from_str_radix(mode, 8).map_or(true, |m| m > 0o777) {
        p.push((
            vec![Key("control"), Key("mode")],
            format!(
                "expected permission bits in octal such as \"0660\", found `{}`",
                c.control.mode
            ),
        ));
    }
    if c.control.socket == c.control.portal_socket {
        p.push((
            vec![Key("control"), Key("portal_socket")],
            "the portal socket must be a different path from the control socket".into(),
        ));
    }
    if c.retention.as_secs() < 86_400 {
        p.push((
            vec![Key("retention")],
            "expected at least 1d, or the audit trail is gone before anyone can read it".into(),
        ));
    }
    if c.store.url.is_some() {
        p.push((
            vec![Key("store"), Key("url")],
            "store.url is for the postgres backend, which is not available in this version; remove it".into(),
        ));
    }
    unbuilt(c, &mut p);
    p
}

/// Why the portal's metrics cannot be served at `m`, if they cannot: on a
/// subscriber-facing port the metrics would be open to subscribers (and the
/// bind fails anyway), on cordond's metrics address one daemon fails to bind.
/// Port 0 (tests) is free by definition.
fn metrics_clash(c: &Config, m: SocketAddr) -> Option<String> {
    if m.port() == 0 {
        return None; // a port the kernel picks clashes with nothing
    }
    let overlaps = |a: SocketAddr| {
        a.port() == m.port()
            && (a.ip() == m.ip() || a.ip().is_unspecified() || m.ip().is_unspecified())
    };
    let public =
        c.portal.listen.iter().copied().any(overlaps) || m.port() == c.portal.redirect_port;
    if public {
        Some(format!(
            "{m} shares a port with portal.listen or portal.redirect_port, where subscribers are served; \
             give the metrics a port of their own on loopback or a management address (9465 is usual)"
        ))
    } else if c.metrics.listen.is_some_and(overlaps) {
        Some(format!(
            "{m} is also cordond's metrics.listen; give the portal's metrics a port of their own (9465 is usual)"
        ))
    } else {
        None
    }
}

/// Relay limits above a million a minute are no limit at all; below that,
/// the kernel's token bucket (a minute's nanoseconds / rate * burst) cannot
/// overflow 64 bits (measured: `limit rate over 1/day burst 4294967295`
/// is refused with "Value too large").
const RELAY_MAX: u32 = 1_000_000;

/// Keys for features not built yet: accepted, they would read as working
/// while nothing acts on them, so they are refused until they are built.
fn unbuilt(c: &Config, p: &mut Vec<Problem>) {
    use Seg::{Index, Key};
    let not_yet = |what: &str, fix: &str| format!("{what} not available in this version; {fix}");
    if c.notice.is_some() {
        p.push((
            vec![Key("notice")],
            not_yet("notice pages are", "remove the `notice` section"),
        ));
    }
    if c.webhooks.is_some() {
        p.push((
            vec![Key("webhooks")],
            not_yet("webhooks are", "remove the `webhooks` key"),
        ));
    }
    if c.detection.ladder.is_some() {
        p.push((
            vec![Key("detection"), Key("ladder")],
            not_yet(
                "the notice-to-quarantine ladder is",
                "remove `detection.ladder`",
            ),
        ));
    }
    let d = &c.detection;
    for (name, action) in [
        ("smtp_attempts", d.smtp_attempts.action),
        ("smtp_destinations", d.smtp_destinations.action),
        ("reports", d.reports.action),
    ] {
        if action == Action::Notice {
            p.push((
                vec![Key("detection"), Key(name), Key("action")],
                not_yet(
                    "action `notice` is",
                    "use `observe` (log and count) or `enforce` (quarantine)",
                ),
            ));
        }
    }
    if c.walled_garden.refresh.is_some() {
        p.push((
            vec![Key("walled_garden"), Key("refresh")],
            not_yet(
                "resolving walled-garden DNS names is",
                "remove `refresh` and list addresses or prefixes",
            ),
        ));
    }
    for (i, dest) in c.walled_garden.destinations.iter().enumerate() {
        if let Destination::Name(name) = dest {
            p.push((
                vec![Key("walled_garden"), Key("destinations"), Index(i)],
                not_yet(
                    &format!("`{name}`: resolving walled-garden DNS names is"),
                    "list the addresses or prefixes it serves instead",
                ),
            ));
        }
    }
}

fn valid_table_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn valid_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let primary = parts.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_lowercase())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

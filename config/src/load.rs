//! Reading a config file: YAML into structs, then the checks that span
//! fields, each reported at its own line and column.

use std::path::Path;

use crate::error::{ConfigError, ConfigErrors};
use crate::locate::{Seg, locate};
use crate::model::{Config, StoreBackend};

/// Reads and checks the config file at `path`.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let src = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_owned(),
            line: None,
            column: None,
            message: format!("cannot read the config file: {e}"),
        }])
    })?;
    load_str(&src, path)
}

/// Reads and checks config text; `path` names it in errors.
pub fn load_str(src: &str, path: &Path) -> Result<Config, ConfigErrors> {
    let config: Config = serde_yaml::from_str(src).map_err(|e| {
        let location = e.location();
        let text = e.to_string();
        // The reader appends "at line L column C"; we print the position first.
        let message = match text.rfind(" at line ") {
            Some(i) if location.is_some() => text[..i].to_owned(),
            _ => text,
        };
        ConfigErrors(vec![ConfigError {
            file: path.to_owned(),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            message,
        }])
    })?;
    let problems = check(&config);
    if problems.is_empty() {
        return Ok(config);
    }
    Err(ConfigErrors(
        problems
            .into_iter()
            .map(|(segs, message)| {
                let at = locate(src, &segs);
                ConfigError {
                    file: path.to_owned(),
                    line: at.map(|a| a.0),
                    column: at.map(|a| a.1),
                    message: format!("{}: {message}", dotted(&segs)),
                }
            })
            .collect(),
    ))
}

fn dotted(segs: &[Seg]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

type Problem = (Vec<Seg>, String);

/// The checks that one field's type cannot make by itself.
fn check(c: &Config) -> Vec<Problem> {
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
    for (i, a) in subs.prefixes.iter().enumerate() {
        for b in &subs.prefixes[..i] {
            if a.covers(b) || b.covers(a) {
                p.push((
                    vec![Key("subscribers"), Key("prefixes"), Index(i)],
                    format!("`{a}` overlaps `{b}` listed before it; list each range once"),
                ));
            }
        }
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
        if !subs.prefixes.iter().any(|s| s.covers(n)) {
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
    if c.relays.new_connections_per_minute == 0 {
        p.push((
            vec![Key("relays"), Key("new_connections_per_minute")],
            "expected a rate of at least 1".into(),
        ));
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
    if !(portal.public_url.starts_with("http://") || portal.public_url.starts_with("https://"))
        || portal.public_url.len() <= "https://".len()
    {
        p.push((
            vec![Key("portal"), Key("public_url")],
            format!(
                "expected an absolute http:// or https:// URL, found `{}`",
                portal.public_url
            ),
        ));
    }
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
    p
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

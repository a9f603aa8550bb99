//! The detection policy, pure: which subscriber unit a kernel crossing or a
//! report is about, whether it may be touched at all, and what the
//! configured action is. No clock, no I/O: the tasks around it do those.

use std::net::IpAddr;

use cordon_config::{Action, AddrError, Config, Prefix, Signal, SubscriberAddr};

/// The log prefix the ruleset gives attempts-over-threshold packets.
pub const PREFIX_SMTP_ATTEMPTS: &str = "cordon smtp_attempts ";
/// The log prefix the ruleset gives too-many-destinations packets.
pub const PREFIX_SMTP_DESTINATIONS: &str = "cordon smtp_destinations ";
/// Which kernel-counted signal a host crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignalKind {
    /// New outbound SMTP connection attempts per window (`smtp_attempts`).
    SmtpAttempts,
    /// Distinct port-25 destinations per window (`smtp_destinations`).
    SmtpDestinations,
}

impl SignalKind {
    /// The NFLOG prefix the ruleset uses for this signal.
    pub const fn prefix(self) -> &'static str {
        match self {
            SignalKind::SmtpAttempts => PREFIX_SMTP_ATTEMPTS,
            SignalKind::SmtpDestinations => PREFIX_SMTP_DESTINATIONS,
        }
    }

    /// The config key naming this signal (`detection.smtp_attempts`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            SignalKind::SmtpAttempts => "smtp_attempts",
            SignalKind::SmtpDestinations => "smtp_destinations",
        }
    }

    /// Reads a log prefix. The kernel hands the prefix back as the rule
    /// wrote it; surrounding spaces are ignored so a hand-written rule
    /// without the trailing space still counts.
    pub fn from_prefix(prefix: &str) -> Option<Self> {
        match prefix.trim() {
            "cordon smtp_attempts" => Some(SignalKind::SmtpAttempts),
            "cordon smtp_destinations" => Some(SignalKind::SmtpDestinations),
            _ => None,
        }
    }
}

/// What to do about a crossing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Leave it alone, for this reason.
    Skip(Skip),
    /// Apply the signal's action to the unit.
    Act {
        /// The quarantine unit (an IPv4 host, an IPv6 prefix).
        unit: SubscriberAddr,
        /// The signal's configured action.
        action: Action,
    },
}

/// Why a crossing is left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Not a subscriber, or on the never-quarantine list: detection never
    /// quarantines what an operator could not.
    NotQuarantinable(AddrError),
    /// An allowed sender (a business customer, a relay): sending on port 25
    /// is its right. The kernel does not count it either; this guards
    /// against a hand-edited ruleset or a config reloaded in between.
    AllowedSender(Prefix),
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::NotQuarantinable(e) => write!(f, "{e}"),
            Skip::AllowedSender(p) => write!(f, "inside the allowed sender {p}"),
        }
    }
}

/// The configured signal for a kernel signal.
pub fn signal_of(config: &Config, signal: SignalKind) -> &Signal {
    match signal {
        SignalKind::SmtpDestinations => &config.detection.smtp_destinations,
        // `SignalKind` is non-exhaustive: a signal this version does not
        // know is treated as the attempts signal, the most general one.
        _ => &config.detection.smtp_attempts,
    }
}

/// The allowed-sender prefix covering `ip`, if any.
pub fn allowed_sender<'c>(config: &'c Config, ip: &IpAddr) -> Option<&'c Prefix> {
    config
        .port25
        .allowed_senders
        .iter()
        .find(|p| p.contains(ip))
}

/// The subscriber unit an address belongs to, if detection may act on it.
pub fn unit_of(config: &Config, ip: IpAddr) -> Result<SubscriberAddr, Skip> {
    let unit = config.subscriber_of(ip).map_err(Skip::NotQuarantinable)?;
    if let Some(p) = allowed_sender(config, &ip) {
        return Err(Skip::AllowedSender(*p));
    }
    Ok(unit)
}

/// What to do about `source` crossing `signal`'s threshold.
pub fn judge(config: &Config, signal: SignalKind, source: IpAddr) -> Verdict {
    match unit_of(config, source) {
        Err(skip) => Verdict::Skip(skip),
        Ok(unit) => Verdict::Act {
            unit,
            action: signal_of(config, signal).action,
        },
    }
}

/// The action's name, as the config and the metrics write it.
pub fn action_name(action: Action) -> &'static str {
    match action {
        Action::Observe => "observe",
        Action::Notice => "notice",
        Action::Enforce => "enforce",
    }
}

/// The note a detection quarantine carries: what was crossed, in the
/// config's own terms (`smtp_attempts over 20 in 10s`).
pub fn crossing_note(config: &Config, signal: SignalKind) -> String {
    let s = signal_of(config, signal);
    format!(
        "{} over {} in {}",
        signal.name(),
        s.threshold,
        cordon_config::duration::format(s.window)
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use cordon_testkit::Fixture;

    use super::*;

    fn config(action: &str) -> Config {
        Fixture::new()
            .prefixes(r#"[100.64.0.0/16, "2001:db8::/32"]"#)
            .set("never_quarantine", "[100.64.0.1]")
            .set(
                "port25",
                r#"{allowed_senders: [100.64.3.2, "2001:db8:100:3::/64"]}"#,
            )
            .set(
                "detection.smtp_attempts",
                format!("{{threshold: 20, window: 10s, action: {action}}}"),
            )
            .set(
                "detection.smtp_destinations",
                "{threshold: 10, window: 10s, action: enforce}",
            )
            .load()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn enforce_and_observe_follow_each_signal() {
        let c = config("observe");
        let v = judge(&c, SignalKind::SmtpAttempts, ip("100.64.1.2"));
        assert!(
            matches!(v, Verdict::Act { action: Action::Observe, unit } if unit.to_string() == "100.64.1.2")
        );
        let v = judge(&c, SignalKind::SmtpDestinations, ip("100.64.1.2"));
        assert!(matches!(
            v,
            Verdict::Act {
                action: Action::Enforce,
                ..
            }
        ));
    }

    #[test]
    fn ipv6_crossings_act_on_the_prefix() {
        let c = config("enforce");
        let v = judge(&c, SignalKind::SmtpAttempts, ip("2001:db8:100:1::2"));
        assert!(
            matches!(v, Verdict::Act { unit, .. } if unit.to_string() == "2001:db8:100:1::/64")
        );
    }

    #[test]
    fn allowed_senders_are_skipped_in_both_families() {
        let c = config("enforce");
        for a in ["100.64.3.2", "2001:db8:100:3::9"] {
            let v = judge(&c, SignalKind::SmtpAttempts, ip(a));
            assert!(
                matches!(v, Verdict::Skip(Skip::AllowedSender(_))),
                "{a}: {v:?}"
            );
        }
    }

    #[test]
    fn never_quarantine_and_outsiders_are_skipped() {
        let c = config("enforce");
        for a in ["100.64.0.1", "198.51.100.7"] {
            let v = judge(&c, SignalKind::SmtpAttempts, ip(a));
            assert!(
                matches!(v, Verdict::Skip(Skip::NotQuarantinable(_))),
                "{a}: {v:?}"
            );
        }
    }

    #[test]
    fn the_note_names_the_threshold() {
        let c = config("enforce");
        assert_eq!(
            crossing_note(&c, SignalKind::SmtpAttempts),
            "smtp_attempts over 20 in 10s"
        );
    }
}

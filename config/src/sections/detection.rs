//! `detection`: the kernel's SMTP signals, outside reports, DNS block lists.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::notice::Ladder;
use crate::check::Section;
use crate::duration;
use crate::locate::Seg::Key;

/// How often the kernel reports one host at most: a crossing adds the
/// host to the `alerted` set for this long, and the signals log only hosts
/// not in it, so one burst is one event, not one per packet; a host still
/// over a threshold is reported again after it, so one lost event costs
/// seconds, not a zombie. Two signals
/// crossed by the same burst can still both report it when their packets
/// pass the check on two CPUs at once; the ladder therefore counts at most
/// one crossing per this (`cordon_policy`).
pub const ALERT_REPEAT: Duration = Duration::from_secs(10);

/// What a signal does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Log and count; the host shows as a suspect.
    Observe,
    /// Tell the subscriber (a notice page once per `notice.interval`),
    /// block nothing; `detection.ladder` says when it moves on to quarantine.
    Notice,
    /// Quarantine.
    #[default]
    Enforce,
}

/// A threshold over a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    /// How many within the window fire the signal.
    pub threshold: u32,
    /// The window (an nftables meter's timeout, so bounded by what nft takes).
    #[serde(with = "duration::kernel")]
    pub window: Duration,
    /// What firing does.
    #[serde(default)]
    pub action: Action,
}

/// Detection settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Detection {
    /// New outbound SMTP (TCP/25) connection attempts per host.
    #[serde(default = "default_smtp_attempts")]
    pub smtp_attempts: Signal,
    /// Distinct port-25 destination addresses per host.
    #[serde(default = "default_smtp_destinations")]
    pub smtp_destinations: Signal,
    /// External reports (abuse desk, feeds, block lists) adding up per host.
    #[serde(default)]
    pub reports: Reports,
    /// DNS block lists asked about hosts that made SMTP attempts.
    #[serde(default)]
    pub dnsbl: Dnsbl,
    /// What moves a noticed subscriber that keeps sending on to quarantine.
    /// Absent: a notice never becomes a quarantine by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ladder: Option<Ladder>,
    /// NFLOG group on which the kernel reports threshold crossings.
    #[serde(default = "default_nflog_group")]
    pub nflog_group: u16,
}

/// 60 new port-25 connections in 10 minutes: a person's mail program uses
/// submission (587/465) or the ISP relay, so direct-to-MX traffic at this rate
/// is what the M3AAWG and the spam-zombie studies describe as bot behaviour.
fn default_smtp_attempts() -> Signal {
    Signal {
        threshold: 60,
        window: Duration::from_secs(600),
        action: Action::Enforce,
    }
}
/// 20 distinct MX addresses in 10 minutes: a bot fans out to hundreds of
/// domains' servers; even a small office server rarely reaches 20.
fn default_smtp_destinations() -> Signal {
    Signal {
        threshold: 20,
        window: Duration::from_secs(600),
        action: Action::Enforce,
    }
}
fn default_nflog_group() -> u16 {
    7107
}

impl Default for Detection {
    fn default() -> Self {
        Detection {
            smtp_attempts: default_smtp_attempts(),
            smtp_destinations: default_smtp_destinations(),
            reports: Reports::default(),
            dnsbl: Dnsbl::default(),
            ladder: None,
            nflog_group: default_nflog_group(),
        }
    }
}

/// External reports.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reports {
    /// Score (sum of report weights within the window) that fires.
    #[serde(default = "default_report_score")]
    pub score: u32,
    /// Window reports add up in.
    #[serde(default = "default_report_window", with = "duration")]
    pub window: Duration,
    /// What reaching the score does.
    #[serde(default)]
    pub action: Action,
    /// Points each kind of report adds (0: recorded, not counted).
    #[serde(default)]
    pub weights: ReportWeights,
    /// The abuse mailbox: a Maildir (the MTA delivers abuse@ there) whose
    /// new messages cordond imports, moving each to `cur/` once its reports
    /// are stored, or to `failed/` when it holds none. Absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maildir: Option<PathBuf>,
}

/// Points a report of each kind adds to its subscriber's score, when the
/// report does not carry its own weight. A kind set to 0 is kept and shown
/// but adds nothing. An infection seen from outside (a bot, a sinkholed
/// connection, malware) is surer than one complaint, and a scan alone says
/// little, hence the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportWeights {
    /// A spam complaint.
    #[serde(default = "one")]
    pub spam: u32,
    /// A bot or drone infection.
    #[serde(default = "three")]
    pub bot: u32,
    /// A connection to a sinkholed command-and-control server.
    #[serde(default = "three")]
    pub sinkhole: u32,
    /// Malware served or sent.
    #[serde(default = "three")]
    pub malware: u32,
    /// Phishing or fraud.
    #[serde(default = "one")]
    pub phishing: u32,
    /// Password guessing.
    #[serde(default = "one")]
    pub brute_force: u32,
    /// Scanning.
    #[serde(default)]
    pub scan: u32,
    /// Anything else, or not said (Cordon's CSV, `cordon report`).
    #[serde(default = "one")]
    pub other: u32,
}

fn three() -> u32 {
    3
}

impl Default for ReportWeights {
    fn default() -> Self {
        ReportWeights {
            spam: 1,
            bot: 3,
            sinkhole: 3,
            malware: 3,
            phishing: 1,
            brute_force: 1,
            scan: 0,
            other: 1,
        }
    }
}

fn default_report_score() -> u32 {
    3
}
fn default_report_window() -> Duration {
    Duration::from_secs(7 * 86_400)
}

impl Default for Reports {
    fn default() -> Self {
        Reports {
            score: default_report_score(),
            window: default_report_window(),
            action: Action::Enforce,
            weights: ReportWeights::default(),
            maildir: None,
        }
    }
}

/// DNS block lists.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dnsbl {
    /// Zones to ask (empty: none).
    #[serde(default)]
    pub zones: Vec<DnsblZone>,
    /// Ask about one address at most once per interval.
    #[serde(default = "default_dnsbl_interval", with = "duration::kernel")]
    pub interval: Duration,
    /// Query budget.
    #[serde(default = "default_dnsbl_qps")]
    pub queries_per_second: u32,
    /// DNS servers to ask (default: the walled garden's resolvers).
    #[serde(default)]
    pub servers: Vec<SocketAddr>,
}

/// One DNS block list zone and the weight of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsblZone {
    /// The zone, e.g. `xbl.example.org`.
    pub zone: crate::types::DnsName,
    /// Points a listing adds to the host's report score.
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}
fn default_dnsbl_interval() -> Duration {
    Duration::from_secs(6 * 3600)
}
fn default_dnsbl_qps() -> u32 {
    10
}

impl Default for Dnsbl {
    fn default() -> Self {
        Dnsbl {
            zones: Vec::new(),
            interval: default_dnsbl_interval(),
            queries_per_second: default_dnsbl_qps(),
            servers: Vec::new(),
        }
    }
}

impl Detection {
    /// Thresholds, windows and scores of at least 1; a ladder that moves
    /// something.
    pub(crate) fn check(&self, p: &mut Section<'_>) {
        for (name, s) in [
            ("smtp_attempts", &self.smtp_attempts),
            ("smtp_destinations", &self.smtp_destinations),
        ] {
            if s.threshold == 0 {
                p.push(
                    &[Key(name), Key("threshold")],
                    "expected a threshold of at least 1",
                );
            }
            if s.window.as_secs() == 0 {
                p.push(
                    &[Key(name), Key("window")],
                    "expected a window of at least 1s",
                );
            }
        }
        if self.reports.score == 0 {
            p.push(
                &[Key("reports"), Key("score")],
                "expected a score of at least 1",
            );
        }
        if let Some(dir) = &self.reports.maildir
            && !dir.is_absolute()
        {
            p.push(
                &[Key("reports"), Key("maildir")],
                format!(
                    "`{}` is a relative path; give the Maildir's absolute path (cordond's working directory is not the config's), e.g. /var/mail/abuse/Maildir",
                    dir.display()
                ),
            );
        }
        if let Some(ladder) = &self.ladder {
            ladder.check(p);
        }
    }
}

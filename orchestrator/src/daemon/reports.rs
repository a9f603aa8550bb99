//! The control socket's `report` request: each report checked against the
//! config (a subscriber address that may be quarantined, a named source, a
//! weight of at least one), the valid ones handed to the core together, and
//! one outcome per report answered in the order sent. A bad report is
//! refused on its own; it never stops the valid ones around it.
//!
//! The abuse Maildir ([`super::maildir`]) hands its messages' reports in
//! through the same [`submit`], so a report counts the same whichever way
//! it came.

use std::net::IpAddr;

use cordon_config::Config;
use cordon_detect::Report;
use cordon_proto::control::{ErrorClass, ReportOutcome, ReportSubmission, Response};
use cordon_proto::portal::HostState;
use cordon_proto::text::{MAX_EVIDENCE, MAX_SOURCE, bounded, clip, storable};

use super::shared::Shared;
use cordon_proto::time::system_time;

use crate::detection::policy;
use cordon_policy::{Actor, Incoming, ReportKind};

/// How much of a refused address is echoed back: enough to recognise it.
const ECHOED: usize = 64;

/// A parsed report as it is submitted: evidence and ids clipped to their
/// bounds (a feed's long evidence still counts; the audit trail keeps what
/// a person can read), the config's weight for its kind.
pub fn submission(r: &Report) -> ReportSubmission {
    ReportSubmission {
        address: r.address.to_string(),
        at: cordon_proto::time::unix(r.at),
        source: clip(r.source.trim(), MAX_SOURCE).into_owned(),
        evidence: clip(r.evidence.trim(), MAX_EVIDENCE).into_owned(),
        message_id: r
            .message_id
            .as_deref()
            .map(|m| clip(m.trim(), MAX_SOURCE).into_owned()),
        kind: Some(r.kind.as_str().to_owned()),
        weight: None,
    }
}

/// What became of one submitted report.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Refused by the checks (bad input: sending it again changes nothing).
    Refused(String),
    /// Handed to the core; its outcome (with an error when the core could
    /// not store it: worth sending again).
    Taken(ReportOutcome),
}

/// The core is stopping: nothing of the request was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopping;

/// Checks one submission.
fn check(config: &Config, actor: &Actor, r: &ReportSubmission) -> Result<Incoming, String> {
    let address: IpAddr = r.address.trim().parse().map_err(|_| {
        format!(
            "`{}` is not an IP address; a report names one address, like 100.64.1.7 or 2001:db8:1:2::5",
            clip(&r.address, ECHOED)
        )
    })?;
    let unit = policy::unit_of(config, address).map_err(|why| match why {
        policy::Skip::AllowedSender(p) => format!(
            "{address} is inside the allowed sender {p}; detection never quarantines allowed senders"
        ),
        policy::Skip::NotQuarantinable(e) => e.to_string(),
    })?;
    if r.source.trim().is_empty() {
        return Err("the source is empty; name who reported it (--source)".into());
    }
    // Bounded whoever sent them (`cordon import` clips a feed's evidence to
    // the bound before it sends): the audit trail is for people, and one
    // report must not fill the store or break `cordon show`.
    bounded("the source", r.source.trim(), MAX_SOURCE)?;
    bounded("the evidence", r.evidence.trim(), MAX_EVIDENCE)?;
    if let Some(m) = &r.message_id {
        bounded("the message id", m.trim(), MAX_SOURCE)?;
    }
    let kind = match r.kind.as_deref() {
        None => ReportKind::Other,
        Some(name) => ReportKind::from_name(name).ok_or_else(|| {
            format!(
                "`{}` is not a kind of report; use one of {}",
                clip(name, ECHOED),
                ReportKind::ALL.map(ReportKind::as_str).join(", ")
            )
        })?,
    };
    // An explicit weight must add something; a kind may weigh 0 (kept and
    // shown, not counted) when the config says so.
    let weight = match r.weight {
        Some(0) => return Err("a weight of 0 would add nothing; give 1 or more".into()),
        Some(w) => w,
        None => kind.weight(&config.detection.reports.weights),
    };
    // Storable by either store (a NUL escaped), here where they come in,
    // whichever way they came (the socket, `cordon import`, the Maildir).
    let text = |t: &str, max| storable(t.trim(), max).into_owned();
    Ok(Incoming {
        unit,
        holder: None,
        report: Report {
            address,
            at: system_time(r.at),
            source: text(&r.source, MAX_SOURCE),
            kind,
            evidence: text(&r.evidence, MAX_EVIDENCE),
            message_id: r
                .message_id
                .as_deref()
                .map(|m| text(m, MAX_SOURCE))
                .filter(|m| !m.is_empty()),
            weight,
        },
        actor: actor.clone(),
    })
}

/// Names, for each report, the subscriber who held its address when the
/// reported thing happened, from the session history: reports are often
/// days old, and the address may have moved on since. When the history
/// cannot be read, the core still counts it against whoever has held the
/// address since before then, or the address.
async fn attribute(shared: &Shared, config: &Config, reports: &mut [Incoming]) {
    if reports.is_empty() {
        return;
    }
    let questions = reports
        .iter()
        .map(|r| {
            (
                held_as(config, r.unit),
                cordon_proto::time::unix(r.report.at),
            )
        })
        .collect();
    match shared.store.holders_at(questions).await {
        Ok(holders) => {
            for (r, holder) in reports.iter_mut().zip(holders) {
                r.holder = holder.and_then(|h| h.parse().ok());
            }
        }
        Err(e) => tracing::warn!(
            error = %e,
            "cannot read the session history; reports count against the current holders"
        ),
    }
}

/// The session addresses that would have covered `unit`: itself, and each
/// wider prefix inside the subscriber prefix that a session could hold (a
/// delegated IPv6 /56 covers the /64 a report names).
fn held_as(config: &Config, unit: cordon_config::SubscriberAddr) -> Vec<String> {
    let net = unit.net();
    let shortest = config
        .subscribers
        .prefixes
        .iter()
        .map(|p| p.net())
        .filter(|p| p.contains(&net))
        .map(|p| p.prefix_len())
        .min()
        .unwrap_or(net.prefix_len());
    let mut texts: Vec<String> = (shortest..=net.prefix_len())
        .filter_map(|len| ipnet::IpNet::new(net.network(), len).ok())
        .filter_map(|wider| config.session_addr(&wider.trunc().to_string()).ok())
        .map(|a| a.to_string())
        .collect();
    texts.dedup();
    texts
}

/// Checks each report, attributes the valid ones to whoever held their
/// address at their time, and hands them to the core together; answers
/// once the core has stored them, one answer per report in the order sent.
/// The one path for reports, whichever way they came (control socket,
/// abuse Maildir).
pub async fn submit(
    shared: &Shared,
    config: &Config,
    actor: &Actor,
    reports: &[ReportSubmission],
) -> Result<Vec<Answer>, Stopping> {
    let mut refusals: Vec<Option<String>> = Vec::with_capacity(reports.len());
    let mut valid = Vec::new();
    for r in reports {
        match check(config, actor, r) {
            Ok(incoming) => {
                valid.push(incoming);
                refusals.push(None);
            }
            Err(error) => {
                tracing::debug!(address = %clip(&r.address, ECHOED), %error, "report refused");
                refusals.push(Some(error));
            }
        }
    }
    // One line for the request, naming the first refusal: a feed with
    // thousands of bad lines must not write thousands of log lines (each
    // refusal is at debug, and in the answer).
    let refused = refusals.iter().flatten().count();
    if let Some(first) = refusals.iter().flatten().next() {
        tracing::info!(refused, first = %first, "reports refused");
    }
    attribute(shared, config, &mut valid).await;
    let mut taken = if valid.is_empty() {
        Vec::new().into_iter()
    } else {
        shared.core.report(valid).await.ok_or(Stopping)?.into_iter()
    };
    Ok(refusals
        .into_iter()
        .map(|refused| match refused {
            Some(error) => Answer::Refused(error),
            None => Answer::Taken(taken.next().unwrap_or_else(|| ReportOutcome {
                address: String::new(),
                counted: false,
                not_counted: None,
                score: 0,
                threshold: config.detection.reports.score,
                state: HostState::Clean,
                error: Some("cordond lost this report's answer; see its log".into()),
            })),
        })
        .collect())
}

/// Handles a `report` request.
pub async fn take(
    shared: &Shared,
    config: &Config,
    operator: &str,
    reports: Vec<ReportSubmission>,
) -> Response {
    if reports.is_empty() {
        return Response::Error {
            class: ErrorClass::BadInput,
            message: "no reports given".into(),
        };
    }
    let actor = Actor::Operator(operator.to_owned());
    let Ok(answers) = submit(shared, config, &actor, &reports).await else {
        return Response::Error {
            class: ErrorClass::Failed,
            message: "cordond is stopping; send the reports again once it is back".into(),
        };
    };
    let threshold = config.detection.reports.score;
    let outcomes = answers
        .into_iter()
        .zip(&reports)
        .map(|(answer, r)| match answer {
            Answer::Taken(o) => o,
            Answer::Refused(error) => ReportOutcome {
                address: clip(&r.address, ECHOED).into_owned(),
                counted: false,
                not_counted: None,
                score: 0,
                threshold,
                state: HostState::Clean,
                error: Some(error),
            },
        })
        .collect();
    Response::Reported { outcomes }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A report whose texts carry NULs (a JSON `\u0000` on the socket)
    /// is taken with each NUL escaped: nothing of it is lost, and
    /// PostgreSQL's TEXT can hold it.
    #[test]
    fn a_reports_nul_characters_are_escaped_where_it_comes_in() {
        let config = crate::store::battery::config();
        let sent = ReportSubmission {
            address: "100.64.1.7".into(),
            at: 1_700_000_000,
            source: "feed\0x".into(),
            evidence: "spam \0 from here\0".into(),
            message_id: Some("<id\0@example>".into()),
            kind: Some("spam".into()),
            weight: None,
        };
        let taken = check(&config, &Actor::Operator("alice".into()), &sent).unwrap();
        assert_eq!(taken.report.source, "feed\\u{0}x");
        assert_eq!(taken.report.evidence, "spam \\u{0} from here\\u{0}");
        assert_eq!(
            taken.report.message_id.as_deref(),
            Some("<id\\u{0}@example>")
        );
    }
}

//! Building the records the sockets answer with, from a lifecycle record and
//! the kernel's recent-SMTP entry.

use cordon_proto::control::HostRecord;
use cordon_proto::portal::{HostState, HostStatus};
use cordon_proto::text::{MAX_NOTE, MAX_SOURCE, clip};
use cordon_rules::SmtpSeen;
use std::time::Duration;

use crate::core::View;
use crate::store::feed::FleetRow;
use cordon_policy::lifecycle::{State, Unix};

/// An address's or a subscriber's record for `cordon show`/`list` and for
/// answers to changes. The address shown is the one asked about, else the
/// address record's own (a range covering it), else the subscriber's first.
pub fn host_record(view: &View, seen: Option<SmtpSeen>, quiet: Duration, now: Unix) -> HostRecord {
    let address = view
        .subject
        .addr()
        .or(view.asked)
        .or_else(|| view.addresses.first().copied())
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut r = HostRecord {
        address,
        subscriber: view.subject.subscriber().map(ToString::to_string),
        addresses: view.addresses.iter().map(ToString::to_string).collect(),
        state: HostState::Clean,
        reason: None,
        actor: None,
        note: None,
        since: None,
        until: None,
        hold_until: None,
        smtp_attempts: seen.map_or(0, |s| s.attempts),
        last_smtp_attempt: seen
            .map(|s| now - i64::try_from(s.since_last(quiet).as_secs()).unwrap_or(0)),
        self_releases_left: view.self_releases_left,
        relapses: 0,
        mac: None,
        suspect: view.suspect.clone(),
        report_score: view.report_score,
        evidence: Default::default(),
        reports: Vec::new(),
        sessions: Vec::new(),
        acknowledged_until: None,
        next_rung: view.next_rung.clone(),
        gateway: None,
    };
    let Some(host) = &view.host else {
        return r;
    };
    if let Some(a) = host.subject.addr() {
        r.address = a.to_string();
    }
    r.mac = host.mac.clone();
    fill_state(&mut r, &host.state);
    r
}

/// A record decided on another gateway of the fleet and kept only in the
/// shared store (an address outside this gateway's prefixes): what `cordon
/// list` shows of it, with the gateway that decided. Nothing of this
/// gateway's kernel or memory is known about it.
pub fn stored_record(row: &FleetRow) -> HostRecord {
    let (address, subscriber) = if row.subscriber {
        (String::new(), Some(row.key.clone()))
    } else {
        (row.key.clone(), None)
    };
    let mut r = HostRecord {
        addresses: if row.subscriber {
            row.addresses.clone()
        } else {
            vec![row.key.clone()]
        },
        address,
        subscriber,
        state: HostState::Clean,
        reason: None,
        actor: None,
        note: None,
        since: None,
        until: None,
        hold_until: None,
        smtp_attempts: 0,
        last_smtp_attempt: None,
        self_releases_left: 0,
        relapses: 0,
        mac: row.record.mac.clone(),
        suspect: None,
        report_score: 0,
        evidence: Default::default(),
        reports: Vec::new(),
        sessions: Vec::new(),
        acknowledged_until: None,
        next_rung: None,
        gateway: row.gateway.clone(),
    };
    fill_state(&mut r, &row.record.state);
    r
}

/// The state's part of a record: its kind and what it carries.
fn fill_state(r: &mut HostRecord, state: &State) {
    r.state = state.kind();
    match state {
        State::Clean => {}
        State::Quarantined(q) => {
            r.reason = Some(q.reason);
            // Clipped: a record stored before the bounds must not break a
            // listing.
            r.actor = Some(clip(q.actor.name(), MAX_SOURCE).into_owned());
            r.note = Some(clip(&q.note, MAX_NOTE).into_owned());
            r.since = Some(q.since);
            r.until = q.until;
            r.hold_until = Some(q.hold_until);
            r.relapses = q.relapses;
            r.evidence = q.evidence.clone();
        }
        State::Noticed(n) => {
            r.reason = Some(n.reason);
            r.actor = Some(clip(n.actor.name(), MAX_SOURCE).into_owned());
            r.note = Some(clip(&n.note, MAX_NOTE).into_owned());
            r.since = Some(n.since);
            r.relapses = n.relapses;
            r.evidence = n.evidence.clone();
            r.acknowledged_until = n.acknowledged_until;
        }
        State::Probation(p) => {
            r.since = Some(p.since);
            r.until = Some(p.until);
            r.relapses = p.relapses;
        }
    }
}

/// The portal's view of the same.
pub fn host_status(record: &HostRecord, quiet: Duration) -> HostStatus {
    HostStatus {
        address: record.address.clone(),
        state: record.state,
        reason: record.reason,
        since: record.since,
        // A fixed end only: `hold_until` is the earliest end, not the latest.
        until: record.until,
        smtp_attempts: record.smtp_attempts,
        last_smtp_attempt: record.last_smtp_attempt,
        quiet_period_s: quiet.as_secs(),
        self_releases_left: record.self_releases_left,
        subscriber: record.subscriber.clone(),
        acknowledged_until: record.acknowledged_until,
    }
}

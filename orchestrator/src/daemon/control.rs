//! The control socket: operators' requests, each checked, carried out by the
//! core, and answered only after store and kernel both took the change.

use std::sync::Arc;
use std::time::Duration;

use cordon_proto::control::{DaemonStatus, ErrorClass, RecentReport, Request, Response};
use cordon_proto::portal::Reason;
use cordon_proto::text::{MAX_EVIDENCE, MAX_REASON, MAX_SOURCE, bounded, clip, storable};
use cordon_rules::Difference;
use cordon_runtime::frame::framed;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info_span};

use super::answers::host_record;
use super::conns::{Allowed, ConnTable, Slot};
use super::sessions::{Target, target};
use super::shared::Shared;
use super::sockets::peer_name;
use crate::core::Failure;
use crate::kernel::{Enforcer, KernelError, mac_of};
use cordon_policy::lifecycle::{Event, NoticeRequest, QuarantineRequest, Refusal};
use cordon_policy::subject::Subject;

/// Serves the control socket until cancelled, within `table`'s caps (see
/// [`super::conns`]).
pub async fn serve(
    listener: UnixListener,
    table: Arc<ConnTable>,
    shared: Shared,
    cancel: CancellationToken,
) {
    super::conns::accept_loop(
        "control",
        listener,
        table,
        Allowed::Any,
        cancel,
        move |stream, slot| connection(stream, slot, shared.clone()),
    )
    .await;
}

async fn connection(stream: UnixStream, slot: Slot, shared: Shared) {
    let operator = peer_name(&stream);
    let mut io = framed(stream);
    'requests: while let Some(request) = slot.next_request::<Request>(&mut io).await {
        // Listings go out in pages, so no number or size of records can
        // exceed the frame limit (see `Response::into_frames`).
        for frame in handle(&shared, &operator, request).await.into_frames() {
            if !slot.answer(&mut io, &frame).await {
                break 'requests;
            }
        }
    }
}

pub(super) fn bad(message: impl Into<String>) -> Response {
    Response::Error {
        class: ErrorClass::BadInput,
        message: message.into(),
    }
}

pub(super) fn failed(message: impl Into<String>) -> Response {
    Response::Error {
        class: ErrorClass::Failed,
        message: message.into(),
    }
}

async fn kernel_call<T: Send + 'static>(
    kernel: &Arc<dyn Enforcer>,
    f: impl FnOnce(&dyn Enforcer) -> Result<T, KernelError> + Send + 'static,
) -> Result<T, String> {
    let k = kernel.clone();
    tokio::task::spawn_blocking(move || f(k.as_ref()).map_err(|e| e.to_string()))
        .await
        .map_err(|e| e.to_string())?
}

/// One request.
pub async fn handle(shared: &Shared, operator: &str, request: Request) -> Response {
    let config = shared.config.borrow().clone();
    let quiet = config.quarantine.quiet_period;
    let parse = |text: &str| {
        config
            .subscriber_addr(text)
            .map_err(|e| Box::new(bad(e.to_string())))
    };
    match request {
        Request::Status => {
            let Some(counts) = shared.core.counts().await else {
                return failed("cordond is stopping");
            };
            let (table_present, table_differences) =
                match kernel_call(&shared.kernel, |k| k.drift()).await {
                    Ok(found) => (
                        !found.contains(&Difference::TableMissing),
                        found
                            .iter()
                            .filter(|d| **d != Difference::TableMissing)
                            .map(ToString::to_string)
                            .collect(),
                    ),
                    Err(_) => (false, Vec::new()),
                };
            let outbox = shared.store.outbox();
            Response::Status(DaemonStatus {
                version: env!("CARGO_PKG_VERSION").into(),
                started: shared.started,
                table: config.table.clone(),
                table_present,
                table_repair_failed: !table_differences.is_empty()
                    && !counts.table_unrepaired.is_empty(),
                table_differences,
                store: shared.store.location(),
                store_unreachable_since: outbox
                    .and_then(|o| o.unreachable_since)
                    .map(cordon_proto::time::unix),
                store_outbox: outbox.map(|o| o.queued),
                store_outbox_refused: outbox.map(|o| o.refused),
                quarantined: counts.quarantined,
                noticed: counts.noticed,
                probation: counts.probation,
                last_reconcile: counts.last_reconcile,
            })
        }
        Request::List => {
            let Some(views) = shared.core.list().await else {
                return failed("cordond is stopping");
            };
            // One listing of the recent-SMTP set for all, not one lookup each.
            let recent = if views.is_empty() {
                Vec::new()
            } else {
                kernel_call(&shared.kernel, |k| k.smtp_recent())
                    .await
                    .unwrap_or_default()
            };
            let now = shared.clock.now();
            let hosts = views
                .iter()
                .map(|v| {
                    let addrs = v.subject.addr().map_or(v.addresses.clone(), |a| vec![a]);
                    let seen = recent
                        .iter()
                        .filter(|s| addrs.iter().any(|a| a.contains(&s.key)))
                        .max_by_key(|s| s.expires)
                        .copied();
                    host_record(v, seen, quiet, now)
                })
                .collect();
            let (hosts, more) = with_the_fleet(shared, hosts).await;
            Response::List { hosts, more }
        }
        Request::Show {
            address,
            subscriber,
        } => match target(&config, address, subscriber) {
            Ok(t) => show(shared, t, quiet).await,
            Err(r) => *r,
        },
        Request::Quarantine {
            address,
            subscriber,
            reason,
            hold_s,
        } => {
            let (t, note) = match operator_change(&config, address, subscriber, &reason, EXAMPLE) {
                Ok(checked) => checked,
                Err(r) => return *r,
            };
            let hold = hold_s.map(Duration::from_secs);
            let span = info_span!("quarantine", subscriber = %t, operator);
            async {
                let mac = match &t {
                    Target::Addr(a) => {
                        tokio::time::timeout(Duration::from_millis(500), mac_of(a.net()))
                            .await
                            .ok()
                            .flatten()
                    }
                    Target::Subscriber(_) => None,
                };
                let event = Event::Quarantine(QuarantineRequest {
                    subject: t.subject(),
                    reason: Reason::Operator,
                    actor: cordon_policy::Actor::Operator(operator.to_owned()),
                    note,
                    hold,
                    mac,
                    evidence: Default::default(),
                });
                apply(shared, t, event, quiet).await
            }
            .instrument(span)
            .await
        }
        Request::Notice {
            address,
            subscriber,
            reason,
        } => {
            let (t, note) = match operator_change(&config, address, subscriber, &reason, EXAMPLE) {
                Ok(checked) => checked,
                Err(r) => return *r,
            };
            let event = Event::Notice(NoticeRequest {
                subject: t.subject(),
                reason: Reason::Operator,
                actor: cordon_policy::Actor::Operator(operator.to_owned()),
                note,
                mac: None,
                evidence: Default::default(),
            });
            let span = info_span!("notice", subscriber = %t, operator);
            apply(shared, t, event, quiet).instrument(span).await
        }
        Request::Release {
            address,
            subscriber,
            reason,
        } => {
            let example = "--reason \"customer cleaned the PC\"";
            let (t, note) = match operator_change(&config, address, subscriber, &reason, example) {
                Ok(checked) => checked,
                Err(r) => return *r,
            };
            let event = Event::Release {
                subject: t.subject(),
                actor: cordon_policy::Actor::Operator(operator.to_owned()),
                note,
            };
            let span = info_span!("release", subscriber = %t, operator);
            apply(shared, t, event, quiet).instrument(span).await
        }
        Request::History {
            address,
            subscriber,
            limit,
        } => {
            let address = match address {
                Some(text) => match parse(&text) {
                    Ok(a) => Some(a.to_string()),
                    Err(r) => return *r,
                },
                None => None,
            };
            let subscriber =
                match subscriber.map(|s| s.parse::<cordon_proto::subscriber::SubscriberId>()) {
                    Some(Ok(s)) => Some(s.to_string()),
                    Some(Err(e)) => return bad(e.to_string()),
                    None => None,
                };
            match shared
                .store
                .history(address, subscriber, limit.max(1))
                .await
            {
                Ok(entries) => Response::History {
                    entries,
                    more: false,
                },
                Err(e) => failed(e.to_string()),
            }
        }
        Request::Report { reports } => {
            let span = info_span!("reports", operator, count = reports.len());
            super::reports::take(shared, &config, operator, reports)
                .instrument(span)
                .await
        }
        Request::SessionStart { .. } | Request::SessionStop { .. } | Request::Sessions { .. } => {
            super::sessions::handle(shared, &config, operator, request).await
        }
        _ => {
            bad("this cordond does not know that request; are cordon and cordond the same version?")
        }
    }
}

/// The example reason a refusal of an empty quarantine or notice reason
/// gives.
const EXAMPLE: &str = "--reason \"abuse ticket 4711\"";

/// What an operator's quarantine, notice and release all check before
/// anything changes: exactly one target the config admits, and a reason
/// fit for the audit trail (`example` shows one in the refusal of an empty
/// reason). The target and the audit note, or the refusal to answer with.
fn operator_change(
    config: &cordon_config::Config,
    address: Option<String>,
    subscriber: Option<String>,
    reason: &str,
    example: &str,
) -> Result<(Target, String), Box<Response>> {
    let t = target(config, address, subscriber)?;
    Ok((t, operator_note(reason, example)?))
}

/// An operator's reason as the audit note: not empty, and within
/// [`MAX_REASON`] whoever sent it (the CLI checks too; anything else on the
/// socket is held to it here), a NUL escaped so either store can hold it
/// ([`storable`]). The refusal otherwise.
fn operator_note(reason: &str, example: &str) -> Result<String, Box<Response>> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Box::new(bad(format!(
            "the reason is empty; say why, e.g. {example}"
        ))));
    }
    bounded("the reason", reason, MAX_REASON).map_err(|e| Box::new(bad(e)))?;
    Ok(storable(reason, MAX_REASON).into_owned())
}

/// How many of a host's latest reports `cordon show` lists.
const SHOWN_REPORTS: u32 = 5;

/// How many of a subscriber's latest sessions `cordon show` lists.
const SHOWN_SESSIONS: u32 = 10;

/// The record with the kernel's SMTP counters (at most a second old), the
/// latest outside reports about it, with their evidence, and for a
/// subscriber its latest sessions.
async fn show(shared: &Shared, t: Target, quiet: Duration) -> Response {
    let Some(view) = view(shared, &t).await else {
        return failed("cordond is stopping");
    };
    let targets = view
        .subject
        .addr()
        .map_or(view.addresses.clone(), |a| vec![a]);
    let seen = super::seen::of_all(&shared.seen, &shared.kernel, &targets, false).await;
    let mut record = host_record(&view, seen, quiet, shared.clock.now());
    let reports = match &view.subject {
        Subject::Addr(a) => {
            shared
                .store
                .recent_reports(a.to_string(), SHOWN_REPORTS)
                .await
        }
        Subject::Subscriber(s) => {
            shared
                .store
                .recent_subscriber_reports(s.to_string(), SHOWN_REPORTS)
                .await
        }
    };
    match reports {
        Ok(reports) => record.reports = reports.iter().map(shown_report).collect(),
        Err(e) => tracing::warn!(error = %e, "cannot read the latest reports for show"),
    }
    if let (Some(feed), Some(_)) = (&shared.fleet, &view.host) {
        let (subscriber, key) = match &view.subject {
            Subject::Addr(a) => (false, a.to_string()),
            Subject::Subscriber(s) => (true, s.to_string()),
        };
        match tokio::time::timeout(Duration::from_secs(2), feed.decided_by(key, subscriber)).await {
            Ok(Ok(gateway)) => record.gateway = gateway,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "cannot read which gateway decided, for show")
            }
            Err(_) => {}
        }
    }
    if let Some(s) = view.subject.subscriber() {
        match shared
            .store
            .sessions(Some(s.to_string()), SHOWN_SESSIONS)
            .await
        {
            Ok(sessions) => record.sessions = sessions,
            Err(e) => tracing::warn!(error = %e, "cannot read the session history for show"),
        }
        // A subscriber online behind another gateway of the fleet holds
        // nothing here, but its open sessions in the shared store say
        // what it holds now.
        if record.addresses.is_empty() {
            for s in record.sessions.iter().filter(|s| s.ended.is_none()) {
                if !record.addresses.contains(&s.address) {
                    record.addresses.push(s.address.clone());
                }
            }
        }
    }
    if record.evidence.is_empty() && record.report_score > 0 {
        record
            .evidence
            .insert("score".into(), u64::from(record.report_score));
    }
    Response::Host(record)
}

fn shown_report(r: &crate::store::StoredReport) -> RecentReport {
    RecentReport {
        at: r.at,
        source: clip(&r.source, MAX_SOURCE).into_owned(),
        kind: r.kind.as_str().to_owned(),
        evidence: clip(&r.evidence, MAX_EVIDENCE).into_owned(),
        weight: r.weight,
        counted: r.counted,
    }
}

/// The record after a change, without the kernel's SMTP counters: asking
/// for them costs an `nft` process per request, which a batch of thousands
/// of quarantines cannot afford. `cordon show` has them.
async fn changed(shared: &Shared, t: Target, quiet: Duration) -> Response {
    let Some(view) = view(shared, &t).await else {
        return failed("cordond is stopping");
    };
    Response::Host(host_record(&view, None, quiet, shared.clock.now()))
}

/// What the core knows about a target.
async fn view(shared: &Shared, t: &Target) -> Option<crate::core::View> {
    match t {
        Target::Addr(a) => shared.core.view(*a).await,
        Target::Subscriber(s) => shared.core.view_subscriber(s.clone()).await,
    }
}

/// Applies an operator's event and answers with the record after it; a
/// refusal of the request itself (an overlap, a zero hold) is bad input,
/// anything else a failure.
async fn apply(shared: &Shared, t: Target, event: Event, quiet: Duration) -> Response {
    match shared.core.apply(event).await {
        Ok(_) => changed(shared, t, quiet).await,
        Err(Failure::Refused(r @ (Refusal::Overlaps { .. } | Refusal::ZeroHold))) => {
            bad(r.to_string())
        }
        Err(e) => failed(e.to_string()),
    }
}

/// In a fleet, `cordon list` shows every decision in force: this gateway's
/// records gain the gateway that decided them, and the records of
/// addresses other gateways serve are added from the shared store. When
/// the store does not answer within 2 s, this gateway's own list is still
/// the answer (the status says the store is away).
async fn with_the_fleet(
    shared: &Shared,
    mut hosts: Vec<cordon_proto::control::HostRecord>,
) -> (Vec<cordon_proto::control::HostRecord>, bool) {
    use crate::store::feed::MAX_FLEET_ROWS;
    let Some(feed) = &shared.fleet else {
        return (hosts, false);
    };
    let rows = match tokio::time::timeout(
        Duration::from_secs(2),
        feed.decisions(MAX_FLEET_ROWS + 1),
    )
    .await
    {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "the fleet's decisions could not be read; listing this gateway's");
            return (hosts, false);
        }
        Err(_) => return (hosts, false),
    };
    let more = rows.len() > MAX_FLEET_ROWS as usize;
    let mut by_key: std::collections::HashMap<(bool, &str), &crate::store::feed::FleetRow> = rows
        .iter()
        .take(MAX_FLEET_ROWS as usize)
        .map(|r| ((r.subscriber, r.key.as_str()), r))
        .collect();
    for h in &mut hosts {
        let key = match &h.subscriber {
            Some(id) => (true, id.as_str()),
            None => (false, h.address.as_str()),
        };
        if let Some(row) = by_key.remove(&key) {
            h.gateway.clone_from(&row.gateway);
            // Online behind another gateway: nothing held here.
            if h.addresses.is_empty() {
                h.addresses.clone_from(&row.addresses);
            }
        }
    }
    let mut elsewhere: Vec<cordon_proto::control::HostRecord> = by_key
        .into_values()
        .map(super::answers::stored_record)
        .collect();
    elsewhere.sort_by(|a, b| (&a.subscriber, &a.address).cmp(&(&b.subscriber, &b.address)));
    hosts.extend(elsewhere);
    (hosts, more)
}

#[cfg(test)]
mod tests;

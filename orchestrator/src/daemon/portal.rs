//! The portal socket: the portal may ask about one address (the HTTP
//! client's), request its self-release and acknowledge its notice; nothing
//! else is on this socket,
//! so a compromised portal cannot quarantine, list or release anybody else.

use std::net::IpAddr;
use std::sync::Arc;

use cordon_config::SubscriberAddr;
use cordon_proto::portal::{Request, Response, SelfReleaseOutcome};
use cordon_rules::SmtpSeen;
use cordon_runtime::frame::{framed, recv_ready};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info_span};

use super::answers::{host_record, host_status};
use super::conns::{Allowed, ConnTable, Slot};
use super::shared::Shared;
use crate::core::{Failure, View};
use cordon_policy::lifecycle::{Event, Refusal};
use cordon_policy::subject::Subject;

/// Serves the portal socket until cancelled: only `portal_uid` (the
/// configured `portal.user`) is served, checked with `SO_PEERCRED`, since the
/// socket file's permissions alone may be loosened by hand, and a shared
/// account (`nobody`) would let every process of it ask about any address
/// and press any subscriber's button. Others are closed unanswered.
pub async fn serve(
    listener: UnixListener,
    table: Arc<ConnTable>,
    portal_uid: Option<u32>,
    shared: Shared,
    cancel: CancellationToken,
) {
    let allowed = portal_uid.map_or(Allowed::Any, Allowed::Only);
    super::conns::accept_loop(
        "portal",
        listener,
        table,
        allowed,
        cancel,
        move |stream, slot| connection(stream, slot, shared.clone()),
    )
    .await;
}

/// Most questions taken from one read and answered together.
const MAX_BATCH: usize = 64;

/// Answers in order. The portal may send questions without waiting for
/// the answers before them (it does, under an outbreak): every question
/// already read is answered in one go, the status questions among them
/// with one crossing to the core, and the answers written together.
async fn connection(stream: UnixStream, slot: Slot, shared: Shared) {
    let mut io = framed(stream);
    while let Some(first) = slot.next_request::<Request>(&mut io).await {
        let mut batch = vec![first];
        let mut junk = false;
        while batch.len() < MAX_BATCH {
            match recv_ready::<Request>(&mut io) {
                Some(Ok(request)) => batch.push(request),
                // Answered up to it, then closed, as a lone bad frame is.
                Some(Err(_)) => {
                    junk = true;
                    break;
                }
                None => break,
            }
        }
        let answers = handle_all(&shared, batch).await;
        if !slot.answer_all(&mut io, &answers).await || junk {
            break;
        }
    }
}

/// Answers `requests` in order: each run of status questions together,
/// anything else (a button press, an acknowledgement) on its own, in turn.
async fn handle_all(shared: &Shared, requests: Vec<Request>) -> Vec<Response> {
    let mut answers = Vec::with_capacity(requests.len());
    let mut run = Vec::new();
    for request in requests {
        match request {
            Request::Status { address } => run.push(address),
            Request::SelfRelease { address } => {
                answers.extend(statuses(shared, std::mem::take(&mut run)).await);
                answers.push(self_release(shared, address).await);
            }
            Request::Acknowledge { address } => {
                answers.extend(statuses(shared, std::mem::take(&mut run)).await);
                answers.push(acknowledge(shared, address).await);
            }
        }
    }
    answers.extend(statuses(shared, run).await);
    answers
}

/// The status of each address, in order, with one crossing to the core.
async fn statuses(shared: &Shared, ips: Vec<IpAddr>) -> Vec<Response> {
    if ips.is_empty() {
        return Vec::new();
    }
    let config = shared.config.borrow().clone();
    let quiet = config.quarantine.quiet_period;
    let units: Vec<_> = ips.iter().map(|&ip| config.subscriber_of(ip)).collect();
    let known: Vec<SubscriberAddr> = units
        .iter()
        .filter_map(|u| u.as_ref().ok().copied())
        .collect();
    let Some(views) = shared.core.views(known).await else {
        return ips.iter().map(|_| error("cordond is stopping")).collect();
    };
    let mut views = views.into_iter();
    let mut answers = Vec::with_capacity(ips.len());
    for unit in units {
        let (addr, view) = match (unit, views.next()) {
            (Ok(addr), Some(view)) => (addr, view),
            (Err(e), _) => {
                answers.push(error(e.to_string()));
                continue;
            }
            (Ok(_), None) => {
                answers.push(error("cordond is stopping"));
                continue;
            }
        };
        let seen = seen_by(shared, addr, &view, false).await;
        answers.push(Response::Status(host_status(
            &host_record(&view, seen, quiet, shared.clock.now()),
            quiet,
        )));
    }
    answers
}

/// What the kernel counted: an address record's own range, or every
/// address the subscriber holds now (`fresh`: asked now, for decisions).
async fn seen_by(
    shared: &Shared,
    addr: SubscriberAddr,
    view: &View,
    fresh: bool,
) -> Option<SmtpSeen> {
    let range = view.host.as_ref().and_then(|h| h.subject.addr());
    let targets = match range {
        Some(a) => vec![a],
        None if view.addresses.is_empty() => vec![addr],
        None => view.addresses.clone(),
    };
    super::seen::of_all(&shared.seen, &shared.kernel, &targets, fresh).await
}

fn error(message: impl Into<String>) -> Response {
    Response::Error {
        message: message.into(),
    }
}

/// The subscriber unit `ip` belongs to, or why it is refused.
fn unit_of(shared: &Shared, ip: IpAddr) -> Result<SubscriberAddr, String> {
    shared
        .config
        .borrow()
        .subscriber_of(ip)
        .map_err(|e| e.to_string())
}

/// "I understand": the caller's notice acknowledged.
async fn acknowledge(shared: &Shared, ip: IpAddr) -> Response {
    let addr = match unit_of(shared, ip) {
        Ok(a) => a,
        Err(why) => return error(why),
    };
    let event = Event::Acknowledge {
        subject: Subject::Addr(addr),
    };
    let span = info_span!("acknowledge", subscriber = %addr);
    match shared.core.apply(event).instrument(span).await {
        Ok(_) => Response::Acknowledged { acknowledged: true },
        Err(Failure::Refused(Refusal::NotNoticed(_))) => Response::Acknowledged {
            acknowledged: false,
        },
        Err(e) => error(e.to_string()),
    }
}

/// "I have cleaned my computer": the caller's self-release, decided on
/// what the kernel counts now.
async fn self_release(shared: &Shared, ip: IpAddr) -> Response {
    let addr = match unit_of(shared, ip) {
        Ok(a) => a,
        Err(why) => return error(why),
    };
    let quiet = shared.config.borrow().quarantine.quiet_period;
    let Some(view) = shared.core.view(addr).await else {
        return error("cordond is stopping");
    };
    // A range quarantine is an operator's decision about many
    // subscribers; one of them cannot lift it.
    let range = view.host.as_ref().and_then(|h| h.subject.addr());
    if range.is_some_and(|r| r != addr) {
        return Response::SelfRelease(SelfReleaseOutcome::NoneLeft);
    }
    // Pages may be a second old; the decision asks afresh.
    let seen = seen_by(shared, addr, &view, true).await;
    let event = Event::SelfRelease {
        subject: Subject::Addr(addr),
        since_last: seen.map(|s| s.since_last(quiet)),
    };
    let span = info_span!("self_release", subscriber = %view.subject);
    let result = shared.core.apply(event).instrument(span).await;
    Response::SelfRelease(match result {
        Ok(_) => SelfReleaseOutcome::Released,
        Err(Failure::Refused(Refusal::TooEarly { remaining })) => SelfReleaseOutcome::TooEarly {
            remaining_s: remaining.as_secs(),
        },
        Err(Failure::Refused(Refusal::StillSending { ago, quiet })) => {
            SelfReleaseOutcome::StillSending {
                last_attempt_s_ago: ago.as_secs(),
                quiet_needed_s: quiet.saturating_sub(ago).as_secs(),
            }
        }
        Err(Failure::Refused(Refusal::NoneLeft)) => SelfReleaseOutcome::NoneLeft,
        Err(Failure::Refused(_)) => SelfReleaseOutcome::NotQuarantined,
        Err(e) => return error(e.to_string()),
    })
}

//! The portal socket: the portal may ask about one address (the HTTP
//! client's), request its self-release and acknowledge its notice; nothing
//! else is on this socket,
//! so a compromised portal cannot quarantine, list or release anybody else.

use std::sync::Arc;

use cordon_proto::portal::{Request, Response, SelfReleaseOutcome};
use cordon_runtime::frame::framed;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info_span};

use super::answers::{host_record, host_status};
use super::conns::{Allowed, ConnTable, Slot};
use super::shared::Shared;
use crate::core::Failure;
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

async fn connection(stream: UnixStream, slot: Slot, shared: Shared) {
    let mut io = framed(stream);
    while let Some(request) = slot.next_request::<Request>(&mut io).await {
        let response = handle(&shared, request).await;
        if !slot.answer(&mut io, &response).await {
            break;
        }
    }
}

fn error(message: impl Into<String>) -> Response {
    Response::Error {
        message: message.into(),
    }
}

async fn handle(shared: &Shared, request: Request) -> Response {
    let config = shared.config.borrow().clone();
    let quiet = config.quarantine.quiet_period;
    let ip = match &request {
        Request::Status { address }
        | Request::SelfRelease { address }
        | Request::Acknowledge { address } => *address,
    };
    let addr = match config.subscriber_of(ip) {
        Ok(a) => a,
        Err(e) => return error(e.to_string()),
    };
    if matches!(request, Request::Acknowledge { .. }) {
        let event = Event::Acknowledge {
            subject: Subject::Addr(addr),
        };
        let span = info_span!("acknowledge", subscriber = %addr);
        return match shared.core.apply(event).instrument(span).await {
            Ok(_) => Response::Acknowledged { acknowledged: true },
            Err(Failure::Refused(Refusal::NotNoticed(_))) => Response::Acknowledged {
                acknowledged: false,
            },
            Err(e) => error(e.to_string()),
        };
    }
    let Some(view) = shared.core.view(addr).await else {
        return error("cordond is stopping");
    };
    // What the kernel counted: an address record's own range, or every
    // address the subscriber holds now.
    let range = view.host.as_ref().and_then(|h| h.subject.addr());
    let targets = match range {
        Some(a) => vec![a],
        None if view.addresses.is_empty() => vec![addr],
        None => view.addresses.clone(),
    };
    // Pages may be a second old; the self-release decision asks afresh.
    let decide = matches!(request, Request::SelfRelease { .. });
    let seen = super::seen::of_all(&shared.seen, &shared.kernel, &targets, decide).await;
    match request {
        Request::Status { .. } => Response::Status(host_status(
            &host_record(&view, seen, quiet, shared.clock.now()),
            quiet,
        )),
        // Handled before the look-ups, which it does not need.
        Request::Acknowledge { .. } => error("an acknowledgement is answered without a status"),
        Request::SelfRelease { .. } => {
            // A range quarantine is an operator's decision about many
            // subscribers; one of them cannot lift it.
            if range.is_some_and(|r| r != addr) {
                return Response::SelfRelease(SelfReleaseOutcome::NoneLeft);
            }
            let event = Event::SelfRelease {
                subject: Subject::Addr(addr),
                since_last: seen.map(|s| s.since_last(quiet)),
            };
            let span = info_span!("self_release", subscriber = %view.subject);
            let result = shared.core.apply(event).instrument(span).await;
            Response::SelfRelease(match result {
                Ok(_) => SelfReleaseOutcome::Released,
                Err(Failure::Refused(Refusal::TooEarly { remaining })) => {
                    SelfReleaseOutcome::TooEarly {
                        remaining_s: remaining.as_secs(),
                    }
                }
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
    }
}

//! The portal socket: the portal may ask about one address (the HTTP
//! client's) and request its self-release; nothing else is on this socket,
//! so a compromised portal cannot quarantine, list or release anybody else.

use cordon_proto::frame::{framed, recv, send};
use cordon_proto::portal::{Request, Response, SelfReleaseOutcome};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info_span, warn};

use super::answers::{host_record, host_status};
use super::control::Shared;
use super::core::{Failure, now};
use crate::lifecycle::{Event, Refusal};

/// Serves the portal socket until cancelled.
pub async fn serve(listener: UnixListener, shared: Shared, cancel: CancellationToken) {
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => s,
                Err(e) => { warn!(error = %e, "portal socket: accept failed"); continue; }
            },
        };
        tokio::spawn(connection(stream, shared.clone()));
    }
}

async fn connection(stream: UnixStream, shared: Shared) {
    let mut io = framed(stream);
    while let Ok(Some(request)) = recv::<Request>(&mut io).await {
        let response = handle(&shared, request).await;
        if send(&mut io, &response).await.is_err() {
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
        Request::Status { address } | Request::SelfRelease { address } => *address,
    };
    let addr = match config.subscriber_of(ip) {
        Ok(a) => a,
        Err(e) => return error(e.to_string()),
    };
    let Some(view) = shared.core.view(addr).await else {
        return error("cordond is stopping");
    };
    let target = view.host.as_ref().map_or(addr, |h| h.addr);
    // Pages may be a second old; the self-release decision asks afresh.
    let seen = match request {
        Request::Status { .. } => shared.seen.lookup(&shared.kernel, target).await,
        Request::SelfRelease { .. } => super::seen::fresh(&shared.kernel, target).await,
    };
    match request {
        Request::Status { .. } => Response::Status(host_status(
            &host_record(&addr, &view, seen, quiet, now()),
            quiet,
        )),
        Request::SelfRelease { .. } => {
            // A range quarantine is an operator's decision about many
            // subscribers; one of them cannot lift it.
            if target != addr {
                return Response::SelfRelease(SelfReleaseOutcome::NoneLeft);
            }
            let event = Event::SelfRelease {
                addr,
                since_last: seen.map(|s| s.since_last(quiet)),
            };
            let span = info_span!("self_release", subscriber = %addr);
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

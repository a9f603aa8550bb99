//! Who holds which address, as operators and the DHCP and PPP servers'
//! hooks tell it (`cordon session start|stop`, `cordon sessions`), and the
//! targets operators name: an address or `--subscriber ID`.

use std::fmt;

use cordon_config::{Config, SubscriberAddr};
use cordon_policy::sessions::SessionEvent;
use cordon_policy::subject::Subject;
use cordon_proto::control::{Request, Response, SubscriberRecord};
use cordon_proto::subscriber::SubscriberId;
use tracing::{Instrument, info_span};

use super::control::{bad, failed};
use super::shared::Shared;
use crate::core::{Failure, SubscriberNow};

/// What an operator named: an address, or a subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An address (bound to its holder by the policy).
    Addr(SubscriberAddr),
    /// A subscriber by id.
    Subscriber(SubscriberId),
}

impl Target {
    /// Whom an event about the target is about, before binding.
    pub fn subject(&self) -> Subject {
        match self {
            Target::Addr(a) => Subject::Addr(*a),
            Target::Subscriber(s) => Subject::Subscriber(s.clone()),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.subject().fmt(f)
    }
}

/// The target of a request: exactly one of an address and a subscriber.
pub fn target(
    config: &Config,
    address: Option<String>,
    subscriber: Option<String>,
) -> Result<Target, Box<Response>> {
    match (address, subscriber) {
        (Some(a), None) => config
            .subscriber_addr(&a)
            .map(Target::Addr)
            .map_err(|e| Box::new(bad(e.to_string()))),
        (None, Some(s)) => s
            .parse()
            .map(Target::Subscriber)
            .map_err(|e: cordon_proto::subscriber::BadSubscriberId| Box::new(bad(e.to_string()))),
        (Some(_), Some(_)) => Err(Box::new(bad(
            "give an address or --subscriber ID, not both",
        ))),
        (None, None) => Err(Box::new(bad("give an address or --subscriber ID"))),
    }
}

/// The most lines one `cordon sessions` answers with.
const MAX_SESSIONS: u32 = 100_000;

/// A session request.
pub async fn handle(
    shared: &Shared,
    config: &Config,
    operator: &str,
    request: Request,
) -> Response {
    let (subscriber, addresses, source, start) = match request {
        Request::SessionStart {
            subscriber,
            addresses,
            source,
        } => (subscriber, addresses, source, true),
        Request::SessionStop {
            subscriber,
            addresses,
            source,
        } => (subscriber, addresses, source, false),
        Request::Sessions { subscriber, limit } => return listing(shared, subscriber, limit).await,
        _ => return bad("not a session request"),
    };
    let subscriber: SubscriberId = match subscriber.parse() {
        Ok(s) => s,
        Err(e) => return bad(e.to_string()),
    };
    if start && addresses.is_empty() {
        return bad("give the session's --address and/or --prefix");
    }
    let addrs = match parse_all(config, &addresses) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let span = info_span!("session", subscriber = %subscriber, source = %source, operator);
    let event = if start {
        SessionEvent::Start {
            subscriber,
            addrs,
            source,
            session_id: None,
            // The hook's server is not named on the command line; the
            // operator's name is in the log line's span.
            nas: None,
            calling_station: None,
        }
    } else {
        SessionEvent::Stop {
            subscriber,
            // None given: every address it holds.
            addrs: (!addrs.is_empty()).then_some(addrs),
        }
    };
    answer(shared.core.session(event).instrument(span).await)
}

/// `cordon sessions [ID]`.
async fn listing(shared: &Shared, subscriber: Option<String>, limit: u32) -> Response {
    let subscriber = match subscriber.map(|s| s.parse::<SubscriberId>()) {
        Some(Ok(s)) => Some(s.to_string()),
        Some(Err(e)) => return bad(e.to_string()),
        None => None,
    };
    match shared
        .store
        .sessions(subscriber, limit.clamp(1, MAX_SESSIONS))
        .await
    {
        Ok(sessions) => Response::Sessions {
            sessions,
            more: false,
        },
        Err(e) => failed(e.to_string()),
    }
}

fn parse_all(config: &Config, texts: &[String]) -> Result<Vec<SubscriberAddr>, Box<Response>> {
    texts
        .iter()
        .map(|t| {
            config
                .session_addr(t)
                .map_err(|e| Box::new(bad(e.to_string())))
        })
        .collect()
}

fn answer(result: Result<SubscriberNow, Failure>) -> Response {
    match result {
        Ok(now) => Response::Session(SubscriberRecord {
            subscriber: now.subscriber.map(|s| s.to_string()).unwrap_or_default(),
            addresses: now.addresses.iter().map(ToString::to_string).collect(),
            state: now.state,
        }),
        Err(Failure::SessionRefused(r)) => bad(r.to_string()),
        Err(e) => failed(e.to_string()),
    }
}

//! `cordon session start|stop` and `cordon sessions`: the requests, checked
//! as far as the CLI can without cordond, and their output for people.

use cordon_config::Config;
use cordon_proto::control::{Request, SessionRecord, SessionSource, SubscriberRecord};
use cordon_proto::subscriber::SubscriberId;

use super::args::SessionAction;
use super::output::{or_none, relative, table};

/// A subscriber id as typed, checked.
pub fn id(text: &str) -> Result<String, String> {
    text.parse::<SubscriberId>()
        .map(|s| s.to_string())
        .map_err(|e| format!("--subscriber: {e}"))
}

/// The request for `cordon session start|stop`.
pub fn request(action: &SessionAction, config: Option<&Config>) -> Result<Request, String> {
    let (subscriber, address, prefix, source) = match action {
        SessionAction::Start {
            subscriber,
            address,
            prefix,
            source,
        }
        | SessionAction::Stop {
            subscriber,
            address,
            prefix,
            source,
        } => (subscriber, address, prefix, source),
    };
    let subscriber = id(subscriber)?;
    let source = SessionSource::from_name(source)
        .ok_or_else(|| format!("--source {source}: use dhcp, ppp, radius or operator"))?;
    let mut addresses = Vec::new();
    for (flag, text) in address
        .iter()
        .map(|a| ("--address", a))
        .chain(prefix.iter().map(|p| ("--prefix", p)))
    {
        let checked = match config {
            Some(c) => c
                .session_addr(text)
                .map(|a| a.to_string())
                .map_err(|e| format!("{flag} {text}: {e}"))?,
            None => text.trim().to_owned(),
        };
        addresses.push(checked);
    }
    Ok(match action {
        SessionAction::Start { .. } => Request::SessionStart {
            subscriber,
            addresses,
            source,
        },
        SessionAction::Stop { .. } => Request::SessionStop {
            subscriber,
            addresses,
            source,
        },
    })
}

/// The subscriber after `session start|stop`.
pub fn changed(s: &SubscriberRecord) -> String {
    format!(
        "{} holds {}; {}.\n",
        s.subscriber,
        or_none(&s.addresses),
        s.state.as_str()
    )
}

/// `cordon sessions`.
pub fn listing(sessions: &[SessionRecord], now: i64) -> String {
    if sessions.is_empty() {
        return "No sessions.\n".into();
    }
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            vec![
                s.subscriber.clone(),
                s.address.clone(),
                relative(s.started, now),
                s.ended.map_or("-".into(), |e| relative(e, now)),
                s.source.to_string(),
                s.nas.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &["SUBSCRIBER", "ADDRESS", "FROM", "UNTIL", "SOURCE", "NAS"],
        &rows,
    )
}

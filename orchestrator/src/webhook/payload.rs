//! What a hook receives: one JSON document per transition, made when the
//! decision is (so a late delivery tells what was decided then), and the
//! queue rows that carry it.

use cordon_config::{Webhook, WebhookEvent};
use cordon_policy::lifecycle::{Audit, State};
use cordon_policy::subject::Subject;
use cordon_proto::portal::HostState;
use cordon_proto::text::{MAX_NOTE, clip};
use serde::Serialize;

use crate::store::{Outgoing, Write};

/// At most this many addresses in one event: a subscriber holds an IPv4
/// address and a few prefixes; more would only grow the payload.
pub const MAX_ADDRESSES: usize = 16;

/// The event a transition is, or `None` for a change no hook can ask for
/// (a state to itself).
pub fn event_of(from: HostState, to: HostState) -> Option<WebhookEvent> {
    use HostState::{Clean, Noticed, Probation, Quarantined};
    Some(match (from, to) {
        (f, t) if f == t => return None,
        (_, Quarantined) => WebhookEvent::Quarantined,
        (_, Noticed) => WebhookEvent::Noticed,
        (Quarantined, _) => WebhookEvent::Released,
        (_, Probation) => WebhookEvent::Probation,
        (Noticed, Clean) => WebhookEvent::NoticeEnded,
        (Probation, Clean) => WebhookEvent::ProbationEnded,
        (Clean, Clean) => return None,
    })
}

/// Whom an event is about.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct SubjectJson {
    /// `subscriber` or `address`.
    pub kind: &'static str,
    /// The subscriber's id, or the address (a quarantine unit).
    pub id: String,
}

/// The JSON body (documented in deploy/README.md, "Webhooks").
#[derive(Debug, Serialize)]
pub struct Payload {
    /// The event's id: receivers dedupe by it (the same in the
    /// `Cordon-Event-Id` header).
    pub id: String,
    /// The event ([`WebhookEvent::as_str`]).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When the transition happened, Unix seconds.
    pub at: i64,
    /// Whom it is about.
    pub subject: SubjectJson,
    /// The addresses it held when decided (at most [`MAX_ADDRESSES`]).
    pub addresses: Vec<String>,
    /// The state before.
    pub from: &'static str,
    /// The state after.
    pub to: &'static str,
    /// The kind of decision of a quarantine or notice (`operator`,
    /// `detection`, `reports`, ...), null otherwise.
    pub reason: Option<&'static str>,
    /// Who decided: an operator's user name, `detection`, `report`,
    /// `self`, `cordond`.
    pub actor: String,
    /// Why, in words (at most the audit trail's note length).
    pub note: String,
    /// The gateway that decided.
    pub gateway: String,
}

/// A fresh event id: 128 random bits as hex (the same for every hook an
/// event goes to). A failing random source falls back to the time and a
/// counter, still unique on this gateway.
pub fn event_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        b[..8].copy_from_slice(&(t as u64).to_be_bytes());
        b[8..].copy_from_slice(&n.to_be_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The kind of decision behind a state, when it has one.
fn reason_of(state: Option<&State>) -> Option<&'static str> {
    match state? {
        State::Quarantined(q) => Some(q.reason.as_str()),
        State::Noticed(n) => Some(n.reason.as_str()),
        State::Clean | State::Probation(_) => None,
    }
}

/// The queue rows for one transition: one per hook that wants its event,
/// all with one event id and one body. `state` is the subject's record
/// after the batch, `addresses` what it held.
pub fn rows(
    hooks: &[Webhook],
    gateway: &str,
    t: &Audit,
    state: Option<&State>,
    addresses: &[String],
) -> Vec<Write> {
    let Some(event) = event_of(t.from, t.to) else {
        return Vec::new();
    };
    let wanted: Vec<&Webhook> = hooks.iter().filter(|h| h.events.contains(&event)).collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let payload = Payload {
        id: event_id(),
        kind: event.as_str(),
        at: t.at,
        subject: match &t.subject {
            Subject::Subscriber(s) => SubjectJson {
                kind: "subscriber",
                id: s.to_string(),
            },
            Subject::Addr(a) => SubjectJson {
                kind: "address",
                id: a.to_string(),
            },
        },
        addresses: addresses.iter().take(MAX_ADDRESSES).cloned().collect(),
        from: t.from.as_str(),
        to: t.to.as_str(),
        reason: reason_of(state),
        actor: t.actor.name().to_owned(),
        note: clip(&t.note, MAX_NOTE).into_owned(),
        gateway: gateway.to_owned(),
    };
    // Serialising these plain fields cannot fail; an empty body would be
    // refused by the receiver's signature check, never silently wrong.
    let body = serde_json::to_string(&payload).unwrap_or_default();
    wanted
        .into_iter()
        .map(|h| {
            Write::Webhook(Outgoing {
                gateway: gateway.to_owned(),
                hook: h.url.as_str().to_owned(),
                event_id: payload.id.clone(),
                at: t.at,
                body: body.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;

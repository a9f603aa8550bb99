//! How the outbox keeps a batch: JSON, with a format version, so a cordond
//! that meets a batch queued by a newer one says so instead of guessing.
//!
//! Addresses are kept as text and read back through the config, as the
//! store's rows are at start (`Loaded::into_parts`): a
//! [`SubscriberAddr`](cordon_config::SubscriberAddr) can only be made by
//! the config's checks, and the outbox does not weaken that. A batch whose
//! address the config no longer admits stays queued with an error that
//! says so (see [`Outbox::replay`](super::Outbox::replay)).

use cordon_config::Config;
use cordon_policy::Actor;
use cordon_policy::lifecycle::{Audit, Unix};
use cordon_policy::subject::Subject;
use cordon_proto::portal::HostState;
use cordon_proto::subscriber::{SessionRecord, SubscriberId};
use serde::{Deserialize, Serialize};

use crate::store::records::host;
use crate::store::{Outgoing, Record, StoredReport, Write};

/// The format written; a batch with a higher one is refused.
pub(super) const VERSION: u32 = 1;

/// A queued batch as stored.
#[derive(Debug, Serialize, Deserialize)]
struct Batch {
    /// The format version ([`VERSION`]).
    v: u32,
    /// The writes, in order.
    writes: Vec<Wire>,
}

/// Only the version, read first, so a newer format is named as such
/// rather than as a parse error somewhere inside.
#[derive(Debug, Deserialize)]
struct Head {
    v: u32,
}

/// Whom a record is about, as text.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireSubject {
    Addr(String),
    Subscriber(SubscriberId),
}

/// One [`Write`], as stored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "write", rename_all = "snake_case")]
enum Wire {
    Host {
        subject: WireSubject,
        record: Record,
        at: Unix,
    },
    Audit {
        at: Unix,
        subject: WireSubject,
        address: Option<String>,
        from: HostState,
        to: HostState,
        actor: Actor,
        note: String,
    },
    Report {
        report: StoredReport,
    },
    SessionBegan {
        session: SessionRecord,
    },
    SessionEnded {
        subscriber: String,
        address: String,
        ended: Unix,
    },
    Purge {
        before: Unix,
    },
    Mark {
        gateway: String,
        seq: u64,
    },
    Webhook {
        event: Outgoing,
    },
    WebhooksDone {
        gateway: String,
        hook: String,
        through: i64,
    },
    WebhooksTrim {
        gateway: String,
        hook: String,
        keep: u64,
    },
}

fn subject(s: &Subject) -> WireSubject {
    match s {
        Subject::Addr(a) => WireSubject::Addr(a.to_string()),
        Subject::Subscriber(id) => WireSubject::Subscriber(id.clone()),
    }
}

/// The batch as JSON.
pub(super) fn encode(writes: &[Write]) -> Result<String, serde_json::Error> {
    let writes = writes
        .iter()
        .map(|w| match w {
            Write::Host(h, at) => Wire::Host {
                subject: subject(&h.subject),
                record: Record::of(h),
                at: *at,
            },
            Write::Audit(a) => Wire::Audit {
                at: a.at,
                subject: subject(&a.subject),
                address: a.address.map(|x| x.to_string()),
                from: a.from,
                to: a.to,
                actor: a.actor.clone(),
                note: a.note.clone(),
            },
            Write::Report(r) => Wire::Report { report: r.clone() },
            Write::SessionBegan(s) => Wire::SessionBegan { session: s.clone() },
            Write::SessionEnded {
                subscriber,
                address,
                ended,
            } => Wire::SessionEnded {
                subscriber: subscriber.clone(),
                address: address.clone(),
                ended: *ended,
            },
            Write::Purge { before } => Wire::Purge { before: *before },
            Write::Mark { gateway, seq } => Wire::Mark {
                gateway: gateway.clone(),
                seq: *seq,
            },
            Write::Webhook(o) => Wire::Webhook { event: o.clone() },
            Write::WebhooksDone {
                gateway,
                hook,
                through,
            } => Wire::WebhooksDone {
                gateway: gateway.clone(),
                hook: hook.clone(),
                through: *through,
            },
            Write::WebhooksTrim {
                gateway,
                hook,
                keep,
            } => Wire::WebhooksTrim {
                gateway: gateway.clone(),
                hook: hook.clone(),
                keep: *keep,
            },
        })
        .collect();
    serde_json::to_string(&Batch { v: VERSION, writes })
}

/// Why a queued batch cannot be read back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unreadable {
    /// Not the JSON this cordond writes.
    #[error("not a batch this cordond can read: {0}")]
    Json(#[from] serde_json::Error),
    /// Queued by a newer cordond.
    #[error(
        "queued in format {found} by a newer cordond (this one reads up to {VERSION}); run the newer cordond to replay it"
    )]
    TooNew {
        /// Its format.
        found: u32,
    },
    /// An address the config no longer admits.
    #[error(
        "its address {address} is refused by the config now ({why}); restore the subscriber prefixes it was queued under to replay it"
    )]
    Address {
        /// As queued.
        address: String,
        /// What the config says.
        why: String,
    },
}

/// The batch `text` holds, its addresses checked against `config`.
pub(super) fn decode(text: &str, config: &Config) -> Result<Vec<Write>, Unreadable> {
    let head: Head = serde_json::from_str(text)?;
    if head.v > VERSION {
        return Err(Unreadable::TooNew { found: head.v });
    }
    let batch: Batch = serde_json::from_str(text)?;
    let addr = |text: String| match config.subscriber_addr(&text) {
        Ok(a) if a.to_string() == text => Ok(a),
        Ok(a) => Err(Unreadable::Address {
            why: format!("it now reads as {a}"),
            address: text,
        }),
        Err(e) => Err(Unreadable::Address {
            why: e.to_string(),
            address: text,
        }),
    };
    let subject = |s: WireSubject| match s {
        WireSubject::Addr(text) => addr(text).map(Subject::Addr),
        WireSubject::Subscriber(id) => Ok(Subject::Subscriber(id)),
    };
    batch
        .writes
        .into_iter()
        .map(|w| {
            Ok(match w {
                Wire::Host {
                    subject: s,
                    record,
                    at,
                } => Write::Host(host(subject(s)?, record), at),
                Wire::Audit {
                    at,
                    subject: s,
                    address,
                    from,
                    to,
                    actor,
                    note,
                } => Write::Audit(Audit {
                    at,
                    subject: subject(s)?,
                    address: address.map(addr).transpose()?,
                    from,
                    to,
                    actor,
                    note,
                }),
                Wire::Report { report } => Write::Report(report),
                Wire::SessionBegan { session } => Write::SessionBegan(session),
                Wire::SessionEnded {
                    subscriber,
                    address,
                    ended,
                } => Write::SessionEnded {
                    subscriber,
                    address,
                    ended,
                },
                Wire::Purge { before } => Write::Purge { before },
                Wire::Mark { gateway, seq } => Write::Mark { gateway, seq },
                Wire::Webhook { event } => Write::Webhook(event),
                Wire::WebhooksDone {
                    gateway,
                    hook,
                    through,
                } => Write::WebhooksDone {
                    gateway,
                    hook,
                    through,
                },
                Wire::WebhooksTrim {
                    gateway,
                    hook,
                    keep,
                } => Write::WebhooksTrim {
                    gateway,
                    hook,
                    keep,
                },
            })
        })
        .collect()
}

//! The outbox's stored form: every write reads back as written, and what
//! cannot be read back is refused by name and stays queued.

use std::sync::Arc;

use cordon_policy::subject::Subject;
use cordon_proto::subscriber::SubscriberId;

use super::super::wire::{Unreadable, decode, encode};
use super::{BOUND, Rig, decision};
use crate::store::battery::{audit, config, quarantined, report, session};
use crate::store::faulty::{Faulty, Mode};
use crate::store::{Backend, Outbox, StoreError, Write};

#[test]
fn every_kind_of_write_reads_back_as_written() {
    let addr = quarantined("100.64.1.7", 10);
    let mut sub = quarantined("100.64.1.8", 11);
    sub.subject = Subject::Subscriber("alice".parse::<SubscriberId>().unwrap());
    let mut sub_audit = audit(&sub, 11);
    sub_audit.address = Some(config().subscriber_addr("100.64.1.8").unwrap());
    let writes = vec![
        Write::Mark {
            gateway: "gw-a".into(),
            seq: u64::MAX / 4,
        },
        Write::Host(addr.clone(), 10),
        Write::Audit(audit(&addr, 10)),
        Write::Host(sub, 11),
        Write::Audit(sub_audit),
        Write::Report(report("100.64.1.7", 12, Some("<1@x>"))),
        Write::SessionBegan(session("alice", "2001:db8:100::/56", 13)),
        Write::SessionEnded {
            subscriber: "alice".into(),
            address: "2001:db8:100::/56".into(),
            ended: 14,
        },
        Write::Purge { before: 5 },
        Write::Webhook(crate::store::Outgoing {
            gateway: "gw-a".into(),
            hook: "https://crm.example/h".into(),
            event_id: "0123abcd".into(),
            at: 15,
            body: r#"{"type":"quarantined"}"#.into(),
        }),
        Write::WebhooksDone {
            gateway: "gw-a".into(),
            hook: "https://crm.example/h".into(),
            through: 7,
        },
        Write::WebhooksTrim {
            gateway: "gw-a".into(),
            hook: "https://crm.example/h".into(),
            keep: 100,
        },
    ];
    let text = encode(&writes).unwrap();
    let back = decode(&text, &config()).unwrap();
    assert_eq!(format!("{back:?}"), format!("{writes:?}"));
}

#[test]
fn a_batch_from_a_newer_format_is_refused_as_such() {
    let err = decode(r#"{"v": 2, "writes": [{"write": "hologram"}]}"#, &config()).unwrap_err();
    assert!(matches!(err, Unreadable::TooNew { found: 2 }), "{err}");
    assert!(err.to_string().contains("newer cordond"), "{err}");
}

#[tokio::test]
async fn a_batch_the_config_no_longer_admits_stays_queued_and_says_why() {
    let rig = Rig::new();
    let outbox = rig.open();
    rig.set(Mode::Down);
    outbox.commit(decision(1)).await.unwrap();
    outbox.commit(decision(2)).await.unwrap();
    drop(outbox);
    // Restarted with other subscriber prefixes: the queued addresses are
    // not guessed at, and nothing behind them overtakes them.
    let other = cordon_testkit::Fixture::new()
        .prefixes("[10.0.0.0/8]")
        .load();
    let remote = Faulty::open(&rig.remote_path(), &rig.switch);
    let outbox = Outbox::open(Arc::new(remote), &rig.outbox_path(), "gw-a", other, BOUND).unwrap();
    rig.set(Mode::Up);
    let err = outbox.replay().await.unwrap_err();
    assert!(matches!(err, StoreError::BadRecord { .. }), "{err}");
    let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(text.contains("100.64.1.3"), "{text}");
    assert!(text.contains("subscriber prefixes"), "{text}");
    assert_eq!(outbox.state().queued, 2);
    assert_eq!(rig.remote().await, (vec![], 0));
    drop(outbox);
    // With the prefixes back, it replays.
    let outbox = rig.open();
    assert_eq!(outbox.replay().await.unwrap(), 2);
    assert_eq!(rig.remote().await, (vec![1, 2], 2));
}

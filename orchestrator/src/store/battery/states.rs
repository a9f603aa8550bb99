//! The battery's states part: every lifecycle state a record can be in is
//! stored and read back as written, by address and by subscriber.

use cordon_policy::lifecycle::{Noticed, State};
use cordon_policy::subject::Subject;
use cordon_proto::portal::Reason;

use super::{Harness, config, quarantined};
use crate::store::Write;

pub async fn a_noticed_record_round_trips_by_address_and_by_subscriber(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let notice = State::Noticed(Noticed {
        since: 100,
        reason: Reason::Operator,
        actor: cordon_policy::Actor::Operator("alice".into()),
        note: "told".into(),
        review_at: 86_500,
        acknowledged_until: Some(14_500),
        crossings: 2,
        last_crossing: 86_000,
        relapses: 1,
        relapse: true,
        evidence: [("smtp_attempts".to_owned(), 40)].into(),
    });
    let mut by_addr = quarantined("100.64.1.7", 100);
    by_addr.state = notice.clone();
    let mut by_subscriber = by_addr.clone();
    by_subscriber.subject = Subject::Subscriber("alice".parse().unwrap());
    store
        .write(vec![
            Write::Host(by_addr.clone(), 100),
            Write::Host(by_subscriber.clone(), 100),
        ])
        .await
        .unwrap();
    drop(store);
    let (_, loaded) = h.open().await.unwrap();
    let (hosts, _, rejected) = loaded.into_parts(&config());
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(hosts, vec![by_addr, by_subscriber]);
}

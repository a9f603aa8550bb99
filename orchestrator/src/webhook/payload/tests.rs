use super::*;
use cordon_config::WebhookUrl;
use cordon_policy::Actor;
use cordon_policy::lifecycle::Audit;
use cordon_proto::subscriber::SubscriberId;
use std::time::Duration;

fn hook(url: &str, events: Vec<WebhookEvent>) -> Webhook {
    Webhook {
        url: url.parse::<WebhookUrl>().unwrap(),
        events,
        secret_file: "/k".into(),
        ca_file: None,
        timeout: Duration::from_secs(10),
        max_age: Duration::from_secs(3600),
        max_queued: 10,
    }
}

fn transition(from: HostState, to: HostState) -> Audit {
    Audit {
        at: 1_700_000_000,
        subject: Subject::Subscriber("alice@isp".parse::<SubscriberId>().unwrap()),
        address: None,
        from,
        to,
        actor: Actor::Operator("bob".into()),
        note: "ticket 7".into(),
    }
}

fn outgoing(w: &Write) -> &Outgoing {
    match w {
        Write::Webhook(o) => o,
        other => panic!("not a webhook row: {other:?}"),
    }
}

#[test]
fn each_transition_is_one_event() {
    use HostState::*;
    let cases = [
        (Clean, Quarantined, Some(WebhookEvent::Quarantined)),
        (Noticed, Quarantined, Some(WebhookEvent::Quarantined)),
        (Probation, Quarantined, Some(WebhookEvent::Quarantined)),
        (Clean, Noticed, Some(WebhookEvent::Noticed)),
        (Quarantined, Probation, Some(WebhookEvent::Released)),
        (Quarantined, Clean, Some(WebhookEvent::Released)),
        (Noticed, Clean, Some(WebhookEvent::NoticeEnded)),
        (Clean, Probation, Some(WebhookEvent::Probation)),
        (Probation, Clean, Some(WebhookEvent::ProbationEnded)),
        (Clean, Clean, None),
        (Quarantined, Quarantined, None),
    ];
    for (from, to, want) in cases {
        assert_eq!(event_of(from, to), want, "{from:?} -> {to:?}");
    }
}

#[test]
fn the_payload_carries_every_field_once_for_all_hooks_that_want_it() {
    let hooks = [
        hook("http://a.example/", WebhookEvent::all()),
        hook("https://b.example/x", vec![WebhookEvent::Quarantined]),
        hook("http://c.example/", vec![WebhookEvent::Released]),
    ];
    let t = transition(HostState::Clean, HostState::Quarantined);
    let addresses = vec!["100.64.1.7".to_owned(), "2001:db8:1::/64".to_owned()];
    let rows = rows(&hooks, "gw-1", &t, None, &addresses);
    assert_eq!(rows.len(), 2, "c does not want quarantines");
    let (a, b) = (outgoing(&rows[0]), outgoing(&rows[1]));
    assert_eq!(
        (a.hook.as_str(), b.hook.as_str()),
        ("http://a.example/", "https://b.example/x")
    );
    assert_eq!(a.event_id, b.event_id, "one event, one id");
    assert_eq!(a.event_id.len(), 32);
    assert_eq!(a.body, b.body);
    assert_eq!((a.gateway.as_str(), a.at), ("gw-1", 1_700_000_000));
    let json: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "id": a.event_id,
            "type": "quarantined",
            "at": 1_700_000_000,
            "subject": {"kind": "subscriber", "id": "alice@isp"},
            "addresses": ["100.64.1.7", "2001:db8:1::/64"],
            "from": "clean",
            "to": "quarantined",
            "reason": null,
            "actor": "bob",
            "note": "ticket 7",
            "gateway": "gw-1",
        })
    );
}

#[test]
fn events_get_fresh_ids_and_nothing_is_queued_without_a_hook_that_wants_it() {
    let hooks = [hook("http://a.example/", vec![WebhookEvent::Noticed])];
    let t = transition(HostState::Clean, HostState::Quarantined);
    assert!(rows(&hooks, "gw", &t, None, &[]).is_empty());
    assert!(rows(&[], "gw", &t, None, &[]).is_empty());
    let t = transition(HostState::Clean, HostState::Noticed);
    let one = rows(&hooks, "gw", &t, None, &[]);
    let two = rows(&hooks, "gw", &t, None, &[]);
    assert_ne!(outgoing(&one[0]).event_id, outgoing(&two[0]).event_id);
}

#[test]
fn the_payload_is_bounded() {
    let hooks = [hook("http://a.example/", WebhookEvent::all())];
    let mut t = transition(HostState::Clean, HostState::Quarantined);
    t.note = "x".repeat(MAX_NOTE * 3);
    let addresses: Vec<String> = (0..100).map(|i| format!("100.64.0.{i}")).collect();
    let rows = rows(&hooks, "gw", &t, None, &addresses);
    let json: serde_json::Value = serde_json::from_str(&outgoing(&rows[0]).body).unwrap();
    assert_eq!(json["addresses"].as_array().unwrap().len(), MAX_ADDRESSES);
    assert!(json["note"].as_str().unwrap().len() <= MAX_NOTE);
    assert!(outgoing(&rows[0]).body.len() < MAX_NOTE + 2048);
}

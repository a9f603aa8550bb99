//! The portal socket with questions sent together (as the portal sends
//! them under an outbreak): the real `cordond` answers each, in order.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::Lab;
use cordon_proto::portal::{HostState, Request, Response};

fn frame(request: &Request) -> Vec<u8> {
    let body = serde_json::to_vec(request).unwrap();
    let mut out = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    out.extend(body);
    out
}

/// The next answer, or `None` when `cordond` closed the connection.
fn answer(s: &mut UnixStream) -> Option<Response> {
    let mut len = [0u8; 4];
    if s.read_exact(&mut len).is_err() {
        return None;
    }
    let mut body = vec![0u8; usize::try_from(u32::from_be_bytes(len)).unwrap()];
    s.read_exact(&mut body).unwrap();
    Some(serde_json::from_slice(&body).unwrap())
}

fn status(address: &str) -> Request {
    Request::Status {
        address: address.parse().unwrap(),
    }
}

#[test]
fn questions_sent_together_are_answered_each_in_order() {
    let mut lab = Lab::new("ps");
    lab.start();
    lab.cordon_exits(&["quarantine", "100.64.1.7", "--reason", "ticket 1"], 0);

    let mut s = UnixStream::connect(lab.dir.path().join("portal.sock")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // One write: a quarantined host, a clean one, an address outside the
    // subscriber prefixes, an acknowledgement in between, the first again.
    let asked = [
        status("100.64.1.7"),
        status("100.64.1.8"),
        status("192.0.2.1"),
        Request::Acknowledge {
            address: "100.64.1.8".parse().unwrap(),
        },
        status("100.64.1.7"),
    ];
    let bytes: Vec<u8> = asked.iter().flat_map(frame).collect();
    s.write_all(&bytes).unwrap();

    let state = |r: Option<Response>| match r {
        Some(Response::Status(st)) => (st.address, st.state),
        other => panic!("not a status: {other:?}"),
    };
    assert_eq!(
        state(answer(&mut s)),
        ("100.64.1.7".to_owned(), HostState::Quarantined)
    );
    assert_eq!(
        state(answer(&mut s)),
        ("100.64.1.8".to_owned(), HostState::Clean)
    );
    assert!(
        matches!(answer(&mut s), Some(Response::Error { .. })),
        "an address outside the subscribers is refused in its turn"
    );
    assert!(matches!(
        answer(&mut s),
        Some(Response::Acknowledged {
            acknowledged: false
        })
    ));
    assert_eq!(
        state(answer(&mut s)),
        ("100.64.1.7".to_owned(), HostState::Quarantined)
    );

    // A bad frame among good ones: those before it are answered, then the
    // connection ends.
    let mut bytes = frame(&status("100.64.1.7"));
    bytes.extend(4u32.to_be_bytes());
    bytes.extend(b"junk");
    bytes.extend(frame(&status("100.64.1.7")));
    s.write_all(&bytes).unwrap();
    assert_eq!(
        state(answer(&mut s)),
        ("100.64.1.7".to_owned(), HostState::Quarantined)
    );
    assert!(answer(&mut s).is_none(), "answered past a bad frame");
}

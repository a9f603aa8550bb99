//! Both sockets' framing and message decoders against arbitrary bytes and
//! mutations of real exchanges: whatever a peer sends, reading ends (a
//! message, an error or the end) without a panic, within time and memory
//! bounds (`cordon-bounded`).
//!
//! The bytes go through a real Unix socket pair into [`framed`] and
//! [`recv`], as `cordond`, the portal and `cordon` read them.
#![allow(clippy::unwrap_used)] // a failed unwrap is the test failing

use cordon_bounded::{Input, PARSER, cases, inputs, within};
use cordon_proto::{control, portal};
use cordon_runtime::frame::{FrameError, MAX_FRAME, framed, recv};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use tokio::io::AsyncWriteExt;

/// What `cordon` sends `cordond` (control socket, server side reads).
const CONTROL_REQUESTS: &[&str] = &[
    r#"{"op":"status"}"#,
    r#"{"op":"list"}"#,
    r#"{"op":"show","address":"2001:db8:1:2::5"}"#,
    r#"{"op":"quarantine","address":"100.64.1.7","reason":"abuse ticket 12","hold_s":3600}"#,
    r#"{"op":"release","address":"100.64.1.0/24","reason":"cleaned, phoned"}"#,
    r#"{"op":"history","address":null,"limit":50}"#,
    r#"{"op":"report","reports":[{"address":"100.64.1.7","at":1709906400,"source":"spamcop","evidence":"spam, lots of it","message_id":"<a@b>","weight":1},{"address":"100.64.1.8","at":1709906400,"source":"fbl","evidence":"","weight":2}]}"#,
];

/// What `cordond` answers `cordon` (control socket, client side reads).
const CONTROL_RESPONSES: &[&str] = &[
    r#"{"kind":"status","version":"0.1.0","started":1709906400,"table":"cordon","table_present":true,"store":"/var/lib/cordon/cordon.db","quarantined":3,"probation":1,"last_reconcile":1709906460}"#,
    r#"{"kind":"list","hosts":[{"address":"100.64.1.7","state":"quarantined","reason":"detection","actor":"cordond","note":"412 attempts","since":1709906400,"until":null,"hold_until":null,"smtp_attempts":412,"last_smtp_attempt":1709906399,"self_releases_left":2,"relapses":0,"mac":"52:54:00:12:34:56","suspect":{"signal":"reports","action":"observe","first":1,"last":2,"count":2},"report_score":2,"evidence":{"smtp_attempts":412}}]}"#,
    r#"{"kind":"history","entries":[{"id":7,"at":1709906400,"address":"100.64.1.7","from":"clean","to":"quarantined","actor":"operator:root","note":"abuse ticket 12"}]}"#,
    r#"{"kind":"reported","outcomes":[{"address":"100.64.1.7/32","counted":true,"score":2,"threshold":3,"state":"clean","error":null}]}"#,
    r#"{"kind":"error","class":"bad_input","message":"`x` is not an address"}"#,
];

/// What the portal asks `cordond` (portal socket, server side reads).
const PORTAL_REQUESTS: &[&str] = &[
    r#"{"op":"status","address":"100.64.1.7"}"#,
    r#"{"op":"self_release","address":"2001:db8:1:2::5"}"#,
];

/// What `cordond` answers the portal (portal socket, portal side reads).
const PORTAL_RESPONSES: &[&str] = &[
    r#"{"kind":"status","address":"100.64.1.7","state":"quarantined","reason":"detection","since":1709906400,"until":1710165600,"smtp_attempts":412,"last_smtp_attempt":1709904900,"quiet_period_s":7200,"self_releases_left":2}"#,
    r#"{"kind":"self_release","outcome":"still_sending","last_attempt_s_ago":30,"quiet_needed_s":7200}"#,
    r#"{"kind":"self_release","outcome":"too_early","remaining_s":60}"#,
    r#"{"kind":"error","message":"store unavailable"}"#,
];

/// `body` as one length-delimited frame (4-byte big-endian length).
fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// Real exchanges on the wire: each message alone, and all of them in a row
/// on one connection.
fn streams(messages: &[&str]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = messages.iter().map(|m| frame(m.as_bytes())).collect();
    out.push(out.concat());
    out
}

fn bodies(messages: &[&str]) -> Vec<Vec<u8>> {
    messages.iter().map(|m| m.as_bytes().to_vec()).collect()
}

/// Sends `bytes` down one end of a socket pair and closes it, reading
/// messages of type `T` from the other end until the end or an error.
/// Returns how many messages were read.
fn read_all<T: DeserializeOwned>(bytes: &[u8]) -> Result<usize, FrameError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (mut peer, ours) = tokio::net::UnixStream::pair().unwrap();
        let mut io = framed(ours);
        let send = async {
            // The reader may stop early (an error) and drop its end.
            let _ = peer.write_all(bytes).await;
            let _ = peer.shutdown().await;
            drop(peer);
        };
        let read = async move {
            let mut n = 0;
            let end = loop {
                match recv::<T>(&mut io).await {
                    Ok(Some(_)) => n += 1,
                    Ok(None) => break Ok(n),
                    Err(e) => break Err(e),
                }
            };
            // Hang up, as cordond does on a bad frame: the sender's
            // write fails instead of waiting for a reader.
            drop(io);
            end
        };
        let ((), read) = tokio::join!(send, read);
        read
    })
}

/// Feeds `input` to a reader of `T`: as a raw byte stream, or as one
/// well-framed body (so that the JSON decoder, not only the framing, sees
/// the mutations).
fn check<T: DeserializeOwned>(what: &str, input: &Input, as_body: bool) {
    let wire = if as_body {
        frame(input)
    } else {
        input.0.clone()
    };
    let read = within(what, &wire, PARSER, || {
        read_all::<T>(&wire).map_err(|e| e.to_string())
    });
    match read {
        // Every message takes at least its 4-byte length.
        Ok(n) => assert!(
            n <= wire.len() / 4,
            "{n} messages from {} bytes",
            wire.len()
        ),
        Err(message) => assert!(!message.is_empty()),
    }
}

const MAX: usize = 256 << 10;

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn cordond_reads_any_control_request(
        stream in inputs(streams(CONTROL_REQUESTS), MAX),
        body in inputs(bodies(CONTROL_REQUESTS), MAX),
    ) {
        check::<control::Request>("control requests", &stream, false);
        check::<control::Request>("a control request", &body, true);
    }

    #[test]
    fn cordon_reads_any_control_answer(
        stream in inputs(streams(CONTROL_RESPONSES), MAX),
        body in inputs(bodies(CONTROL_RESPONSES), MAX),
    ) {
        check::<control::Response>("control answers", &stream, false);
        check::<control::Response>("a control answer", &body, true);
    }

    #[test]
    fn cordond_reads_any_portal_request(
        stream in inputs(streams(PORTAL_REQUESTS), MAX),
        body in inputs(bodies(PORTAL_REQUESTS), MAX),
    ) {
        check::<portal::Request>("portal requests", &stream, false);
        check::<portal::Request>("a portal request", &body, true);
    }

    #[test]
    fn the_portal_reads_any_answer(
        stream in inputs(streams(PORTAL_RESPONSES), MAX),
        body in inputs(bodies(PORTAL_RESPONSES), MAX),
    ) {
        check::<portal::Response>("portal answers", &stream, false);
        check::<portal::Response>("a portal answer", &body, true);
    }
}

#[test]
fn the_samples_are_real_exchanges() {
    fn all<T: DeserializeOwned>(messages: &[&str]) {
        for stream in streams(messages) {
            assert!(read_all::<T>(&stream).unwrap() >= 1);
        }
    }
    all::<control::Request>(CONTROL_REQUESTS);
    all::<control::Response>(CONTROL_RESPONSES);
    all::<portal::Request>(PORTAL_REQUESTS);
    all::<portal::Response>(PORTAL_RESPONSES);
}

/// A length field announcing the largest frame makes the reader reserve
/// that much before a byte of it arrives: the cost of four bytes from a
/// peer is bounded by [`MAX_FRAME`], and a longer announcement is refused.
#[test]
fn an_announced_length_costs_at_most_the_frame_cap() {
    let cap = u32::try_from(MAX_FRAME).unwrap();
    for announced in [cap, cap + 1, u32::MAX] {
        let wire = announced.to_be_bytes();
        let read = within("a bare length field", &wire, PARSER, || {
            read_all::<control::Request>(&wire).map_err(|e| e.to_string())
        });
        // At the cap, the frame that never came reads as the peer hanging
        // up; past it, as an error.
        match read {
            Ok(n) => assert!(announced == cap && n == 0, "{announced}: {n} messages"),
            Err(e) => assert!(announced > cap, "{announced}: {e}"),
        }
    }
}

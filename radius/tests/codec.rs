//! The codec against known-good bytes: an Accounting-Request captured from
//! Debian's `radclient` (freeradius-utils 3.2) with its secret, and the
//! Accounting-Response computed independently (Python's hashlib) per
//! RFC 2866 §3. Also each refusal, the replay cache and the clients.

#![allow(clippy::unwrap_used)]

mod common;
use common::resign;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use cordon_radius::{
    Accounting, Clients, RadiusError, Replay, ReplayKey, Replays, Status, decode, response,
};

/// `radclient -x 127.0.0.1:PORT acct testing123` with Acct-Status-Type =
/// Start, User-Name = "alice@isp", Acct-Session-Id = "sess-0001",
/// Framed-IP-Address = 100.64.0.7, Delegated-IPv6-Prefix =
/// 2001:db8:100::/56, Framed-IPv6-Prefix = 2001:db8:0:7::/64,
/// Calling-Station-Id = "02:00:00:00:00:07", NAS-Identifier = "bng-1",
/// captured by a throwaway UDP listener. Identifier 0x91.
const START: &str = "049100789e0cc2b33f768573766f4bb6115067a1280600000001010b616c696365406973702c0b736573732d303030310806644000077b14003820010db80100000000000000000000006114004020010db80000000700000000000000001f1330323a30303a30303a30303a30303a30372007626e672d31";
const SECRET: &[u8] = b"testing123";
/// The Accounting-Response to START: code 5, id 0x91, length 20,
/// MD5(05 91 00 14 + START's authenticator + "testing123").
const START_RESPONSE: &str = "05910014d07fd2e51d9597268b873f827bd091b6";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn radclients_start_decodes_to_every_attribute() {
    let a = decode(&hex(START), SECRET).unwrap();
    assert_eq!(a.status, Status::Start);
    assert_eq!(a.identifier, 0x91);
    assert_eq!(a.authenticator.to_vec(), hex(START)[4..20].to_vec());
    assert_eq!(a.user_name.as_deref(), Some("alice@isp"));
    assert_eq!(a.acct_session_id.as_deref(), Some("sess-0001"));
    assert_eq!(a.framed_ip, Some(Ipv4Addr::new(100, 64, 0, 7)));
    assert_eq!(
        a.delegated_ipv6_prefix,
        vec!["2001:db8:100::/56".parse().unwrap()]
    );
    assert_eq!(
        a.framed_ipv6_prefix,
        vec!["2001:db8:0:7::/64".parse().unwrap()]
    );
    assert_eq!(a.calling_station_id.as_deref(), Some("02:00:00:00:00:07"));
    assert_eq!(a.nas_identifier.as_deref(), Some("bng-1"));
    assert_eq!(a.nas_ip, None);
}

#[test]
fn the_response_matches_the_independently_computed_bytes() {
    let a = decode(&hex(START), SECRET).unwrap();
    assert_eq!(a.response(SECRET), hex(START_RESPONSE));
    let auth: [u8; 16] = hex(START)[4..20].try_into().unwrap();
    assert_eq!(response(0x91, &auth, SECRET), hex(START_RESPONSE));
}

#[test]
fn a_wrong_secret_is_refused_as_a_wrong_authenticator() {
    let e = decode(&hex(START), b"testing124").unwrap_err();
    assert!(matches!(e, RadiusError::WrongAuthenticator), "{e:?}");
    assert!(e.to_string().contains("check the shared secret"), "{e}");
}

#[test]
fn an_empty_secret_is_refused() {
    let e = decode(&hex(START), b"").unwrap_err();
    assert!(matches!(e, RadiusError::EmptySecret), "{e:?}");
}

#[test]
fn an_access_request_is_refused_by_its_code() {
    let mut p = hex(START);
    p[0] = 1;
    let e = decode(&p, SECRET).unwrap_err();
    assert!(matches!(e, RadiusError::WrongCode { code: 1 }), "{e:?}");
}

#[test]
fn sizes_and_lengths_out_of_bounds_are_refused() {
    let p = hex(START);
    let e = decode(&p[..19], SECRET).unwrap_err();
    assert!(matches!(e, RadiusError::TooShort { len: 19 }), "{e:?}");
    let e = decode(&p[..p.len() - 1], SECRET).unwrap_err();
    assert!(
        matches!(
            e,
            RadiusError::BadLength {
                declared: 120,
                received: 119
            }
        ),
        "{e:?}"
    );
    let mut short = p.clone();
    short[3] = 19;
    let e = decode(&short, SECRET).unwrap_err();
    assert!(
        matches!(e, RadiusError::BadLength { declared: 19, .. }),
        "{e:?}"
    );
    let mut big = p.clone();
    big.resize(4097, 0);
    let e = decode(&big, SECRET).unwrap_err();
    assert!(matches!(e, RadiusError::TooLong { len: 4097 }), "{e:?}");
}

#[test]
fn octets_past_the_length_are_padding() {
    let mut p = hex(START);
    p.extend_from_slice(&[0xff; 7]);
    assert_eq!(
        decode(&p, SECRET).unwrap().user_name.as_deref(),
        Some("alice@isp")
    );
}

#[test]
fn an_attribute_running_past_the_end_is_malformed() {
    let mut p = hex(START);
    // The last attribute (NAS-Identifier, 7 bytes at 113) claims 9.
    assert_eq!(p[113], 32);
    p[114] = 9;
    resign(&mut p, SECRET);
    let e = decode(&p, SECRET).unwrap_err();
    assert!(
        matches!(
            e,
            RadiusError::BadAttribute {
                attribute: 32,
                offset: 113,
                ..
            }
        ),
        "{e:?}"
    );
    p[114] = 1;
    resign(&mut p, SECRET);
    assert!(matches!(
        decode(&p, SECRET).unwrap_err(),
        RadiusError::BadAttribute { .. }
    ));
}

#[test]
fn a_prefix_longer_than_128_or_with_too_few_bytes_is_malformed() {
    let mut a = Accounting::new(Status::Start, 1);
    a.delegated_ipv6_prefix = vec!["2001:db8:100::/56".parse().unwrap()];
    let mut p = a.to_request(SECRET).unwrap();
    // Attribute 123 at 26: type, len 11, reserved, prefix length 56, 7 bytes.
    assert_eq!(&p[26..30], &[123, 11, 0, 56]);
    p[29] = 129;
    resign(&mut p, SECRET);
    let e = decode(&p, SECRET).unwrap_err();
    assert!(e.to_string().contains("over 128"), "{e}");
    p[29] = 64; // needs 8 bytes, has 7
    resign(&mut p, SECRET);
    let e = decode(&p, SECRET).unwrap_err();
    assert!(
        matches!(e, RadiusError::BadAttribute { attribute: 123, .. }),
        "{e:?}"
    );
}

#[test]
fn a_missing_status_and_a_repeated_user_name_are_refused() {
    // Acct-Status-Type is the first attribute (20..26): change its type.
    let mut p = hex(START);
    p[20] = 26;
    resign(&mut p, SECRET);
    assert!(matches!(
        decode(&p, SECRET).unwrap_err(),
        RadiusError::MissingStatus
    ));
    let mut a = Accounting::new(Status::Start, 1);
    a.user_name = Some("bob".into());
    let mut p = a.to_request(SECRET).unwrap();
    p.extend_from_slice(&[1, 5, b'e', b'v', b'e']);
    let len = u16::try_from(p.len()).unwrap().to_be_bytes();
    p[2..4].copy_from_slice(&len);
    resign(&mut p, SECRET);
    let e = decode(&p, SECRET).unwrap_err();
    assert!(
        matches!(e, RadiusError::Duplicate { name: "User-Name" }),
        "{e:?}"
    );
}

#[test]
fn control_characters_are_refused_in_identities_and_escaped_in_descriptions() {
    let mut a = Accounting::new(Status::Start, 1);
    a.user_name = Some("mallory\n2026-01-01 forged log line".into());
    let e = decode(&a.to_request(SECRET).unwrap(), SECRET).unwrap_err();
    assert!(
        matches!(
            e,
            RadiusError::NotText {
                name: "User-Name",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.to_string().contains('\n'), "{e}");
    let mut a = Accounting::new(Status::Start, 1);
    a.nas_identifier = Some("bng\u{1b}[2J".into());
    a.calling_station_id = Some("line\r7".into());
    let d = decode(&a.to_request(SECRET).unwrap(), SECRET).unwrap();
    assert_eq!(d.nas_identifier.as_deref(), Some("bng\\u{1b}[2J"));
    assert_eq!(d.calling_station_id.as_deref(), Some("line\\r7"));
}

#[test]
fn non_utf8_is_refused_in_identities_and_replaced_in_descriptions() {
    let mut a = Accounting::new(Status::Start, 1);
    a.acct_session_id = Some("s".into());
    a.nas_identifier = Some("n".into());
    let mut p = a.to_request(SECRET).unwrap();
    // After Acct-Status-Type (20..26): Acct-Session-Id at 26, NAS-Identifier at 29.
    assert_eq!(&p[26..32], &[44, 3, b's', 32, 3, b'n']);
    p[28] = 0xff;
    resign(&mut p, SECRET);
    let e = decode(&p, SECRET).unwrap_err();
    assert!(
        matches!(
            e,
            RadiusError::NotText {
                name: "Acct-Session-Id",
                ..
            }
        ),
        "{e:?}"
    );
    p[28] = b's';
    p[31] = 0xff;
    resign(&mut p, SECRET);
    assert_eq!(
        decode(&p, SECRET).unwrap().nas_identifier.as_deref(),
        Some("\u{fffd}")
    );
}

#[test]
fn each_status_value_reads_as_its_variant() {
    for (status, _) in [
        (Status::Start, 1),
        (Status::Stop, 2),
        (Status::InterimUpdate, 3),
        (Status::AccountingOn, 7),
        (Status::AccountingOff, 8),
        (Status::Other(15), 15),
    ] {
        let p = Accounting::new(status, 9).to_request(SECRET).unwrap();
        assert_eq!(decode(&p, SECRET).unwrap().status, status);
    }
    let p = Accounting::new(Status::Stop, 9).to_request(SECRET).unwrap();
    assert_eq!(&p[20..26], &[40, 6, 0, 0, 0, 2]);
}

#[test]
fn a_value_over_253_bytes_is_not_encoded() {
    let mut a = Accounting::new(Status::Start, 1);
    a.user_name = Some("x".repeat(254));
    let e = a.to_request(SECRET).unwrap_err();
    assert!(
        matches!(e, RadiusError::ValueTooLong { len: 254, .. }),
        "{e:?}"
    );
}

fn key(port: u16, id: u8, auth: u8) -> ReplayKey {
    ReplayKey {
        client: SocketAddr::from(([127, 0, 0, 1], port)),
        identifier: id,
        authenticator: [auth; 16],
    }
}

#[test]
fn a_retransmission_gets_the_same_answer_and_a_new_authenticator_is_new() {
    let t = Instant::now();
    let mut r = Replays::new(Duration::from_secs(30), 100);
    assert_eq!(r.admit(key(1812, 7, 1), t), Replay::New);
    assert_eq!(r.admit(key(1812, 7, 1), t), Replay::InFlight);
    r.remember(key(1812, 7, 1), vec![5, 7], t);
    let later = t + Duration::from_secs(5);
    assert_eq!(r.admit(key(1812, 7, 1), later), Replay::Answered(&[5, 7]));
    // Same identifier, other authenticator; other port: new requests.
    assert_eq!(r.admit(key(1812, 7, 2), later), Replay::New);
    assert_eq!(r.admit(key(1813, 7, 1), later), Replay::New);
    // After the ttl the request is forgotten.
    assert_eq!(
        r.admit(key(1812, 7, 1), t + Duration::from_secs(31)),
        Replay::New
    );
}

#[test]
fn a_forgotten_request_is_new_again_and_the_cache_is_bounded() {
    let t = Instant::now();
    let mut r = Replays::new(Duration::from_secs(30), 3);
    assert_eq!(r.admit(key(1, 1, 1), t), Replay::New);
    r.forget(&key(1, 1, 1));
    assert_eq!(r.admit(key(1, 1, 1), t), Replay::New);
    for id in 0..10 {
        r.remember(key(2, id, 0), vec![id], t);
    }
    assert_eq!(r.len(), 3);
    assert_eq!(r.admit(key(2, 9, 0), t), Replay::Answered(&[9]));
}

#[test]
fn clients_are_found_by_the_most_specific_network() {
    let mut c = Clients::new();
    c.add("10.0.0.0/8".parse().unwrap(), "wide").unwrap();
    c.add("10.1.2.3/32".parse().unwrap(), "one").unwrap();
    c.add("2001:db8::/32".parse().unwrap(), "six").unwrap();
    let secret = |a: &str| c.lookup(a.parse().unwrap()).map(|c| c.secret.clone());
    assert_eq!(secret("10.1.2.3"), Some(b"one".to_vec()));
    assert_eq!(secret("10.9.9.9"), Some(b"wide".to_vec()));
    assert_eq!(secret("::ffff:10.9.9.9"), Some(b"wide".to_vec()));
    assert_eq!(secret("2001:db8::1"), Some(b"six".to_vec()));
    assert_eq!(secret("192.0.2.1"), None);
    assert!(!format!("{c:?}").contains("wide"), "Debug shows no secret");
    let e = c.add("10.1.2.3/32".parse().unwrap(), "again").unwrap_err();
    assert!(matches!(e, RadiusError::ClientTwice { .. }), "{e:?}");
    let e = c.add("192.0.2.0/24".parse().unwrap(), "").unwrap_err();
    assert!(matches!(e, RadiusError::EmptySecret), "{e:?}");
}

#[test]
fn clients_decode_names_the_sender_in_errors() {
    let mut c = Clients::new();
    c.add("127.0.0.0/8".parse().unwrap(), SECRET).unwrap();
    let from = SocketAddr::from(([127, 0, 0, 9], 4000));
    let (a, client) = c.decode(from, &hex(START)).unwrap();
    assert_eq!(a.identifier, 0x91);
    assert_eq!(client.secret, SECRET);
    let mut wrong = Clients::new();
    wrong.add("127.0.0.0/8".parse().unwrap(), "other").unwrap();
    let e = wrong.decode(from, &hex(START)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("accounting from 127.0.0.9 (client 127.0.0.0/8)"),
        "{e}"
    );
    let stranger = SocketAddr::from((IpAddr::from([192, 0, 2, 1]), 4000));
    let e = c.decode(stranger, &hex(START)).unwrap_err();
    assert!(matches!(e, RadiusError::UnknownClient { .. }), "{e:?}");
}

#[test]
fn an_address_of_the_wrong_size_is_malformed() {
    let mut a = Accounting::new(Status::Start, 1);
    a.framed_ip = Some(Ipv4Addr::new(100, 64, 0, 7));
    let mut p = a.to_request(SECRET).unwrap();
    // Framed-IP-Address at 26 (6 bytes): claim 5, cut the last byte.
    assert_eq!(&p[26..28], &[8, 6]);
    p[27] = 5;
    p.pop();
    p[3] -= 1;
    resign(&mut p, SECRET);
    let e = decode(&p, SECRET).unwrap_err();
    assert!(
        matches!(
            e,
            RadiusError::BadAttribute {
                attribute: 8,
                offset: 26,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("an IPv4 address takes 4 bytes, not 3"),
        "{e}"
    );
}

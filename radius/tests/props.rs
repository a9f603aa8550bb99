//! Properties of the codec over generated input: arbitrary bytes never
//! panic it (and nothing past 4096 bytes is read), what a client encodes
//! decodes to the same attributes, and any change to a signed packet, or
//! the wrong secret, fails.

#![allow(clippy::unwrap_used)]

mod common;
use common::resign;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use cordon_radius::{Accounting, MAX_PACKET, RadiusError, Status, decode};
use ipnet::Ipv6Net;
use proptest::prelude::*;

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Start),
        Just(Status::Stop),
        Just(Status::InterimUpdate),
        Just(Status::AccountingOn),
        Just(Status::AccountingOff),
        // Not one of the named values.
        (9u32..).prop_map(Status::Other),
    ]
}

/// Plain text, up to the 253 bytes one attribute holds (a char is up to
/// 4 bytes: at most 63 of them).
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9@:._ /é漢-]{0,63}"
}

fn prefix() -> impl Strategy<Value = Ipv6Net> {
    (any::<u128>(), 0u8..=128)
        .prop_map(|(a, len)| Ipv6Net::new(Ipv6Addr::from(a), len).unwrap().trunc())
}

fn accounting() -> impl Strategy<Value = Accounting> {
    (
        (status(), any::<u8>()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(any::<u32>().prop_map(Ipv4Addr::from)),
        proptest::collection::vec(prefix(), 0..3),
        proptest::collection::vec(prefix(), 0..3),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(prop_oneof![
            any::<u32>().prop_map(|a| IpAddr::from(Ipv4Addr::from(a))),
            any::<u128>().prop_map(|a| IpAddr::from(Ipv6Addr::from(a))),
        ]),
    )
        .prop_map(
            |((status, id), user, session, ip, framed, delegated, line, nas, nas_ip)| {
                let mut a = Accounting::new(status, id);
                a.user_name = user;
                a.acct_session_id = session;
                a.framed_ip = ip;
                a.framed_ipv6_prefix = framed;
                a.delegated_ipv6_prefix = delegated;
                a.calling_station_id = line;
                a.nas_identifier = nas;
                a.nas_ip = nas_ip;
                a
            },
        )
}

fn secret() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 1..64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes: an error or a request, never a panic; an accepted
    /// one came from at most 4096 bytes.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..5000),
                                   secret in secret()) {
        if decode(&bytes, &secret).is_ok() {
            prop_assert!(bytes.len() <= MAX_PACKET);
        }
    }

    /// Bytes that pass every check but the attributes' (a valid header
    /// and signature over random attributes): a request or an attribute
    /// error, never a panic.
    #[test]
    fn signed_random_attributes_never_panic(id in any::<u8>(),
                                            body in proptest::collection::vec(any::<u8>(), 0..600),
                                            secret in secret()) {
        let mut p = Accounting::new(Status::Start, id).to_request(&secret).unwrap();
        p.extend_from_slice(&body);
        let len = u16::try_from(p.len()).unwrap().to_be_bytes();
        p[2..4].copy_from_slice(&len);
        resign(&mut p, &secret);
        match decode(&p, &secret) {
            Ok(a) => prop_assert_eq!(a.identifier, id),
            Err(e) => prop_assert!(!matches!(e, RadiusError::WrongAuthenticator), "{e:?}"),
        }
    }

    /// What a client encodes decodes to the same request (with the
    /// authenticator the packet carries).
    #[test]
    fn encode_then_decode_is_the_identity(a in accounting(), secret in secret()) {
        let p = a.to_request(&secret).unwrap();
        let d = decode(&p, &secret).unwrap();
        let mut expected = a;
        expected.authenticator.copy_from_slice(&p[4..20]);
        prop_assert_eq!(d, expected);
    }

    /// Any one flipped bit within the packet's length fails: the header
    /// by its checks, everything else by the authenticator.
    #[test]
    fn a_flipped_bit_fails(a in accounting(), secret in secret(), bit in any::<prop::sample::Index>()) {
        let mut p = a.to_request(&secret).unwrap();
        let bit = bit.index(p.len() * 8);
        p[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(decode(&p, &secret).is_err());
    }

    /// Another secret fails, as a wrong authenticator.
    #[test]
    fn a_wrong_secret_fails(a in accounting(), secret in secret(), other in secret()) {
        prop_assume!(secret != other);
        let p = a.to_request(&secret).unwrap();
        prop_assert!(matches!(decode(&p, &other), Err(RadiusError::WrongAuthenticator)));
    }

    /// The response verifies as a client checks it: MD5 over code, id,
    /// length, the request's authenticator and the secret.
    #[test]
    fn the_response_is_what_the_client_expects(a in accounting(), secret in secret()) {
        use md5::{Digest, Md5};
        let p = a.to_request(&secret).unwrap();
        let r = decode(&p, &secret).unwrap().response(&secret);
        prop_assert_eq!(&r[..4], &[5, a.identifier, 0, 20]);
        let want: [u8; 16] = Md5::new().chain_update(&r[..4]).chain_update(&p[4..20])
            .chain_update(&secret).finalize().into();
        prop_assert_eq!(&r[4..], &want);
    }
}

//! Report feeds (CSV, ARF, SpamCop, X-ARF mail and JSON), NFLOG packet messages and DNS block lists'
//! answers against arbitrary bytes and mutations of real samples: no panic,
//! sane line numbers and addresses, and each parse within time and memory
//! bounds (`cordon-bounded`).
#![allow(clippy::unwrap_used)] // a failed unwrap is the test failing

use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::SystemTime;

use cordon_bounded::{Input, PARSER, cases, inputs, within};
use cordon_detect::dnsbl::{Answer, interpret};
use cordon_detect::nflog::{
    NflogEvent, PREFIX_SMTP_ATTEMPTS, PREFIX_SMTP_SENDER, event_from_message, event_from_nlas,
};
use cordon_testkit::Fixture;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_netfilter::nflog::{PacketHdr, PacketNla, ULogMessage};
use netlink_packet_netfilter::{NetfilterHeader, NetfilterMessage, NetfilterProtoFamily};
use proptest::prelude::*;

/// The subscriber prefixes the samples' addresses lie in.
fn config() -> cordon_config::Config {
    Fixture::new()
        .prefixes("[100.64.0.0/16, 2001:db8::/32]")
        .load()
}

fn samples_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/samples")
}

fn feed_samples() -> Vec<Vec<u8>> {
    [
        "feedback-report.eml",
        "two-reports.mbox",
        "feed.csv",
        "feed-crlf.csv",
        "arf-yahoo.eml",
        "arf-amazonses.eml",
        "arf-hotmail-jmrp.eml",
        "arf-rackspace.eml",
        "arf-original-from-line.mbox",
        "spamcop.eml",
        "xarf-login-attack.eml",
        "xarf-v3-spam.json",
        "xarf-v4-login-attack.json",
        "xarf-abusix-loginattack.json",
        "2024-03-08-event4_sinkhole_http-nl-geo.csv",
        "2016-07-24-botnet_drone-nl-geo.csv",
        "2024-03-08-scan_ssh-nl-geo.csv",
        "2024-03-08-event4_honeypot_brute_force-nl-geo.zip",
        "snds-ipstatus.csv",
        "iodef-v1-worm.xml",
        "iodef-v2-scan.xml",
        "abusehubcsv-2024-03-08.csv",
    ]
    .iter()
    .map(|f| std::fs::read(samples_dir().join(f)).unwrap())
    .collect()
}

/// Imports `input` as `cordon import` does (a file, checked against the
/// subscriber prefixes), and checks what came out.
fn import(input: &Input) {
    let config = config();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed");
    std::fs::write(&path, &input.0).unwrap();
    let result = within("the report feed reader", input, PARSER, || {
        match cordon_detect::import_for(&path, &config) {
            Ok(r) => {
                let _printed: Vec<String> = r.rejected.iter().map(ToString::to_string).collect();
                Some(r)
            }
            // A file in none of the formats: refused once, by name.
            Err(e @ cordon_detect::DetectError::UnsupportedFormat { .. }) => {
                assert!(e.to_string().contains("unsupported format: "), "{e}");
                None
            }
            Err(e) => panic!("{e}"),
        }
    });
    let Some(result) = result else {
        return;
    };
    // A ZIP's entries count their own lines.
    let lines = if input.starts_with(b"PK\x03\x04") {
        u64::MAX
    } else {
        input.iter().filter(|&&b| b == b'\n').count() as u64 + 1
    };
    for e in &result.rejected {
        assert!(
            (1..=lines).contains(&e.line),
            "line {} named in a feed of {lines} lines: {e}",
            e.line
        );
    }
    for r in &result.reports {
        assert!(
            config.subscriber_of(r.address).is_ok(),
            "{} admitted from outside the subscriber prefixes",
            r.address
        );
        assert!(!r.source.is_empty(), "a report without a source");
    }
}

/// The IP header a subscriber's SMTP attempt carries, as NFLOG copies it
/// (cut at 80 bytes).
fn ipv4_packet(src: Ipv4Addr) -> Vec<u8> {
    let h = etherparse::Ipv4Header::new(
        20,
        64,
        etherparse::IpNumber::TCP,
        src.octets(),
        [198, 51, 100, 25],
    )
    .unwrap();
    let mut v = h.to_bytes().to_vec();
    v.extend_from_slice(&[0x9c, 0x40, 0, 25, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02]);
    v
}

fn ipv6_packet(src: Ipv6Addr) -> Vec<u8> {
    let h = etherparse::Ipv6Header {
        source: src.octets(),
        destination: Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 25).octets(),
        next_header: etherparse::IpNumber::TCP,
        payload_length: 40,
        hop_limit: 64,
        ..Default::default()
    };
    let mut v = h.to_bytes().to_vec();
    v.extend_from_slice(&[0x9c, 0x40, 0, 25, 0, 0, 0, 1]);
    v
}

/// A netlink message as the kernel sends it for one logged packet.
fn nflog_message(prefix: &str, payload: Vec<u8>) -> Vec<u8> {
    let nlas = vec![
        PacketNla::PacketHdr(PacketHdr::parse(&[0x08, 0x00, 1, 0]).unwrap()),
        PacketNla::Mark(0),
        PacketNla::IfIndexInDev(4),
        PacketNla::Prefix(CString::new(prefix).unwrap()),
        PacketNla::Payload(payload),
    ];
    let inner = NetfilterMessage::new(
        NetfilterHeader::new(NetfilterProtoFamily::IPv4, 0, 7107),
        ULogMessage::Packet(nlas),
    );
    let mut msg = NetlinkMessage::from(inner);
    msg.finalize();
    let mut buf = vec![0; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

fn nflog_samples() -> Vec<Vec<u8>> {
    vec![
        nflog_message(
            PREFIX_SMTP_ATTEMPTS,
            ipv4_packet(Ipv4Addr::new(100, 64, 1, 7)),
        ),
        nflog_message(
            PREFIX_SMTP_SENDER,
            ipv6_packet(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, 5)),
        ),
    ]
}

/// The source address at its place in an IPv4 or IPv6 header.
fn source_in(payload: &[u8]) -> Option<IpAddr> {
    match payload.first()? >> 4 {
        4 => <[u8; 4]>::try_from(payload.get(12..16)?)
            .ok()
            .map(IpAddr::from),
        6 => <[u8; 16]>::try_from(payload.get(8..24)?)
            .ok()
            .map(IpAddr::from),
        _ => None,
    }
}

/// The question every DNS sample answers.
const QNAME: &str = "7.1.64.100.zen.example";
const QID: u16 = 0x1234;

/// A block list's answer as it comes off the wire: header, the question,
/// then A records whose names point back at the question (compression, as
/// servers send them).
fn dns_answer(rcode: u8, addresses: &[[u8; 4]]) -> Vec<u8> {
    let mut m = QID.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x81, 0x80 | rcode, 0, 1, 0]);
    m.push(u8::try_from(addresses.len()).unwrap());
    m.extend_from_slice(&[0, 0, 0, 0]);
    for label in QNAME.split('.') {
        m.push(u8::try_from(label.len()).unwrap());
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    for a in addresses {
        m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4]);
        m.extend_from_slice(a);
    }
    m
}

fn dns_samples() -> Vec<Vec<u8>> {
    vec![
        dns_answer(0, &[[127, 0, 0, 2]]),
        dns_answer(0, &[[127, 0, 0, 2], [127, 0, 0, 4], [192, 0, 2, 1]]),
        dns_answer(0, &[[127, 255, 255, 254]]),
        dns_answer(3, &[]),
        dns_answer(2, &[]),
    ]
}

proptest! {
    #![proptest_config(cases(256))]

    /// A block list's answer (or a spoofed datagram): read, or refused as
    /// not ours; a listing only ever names 127.0.0.0/8 codes.
    #[test]
    fn dnsbl_answers_survive_any_bytes(input in inputs(dns_samples(), 64 << 10)) {
        let answer = within("the DNSBL answer reader", &input, PARSER, || {
            interpret(&input, QID, QNAME)
        });
        if let Ok(Answer::Listed(codes) | Answer::ListError(codes)) = answer {
            prop_assert!(codes.iter().all(|c| c.octets()[0] == 127), "{codes:?}");
        }
    }

    #[test]
    fn feeds_survive_any_bytes(input in inputs(feed_samples(), 256 << 10)) {
        import(&input);
    }

    #[test]
    fn nflog_messages_survive_any_bytes(input in inputs(nflog_samples(), 64 << 10)) {
        within("the NFLOG message reader", &input, PARSER, || {
            match NetlinkMessage::<NetfilterMessage>::deserialize(&input) {
                Ok(msg) => {
                    let _ = event_from_message(&msg, SystemTime::UNIX_EPOCH);
                }
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        });
    }

    /// The part of the message a subscriber controls: what its packet's
    /// header says. An event names the address at the header's source
    /// field, or there is no event.
    #[test]
    fn nflog_payloads_name_their_source(
        payload in inputs(vec![
            ipv4_packet(Ipv4Addr::new(100, 64, 1, 7)),
            ipv6_packet(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, 5)),
        ], 4096),
        sender in any::<bool>(),
    ) {
        let prefix = if sender { PREFIX_SMTP_SENDER } else { PREFIX_SMTP_ATTEMPTS };
        let nlas = vec![
            PacketNla::Prefix(CString::new(prefix).unwrap()),
            PacketNla::Payload(payload.0.clone()),
        ];
        let event = within("the NFLOG packet reader", &payload, PARSER, || {
            event_from_nlas(&nlas, SystemTime::UNIX_EPOCH)
        });
        let named = match event {
            Ok(NflogEvent::Crossing(c)) => Some(c.source),
            Ok(NflogEvent::Sender(a)) => Some(a),
            Ok(other) => panic!("a packet read as {other:?}"),
            Err(_) => None,
        };
        if let Some(named) = named {
            prop_assert_eq!(Some(named), source_in(&payload));
        }
    }
}

/// Inputs shaped to reach the limits: XML nested as deep as the bytes
/// allow, a ZIP entry that inflates a thousandfold, an SNDS range at the
/// expansion limit. Each stays within the parser's time and memory bounds.
#[test]
fn limit_shaped_inputs_stay_bounded() {
    let deep = format!(
        "<IODEF-Document xmlns=\"urn:ietf:params:xml:ns:iodef-2.0\">{}{}</IODEF-Document>",
        "<a>".repeat(30_000),
        "</a>".repeat(30_000)
    );
    import(&Input(deep.clone().into_bytes()));
    let deep = format!(
        "<IODEF-Document xmlns=\"urn:ietf:params:xml:ns:iodef-2.0\">{}",
        "<a>".repeat(80_000)
    );
    import(&Input(deep.into_bytes()));
    let mut bomb = Vec::new();
    {
        use std::io::Write;
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(&mut bomb));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        z.start_file("2024-03-08-scan_ssh-nl-geo.csv", options)
            .unwrap();
        z.write_all(b"timestamp,ip\n").unwrap();
        // Written a mebibyte at a time: the other tests in this process
        // cap the allocator, and 200 MiB at once would meet their cap.
        let chunk = vec![b'\n'; 1 << 20];
        for _ in 0..200 {
            z.write_all(&chunk).unwrap();
        }
        z.finish().unwrap();
    }
    import(&Input(bomb));
    let ranges = b"100.64.0.0,100.64.255.255,Yes,x\n".repeat(8);
    import(&Input(ranges.clone()));
    let r = cordon_detect::reports::parse_feed_with(
        &ranges,
        cordon_detect::FeedMeta {
            name: None,
            received: Some(SystemTime::UNIX_EPOCH),
        },
        |_| Ok(()),
    );
    assert_eq!(r.reports.len(), 131_072);
    assert_eq!(r.rejected.len(), 6, "{:?}", &r.rejected[..1]);
}

#[test]
fn the_samples_parse_as_they_should() {
    let config = config();
    for (file, reports) in [
        ("feedback-report.eml", 1),
        ("two-reports.mbox", 2),
        ("feed.csv", 4),
        ("feed-crlf.csv", 4),
        ("arf-original-from-line.mbox", 2),
        ("spamcop.eml", 1),
        ("xarf-login-attack.eml", 1),
        ("2024-03-08-event4_sinkhole_http-nl-geo.csv", 2),
        ("2016-07-24-botnet_drone-nl-geo.csv", 1),
        ("2024-03-08-scan_ssh-nl-geo.csv", 1),
        ("2024-03-08-event4_honeypot_brute_force-nl-geo.zip", 1),
        ("snds-ipstatus.csv", 5),
        ("iodef-v1-worm.xml", 1),
        ("iodef-v2-scan.xml", 2),
        ("abusehubcsv-2024-03-08.csv", 4),
    ] {
        let r = cordon_detect::import_for(&samples_dir().join(file), &config).unwrap();
        assert_eq!(r.reports.len(), reports, "{file}: {:?}", r.rejected);
        assert!(r.rejected.is_empty(), "{file}: {:?}", r.rejected);
    }
    let answers: Vec<_> = dns_samples()
        .iter()
        .map(|d| interpret(d, QID, QNAME).unwrap())
        .collect();
    assert!(
        matches!(&answers[0], Answer::Listed(c) if c.len() == 1),
        "{answers:?}"
    );
    assert!(
        matches!(&answers[1], Answer::Listed(c) if c.len() == 2),
        "{answers:?}"
    );
    assert!(matches!(answers[2], Answer::ListError(_)), "{answers:?}");
    assert_eq!(answers[3], Answer::NotListed);
    assert!(matches!(answers[4], Answer::ServerError(_)), "{answers:?}");
    for sample in nflog_samples() {
        let msg = NetlinkMessage::<NetfilterMessage>::deserialize(&sample).unwrap();
        assert!(
            matches!(msg.payload, NetlinkPayload::InnerMessage(_)),
            "{msg:?}"
        );
        event_from_message(&msg, SystemTime::UNIX_EPOCH).unwrap();
    }
}

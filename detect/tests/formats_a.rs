//! Real report samples of the mail-borne formats (ARF from several
//! mailbox providers, SpamCop, X-ARF mail and JSON), each read as
//! `cordon import` reads it: offender, time, kind and sender asserted.
//! Origins and licences: `tests/samples/README.md`.
#![allow(clippy::unwrap_used)] // a failed unwrap is the test failing

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use cordon_detect::reports::{FeedFormat, ReportKind, detect_format, parse_feed};
use cordon_detect::{ImportResult, Report};

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/samples")
            .join(name),
    )
    .unwrap()
}

/// Admits addresses in `prefix` (a textual prefix of the address), as a
/// config with that subscriber range would.
fn read_admitting(name: &str, prefix: &'static str) -> ImportResult {
    parse_feed(&sample(name), move |ip: IpAddr| {
        if ip.to_string().starts_with(prefix) {
            Ok(())
        } else {
            Err(format!("{ip} is not a subscriber address"))
        }
    })
}

fn one(name: &str, prefix: &'static str) -> Report {
    let r = read_admitting(name, prefix);
    assert!(r.rejected.is_empty(), "{name}: {:?}", r.rejected);
    assert_eq!(r.reports.len(), 1, "{name}: {:?}", r.reports);
    r.reports.into_iter().next().unwrap()
}

fn check(r: &Report, address: &str, unix: u64, kind: ReportKind, source: &str) {
    assert_eq!(r.address, address.parse::<IpAddr>().unwrap(), "{r:?}");
    assert_eq!(
        r.at,
        SystemTime::UNIX_EPOCH + Duration::from_secs(unix),
        "{r:?}"
    );
    assert_eq!(r.kind, kind, "{r:?}");
    assert_eq!(r.source, source, "{r:?}");
    assert_eq!(r.weight, 1);
}

#[test]
fn arf_feedback_loop_report() {
    let r = one("feedback-report.eml", "100.64.");
    check(
        &r,
        "100.64.1.7",
        1_709_906_400,
        ReportKind::Spam,
        "mx1.complaints.example.net",
    );
}

/// Yahoo's old loop: no Source-IP (the original's X-Originating-IP, in
/// brackets), Received-Date with the obsolete zone `PST`.
#[test]
fn arf_yahoo_without_source_ip() {
    assert_eq!(detect_format(&sample("arf-yahoo.eml")), FeedFormat::Arf);
    let r = one("arf-yahoo.eml", "192.0.2.");
    check(
        &r,
        "192.0.2.8",
        1_367_307_950,
        ReportKind::Spam,
        "arf.mail.yahoo.com",
    );
    assert_eq!(
        r.message_id.as_deref(),
        Some("000000000000000000000000.smtp@example.com")
    );
}

/// Amazon SES: the report's own header has an X-Originating-IP too; the
/// offender is the original's.
#[test]
fn arf_amazon_ses_takes_the_originals_address() {
    let r = one("arf-amazonses.eml", "192.0.2.");
    check(
        &r,
        "192.0.2.1",
        1_493_508_885,
        ReportKind::Spam,
        "email-abuse.amazonses.com",
    );
}

/// Hotmail's JMRP: multipart/mixed with only the original; the offender is
/// the first Received address that is a subscriber's.
#[test]
fn arf_hotmail_jmrp_takes_the_first_subscriber_in_received() {
    let r = one("arf-hotmail-jmrp.eml", "203.0.113.");
    check(
        &r,
        "203.0.113.245",
        1_461_972_885,
        ReportKind::Spam,
        "hotmail.com",
    );
    // No Received field names a subscriber: refused, with the reason.
    let r = read_admitting("arf-hotmail-jmrp.eml", "100.64.");
    assert!(r.reports.is_empty());
    assert!(
        r.rejected[0].reason.contains("no Received field"),
        "{:?}",
        r.rejected
    );
}

/// Rackspace (SenderScore) writes `Source-Ip`.
#[test]
fn arf_rackspace() {
    let r = one("arf-rackspace.eml", "10.");
    check(
        &r,
        "10.0.0.1",
        1_604_167_377,
        ReportKind::Spam,
        "rackspacefbl.senderscore.net",
    );
}

/// Two reports whose attached originals begin with an mbox `From ` line:
/// two reports, nothing rejected (the old splitter cut each in two).
#[test]
fn arf_originals_with_from_lines_do_not_split_the_mbox() {
    let r = read_admitting("arf-original-from-line.mbox", "100.64.");
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    let addresses: Vec<String> = r.reports.iter().map(|r| r.address.to_string()).collect();
    assert_eq!(addresses, ["100.64.1.7", "100.64.1.8"]);
    assert_eq!(
        r.reports[1].message_id.as_deref(),
        Some("original-2.mail@example.net")
    );
}

#[test]
fn spamcop_report() {
    assert_eq!(detect_format(&sample("spamcop.eml")), FeedFormat::SpamCop);
    let r = one("spamcop.eml", "100.64.");
    check(
        &r,
        "100.64.3.21",
        1_710_235_544,
        ReportKind::Spam,
        "spamcop",
    );
    assert_eq!(r.message_id.as_deref(), Some("spamcop:7187465162"));
}

/// A SpamCop report about a spamvertised site names a URL in the subject:
/// the address comes from X-SpamCop-sourceip or the `Email from` line.
#[test]
fn spamcop_with_a_url_in_the_subject() {
    let text = String::from_utf8(sample("spamcop.eml"))
        .unwrap()
        .replace("[SpamCop (100.64.3.21)", "[SpamCop (http://prize.example/)")
        .replace("X-SpamCop-sourceip: 100.64.3.21\n", "");
    let r = parse_feed(text.as_bytes(), |_| Ok(()));
    assert_eq!(r.reports.len(), 1, "{:?}", r.rejected);
    assert_eq!(
        r.reports[0].address,
        "100.64.3.21".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn xarf_mail_yaml_report() {
    assert_eq!(
        detect_format(&sample("xarf-login-attack.eml")),
        FeedFormat::Xarf
    );
    let r = one("xarf-login-attack.eml", "100.64.");
    check(
        &r,
        "100.64.9.4",
        1_391_390_015,
        ReportKind::BruteForce,
        "honeypot.example",
    );
    assert_eq!(r.message_id.as_deref(), Some("xarf:1234567"));
}

#[test]
fn xarf_json_v3() {
    assert_eq!(
        detect_format(&sample("xarf-v3-spam.json")),
        FeedFormat::XarfJson
    );
    let r = one("xarf-v3-spam.json", "192.168.");
    check(
        &r,
        "192.168.1.100",
        1_705_329_025,
        ReportKind::Spam,
        "antispam-service.example",
    );
}

#[test]
fn xarf_json_abusix_v4_draft() {
    let r = one("xarf-abusix-loginattack.json", "192.0.2.");
    check(
        &r,
        "192.0.2.55",
        1_517_840_230,
        ReportKind::BruteForce,
        "example.com",
    );
}

#[test]
fn xarf_json_v4() {
    let r = one("xarf-v4-login-attack.json", "198.51.100.");
    check(
        &r,
        "198.51.100.77",
        1_736_597_840,
        ReportKind::BruteForce,
        "sshsecurity.org",
    );
    assert_eq!(
        r.message_id.as_deref(),
        Some("xarf:dbf79f17-f4f4-4c22-ae58-19991f52a1e8")
    );
}

/// An X-ARF JSON part attached to a mail is read like a file.
#[test]
fn xarf_json_in_a_mail() {
    let json = String::from_utf8(sample("xarf-v4-login-attack.json")).unwrap();
    let mail = format!(
        "From: reports@sshsecurity.org\nX-XARF: PLAIN\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\n\
         hello\n--b\nContent-Type: application/json\n\
         Content-Disposition: attachment; filename=\"xarf.json\"\n\n{json}\n--b--\n"
    );
    let r = parse_feed(mail.as_bytes(), |_| Ok(()));
    assert_eq!(r.reports.len(), 1, "{:?}", r.rejected);
    assert_eq!(r.reports[0].source, "sshsecurity.org");
}

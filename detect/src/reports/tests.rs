//! The feed parsers on real samples and on broken ones.
#![allow(clippy::unwrap_used)]
use super::*;

fn all(_: IpAddr) -> Result<(), String> {
    Ok(())
}

/// RFC 5965's example report, with CRLF line ends.
pub(crate) const ARF: &str = include_str!("../../tests/samples/feedback-report.eml");

#[test]
fn arf_message_is_one_report() {
    assert_eq!(detect_format(ARF.as_bytes()), FeedFormat::Arf);
    let r = parse_feed(ARF.as_bytes(), all);
    assert_eq!(r.rejected, vec![]);
    let rep = &r.reports[0];
    assert_eq!(rep.address, "100.64.1.7".parse::<IpAddr>().unwrap());
    assert_eq!(rep.source, "mx1.complaints.example.net");
    assert_eq!(rep.at, from_unix(1_709_906_400).unwrap());
    assert_eq!(
        rep.message_id.as_deref(),
        Some("cordon-fixture-0001@bulk.example.net")
    );
    assert!(
        rep.evidence.contains("Feedback-Type: abuse"),
        "{}",
        rep.evidence
    );
    assert!(rep.evidence.contains("Reported-Domain: bulk.example.net"));
    assert!(rep.evidence.contains("User-Agent: CordonFixtureFBL/1.0"));
    assert_eq!(rep.weight, 1);
}

#[test]
fn mbox_of_two_messages_and_a_truncated_one() {
    let truncated: String = ARF.lines().take(20).collect::<Vec<_>>().join("\n");
    let mbox = format!(
        "From fbl@example.net Thu Mar  8 14:00:00 2024\n{ARF}\nFrom fbl@example.net Thu Mar  8 14:00:00 2024\n{}\nFrom x Thu Mar  8 14:00:00 2024\n{truncated}\n",
        ARF.replace("100.64.1.7", "100.64.1.8")
    );
    let r = parse_feed(mbox.as_bytes(), all);
    assert_eq!(r.reports.len(), 2, "{:?}", r.rejected);
    assert_eq!(
        r.reports[1].address,
        "100.64.1.8".parse::<IpAddr>().unwrap()
    );
    assert_eq!(r.rejected.len(), 1);
    // The third message starts after two full ones (with their From lines).
    let third = 2 * (ARF.lines().count() as u64 + 2) + 1; // From line, message, blank line
    assert_eq!(r.rejected[0].line, third, "{:?}", r.rejected);
    assert!(
        r.rejected[0].reason.contains("Source-IP"),
        "{:?}",
        r.rejected
    );
}

#[test]
fn truncated_arf_is_rejected_not_lost() {
    let cut = &ARF[..ARF.find("Source-IP").unwrap()];
    let r = parse_feed(cut.as_bytes(), all);
    assert!(r.reports.is_empty());
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].line, 1);
}

#[test]
fn plain_mail_is_not_a_report() {
    let r = parse_feed(b"From: a@b\nSubject: hi\n\nhello\n", all);
    assert!(r.reports.is_empty());
    assert!(r.rejected[0].reason.contains("multipart/report"));
}

#[test]
fn csv_with_header_quotes_and_bad_lines() {
    let csv = "address,time,source,evidence\n\
               100.64.1.7,2024-03-08T14:00:00Z,spamcop,\"spam, lots of it\"\n\
               garbage\n\
               100.64.1.8,1709906400,abuse-desk,call from customer\n\
               not-an-ip,1709906400,x,y\n\
               2001:db8:1:2::5,2024-03-08T15:00:00+01:00,fbl,\"quoted \"\"word\"\"\"\n\
               100.64.1.9,yesterday,x,y\n\
               100.64.1.9,1,,y\n";
    assert_eq!(detect_format(csv.as_bytes()), FeedFormat::Csv);
    let r = parse_feed(csv.as_bytes(), all);
    assert_eq!(r.reports.len(), 3, "{:?}", r.rejected);
    assert_eq!(r.reports[0].evidence, "spam, lots of it");
    assert_eq!(r.reports[0].at, from_unix(1_709_906_400).unwrap());
    assert_eq!(r.reports[1].source, "abuse-desk");
    assert_eq!(r.reports[2].at, from_unix(1_709_906_400).unwrap());
    assert_eq!(r.reports[2].evidence, "quoted \"word\"");
    let lines: Vec<u64> = r.rejected.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![3, 5, 7, 8], "{:?}", r.rejected);
}

#[test]
fn crlf_csv_reports_the_same_line_numbers() {
    let lf = "address,time,source,evidence\n\
              # a comment\n\
              garbage\n\
              \n\
              100.64.1.8,1709906400,abuse-desk,\"two\nlines\"\n\
              not-an-ip,1709906400,x,y\n\
              100.64.1.9,1,,y\n";
    let crlf = lf.replace('\n', "\r\n");
    for text in [lf, crlf.as_str()] {
        let r = parse_feed(text.as_bytes(), all);
        let lines: Vec<u64> = r.rejected.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 7, 8], "{text:?}: {:?}", r.rejected);
    }
}

/// Records ended by `\r` alone share one line (lines are counted by line
/// feeds), and a comment line after them still moves the count on. Found
/// by `tests/fuzz_props.rs`: each such record searched the rest of the file
/// for a line feed, 8 s for 160 kB of them.
#[test]
fn records_ended_by_cr_alone_share_their_line() {
    // Led by a valid record on the same line, so that the file is a feed.
    let mut text = String::from("100.64.1.1,1,x,y\rbad-a,1\rbad-b,1\r");
    text.push_str(&"x\r".repeat(20_000));
    text.push_str("\n# note\nbad-c,1\n");
    let r = parse_feed(text.as_bytes(), all);
    assert_eq!(r.rejected.len(), 20_003, "{:?}", &r.rejected[..3]);
    assert!(r.rejected[..20_002].iter().all(|e| e.line == 1));
    assert_eq!(r.rejected[20_002].line, 3, "{:?}", r.rejected[20_002]);
}

#[test]
fn ipv6_csv_line_is_not_mistaken_for_a_header() {
    assert_eq!(detect_format(b"abcd::1,1709906400,x,y\n"), FeedFormat::Csv);
    assert_eq!(detect_format(b"\n\nReturn-Path: <a@b>\n"), FeedFormat::Arf);
}

#[test]
fn admit_rejects_by_line() {
    let csv = "100.64.1.7,1709906400,x,y\n192.0.2.1,1709906400,x,y\n";
    let r = parse_feed(csv.as_bytes(), |ip| {
        if ip.to_string().starts_with("100.64.") {
            Ok(())
        } else {
            Err(format!("{ip} is not a subscriber"))
        }
    });
    assert_eq!(r.reports.len(), 1);
    assert_eq!(r.rejected[0].line, 2);
    assert!(r.rejected[0].reason.contains("not a subscriber"));
}

/// Found by `tests/fuzz_props.rs`: a part that opens a nested message
/// right after its boundary line, and a boundary that never closes it,
/// reached a `debug_assert!` in mail-parser (0.11.9) and panicked in
/// debug builds, where the lab and the tests run; release builds went
/// on. The workspace builds mail-parser without debug assertions.
#[test]
fn a_nested_message_cut_short_is_rejected_not_a_panic() {
    let mail = "Content-Type: multipart/report; boundary=b\n\n\
                --b Content-Type: message/rfc822\n\n\
                Content-Type: message/rfc822\n\n\n\
                --b--";
    assert_eq!(detect_format(mail.as_bytes()), FeedFormat::Arf);
    let r = parse_feed(mail.as_bytes(), all);
    assert!(r.reports.is_empty());
    assert_eq!(r.rejected.len(), 1, "{:?}", r.rejected);
}

#[test]
fn invalid_utf8_line_is_skipped() {
    let mut data = b"100.64.1.7,1709906400,x,y\n".to_vec();
    data.extend_from_slice(b"100.64.1.8,1709906400,\xff\xfe,y\n");
    data.extend_from_slice(b"100.64.1.9,1709906400,x,y\n");
    let r = parse_feed(&data, all);
    assert_eq!(r.reports.len(), 2, "{:?}", r.rejected);
    assert_eq!(r.rejected[0].line, 2);
}

//! Shadowserver CSV (plain and zipped), Microsoft SNDS IP status and IODEF
//! fixtures: each asserts the offender's address, the time, the kind and
//! the sender; and files in none of the formats are refused once.
#![allow(clippy::unwrap_used)] // a failed unwrap is the test failing

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use cordon_detect::reports::{
    FeedFormat, FeedMeta, ReportKind, detect_format, parse_feed, parse_feed_with, parse_time,
};
use cordon_detect::{DetectError, ImportResult, import, import_for};
use cordon_testkit::Fixture;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/samples")
        .join(name)
}

fn config() -> cordon_config::Config {
    Fixture::new()
        .prefixes("[100.64.0.0/16, 2001:db8::/32]")
        .load()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn at(s: &str) -> SystemTime {
    parse_time(s).unwrap()
}

/// Imports a sample as `cordon import` does; nothing may be rejected.
fn imported(name: &str) -> ImportResult {
    let r = import_for(&sample(name), &config()).unwrap();
    assert!(r.rejected.is_empty(), "{name}: {:?}", r.rejected);
    r
}

#[test]
fn shadowserver_sinkhole_http_events() {
    let name = "2024-03-08-event4_sinkhole_http-nl-geo.csv";
    let data = std::fs::read(sample(name)).unwrap();
    assert_eq!(detect_format(&data), FeedFormat::Shadowserver);
    let r = imported(name);
    assert_eq!(r.reports.len(), 2);
    let (a, b) = (&r.reports[0], &r.reports[1]);
    assert_eq!(a.address, ip("100.64.2.17"));
    assert_eq!(a.at, at("2024-03-08T14:00:07Z"));
    assert_eq!(a.kind, ReportKind::Sinkhole);
    assert_eq!(a.source, "shadowserver");
    assert!(
        a.evidence.contains("report: event4_sinkhole_http")
            && a.evidence.contains("infection: andromeda")
            && a.evidence.contains("protocol: tcp")
            && a.evidence.contains("port: 49321"),
        "{}",
        a.evidence
    );
    assert_eq!(b.address, ip("2001:db8:1:2::5"));
    assert_eq!(b.at, at("2024-03-08T14:03:41Z"));
    assert_ne!(a.message_id, b.message_id);
    assert!(a.message_id.is_some());
}

#[test]
fn abusehub_csv_export() {
    let name = "abusehubcsv-2024-03-08.csv";
    let data = std::fs::read(sample(name)).unwrap();
    assert_eq!(detect_format(&data), FeedFormat::AbuseHub);
    let r = imported(name);
    let got: Vec<(IpAddr, SystemTime, ReportKind, &str)> = r
        .reports
        .iter()
        .map(|r| (r.address, r.at, r.kind, r.source.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                ip("100.64.9.14"),
                at("2024-03-08T14:02:11Z"),
                ReportKind::Bot,
                "abusehub"
            ),
            (
                ip("100.64.9.15"),
                at("2024-03-08T09:41:50Z"),
                ReportKind::Spam,
                "abusehub"
            ),
            (
                ip("100.64.9.16"),
                at("2024-03-08T03:15:00Z"),
                ReportKind::Scan,
                "abusehub"
            ),
            (
                ip("2001:db8:9::16"),
                at("2024-03-08T14:05:32Z"),
                ReportKind::Bot,
                "abusehub"
            ),
        ]
    );
    let e = &r.reports[0].evidence;
    assert!(
        e.contains("report: Shadowserver Botnet Drone") && e.contains("infection: andromeda"),
        "{e}"
    );
    assert_eq!(
        r.reports[0].message_id.as_deref(),
        Some("abusehub:Shadowserver Botnet Drone:100.64.9.14:2024-03-08 14:02:11:49733")
    );
}

#[test]
fn shadowserver_botnet_drone() {
    let r = imported("2016-07-24-botnet_drone-nl-geo.csv");
    assert_eq!(r.reports.len(), 1);
    let d = &r.reports[0];
    assert_eq!(d.address, ip("100.64.5.9"));
    assert_eq!(d.at, at("2016-07-24T00:15:12Z"));
    assert_eq!(d.kind, ReportKind::Bot);
    assert_eq!(d.source, "shadowserver");
    assert!(
        d.evidence.contains("infection: conficker"),
        "{}",
        d.evidence
    );
}

#[test]
fn shadowserver_scan_ssh() {
    let r = imported("2024-03-08-scan_ssh-nl-geo.csv");
    assert_eq!(r.reports.len(), 1);
    let s = &r.reports[0];
    assert_eq!(s.address, ip("100.64.7.21"));
    assert_eq!(s.at, at("2024-03-08T03:12:55Z"));
    assert_eq!(s.kind, ReportKind::Scan);
    assert_eq!(s.source, "shadowserver");
    assert!(s.evidence.contains("port: 22"), "{}", s.evidence);
}

#[test]
fn shadowserver_zipped_brute_force() {
    let name = "2024-03-08-event4_honeypot_brute_force-nl-geo.zip";
    let data = std::fs::read(sample(name)).unwrap();
    assert_eq!(detect_format(&data), FeedFormat::Zip);
    let r = imported(name);
    assert_eq!(r.reports.len(), 1);
    let b = &r.reports[0];
    assert_eq!(b.address, ip("100.64.9.4"));
    assert_eq!(b.at, at("2024-03-08T21:40:02Z"));
    assert_eq!(b.kind, ReportKind::BruteForce);
    assert_eq!(b.source, "shadowserver");
}

/// Without a type in the file name, the columns tell: an `infection` in a
/// sinkhole event (with `dst_ip`) is a sinkhole report, and a
/// `report_type` column wins over the name.
#[test]
fn shadowserver_kind_without_a_telling_name() {
    let data = std::fs::read(sample("2024-03-08-event4_sinkhole_http-nl-geo.csv")).unwrap();
    let r = parse_feed(&data, |_| Ok(()));
    assert!(r.reports.iter().all(|r| r.kind == ReportKind::Sinkhole));
    let csv = "timestamp,ip,report_type,port\n\
               2024-03-08 10:00:00,100.64.1.1,scan_rdp,3389\n\
               2024-03-08 10:00:00,100.64.1.2,blocklist,\n\
               2024-03-08 10:00:00,100.64.1.3,device_id,\n\
               yesterday,100.64.1.4,scan_rdp,3389\n";
    let meta = FeedMeta {
        name: Some("2024-03-08-botnet_drone-nl-geo.csv"),
        received: None,
    };
    let r = parse_feed_with(csv.as_bytes(), meta, |_| Ok(()));
    let kinds: Vec<_> = r.reports.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [ReportKind::Scan, ReportKind::Spam, ReportKind::Bot],
        "{:?}",
        r.reports
    );
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].line, 5, "{:?}", r.rejected);
}

#[test]
fn snds_ip_status_ranges() {
    let data = std::fs::read(sample("snds-ipstatus.csv")).unwrap();
    assert_eq!(detect_format(&data), FeedFormat::Snds);
    let received = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_906_400);
    let meta = FeedMeta {
        name: Some("snds-ipstatus.csv"),
        received: Some(received),
    };
    // Only 100.64.3.1 and .2 and 100.64.4.10 are subscribers here.
    let r = parse_feed_with(&data, meta, |a| {
        if ["100.64.3.1", "100.64.3.2", "100.64.4.10"].contains(&a.to_string().as_str()) {
            Ok(())
        } else {
            Err(format!("{a} is not a subscriber"))
        }
    });
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    let addresses: Vec<_> = r.reports.iter().map(|r| r.address).collect();
    assert_eq!(
        addresses,
        [ip("100.64.3.1"), ip("100.64.3.2"), ip("100.64.4.10")]
    );
    for rep in &r.reports {
        assert_eq!(rep.at, received);
        assert_eq!(rep.kind, ReportKind::Spam);
        assert_eq!(rep.source, "snds");
    }
    assert!(
        r.reports[0].evidence.contains("blocked: Yes"),
        "{}",
        r.reports[0].evidence
    );
    // Imported as a file, the reports are dated by its modification time.
    let r = imported("snds-ipstatus.csv");
    assert_eq!(r.reports.len(), 5);
    let mtime = std::fs::metadata(sample("snds-ipstatus.csv"))
        .unwrap()
        .modified()
        .unwrap();
    assert!(r.reports.iter().all(|r| r.at == mtime));
}

#[test]
fn snds_refuses_huge_backwards_and_foreign_ranges() {
    let csv = "first_ip,last_ip,blocked,reason\n\
               100.0.0.0,100.255.255.255,Yes,x\n\
               100.64.1.9,100.64.1.1,Yes,x\n\
               192.0.2.0,192.0.2.3,Yes,x\n\
               100.64.1.1,100.64.1.1,Yes,x\n";
    let meta = FeedMeta {
        name: None,
        received: Some(SystemTime::UNIX_EPOCH),
    };
    let r = parse_feed_with(csv.as_bytes(), meta, |a| {
        if a.to_string().starts_with("100.64.") {
            Ok(())
        } else {
            Err(format!("{a} is not a subscriber"))
        }
    });
    assert_eq!(r.reports.len(), 1);
    let lines: Vec<_> = r.rejected.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 3, 4], "{:?}", r.rejected);
    assert!(
        r.rejected[0].reason.contains("16777216 addresses"),
        "{:?}",
        r.rejected
    );
    assert!(
        r.rejected[2].reason.contains("not a subscriber"),
        "{:?}",
        r.rejected
    );
    // Bytes alone carry no time.
    let r = parse_feed(b"100.64.1.1,100.64.1.1,Yes,x\n", |_| Ok(()));
    assert!(r.reports.is_empty());
    assert!(r.rejected[0].reason.contains("no time"), "{:?}", r.rejected);
}

#[test]
fn iodef_v1_worm_probe() {
    let data = std::fs::read(sample("iodef-v1-worm.xml")).unwrap();
    assert_eq!(detect_format(&data), FeedFormat::Iodef);
    let r = imported("iodef-v1-worm.xml");
    assert_eq!(r.reports.len(), 1);
    let w = &r.reports[0];
    assert_eq!(w.address, ip("100.64.0.200"));
    assert_eq!(w.at, at("2024-02-12T08:41:07Z"));
    // An attempt at administrative privileges names no kind of ours.
    assert_eq!(w.kind, ReportKind::Other);
    assert_eq!(w.source, "Example.net CSIRT");
    assert!(
        w.evidence.contains("impact: admin") && w.evidence.contains("worm's exploit"),
        "{}",
        w.evidence
    );
    assert_eq!(
        w.message_id.as_deref(),
        Some("iodef:csirt.example.net:40117:100.64.0.200")
    );
}

#[test]
fn iodef_v2_scan() {
    let r = imported("iodef-v2-scan.xml");
    assert_eq!(r.reports.len(), 2);
    assert_eq!(r.reports[0].address, ip("100.64.8.33"));
    assert_eq!(r.reports[1].address, ip("2001:db8:8::33"));
    for s in &r.reports {
        assert_eq!(s.at, at("2024-03-08T14:30:00Z"));
        assert_eq!(s.kind, ReportKind::Scan);
        assert_eq!(s.source, "Example.net CSIRT");
    }
}

#[test]
fn iodef_impact_types_name_kinds_and_dtds_are_refused() {
    let doc = |impact: &str| {
        format!(
            r#"<IODEF-Document version="1.00" xmlns="urn:ietf:params:xml:ns:iodef-1.0"><Incident purpose="reporting"><IncidentID name="c">1</IncidentID><StartTime>2024-03-08T10:00:00Z</StartTime><Assessment><Impact type="{impact}"/></Assessment><EventData><Flow><System category="source"><Node><Address category="ipv4-addr">100.64.1.1</Address></Node></System></Flow></EventData></Incident></IODEF-Document>"#
        )
    };
    for (impact, kind) in [
        ("recon", ReportKind::Scan),
        ("social-engineering", ReportKind::Phishing),
        ("dos", ReportKind::Other),
    ] {
        let r = parse_feed(doc(impact).as_bytes(), |_| Ok(()));
        assert_eq!(r.reports.len(), 1, "{impact}: {:?}", r.rejected);
        assert_eq!(r.reports[0].kind, kind, "{impact}");
        assert_eq!(r.reports[0].source, "c");
    }
    let bomb = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE d [<!ENTITY a \"aaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>\n{}",
        doc("&b;")
    );
    let r = parse_feed(bomb.as_bytes(), |_| Ok(()));
    assert!(r.reports.is_empty());
    assert!(r.rejected[0].reason.contains("DTD"), "{:?}", r.rejected);
    let deep = format!(
        "<IODEF-Document xmlns=\"urn:ietf:params:xml:ns:iodef-2.0\">{}{}</IODEF-Document>",
        "<a>".repeat(100),
        "</a>".repeat(100)
    );
    let r = parse_feed(deep.as_bytes(), |_| Ok(()));
    assert!(r.rejected[0].reason.contains("deeper"), "{:?}", r.rejected);
}

/// Files in none of the formats are one error naming what they are, not a
/// rejected line per line.
#[test]
fn unsupported_formats_are_refused_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut zip_without_csv = Vec::new();
    {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(&mut zip_without_csv));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        z.start_file("photo.png", options).unwrap();
        z.write_all(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
        z.finish().unwrap();
    }
    for (content, what) in [
        (
            b"{\"Version\": \"5\",\n \"Foo\": 1}\n{\"a\": 2}\n".to_vec(),
            "JSON that is not X-ARF",
        ),
        (
            b"<?xml version=\"1.0\"?>\n<rss><channel/></rss>\n".to_vec(),
            "XML that is not IODEF",
        ),
        (
            br#"<r xmlns="urn:ietf:params:xml:ns:iodef-2.0"/>"#.to_vec(),
            "XML that is not IODEF",
        ),
        (zip_without_csv, "a ZIP without a CSV"),
        (b"name,email,phone\nx,y,z\n".to_vec(), "CSV whose header"),
        (
            b"Dear abuse team,\nyour customer at 100.64.1.7 sent us spam.\n".to_vec(),
            "no line is a feed line",
        ),
    ] {
        let path = dir.path().join("feed");
        std::fs::write(&path, &content).unwrap();
        let e = import(&path).unwrap_err();
        assert!(
            matches!(&e, DetectError::UnsupportedFormat { what: w, .. } if w.contains(what)),
            "{what}: {e}"
        );
        let message = e.to_string();
        assert!(message.contains("unsupported format: "), "{message}");
    }
}

#[test]
fn zip_bombs_and_archives_of_many_entries_are_refused() {
    let zipped = |entries: usize, size: usize| {
        let mut out = Vec::new();
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(&mut out));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for i in 0..entries {
            z.start_file(format!("2024-03-08-scan_ssh-{i}.csv"), options)
                .unwrap();
            z.write_all(b"timestamp,ip\n").unwrap();
            // Blank lines: nothing to report, everything to inflate.
            let line = format!("{}\n", " ".repeat(99));
            z.write_all(line.repeat(size / 100).as_bytes()).unwrap();
        }
        z.finish().unwrap();
        out
    };
    // 64 MiB of blank lines deflate to about 64 kB: a thousandfold.
    let bomb = zipped(1, 64 << 20);
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let r = parse_feed(&bomb, |_| Ok(()));
    assert!(r.reports.is_empty());
    assert!(
        r.rejected
            .last()
            .is_some_and(|e| e.reason.contains("zip bomb")),
        "{:?}",
        r.rejected
    );
    let r = parse_feed(&zipped(65, 0), |_| Ok(()));
    assert!(
        r.unsupported
            .as_deref()
            .is_some_and(|w| w.contains("65 entries")),
        "{r:?}"
    );
    let r = parse_feed(&zipped(2, 0), |_| Ok(()));
    assert!(r.unsupported.is_none() && r.rejected.is_empty(), "{r:?}");
    // A small report of repetitive rows may inflate more than a hundredfold.
    let small = zipped(1, 500_000);
    assert!(small.len() * 100 < 500_000, "{}", small.len());
    let r = parse_feed(&small, |_| Ok(()));
    assert!(r.unsupported.is_none() && r.rejected.is_empty(), "{r:?}");
}

/// A 100 000-line Shadowserver feed parses in one pass.
#[test]
fn a_hundred_thousand_line_feed_streams() {
    let mut csv = String::from("\"timestamp\",\"ip\",\"protocol\",\"port\",\"tag\"\n");
    for i in 0..100_000u32 {
        csv.push_str(&format!(
            "\"2024-03-08 10:00:00\",\"100.64.{}.{}\",\"tcp\",\"22\",\"ssh\"\n",
            i / 256 % 256,
            i % 256
        ));
    }
    let meta = FeedMeta {
        name: Some("2024-03-08-scan_ssh-nl-geo.csv"),
        received: None,
    };
    let started = std::time::Instant::now();
    let r = parse_feed_with(csv.as_bytes(), meta, |_| Ok(()));
    assert_eq!(r.reports.len(), 100_000);
    assert!(r.rejected.is_empty());
    eprintln!("100 000 lines parsed in {:?}", started.elapsed());
}

//! Streaming gives what reading the whole file gives, piece by piece.
#![allow(clippy::unwrap_used)]
use std::cell::Cell;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;

use super::*;
use crate::reports::parse_feed_with;

fn all(_: IpAddr) -> Result<(), String> {
    Ok(())
}

/// A reader that gives its data in reads of the sizes it is told, round
/// robin, and calls `before` with the offset of each read.
struct Trickle<'a> {
    data: &'a [u8],
    at: usize,
    sizes: Vec<usize>,
    turn: usize,
    before: &'a dyn Fn(usize),
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (self.before)(self.at);
        let size = self.sizes[self.turn % self.sizes.len()].max(1);
        self.turn += 1;
        let n = size.min(buf.len()).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn meta() -> FeedMeta<'static> {
    FeedMeta {
        name: Some("2024-03-08-scan_ssh-nl-geo.csv"),
        received: SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(1_709_906_400)),
    }
}

/// Streams `data` in reads of `sizes`, gathering the pieces.
fn streamed(data: &[u8], sizes: Vec<usize>) -> (ImportResult, usize) {
    let mut input = Trickle {
        data,
        at: 0,
        sizes,
        turn: 0,
        before: &|_| {},
    };
    let mut all_of = ImportResult::default();
    let mut pieces = 0;
    stream_feed(&mut input, meta(), u64::MAX, &all, &mut |p| {
        pieces += 1;
        all_of.reports.extend(p.reports);
        all_of.rejected.extend(p.rejected);
        Flow::Continue(())
    })
    .unwrap();
    (all_of, pieces)
}

/// Lines of each line-oriented dialect, good and bad: quoted commas and
/// line breaks, `""`, stray quotes mid-field, comments, blank lines, CRLF
/// and lone CR line ends.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("100.64.1.7,1709906400,trap,plain".to_owned()),
        Just("100.64.1.8,2024-03-08T14:00:00Z,trap,\"quoted, with comma\"".to_owned()),
        Just("100.64.1.9,1709906400,trap,\"two\nlines\"".to_owned()),
        Just("100.64.1.10,1709906400,trap,\"a \"\"quote\"\" in it\"".to_owned()),
        Just("100.64.1.11,1709906400,trap,a stray \" mid-field".to_owned()),
        Just("# a comment, \"with a quote".to_owned()),
        Just(String::new()),
        Just("not a report".to_owned()),
        Just("\"2024-03-08 14:00:00\",\"100.64.1.12\",\"22\",\"ssh\"".to_owned()),
        Just("100.64.2.0,100.64.2.3,yes,trap hits".to_owned()),
        Just("Hotmail FBL,2024-03-08,09:41:50,100.64.1.13".to_owned()),
        "[0-9a-z.,\" #]{0,40}",
    ]
}

/// Line ends. A lone `\r` is left out: the whole-file reader numbers a
/// line after a `\r`-ended record and a comment one too low where the csv
/// reader refills its buffer (a quirk of `Lines`, not of streaming), and
/// streaming cuts pieces at line feeds only; `old_mac_line_ends_stream`
/// covers it.
fn ending() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("\n"), Just("\r\n")]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the reads' sizes, the pieces add up to what the whole
    /// file gives: the same reports and the same rejected lines with the
    /// same numbers.
    #[test]
    fn streaming_gives_what_the_whole_file_gives(
        header in prop_oneof![
            Just("address,time,source,evidence"),
            Just("timestamp,ip,port,tag"),
            Just("first_ip,last_ip,blocked,reason"),
            Just("report_type,event_date,event_time,src_ip"),
            Just(""),
        ],
        lines in proptest::collection::vec((line(), ending()), 1..40),
        sizes in proptest::collection::vec(1usize..9000, 1..8),
    ) {
        let mut text = format!("{header}\n");
        while text.len() < 3 * HEAD {
            for (l, end) in &lines {
                text.push_str(l);
                text.push_str(end);
            }
        }
        let whole = parse_feed_with(text.as_bytes(), meta(), all);
        prop_assume!(whole.unsupported.is_none());
        let (got, pieces) = streamed(text.as_bytes(), sizes);
        // A quote left open by the repeated lines can make one record of
        // the rest of the file: streaming refuses a record past MAX_LINE
        // (a bound the whole-file reader, the oracle here, does not keep),
        // which the tests below cover.
        prop_assume!(!got.rejected.iter().any(|e| e.reason.contains("a record longer than")));
        prop_assert!(pieces > 1);
        prop_assert_eq!(got.reports, whole.reports);
        prop_assert_eq!(got.rejected, whole.rejected);
    }
}

#[test]
fn the_first_reports_are_handed_on_before_the_rest_is_read() {
    let mut text = String::from("address,time,source,evidence\n");
    while text.len() < 4 * HEAD {
        text.push_str("100.64.1.7,1709906400,trap,spam\n");
    }
    let handed = Cell::new(0usize);
    let before_last = Cell::new(None);
    let check = |at: usize| {
        if at + BLOCK >= text.len() && before_last.get().is_none() {
            before_last.set(Some(handed.get()));
        }
    };
    let mut input = Trickle {
        data: text.as_bytes(),
        at: 0,
        sizes: vec![BLOCK],
        turn: 0,
        before: &check,
    };
    stream_feed(&mut input, meta(), u64::MAX, &all, &mut |p| {
        handed.set(handed.get() + p.reports.len());
        Flow::Continue(())
    })
    .unwrap();
    let early = before_last.get().unwrap();
    assert!(
        early > 1000,
        "{early} reports handed on before the last read"
    );
    assert_eq!(handed.get(), text.lines().count() - 1);
}

#[test]
fn an_overlong_line_is_that_lines_error_and_the_rest_is_read() {
    let long = format!("100.64.1.8,1709906400,trap,{}\n", "x".repeat(MAX_LINE * 3));
    let unclosed = "100.64.1.9,1709906400,trap,\"never closed\n";
    let mut text = String::from("100.64.1.7,1709906400,trap,before\n");
    text.push_str(&long);
    text.push_str("100.64.1.7,1709906400,trap,after\n");
    text.push_str(unclosed);
    for _ in 0..(MAX_LINE / 30) {
        text.push_str("100.64.1.7,1709906400,trap,\"\"\"\"\"\"\n");
    }
    text.push_str("100.64.1.7,1709906400,trap,last\n");
    let (got, _) = streamed(text.as_bytes(), vec![4096]);
    let lines: Vec<u64> = got.rejected.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 4], "{:?}", got.rejected);
    assert!(got.rejected[0].reason.contains("longer than 65536 bytes"));
    // The unclosed quote swallows the lines after it (as CSV reads them)
    // until the record is too long; reading resumes after them.
    let reason = &got.rejected[1].reason;
    let to: usize = reason
        .strip_prefix(&format!(
            "a record longer than {MAX_LINE} bytes (an unclosed quote, or not a feed line): lines 4 to "
        ))
        .and_then(|n| n.strip_suffix(" skipped"))
        .unwrap_or_else(|| panic!("{reason}"))
        .parse()
        .unwrap();
    let good = MAX_LINE / 30;
    assert!((5..4 + good).contains(&to), "{to}");
    // Before, after, the good lines after the skipped ones, and the last.
    assert_eq!(got.reports.len(), 2 + (good - (to - 4)) + 1);
    assert_eq!(got.reports.last().unwrap().evidence, "last");
}

/// Quoted line breaks that put every resumption inside a quote again (a
/// fuzzed Shadowserver header): skipping a too long record takes the
/// lines it swallowed with it, so the file is read in linear time (this
/// took seconds when each skip went to the first line end only).
#[test]
fn quoted_line_breaks_are_skipped_in_linear_time() {
    let mut text = b"\"timestamp\",\"protocol\",\"src_ip\",".to_vec();
    while text.len() < 4 * HEAD {
        text.extend_from_slice(b"\"dst_ip\",\"dst_p#\t\n sort\",\"dst_asn\",");
    }
    let started = std::time::Instant::now();
    let (got, _) = streamed(&text, vec![BLOCK]);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(500), "{took:?}");
    assert!(
        got.rejected[0].reason.contains("longer than 65536 bytes"),
        "{:?}",
        got.rejected.first()
    );
}

#[test]
fn whole_documents_are_read_whole_and_refused_past_the_cap() {
    let arf = crate::reports::tests::ARF.as_bytes();
    let (got, pieces) = streamed(arf, vec![100]);
    assert_eq!((got.reports.len(), pieces), (1, 1));
    let mut input = arf;
    let e = stream_feed(&mut input, meta(), 1000, &all, &mut |_| Flow::Continue(()));
    assert!(
        matches!(e, Err(DetectError::FeedTooLarge { cap: 1000, .. })),
        "{e:?}"
    );
    let mut input = &b"{\"some\": \"json\"}"[..];
    let e = stream_feed(&mut input, meta(), 1000, &all, &mut |_| Flow::Continue(()));
    assert!(
        matches!(&e, Err(DetectError::Unsupported { what }) if what.contains("JSON")),
        "{e:?}"
    );
}

#[test]
fn old_mac_line_ends_stream() {
    let mut text = String::from("address,time,source,evidence\r");
    while text.len() < 4 * MAX_LINE {
        text.push_str("100.64.1.7,1709906400,trap,\"a\rb\"\r");
    }
    let whole = parse_feed_with(text.as_bytes(), meta(), all);
    let (got, pieces) = streamed(text.as_bytes(), vec![1000]);
    assert!(pieces > 2, "{pieces}");
    assert_eq!(got.rejected, vec![]);
    assert_eq!(got.reports, whole.reports);
}

/// A zipped CSV streams out of the archive in pieces (it is not inflated
/// whole first) and gives what the same CSV gives as a file.
#[test]
fn a_zipped_csv_streams_out_of_the_archive() {
    use std::io::Write as _;
    let mut csv = String::from("address,time,source,evidence\n");
    while csv.len() < 4 * HEAD {
        csv.push_str("100.64.1.7,1709906400,trap,spam\n");
    }
    let mut zip = Vec::new();
    let mut z = ::zip::ZipWriter::new(std::io::Cursor::new(&mut zip));
    z.start_file("feed.csv", ::zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(csv.as_bytes()).unwrap();
    z.finish().unwrap();
    let (got, pieces) = streamed(&zip, vec![BLOCK]);
    assert!(pieces > 2, "{pieces}");
    let whole = parse_feed_with(csv.as_bytes(), meta(), all);
    assert_eq!(got.reports, whole.reports);
    assert_eq!(got.rejected, whole.rejected);
}

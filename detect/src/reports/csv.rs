//! Cordon's own CSV feed: `address,time,source,evidence` lines, time as
//! RFC 3339 or Unix seconds, an optional header line, quoting as RFC 4180.

use std::net::IpAddr;

use super::{FEED_WEIGHT, ImportResult, LineError, Report, ReportKind, parse_address, parse_time};

/// The comment character of Cordon's CSV (`#` lines are skipped).
pub(super) const COMMENT: u8 = b'#';

pub(super) fn parse(data: &[u8], admit: &dyn Fn(IpAddr) -> Result<(), String>) -> ImportResult {
    Feed::default().piece(data, 1, admit)
}

/// A Cordon CSV feed read piece by piece (see `stream`): what it must
/// remember between pieces is whether its first record (the optional
/// header) was seen.
#[derive(Debug, Default)]
pub(super) struct Feed {
    seen_first: bool,
}

impl Feed {
    /// Parses `data`, whole records whose first starts on line `line`.
    pub(super) fn piece(
        &mut self,
        data: &[u8],
        line: u64,
        admit: &dyn Fn(IpAddr) -> Result<(), String>,
    ) -> ImportResult {
        let mut out = ImportResult::default();
        each_record(data, line, Some(COMMENT), &mut out, |out, line, record| {
            let is_header = !self.seen_first
                && record
                    .get(0)
                    .is_some_and(|f| f.eq_ignore_ascii_case("address"));
            self.seen_first = true;
            if is_header {
                return;
            }
            match csv_report(record, admit) {
                Ok(r) => out.reports.push(r),
                Err(reason) => out.rejected.push(LineError { line, reason }),
            }
        });
        out
    }
}

/// Streams the records of a CSV file (RFC 4180 quoting, fields trimmed,
/// any number of fields) to `row` with their 1-based line (`data` begins
/// on line `first_line`), one record in memory at a time. Blank records
/// are skipped; a line that is not CSV is listed in `out` and skipped.
pub(super) fn each_record(
    data: &[u8],
    first_line: u64,
    comment: Option<u8>,
    out: &mut ImportResult,
    mut row: impl FnMut(&mut ImportResult, u64, &::csv::StringRecord),
) {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .comment(comment)
        .from_reader(data);
    let mut record = ::csv::StringRecord::new();
    let mut lines = Lines::new(data, first_line, comment);
    loop {
        let start = reader.position().byte();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = lines.at(record.position().map_or(start, ::csv::Position::byte));
                if !record.iter().all(str::is_empty) {
                    row(out, line, &record);
                }
            }
            Err(e) => {
                let line = lines.at(e.position().map_or(start, ::csv::Position::byte));
                out.rejected.push(LineError {
                    line,
                    reason: format!("not a CSV line: {e}"),
                });
                // A UTF-8 error leaves the reader on the next record; any
                // other error cannot be skipped past.
                if !matches!(e.kind(), ::csv::ErrorKind::Utf8 { .. }) {
                    break;
                }
            }
        }
    }
}

/// Line numbers counted from byte offsets, by the line feeds before them.
/// The csv crate's own line count skips comment lines and miscounts `\r\n`
/// line ends, so a bad line of a CRLF file was reported one too low.
/// Offsets only grow, so each byte is counted once, and the next line feed
/// is looked for once per line feed: records ended by `\r` alone (which the
/// reader accepts) would otherwise each search the rest of the file for one
/// (seen: 8 s for 160 kB of them).
struct Lines<'a> {
    data: &'a [u8],
    /// The dialect's comment character: only its lines are stepped over
    /// (a Shadowserver row starting with `#` is a record, and was
    /// numbered as the line after it).
    comment: Option<u8>,
    counted_to: usize,
    line: u64,
    /// The first line feed at or after `searched_from`, if there is one.
    next_feed: Option<usize>,
    searched_from: usize,
}

impl<'a> Lines<'a> {
    fn new(data: &'a [u8], first_line: u64, comment: Option<u8>) -> Self {
        Lines {
            data,
            comment,
            counted_to: 0,
            line: first_line,
            next_feed: None,
            searched_from: usize::MAX,
        }
    }

    /// The first line feed at or after `byte` (offsets only grow).
    fn feed_from(&mut self, byte: usize) -> Option<usize> {
        let known = byte >= self.searched_from && self.next_feed.is_none_or(|n| n >= byte);
        if !known {
            self.searched_from = byte;
            self.next_feed = self.data[byte..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|n| byte + n);
        }
        self.next_feed
    }

    /// The 1-based line of the record starting at `byte`: past the line
    /// feeds before it, and past comment and blank lines the reader
    /// skipped on its way to the record.
    fn at(&mut self, byte: u64) -> u64 {
        let mut byte = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.data.len());
        byte = byte.max(self.counted_to);
        // Only a record found at a line's start (or at the `\n` of a `\r\n`,
        // where the reader leaves it) can have blank or comment lines before
        // it to step over; one found mid-line (after a lone `\r`) cannot, and
        // stepping there would scan the rest of its line again.
        let line_start = |b: usize| {
            b == 0
                || self.data[b - 1] == b'\n'
                || (self.data[b - 1] == b'\r' && self.data.get(b) == Some(&b'\n'))
        };
        while line_start(byte) {
            let end = self.feed_from(byte);
            let text = &self.data[byte..end.unwrap_or(self.data.len())];
            let blank = text.iter().all(u8::is_ascii_whitespace);
            let comment = self.comment.is_some_and(|c| text.first() == Some(&c));
            match end {
                Some(n) if blank || comment => byte = n + 1,
                _ => break,
            }
        }
        let newlines = self.data[self.counted_to..byte]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.line += u64::try_from(newlines).unwrap_or(0);
        self.counted_to = byte;
        self.line
    }
}

fn csv_report(
    record: &::csv::StringRecord,
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
) -> Result<Report, String> {
    if record.len() != 4 {
        return Err(format!(
            "expected 4 fields (address,time,source,evidence), found {}",
            record.len()
        ));
    }
    let field = |i: usize| record.get(i).unwrap_or_default();
    let address = parse_address(field(0))?;
    admit(address)?;
    let at = parse_time(field(1))?;
    let source = field(2);
    if source.is_empty() {
        return Err("the source field is empty; name who reported it".into());
    }
    Ok(Report {
        address,
        at,
        source: source.to_owned(),
        kind: ReportKind::Other,
        evidence: field(3).to_owned(),
        message_id: None,
        weight: FEED_WEIGHT,
    })
}

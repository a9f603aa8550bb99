//! Cordon's own CSV feed: `address,time,source,evidence` lines, time as
//! RFC 3339 or Unix seconds, an optional header line, quoting as RFC 4180.

use std::net::IpAddr;

use ::csv::StringRecord;

use super::{FEED_WEIGHT, ImportResult, LineError, Report, ReportKind, parse_address, parse_time};

/// Which addresses a feed's reports may name (the caller's subscriber
/// prefixes); why not, for the others.
pub(super) type Admit<'a> = dyn Fn(IpAddr) -> Result<(), String> + 'a;

/// What a record of a feed that makes one report per record makes: its
/// report, none (a header), or why it is refused.
pub(super) type Row = Result<Option<Report>, String>;

/// The comment character of Cordon's CSV (`#` lines are skipped).
pub(super) const COMMENT: u8 = b'#';

/// A Cordon CSV feed read piece by piece (see `stream`): what it must
/// remember between pieces is whether its first record (the optional
/// header) was seen.
#[derive(Debug, Default)]
pub(super) struct Feed {
    seen_first: bool,
}

impl Feed {
    /// The report of one record (see [`records`]); none for the header.
    pub(super) fn row(&mut self, record: &StringRecord, admit: &Admit<'_>) -> Row {
        let is_header = !self.seen_first
            && record
                .get(0)
                .is_some_and(|f| f.eq_ignore_ascii_case("address"));
        self.seen_first = true;
        if is_header {
            return Ok(None);
        }
        csv_report(record, admit).map(Some)
    }
}

/// The reports of a CSV file's records (RFC 4180 quoting, fields trimmed,
/// any number of fields), read one record at a time: `row` makes each
/// record's reports (none for a header), or says why it is refused, which
/// lists the record's 1-based line (`data` begins on line `first_line`).
/// Every CSV dialect Cordon reads goes through here, so all number their
/// lines alike. Blank records are skipped; a line that is not CSV is
/// listed and skipped.
pub(super) fn records<I: IntoIterator<Item = Report>>(
    data: &[u8],
    first_line: u64,
    comment: Option<u8>,
    mut row: impl FnMut(&StringRecord) -> Result<I, String>,
) -> ImportResult {
    let mut out = ImportResult::default();
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .comment(comment)
        .from_reader(data);
    let mut record = StringRecord::new();
    let mut lines = Lines::new(data, first_line, comment);
    loop {
        let start = reader.position().byte();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = lines.at(record.position().map_or(start, ::csv::Position::byte));
                if !record.iter().all(str::is_empty) {
                    match row(&record) {
                        Ok(reports) => out.reports.extend(reports),
                        Err(reason) => out.rejected.push(LineError { line, reason }),
                    }
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
    out
}

/// The columns of a feed whose first record is a header naming them
/// (Shadowserver's, AbuseHUB's), found once for all the rows after it, in
/// whichever piece of the file they come. A header without a column the
/// feed needs is the file's one error: the rows after it are skipped, as
/// nothing says which of their fields is which.
#[derive(Debug)]
pub(super) struct Headed<C> {
    columns: Option<C>,
    broken: bool,
}

impl<C> Default for Headed<C> {
    fn default() -> Self {
        Headed {
            columns: None,
            broken: false,
        }
    }
}

impl<C> Headed<C> {
    /// What `record` makes: when it is a row, the `report` read by the
    /// columns; none for the header (whose names `find` reads the columns
    /// from) and for every row after a broken header; `find`'s error for a
    /// broken header.
    pub(super) fn row(
        &mut self,
        record: &StringRecord,
        find: impl FnOnce(&Names) -> Result<C, String>,
        report: impl FnOnce(&C) -> Result<Report, String>,
    ) -> Row {
        if self.broken {
            return Ok(None);
        }
        let Some(columns) = &self.columns else {
            let names = Names(record.iter().map(str::to_ascii_lowercase).collect());
            match find(&names) {
                Ok(c) => self.columns = Some(c),
                Err(reason) => {
                    self.broken = true;
                    return Err(reason);
                }
            }
            return Ok(None);
        };
        report(columns).map(Some)
    }
}

/// A header row's names, lower-cased, to find columns by.
pub(super) struct Names(Vec<String>);

impl Names {
    /// The column named `name` (lower case).
    pub(super) fn at(&self, name: &str) -> Option<usize> {
        self.0.iter().position(|n| n == name)
    }
}

/// The field of `record` in column `i`; empty when the feed has no such
/// column or the row is short, as an absent optional field reads.
pub(super) fn field(record: &StringRecord, i: Option<usize>) -> &str {
    i.and_then(|i| record.get(i)).unwrap_or_default()
}

/// A row's evidence: its non-empty fields as `name: value`, joined by
/// `; `, in the order given (how the feeds that name their columns tell
/// what they reported).
pub(super) fn evidence(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}: {value}"))
        .collect::<Vec<_>>()
        .join("; ")
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
    record: &StringRecord,
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

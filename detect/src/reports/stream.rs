//! Reading a feed as it arrives, in bounded pieces, so that a feed of any
//! length is read in bounded memory and its first reports can be handed on
//! (to cordond) before the rest has been read.
//!
//! The format is told from the first [`HEAD`] bytes (all that any of the
//! recognisers looks at, so the verdict is the one the whole file would
//! get). Then:
//!
//! - **Line-oriented formats stream**: Cordon's CSV, Shadowserver's,
//!   SNDS's and AbuseHUB's. After each read, the complete records among the bytes read
//!   are parsed and handed on; only the unfinished last record is kept.
//!   Where a record ends is found by following RFC 4180 quoting exactly as
//!   the csv crate does ([`Splitter`]), so a quoted field with a line break
//!   is never cut in two. A record longer than [`MAX_LINE`] is refused as
//!   that line's error and skipped (with the lines its quoting swallowed);
//!   the rest of the file is read on.
//! - **Whole-document formats are read whole**, up to the caller's cap:
//!   mail (ARF, X-ARF 0.x, SpamCop, as one message or an mbox: a message's
//!   MIME parts end only at its end), X-ARF JSON and IODEF XML (a document
//!   is parsed as a tree, and is well-formed only at its end), and ZIP
//!   (its directory is at the end of the archive). A ZIP's entries are
//!   not inflated whole: each streams out of the archive like a file.

use std::cell::Cell;
use std::io::{self, Read};
use std::net::IpAddr;
use std::ops::ControlFlow;

use cordon_config::Config;

use super::csv::{Admit, records};
use super::{
    FeedFormat, FeedMeta, ImportResult, LineError, abusehub, csv, detect_format, parse_detected,
    shadowserver, snds, zipped,
};
use crate::error::DetectError;

/// Bytes read before the format is told: as far as any recogniser looks
/// (the XML namespace and NUL-byte sniffing look at 64 KiB).
pub const HEAD: usize = 64 << 10;

/// Bytes asked of the input at once. The complete records among them are
/// parsed and handed on before more is read.
const BLOCK: usize = 64 << 10;

/// The longest record of a line-oriented feed: a Shadowserver row is under
/// 4 KiB and evidence is clipped at 4 KiB; a longer one is a broken file
/// (an unclosed quote) or not a feed, and must not grow memory.
pub const MAX_LINE: usize = 64 << 10;

/// What a piece handler answers: go on reading, or stop (the reports can
/// no longer be delivered).
pub type Flow = ControlFlow<()>;

/// Reads a feed from `input`, handing `piece` its reports and rejected
/// lines a piece at a time, in file order. A whole-document format longer
/// than `whole_cap` bytes is refused with nothing handed on. Returns the
/// format the feed was recognised as.
pub fn stream_feed(
    input: &mut dyn Read,
    meta: FeedMeta<'_>,
    whole_cap: u64,
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
    piece: &mut dyn FnMut(ImportResult) -> Flow,
) -> Result<FeedFormat, DetectError> {
    stream(input, meta, whole_cap, admit, piece, true)
}

/// [`stream_feed`]; with `open_zip` false (a ZIP's entry), a ZIP inside
/// is not read: its format is answered and nothing handed on.
pub(super) fn stream(
    input: &mut dyn Read,
    meta: FeedMeta<'_>,
    whole_cap: u64,
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
    piece: &mut dyn FnMut(ImportResult) -> Flow,
    open_zip: bool,
) -> Result<FeedFormat, DetectError> {
    let mut buf = Vec::with_capacity(HEAD);
    let mut eof = false;
    while buf.len() < HEAD && !eof {
        let want = HEAD - buf.len();
        eof = read_block(input, &mut buf, want)?;
    }
    let format = detect_format(&buf);
    if let Some(mut feed) = LineFeed::new(format, meta) {
        stream_lines(buf, eof, input, &mut feed, admit, piece)?;
        return Ok(format);
    }
    match format {
        FeedFormat::Unsupported(what) => Err(DetectError::Unsupported { what: what.into() }),
        FeedFormat::Zip if !open_zip => Ok(format),
        _ => {
            if !eof {
                let rest = whole_cap.saturating_add(1).saturating_sub(buf.len() as u64);
                input
                    .take(rest)
                    .read_to_end(&mut buf)
                    .map_err(|source| DetectError::ReadInput { source })?;
            }
            if buf.len() as u64 > whole_cap {
                return Err(DetectError::FeedTooLarge {
                    what: whole_name(format),
                    cap: whole_cap,
                });
            }
            // A ZIP's entries stream out of the archive, each CSV in
            // pieces like a file's.
            if format == FeedFormat::Zip {
                return match zipped::stream(&buf, meta, admit, piece) {
                    Some(what) => Err(DetectError::Unsupported { what }),
                    None => Ok(format),
                };
            }
            let result = parse_detected(&buf, meta, admit);
            if let Some(what) = result.unsupported {
                return Err(DetectError::Unsupported { what });
            }
            let _ = piece(result);
            Ok(format)
        }
    }
}

/// [`stream_feed`], rejecting (and counting in [`ImportResult::outside`])
/// the addresses `config` would not quarantine, like
/// [`super::parse_for`].
pub fn stream_for(
    input: &mut dyn Read,
    meta: FeedMeta<'_>,
    whole_cap: u64,
    config: &Config,
    piece: &mut dyn FnMut(ImportResult) -> Flow,
) -> Result<FeedFormat, DetectError> {
    let outside = Cell::new(0usize);
    let admit = |ip| {
        config.subscriber_of(ip).map(|_| ()).map_err(|e| {
            outside.set(outside.get() + 1);
            e.to_string()
        })
    };
    stream_feed(input, meta, whole_cap, &admit, &mut |mut r| {
        r.outside = outside.replace(0);
        piece(r)
    })
}

/// How a whole-document format is named when it is too large.
fn whole_name(format: FeedFormat) -> &'static str {
    match format {
        FeedFormat::Arf | FeedFormat::SpamCop | FeedFormat::Xarf => "mail (one message or an mbox)",
        FeedFormat::XarfJson => "X-ARF JSON",
        FeedFormat::Iodef => "IODEF XML",
        FeedFormat::Zip => "a ZIP archive",
        _ => "a document",
    }
}

/// A line-oriented feed's parser, which keeps what it must between pieces.
pub(super) enum LineFeed<'a> {
    Csv(csv::Feed),
    Shadowserver(shadowserver::Feed<'a>),
    Snds(snds::Feed<'a>),
    AbuseHub(abusehub::Feed),
}

impl<'a> LineFeed<'a> {
    /// The parser of a line-oriented `format`; `None` for the others.
    /// A file read whole is read as one piece by the same parser.
    pub(super) fn new(format: FeedFormat, meta: FeedMeta<'a>) -> Option<Self> {
        Some(match format {
            FeedFormat::Csv => LineFeed::Csv(csv::Feed::default()),
            FeedFormat::Shadowserver => LineFeed::Shadowserver(shadowserver::Feed::new(meta)),
            FeedFormat::Snds => LineFeed::Snds(snds::Feed::new(meta)),
            FeedFormat::AbuseHub => LineFeed::AbuseHub(abusehub::Feed::default()),
            _ => return None,
        })
    }

    /// Parses `data`, whole records whose first starts on line `line`.
    pub(super) fn piece(&mut self, data: &[u8], line: u64, admit: &Admit<'_>) -> ImportResult {
        let comment = self.comment();
        match self {
            LineFeed::Csv(f) => records(data, line, comment, |r| f.row(r, admit)),
            LineFeed::Shadowserver(f) => records(data, line, comment, |r| f.row(r, admit)),
            LineFeed::Snds(f) => records(data, line, comment, |r| f.row(r, admit)),
            LineFeed::AbuseHub(f) => records(data, line, comment, |r| f.row(r, admit)),
        }
    }

    fn comment(&self) -> Option<u8> {
        match self {
            LineFeed::Csv(_) => Some(csv::COMMENT),
            LineFeed::Shadowserver(_) | LineFeed::Snds(_) | LineFeed::AbuseHub(_) => None,
        }
    }
}

fn stream_lines(
    mut buf: Vec<u8>,
    mut eof: bool,
    input: &mut dyn Read,
    feed: &mut LineFeed<'_>,
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
    piece: &mut dyn FnMut(ImportResult) -> Flow,
) -> Result<(), DetectError> {
    let mut split = Splitter::new(feed.comment());
    // The line `buf` starts on, and how much of it the splitter has seen.
    let mut line = 1u64;
    let mut scanned = 0;
    // Dropping an overlong record's bytes up to the end of its line.
    let mut skipping = false;
    loop {
        if skipping {
            let end = buf.iter().position(|&b| b == b'\n').map(|n| n + 1);
            let drop = end.unwrap_or(buf.len());
            line += newlines(&buf[..drop]);
            buf.drain(..drop);
            if end.is_some() {
                skipping = false;
                split = Splitter::new(feed.comment());
            }
            scanned = 0;
        }
        if !skipping {
            split.scan(&buf[scanned..], scanned);
            scanned = buf.len();
            let cut = if eof && buf.len() <= MAX_LINE {
                buf.len()
            } else if split.boundary == 0 && buf.len() > MAX_LINE {
                // Records ended by a lone `\r` (old Mac files) only.
                split.any_boundary
            } else {
                split.boundary
            };
            if cut > 0 {
                let result = feed.piece(&buf[..cut], line, admit);
                line += newlines(&buf[..cut]);
                buf.drain(..cut);
                split.shift(cut);
                scanned -= cut;
                if piece(result).is_break() {
                    return Ok(());
                }
            }
            if buf.len() > MAX_LINE {
                // The record at `line` has not ended within MAX_LINE bytes:
                // it is skipped with every whole line read after it (by
                // CSV's quoting they belong to it), and reading resumes at
                // the last line begun, quoting afresh. Skipping only to
                // its first line end would make a file of quoted line
                // breaks resume inside a quote again and again, each time
                // scanning the buffer anew.
                let end = buf.iter().rposition(|&b| b == b'\n').map(|n| n + 1);
                let reason = match end {
                    Some(end) => format!(
                        "a record longer than {MAX_LINE} bytes (an unclosed quote, or not a feed line): lines {line} to {} skipped",
                        line + newlines(&buf[..end]) - 1
                    ),
                    None => format!(
                        "a record longer than {MAX_LINE} bytes (an unclosed quote, or not a feed line): skipped up to the end of its line"
                    ),
                };
                let refused = ImportResult {
                    rejected: vec![LineError { line, reason }],
                    ..ImportResult::default()
                };
                if piece(refused).is_break() {
                    return Ok(());
                }
                match end {
                    Some(end) => {
                        line += newlines(&buf[..end]);
                        buf.drain(..end);
                        split = Splitter::new(feed.comment());
                        scanned = 0;
                    }
                    None => skipping = true,
                }
                continue;
            }
        }
        if eof {
            // What is left (a last record after an overlong one) is read
            // on; each round leaves less.
            if buf.is_empty() {
                return Ok(());
            }
            continue;
        }
        eof = read_block(input, &mut buf, BLOCK)?;
    }
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Appends at most `most` bytes read from `input` to `buf`; true at the
/// end of the input.
fn read_block(input: &mut dyn Read, buf: &mut Vec<u8>, most: usize) -> Result<bool, DetectError> {
    let start = buf.len();
    buf.resize(start + most, 0);
    loop {
        match input.read(&mut buf[start..]) {
            Ok(n) => {
                buf.truncate(start + n);
                return Ok(n == 0);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                buf.truncate(start);
                return Err(DetectError::ReadInput { source });
            }
        }
    }
}

/// Where CSV records end, found by following the quoting the way the csv
/// crate's reader does (RFC 4180: a field quoted from its first byte may
/// hold commas and line breaks, `""` is a quote inside it; a quote later in
/// a field is an ordinary character; `\r`, `\n` and `\r\n` end records; a
/// comment line ends at `\n`).
#[derive(Debug)]
struct Splitter {
    state: State,
    comment: Option<u8>,
    /// Where the last complete record ended with a line feed (an offset
    /// into the buffer). Pieces are cut there: a piece then starts on a
    /// line of its own, and its line numbers are those of the whole file.
    boundary: usize,
    /// Where the last complete record ended, by a lone `\r` too.
    any_boundary: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    RecordStart,
    FieldStart,
    Field,
    Quoted,
    QuoteInQuoted,
    Comment,
    /// After a `\r` that ended a record: a `\n` next belongs to it.
    AfterCr,
}

impl Splitter {
    fn new(comment: Option<u8>) -> Self {
        Splitter {
            state: State::RecordStart,
            comment,
            boundary: 0,
            any_boundary: 0,
        }
    }

    /// The buffer lost its first `by` bytes.
    fn shift(&mut self, by: usize) {
        self.boundary = self.boundary.saturating_sub(by);
        self.any_boundary = self.any_boundary.saturating_sub(by);
    }

    /// Follows `bytes`, which sit at offset `base` of the buffer.
    fn scan(&mut self, bytes: &[u8], base: usize) {
        for (i, &b) in bytes.iter().enumerate() {
            self.step(b, base + i);
        }
    }

    fn step(&mut self, b: u8, at: usize) {
        use State::*;
        if self.state == AfterCr {
            self.state = RecordStart;
            if b == b'\n' {
                self.boundary = at + 1;
                self.any_boundary = at + 1;
                return;
            }
            self.any_boundary = at;
        }
        self.state = match (self.state, b) {
            (Quoted, b'"') => QuoteInQuoted,
            (Quoted, _) => Quoted,
            (Comment, b'\n') => {
                self.boundary = at + 1;
                self.any_boundary = at + 1;
                RecordStart
            }
            (Comment, _) => Comment,
            (RecordStart, _) if Some(b) == self.comment => Comment,
            (RecordStart | FieldStart, b'"') | (QuoteInQuoted, b'"') => Quoted,
            (_, b',') => FieldStart,
            (_, b'\n') => {
                self.boundary = at + 1;
                self.any_boundary = at + 1;
                RecordStart
            }
            (_, b'\r') => AfterCr,
            _ => Field,
        };
    }
}

#[cfg(test)]
mod tests;

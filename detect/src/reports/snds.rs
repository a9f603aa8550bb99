//! Microsoft SNDS IP status (`first_ip,last_ip,blocked,reason`): ranges of
//! IPv4 addresses Outlook.com blocks or junks for spam (trap hits, user
//! complaints). Each subscriber address inside a range is one report of
//! kind spam; the others are left out silently (a range often spans more
//! than the subscriber prefixes), and a range with none is listed.
//!
//! The rows carry no time: the reports are dated when the file was
//! received ([`FeedMeta::received`], the file's modification time).

use std::net::{IpAddr, Ipv4Addr};

use ::csv::StringRecord;

use super::csv::Admit;
use super::{FEED_WEIGHT, FeedMeta, Report, ReportKind};

/// The sender named on every report.
const SOURCE: &str = "snds";

/// Most addresses one row may expand to (a /16): SNDS lists what the
/// subscriber's own registration covers, so a larger range is a mistake
/// (or an attempt to make the import expand millions of reports).
pub(super) const MAX_RANGE: u32 = 65_536;

/// Most addresses the rows of one file may expand to together (two /16s):
/// a few hundred bytes of rows must not become millions of reports.
pub(super) const MAX_ADDRESSES: u64 = 131_072;

/// An SNDS file read piece by piece (see `stream`): the addresses its
/// rows expanded to so far count against [`MAX_ADDRESSES`] across pieces.
pub(super) struct Feed<'a> {
    meta: FeedMeta<'a>,
    expanded: u64,
}

impl<'a> Feed<'a> {
    pub(super) fn new(meta: FeedMeta<'a>) -> Self {
        Feed { meta, expanded: 0 }
    }

    /// The reports of one record (see [`records`](super::csv::records));
    /// none for the header.
    pub(super) fn row(
        &mut self,
        record: &StringRecord,
        admit: &Admit<'_>,
    ) -> Result<Vec<Report>, String> {
        if record
            .get(0)
            .is_some_and(|f| f.eq_ignore_ascii_case("first_ip"))
        {
            return Ok(Vec::new());
        }
        range(record, self.meta, admit, &mut self.expanded)
    }
}

fn range(
    record: &::csv::StringRecord,
    meta: FeedMeta<'_>,
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
    expanded: &mut u64,
) -> Result<Vec<Report>, String> {
    if record.len() < 3 {
        return Err(format!(
            "expected SNDS fields first_ip,last_ip,blocked,reason, found {}",
            record.len()
        ));
    }
    let field = |i: usize| record.get(i).unwrap_or_default();
    let ip = |i: usize| {
        field(i).parse::<Ipv4Addr>().map_err(|_| {
            format!(
                "`{}` is not an IPv4 address (SNDS lists IPv4 only)",
                field(i)
            )
        })
    };
    let (first, last) = (u32::from(ip(0)?), u32::from(ip(1)?));
    if last < first {
        return Err(format!(
            "the range {}-{} ends before it starts",
            field(0),
            field(1)
        ));
    }
    let count = u64::from(last - first) + 1;
    if count > u64::from(MAX_RANGE) {
        return Err(format!(
            "the range {}-{} holds {count} addresses, more than the {MAX_RANGE} one SNDS row may stand for; check the file",
            field(0),
            field(1)
        ));
    }
    if *expanded + count > MAX_ADDRESSES {
        return Err(format!(
            "the file's ranges expand past {MAX_ADDRESSES} addresses; split it (SNDS lists what one registration covers)"
        ));
    }
    *expanded += count;
    let at = meta.received.ok_or(
        "SNDS IP status rows carry no time, and the file's time is unknown; import it as a file",
    )?;
    let evidence = format!("blocked: {}; reason: {}", field(2), field(3));
    let mut reports = Vec::new();
    let mut refused = None;
    for n in first..=last {
        let address = IpAddr::V4(Ipv4Addr::from(n));
        match admit(address) {
            Ok(()) => reports.push(Report {
                address,
                at,
                source: SOURCE.to_owned(),
                kind: ReportKind::Spam,
                evidence: evidence.clone(),
                message_id: None,
                weight: FEED_WEIGHT,
            }),
            Err(e) => {
                refused.get_or_insert(e);
            }
        }
    }
    match refused {
        Some(e) if reports.is_empty() => Err(format!(
            "no subscriber address in {}-{}: {e}",
            field(0),
            field(1)
        )),
        _ => Ok(reports),
    }
}

//! The feeds the benchmark sends: a Shadowserver botnet-drone CSV shaped
//! like `detect/tests/samples/2016-07-24-botnet_drone-nl-geo.csv` (the same
//! 34 columns), zipped as their mails carry it, and ARF messages shaped
//! like a feedback loop's (RFC 5965, `Source-IP`), each run's with its own
//! ports and Message-IDs so that no report of a run is a duplicate of an
//! earlier one.

use std::io::Write as _;
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

/// The column header of Shadowserver's botnet-drone report (as in the
/// sample).
const HEADER: &str = "\"timestamp\",\"ip\",\"port\",\"asn\",\"geo\",\"region\",\"city\",\"hostname\",\"type\",\"infection\",\"url\",\"agent\",\"cc\",\"cc_port\",\"cc_asn\",\"cc_geo\",\"cc_dns\",\"count\",\"proxy\",\"application\",\"p0f_genre\",\"p0f_detail\",\"machine_name\",\"id\",\"naics\",\"sic\",\"cc_naics\",\"cc_sic\",\"sector\",\"cc_sector\",\"ssl_cipher\",\"family\",\"tag\",\"public_source\"";

/// The file name Shadowserver gives the report (it names the type).
pub const CSV_NAME: &str = "2016-07-24-botnet_drone-nl-geo.csv";

/// Addresses the reports are spread over: 100.64.128.0 on, inside the
/// lab's subscriber prefix 100.64.0.0/16.
pub const ADDRESSES: usize = 25_000;

/// The `i`th address reports are about.
pub fn address(i: usize) -> Ipv4Addr {
    let base = u32::from(Ipv4Addr::new(100, 64, 128, 0));
    Ipv4Addr::from(base + u32::try_from(i % ADDRESSES).unwrap_or(0))
}

/// `2024-03-08 14:00:00` (UTC), Shadowserver's timestamps.
fn shadowserver_time(t: SystemTime) -> String {
    let s = humantime::format_rfc3339_seconds(t).to_string();
    s.trim_end_matches('Z').replacen('T', " ", 1)
}

/// Run `k`'s CSV: `lines` rows, row `i` about [`address`]`(i)`, an hour
/// and `i` seconds before `now` (inside the report window), source port
/// `1024 + k` (Shadowserver's event id is address, time, port and
/// infection: each run's rows are new events).
pub fn shadowserver_csv(k: usize, lines: usize, now: SystemTime) -> String {
    let mut out = String::with_capacity(lines * 230);
    out.push_str(HEADER);
    out.push('\n');
    let port = 1024 + k;
    for i in 0..lines {
        let at = now - Duration::from_secs(3600 + i as u64);
        out.push_str(&format!(
            "\"{}\",\"{}\",\"{port}\",\"64496\",\"NL\",\"NOORD-HOLLAND\",\"AMSTERDAM\",\"\",\"tcp\",\"conficker\",\"\",\"\",\"192.0.2.53\",\"80\",\"64511\",\"US\",\"\",\"1\",\"\",\"\",\"Windows\",\"XP/2000\",\"\",\"\",\"517111\",\"\",\"\",\"\",\"\",\"\",\"\",\"conficker\",\"\",\"\"\n",
            shadowserver_time(at),
            address(i)
        ));
    }
    out
}

/// `csv` as Shadowserver mails it: one deflated entry named [`CSV_NAME`].
pub fn zipped(csv: &str) -> Result<Vec<u8>> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file(CSV_NAME, options).context("zipping the CSV")?;
    w.write_all(csv.as_bytes()).context("zipping the CSV")?;
    Ok(w.finish().context("zipping the CSV")?.into_inner())
}

/// `Fri, 08 Mar 2024 14:00:00 +0000`, as mail dates are written.
fn mail_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    // 2024-03-08T14:00:00Z
    let s = humantime::format_rfc3339_seconds(t).to_string();
    let month = s
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{}, {} {month} {} {} +0000",
        DAYS[(days % 7) as usize],
        s.get(8..10).unwrap_or("01"),
        s.get(0..4).unwrap_or("1970"),
        s.get(11..19).unwrap_or("00:00:00"),
    )
}

/// Run `k`'s ARF messages as an MTA delivers them (no mbox `From ` line),
/// message `i` about [`address`]`(i)`, Message-ID `<bench-K-I@…>`.
pub fn arf_messages(k: usize, n: usize, now: SystemTime) -> Vec<String> {
    (0..n)
        .map(|i| {
            let date = mail_date(now - Duration::from_secs(600 + i as u64));
            let ip = address(i);
            cordon_lab::reports::arf_report(
                &ip.to_string(),
                &date,
                &format!("bench-{k}-{i}"),
                "BenchFbl/1.0",
            )
        })
        .collect()
}

/// The messages as one mbox file, each after its `From ` line.
pub fn mbox(messages: &[String], now: SystemTime) -> String {
    let from = format!("From fbl@fbl.example.net {}\n", mail_date(now));
    let mut out = String::with_capacity(messages.iter().map(|m| m.len() + 64).sum());
    for m in messages {
        out.push_str(&from);
        out.push_str(m);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_dates_are_rfc_2822() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_906_400);
        assert_eq!(mail_date(t), "Fri, 08 Mar 2024 14:00:00 +0000");
        assert_eq!(shadowserver_time(t), "2024-03-08 14:00:00");
    }
}

//! Outside reports handed in through `cordon report`: CSV and ARF, scored
//! up to the threshold, bad lines listed, non-subscribers refused.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use cordon_lab::{Lab, wait_for};
use cordon_proto::time::{Clock, SystemClock};

use super::common::lab;
use super::quarantined_in_kernel;

/// An ARF report (RFC 5965) about `ip`, dated now, for message `id`.
pub(super) fn arf(ip: &str, id: &str) -> String {
    let date = String::from_utf8(Command::new("date").arg("-R").output().unwrap().stdout).unwrap();
    let date = date.trim();
    format!(
        "From fbl@fbl.example.net {date}\n{}\n",
        cordon_lab::reports::arf_report(ip, date, id, "LabFbl/1.0")
    )
}

fn write(lab: &Lab, name: &str, text: &str) -> PathBuf {
    let path = lab.run_dir().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn reports_from_csv_and_arf_quarantine_at_the_score_and_bad_lines_are_listed() {
    let lab = lab("reports")
        .subscribers(3)
        .report_score(3)
        .daemons(true)
        .up()
        .unwrap();
    let (a, b, c) = (
        lab.subscriber(0).ipv4().to_string(),
        lab.subscriber(1).ipv4().to_string(),
        lab.subscriber(2).ipv4().to_string(),
    );
    let t = SystemClock.now() - 60;
    let csv = write(
        &lab,
        "feed.csv",
        &format!(
            "address,time,source,evidence\n\
{a},{t},spamtrap-1,spam to trap\n\
{a},{t},spamtrap-2,\"spam, again\"\n\
this is not a report\n\
{a},{t},abuse-desk,customer complaint\n\
198.51.100.7,{t},spamtrap-1,not our subscriber\n\
100.64.0.1,{t},spamtrap-1,the portal itself\n\
{c},{t},spamtrap-1,one\n\
{c},{t},spamtrap-2,two\n"
        ),
    );
    // Three complaints about b, one of them sent twice, and one cut short.
    let truncated: String = arf(&b, "cut")
        .lines()
        .take(12)
        .collect::<Vec<_>>()
        .join("\n");
    let mbox = format!(
        "{}{}{}{}{truncated}\n",
        arf(&b, "m1"),
        arf(&b, "m2"),
        arf(&b, "m1"),
        arf(&b, "m3")
    );
    let arf_file = write(&lab, "fbl.mbox", &mbox);

    let out = lab
        .cordon(&["import", csv.to_str().unwrap(), arf_file.to_str().unwrap()])
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    // Bad lines are listed with their numbers, and nothing valid is lost.
    for line in ["line 4:", "line 6:", "line 7:"] {
        assert!(stderr.contains(line), "{line} missing: {stderr}");
    }
    assert!(stderr.contains("fbl.mbox: line "), "{stderr}");
    // Each file's outcome, honestly: what counted, what was a duplicate,
    // what lay outside the subscriber prefixes, what could not be read.
    assert!(
        stdout.contains(
            "feed.csv: 5 reports accepted (5 counted), 2 outside the subscriber prefixes, 1 lines unreadable"
        ),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("fbl.mbox: 4 reports accepted (3 counted, 1 duplicates), 1 lines unreadable"),
        "{stdout}"
    );

    // a: three CSV reports; b: three distinct complaints (the duplicate
    // counts once); c: two reports, below the score.
    for addr in [&a, &b] {
        let h = lab.show(addr).unwrap();
        assert_eq!(h["state"], "quarantined", "{addr}: {h}");
        assert_eq!(h["reason"], "report", "{h}");
        assert_eq!(h["evidence"]["score"], 3, "{h}");
        assert!(quarantined_in_kernel(&lab, addr));
    }
    let h = lab.show(&c).unwrap();
    assert_eq!(
        (h["state"].as_str(), h["report_score"].as_u64()),
        (Some("clean"), Some(2)),
        "{h}"
    );
    let history = lab.cordon_ok(&["history", &b]).unwrap();
    assert!(
        history.contains("report from mx1.complaints.example.net"),
        "{history}"
    );

    // The abuse desk's third report brings c to the score.
    let said = lab
        .cordon_ok(&[
            "report",
            &c,
            "--source",
            "abuse-desk",
            "--evidence",
            "phoned in",
        ])
        .unwrap();
    assert!(said.contains("score 3 of 3, quarantined"), "{said}");
    assert!(quarantined_in_kernel(&lab, &c));

    // A feed with nothing valid: exit 2, nobody touched.
    let junk = write(&lab, "junk.csv", "garbage\n198.51.100.9,0,x,y\n");
    let out = lab.cordon(&["import", junk.to_str().unwrap()]).unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A report about a non-subscriber is refused as bad input.
    let out = lab
        .cordon(&["report", "198.51.100.9", "--source", "x", "--evidence", "y"])
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A feed on a pipe streams: its first reports count in cordond while the
/// writer still holds the pipe open (a CLI that read the feed whole first
/// would count nothing until the writer closed it), and the totals at the
/// end are those of the whole feed.
#[test]
fn a_feed_on_a_pipe_counts_its_first_reports_before_the_writer_closes_it() {
    use std::io::Write as _;

    let lab = lab("repstream")
        .subscribers(1)
        .report_score(1_000_000)
        .daemons(true)
        .up()
        .unwrap();
    let a = lab.subscriber(0).ipv4().to_string();
    let t = SystemClock.now() - 60;
    let lines = |from: usize, to: usize| -> String {
        (from..to)
            .map(|n| format!("{a},{t},spamtrap,trap hit {n}\n"))
            .collect()
    };
    // More than the 64 KiB the format is told from, then a pause.
    let (first, total) = (4000, 6000);
    let mut child = super::import_from_stdin(&lab);
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("address,time,source,evidence\n{}", lines(0, first)).as_bytes())
        .unwrap();
    stdin.flush().unwrap();
    let score = || lab.show(&a).unwrap()["report_score"].as_u64().unwrap_or(0);
    let seen = wait_for(
        Duration::from_secs(30),
        "the first reports to count while the pipe is open",
        || score() > 0,
    );
    let early = score();
    assert!(
        child.try_wait().unwrap().is_none(),
        "cordon import exited before its input ended"
    );
    seen.unwrap();
    assert!((1..=first as u64).contains(&early), "{early}");
    stdin.write_all(lines(first, total).as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "standard input: {total} reports accepted ({total} counted)\n"
        )),
        "{stdout}"
    );
    assert_eq!(score(), total as u64);
}

//! Abuse reports: how many reports a second cordond takes through `cordon
//! import` and through the abuse Maildir, for a 100 000-line Shadowserver
//! CSV and for 10 000 ARF messages, each beside the parse alone of the same
//! bytes in this process (`cordon_detect`, what the path could do at best
//! if storing and scoring cost nothing), measured in the same run, rounds
//! alternating the sides.
//!
//! The lab's report score is set far above anything the run adds up, so
//! nothing is quarantined: the figures are the intake (check, attribute,
//! store, score), not kernel changes. Reports are spread over
//! [`feeds::ADDRESSES`] addresses. Each run sends new events (its own
//! source port in the CSV, its own Message-IDs), so none is a duplicate.
//!
//! The benchmark checks its own result: after every run cordond's
//! `cordon_reports_total{counted="true"}` rose by exactly the reports sent
//! and `counted="false"` not at all, every message is in `cur/`, and at the
//! end `cordon show` gives two addresses exactly the score all the runs
//! added. A failed check is an error, not a figure.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use cordon_config::Config;
use cordon_detect::reports::parse_feed;
use cordon_lab::Lab;

use crate::metrics::Scrape;

mod feeds;
mod report;

/// Lines of the Shadowserver CSV.
const LINES: usize = 100_000;
/// ARF messages.
const MESSAGES: usize = 10_000;
/// Rounds; each measures every row, both sides.
const ROUNDS: usize = 3;
/// The lab's report score: far above what the run adds to any address.
const SCORE: u32 = 1_000_000;
/// How long one run may take before the benchmark gives up.
const DEADLINE: Duration = Duration::from_secs(120);
/// Pause between two looks at `cur/`.
const POLL: Duration = Duration::from_millis(20);

/// The four ways in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Row {
    CliCsv,
    CliArf,
    MaildirCsv,
    MaildirArf,
}

const ROWS: [Row; 4] = [Row::CliCsv, Row::CliArf, Row::MaildirCsv, Row::MaildirArf];

impl Row {
    /// Reports one run sends.
    fn reports(self) -> usize {
        match self {
            Row::CliCsv | Row::MaildirCsv => LINES,
            Row::CliArf | Row::MaildirArf => MESSAGES,
        }
    }
}

/// One row's times over the rounds.
#[derive(Debug, Default, Clone)]
struct Times {
    ours: Vec<Duration>,
    reference: Vec<Duration>,
}

/// What the run measured.
#[derive(Debug)]
struct Measured {
    times: Vec<(Row, Times)>,
    /// Bytes of the CSV, of its ZIP, and of the mbox.
    csv_bytes: usize,
    zip_bytes: usize,
    mbox_bytes: usize,
    /// cordond's store commits per run, by row (medians).
    commits: Vec<(Row, f64)>,
    /// Reports cordond counted over the whole run.
    counted: f64,
}

/// One run's inputs.
struct Feed {
    csv: String,
    zip: Vec<u8>,
    messages: Vec<String>,
    mbox: String,
}

impl Feed {
    fn new(k: usize) -> Result<Feed> {
        let now = SystemTime::now();
        let csv = feeds::shadowserver_csv(k, LINES, now);
        let zip = feeds::zipped(&csv)?;
        let messages = feeds::arf_messages(k, MESSAGES, now);
        let mbox = feeds::mbox(&messages, now);
        Ok(Feed {
            csv,
            zip,
            messages,
            mbox,
        })
    }
}

struct Bench<'a> {
    lab: &'a Lab,
    config: Config,
    maildir: PathBuf,
    /// Where the feed files are written.
    files: PathBuf,
    /// Runs against cordond so far (each with its own feed).
    runs: usize,
    counted: f64,
    commits: Vec<(Row, f64)>,
    /// Seconds cordond spent waiting on store commits in the last run.
    store_seconds: f64,
}

impl Bench<'_> {
    /// The parse alone, in this process: what the row's path does before
    /// anything reaches cordond.
    fn reference(&self, row: Row, feed: &Feed) -> Result<Duration> {
        let admit = |ip| {
            self.config
                .subscriber_of(ip)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        // The CLI's rows read the file as `cordon import` does; it is
        // written before the clock starts.
        let file = match row {
            Row::CliCsv => Some(self.write(feeds::CSV_NAME, &feed.csv)?),
            Row::CliArf => Some(self.write("fbl.mbox", &feed.mbox)?),
            Row::MaildirCsv | Row::MaildirArf => None,
        };
        let t = Instant::now();
        let n = match (row, file) {
            (Row::CliCsv | Row::CliArf, Some(f)) => {
                cordon_detect::import_for(&f, &self.config)?.reports.len()
            }
            (Row::CliCsv | Row::CliArf, None) => 0,
            (Row::MaildirCsv, _) => parse_feed(&feed.zip, admit).reports.len(),
            (Row::MaildirArf, _) => feed
                .messages
                .iter()
                .map(|m| parse_feed(m.as_bytes(), admit).reports.len())
                .sum(),
        };
        let took = t.elapsed();
        if n != row.reports() {
            bail!("{row:?}: the parse found {n} reports of {}", row.reports());
        }
        Ok(took)
    }

    fn write(&self, name: &str, text: &str) -> Result<PathBuf> {
        let path = self.files.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// One run through cordond, with a feed of its own; checks that every
    /// report was counted.
    fn ours(&mut self, row: Row) -> Result<Duration> {
        let feed = Feed::new(self.runs)?;
        self.runs += 1;
        let gw = self.lab.gateway();
        let before = Scrape::fetch(&gw)?;
        let took = match row {
            Row::CliCsv => self.import(&self.write(feeds::CSV_NAME, &feed.csv)?)?,
            Row::CliArf => self.import(&self.write("fbl.mbox", &feed.mbox)?)?,
            Row::MaildirCsv => self.deliver(std::slice::from_ref(&feed.zip))?,
            Row::MaildirArf => {
                let messages: Vec<&[u8]> = feed.messages.iter().map(|m| m.as_bytes()).collect();
                self.deliver(&messages)?
            }
        };
        let after = Scrape::fetch(&gw)?;
        let delta = |label: &str| {
            after.sum_with("cordon_reports_total", label)
                - before.sum_with("cordon_reports_total", label)
        };
        let (counted, not) = (delta("counted=\"true\""), delta("counted=\"false\""));
        if counted != row.reports() as f64 || not != 0.0 {
            bail!(
                "{row:?}: sent {} reports, cordond counted {counted} and did not count {not}",
                row.reports()
            );
        }
        self.counted += counted;
        let commits = after.sum("cordon_store_write_seconds_count")
            - before.sum("cordon_store_write_seconds_count");
        self.commits.push((row, commits));
        self.store_seconds = after.sum("cordon_store_write_seconds_sum")
            - before.sum("cordon_store_write_seconds_sum");
        Ok(took)
    }

    /// `cordon import FILE`, timed from start to exit.
    fn import(&self, file: &Path) -> Result<Duration> {
        let name = file.display().to_string();
        let t = Instant::now();
        let out = self.lab.cordon(&["import", &name])?;
        let took = t.elapsed();
        if !out.status.success() {
            bail!(
                "cordon import {name}: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(took)
    }

    /// Delivers `messages` as an MTA does (written in `tmp/`, renamed into
    /// `new/`); timed from the first write until the last is in `cur/`.
    fn deliver<M: AsRef<[u8]>>(&self, messages: &[M]) -> Result<Duration> {
        let (tmp, new, cur) = (
            self.maildir.join("tmp"),
            self.maildir.join("new"),
            self.maildir.join("cur"),
        );
        let run = self.runs;
        let t = Instant::now();
        for (i, m) in messages.iter().enumerate() {
            let name = format!("1700000000.R{run}M{i:05}P1.mx.isp.example");
            std::fs::write(tmp.join(&name), m).context("writing a message into tmp/")?;
            std::fs::rename(tmp.join(&name), new.join(&name))
                .context("moving a message into new/")?;
        }
        loop {
            if count(&cur)? == messages.len() {
                break;
            }
            // cordond makes failed/ at the first failure.
            let failed = self.maildir.join("failed");
            if failed.exists() && count(&failed)? > 0 {
                bail!("cordond moved a message to failed/ (see its log)");
            }
            if t.elapsed() > DEADLINE {
                bail!(
                    "{} of {} messages in cur/ after {DEADLINE:?}",
                    count(&cur)?,
                    messages.len()
                );
            }
            std::thread::sleep(POLL);
        }
        let took = t.elapsed();
        for e in std::fs::read_dir(&cur)? {
            std::fs::remove_file(e?.path())?;
        }
        Ok(took)
    }

    /// The score `cordon show` gives `address(i)` equals what the runs sent
    /// about it.
    fn check_score(&self, i: usize, runs: &[Row]) -> Result<()> {
        let weights = &self.config.detection.reports.weights;
        let bot = cordon_detect::reports::ReportKind::Bot.weight(weights);
        let spam = cordon_detect::reports::ReportKind::Spam.weight(weights);
        let about = |n: usize| (0..n).filter(|j| j % feeds::ADDRESSES == i).count();
        let want: usize = runs
            .iter()
            .map(|row| match row {
                Row::CliCsv | Row::MaildirCsv => about(LINES) * bot as usize,
                Row::CliArf | Row::MaildirArf => about(MESSAGES) * spam as usize,
            })
            .sum();
        let a = feeds::address(i).to_string();
        let shown = self.lab.show(&a)?;
        if shown["report_score"].as_u64() != Some(want as u64) {
            bail!(
                "cordon show {a}: report score {}, expected {want}",
                shown["report_score"]
            );
        }
        Ok(())
    }
}

/// Entries in `dir`.
fn count(dir: &Path) -> Result<usize> {
    Ok(std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .count())
}

fn measure(lab: &Lab) -> Result<Measured> {
    let maildir = lab.gateway().control_socket().with_file_name("Maildir");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub))?;
    }
    let files = lab.run_dir().join("bench-feeds");
    std::fs::create_dir_all(&files)?;
    let mut b = Bench {
        lab,
        config: lab.config().clone(),
        maildir,
        files,
        runs: 0,
        counted: 0.0,
        commits: Vec::new(),
        store_seconds: 0.0,
    };
    let sample = Feed::new(usize::MAX / 2)?;
    let mut times: Vec<(Row, Times)> = ROWS.iter().map(|&r| (r, Times::default())).collect();
    let mut sent = Vec::new();
    for round in 0..ROUNDS {
        for (row, t) in &mut times {
            let ours_first = round % 2 == 1;
            for side in [ours_first, !ours_first] {
                if side {
                    // Each run's time with the store's size before it: an
                    // import must not slow down as the store grows.
                    let stored = b.counted;
                    let took = b.ours(*row)?;
                    eprintln!(
                        "cordon-bench: reports: round {}, {row:?}: {} ms, {:.0} ms of it in store commits ({stored} reports stored before)",
                        round + 1,
                        took.as_millis(),
                        b.store_seconds * 1000.0
                    );
                    t.ours.push(took);
                    sent.push(*row);
                } else {
                    t.reference.push(b.reference(*row, &sample)?);
                }
            }
        }
        eprintln!("cordon-bench: reports: round {} done", round + 1);
    }
    b.check_score(0, &sent)?;
    b.check_score(feeds::ADDRESSES - 1, &sent)?;
    Ok(Measured {
        times,
        csv_bytes: sample.csv.len(),
        zip_bytes: sample.zip.len(),
        mbox_bytes: sample.mbox.len(),
        commits: b.commits,
        counted: b.counted,
    })
}

/// Runs the reports benchmark and returns its Markdown section.
pub fn run(bin: &Path) -> Result<String> {
    let lab = crate::lab::with_cordond("brep", bin)
        .subscribers(1)
        .report_score(SCORE)
        .configure(|c| {
            c.detection.reports.maildir = Some(c.control.socket.with_file_name("Maildir"));
        })
        .up()?;
    report::section(&crate::lab::measure_in(lab, measure)?)
}

//! Following the gateway's kernel during the outbreak: `nft monitor`
//! reports each element as its transaction commits (the moment a
//! quarantine is enforced), and the `alerted_v4` set, read every 2 s,
//! holds every source the kernel logged a crossing for in the last 10 s.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// How often `alerted_v4` is read: well within its 10 s timeout, so no
/// logged crossing expires unseen.
const SAMPLE_EVERY: Duration = Duration::from_secs(2);

type Seen = Arc<Mutex<BTreeMap<Ipv4Addr, Instant>>>;

/// `nft monitor elements` in the gateway: when each address entered the
/// quarantine set.
pub(super) struct Monitor {
    child: Child,
    reader: Option<JoinHandle<()>>,
    seen: Seen,
}

impl Monitor {
    /// Starts the monitor and waits until it listens.
    pub(super) fn start(netns: &str, table: &str) -> Result<Monitor> {
        // Line-buffered: each element is read the moment nft prints it.
        let mut child = Command::new("ip")
            .args([
                "netns", "exec", netns, "stdbuf", "-oL", "nft", "monitor", "elements",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("running nft monitor")?;
        let out = child.stdout.take().context("nft monitor's output")?;
        let seen: Seen = Arc::default();
        let into = seen.clone();
        let prefix = format!("add element inet {table} quarantined_v4 {{ ");
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let at = Instant::now();
                if let Some(addr) = line
                    .strip_prefix(&prefix)
                    .and_then(|rest| rest.trim_end_matches(" }").parse::<Ipv4Addr>().ok())
                    && let Ok(mut seen) = into.lock()
                {
                    seen.entry(addr).or_insert(at);
                }
            }
        });
        // nft subscribes before it prints anything; give it a moment to
        // (there is nothing to poll until an element changes).
        std::thread::sleep(Duration::from_millis(300));
        Ok(Monitor {
            child,
            reader: Some(reader),
            seen,
        })
    }

    /// Waits until every one of `addrs` was seen, or `within` passed.
    pub(super) fn wait_for(&self, addrs: &[Ipv4Addr], within: Duration) {
        let until = Instant::now() + within;
        while Instant::now() < until {
            let done = self
                .seen
                .lock()
                .map(|s| addrs.iter().all(|a| s.contains_key(a)))
                .unwrap_or(true);
            if done {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the monitor; what it saw.
    pub(super) fn stop(mut self) -> BTreeMap<Ipv4Addr, Instant> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `alerted_v4` every [`SAMPLE_EVERY`] until stopped.
pub(super) struct Alerted {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<BTreeSet<Ipv4Addr>>>,
}

impl Alerted {
    pub(super) fn start(netns: &str, table: &str) -> Alerted {
        let stop = Arc::new(AtomicBool::new(false));
        let (netns, table, flag) = (netns.to_owned(), table.to_owned(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut logged = BTreeSet::new();
            loop {
                let last = flag.load(Ordering::Relaxed);
                logged.extend(read(&netns, &table));
                if last {
                    return logged;
                }
                let until = Instant::now() + SAMPLE_EVERY;
                while Instant::now() < until && !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        });
        Alerted {
            stop,
            thread: Some(thread),
        }
    }

    /// One last read, then every source seen.
    pub(super) fn stop(mut self) -> BTreeSet<Ipv4Addr> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Alerted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The addresses `alerted_v4` holds now (none when it cannot be read).
fn read(netns: &str, table: &str) -> Vec<Ipv4Addr> {
    let Ok(out) = Command::new("ip")
        .args([
            "netns",
            "exec",
            netns,
            "nft",
            "list",
            "set",
            "inet",
            table,
            "alerted_v4",
        ])
        .output()
    else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(elements) = text.split("elements = {").nth(1) else {
        return Vec::new();
    };
    elements
        .split(|c: char| c == ',' || c.is_whitespace() || c == '}')
        .filter_map(|t| t.parse().ok())
        .collect()
}

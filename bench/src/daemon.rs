//! cordond: operator-to-enforced latency through the real CLI, quarantine
//! throughput through the control socket, and start-to-reconciled time with
//! 10 000 and 100 000 stored quarantines — each beside the `nft` command line
//! doing the kernel part alone.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::stats::{Samples, ms, ratio, spread};
use cordon_testkit::Netns;

const CONFIG: &str = r#"
subscribers: { prefixes: [100.64.0.0/10] }
interfaces: { downlink: ["sub*"], uplink: [up0] }
walled_garden: { resolvers: [192.0.2.53] }
portal: { public_url: "http://portal.test/" }
quarantine: { min_hold: 1d, quiet_period: 2h, max_hold: 7d }
store: { path: @DIR@/cordon.db }
control: { socket: @DIR@/control.sock, portal_socket: @DIR@/portal.sock }
metrics: { listen: null }
"#;

/// Single CLI quarantines measured for percentiles.
const SINGLE: usize = 100;
/// Parallel control connections for the bulk load.
const CONNECTIONS: usize = 64;
/// Parallel control connections for seeding the larger restart size, which
/// is not itself measured: cordond batches what is waiting (up to 1024
/// requests), so more connections make fewer, larger batches.
const SEED_CONNECTIONS: usize = 1024;

/// A cordond the benchmark started: killed and reaped on drop.
pub(crate) struct Daemon {
    child: Child,
    /// From spawning to its "cordond ready" line.
    pub(crate) started: Duration,
}

impl Daemon {
    /// Starts `bin/cordond --config CONFIG` in namespace `netns`, its
    /// standard error going to `log` (or nowhere), and waits for its
    /// "cordond ready" line.
    pub(crate) fn start(
        bin: &Path,
        netns: &str,
        config: &Path,
        log: Option<&Path>,
    ) -> Result<Daemon> {
        let t = Instant::now();
        let stderr = match log {
            Some(path) => Stdio::from(std::fs::File::create(path)?),
            None => Stdio::null(),
        };
        let mut child = Command::new("ip")
            .args(["netns", "exec", netns])
            .arg(bin.join("cordond"))
            .arg("--config")
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .context("starting cordond")?;
        let out = child.stdout.take().context("cordond stdout")?;
        let mut daemon = Daemon {
            child,
            started: Duration::ZERO,
        };
        let mut lines = BufReader::new(out).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.trim() == "cordond ready" => break,
                Some(_) => {}
                None => bail!("cordond exited before it was ready"),
            }
        }
        daemon.started = t.elapsed();
        Ok(daemon)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Bench {
    ns: Netns,
    dir: PathBuf,
    bin: PathBuf,
}

impl Bench {
    fn config(&self) -> PathBuf {
        self.dir.join("cordon.yaml")
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("control.sock")
    }

    /// Starts cordond and waits for its "cordond ready" line.
    fn start(&self) -> Result<Daemon> {
        Daemon::start(&self.bin, self.ns.name(), &self.config(), None)
    }

    fn cli(&self, args: &[&str]) -> Result<()> {
        let out = Command::new(self.bin.join("cordon"))
            .arg("--socket")
            .arg(self.socket())
            .arg("--config")
            .arg(self.config())
            .args(args)
            .output()?;
        if !out.status.success() {
            bail!("cordon {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    fn nft(&self, args: &[&str], stdin: Option<&str>) -> Result<()> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", self.ns.name(), "nft"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        if let (Some(s), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(s.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("nft {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    /// Quarantines `hosts` through `connections` parallel control connections.
    fn bulk(&self, hosts: &[String], connections: usize) -> Result<Duration> {
        crate::control::bulk_quarantine(&self.socket(), hosts, connections)
    }
}

fn hosts(from: u32, n: usize) -> Vec<String> {
    let base = u32::from(Ipv4Addr::new(100, 64, 0, 0));
    (from..from + n as u32)
        .map(|i| Ipv4Addr::from(base + 256 + i).to_string())
        .collect()
}

fn element_script(table: &str, hosts: &[String]) -> String {
    format!(
        "add element inet {table} quarantined_v4 {{ {} }}\n",
        hosts.join(", ")
    )
}

/// Runs the daemon benchmarks and returns their Markdown section.
pub fn run(bin: &Path, runs: usize) -> Result<String> {
    let tmp = std::env::temp_dir().join(format!("cordon-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let bench = Bench {
        ns: Netns::try_new("bench-daemon")?,
        dir: tmp.clone(),
        bin: bin.to_owned(),
    };
    std::fs::write(
        bench.config(),
        CONFIG.replace("@DIR@", tmp.to_str().context("temp dir path")?),
    )?;
    let result = measure(&bench, runs);
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn measure(bench: &Bench, runs: usize) -> Result<String> {
    let daemon = bench.start()?;
    // Operator to enforced: the CLI returns after the store and the kernel.
    let mut cli = Vec::new();
    let mut nft = Vec::new();
    for h in hosts(0, SINGLE) {
        let t = Instant::now();
        bench.cli(&["quarantine", &h, "--reason", "bench"])?;
        cli.push(t.elapsed());
    }
    for h in hosts(1_000_000, SINGLE) {
        let elem = format!("{{ {h} }}");
        let t = Instant::now();
        bench.nft(
            &["add", "element", "inet", "cordon", "quarantined_v4", &elem],
            None,
        )?;
        nft.push(t.elapsed());
    }
    bench.nft(&["flush", "set", "inet", "cordon", "quarantined_v4"], None)?;
    let (cli, nft) = (Samples::new(cli), Samples::new(nft));
    drop(daemon);

    // Bulk and restart.
    let mut rows = Vec::new();
    let mut done = SINGLE;
    let mut bulk_rate = 0.0;
    let mut seeded = Vec::new();
    for size in [10_000usize, 100_000] {
        let daemon = bench.start()?;
        let more = hosts(done as u32, size - done);
        if size == 10_000 {
            let took = bench.bulk(&more, CONNECTIONS)?;
            bulk_rate = more.len() as f64 / took.as_secs_f64();
        } else {
            seeded.push((done, size, bench.bulk(&more, SEED_CONNECTIONS)?));
        }
        done = size;
        drop(daemon);
        let mut starts = Vec::new();
        let mut floor = Vec::new();
        let all = hosts(0, size);
        let script = element_script("cordon", &all);
        for _ in 0..runs {
            bench.nft(&["delete", "table", "inet", "cordon"], None)?;
            let d = bench.start()?;
            starts.push(d.started);
            drop(d);
            bench.nft(&["flush", "set", "inet", "cordon", "quarantined_v4"], None)?;
            let t = Instant::now();
            bench.nft(&["-f", "-"], Some(&script))?;
            floor.push(t.elapsed());
        }
        rows.push((size, Samples::new(starts), Samples::new(floor)));
    }

    let mut s = String::new();
    writeln!(s, "## cordond: operator to enforced, throughput, restart\n")?;
    writeln!(
        s,
        "`cordon quarantine` returns once the decision is in the store (SQLite, WAL, synchronous=FULL) and in the kernel. \
         Reference: `nft add element` for the kernel part alone, same namespace, same run.\n"
    )?;
    writeln!(s, "| measure | Cordon | reference | ratio |")?;
    writeln!(s, "|---|---|---|---|")?;
    writeln!(
        s,
        "| CLI quarantine to enforced, p50 ({SINGLE}) | {} | {} (`nft add element`) | {} |",
        ms(cli.median()),
        ms(nft.median()),
        ratio(cli.median(), nft.median())
    )?;
    writeln!(
        s,
        "| CLI quarantine to enforced, p99 | {} | {} | {} |",
        ms(cli.percentile(99)),
        ms(nft.percentile(99)),
        ratio(cli.percentile(99), nft.percentile(99))
    )?;
    writeln!(
        s,
        "| quarantines per second, {CONNECTIONS} parallel control connections | {bulk_rate:.0}/s | – | – |"
    )?;
    for (size, starts, floor) in &rows {
        writeln!(
            s,
            "| start to reconciled, {size} stored (table rebuilt), median (min–max) of {runs} | {} | {} (`nft -f` of the elements alone) | {} |",
            spread(starts),
            spread(floor),
            ratio(starts.median(), floor.median())
        )?;
    }
    write!(
        s,
        "\nA CLI call starts a process, connects, and waits for an fsync'd SQLite commit, the netlink transaction that puts the host into the kernel's set, and the removal of the host's conntrack entries (one walk of the whole table); concurrent requests share one commit, one transaction and one walk, \
         which is where the throughput comes from. Start-up reads every record, validates it against the config, renders the table with all elements and installs it in one transaction."
    )?;
    for (from, to, took) in &seeded {
        write!(
            s,
            " For the {to} restart, the {} quarantines past the first {from} were added through the control socket beforehand, \
             with {SEED_CONNECTIONS} connections so that cordond's batches come near their limit of 1024: {:.0} s ({:.2} ms each). \
            ",
            to - from,
            took.as_secs_f64(),
            took.as_secs_f64() * 1000.0 / (to - from) as f64
        )?;
    }
    s.push_str("\n\n");
    Ok(s)
}

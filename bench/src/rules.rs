//! Rule changes: quarantine-to-enforced for one host and for 10 000 at once,
//! beside the `nft` command line making the same element changes.
//!
//! "Enforced" is when the call returns: `nft` commits the transaction before
//! it exits, and from then on the kernel applies the walled garden to the
//! host's next packet.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cordon_config::{Config, SubscriberAddr};
use cordon_rules::{Carried, Kernel, NftCommand};

use crate::stats::{Samples, ratio, spread};
use cordon_testkit::Netns;

/// Hosts changed one at a time, for percentiles.
const SINGLE: usize = 200;
/// Hosts changed at once.
const BATCH: usize = 10_000;
/// Hosts changed at once, the smaller batch (crossings arriving together).
const MID: usize = 1_000;
/// Hosts changed with one `nft` call each (the pattern that does not scale).
const ONE_BY_ONE: usize = 500;

fn hosts(config: &Config, n: usize, offset: u32) -> Result<Vec<SubscriberAddr>> {
    let prefix = config
        .subscribers
        .prefixes
        .iter()
        .find(|p| p.is_ipv4() && p.net().prefix_len() <= 16)
        .context("the config needs an IPv4 subscriber prefix of /16 or wider")?;
    let base = match prefix.net() {
        ipnet::IpNet::V4(v4) => u32::from(v4.network()),
        ipnet::IpNet::V6(_) => bail!("not IPv4"),
    };
    let size = 1u32 << (32 - u32::from(prefix.net().prefix_len()));
    let out: Vec<SubscriberAddr> = (offset..size)
        .filter_map(|i| {
            config
                .subscriber_addr(&Ipv4Addr::from(base + i).to_string())
                .ok()
        })
        .take(n)
        .collect();
    if out.len() < n {
        bail!("{prefix} has fewer than {n} quarantinable hosts from offset {offset}");
    }
    Ok(out)
}

fn nft_cli(ns: &Netns, args: &[&str], stdin: Option<&str>) -> Result<()> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name(), "nft"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running nft")?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("nft {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn timed(f: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let t = Instant::now();
    f()?;
    Ok(t.elapsed())
}

fn element_list(hosts: &[SubscriberAddr]) -> String {
    hosts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs the rule-change benchmark and returns its Markdown section.
pub fn run(config: &Config, runs: usize) -> Result<String> {
    let ns = Netns::try_new("bench-rules")?;
    let kernel = Kernel::new(config, NftCommand::in_netns(ns.name()));
    kernel.install(config, &Carried::default())?;
    let table = &config.table;
    let flush = || {
        nft_cli(
            &ns,
            &["flush", "set", "inet", table, "quarantined_v4"],
            None,
        )
    };

    // One host at a time.
    let single = hosts(config, SINGLE, 0)?;
    let mut ours = Vec::new();
    let mut cli = Vec::new();
    for h in &single {
        ours.push(timed(|| Ok(kernel.change_quarantined(&[*h], &[])?))?);
        kernel.change_quarantined(&[], &[*h])?;
        let elem = format!("{{ {h} }}");
        cli.push(timed(|| {
            nft_cli(
                &ns,
                &["add", "element", "inet", table, "quarantined_v4", &elem],
                None,
            )
        })?);
        flush()?;
    }
    let (ours1, cli1) = (Samples::new(ours), Samples::new(cli));

    // Is one host quarantined? A lookup of one element in a held set.
    kernel.change_quarantined(&single, &[])?;
    let mut ours = Vec::new();
    let mut cli = Vec::new();
    for h in &single {
        ours.push(timed(|| {
            if !kernel.is_quarantined(h)? {
                bail!("{h} is not in the set");
            }
            Ok(())
        })?);
        let elem = format!("{{ {h} }}");
        cli.push(timed(|| {
            nft_cli(
                &ns,
                &["get", "element", "inet", table, "quarantined_v4", &elem],
                None,
            )
        })?);
    }
    flush()?;
    let (ours_get, cli_get) = (Samples::new(ours), Samples::new(cli));

    // A thousand, then ten thousand, at once.
    let mut batches = Vec::new();
    for n in [MID, BATCH] {
        let batch = hosts(config, n, 1_000)?;
        let script = format!(
            "add element inet {table} quarantined_v4 {{ {} }}\n",
            element_list(&batch)
        );
        let mut ours = Vec::new();
        let mut cli = Vec::new();
        for _ in 0..runs {
            ours.push(timed(|| Ok(kernel.change_quarantined(&batch, &[])?))?);
            if kernel.quarantined()?.len() != n {
                bail!("the batch was not all in the set");
            }
            flush()?;
            cli.push(timed(|| nft_cli(&ns, &["-f", "-"], Some(&script)))?);
            flush()?;
        }
        batches.push((n, Samples::new(ours), Samples::new(cli)));
    }

    // The pattern that does not scale: one nft call per host.
    let few = hosts(config, ONE_BY_ONE, 20_000)?;
    let one_by_one = timed(|| {
        for h in &few {
            let elem = format!("{{ {h} }}");
            nft_cli(
                &ns,
                &["add", "element", "inet", table, "quarantined_v4", &elem],
                None,
            )?;
        }
        Ok(())
    })?;
    let per_host = one_by_one / u32::try_from(ONE_BY_ONE).unwrap_or(1);
    let projected = per_host * u32::try_from(BATCH).unwrap_or(1);
    kernel.remove()?;

    let mut s = String::new();
    writeln!(s, "## Rule changes: quarantine to enforced\n")?;
    writeln!(
        s,
        "Time from the call to the committed nftables transaction (the host's next packet meets the walled garden). \
         Reference: the `nft` command line making the same element change in the same namespace, same run.\n"
    )?;
    writeln!(
        s,
        "| change | Cordon (`Kernel::change_quarantined`) | `nft` CLI | ratio |"
    )?;
    writeln!(s, "|---|---|---|---|")?;
    writeln!(
        s,
        "| one host, p50 ({SINGLE} changes) | {} | {} | {} |",
        crate::stats::ms(ours1.median()),
        crate::stats::ms(cli1.median()),
        ratio(ours1.median(), cli1.median())
    )?;
    writeln!(
        s,
        "| one host, p99 | {} | {} | {} |",
        crate::stats::ms(ours1.percentile(99)),
        crate::stats::ms(cli1.percentile(99)),
        ratio(ours1.percentile(99), cli1.percentile(99))
    )?;
    writeln!(
        s,
        "| is one host quarantined, p50 (`Kernel::is_quarantined`; CLI: `nft get element`) | {} | {} | {} |",
        crate::stats::ms(ours_get.median()),
        crate::stats::ms(cli_get.median()),
        ratio(ours_get.median(), cli_get.median())
    )?;
    for (n, ours_b, cli_b) in &batches {
        writeln!(
            s,
            "| {n} hosts in one transaction, median (min–max) of {runs} | {} | {} (`nft -f`) | {} |",
            spread(ours_b),
            spread(cli_b),
            ratio(ours_b.median(), cli_b.median())
        )?;
    }
    let ours_b = batches
        .last()
        .map(|(_, o, _)| o.median())
        .unwrap_or_default();
    writeln!(
        s,
        "| {BATCH} hosts, one `nft` call each (measured on {ONE_BY_ONE}, projected) | – | {} | {} |",
        crate::stats::ms(projected),
        ratio(ours_b, projected)
    )?;
    writeln!(s)?;
    writeln!(
        s,
        "Cordon sends element changes from its own process over netlink, one batch transaction per change, \
         and looks one element up with one request; the CLI reference starts one `nft` process per call \
         (through `ip netns exec`), which dominates a single change (and `nft get element` lists the whole set first). \
         One call per host is the pattern that left other projects at tens of changes per second.\n"
    )?;
    Ok(s)
}

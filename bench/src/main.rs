//! `cordon-bench`: measures Cordon beside a reference in the same run and
//! prints a Markdown section for `BENCHMARKS.md` (scripts/bench assembles it).
//!
//! Not a test: nothing here asserts a time. Everything runs inside a network
//! namespace the benchmark creates and removes.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

mod control;
mod daemon;
mod datapath;
mod detection;
mod fleet;
mod lab;
mod metrics;
mod nginx;
mod outbreak;
mod portal;
mod portal_outbreak;
mod process;
mod reports;
mod rules;
mod scale;
mod stats;
mod storm;

/// Runs Cordon's benchmarks.
#[derive(Debug, Parser)]
struct Args {
    /// Cordon config to render the ruleset from.
    #[arg(long, default_value = "cordon.example.yaml")]
    config: PathBuf,
    /// Repetitions of each measurement (median, min and max are reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Only these benchmarks (default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// portal-outbreak only: just the cases whose description holds this
    /// text (for looking into one case; the section then has fewer rows).
    #[arg(long)]
    case: Option<String>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let config = cordon_config::load_file(&args.config)?;
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    if wanted("rules") {
        print!("{}", rules::run(&config, args.runs)?);
    }
    // cordond, cordon and cordon-portal are built beside this benchmark.
    let exe = std::env::current_exe()?;
    let bin = exe.parent().context("the benchmark's directory")?;
    if wanted("daemon") {
        print!("{}", daemon::run(bin, args.runs)?);
    }
    if wanted("portal") {
        print!("{}", portal::run(bin)?);
    }
    if wanted("portal-outbreak") {
        print!("{}", portal_outbreak::run(bin, args.case.as_deref())?);
    }
    if wanted("datapath") {
        print!("{}", datapath::run(args.runs)?);
    }
    if wanted("detection") {
        print!("{}", detection::run(bin, args.runs)?);
    }
    if wanted("outbreak") {
        print!("{}", outbreak::run(bin)?);
    }
    if wanted("scale") {
        print!("{}", scale::run(bin, args.runs)?);
    }
    if wanted("storm") {
        print!("{}", storm::run(bin)?);
    }
    if wanted("reports") {
        print!("{}", reports::run(bin)?);
    }
    if wanted("fleet") {
        print!("{}", fleet::run(bin, args.runs)?);
    }
    Ok(())
}

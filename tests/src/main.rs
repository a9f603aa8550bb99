//! `cordon-lab`: build and remove a namespace lab from the shell, and the
//! helpers the lab runs inside its namespaces.

#![forbid(unsafe_code)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use cordon_lab::{Lab, LabError, LabName, probe};

/// Cordon's network-namespace lab.
#[derive(Debug, Parser)]
#[command(name = "cordon-lab", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a lab: gateway, subscribers and internet namespaces, the
    /// internet's services, and the gateway's cordond config.
    Up {
        /// Lab name; namespaces are cl-NAME-gw (and cl-NAME-gwG for more
        /// gateways), cl-NAME-sI, cl-NAME-net.
        #[arg(long, default_value = "demo")]
        name: String,
        /// Number of subscribers, in all (dealt out to the gateways in
        /// turn: subscriber I sits behind gateway I mod N).
        #[arg(long, default_value_t = cordon_lab::DEFAULT_SUBSCRIBERS)]
        subscribers: usize,
        /// Number of gateways (1 to 4), each with its own cordond config,
        /// portal, store and subscriber prefixes, sharing one internet.
        #[arg(long, default_value_t = cordon_lab::DEFAULT_GATEWAYS)]
        gateways: usize,
        /// Print the plan as one JSON document.
        #[arg(long)]
        json: bool,
        /// Also start cordond and cordon-portal in the gateway.
        #[arg(long)]
        daemons: bool,
        /// Subscribers (by index) allowed to send on port 25.
        #[arg(long = "allowed-sender", value_name = "INDEX")]
        allowed_senders: Vec<usize>,
    },
    /// End every process in a lab's namespaces and remove them.
    Down {
        /// Lab name.
        #[arg(long, default_value = "demo", conflicts_with = "all")]
        name: String,
        /// Remove every lab listed by `cordon-lab list` (e.g. after an
        /// interrupted test run).
        #[arg(long)]
        all: bool,
    },
    /// Tell the whole story in a fresh lab (needs cordond, cordon-portal and
    /// cordon beside this executable); exits 0 only when every step held.
    Demo,
    /// List the labs that exist (by their run directories).
    List,
    /// Run the internet's services (inside the internet namespace).
    #[command(hide = true)]
    ServeInternet {
        /// The lab's run directory (for the stats socket).
        #[arg(long)]
        run_dir: PathBuf,
    },
    /// Probe from the current namespace (use with `ip netns exec`).
    Probe {
        #[command(subcommand)]
        probe: Probe,
    },
}

#[derive(Debug, Subcommand)]
enum Probe {
    /// Try one TCP connection; prints connected, reset, timeout or unreachable.
    Tcp {
        /// Address to connect to.
        addr: IpAddr,
        /// Port.
        port: u16,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
    /// Ask cordond's portal socket about an address, as the portal does;
    /// prints answered, closed, permission-denied or failed.
    PortalSocket {
        /// The portal socket.
        socket: PathBuf,
        /// The address to ask about.
        address: IpAddr,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cordon-lab: {e:#}");
            let bad_input = e.downcast_ref::<LabError>().is_some_and(|e| {
                matches!(e, LabError::InvalidName { .. } | LabError::InvalidOption(_))
            });
            ExitCode::from(if bad_input { 2 } else { 1 })
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Demo => cordon_lab::demo::run(None),
        Command::Up {
            name,
            subscribers,
            gateways,
            json,
            daemons,
            allowed_senders,
        } => {
            let mut b = Lab::builder(&name)
                .subscribers(subscribers)
                .gateways(gateways)
                .daemons(daemons);
            for i in allowed_senders {
                b = b.allowed_sender(i);
            }
            let plan = b
                .up()
                .with_context(|| format!("building lab {name}"))?
                .keep();
            if json {
                println!("{}", serde_json::to_string_pretty(&plan)?);
            } else {
                println!(
                    "lab {} is up ({} subscribers)",
                    plan.name,
                    plan.subscribers.len()
                );
                for g in &plan.gateways {
                    println!(
                        "  gateway   {}  {}  config {}  prefixes {}",
                        g.name,
                        g.netns,
                        g.config.display(),
                        g.subscriber_prefixes.join(" ")
                    );
                }
                for s in &plan.subscribers {
                    println!(
                        "  subscriber {}  {}  {} {}  behind gw{}",
                        s.index, s.netns, s.ipv4, s.ipv6, s.gateway
                    );
                }
                println!(
                    "  internet  {}  web {:?}",
                    plan.internet.netns, plan.internet.web
                );
                println!("remove it with: cordon-lab down --name {}", plan.name);
            }
            Ok(())
        }
        Command::Down { name, all } => {
            let names = if all {
                cordon_lab::existing_labs()?
            } else {
                vec![name]
            };
            for name in names {
                down(&name)?;
            }
            Ok(())
        }
        Command::List => {
            for name in cordon_lab::existing_labs()? {
                println!("{name}");
            }
            Ok(())
        }
        Command::ServeInternet { run_dir } => {
            cordon_lab::internet::serve(&run_dir).context("serving the lab's internet")?;
            Ok(())
        }
        Command::Probe {
            probe:
                Probe::Tcp {
                    addr,
                    port,
                    timeout_ms,
                },
        } => {
            let outcome = probe::tcp(
                SocketAddr::new(addr, port),
                Duration::from_millis(timeout_ms),
            );
            println!("{outcome}");
            Ok(())
        }
        Command::Probe {
            probe:
                Probe::PortalSocket {
                    socket,
                    address,
                    timeout_ms,
                },
        } => {
            let outcome = probe::portal_socket(&socket, address, Duration::from_millis(timeout_ms));
            println!("{outcome}");
            Ok(())
        }
    }
}

fn down(name: &str) -> anyhow::Result<()> {
    let lab = LabName::new(name)?;
    let removed =
        cordon_lab::teardown(&lab, &[]).with_context(|| format!("removing lab {name}"))?;
    if removed.nothing() {
        println!("no lab named {name} was found; nothing to remove");
    } else {
        println!(
            "lab {name} removed: {} namespaces, {} processes",
            removed.namespaces.len(),
            removed.processes
        );
    }
    Ok(())
}

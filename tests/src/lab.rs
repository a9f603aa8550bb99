//! The lab guard: building a lab from its builder, handing out its hosts,
//! and tearing it all down when dropped — after success, failure or panic.

use std::path::Path;
use std::time::Duration;

use cordon_config::Config;

use crate::addresses::{MAX_GATEWAYS, MAX_SUBSCRIBERS};
use crate::builder::LabBuilder;
use crate::config::{GatewaySite, StoreChoice};
use crate::error::LabError;
use crate::host::Host;
use crate::internet::READY_LINE;
use crate::names::{LabName, RUN_ROOT};
use crate::plan::Plan;
use crate::postgres::LabPostgres;
use crate::process::LabProcess;
use crate::roles::{Gateway, Internet};
use crate::teardown::{Removed, namespaces_of, teardown};
use crate::{config, daemons, exe, netns, wiring};

/// How long the internet services get to start listening.
const SERVICES_READY_WITHIN: Duration = Duration::from_secs(15);

/// A running lab. Dropping it ends its processes and removes its
/// namespaces and run directory.
#[derive(Debug)]
pub struct Lab {
    name: LabName,
    plan: Plan,
    /// Each gateway's config, by index.
    configs: Vec<Config>,
    /// Everything it started, in order (stopped in reverse).
    pub(crate) processes: Vec<LabProcess>,
    daemons: daemons::DaemonOptions,
    /// The PostgreSQL its gateways share, if they share one.
    pub(crate) postgres: Option<LabPostgres>,
    armed: bool,
}

impl Lab {
    /// Starts describing a lab named `name` (see [`crate::unique_name`]).
    pub fn builder(name: &str) -> LabBuilder {
        LabBuilder::new(name)
    }

    pub(crate) fn up(b: LabBuilder) -> Result<Lab, LabError> {
        let name = LabName::new(&b.name)?;
        let k = b.subscribers;
        if k == 0 || k > MAX_SUBSCRIBERS {
            return Err(LabError::InvalidOption(format!(
                "subscribers must be 1 to {MAX_SUBSCRIBERS}, not {k}"
            )));
        }
        let n = b.gateways;
        if n == 0 || n > MAX_GATEWAYS {
            return Err(LabError::InvalidOption(format!(
                "gateways must be 1 to {MAX_GATEWAYS}, not {n}"
            )));
        }
        if k < n {
            return Err(LabError::InvalidOption(format!(
                "{n} gateways need at least {n} subscribers (one behind each), not {k}"
            )));
        }
        if let Some(i) = b.config.allowed_senders.iter().find(|&&i| i >= k) {
            return Err(LabError::InvalidOption(format!(
                "allowed sender {i} is not one of the {k} subscribers"
            )));
        }
        // Everything that can fail without side effects comes first.
        let lab_exe = exe::find("cordon-lab", b.lab_exe.as_deref())?;
        let run_dir = name.run_dir();
        let postgres = (n > 1 || b.postgres)
            .then(|| LabPostgres::find(&run_dir, &name.internet_netns()))
            .transpose()?;
        let store = store_choice(postgres.as_ref());
        let mut sites = Vec::with_capacity(n);
        for g in 0..n {
            let site = GatewaySite::new(&name, g, n, store.clone());
            let (text, config) = config::build(name.as_str(), &site, &b.config, &b.edits)?;
            if let Some(user) = config.portal.user.as_deref()
                && !matches!(nix::unistd::User::from_name(user), Ok(Some(_)))
            {
                return Err(LabError::MissingUser { user: user.into() });
            }
            sites.push((site, text, config));
        }

        // The run directory is the lock: creating it fails if it exists.
        std::fs::create_dir_all(RUN_ROOT).map_err(LabError::io(format!("creating {RUN_ROOT}")))?;
        if let Err(e) = std::fs::create_dir(&run_dir) {
            return Err(if e.kind() == std::io::ErrorKind::AlreadyExists {
                LabError::AlreadyExists {
                    name: name.to_string(),
                    what: format!("{} exists", run_dir.display()),
                }
            } else {
                LabError::io(format!("creating {}", run_dir.display()))(e)
            });
        }
        let leftovers = namespaces_of(&name, &[])?;
        if !leftovers.is_empty() {
            let _ = std::fs::remove_dir(&run_dir);
            return Err(LabError::AlreadyExists {
                name: name.to_string(),
                what: format!("namespaces {}", leftovers.join(", ")),
            });
        }

        // From here on the guard owns whatever exists: an error drops it,
        // and dropping removes the half-built lab.
        let (texts, planned): (Vec<String>, Vec<(GatewaySite, Config)>) =
            sites.into_iter().map(|(s, t, c)| (t, (s, c))).unzip();
        let plan = Plan::new(&name, k, b.shared_link, &planned, b.daemons.names());
        let mut lab = Lab {
            name,
            plan,
            configs: planned.into_iter().map(|(_, c)| c).collect(),
            processes: Vec::new(),
            daemons: b.daemons.clone(),
            postgres,
            armed: true,
        };
        let write = |file: &Path, text: &str| {
            std::fs::write(file, text).map_err(LabError::io(format!("writing {}", file.display())))
        };
        for (g, text) in lab.plan.gateways.iter().zip(&texts) {
            let dir = lab.name.gateway_dir(g.index);
            if g.index > 0 {
                std::fs::create_dir(&dir)
                    .map_err(LabError::io(format!("creating {}", dir.display())))?;
            }
            let user = lab.configs[g.index].portal.user.as_deref();
            config::write(&g.config, text, user)?;
        }
        let mut tools: Vec<&Path> = lab
            .configs
            .iter()
            .filter_map(|c| c.portal.tools_dir.as_deref())
            .collect();
        tools.dedup();
        for dir in tools {
            crate::tools::install(dir)?;
        }
        for ns in lab.plan.namespaces() {
            netns::add(&ns)?;
        }
        let resolvers = &lab.plan.internet.dns;
        for g in &lab.plan.gateways {
            netns::set_resolvers(&g.netns, resolvers)?;
        }
        for s in &lab.plan.subscribers {
            netns::set_resolvers(&s.netns, resolvers)?;
        }
        wiring::wire(&lab.name, k, n, b.shared_link)?;
        lab.start_internet(&lab_exe)?;
        if let Some(pg) = &lab.postgres {
            let server = pg.init()?;
            lab.processes.push(server);
        }
        if !b.daemons.names().is_empty() {
            for g in lab.plan.gateways.clone() {
                let started = daemons::start(
                    &b.daemons,
                    &daemons::Where {
                        gateway: (g.index > 0).then_some(g.name.as_str()),
                        netns: &g.netns,
                        config: &g.config,
                        control_socket: &g.control_socket,
                        dir: &lab.name.gateway_dir(g.index),
                    },
                )?;
                lab.processes.extend(started);
            }
        }
        let json =
            serde_json::to_string_pretty(&lab.plan).map_err(|e| LabError::Stats(e.to_string()))?;
        write(&lab.plan.run_dir.join("plan.json"), &json)?;
        Ok(lab)
    }

    fn start_internet(&mut self, lab_exe: &Path) -> Result<(), LabError> {
        let run_dir = self.plan.run_dir.to_string_lossy().into_owned();
        let mut p = LabProcess::spawn(
            "the internet services",
            &self.plan.internet.netns,
            lab_exe,
            &["serve-internet", "--run-dir", &run_dir],
            self.plan.run_dir.join("internet.log"),
        )?;
        let result = p.wait_ready(
            SERVICES_READY_WITHIN,
            |log| log.lines().any(|l| l.trim() == READY_LINE),
            || false,
        );
        self.processes.push(p);
        result
    }

    /// The process id of a daemon the lab started (`cordond`,
    /// `cordon-portal`), while it runs.
    pub fn pid_of(&self, what: &str) -> Option<u32> {
        self.processes
            .iter()
            .find(|p| p.what() == what)
            .and_then(LabProcess::pid)
    }

    /// Crashes gateway 0's cordond (SIGKILL: no chance to finish what it
    /// was doing) and starts it again on the same config and store, as
    /// systemd's `Restart=` would; returns once it is ready again. The log
    /// of the killed run is kept as `cordond.killed-N.log` (N counting
    /// restarts); the new one is `cordond.log`.
    pub fn restart_cordond(&mut self) -> Result<(), LabError> {
        self.restart_cordond_at(0)
    }

    /// [`Self::restart_cordond`] on gateway `g`.
    pub fn restart_cordond_at(&mut self, g: usize) -> Result<(), LabError> {
        self.kill_cordond_at(g)?;
        self.start_cordond_at(g)
    }

    /// Crashes gateway 0's cordond (SIGKILL) and reaps it;
    /// [`Self::start_cordond`] brings it back.
    pub fn kill_cordond(&mut self) -> Result<(), LabError> {
        self.kill_cordond_at(0)
    }

    /// [`Self::kill_cordond`] on gateway `g`.
    pub fn kill_cordond_at(&mut self, g: usize) -> Result<(), LabError> {
        let label = self.cordond_label(g)?;
        let i = self
            .processes
            .iter()
            .position(|p| p.what() == label)
            .ok_or_else(|| {
                LabError::InvalidOption(format!("{label} is not running in this lab"))
            })?;
        let mut killed = self.processes.remove(i);
        killed.kill();
        Ok(())
    }

    /// Starts gateway 0's cordond again after [`Self::kill_cordond`],
    /// keeping the killed run's log (see [`Self::restart_cordond`]).
    pub fn start_cordond(&mut self) -> Result<(), LabError> {
        self.start_cordond_at(0)
    }

    /// [`Self::start_cordond`] on gateway `g`.
    pub fn start_cordond_at(&mut self, g: usize) -> Result<(), LabError> {
        self.cordond_label(g)?;
        let gw = self.plan.gateways[g].clone();
        let dir = self.name.gateway_dir(g);
        let n = (1..)
            .find(|n| !dir.join(format!("cordond.killed-{n}.log")).exists())
            .unwrap_or(1);
        let kept = dir.join(format!("cordond.killed-{n}.log"));
        std::fs::rename(dir.join("cordond.log"), &kept)
            .map_err(LabError::io(format!("keeping {}", kept.display())))?;
        // cordond replaces a stale socket itself; it goes first here so
        // that readiness is the new one appearing.
        let _ = std::fs::remove_file(&gw.control_socket);
        let only = daemons::DaemonOptions {
            cordond: true,
            portal: false,
            ..self.daemons.clone()
        };
        let started = daemons::start(
            &only,
            &daemons::Where {
                gateway: (g > 0).then_some(gw.name.as_str()),
                netns: &gw.netns,
                config: &gw.config,
                control_socket: &gw.control_socket,
                dir: &dir,
            },
        )?;
        self.processes.extend(started);
        Ok(())
    }

    /// The label gateway `g`'s cordond runs under, or why there is none.
    fn cordond_label(&self, g: usize) -> Result<String, LabError> {
        let gw = self
            .plan
            .gateways
            .get(g)
            .ok_or_else(|| LabError::InvalidOption(format!("this lab has no gateway {g}")))?;
        Ok(if g == 0 {
            "cordond".to_owned()
        } else {
            format!("cordond on {}", gw.name)
        })
    }

    /// The lab's name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// Every name, path and address of the lab.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The cordond config the lab wrote, as cordond reads it (gateway
    /// 0's).
    pub fn config(&self) -> &Config {
        &self.configs[0]
    }

    /// The cordond config the lab wrote for gateway `g`.
    ///
    /// # Panics
    /// If the lab has no gateway `g` (a mistake in the test).
    pub fn config_at(&self, g: usize) -> &Config {
        let n = self.configs.len();
        self.configs
            .get(g)
            .unwrap_or_else(|| panic!("lab {} has {n} gateways, no gateway {g}", self.name))
    }

    /// The run directory (config, sockets, logs, store).
    pub fn run_dir(&self) -> &Path {
        &self.plan.run_dir
    }

    /// Log files of the processes the lab started (the internet services,
    /// and cordond and the portal when started), for a failing test to show.
    pub fn logs(&self) -> Vec<std::path::PathBuf> {
        self.processes.iter().map(|p| p.log().to_owned()).collect()
    }

    /// The gateway (gateway 0 when there are several).
    pub fn gateway(&self) -> Gateway {
        Gateway::new(&self.plan.gateway)
    }

    /// Gateway `g` (0-based).
    ///
    /// # Panics
    /// If the lab has no gateway `g` (a mistake in the test).
    pub fn gateway_at(&self, g: usize) -> Gateway {
        let n = self.plan.gateways.len();
        let plan = self
            .plan
            .gateways
            .get(g)
            .unwrap_or_else(|| panic!("lab {} has {n} gateways, no gateway {g}", self.name));
        Gateway::new(plan)
    }

    /// Every gateway, by index.
    pub fn gateways(&self) -> Vec<Gateway> {
        self.plan.gateways.iter().map(Gateway::new).collect()
    }

    /// The internet.
    pub fn internet(&self) -> Internet {
        Internet::new(&self.plan)
    }

    /// Subscriber `i` (0-based).
    ///
    /// # Panics
    /// If the lab has no subscriber `i` (a mistake in the test).
    pub fn subscriber(&self, i: usize) -> Host {
        let n = self.plan.subscribers.len();
        let s =
            self.plan.subscribers.get(i).unwrap_or_else(|| {
                panic!("lab {} has {n} subscribers, no subscriber {i}", self.name)
            });
        Host::new(s.netns.clone(), s.ipv4, s.ipv6)
    }

    /// Every subscriber, by index.
    pub fn subscribers(&self) -> Vec<Host> {
        (0..self.plan.subscribers.len())
            .map(|i| self.subscriber(i))
            .collect()
    }

    /// Leaves the lab running after this guard is gone (for `cordon-lab
    /// up`); `cordon-lab down` removes it later.
    pub fn keep(mut self) -> Plan {
        self.armed = false;
        for p in self.processes.drain(..) {
            p.detach();
        }
        self.plan.clone()
    }

    /// Tears the lab down now and says how that went (dropping does the
    /// same, reporting problems on stderr).
    pub fn down(mut self) -> Result<Removed, LabError> {
        self.armed = false;
        self.remove()
    }

    fn remove(&mut self) -> Result<Removed, LabError> {
        // Newest first: the daemons leave before the database they use,
        // so its shutdown waits for no client.
        for p in self.processes.iter_mut().rev() {
            p.stop();
        }
        self.processes.clear();
        teardown(&self.name, &self.plan.namespaces())
    }
}

/// Where a lab's gateways keep their decisions, decided once for all of
/// them: the store hook (see [`crate::config`]). The PostgreSQL the lab
/// runs when it runs one (a fleet of several gateways, or when asked
/// for), each gateway its own SQLite file otherwise.
fn store_choice(postgres: Option<&LabPostgres>) -> StoreChoice {
    match postgres {
        Some(pg) => StoreChoice::Postgres {
            socket_dir: pg.socket_dir().to_owned(),
        },
        None => StoreChoice::Sqlite,
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.armed
            && let Err(e) = self.remove()
        {
            eprintln!("cordon-lab: tearing down lab {}: {e}", self.name);
        }
    }
}

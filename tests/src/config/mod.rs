//! The cordond config each lab writes for its own topology: short timings and
//! low thresholds so that tests see detection, quarantine and release within
//! seconds. Rendered as commented YAML, then checked by `cordon_config`
//! exactly as `cordond` would check it.
//!
//! A lab with several gateways writes one config per gateway
//! ([`GatewaySite`]): its own subscriber prefixes, portal address, sockets
//! and store, everything else alike.
//!
//! The store hook: a gateway's `store:` section is written in one place,
//! [`store_section`], from a [`StoreChoice`] the lab makes once for all its
//! gateways (`Lab::up`). Today that is [`StoreChoice::Sqlite`], a file per
//! gateway. For a fleet sharing PostgreSQL, add a variant (the database's
//! socket directory), have `Lab::up` start one server for a lab of several
//! gateways and choose it, and write `store: {backend: postgres, ...,
//! gateway: NAME}` here with the gateway's [`GatewaySite::name`]; the plan
//! then gains `store.socket_dir`.

use std::path::Path;
use std::time::Duration;

use cordon_config::{Action, Config, Port25Mode, Signal, duration};

use crate::addresses::{GARDEN_PREFIXES, GatewayNet, RELAY_V4, RELAY_V6, RESOLVER_V4, RESOLVER_V6};
use crate::error::LabError;

mod site;

pub use site::{GatewaySite, StoreChoice, store_section};

/// The port the portal's pages are served on.
pub const PORTAL_PORT: u16 = 8080;
/// The port quarantined `http` traffic is redirected to.
pub const REDIRECT_PORT: u16 = 8081;
/// Where cordond serves metrics (inside the gateway namespace).
pub const METRICS_LISTEN: &str = "127.0.0.1:9464";
/// Where cordond listens for RADIUS accounting (inside the gateway
/// namespace: `radclient` runs there, as the BNG's copy would arrive).
pub const RADIUS_LISTEN: &str = "127.0.0.1:1813";
/// The lab's RADIUS shared secret (the config allows loopback only).
pub const RADIUS_SECRET: &str = "cordon-lab-accounting-secret";
/// The portal's own system user, from `deploy/sysusers.d/cordon.conf`; the
/// lab refuses to start without it (see [`LabError::MissingUser`]).
pub const PORTAL_USER: &str = "cordon-portal";

/// The settings tests usually vary. Everything else can be changed through
/// [`crate::LabBuilder::configure`].
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigOptions {
    /// Subscribers (by index) allowed to send on port 25.
    pub allowed_senders: Vec<usize>,
    /// `block`, `monitor` or `off`.
    pub port25_mode: Port25Mode,
    /// New port-25 connection attempts per host that fire detection.
    pub smtp_attempts: Signal,
    /// Distinct port-25 destinations per host that fire detection.
    pub smtp_destinations: Signal,
    /// Report score that fires.
    pub report_score: u32,
    /// No SMTP attempt for this long counts as stopped.
    pub quiet_period: Duration,
    /// Shortest quarantine.
    pub min_hold: Duration,
    /// New relay connections per subscriber per minute, and the burst.
    pub relay_rate: (u32, u32),
}

impl Default for ConfigOptions {
    /// Seconds, not hours: a lab test must see a whole quarantine cycle.
    fn default() -> Self {
        ConfigOptions {
            allowed_senders: Vec::new(),
            port25_mode: Port25Mode::Block,
            smtp_attempts: Signal {
                threshold: 20,
                window: Duration::from_secs(10),
                action: Action::Enforce,
            },
            smtp_destinations: Signal {
                threshold: 10,
                window: Duration::from_secs(10),
                action: Action::Enforce,
            },
            report_score: 3,
            quiet_period: Duration::from_secs(4),
            min_hold: Duration::from_secs(2),
            relay_rate: (20, 40),
        }
    }
}

/// A YAML double-quoted scalar (JSON strings are valid YAML).
fn q(s: impl std::fmt::Display) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    let v: Vec<String> = items.into_iter().map(q).collect();
    format!("[{}]", v.join(", "))
}

fn mode(m: Port25Mode) -> &'static str {
    match m {
        Port25Mode::Block => "block",
        Port25Mode::Monitor => "monitor",
        Port25Mode::Off => "off",
    }
}

fn action(a: Action) -> &'static str {
    match a {
        Action::Observe => "observe",
        Action::Notice => "notice",
        Action::Enforce => "enforce",
    }
}

fn signal(s: &Signal) -> String {
    format!(
        "{{threshold: {}, window: {}, action: {}}}",
        s.threshold,
        duration::format(s.window),
        action(s.action)
    )
}

/// The config text for gateway `site` of lab `lab`.
pub fn render(lab: &str, site: &GatewaySite, o: &ConfigOptions) -> String {
    let run = |file: &str| q(site.dir.join(file).display());
    let net = GatewayNet::of(site.index);
    let allowed = o
        .allowed_senders
        .iter()
        .filter(|&&i| site.serves(i))
        .flat_map(|&i| {
            [
                net.subscriber_v4(i).to_string(),
                net.subscriber_v6_prefix(i),
            ]
        });
    let whose = site.whose(lab);
    format!(
        r#"# cordond config for {whose}, written by cordon-lab.
# The topology is fixed (see tests/src/addresses.rs); timings are short so
# that tests see a whole quarantine cycle in seconds.
table: cordon

subscribers:
  prefixes: {prefixes}
  ipv6_quarantine_prefix: 64

interfaces:
  # One veth per subscriber (sub0, sub1, ...), as a BNG session would be.
  downlink: ["sub*"]
  uplink: ["uplink"]

# The gateway's own portal addresses.
never_quarantine: {never}

port25:
  mode: {mode}
  allowed_senders: {allowed}
  submission_ports: [587, 465]

relays:
  addresses: {relays}
  ports: [25, 587, 465]
  new_connections_per_minute: {rate}
  burst: {burst}

detection:
  smtp_attempts: {attempts}
  smtp_destinations: {destinations}
  reports: {{score: {score}, window: 7d, action: enforce}}
  nflog_group: 7107

quarantine:
  min_hold: {min_hold}
  quiet_period: {quiet}
  self_release: {{count: 2, window: 30d, quiet: {button_quiet}}}
  probation: 1h
  escalation: 4
  max_hold: 1h

walled_garden:
  resolvers: {resolvers}
  destinations: {garden}

portal:
  listen: ["0.0.0.0:{portal_port}", "[::]:{portal_port}"]
  redirect_port: {redirect_port}
  public_url: "http://{portal_v4}:{portal_port}/"
  languages: [en, es, da]
  isp_name: "Cordon Lab Net"
  support:
    email: "support@lab.example"
  # The portal refuses to stay root, and cordond serves the portal socket
  # to this uid only: the portal's own account, as in production (never the
  # shared `nobody`). scripts/install-deps creates it.
  user: "{portal_user}"
  # The lab's own copy of tests/tools/ (a printable cleanup checklist).
  tools_dir: {tools}

{store}
control:
  socket: {control}
  mode: "0660"
  portal_socket: {portal_socket}

metrics:
  listen: "{metrics}"

# RADIUS accounting, as a BNG or FreeRADIUS would copy it to cordond.
sessions:
  radius:
    listen: "{radius}"
    clients:
      - address: 127.0.0.1
        secret: "{radius_secret}"

logging:
  format: text
"#,
        prefixes = list(net.subscriber_prefixes()),
        never = list([net.portal_v4().to_string(), net.portal_v6().to_string()]),
        mode = mode(o.port25_mode),
        allowed = list(allowed),
        relays = list([RELAY_V4.to_string(), RELAY_V6.to_string()]),
        rate = o.relay_rate.0,
        burst = o.relay_rate.1,
        attempts = signal(&o.smtp_attempts),
        destinations = signal(&o.smtp_destinations),
        score = o.report_score,
        min_hold = duration::format(o.min_hold),
        quiet = duration::format(o.quiet_period),
        // As in production (15 minutes against 2 hours), the button needs
        // less quiet than the automatic release, so it has a moment to work.
        button_quiet = duration::format(Duration::from_secs((o.quiet_period.as_secs() / 2).max(1))),
        resolvers = list([RESOLVER_V4.to_string(), RESOLVER_V6.to_string()]),
        garden = list(GARDEN_PREFIXES.map(String::from)),
        portal_port = PORTAL_PORT,
        redirect_port = REDIRECT_PORT,
        portal_v4 = net.portal_v4(),
        tools = q(site.tools_dir.display()),
        store = store_section(&site.store, site),
        control = run("control.sock"),
        portal_socket = run("portal.sock"),
        metrics = METRICS_LISTEN,
        radius = RADIUS_LISTEN,
        radius_secret = RADIUS_SECRET,
        portal_user = PORTAL_USER,
    )
}

/// Writes the config as the units expect it (deploy/README.md): 0640, owned
/// by root and the group of `portal_user`, the one other reader (the portal
/// reads it before it drops root, but one started as its own user reads it
/// through the group). It holds secrets (the RADIUS secret): no one else.
pub(crate) fn write(path: &Path, text: &str, portal_user: Option<&str>) -> Result<(), LabError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let what = || format!("writing {}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(path)
        .map_err(LabError::io(what()))?;
    file.write_all(text.as_bytes())
        .map_err(LabError::io(what()))?;
    // The mode given to open() passed through the umask; say it again.
    file.set_permissions(std::fs::Permissions::from_mode(0o640))
        .map_err(LabError::io(what()))?;
    if let Some(name) = portal_user {
        let account = nix::unistd::User::from_name(name)
            .map_err(|e| LabError::io(what())(e.into()))?
            .ok_or_else(|| {
                LabError::InvalidOption(format!(
                    "portal.user {name} has no account here: run scripts/install-deps test, which creates the lab's users"
                ))
            })?;
        nix::unistd::fchown(
            &file,
            Some(nix::unistd::Uid::from_raw(0)),
            Some(account.gid),
        )
        .map_err(|e| {
            LabError::io(format!("giving {} to the group of {name}", path.display()))(e.into())
        })?;
    }
    Ok(())
}

/// A test's change to the typed config, applied after rendering, to every
/// gateway's config in turn (hence `Fn`).
pub type ConfigEdit = Box<dyn Fn(&mut Config) + Send>;

/// Renders gateway `site`'s config, applies `edits`, and checks the result
/// the way cordond will. Returns the text to write and the config it reads
/// as.
pub fn build(
    lab: &str,
    site: &GatewaySite,
    o: &ConfigOptions,
    edits: &[ConfigEdit],
) -> Result<(String, Config), LabError> {
    let path = site.config_path();
    let text = render(lab, site, o);
    let mut config = cordon_config::load_str(&text, &path)?;
    if edits.is_empty() {
        return Ok((text, config));
    }
    for edit in edits {
        edit(&mut config);
    }
    let whose = site.whose(lab);
    let text = format!(
        "# cordond config for {whose}, written by cordon-lab (edited by a test).\n{}",
        serde_yaml::to_string(&config)?
    );
    let config = cordon_config::load_str(&text, &path)?;
    Ok((text, config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::LabName;
    use std::path::PathBuf;

    fn run_dir() -> PathBuf {
        PathBuf::from("/run/cordon-lab/t")
    }

    fn site(g: usize, gateways: usize) -> GatewaySite {
        GatewaySite::new(
            &LabName::new("t").unwrap(),
            g,
            gateways,
            StoreChoice::Sqlite,
        )
    }

    #[test]
    fn the_default_lab_config_is_valid() {
        let (_, c) = build("t", &site(0, 1), &ConfigOptions::default(), &[]).unwrap();
        assert_eq!(c.interfaces.downlink[0].as_str(), "sub*");
        assert_eq!(c.interfaces.uplink[0].as_str(), "uplink");
        assert_eq!(c.quarantine.quiet_period, Duration::from_secs(4));
        assert_eq!(c.quarantine.min_hold, Duration::from_secs(2));
        assert_eq!(c.detection.reports.score, 3);
        assert_eq!(c.detection.smtp_attempts.threshold, 20);
        assert_eq!(c.relays.addresses[0].to_string(), "192.0.2.25");
        assert_eq!(c.walled_garden.resolvers[0].to_string(), "192.0.2.53");
        assert_eq!(c.portal.public_url.as_str(), "http://100.64.0.1:8080/");
        assert_eq!(c.portal.redirect_port, 8081);
        assert_eq!(c.portal.user.as_deref(), Some("cordon-portal"));
        assert_eq!(
            c.store.sqlite_path(),
            Some(run_dir().join("cordon.db").as_path())
        );
        assert_eq!(c.portal.tools_dir, Some(run_dir().join("tools")));
        assert_eq!(c.control.socket, run_dir().join("control.sock"));
        assert_eq!(c.control.portal_socket, run_dir().join("portal.sock"));
        assert!(c.port25.allowed_senders.is_empty());
        let never: Vec<String> = c.never_quarantine.iter().map(|p| p.to_string()).collect();
        assert_eq!(never, ["100.64.0.1", "2001:db8:100::1"]);
    }

    #[test]
    fn allowed_senders_cover_both_families() {
        let o = ConfigOptions {
            allowed_senders: vec![2],
            port25_mode: Port25Mode::Monitor,
            ..ConfigOptions::default()
        };
        let (_, c) = build("t", &site(0, 1), &o, &[]).unwrap();
        let allowed: Vec<String> = c
            .port25
            .allowed_senders
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(allowed, ["100.64.3.2", "2001:db8:100:3::/64"]);
        assert_eq!(c.port25.mode, Port25Mode::Monitor);
    }

    #[test]
    fn edits_round_trip_and_are_checked() {
        let edit: ConfigEdit = Box::new(|c: &mut Config| c.quarantine.self_release.count = 0);
        let (text, c) = build("t", &site(0, 1), &ConfigOptions::default(), &[edit]).unwrap();
        assert_eq!(c.quarantine.self_release.count, 0);
        assert!(text.contains("edited by a test"));

        let bad: ConfigEdit = Box::new(|c: &mut Config| c.detection.reports.score = 0);
        let e = build("t", &site(0, 1), &ConfigOptions::default(), &[bad]).unwrap_err();
        assert!(e.to_string().contains("score"), "{e}");
    }

    #[test]
    fn each_gateway_gets_its_own_prefixes_portal_files_and_allowed_senders() {
        let o = ConfigOptions {
            allowed_senders: vec![0, 1, 3],
            ..ConfigOptions::default()
        };
        let (text, c) = build("t", &site(1, 2), &o, &[]).unwrap();
        assert!(text.starts_with("# cordond config for gateway `gw1` of the lab `t`"));
        let prefixes: Vec<String> = c
            .subscribers
            .prefixes
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(prefixes, ["100.65.0.0/16", "2001:db8:101::/48"]);
        let never: Vec<String> = c.never_quarantine.iter().map(|p| p.to_string()).collect();
        assert_eq!(never, ["100.65.0.1", "2001:db8:101::1"]);
        assert_eq!(c.portal.public_url.as_str(), "http://100.65.0.1:8080/");
        let gw1 = run_dir().join("gw1");
        assert_eq!(c.store.sqlite_path(), Some(gw1.join("cordon.db").as_path()));
        assert_eq!(c.control.socket, gw1.join("control.sock"));
        assert_eq!(c.control.portal_socket, gw1.join("portal.sock"));
        // One copy of the tools for the whole lab.
        assert_eq!(c.portal.tools_dir, Some(run_dir().join("tools")));
        // Only the subscribers behind it (1 and 3 of 0..4 with 2 gateways).
        let allowed: Vec<String> = c
            .port25
            .allowed_senders
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            allowed,
            [
                "100.65.2.2",
                "2001:db8:101:2::/64",
                "100.65.4.2",
                "2001:db8:101:4::/64"
            ]
        );
    }

    #[test]
    fn the_store_section_is_written_from_the_choice() {
        assert_eq!(
            store_section(&StoreChoice::Sqlite, &site(1, 2)),
            "store:\n  backend: sqlite\n  path: \"/run/cordon-lab/t/gw1/cordon.db\"\n"
        );
    }

    /// A fleet's gateway names itself, reaches the lab's server by its
    /// socket and keeps its outbox in its own directory; cordond's loader
    /// takes the section.
    #[test]
    fn a_postgres_choice_names_the_gateway_its_socket_and_its_outbox() {
        let choice = StoreChoice::Postgres {
            socket_dir: run_dir().join("pg"),
        };
        let mut s = site(1, 2);
        s.store = choice;
        let (text, c) = build("t", &s, &ConfigOptions::default(), &[]).unwrap();
        assert!(
            text.contains("url: \"host=/run/cordon-lab/t/pg dbname=cordon user=postgres\""),
            "{text}"
        );
        let cordon_config::Store::Postgres(p) = &c.store else {
            panic!("not postgres: {:?}", c.store);
        };
        assert_eq!(
            p.gateway.as_ref().map(ToString::to_string),
            Some("gw1".into())
        );
        assert_eq!(p.outbox, run_dir().join("gw1/outbox.db"));
    }
}

//! The deployment files (`deploy/`) and the Vagrant lab (`vagrant/`), checked
//! without a gateway or a hypervisor: the scripts parse and pass shellcheck,
//! `vagrant validate` accepts the Vagrantfile, the lab's config loads, the
//! Grafana dashboard queries only metrics cordond exports, and the systemd
//! units keep their hardening. Needs no root; needs `shellcheck`, `vagrant`
//! and `systemd-analyze` (scripts/install-deps test), and says so when one is
//! missing rather than skipping.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use cordon_lab::addresses::{
    GARDEN_PREFIXES, GARDEN_V4, GARDEN_V6, PORTAL_V4, PORTAL_V6, RELAY_V4, RELAY_V6, RESOLVER_V4,
    RESOLVER_V6, SUBSCRIBER_PREFIXES, UPLINK_GW_V4, UPLINK_GW_V6, UPLINK_NET_V4, UPLINK_NET_V6,
    WEB_V4, subscriber_gw_v4, subscriber_gw_v6, subscriber_v4, subscriber_v6,
};
use cordon_lab::config::{PORTAL_PORT, REDIRECT_PORT};

/// The workspace root (this package lives in `tests/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(stem: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "cordon-deploy-{stem}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a tool the tests need; a missing one fails with what to install.
fn run(program: &str, install_hint: &str, configure: impl FnOnce(&mut Command)) -> Output {
    let mut cmd = Command::new(program);
    configure(&mut cmd);
    match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{program}` is not installed, and this test needs it: {install_hint} \
             (scripts/install-deps test installs what the tests need)"
        ),
        Err(e) => panic!("cannot run {program}: {e}"),
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---------------------------------------------------------------------------
// (a) shell scripts
// ---------------------------------------------------------------------------

/// Every file in `vagrant/provision/` and `scripts/`, sorted.
fn script_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["vagrant/provision", "scripts"] {
        let dir = root().join(dir);
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Shell scripts among them, by their `#!` line; any file there without one
/// is a mistake.
fn shell_scripts() -> Vec<PathBuf> {
    let mut shell = Vec::new();
    for path in script_files() {
        let first = read(&rel(&path)).lines().next().unwrap_or("").to_owned();
        assert!(
            first.starts_with("#!"),
            "{}: a script must start with a #! line naming its interpreter",
            rel(&path)
        );
        if first.ends_with("bash") || first.ends_with("/sh") || first.ends_with(" sh") {
            shell.push(path);
        } else {
            eprintln!(
                "{}: not a shell script ({first}), not checked here",
                rel(&path)
            );
        }
    }
    shell
}

#[test]
fn every_script_parses_with_bash_n() {
    let scripts = shell_scripts();
    let provision: Vec<_> = scripts
        .iter()
        .filter(|p| rel(p).starts_with("vagrant/provision/"))
        .collect();
    assert_eq!(
        provision.len(),
        5,
        "common, gateway, internet, subscriber, and lib (the functions they source): {provision:?}"
    );
    for path in &scripts {
        let out = run("bash", "apt install bash", |c| {
            c.arg("-n").arg(path);
        });
        assert!(
            out.status.success(),
            "bash -n {}:\n{}",
            rel(path),
            text(&out)
        );
    }
}

#[test]
fn every_script_passes_shellcheck() {
    let scripts = shell_scripts();
    let out = run("shellcheck", "apt install shellcheck", |c| {
        c.current_dir(root())
            .arg("--external-sources")
            .arg("--format=gcc")
            .args(scripts.iter().map(|p| rel(p)));
    });
    assert!(
        out.status.success(),
        "shellcheck found problems:\n{}",
        text(&out)
    );
}

#[test]
fn operator_scripts_are_executable() {
    for path in script_files() {
        if !rel(&path).starts_with("scripts/") {
            continue;
        }
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert!(
            mode & 0o111 != 0,
            "{} is not executable (chmod +x): the README runs it as a command",
            rel(&path)
        );
    }
}

// ---------------------------------------------------------------------------
// (b) the Vagrantfile
// ---------------------------------------------------------------------------

/// `vagrant validate`, away from the user's ~/.vagrant.d and without leaving
/// a `.vagrant/` in the repo. Provider blocks are not validated: neither
/// VirtualBox nor libvirt is expected where the tests run.
fn vagrant_validate(extra_env: &[(&str, &Path)]) -> Output {
    let home = TempDir::new("vagrant-home");
    let dot = TempDir::new("vagrant-dot");
    run(
        "vagrant",
        "apt install vagrant (Debian's package; no provider is needed to validate)",
        |c| {
            c.current_dir(root().join("vagrant"))
                .args(["validate", "--ignore-provider", "--no-color"])
                .env("VAGRANT_HOME", home.path())
                .env("VAGRANT_DOTFILE_PATH", dot.path())
                .env("VAGRANT_CHECKPOINT_DISABLE", "1")
                .env_remove("VAGRANT_CWD")
                .env_remove("VAGRANT_VAGRANTFILE")
                .env_remove("CORDON_BINARIES")
                .env_remove("CORDON_BOX");
            for (k, v) in extra_env {
                c.env(k, v);
            }
        },
    )
}

#[test]
fn vagrant_validate_accepts_the_vagrantfile() {
    let out = vagrant_validate(&[]);
    assert!(
        out.status.success() && text(&out).contains("validated successfully"),
        "vagrant validate:\n{}",
        text(&out)
    );
    // The variant that installs prebuilt binaries instead of building.
    let bin = TempDir::new("vagrant-bin");
    let out = vagrant_validate(&[("CORDON_BINARIES", bin.path())]);
    assert!(
        out.status.success() && text(&out).contains("validated successfully"),
        "CORDON_BINARIES=DIR vagrant validate:\n{}",
        text(&out)
    );
    assert!(
        !root().join("vagrant/.vagrant").exists(),
        "vagrant validate left vagrant/.vagrant behind"
    );
}

#[test]
fn the_vagrant_lab_uses_the_namespace_labs_addresses() {
    let mut all = read("vagrant/Vagrantfile");
    for path in script_files() {
        if rel(&path).starts_with("vagrant/provision/") {
            all.push_str(&read(&rel(&path)));
        }
    }
    let wanted = [
        subscriber_v4(0).to_string(),
        subscriber_gw_v4(0).to_string(),
        subscriber_v6(0).to_string(),
        subscriber_gw_v6(0).to_string(),
        UPLINK_GW_V4.to_string(),
        UPLINK_NET_V4.to_string(),
        UPLINK_GW_V6.to_string(),
        UPLINK_NET_V6.to_string(),
        PORTAL_V4.to_string(),
        PORTAL_V6.to_string(),
        GARDEN_V4.to_string(),
        GARDEN_V6.to_string(),
        WEB_V4.to_string(),
    ];
    for addr in wanted {
        assert!(
            all.contains(&addr),
            "{addr} (tests/src/addresses.rs) appears nowhere in vagrant/"
        );
    }
    for machine in ["subscriber", "gateway", "internet"] {
        assert!(
            all.contains(&format!("config.vm.define \"{machine}\"")),
            "the Vagrantfile defines no machine {machine}"
        );
    }
    assert!(all.contains("debian/bookworm64"), "the box is Debian 12");
}

// ---------------------------------------------------------------------------
// (c) the lab's config
// ---------------------------------------------------------------------------

#[test]
fn the_vagrant_config_loads_and_matches_the_topology() {
    let path = root().join("vagrant/cordon.yaml");
    let c = cordon_config::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let strings = |v: &mut dyn Iterator<Item = String>| v.collect::<Vec<_>>();

    assert_eq!(
        strings(&mut c.subscribers.prefixes.iter().map(ToString::to_string)),
        SUBSCRIBER_PREFIXES
    );
    assert_eq!(
        strings(&mut c.relays.addresses.iter().map(ToString::to_string)),
        [RELAY_V4.to_string(), RELAY_V6.to_string()]
    );
    assert_eq!(
        strings(&mut c.walled_garden.resolvers.iter().map(ToString::to_string)),
        [RESOLVER_V4.to_string(), RESOLVER_V6.to_string()]
    );
    assert_eq!(
        strings(&mut c.walled_garden.destinations.iter().map(ToString::to_string)),
        GARDEN_PREFIXES
    );
    let never = strings(&mut c.never_quarantine.iter().map(ToString::to_string));
    for addr in [PORTAL_V4.to_string(), PORTAL_V6.to_string()] {
        assert!(never.contains(&addr), "{addr} must never be quarantined");
    }
    assert_eq!(
        c.portal.public_url,
        format!("http://{PORTAL_V4}:{PORTAL_PORT}/")
    );
    assert_eq!(c.portal.redirect_port, REDIRECT_PORT);
    // gateway.sh rewrites exactly these two lines when the NICs are named
    // otherwise.
    let text = read("vagrant/cordon.yaml");
    assert!(text.contains("\n  downlink: [eth1]\n"), "downlink line");
    assert!(text.contains("\n  uplink: [eth2]\n"), "uplink line");
    assert_eq!(c.interfaces.downlink[0].as_str(), "eth1");
    assert_eq!(c.interfaces.uplink[0].as_str(), "eth2");
    agrees_with_the_units(&c, "vagrant/cordon.yaml");
}

#[test]
fn the_example_config_agrees_with_the_units() {
    let path = root().join("cordon.example.yaml");
    let c = cordon_config::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    agrees_with_the_units(&c, "cordon.example.yaml");
}

/// What the units and sysusers.d take for granted about a config.
fn agrees_with_the_units(c: &cordon_config::Config, name: &str) {
    let portal = unit("deploy/cordon-portal.service");
    let user = portal.one("Service", "User");
    assert_eq!(
        c.portal.user.as_deref(),
        Some(user.as_str()),
        "{name}: portal.user must be the user cordon-portal.service runs as, \
         or cordond hands portal.sock to someone else"
    );
    assert_eq!(c.control.group.as_deref(), Some("cordon"), "{name}");
    let sysusers = read("deploy/sysusers.d/cordon.conf");
    assert!(sysusers_has(&sysusers, "g", "cordon"), "sysusers: g cordon");
    assert!(sysusers_has(&sysusers, "u", &user), "sysusers: u {user}");
    for socket in [&c.control.socket, &c.control.portal_socket] {
        assert!(
            socket.starts_with("/run/cordon"),
            "{name}: {} is outside cordond's RuntimeDirectory /run/cordon",
            socket.display()
        );
    }
    assert!(
        c.store.path.starts_with("/var/lib/cordon"),
        "{name}: the store {} is outside ReadWritePaths=/var/lib/cordon",
        c.store.path.display()
    );
    for addr in &c.portal.listen {
        assert!(
            addr.port() >= 1024,
            "{name}: the portal has no CAP_NET_BIND_SERVICE"
        );
    }
    assert!(c.portal.redirect_port >= 1024, "{name}: redirect_port");
    if let Some(m) = c.metrics.listen {
        assert!(m.port() >= 1024, "{name}: metrics.listen");
    }
}

fn sysusers_has(text: &str, kind: &str, name: &str) -> bool {
    text.lines()
        .map(str::split_whitespace)
        .any(|mut w| w.next() == Some(kind) && w.next() == Some(name))
}

// ---------------------------------------------------------------------------
// (d) the Grafana dashboard
// ---------------------------------------------------------------------------

/// `deploy/grafana/metrics.txt`: metric name -> type.
fn metric_list() -> BTreeMap<String, String> {
    let mut list = BTreeMap::new();
    for line in read("deploy/grafana/metrics.txt").lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let name = words.next().unwrap().to_owned();
        let kind = words.next().unwrap_or("").to_owned();
        assert!(
            ["gauge", "counter", "histogram"].contains(&kind.as_str()),
            "metrics.txt: {name}: type {kind:?}"
        );
        assert!(name.starts_with("cordon_"), "metrics.txt: {name}");
        assert_eq!(
            kind == "counter",
            name.ends_with("_total"),
            "metrics.txt: {name}: counters (and only counters) end in _total"
        );
        assert!(list.insert(name.clone(), kind).is_none(), "{name} twice");
    }
    list
}

/// Identifiers in a PromQL expression that look like Cordon's metrics.
fn cordon_names(expr: &str) -> Vec<String> {
    expr.split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == ':'))
        .filter(|w| w.starts_with("cordon_"))
        .map(str::to_owned)
        .collect()
}

/// The listed metric a series name belongs to (`_bucket` etc. of histograms).
fn listed<'a>(series: &str, list: &'a BTreeMap<String, String>) -> Option<&'a str> {
    if let Some((name, _)) = list.get_key_value(series) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = series.strip_suffix(suffix)?;
        let (name, kind) = list.get_key_value(base)?;
        (kind == "histogram").then_some(name.as_str())
    })
}

fn all_panels(v: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
    for p in v["panels"].as_array().into_iter().flatten() {
        out.push(p.clone());
        all_panels(p, out);
    }
}

#[test]
fn the_grafana_dashboard_queries_only_listed_metrics() {
    let list = metric_list();
    let dash: serde_json::Value = serde_json::from_str(&read("deploy/grafana/cordon.json"))
        .unwrap_or_else(|e| panic!("deploy/grafana/cordon.json: {e}"));

    // Importable as is: a data source input, a schema Grafana 10/11 reads.
    let inputs = dash["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs
            .iter()
            .any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus"),
        "__inputs names DS_PROMETHEUS"
    );
    let schema = dash["schemaVersion"].as_u64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    assert!(
        dash["id"].is_null(),
        "id is null so that imports do not clash"
    );
    assert!(dash["uid"].as_str().is_some_and(|u| !u.is_empty()), "uid");

    let mut panels = Vec::new();
    all_panels(&dash, &mut panels);
    assert!(panels.len() >= 5, "{} panels", panels.len());
    let mut ids = BTreeSet::new();
    let mut used = BTreeSet::new();
    for p in &panels {
        let title = p["title"].as_str().unwrap_or("?");
        assert!(ids.insert(p["id"].as_u64().expect("id")), "{title}: id");
        assert!(p["gridPos"]["w"].as_u64().is_some(), "{title}: gridPos");
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
            let expr = t["expr"].as_str().expect("expr");
            let names = cordon_names(expr);
            assert!(!names.is_empty(), "{title}: {expr} names no cordon metric");
            for series in names {
                let name = listed(&series, &list).unwrap_or_else(|| {
                    panic!(
                        "{title}: {expr} queries {series}, which deploy/grafana/metrics.txt does not list"
                    )
                });
                used.insert(name.to_owned());
            }
        }
    }
    for v in dash["templating"]["list"].as_array().into_iter().flatten() {
        for series in cordon_names(v["definition"].as_str().unwrap_or("")) {
            assert!(listed(&series, &list).is_some(), "variable: {series}");
        }
    }
    let unused: Vec<_> = list.keys().filter(|n| !used.contains(*n)).collect();
    assert!(unused.is_empty(), "listed but on no panel: {unused:?}");

    // The panels the issue asks for.
    for wanted in [
        "cordon_hosts",
        "cordon_transitions_total",
        "cordon_rule_change_seconds",
        "cordon_detection_latency_seconds",
        "cordon_store_write_seconds",
    ] {
        assert!(used.contains(wanted), "no panel shows {wanted}");
    }
}

fn rust_sources(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// A dashboard panel on a metric nobody exports shows "No data" forever.
/// cordond registers its metrics under the prefix `cordon`, counters without
/// their `_total`.
#[test]
fn cordond_registers_every_listed_metric() {
    // Every crate cordond is built from (not the lab, not the benchmarks).
    let mut src = String::new();
    for entry in std::fs::read_dir(root()).unwrap().flatten() {
        let name = entry.file_name();
        let dir = entry.path().join("src");
        if dir.is_dir() && !["tests", "bench", "target"].contains(&name.to_str().unwrap_or("")) {
            rust_sources(&dir, &mut src);
        }
    }
    assert!(
        src.contains("Registry::with_prefix(\"cordon\")"),
        "no registry with the prefix cordon in the workspace's sources"
    );
    let missing: Vec<String> = metric_list()
        .into_iter()
        .filter_map(|(name, kind)| {
            let short = name.strip_prefix("cordon_").unwrap();
            let short = if kind == "counter" {
                short.strip_suffix("_total").unwrap()
            } else {
                short
            };
            (!src.contains(&format!("\"{short}\""))).then_some(name)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "deploy/grafana lists metrics that cordond's sources do not register: {missing:?} \
         (register them in orchestrator/src/metrics.rs, or drop their panels and lines)"
    );
}

// ---------------------------------------------------------------------------
// (e) the systemd units
// ---------------------------------------------------------------------------

/// A unit file: section -> key -> every value given (keys may repeat).
struct Unit {
    path: String,
    sections: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

fn unit(rel: &str) -> Unit {
    let mut sections: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut current = String::new();
    for (n, line) in read(rel).lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        assert!(
            !line.ends_with('\\'),
            "{rel}:{}: keep values on one line",
            n + 1
        );
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.to_owned();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{rel}:{}: not key=value: {line}", n + 1));
        assert!(
            !current.is_empty(),
            "{rel}:{}: key before any section",
            n + 1
        );
        sections
            .entry(current.clone())
            .or_default()
            .entry(k.trim().to_owned())
            .or_default()
            .push(v.trim().to_owned());
    }
    Unit {
        path: rel.to_owned(),
        sections,
    }
}

impl Unit {
    fn all(&self, section: &str, key: &str) -> Vec<String> {
        self.sections
            .get(section)
            .and_then(|s| s.get(key))
            .cloned()
            .unwrap_or_default()
    }

    /// The value of a key given exactly once.
    fn one(&self, section: &str, key: &str) -> String {
        let v = self.all(section, key);
        assert_eq!(v.len(), 1, "{}: [{section}] {key}= once: {v:?}", self.path);
        v[0].clone()
    }

    fn expect(&self, section: &str, key: &str, value: &str) {
        assert_eq!(
            self.one(section, key),
            value,
            "{}: [{section}] {key}",
            self.path
        );
    }

    /// Space-separated words over every assignment of a key (an empty
    /// assignment resets the list, as systemd reads it).
    fn words(&self, section: &str, key: &str) -> BTreeSet<String> {
        let mut words = BTreeSet::new();
        for v in self.all(section, key) {
            if v.is_empty() {
                words.clear();
            }
            words.extend(v.split_whitespace().map(str::to_owned));
        }
        words
    }

    fn has(&self, section: &str, key: &str) -> bool {
        !self.all(section, key).is_empty()
    }
}

fn set(words: &[&str]) -> BTreeSet<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// Sandboxing both units keep.
const SANDBOX: [(&str, &str); 17] = [
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectHostname", "yes"),
    ("RestrictNamespaces", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("LockPersonality", "yes"),
    ("MemoryDenyWriteExecute", "yes"),
    ("SystemCallArchitectures", "native"),
];

fn sandboxed(u: &Unit) {
    for (key, value) in SANDBOX {
        u.expect("Service", key, value);
    }
    assert!(
        u.words("Service", "SystemCallFilter")
            .contains("@system-service"),
        "{}: SystemCallFilter=@system-service",
        u.path
    );
    u.expect("Service", "Restart", "on-failure");
    u.expect("Service", "AmbientCapabilities", "");
    u.expect("Install", "WantedBy", "multi-user.target");
    assert!(
        !u.has("Service", "PermissionsStartOnly") && !u.has("Service", "DynamicUser"),
        "{}",
        u.path
    );
}

#[test]
fn cordond_unit_is_bounded_to_what_it_needs() {
    let u = unit("deploy/cordond.service");
    sandboxed(&u);
    u.expect("Service", "Type", "notify");
    u.expect("Service", "WatchdogSec", "30s");
    u.expect(
        "Service",
        "ExecStart",
        "/usr/local/bin/cordond --config /etc/cordon/cordon.yaml",
    );
    u.expect("Service", "ExecReload", "/bin/kill -HUP $MAINPID");
    // Root, but only these.
    assert!(!u.has("Service", "User"), "cordond runs as root");
    let caps = u.words("Service", "CapabilityBoundingSet");
    assert!(caps.contains("CAP_NET_ADMIN"), "CAP_NET_ADMIN: {caps:?}");
    assert!(
        caps.is_subset(&set(&["CAP_NET_ADMIN", "CAP_CHOWN"])),
        "cordond's capabilities grew: {caps:?} (document each in the unit and deploy/README.md)"
    );
    u.expect("Service", "ReadWritePaths", "/var/lib/cordon");
    u.expect("Service", "StateDirectory", "cordon");
    u.expect("Service", "RuntimeDirectory", "cordon");
    u.expect("Service", "RuntimeDirectoryMode", "0711");
    u.expect("Service", "RuntimeDirectoryPreserve", "yes");
    assert_eq!(
        u.words("Service", "RestrictAddressFamilies"),
        set(&["AF_UNIX", "AF_NETLINK", "AF_INET", "AF_INET6"])
    );
    u.expect("Service", "ProcSubset", "pid");
    u.expect("Service", "PrivateIPC", "yes");
    limited(&u, "1G");
}

/// Descriptors, tasks and memory: the default soft limit of 1024
/// descriptors ran out under 1 100 idle connections.
fn limited(u: &Unit, memory: &str) {
    u.expect("Service", "LimitNOFILE", "65536");
    u.expect("Service", "TasksMax", "1024");
    u.expect("Service", "MemoryMax", memory);
}

#[test]
fn the_portal_unit_has_no_privilege() {
    let u = unit("deploy/cordon-portal.service");
    sandboxed(&u);
    u.expect("Service", "User", "cordon-portal");
    u.expect("Service", "Group", "cordon-portal");
    u.expect("Service", "CapabilityBoundingSet", "");
    u.expect(
        "Service",
        "ExecStart",
        "/usr/local/bin/cordon-portal --config /etc/cordon/cordon.yaml",
    );
    assert!(
        !u.words("Service", "SupplementaryGroups").contains("cordon"),
        "the group cordon may use the control socket; the portal must not be in it"
    );
    assert_eq!(
        u.words("Service", "RestrictAddressFamilies"),
        set(&["AF_UNIX", "AF_INET", "AF_INET6"])
    );
    assert!(u.words("Unit", "After").contains("cordond.service"));
    assert!(u.words("Unit", "Wants").contains("cordond.service"));
    let filters = u.all("Service", "SystemCallFilter");
    assert!(
        filters
            .iter()
            .any(|f| f.starts_with('~') && f.contains("@privileged")),
        "the portal excludes @privileged system calls: {filters:?}"
    );
    u.expect("Service", "PrivateMounts", "yes");
    u.expect("Service", "ProcSubset", "pid");
    u.expect("Service", "PrivateIPC", "yes");
    limited(&u, "512M");
    u.expect("Service", "IPAddressDeny", "any");
}

/// The portal talks IP only with loopback and the subscriber prefixes: the
/// unit lists the example config's, the Vagrant gateway its own in a
/// drop-in. A prefix missing there is a subscriber who never sees the page.
#[test]
fn the_portal_unit_admits_the_subscriber_prefixes_and_nothing_else() {
    let u = unit("deploy/cordon-portal.service");
    u.expect("Service", "IPAddressDeny", "any");
    let example = cordon_config::load_file(&root().join("cordon.example.yaml")).unwrap();
    let mut want: BTreeSet<String> = example
        .subscribers
        .prefixes
        .iter()
        .map(|p| p.to_string())
        .collect();
    want.insert("localhost".into());
    assert_eq!(u.words("Service", "IPAddressAllow"), want);

    let vagrant = cordon_config::load_file(&root().join("vagrant/cordon.yaml")).unwrap();
    let provision = read("vagrant/provision/gateway.sh");
    let allow = provision
        .lines()
        .filter_map(|l| l.strip_prefix("IPAddressAllow="))
        .next_back()
        .unwrap_or_else(|| panic!("vagrant/provision/gateway.sh sets no IPAddressAllow drop-in"));
    let mut want: BTreeSet<String> = vagrant
        .subscribers
        .prefixes
        .iter()
        .map(|p| p.to_string())
        .collect();
    want.insert("localhost".into());
    assert_eq!(
        allow
            .split_whitespace()
            .map(str::to_owned)
            .collect::<BTreeSet<_>>(),
        want,
        "the Vagrant gateway's portal drop-in and vagrant/cordon.yaml's subscribers.prefixes"
    );
}

/// What systemd itself says: `verify` (with stand-ins for the binaries, which
/// verify insists exist), `security --offline` within bounds, and the
/// sysusers.d and tmpfiles.d files applied to an empty root.
#[test]
fn systemd_accepts_the_units() {
    let hint = "apt install systemd (its tools work without systemd running)";
    let dir = TempDir::new("units");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let mut copies = Vec::new();
    for name in ["cordond.service", "cordon-portal.service"] {
        let text = read(&format!("deploy/{name}"))
            .replace("/usr/local/bin/", &format!("{}/", bin.display()));
        let copy = dir.path().join(name);
        std::fs::write(&copy, text).unwrap();
        copies.push(copy);
    }
    for exe in ["cordond", "cordon-portal"] {
        let path = bin.join(exe);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // A fresh Debian root has no `man`, and `verify` runs it for every
    // `Documentation=man:` line unless told not to. A `man` that finds no
    // page, first in PATH, shows this test what that root shows.
    let no_man = dir.path().join("no-man");
    std::fs::create_dir_all(&no_man).unwrap();
    let man = no_man.join("man");
    std::fs::write(&man, "#!/bin/sh\necho \"no man here\" >&2\nexit 16\n").unwrap();
    std::fs::set_permissions(&man, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        no_man.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = run("systemd-analyze", hint, |c| {
        // --man=no: whether a man page exists is the packager's business,
        // not the units'.
        c.args(["verify", "--man=no"])
            .args(&copies)
            .env("PATH", &path);
    });
    // Warnings (unknown keys, bad values) come with exit code 0 and name the
    // unit file.
    let report = text(&out);
    assert!(
        out.status.success() && !report.contains("cordon"),
        "systemd-analyze verify:\n{report}"
    );

    // What `systemd-analyze security` (systemd 252) scores them now: what
    // is left is root, netlink and CAP_NET_ADMIN for cordond, and for both
    // the network they serve.
    for (copy, most) in copies.iter().zip([2.1, 1.2]) {
        let out = run("systemd-analyze", hint, |c| {
            c.args(["security", "--offline=yes", "--no-pager"])
                .arg(copy);
        });
        let report = text(&out);
        let level: f64 = report
            .lines()
            .find_map(|l| {
                l.split_once("Overall exposure level for ")?
                    .1
                    .split_once(": ")
            })
            .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
        assert!(
            level <= most,
            "{}: exposure {level} > {most}:\n{report}",
            copy.display()
        );
    }

    let sysroot = TempDir::new("sysroot");
    std::fs::create_dir_all(sysroot.path().join("etc")).unwrap();
    let out = run("systemd-sysusers", hint, |c| {
        c.arg(format!("--root={}", sysroot.path().display()))
            .arg(root().join("deploy/sysusers.d/cordon.conf"));
    });
    assert!(out.status.success(), "systemd-sysusers:\n{}", text(&out));
    let passwd = std::fs::read_to_string(sysroot.path().join("etc/passwd")).unwrap();
    assert!(passwd.contains("cordon-portal:"), "{passwd}");
    let out = run("systemd-tmpfiles", hint, |c| {
        c.arg(format!("--root={}", sysroot.path().display()))
            .arg("--create")
            .arg(root().join("deploy/tmpfiles.d/cordon.conf"));
    });
    assert!(out.status.success(), "systemd-tmpfiles:\n{}", text(&out));
    assert!(sysroot.path().join("var/lib/cordon/tools").is_dir());
}

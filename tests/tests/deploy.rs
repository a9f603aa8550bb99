//! The deployment files (`deploy/`) and the Vagrant lab (`vagrant/`), checked
//! without a gateway or a hypervisor: the scripts parse and pass shellcheck,
//! `vagrant validate` accepts the Vagrantfile, the lab's config loads, the
//! Grafana dashboard queries only metrics cordond exports, and the configs
//! agree with the units (the units themselves: units.rs). Needs no root;
//! needs `shellcheck` and `vagrant` (scripts/install-deps test), and says so
//! when one is missing rather than skipping.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use cordon_lab::addresses::{
    GARDEN_PREFIXES, GARDEN_V4, GARDEN_V6, PORTAL_V4, PORTAL_V6, RELAY_V4, RELAY_V6, RESOLVER_V4,
    RESOLVER_V6, SUBSCRIBER_PREFIXES, UPLINK_GW_V4, UPLINK_GW_V6, UPLINK_NET_V4, UPLINK_NET_V6,
    WEB_V4, subscriber_gw_v4, subscriber_gw_v6, subscriber_v4, subscriber_v6,
};
use cordon_lab::config::{PORTAL_PORT, REDIRECT_PORT};

use common::repo::{TempDir, read, root, run, text, unit};

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
        c.portal.public_url.as_str(),
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
        c.store.path().starts_with("/var/lib/cordon"),
        "{name}: the store {} is outside ReadWritePaths=/var/lib/cordon",
        c.store.path().display()
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
    if let Some(m) = c.portal.metrics_listen {
        assert!(m.port() >= 1024, "{name}: portal.metrics_listen");
        assert!(
            m.ip().is_loopback(),
            "{name}: portal.metrics_listen {m}: cordon-portal.service allows IP with loopback and subscribers only"
        );
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

//! The Grafana dashboard queries only metrics listed in
//! `deploy/grafana/metrics.txt`, and the program that exports each listed one
//! (cordond, or cordon-portal for `cordon_portal_`) registers it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::common::repo::{read, root};

/// A program whose `/metrics` the dashboard reads.
#[derive(Debug)]
struct Exporter {
    name: &'static str,
    /// What its `Registry::with_prefix` puts before every name.
    prefix: &'static str,
    /// The dashboard variable that selects its scrape targets: cordond and
    /// the portal are scraped on different ports, so their `instance`
    /// labels differ and one variable cannot select both.
    variable: &'static str,
    /// Whether the crate in this top-level directory is one it is built from.
    built_from: fn(&str) -> bool,
}

/// The same program: its name says which.
impl PartialEq for Exporter {
    fn eq(&self, other: &Exporter) -> bool {
        self.name == other.name
    }
}

const CORDOND: Exporter = Exporter {
    name: "cordond",
    prefix: "cordon",
    variable: "$instance",
    // Every crate but the portal, the lab, its kit and the benchmarks.
    built_from: |dir| !["portal", "tests", "testkit", "bench", "target"].contains(&dir),
};

const PORTAL: Exporter = Exporter {
    name: "cordon-portal",
    prefix: "cordon_portal",
    variable: "$portal",
    // Its registry, and every name registered in it, is in its own crate.
    built_from: |dir| dir == "portal",
};

/// Who exports a listed metric: the portal's names start `cordon_portal_`.
fn exporter(name: &str) -> &'static Exporter {
    if name.starts_with("cordon_portal_") {
        &PORTAL
    } else {
        &CORDOND
    }
}

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
            let from = exporter(&names[0]);
            assert!(
                names.iter().all(|n| exporter(n) == from),
                "{title}: {expr} mixes the metrics of cordond and cordon-portal"
            );
            let other = if from == &PORTAL { &CORDOND } else { &PORTAL };
            assert!(
                expr.contains(&format!("instance=~\"{}\"", from.variable))
                    && !expr.contains(other.variable),
                "{title}: {expr} must select {}'s targets by {}",
                from.name,
                from.variable
            );
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
        "cordon_portal_connections",
        "cordon_portal_connections_refused_total",
        "cordon_portal_responses_total",
    ] {
        assert!(used.contains(wanted), "no panel shows {wanted}");
    }
    assert!(
        panels
            .iter()
            .any(|p| p["type"] == "row" && p["title"] == "Portal"),
        "no row Portal"
    );
    let variables: Vec<_> = dash["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| format!("${}", v["name"].as_str().unwrap_or("")))
        .collect();
    for e in [&CORDOND, &PORTAL] {
        assert!(
            variables.iter().any(|v| v == e.variable),
            "no variable {} for {}",
            e.variable,
            e.name
        );
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

/// Checks that `program`'s sources register every metric listed as its.
/// A dashboard panel on a metric nobody exports shows "No data" forever.
/// Both programs register their metrics under their registry's prefix,
/// counters without their `_total`.
fn registers_every_listed_metric(program: &Exporter) {
    let mut src = String::new();
    for entry in std::fs::read_dir(root()).unwrap().flatten() {
        let name = entry.file_name();
        let dir = entry.path().join("src");
        if dir.is_dir() && (program.built_from)(name.to_str().unwrap_or("")) {
            rust_sources(&dir, &mut src);
        }
    }
    let registry = format!("Registry::with_prefix(\"{}\")", program.prefix);
    assert!(
        src.contains(&registry),
        "no {registry} in {}'s sources",
        program.name
    );
    let list: Vec<(String, String)> = metric_list()
        .into_iter()
        .filter(|(name, _)| exporter(name) == program)
        .collect();
    assert!(
        !list.is_empty(),
        "metrics.txt lists none of {}'s",
        program.name
    );
    let missing: Vec<String> = list
        .into_iter()
        .filter_map(|(name, kind)| {
            let short = name
                .strip_prefix(program.prefix)
                .and_then(|n| n.strip_prefix('_'))
                .unwrap();
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
        "deploy/grafana lists metrics that {}'s sources do not register: {missing:?} \
         (register them, or drop their panels and lines)",
        program.name
    );
}

#[test]
fn cordond_registers_every_listed_metric() {
    registers_every_listed_metric(&CORDOND);
}

#[test]
fn cordon_portal_registers_every_listed_metric() {
    registers_every_listed_metric(&PORTAL);
}

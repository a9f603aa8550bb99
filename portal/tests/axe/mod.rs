//! The axe-core accessibility audit (WCAG 2.1 A and AA, and axe's best
//! practices), run inside the page a WebDriver session shows. axe-core comes
//! from `scripts/install-deps test` (`scripts/install-axe-core`), pinned by
//! version and checksum; a machine without it fails the test and says so.
//!
//! Shared by the portal's browser test and the lab's (`#[path]`), so both
//! audit with the same rules and report violations the same way.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::PathBuf;

use fantoccini::Client;
use serde_json::Value;

/// The rule tags the audit runs: WCAG 2.0 and 2.1, levels A and AA, and
/// axe's best practices.
pub const TAGS: [&str; 5] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"];

/// Where `scripts/install-axe-core` puts axe-core (or `CORDON_AXE_JS`).
pub fn script_path() -> PathBuf {
    std::env::var_os("CORDON_AXE_JS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/axe-core/axe.min.js"),
        PathBuf::from,
    )
}

/// axe-core's source, or a failure that says how to get it.
pub fn script() -> String {
    let path = script_path();
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is missing at {} ({e}): run scripts/install-deps test \
             (or scripts/install-axe-core)",
            path.display()
        )
    })
}

/// Runs the audit on the page `client` shows and returns its violations,
/// one line each: rule id, impact, what it asks and the nodes' selectors.
pub async fn violations(client: &Client, axe: &str) -> Vec<String> {
    // Injected as a script of the page itself: it defines `window.axe`.
    client
        .execute(&format!("{axe}\n;return typeof window.axe;"), vec![])
        .await
        .unwrap();
    let run = "const done = arguments[arguments.length - 1];\
        axe.run(document, { runOnly: { type: 'tag', values: arguments[0] } })\
          .then(r => done({ ok: r.violations.map(v => ({ id: v.id, impact: v.impact, \
                help: v.help, targets: v.nodes.map(n => n.target.join(' ')) })) }))\
          .catch(e => done({ error: String(e) }));";
    let answer = client
        .execute_async(run, vec![serde_json::json!(TAGS)])
        .await
        .unwrap();
    if let Some(e) = answer.get("error") {
        panic!("axe.run failed: {e}");
    }
    answer["ok"]
        .as_array()
        .unwrap_or_else(|| panic!("axe.run answered {answer}"))
        .iter()
        .map(describe)
        .collect()
}

fn describe(v: &Value) -> String {
    let targets: Vec<&str> = v["targets"]
        .as_array()
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    format!(
        "{} ({}): {} at {}",
        v["id"].as_str().unwrap_or("?"),
        v["impact"].as_str().unwrap_or("no impact given"),
        v["help"].as_str().unwrap_or(""),
        targets.join(", ")
    )
}

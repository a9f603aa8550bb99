#![allow(clippy::unwrap_used)]

use super::*;

/// What `nft -j -t list table inet cordon` answered (nftables 1.0.6, Linux
/// 6.18) for `tests/golden/example.nft`, one object a line.
const LISTING: &str = include_str!("listing.json");

fn objects() -> Vec<Value> {
    let doc: Value = serde_json::from_str(LISTING).unwrap();
    doc["nftables"].as_array().unwrap().clone()
}

fn shape_of(objects: &[Value]) -> Shape {
    Shape::from_listing(&serde_json::json!({ "nftables": objects }).to_string()).unwrap()
}

fn is_rule_of(o: &Value, chain: &str) -> bool {
    o.pointer("/rule/chain").and_then(Value::as_str) == Some(chain)
}

fn texts(d: &[Difference]) -> Vec<String> {
    d.iter().map(ToString::to_string).collect()
}

#[test]
fn the_installed_listing_matches_itself() {
    let installed = Shape::from_listing(LISTING).unwrap();
    assert!(installed.differences(&installed).is_empty());
}

#[test]
fn counters_handles_and_elements_are_not_differences() {
    let installed = Shape::from_listing(LISTING).unwrap();
    let later: Vec<Value> = objects()
        .into_iter()
        .map(|mut o| {
            let text = o.to_string();
            if text.contains("\"packets\": 0") || text.contains("\"packets\":0") {
                o = serde_json::from_str(
                    &text
                        .replace("\"packets\":0", "\"packets\":41")
                        .replace("\"bytes\":0", "\"bytes\":2460"),
                )
                .unwrap();
            }
            for kind in ["rule", "chain", "set", "table"] {
                if let Some(h) = o.get_mut(kind).and_then(|b| b.get_mut("handle")) {
                    *h = Value::from(h.as_u64().unwrap() + 1000);
                }
            }
            if let Some(set) = o.get_mut("set") {
                set["elem"] = serde_json::json!(["100.64.1.7"]);
            }
            o
        })
        .collect();
    assert_ne!(later, objects(), "the listing was changed");
    assert_eq!(installed.differences(&shape_of(&later)), Vec::new());
}

#[test]
fn a_flushed_chain_is_named_with_its_rule_counts() {
    let installed = Shape::from_listing(LISTING).unwrap();
    let flushed: Vec<Value> = objects()
        .into_iter()
        .filter(|o| !is_rule_of(o, "forward"))
        .collect();
    assert_eq!(
        texts(&installed.differences(&shape_of(&flushed))),
        ["chain forward: 0 rules, expected 15"]
    );
}

#[test]
fn a_deleted_rule_a_changed_rule_and_a_deleted_chain_are_each_named() {
    let installed = Shape::from_listing(LISTING).unwrap();
    let mut changed = objects();
    // Delete the third rule of walled_garden, change the first of
    // from_subscriber, and remove to_quarantined with its rule.
    let third = changed
        .iter()
        .enumerate()
        .filter(|(_, o)| is_rule_of(o, "walled_garden"))
        .nth(2)
        .unwrap()
        .0;
    changed.remove(third);
    let first = changed
        .iter()
        .position(|o| is_rule_of(o, "from_subscriber"))
        .unwrap();
    changed[first]["rule"]["expr"] = serde_json::json!([{"accept": null}]);
    changed.retain(|o| {
        !is_rule_of(o, "to_quarantined")
            && o.pointer("/chain/name").and_then(Value::as_str) != Some("to_quarantined")
    });
    assert_eq!(
        texts(&installed.differences(&shape_of(&changed))),
        [
            "chain from_subscriber: rule 1 of 6 changed",
            "chain to_quarantined: missing",
            "chain walled_garden: 8 rules, expected 9",
        ]
    );
}

#[test]
fn set_definitions_chains_and_strangers_are_compared() {
    let installed = Shape::from_listing(LISTING).unwrap();
    let mut changed = objects();
    for o in &mut changed {
        if o.pointer("/set/name").and_then(Value::as_str) == Some("garden_v4") {
            o["set"].as_object_mut().unwrap().remove("flags");
        }
        if o.pointer("/chain/name").and_then(Value::as_str) == Some("forward") {
            o["chain"]["policy"] = "drop".into();
        }
        if o.get("table").is_some() {
            o["table"]["flags"] = serde_json::json!(["dormant"]);
        }
    }
    changed.retain(|o| o.pointer("/set/name").and_then(Value::as_str) != Some("relays_v6"));
    changed.push(serde_json::json!({"chain": {"family": "inet", "table": "cordon", "name": "sneak\u{1b}[2J"}}));
    changed.push(serde_json::json!({"set": {"family": "inet", "table": "cordon", "name": "mine", "type": "ipv4_addr"}}));
    changed.push(serde_json::json!({"flowtable": {"family": "inet", "table": "cordon", "name": "fast", "hook": "ingress"}}));
    assert_eq!(
        texts(&installed.differences(&shape_of(&changed))),
        [
            "table: attributes changed (flags?)",
            "chain forward: type, hook, priority or policy changed",
            "chain sneak\\u{1b}[2J: not installed by cordond",
            "set garden_v4: definition changed (flags)",
            "set relays_v6: missing",
            "set mine: not installed by cordond",
            "flowtable fast: added, removed or changed",
        ]
    );
}

#[test]
fn a_stranger_that_survived_an_install_is_not_recorded_as_installed() {
    let mut listed = objects();
    listed.push(serde_json::json!({"counter": {"family": "inet", "table": "cordon", "name": "stranger", "packets": 0, "bytes": 0}}));
    let recorded = shape_of(&listed).declared();
    assert_eq!(
        texts(&recorded.differences(&shape_of(&listed))),
        ["counter stranger: added, removed or changed"]
    );
    assert!(recorded.differences(&shape_of(&objects())).is_empty());
}

#[test]
fn what_is_not_a_listing_is_an_error() {
    assert!(Shape::from_listing("").is_err());
    assert!(Shape::from_listing("{\"nftables\": 3}").is_err());
    assert!(Shape::from_listing("Error: No such file").is_err());
}

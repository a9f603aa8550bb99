//! Whether the live table is still the one Cordon installed: pure, so it is
//! tested without root.
//!
//! Why a recorded listing rather than the rendered text: `nft` normalises
//! what it is given (`tcp dport 25` becomes a payload match, `filter` a
//! priority number, set flags lose `dynamic`), and re-implementing that
//! would drift from nft's own rules. So the installer reads the table the
//! moment after its own transaction (chains, rules and set definitions, no
//! elements; from the kernel over netlink, see [`crate::dump`]) and keeps
//! that [`Shape`]; a later reading is compared with it. (A shape can also
//! be made from an `nft -j list table` answer, [`Shape::from_listing`];
//! the two kinds are not comparable with each other.) What legitimately changes at run time is
//! left out of a shape: set elements (quarantines, meters), rule counters'
//! packet and byte counts, and the kernel's handles, which every reinstall
//! renumbers.

use std::collections::BTreeMap;

use std::fmt;

use serde_json::Value;

/// The part of a table that cordond decides: the table's own attributes,
/// every chain with its rules in order, every set's definition, and any
/// other object (flowtables, named counters, ...) that someone put there.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shape {
    table: Value,
    chains: BTreeMap<String, Value>,
    rules: BTreeMap<String, Vec<Value>>,
    sets: BTreeMap<String, Value>,
    others: BTreeMap<(String, String), Value>,
}

/// One way the live table differs from the installed one, in words an
/// operator can act on (see its `Display`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Difference {
    /// The whole table is gone.
    TableMissing,
    /// The table's own attributes changed (for example `flags dormant`,
    /// which switches every rule off; an in-place install clears it).
    TableChanged,
    /// A chain Cordon installed is gone.
    ChainMissing(String),
    /// A chain Cordon did not install.
    ChainExtra(String),
    /// A chain's type, hook, priority or policy changed.
    ChainChanged(String),
    /// A chain holds another number of rules than Cordon installed.
    RuleCount {
        /// The chain.
        chain: String,
        /// Rules in it now.
        live: usize,
        /// Rules Cordon installed in it.
        expected: usize,
    },
    /// A chain holds as many rules as installed, but not the same ones.
    RuleChanged {
        /// The chain.
        chain: String,
        /// The first rule that differs, counted from 1.
        position: usize,
        /// How many rules the chain holds.
        of: usize,
    },
    /// A set Cordon installed is gone.
    SetMissing(String),
    /// A set Cordon did not install.
    SetExtra(String),
    /// A set's definition changed; the fields that differ.
    SetChanged(String, Vec<String>),
    /// Some other object (kind, name) appeared, vanished or changed.
    Other(String, String),
}

/// Names read from the kernel, shown with control characters escaped: a
/// chain name is anyone's bytes, and it ends up in logs and on terminals.
struct Name<'a>(&'a str);

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_debug())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::TableMissing => write!(f, "table: missing"),
            Difference::TableChanged => write!(f, "table: attributes changed (flags?)"),
            Difference::ChainMissing(c) => write!(f, "chain {}: missing", Name(c)),
            Difference::ChainExtra(c) => write!(f, "chain {}: not installed by cordond", Name(c)),
            Difference::ChainChanged(c) => {
                write!(
                    f,
                    "chain {}: type, hook, priority or policy changed",
                    Name(c)
                )
            }
            Difference::RuleCount {
                chain,
                live,
                expected,
            } => write!(
                f,
                "chain {}: {live} rules, expected {expected}",
                Name(chain)
            ),
            Difference::RuleChanged {
                chain,
                position,
                of,
            } => write!(f, "chain {}: rule {position} of {of} changed", Name(chain)),
            Difference::SetMissing(s) => write!(f, "set {}: missing", Name(s)),
            Difference::SetExtra(s) => write!(f, "set {}: not installed by cordond", Name(s)),
            Difference::SetChanged(s, fields) => write!(
                f,
                "set {}: definition changed ({})",
                Name(s),
                fields
                    .iter()
                    .map(|x| Name(x).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Difference::Other(kind, name) => {
                write!(
                    f,
                    "{} {}: added, removed or changed",
                    Name(kind),
                    Name(name)
                )
            }
        }
    }
}

impl Shape {
    /// The shape of an `nft -j -t list table` answer.
    pub fn from_listing(json: &str) -> Result<Shape, serde_json::Error> {
        #[derive(serde::Deserialize)]
        struct Doc {
            nftables: Vec<serde_json::Map<String, Value>>,
        }
        let doc: Doc = serde_json::from_str(json)?;
        let mut shape = Shape::default();
        for object in doc.nftables {
            for (kind, mut body) in object {
                strip(&mut body);
                let name = |b: &Value| {
                    b.get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                match kind.as_str() {
                    "metainfo" => {}
                    "table" => shape.table = body,
                    "chain" => {
                        shape.rules.entry(name(&body)).or_default();
                        shape.chains.insert(name(&body), body);
                    }
                    "rule" => {
                        let chain = body
                            .get("chain")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        shape.rules.entry(chain).or_default().push(body);
                    }
                    "set" | "map" => {
                        if let Some(map) = body.as_object_mut() {
                            map.remove("elem");
                        }
                        shape.sets.insert(name(&body), body);
                    }
                    _ => {
                        shape.others.insert((kind, name(&body)), body);
                    }
                }
            }
        }
        Ok(shape)
    }

    /// The part of a listing taken right after an install that the
    /// install decided. Cordon's table declares chains and sets only; any
    /// other object listed then (a named counter, a flowtable) was put
    /// there by someone else and survived the update in place, so it is
    /// left out of the record, and a later comparison names it.
    pub fn declared(mut self) -> Shape {
        self.others.clear();
        self
    }

    /// How `live` differs from this (the installed) shape; empty when it
    /// is the same table. Chains, then sets, then other objects, each in
    /// name order, so the same change always reads the same.
    pub fn differences(&self, live: &Shape) -> Vec<Difference> {
        let mut out = Vec::new();
        if self.table != live.table {
            out.push(Difference::TableChanged);
        }
        for (name, want) in &self.chains {
            match live.chains.get(name) {
                None => out.push(Difference::ChainMissing(name.clone())),
                Some(have) => {
                    if have != want {
                        out.push(Difference::ChainChanged(name.clone()));
                    }
                    let (want, have) = (rules_of(self, name), rules_of(live, name));
                    if want.len() != have.len() {
                        out.push(Difference::RuleCount {
                            chain: name.clone(),
                            live: have.len(),
                            expected: want.len(),
                        });
                    } else if let Some(i) = want.iter().zip(have).position(|(w, h)| w != h) {
                        out.push(Difference::RuleChanged {
                            chain: name.clone(),
                            position: i + 1,
                            of: want.len(),
                        });
                    }
                }
            }
        }
        for name in live.chains.keys().filter(|n| !self.chains.contains_key(*n)) {
            out.push(Difference::ChainExtra(name.clone()));
        }
        for (name, want) in &self.sets {
            match live.sets.get(name) {
                None => out.push(Difference::SetMissing(name.clone())),
                Some(have) if have != want => {
                    out.push(Difference::SetChanged(
                        name.clone(),
                        fields_differing(want, have),
                    ));
                }
                Some(_) => {}
            }
        }
        for name in live.sets.keys().filter(|n| !self.sets.contains_key(*n)) {
            out.push(Difference::SetExtra(name.clone()));
        }
        let kinds = self.others.keys().chain(live.others.keys());
        let mut seen = std::collections::BTreeSet::new();
        for key in kinds {
            if seen.insert(key) && self.others.get(key) != live.others.get(key) {
                out.push(Difference::Other(key.0.clone(), key.1.clone()));
            }
        }
        out
    }
}

fn rules_of<'a>(shape: &'a Shape, chain: &str) -> &'a [Value] {
    shape.rules.get(chain).map_or(&[], Vec::as_slice)
}

/// The top-level fields of two objects that differ, by name.
fn fields_differing(want: &Value, have: &Value) -> Vec<String> {
    let (Some(w), Some(h)) = (want.as_object(), have.as_object()) else {
        return vec!["everything".into()];
    };
    let mut keys: Vec<&String> = w.keys().chain(h.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| w.get(*k) != h.get(*k))
        .cloned()
        .collect()
}

/// Removes what changes without anyone changing the table: the kernel's
/// handles (renumbered by every reinstall) at the object's top level, and
/// the packet and byte counts of `counter` statements anywhere in it.
fn strip(body: &mut Value) {
    if let Some(map) = body.as_object_mut() {
        map.remove("handle");
    }
    zero_counters(body);
}

fn zero_counters(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "counter" && child.is_object() {
                    *child = Value::Null;
                } else {
                    zero_counters(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(zero_counters),
        _ => {}
    }
}

mod netlink;

#[cfg(test)]
mod tests;

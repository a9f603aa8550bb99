//! What the live table holds, minus rules and elements: what the in-place
//! update needs to know (which chains to flush, which sets to keep).

use crate::error::RulesError;
use crate::render::SetDefinition;

/// What the live table holds, minus rules and elements.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    pub(crate) chains: Vec<String>,
    pub(crate) sets: Vec<nftables::schema::Set<'static>>,
}

impl Layout {
    /// The layout an `nft -j -t list table` answer describes; `what` names
    /// the work in an error.
    pub(crate) fn from_listing(out: &str, what: &str) -> Result<Layout, RulesError> {
        let doc: serde_json::Value =
            serde_json::from_str(out).map_err(|source| RulesError::BadAnswer {
                what: what.to_owned(),
                source,
            })?;
        let mut layout = Layout::default();
        let objects = doc.get("nftables").and_then(|v| v.as_array());
        for object in objects.into_iter().flatten() {
            if let Some(name) = object.pointer("/chain/name").and_then(|n| n.as_str()) {
                layout.chains.push(name.to_owned());
            }
            if let Some(set) = object.get("set") {
                let set: nftables::schema::Set<'static> = serde_json::from_value(set.clone())
                    .map_err(|source| RulesError::BadAnswer {
                        what: what.to_owned(),
                        source,
                    })?;
                layout.sets.push(set);
            }
        }
        Ok(layout)
    }
}

/// Whether a live set can stand for `want`. `nft` 1.0.6 does not list the
/// `dynamic` flag, so flags are compared without it; every Cordon set with a
/// timeout is dynamic anyway.
pub(crate) fn same_definition(want: &SetDefinition, live: &nftables::schema::Set<'_>) -> bool {
    let words = |v: serde_json::Value| -> Vec<String> {
        match v {
            serde_json::Value::String(s) => vec![s],
            serde_json::Value::Array(a) => a
                .into_iter()
                .filter_map(|w| w.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    let key = serde_json::to_value(&live.set_type)
        .map(words)
        .unwrap_or_default();
    let mut flags: Vec<String> = live
        .flags
        .iter()
        .flatten()
        .filter_map(|f| serde_json::to_value(f).ok().map(words))
        .flatten()
        .filter(|f| f != "dynamic")
        .collect();
    flags.sort();
    let want_flags: Vec<&str> = want
        .flags
        .iter()
        .copied()
        .filter(|f| *f != "dynamic")
        .collect();
    key == want.key
        && flags == want_flags
        && live.size == want.size
        && live.timeout.map(u64::from) == want.timeout
}

/// The chains a rendered table declares (`\tchain NAME {` lines of our own
/// template).
pub(crate) fn chains_in(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("chain "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect()
}

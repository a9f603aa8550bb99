//! What to tell `nft` to bring the kernel's table to a config: pure, so
//! every case of an install is unit-tested without root or a namespace.
//!
//! Why this is apart from [`crate::Kernel`]: the in-place update decides
//! per set whether the live one can stay (see [`Kernel::install`] for why
//! the update is done in place at all), and what to add to and delete from
//! the kept ones. That decision only needs the live table's layout and the
//! members of some of its sets; the executor reads those (the sets
//! [`Reads`] names) and runs the script planned here, in one transaction.
//!
//! [`Kernel::install`]: crate::Kernel::install

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use cordon_config::{Config, SubscriberAddr};
use ipnet::IpNet;

use crate::elements::{Carried, SmtpSeen, nft_text};
use crate::error::RulesError;
use crate::layout::{Layout, chains_in, same_definition};
use crate::names::{self, set_name};
use crate::netlink::message::{Op, SetChange};
use crate::render::{Members, SetSpec, render, render_with, sets};

/// The sets whose elements a plan needs from the live table, beyond its
/// layout: read by the executor into [`Live`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Reads {
    /// Sets of addresses Cordon decides that are kept: the update adds and
    /// deletes only the difference, so what they hold is needed.
    pub(crate) members: Vec<String>,
    /// Recent-SMTP sets made anew: what the kernel remembered in them is
    /// carried over.
    pub(crate) meters: Vec<String>,
}

/// The live table as a plan sees it: its layout, and the elements of the
/// sets a [`Reads`] named.
#[derive(Debug, Default)]
pub(crate) struct Live {
    pub(crate) layout: Layout,
    /// Elements of the sets [`Reads::members`] named, by set.
    pub(crate) members: BTreeMap<String, Vec<IpNet>>,
    /// Elements of the sets [`Reads::meters`] named, by set.
    pub(crate) meters: BTreeMap<String, Vec<SmtpSeen>>,
}

impl Live {
    /// The recent attempts read from both families' sets named `base`.
    fn meters_of(&self, base: &str) -> Vec<SmtpSeen> {
        [true, false]
            .into_iter()
            .filter_map(|v4| self.meters.get(&set_name(base, v4)))
            .flatten()
            .copied()
            .collect()
    }
}

/// The table for `config`, when there is none yet.
pub(crate) fn create(config: &Config, carried: &Carried) -> Result<String, RulesError> {
    render(config, carried)
}

/// The live sets that can stay as they are under `config`: same name,
/// comment and definition (key, flags, size, timeout).
fn kept(config: &Config, live: &Layout) -> Vec<String> {
    sets(config, &Carried::default())
        .into_iter()
        .filter(|want| {
            live.sets.iter().any(|l| {
                l.name == want.name
                    && l.comment.as_deref() == Some(want.comment)
                    && same_definition(&want.definition, l)
            })
        })
        .map(|want| want.name)
        .collect()
}

/// The recent-SMTP sets (`smtp_recent`, `smtp_held`, both families) of
/// the live table that `wanted` names.
fn meter_sets(live: &Layout, wanted: impl Fn(&str) -> bool) -> Vec<String> {
    [names::SMTP_RECENT, names::SMTP_HELD]
        .into_iter()
        .flat_map(|base| [true, false].map(|v4| set_name(base, v4)))
        .filter(|name| wanted(name) && live.sets.iter().any(|l| &l.name == name))
        .collect()
}

/// What [`update`] needs read from a live table of this layout.
pub(crate) fn update_reads(config: &Config, live: &Layout) -> Reads {
    let kept = kept(config, live);
    let is_kept = |name: &str| kept.iter().any(|k| k == name);
    let members = sets(config, &Carried::default())
        .into_iter()
        .filter(|s| is_kept(&s.name) && matches!(s.members, Members::Prefixes(_)))
        .map(|s| s.name)
        .collect();
    Reads {
        members,
        meters: meter_sets(live, |name| !is_kept(name)),
    }
}

/// The in-place update described at [`crate::Kernel::install`], as one
/// `nft -f` script: every chain flushed and refilled, chains and sets the
/// config no longer has (or whose definition changed) deleted, changed
/// sets declared anew with the recent SMTP attempts carried, and the kept
/// sets brought to `carried` and the config by their difference only.
///
/// `live` must hold what [`update_reads`] named; a kept set missing from
/// it is taken as empty.
pub(crate) fn update(
    config: &Config,
    carried: &Carried,
    live: &Live,
) -> Result<String, RulesError> {
    let kept = kept(config, &live.layout);
    let is_kept = |name: &str| kept.iter().any(|k| k == name);

    // Recent SMTP attempts are carried only into a set made anew (its
    // timeout, the quiet period, changed).
    let mut carried = carried.clone();
    carried.smtp_recent = live.meters_of(names::SMTP_RECENT);
    carried.smtp_held = live.meters_of(names::SMTP_HELD);
    let (keep, declare): (Vec<SetSpec>, Vec<SetSpec>) = sets(config, &carried)
        .into_iter()
        .partition(|s| is_kept(&s.name));
    let table_text = render_with(config, &declare)?;

    let t = &config.table;
    let mut text = String::new();
    for chain in &live.layout.chains {
        let _ = writeln!(text, "flush chain inet {t} {chain}");
    }
    let new_chains = chains_in(&table_text);
    for chain in live
        .layout
        .chains
        .iter()
        .filter(|c| !new_chains.contains(&c.as_str()))
    {
        let _ = writeln!(text, "delete chain inet {t} {chain}");
    }
    for set in live.layout.sets.iter().filter(|l| !is_kept(&l.name)) {
        let _ = writeln!(text, "delete set inet {t} {}", set.name);
    }
    text.push_str(&table_text);
    for set in keep {
        let Members::Prefixes(want) = set.members else {
            continue; // a kept meter keeps what the kernel counted
        };
        let want: BTreeSet<IpNet> = want.into_iter().collect();
        let have: BTreeSet<IpNet> = live
            .members
            .get(&set.name)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        let stale: Vec<String> = have.difference(&want).map(nft_text).collect();
        let missing: Vec<String> = want.difference(&have).map(nft_text).collect();
        for (verb, list) in [("delete", stale), ("add", missing)] {
            if !list.is_empty() {
                let _ = writeln!(
                    text,
                    "{verb} element inet {t} {} {{ {} }}",
                    set.name,
                    list.join(", ")
                );
            }
        }
    }
    Ok(text)
}

/// What [`replace`] needs read from a live table of this layout: every
/// recent-SMTP set it has.
pub(crate) fn replace_reads(live: &Layout) -> Reads {
    Reads {
        members: Vec::new(),
        meters: meter_sets(live, |_| true),
    }
}

/// Deletes the table and creates it again in one transaction, carrying the
/// recent SMTP attempts over: the way out when the live table cannot be
/// updated in place (a base chain's hook or type differs, as after an
/// upgrade that changed them).
pub(crate) fn replace(
    config: &Config,
    carried: &Carried,
    live: &Live,
) -> Result<String, RulesError> {
    let mut carried = carried.clone();
    carried.smtp_recent = live.meters_of(names::SMTP_RECENT);
    carried.smtp_held = live.meters_of(names::SMTP_HELD);
    let mut text = remove(&config.table);
    text.push_str(&render(config, &carried)?);
    Ok(text)
}

/// Deletes the table `table` (and nothing else). `add` first, so the
/// script succeeds when there is no table.
pub(crate) fn remove(table: &str) -> String {
    format!("add table inet {table}\ndelete table inet {table}\n")
}

/// Adds and removes quarantines: the element changes of one transaction
/// (empty: nothing to do).
pub(crate) fn change_quarantined(
    ipv6_unit: u8,
    add: &[SubscriberAddr],
    remove: &[SubscriberAddr],
) -> Vec<SetChange> {
    let mut changes = Vec::new();
    for base in [names::QUARANTINED, names::QUARANTINED_RANGES] {
        let placed = |list| names::placed_in(base, list, ipv6_unit);
        changes.extend(element_changes(base, &placed(add), &placed(remove)));
    }
    changes
}

/// Adds and removes notices: the element changes of one transaction
/// (empty: nothing to do).
pub(crate) fn change_noticed(
    ipv6_unit: u8,
    add: &[SubscriberAddr],
    remove: &[SubscriberAddr],
) -> Vec<SetChange> {
    let mut changes = Vec::new();
    for base in [names::NOTICED, names::NOTICED_RANGES] {
        let placed = |list| names::placed_in(base, list, ipv6_unit);
        changes.extend(element_changes(base, &placed(add), &placed(remove)));
    }
    changes
}

/// Detection's quarantines enforced before their records are written
/// (see [`names::UNRECORDED`]): added to (`add`) or taken out of the
/// quarantine set, with their marks, in one transaction. Units only; the
/// caller checks ([`names::is_unit`]).
pub(crate) fn change_unrecorded(
    ipv6_unit: u8,
    addrs: &[SubscriberAddr],
    add: bool,
) -> Vec<SetChange> {
    let placed = names::placed_in(names::QUARANTINED, addrs, ipv6_unit);
    let (added, removed): (&[IpNet], &[IpNet]) = if add { (&placed, &[]) } else { (&[], &placed) };
    let mut changes = element_changes(names::QUARANTINED, added, removed);
    changes.extend(element_changes(names::UNRECORDED, added, removed));
    changes
}

/// Takes the marks off quarantines whose records are now written.
pub(crate) fn change_recorded(ipv6_unit: u8, addrs: &[SubscriberAddr]) -> Vec<SetChange> {
    let placed = names::placed_in(names::QUARANTINED, addrs, ipv6_unit);
    element_changes(names::UNRECORDED, &[], &placed)
}

/// Adds and removes walled-garden addresses: the element changes of one
/// transaction (empty: nothing to do).
pub(crate) fn change_garden(add: &[IpNet], remove: &[IpNet]) -> Vec<SetChange> {
    element_changes(names::GARDEN, add, remove)
}

/// Deletions, then additions, of elements in the `_v4` and `_v6` sets
/// named `base`: deletions first, so one batch can move an address.
fn element_changes(base: &str, add: &[IpNet], remove: &[IpNet]) -> Vec<SetChange> {
    let mut changes = Vec::new();
    for (list, op) in [(remove, Op::Delete), (add, Op::Add)] {
        for v4 in [true, false] {
            let nets: Vec<IpNet> = list
                .iter()
                .filter(|n| matches!(n, IpNet::V4(_)) == v4)
                .copied()
                .collect();
            if nets.is_empty() {
                continue;
            }
            changes.push(SetChange {
                set: set_name(base, v4),
                op,
                interval: names::is_interval(base),
                nets,
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests;

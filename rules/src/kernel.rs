//! Cordon's table in one kernel: installed or updated in place in one
//! transaction, its sets changed in batches and read back, its shape
//! listed for comparison (every call is one `nft` process, see [`crate::nft`]).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::net::IpAddr;

use cordon_config::{Config, SubscriberAddr};
use ipnet::IpNet;
use nftables::schema::{Element, NfCmd, NfListObject, NfObject, Nftables};
use nftables::types::NfFamily;

use crate::drift::Shape;
use crate::elements::{Carried, Listed, Listing, SmtpSeen, nft_text, seen_from_text, to_expr};
use crate::error::RulesError;
use crate::layout::{Layout, chains_in, same_definition};
use crate::names::{self, set_for, set_name};
use crate::nft::NftCommand;
use crate::render::{Members, SetSpec, render, render_with, sets};

/// Cordon's table in one kernel.
#[derive(Debug, Clone)]
pub struct Kernel {
    table: String,
    /// The IPv6 subscriber prefix length: where a quarantine's element goes
    /// (see [`names::quarantine_placement`]) depends on it.
    ipv6_unit: u8,
    nft: NftCommand,
}

impl Kernel {
    /// The table `config` names (family `inet`), changed through `nft`.
    /// The table name and the IPv6 subscriber prefix length are taken from
    /// `config` once: a running `cordond` refuses a reload that changes them.
    pub fn new(config: &Config, nft: NftCommand) -> Self {
        Kernel {
            table: config.table.clone(),
            ipv6_unit: config.subscribers.ipv6_quarantine_prefix,
            nft,
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Whether the table is in the kernel.
    pub fn exists(&self) -> Result<bool, RulesError> {
        Ok(self.layout()?.is_some())
    }

    /// Puts the table for `config` into the kernel, in one transaction
    /// whatever the case: there is no moment without rules.
    ///
    /// A table already there is updated in place rather than deleted and
    /// created again. Measured on Linux 6.18: while a table is deleted and
    /// re-created, a packet that crosses the commit can be checked by the old
    /// rules against the new generation of the old sets, miss its quarantine
    /// and go through (about one run in six with a ping flood under load).
    /// Kept sets and swapped rule lists have no such window: every chain's
    /// rules are replaced, sets whose definition is unchanged stay as they
    /// are (so the kernel's meters and recent SMTP attempts survive), and
    /// Cordon's own sets are brought to `carried` and the config by adding
    /// and deleting only the difference.
    pub fn install(&self, config: &Config, carried: &Carried) -> Result<Installed, RulesError> {
        let Some(live) = self.layout()? else {
            self.nft.run(
                &["-f", "-"],
                Some(&render(config, carried)?),
                "install the ruleset",
            )?;
            return Ok(Installed::Created);
        };
        match self.update(config, carried, &live) {
            Ok(()) => Ok(Installed::Updated),
            Err(RulesError::Refused { stderr, .. }) => {
                self.replace(config, carried, &live)?;
                Ok(Installed::Replaced { refusal: stderr })
            }
            Err(e) => Err(e),
        }
    }

    /// The live table's shape (chains, rules, set definitions; no
    /// elements), for comparison with the one recorded after an install;
    /// `None` without a table. One small listing whatever the number of
    /// hosts.
    pub fn shape(&self) -> Result<Option<Shape>, RulesError> {
        let Some(out) = self.listing()? else {
            return Ok(None);
        };
        Shape::from_listing(&out)
            .map(Some)
            .map_err(|source| RulesError::BadAnswer {
                what: "read the table's shape".to_owned(),
                source,
            })
    }

    /// `nft -j -t list table` of our table; `None` without one. `-t`
    /// leaves set elements out: the answer is small whatever the number of
    /// hosts.
    fn listing(&self) -> Result<Option<String>, RulesError> {
        let args = ["-j", "-t", "list", "table", "inet", &self.table];
        match self.nft.run(&args, None, "list the table") {
            Ok(out) => Ok(Some(out)),
            Err(RulesError::Refused { stderr, .. })
                if stderr.contains("No such file or directory") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes the live table and creates it for `config` in one
    /// transaction, carrying the recent SMTP attempts over. Second choice
    /// to [`Kernel::install`] (see there for the window it opens), for
    /// changes an in-place update cannot undo: objects Cordon never
    /// declares (flowtables, named counters) put into its table.
    pub fn install_anew(&self, config: &Config, carried: &Carried) -> Result<(), RulesError> {
        match self.layout()? {
            Some(live) => self.replace(config, carried, &live),
            None => self
                .nft
                .run(
                    &["-f", "-"],
                    Some(&render(config, carried)?),
                    "install the ruleset",
                )
                .map(drop),
        }
    }

    /// The chains and set definitions of the live table; `None` without one.
    fn layout(&self) -> Result<Option<Layout>, RulesError> {
        let what = "read the table's layout";
        // Rules are skipped unread (see the crate docs on what the typed
        // schema cannot express).
        let Some(out) = self.listing()? else {
            return Ok(None);
        };
        Layout::from_listing(&out, what).map(Some)
    }

    /// The in-place update described at [`Kernel::install`].
    fn update(&self, config: &Config, carried: &Carried, live: &Layout) -> Result<(), RulesError> {
        let kept: Vec<String> = sets(config, &Carried::default())
            .into_iter()
            .filter(|want| {
                live.sets.iter().any(|l| {
                    l.name == want.name
                        && l.comment.as_deref() == Some(want.comment)
                        && same_definition(&want.definition, l)
                })
            })
            .map(|want| want.name)
            .collect();
        let is_kept = |name: &str| kept.iter().any(|k| k == name);

        // Recent SMTP attempts are carried only into a set made anew (its
        // timeout, the quiet period, changed).
        let mut carried = carried.clone();
        carried.smtp_recent = self.recent_in(live, names::SMTP_RECENT, |name| !is_kept(name))?;
        carried.smtp_held = self.recent_in(live, names::SMTP_HELD, |name| !is_kept(name))?;
        let wanted = sets(config, &carried);
        let (keep, declare): (Vec<SetSpec>, Vec<SetSpec>) =
            wanted.into_iter().partition(|s| is_kept(&s.name));
        let table_text = render_with(config, &declare)?;

        let t = &self.table;
        let mut text = String::new();
        for chain in &live.chains {
            text.push_str(&format!("flush chain inet {t} {chain}\n"));
        }
        let new_chains = chains_in(&table_text);
        for chain in live
            .chains
            .iter()
            .filter(|c| !new_chains.contains(&c.as_str()))
        {
            text.push_str(&format!("delete chain inet {t} {chain}\n"));
        }
        for set in live.sets.iter().filter(|l| !is_kept(&l.name)) {
            text.push_str(&format!("delete set inet {t} {}\n", set.name));
        }
        text.push_str(&table_text);
        for set in keep {
            let Members::Prefixes(want) = set.members else {
                continue; // a kept meter keeps what the kernel counted
            };
            let want: BTreeSet<IpNet> = want.into_iter().collect();
            let have: BTreeSet<IpNet> =
                self.read_set(&set.name, |l| l.net())?.into_iter().collect();
            let stale: Vec<String> = have.difference(&want).map(nft_text).collect();
            let missing: Vec<String> = want.difference(&have).map(nft_text).collect();
            for (verb, list) in [("delete", stale), ("add", missing)] {
                if !list.is_empty() {
                    text.push_str(&format!(
                        "{verb} element inet {t} {} {{ {} }}\n",
                        set.name,
                        list.join(", ")
                    ));
                }
            }
        }
        self.nft
            .run(&["-f", "-"], Some(&text), "update the ruleset in place")
            .map(drop)
    }

    /// The recent SMTP attempts held by those of the live table's `base`
    /// sets (`smtp_recent`, `smtp_held`) that `wanted` names.
    fn recent_in(
        &self,
        live: &Layout,
        base: &str,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Vec<SmtpSeen>, RulesError> {
        let mut out = Vec::new();
        for v4 in [true, false] {
            let name = set_name(base, v4);
            if wanted(&name) && live.sets.iter().any(|l| l.name == name) {
                out.extend(self.read_set(&name, |l| l.seen())?);
            }
        }
        Ok(out)
    }

    /// Deletes the table and creates it again in one transaction, carrying
    /// the recent SMTP attempts over: the way out when the live table cannot
    /// be updated in place (a base chain's hook or type differs, as after an
    /// upgrade that changed them).
    fn replace(&self, config: &Config, carried: &Carried, live: &Layout) -> Result<(), RulesError> {
        let mut carried = carried.clone();
        carried.smtp_recent = self.recent_in(live, names::SMTP_RECENT, |_| true)?;
        carried.smtp_held = self.recent_in(live, names::SMTP_HELD, |_| true)?;
        let mut text = format!("add table inet {0}\ndelete table inet {0}\n", self.table);
        text.push_str(&render(config, &carried)?);
        self.nft
            .run(&["-f", "-"], Some(&text), "replace the ruleset")
            .map(drop)
    }

    /// Removes Cordon's table (and nothing else).
    pub fn remove(&self) -> Result<(), RulesError> {
        let text = format!("add table inet {0}\ndelete table inet {0}\n", self.table);
        self.nft
            .run(&["-f", "-"], Some(&text), "remove the table")
            .map(drop)
    }

    /// Adds and removes quarantines in one transaction.
    pub fn change_quarantined(
        &self,
        add: &[SubscriberAddr],
        remove: &[SubscriberAddr],
    ) -> Result<(), RulesError> {
        let mut cmds = Vec::new();
        for base in [names::QUARANTINED, names::QUARANTINED_RANGES] {
            let placed = |list| names::placed_in(base, list, self.ipv6_unit);
            cmds.extend(self.element_commands(base, &placed(add), &placed(remove)));
        }
        self.apply(cmds, "change quarantined hosts")
    }

    /// Adds and removes walled-garden addresses in one transaction.
    pub fn change_garden(&self, add: &[IpNet], remove: &[IpNet]) -> Result<(), RulesError> {
        let cmds = self.element_commands(names::GARDEN, add, remove);
        self.apply(cmds, "change the walled garden")
    }

    /// Deletions, then additions, of elements in the `_v4` and `_v6` sets
    /// named `base`.
    fn element_commands(
        &self,
        base: &str,
        add: &[IpNet],
        remove: &[IpNet],
    ) -> Vec<NfObject<'static>> {
        let mut cmds = Vec::new();
        for (list, adding) in [(remove, false), (add, true)] {
            for v4 in [true, false] {
                let elem: Vec<_> = list
                    .iter()
                    .filter(|n| matches!(n, IpNet::V4(_)) == v4)
                    .map(to_expr)
                    .collect();
                if elem.is_empty() {
                    continue;
                }
                let element = NfListObject::Element(Element {
                    family: NfFamily::INet,
                    table: Cow::Owned(self.table.clone()),
                    name: Cow::Owned(set_name(base, v4)),
                    elem: Cow::Owned(elem),
                });
                cmds.push(NfObject::CmdObject(if adding {
                    NfCmd::Add(element)
                } else {
                    NfCmd::Delete(element)
                }));
            }
        }
        cmds
    }

    /// Applies element commands in one transaction (none: nothing to do).
    fn apply(&self, cmds: Vec<NfObject<'static>>, what: &str) -> Result<(), RulesError> {
        if cmds.is_empty() {
            return Ok(());
        }
        self.nft.apply_json(
            &Nftables {
                objects: Cow::Owned(cmds),
            },
            what,
        )
    }

    /// Every quarantine in the kernel's sets, as the prefixes quarantined
    /// (an IPv6 subscriber's element read back as its prefix).
    pub fn quarantined(&self) -> Result<Vec<IpNet>, RulesError> {
        let unit = self.ipv6_unit;
        let mut out: Vec<IpNet> = self
            .prefixes(names::QUARANTINED)?
            .into_iter()
            .map(|n| match n {
                IpNet::V6(v6) => {
                    IpNet::new(IpAddr::V6(v6.network()), unit).map_or(n, |p| p.trunc())
                }
                v4 => v4,
            })
            .collect();
        out.extend(self.prefixes(names::QUARANTINED_RANGES)?);
        out.sort();
        Ok(out)
    }

    /// Every address in the walled-garden sets.
    pub fn garden(&self) -> Result<Vec<IpNet>, RulesError> {
        self.prefixes(names::GARDEN)
    }

    /// Every host with an SMTP attempt within the quiet period. Port 25 is
    /// blocked for ordinary subscribers, so this lists senders of direct
    /// mail, not every subscriber.
    pub fn smtp_recent(&self) -> Result<Vec<SmtpSeen>, RulesError> {
        self.seen_in(names::SMTP_RECENT)
    }

    /// Every quarantined host with an SMTP attempt, made while quarantined,
    /// within the quiet period: a listing as long as the quarantines that
    /// still send, whatever the number of subscribers.
    pub fn smtp_held(&self) -> Result<Vec<SmtpSeen>, RulesError> {
        self.seen_in(names::SMTP_HELD)
    }

    /// The elements of both families' recent-attempt sets named `base`.
    fn seen_in(&self, base: &str) -> Result<Vec<SmtpSeen>, RulesError> {
        let mut out = Vec::new();
        for v4 in [true, false] {
            out.extend(self.read_set(&set_name(base, v4), |l| l.seen())?);
        }
        Ok(out)
    }

    /// The elements of both families' sets named `base`, sorted.
    fn prefixes(&self, base: &str) -> Result<Vec<IpNet>, RulesError> {
        let mut out = Vec::new();
        for v4 in [true, false] {
            out.extend(self.read_set(&set_name(base, v4), |l| l.net())?);
        }
        out.sort();
        Ok(out)
    }

    /// One host's recent SMTP activity, looked up in the kernel without
    /// listing the set; `None` when it has been quiet for the quiet period.
    ///
    /// `nft -j get element` answers in plain syntax on nftables 1.0.6 (the
    /// JSON flag is ignored for `get`), so the answer is read as text.
    pub fn smtp_seen(&self, addr: &SubscriberAddr) -> Result<Option<SmtpSeen>, RulesError> {
        let key = addr.net().network();
        let set = set_for(names::SMTP_RECENT, &addr.net());
        let elem = format!("{{ {key} }}");
        let args = ["get", "element", "inet", &self.table, &set, &elem];
        match self.nft.run(&args, None, "look up a host's SMTP activity") {
            Ok(text) => Ok(seen_from_text(key, &text)),
            Err(RulesError::Refused { stderr, .. })
                if stderr.contains("No such file or directory") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Lists one set and keeps what `pick` makes of each element.
    fn read_set<T>(
        &self,
        set: &str,
        pick: impl Fn(&Listed<'_>) -> Option<T>,
    ) -> Result<Vec<T>, RulesError> {
        let what = "read a set";
        let out = self
            .nft
            .run(&["-j", "list", "set", "inet", &self.table, set], None, what)?;
        let listing: Listing<'_> =
            serde_json::from_str(&out).map_err(|source| RulesError::BadAnswer {
                what: what.to_owned(),
                source,
            })?;
        Ok(listing.elements().filter_map(pick).collect())
    }
}

/// How [`Kernel::install`] put the table in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// There was no table; it was created.
    Created,
    /// The live table was updated in place.
    Updated,
    /// `nft` refused the in-place update, so the table was deleted and
    /// created again in one transaction (see [`Kernel::install`] for why
    /// that is the second choice).
    Replaced {
        /// Why the update was refused, in `nft`'s words.
        refusal: String,
    },
}

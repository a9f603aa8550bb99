//! Cordon's table in one kernel: the executor of [`crate::plan`]. It reads
//! what a plan needs from the live table (its layout, some sets), runs the
//! planned script as one transaction, changes elements in batches, reads
//! sets back and lists the table's shape for comparison. Installs and the
//! layout's listing are one `nft` process each (see [`crate::nft`]);
//! element changes, single-element lookups and whole sets read back (the
//! reconcile's, the quiet checks', the start's), the frequent work, are
//! netlink messages from this process (see [`crate::netlink`]): a set of
//! 100 000 elements is a dump of many datagrams, not an `nft` process
//! printing JSON for cordond to parse.

use std::net::IpAddr;

use cordon_config::{Config, SubscriberAddr};
use ipnet::IpNet;

use crate::drift::Shape;
use crate::dump;
use crate::elements::{self, Carried, SmtpSeen};
use crate::error::RulesError;
use crate::layout::Layout;
use crate::names::{self, set_for, set_name};
use crate::netlink::elements::ElementSocket;
use crate::netlink::found::Found;
use crate::netlink::message::SetChange;
use crate::nft::NftCommand;
use crate::plan;

/// Cordon's table in one kernel.
#[derive(Debug, Clone)]
pub struct Kernel {
    table: String,
    /// The IPv6 subscriber prefix length: where a quarantine's element goes
    /// (see [`names::quarantine_placement`]) depends on it.
    ipv6_unit: u8,
    nft: NftCommand,
    /// Element changes, in the namespace `nft` enters.
    elements: ElementSocket,
    /// Single-element lookups, on a socket of their own: `cordond` asks
    /// them for the portal's questions on its async threads, and one must
    /// never wait for a large element change holding the other socket.
    lookups: ElementSocket,
}

impl Kernel {
    /// The table `config` names (family `inet`), changed through `nft`.
    /// The table name and the IPv6 subscriber prefix length are taken from
    /// `config` once: a running `cordond` refuses a reload that changes them.
    pub fn new(config: &Config, nft: NftCommand) -> Self {
        Kernel {
            table: config.table.clone(),
            ipv6_unit: config.subscribers.ipv6_quarantine_prefix,
            elements: ElementSocket::new(nft.netns()),
            lookups: ElementSocket::new(nft.netns()),
            nft,
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Whether the table is in the kernel. Asked over netlink: `nft`
    /// 1.0.6 would fetch every set element to answer (see [`crate::dump`]),
    /// and the 30 s reconcile asks each time.
    pub fn exists(&self) -> Result<bool, RulesError> {
        dump::has_table(self.nft.netns(), &self.table)
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
        let Some(layout) = self.layout()? else {
            self.run_script(&plan::create(config, carried)?, "install the ruleset")?;
            return Ok(Installed::Created);
        };
        let reads = plan::update_reads(config, &layout);
        let live = self.read(layout, &reads)?;
        let script = plan::update(config, carried, &live)?;
        match self.run_script(&script, "update the ruleset in place") {
            Ok(()) => Ok(Installed::Updated),
            Err(RulesError::Refused { stderr, .. }) => {
                self.replace(config, carried, live.layout)?;
                Ok(Installed::Replaced { refusal: stderr })
            }
            Err(e) => Err(e),
        }
    }

    /// The live table's shape (chains, rules, set definitions and any
    /// other object; no elements), for comparison with the one recorded
    /// after an install; `None` without a table. Read from the kernel over
    /// netlink, which never sends set elements for it (see [`crate::dump`]
    /// for why not `nft`): as quick at 100 000 hosts as at none.
    pub fn shape(&self) -> Result<Option<Shape>, RulesError> {
        let objects = dump::table(self.nft.netns(), &self.table)?;
        Ok(Shape::from_dump(&objects))
    }

    /// `nft -j -t list table` of our table; `None` without one. `-t`
    /// leaves set elements out of the answer.
    fn listing(&self) -> Result<Option<String>, RulesError> {
        let args = ["-j", "-t", "list", "table", "inet", &self.table];
        absent_as_none(self.nft.run(&args, None, "list the table"))
    }

    /// Deletes the live table and creates it for `config` in one
    /// transaction, carrying the recent SMTP attempts over. Second choice
    /// to [`Kernel::install`] (see there for the window it opens), for
    /// changes an in-place update cannot undo: objects Cordon never
    /// declares (flowtables, named counters) put into its table.
    pub fn install_anew(&self, config: &Config, carried: &Carried) -> Result<(), RulesError> {
        match self.layout()? {
            Some(layout) => self.replace(config, carried, layout),
            None => self.run_script(&plan::create(config, carried)?, "install the ruleset"),
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

    /// Reads the sets `reads` names from the live table of `layout`.
    fn read(&self, layout: Layout, reads: &plan::Reads) -> Result<plan::Live, RulesError> {
        let mut live = plan::Live {
            layout,
            ..plan::Live::default()
        };
        for set in &reads.members {
            live.members.insert(set.clone(), self.nets_in(set)?);
        }
        for set in &reads.meters {
            live.meters.insert(set.clone(), self.seen_of(set)?);
        }
        Ok(live)
    }

    /// The replacement planned by [`plan::replace`], run.
    fn replace(
        &self,
        config: &Config,
        carried: &Carried,
        layout: Layout,
    ) -> Result<(), RulesError> {
        let reads = plan::replace_reads(&layout);
        let live = self.read(layout, &reads)?;
        self.run_script(
            &plan::replace(config, carried, &live)?,
            "replace the ruleset",
        )
    }

    /// Runs an `nft -f` script: one transaction.
    fn run_script(&self, text: &str, what: &str) -> Result<(), RulesError> {
        self.nft.run(&["-f", "-"], Some(text), what).map(drop)
    }

    /// Removes Cordon's table (and nothing else).
    pub fn remove(&self) -> Result<(), RulesError> {
        self.run_script(&plan::remove(&self.table), "remove the table")
    }

    /// Adds and removes quarantines in one transaction, over netlink: all
    /// of it or, refused, none of it (the error names the element).
    pub fn change_quarantined(
        &self,
        add: &[SubscriberAddr],
        remove: &[SubscriberAddr],
    ) -> Result<(), RulesError> {
        let changes = plan::change_quarantined(self.ipv6_unit, add, remove);
        self.apply(&changes, "change quarantined hosts")
    }

    /// Adds and removes notices in one transaction, over netlink, as
    /// [`Kernel::change_quarantined`] does quarantines.
    pub fn change_noticed(
        &self,
        add: &[SubscriberAddr],
        remove: &[SubscriberAddr],
    ) -> Result<(), RulesError> {
        let changes = plan::change_noticed(self.ipv6_unit, add, remove);
        self.apply(&changes, "change noticed hosts")
    }

    /// Enforces detection's quarantines before their records are written:
    /// each goes into the quarantine set and into [`names::UNRECORDED`] in
    /// one transaction (all or none). Units only ([`names::is_unit`]);
    /// anything wider is refused without touching the kernel.
    pub fn enforce_unrecorded(&self, add: &[SubscriberAddr]) -> Result<(), RulesError> {
        self.units_only(add)?;
        let changes = plan::change_unrecorded(self.ipv6_unit, add, true);
        self.apply(&changes, "enforce quarantines before recording them")
    }

    /// Takes back quarantines [`Kernel::enforce_unrecorded`] put in, with
    /// their marks, in one transaction: the store refused their records.
    pub fn withdraw_unrecorded(&self, addrs: &[SubscriberAddr]) -> Result<(), RulesError> {
        self.units_only(addrs)?;
        let changes = plan::change_unrecorded(self.ipv6_unit, addrs, false);
        self.apply(&changes, "withdraw quarantines the store refused")
    }

    /// Takes the marks off quarantines whose records are now written.
    pub fn mark_recorded(&self, addrs: &[SubscriberAddr]) -> Result<(), RulesError> {
        self.units_only(addrs)?;
        let changes = plan::change_recorded(self.ipv6_unit, addrs);
        self.apply(&changes, "mark quarantines recorded")
    }

    /// The quarantines still marked unrecorded (their first addresses),
    /// read at start: enforced, but `cordond` stopped before writing them.
    /// A table from before the marks has no such set: none marked.
    pub fn unrecorded(&self) -> Result<Vec<IpAddr>, RulesError> {
        let mut out = Vec::new();
        for v4 in [true, false] {
            let set = set_name(names::UNRECORDED, v4);
            let read = self
                .elements
                .dump(&self.table, &set, "read the unrecorded marks")?;
            out.extend(
                elements::hosts(&read.unwrap_or_default())
                    .iter()
                    .map(IpNet::addr),
            );
        }
        Ok(out)
    }

    fn units_only(&self, addrs: &[SubscriberAddr]) -> Result<(), RulesError> {
        match addrs.iter().find(|a| !names::is_unit(a, self.ipv6_unit)) {
            None => Ok(()),
            Some(a) => Err(RulesError::NotAUnit { addr: a.net() }),
        }
    }

    /// Whether `addr` is in the kernel's notice set (its element, or a
    /// noticed range holding it), asked without listing a set.
    pub fn is_noticed(&self, addr: &SubscriberAddr) -> Result<bool, RulesError> {
        let what = "look up a notice";
        let (base, element) = names::notice_placement(&addr.net(), self.ipv6_unit);
        let key = element.network();
        if base == names::NOTICED
            && self
                .lookups
                .get(&self.table, &set_for(base, &element), key, what)?
                .is_some()
        {
            return Ok(true);
        }
        let ranges = set_for(names::NOTICED_RANGES, &element);
        Ok(self.lookups.get(&self.table, &ranges, key, what)?.is_some())
    }

    /// Adds and removes walled-garden addresses in one transaction.
    pub fn change_garden(&self, add: &[IpNet], remove: &[IpNet]) -> Result<(), RulesError> {
        let changes = plan::change_garden(add, remove);
        self.apply(&changes, "change the walled garden")
    }

    /// Applies element changes in one netlink transaction (none: nothing
    /// to do).
    fn apply(&self, changes: &[SetChange], what: &str) -> Result<(), RulesError> {
        self.elements.change(&self.table, changes, what)
    }

    /// Whether `addr` is quarantined in the kernel, asked without listing
    /// a set: its element in the quarantine set, or (a host or subscriber
    /// prefix) a quarantined range holding it.
    pub fn is_quarantined(&self, addr: &SubscriberAddr) -> Result<bool, RulesError> {
        let what = "look up a quarantine";
        let (base, element) = names::quarantine_placement(&addr.net(), self.ipv6_unit);
        let key = element.network();
        let ranges = set_for(names::QUARANTINED_RANGES, &element);
        if base == names::QUARANTINED
            && self
                .lookups
                .get(&self.table, &set_for(base, &element), key, what)?
                .is_some()
        {
            return Ok(true);
        }
        Ok(self.lookups.get(&self.table, &ranges, key, what)?.is_some())
    }

    /// Every quarantine in the kernel's sets, as the prefixes quarantined
    /// (an IPv6 subscriber's element read back as its prefix).
    pub fn quarantined(&self) -> Result<Vec<IpNet>, RulesError> {
        self.placed((names::QUARANTINED, names::QUARANTINED_RANGES))
    }

    /// Every notice in the kernel's notice sets, as [`Kernel::quarantined`]
    /// reads the quarantines: what the reconcile compares with the store.
    pub fn noticed(&self) -> Result<Vec<IpNet>, RulesError> {
        self.placed((names::NOTICED, names::NOTICED_RANGES))
    }

    /// The units of the hash sets named `hash` (an IPv6 element read back
    /// as its subscriber prefix) and the ranges of those named `ranges`,
    /// sorted: the reverse of [`names::quarantine_placement`].
    fn placed(&self, (hash, ranges): (&str, &str)) -> Result<Vec<IpNet>, RulesError> {
        let unit = self.ipv6_unit;
        let mut out: Vec<IpNet> = self
            .prefixes(hash)?
            .into_iter()
            .map(|n| match n {
                IpNet::V6(v6) => {
                    IpNet::new(IpAddr::V6(v6.network()), unit).map_or(n, |p| p.trunc())
                }
                v4 => v4,
            })
            .collect();
        out.extend(self.prefixes(ranges)?);
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
            out.extend(self.seen_of(&set_name(base, v4))?);
        }
        Ok(out)
    }

    /// The elements of both families' sets named `base`, sorted.
    fn prefixes(&self, base: &str) -> Result<Vec<IpNet>, RulesError> {
        let mut out = Vec::new();
        for v4 in [true, false] {
            out.extend(self.nets_in(&set_name(base, v4))?);
        }
        out.sort();
        Ok(out)
    }

    /// One host's recent SMTP activity, looked up in the kernel without
    /// listing the set (one netlink request); `None` when it has been
    /// quiet for the quiet period.
    pub fn smtp_seen(&self, addr: &SubscriberAddr) -> Result<Option<SmtpSeen>, RulesError> {
        let key = addr.net().network();
        let set = set_for(names::SMTP_RECENT, &addr.net());
        let found = self
            .lookups
            .get(&self.table, &set, key, "look up a host's SMTP activity")?;
        Ok(found.and_then(|f| elements::seen(key, &f)))
    }

    /// Every element of one set, in one netlink dump (no `nft` process:
    /// the 30 s reconcile and the quiet checks read whole sets, and
    /// cordond's core waits for them); an error naming the set when it is
    /// not there.
    fn elements_of(&self, set: &str) -> Result<Vec<Found>, RulesError> {
        self.elements
            .dump(&self.table, set, "read a set")?
            .ok_or_else(|| RulesError::MissingSet {
                set: set.to_owned(),
                table: self.table.clone(),
            })
    }

    /// The elements of one set as prefixes: an interval set's ranges (see
    /// [`elements::ranges`] for the ranges that are no prefix), a hash
    /// set's keys as /32 or /128.
    fn nets_in(&self, set: &str) -> Result<Vec<IpNet>, RulesError> {
        let found = self.elements_of(set)?;
        Ok(if names::is_interval_set(set) {
            elements::ranges(&found)
        } else {
            elements::hosts(&found)
        })
    }

    /// The elements of one recent-attempts set.
    fn seen_of(&self, set: &str) -> Result<Vec<SmtpSeen>, RulesError> {
        Ok(self
            .elements_of(set)?
            .iter()
            .filter_map(|f| elements::seen(f.key?, f))
            .collect())
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

/// An answer of `nft`, or `None` when it refused because the object asked
/// about is not there ("No such file or directory").
fn absent_as_none(answer: Result<String, RulesError>) -> Result<Option<String>, RulesError> {
    match answer {
        Ok(out) => Ok(Some(out)),
        Err(RulesError::Refused { stderr, .. }) if stderr.contains("No such file or directory") => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

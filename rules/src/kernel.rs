//! Talking to the kernel through the `nft` program: one process, one
//! transaction per call, so changes go in batches.

use std::borrow::Cow;
use std::io::Write;
use std::process::{Command, Stdio};

use cordon_config::{Config, SubscriberAddr};
use ipnet::IpNet;
use nftables::schema::{Element, NfCmd, NfListObject, NfObject, Nftables};
use nftables::types::NfFamily;

use crate::elements::{Carried, SmtpSeen, from_expr, seen_from_expr, seen_from_text, to_expr};
use crate::error::RulesError;
use crate::names::{self, set_for, set_name};
use crate::render::render;

/// How `nft` is started: `nft` itself, or with a prefix such as
/// `ip netns exec NAME` (the lab drives a namespace's kernel this way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftCommand {
    argv: Vec<String>,
}

impl Default for NftCommand {
    fn default() -> Self {
        NftCommand {
            argv: vec!["nft".into()],
        }
    }
}

impl NftCommand {
    /// `nft` run inside the named network namespace (`ip netns exec`).
    pub fn in_netns(netns: &str) -> Self {
        NftCommand {
            argv: ["ip", "netns", "exec", netns, "nft"]
                .map(String::from)
                .to_vec(),
        }
    }

    /// Runs `nft ARGS`, feeding `stdin`, and returns its output.
    ///
    /// We spawn `nft` here rather than through the crate's helper because the
    /// helper does not capture `nft`'s error output, and "nft refused" without
    /// nft's reason is no use to an operator.
    fn run(&self, args: &[&str], stdin: Option<&str>, what: &str) -> Result<String, RulesError> {
        let (program, prefix) = self
            .argv
            .split_first()
            .map_or(("nft", &[][..]), |(p, r)| (p.as_str(), r));
        let mut child = Command::new(program)
            .args(prefix)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| RulesError::Spawn {
                program: self.argv.join(" "),
                source,
            })?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())
                .map_err(|source| RulesError::Spawn {
                    program: self.argv.join(" "),
                    source,
                })?;
        }
        let out = child
            .wait_with_output()
            .map_err(|source| RulesError::Spawn {
                program: self.argv.join(" "),
                source,
            })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(RulesError::Refused {
                what: what.to_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            })
        }
    }

    fn apply_json(&self, batch: &Nftables<'_>, what: &str) -> Result<(), RulesError> {
        let payload = serde_json::to_string(batch).map_err(|source| RulesError::BadAnswer {
            what: what.to_owned(),
            source,
        })?;
        self.run(&["-j", "-f", "-"], Some(&payload), what).map(drop)
    }

    fn list_json(&self, args: &[&str], what: &str) -> Result<Nftables<'static>, RulesError> {
        let mut all = vec!["-j"];
        all.extend_from_slice(args);
        let out = self.run(&all, None, what)?;
        serde_json::from_str(&out).map_err(|source| RulesError::BadAnswer {
            what: what.to_owned(),
            source,
        })
    }
}

/// Cordon's table in one kernel.
#[derive(Debug, Clone)]
pub struct Kernel {
    table: String,
    nft: NftCommand,
}

impl Kernel {
    /// The table named `table` (family `inet`), changed through `nft`.
    pub fn new(table: &str, nft: NftCommand) -> Self {
        Kernel {
            table: table.to_owned(),
            nft,
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Whether the table is in the kernel.
    pub fn exists(&self) -> Result<bool, RulesError> {
        let out = self
            .nft
            .run(&["-j", "list", "tables", "inet"], None, "list tables")?;
        let tables: Nftables =
            serde_json::from_str(&out).map_err(|source| RulesError::BadAnswer {
                what: "list tables".into(),
                source,
            })?;
        Ok(tables.objects.iter().any(
            |o| matches!(o, NfObject::ListObject(NfListObject::Table(t)) if t.name == self.table),
        ))
    }

    /// Installs the table for `config`, or replaces the one there, in one
    /// transaction: there is no moment without rules. Quarantines and garden
    /// addresses come from `carried`; recent SMTP attempts are read from the
    /// old table and carried over so nobody looks quiet because of a reload.
    pub fn install(&self, config: &Config, carried: &Carried) -> Result<(), RulesError> {
        let mut carried = carried.clone();
        if self.exists()? {
            carried.smtp_recent = self.smtp_recent()?;
        }
        let mut text = format!("add table inet {0}\ndelete table inet {0}\n", self.table);
        text.push_str(&render(config, &carried)?);
        self.nft
            .run(&["-f", "-"], Some(&text), "install the ruleset")?;
        Ok(())
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
        let add: Vec<IpNet> = add.iter().map(SubscriberAddr::net).collect();
        let remove: Vec<IpNet> = remove.iter().map(SubscriberAddr::net).collect();
        self.change(
            names::QUARANTINED,
            &add,
            &remove,
            "change quarantined hosts",
        )
    }

    /// Adds and removes walled-garden addresses in one transaction.
    pub fn change_garden(&self, add: &[IpNet], remove: &[IpNet]) -> Result<(), RulesError> {
        self.change(names::GARDEN, add, remove, "change the walled garden")
    }

    fn change(
        &self,
        base: &str,
        add: &[IpNet],
        remove: &[IpNet],
        what: &str,
    ) -> Result<(), RulesError> {
        let mut cmds: Vec<NfObject> = Vec::new();
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

    /// Every quarantine in the kernel's sets.
    pub fn quarantined(&self) -> Result<Vec<IpNet>, RulesError> {
        let mut out = Vec::new();
        for v4 in [true, false] {
            for e in self.set_elements(&set_name(names::QUARANTINED, v4))? {
                out.extend(from_expr(&e));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every address in the walled-garden sets.
    pub fn garden(&self) -> Result<Vec<IpNet>, RulesError> {
        let mut out = Vec::new();
        for v4 in [true, false] {
            for e in self.set_elements(&set_name(names::GARDEN, v4))? {
                out.extend(from_expr(&e));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every host with an SMTP attempt within the quiet period. Port 25 is
    /// blocked for ordinary subscribers, so this lists senders of direct
    /// mail, not every subscriber.
    pub fn smtp_recent(&self) -> Result<Vec<SmtpSeen>, RulesError> {
        let mut out = Vec::new();
        for v4 in [true, false] {
            for e in self.set_elements(&set_name(names::SMTP_RECENT, v4))? {
                out.extend(seen_from_expr(&e));
            }
        }
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

    fn set_elements(
        &self,
        set: &str,
    ) -> Result<Vec<nftables::expr::Expression<'static>>, RulesError> {
        let doc = self
            .nft
            .list_json(&["list", "set", "inet", &self.table, set], "read a set")?;
        Ok(elements_of(&doc))
    }
}

fn elements_of(doc: &Nftables<'static>) -> Vec<nftables::expr::Expression<'static>> {
    doc.objects
        .iter()
        .filter_map(|o| match o {
            NfObject::ListObject(NfListObject::Set(s)) => s.elem.as_ref().map(|e| e.to_vec()),
            _ => None,
        })
        .flatten()
        .collect()
}

//! Lab names and the namespace names derived from them. Everything a lab
//! creates carries its name, so parallel tests never share anything and
//! `scripts/test` can find leftovers by the `cl-` prefix.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::LabError;

/// Prefix of every namespace the lab creates; `scripts/test` looks for it.
pub const NETNS_PREFIX: &str = "cl-";

/// Where each lab keeps its config, sockets, logs and store.
pub const RUN_ROOT: &str = "/run/cordon-lab";

/// A validated lab name: 1 to 24 lower-case letters, digits or `-`, starting
/// with a letter. Short, because it is repeated in every namespace name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LabName(String);

impl LabName {
    /// Checks a name.
    pub fn new(name: &str) -> Result<Self, LabError> {
        let bad = |reason: &str| LabError::InvalidName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        if name.is_empty() || name.len() > 24 {
            return Err(bad("use 1 to 24 characters"));
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(bad("start with a lower-case letter"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(bad("use only lower-case letters, digits and `-`"));
        }
        if name.ends_with('-') {
            return Err(bad("do not end with `-`"));
        }
        Ok(LabName(name.to_owned()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The gateway's namespace: `cl-NAME-gw`.
    pub fn gateway_netns(&self) -> String {
        format!("{NETNS_PREFIX}{}-gw", self.0)
    }

    /// Gateway `g`'s namespace: gateway 0's is [`Self::gateway_netns`]
    /// (so a one-gateway lab and every tool that knows it are unchanged),
    /// the others' `cl-NAME-gwG`.
    pub fn gateway_netns_at(&self, g: usize) -> String {
        match g {
            0 => self.gateway_netns(),
            g => format!("{NETNS_PREFIX}{}-gw{g}", self.0),
        }
    }

    /// Gateway `g`'s directory for its config, sockets, store and logs:
    /// gateway 0 uses the run directory itself (as a one-gateway lab
    /// does), the others `RUN_DIR/gwG/`.
    pub fn gateway_dir(&self, g: usize) -> PathBuf {
        match g {
            0 => self.run_dir(),
            g => self.run_dir().join(gateway_name(g)),
        }
    }

    /// Subscriber `i`'s namespace (0-based): `cl-NAME-sI`.
    pub fn subscriber_netns(&self, i: usize) -> String {
        format!("{NETNS_PREFIX}{}-s{i}", self.0)
    }

    /// The internet's namespace: `cl-NAME-net`.
    pub fn internet_netns(&self) -> String {
        format!("{NETNS_PREFIX}{}-net", self.0)
    }

    /// True when `netns` is one of this lab's namespaces. Exact, so that lab
    /// `a` never claims lab `a-b`'s namespaces.
    pub fn owns_netns(&self, netns: &str) -> bool {
        if netns == self.gateway_netns() || netns == self.internet_netns() {
            return true;
        }
        let numbered = |stem: &str| {
            netns
                .strip_prefix(&format!("{NETNS_PREFIX}{}-{stem}", self.0))
                .filter(|rest| {
                    !rest.is_empty()
                        && rest.bytes().all(|b| b.is_ascii_digit())
                        && (*rest == "0" || !rest.starts_with('0'))
                })
        };
        numbered("s").is_some() || numbered("gw").is_some_and(|g| g != "0")
    }

    /// The lab's run directory: `/run/cordon-lab/NAME`.
    pub fn run_dir(&self) -> PathBuf {
        PathBuf::from(RUN_ROOT).join(&self.0)
    }
}

impl fmt::Display for LabName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Gateway `g`'s name in the lab (`gw0`, `gw1`, ...): its plan's `name`,
/// its directory, and, once the gateways share one store, the name each
/// cordond registers under.
pub fn gateway_name(g: usize) -> String {
    format!("gw{g}")
}

/// A name no other lab on this machine uses right now: `STEM` + this
/// process's id + a counter, so that tests running in parallel threads and
/// parallel test binaries never collide. Keep `stem` short (a word).
pub fn unique_name(stem: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{stem}{}x{n}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(LabName::new("demo").is_ok());
        assert!(LabName::new("t-123x4").is_ok());
        for bad in ["", "Demo", "1abc", "a_b", "a/b", "abc-", &"a".repeat(25)] {
            assert!(LabName::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn namespaces_follow_the_contract() {
        let n = LabName::new("demo").unwrap();
        assert_eq!(n.gateway_netns(), "cl-demo-gw");
        assert_eq!(n.subscriber_netns(2), "cl-demo-s2");
        assert_eq!(n.internet_netns(), "cl-demo-net");
        assert_eq!(n.run_dir(), PathBuf::from("/run/cordon-lab/demo"));
        assert_eq!(n.gateway_netns_at(0), "cl-demo-gw");
        assert_eq!(n.gateway_netns_at(1), "cl-demo-gw1");
        assert_eq!(n.gateway_dir(0), n.run_dir());
        assert_eq!(n.gateway_dir(2), PathBuf::from("/run/cordon-lab/demo/gw2"));
    }

    #[test]
    fn a_lab_owns_only_its_own_namespaces() {
        let a = LabName::new("a").unwrap();
        assert!(a.owns_netns("cl-a-gw"));
        assert!(a.owns_netns("cl-a-s0"));
        assert!(a.owns_netns("cl-a-s12"));
        assert!(a.owns_netns("cl-a-net"));
        assert!(!a.owns_netns("cl-a-b-gw"));
        assert!(!a.owns_netns("cl-a-s1-gw"));
        assert!(!a.owns_netns("cl-a-s"));
        assert!(!a.owns_netns("cl-a-s01"));
        assert!(!a.owns_netns("cl-ab-gw"));
        assert!(a.owns_netns("cl-a-gw1"));
        assert!(a.owns_netns("cl-a-gw3"));
        assert!(!a.owns_netns("cl-a-gw0"));
        assert!(!a.owns_netns("cl-a-gw01"));
        assert!(!a.owns_netns("cl-a-gw1-gw"));
        assert!(!a.owns_netns("cl-a-gwx"));
    }

    #[test]
    fn unique_names_are_valid_and_distinct() {
        let a = unique_name("up");
        let b = unique_name("up");
        assert_ne!(a, b);
        assert!(LabName::new(&a).is_ok(), "{a}");
    }
}

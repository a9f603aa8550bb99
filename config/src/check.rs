//! Collecting the problems the checks find: every section's checks add to
//! one list, so an operator sees them all in one go, each at its own key.
//!
//! Each check runs in time linear (or n log n) in the config: a big ISP
//! lists 100 000 subscriber prefixes.

use crate::locate::Seg;

/// A problem: where (a path into the document) and what.
pub(crate) type Problem = (Vec<Seg>, String);

/// The problems found so far, in the order the checks found them.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<Problem>);

impl Problems {
    /// A problem at `path`, a path from the document's root.
    pub(crate) fn push(&mut self, path: &[Seg], message: impl Into<String>) {
        self.0.push((path.to_vec(), message.into()));
    }

    /// The problems of section `name`: its checks name paths from the
    /// section, so a section module does not repeat its own name.
    pub(crate) fn section(&mut self, name: &'static str) -> Section<'_> {
        Section { out: self, name }
    }

    /// Every problem found.
    pub(crate) fn into_vec(self) -> Vec<Problem> {
        self.0
    }
}

/// The problems of one top-level section.
#[derive(Debug)]
pub(crate) struct Section<'a> {
    out: &'a mut Problems,
    name: &'static str,
}

impl Section<'_> {
    /// A problem at `path` inside the section (empty: the section itself).
    pub(crate) fn push(&mut self, path: &[Seg], message: impl Into<String>) {
        let mut full = Vec::with_capacity(path.len() + 1);
        full.push(Seg::Key(self.name));
        full.extend_from_slice(path);
        self.out.0.push((full, message.into()));
    }
}

//! Removing a lab: every process in its namespaces ends, the namespaces go,
//! the run directory goes. Used by the guard's drop (also after a panic) and
//! by `cordon-lab down`; works on a half-built lab and on one already gone.

use crate::error::LabError;
use crate::names::LabName;
use crate::netns;
use crate::process::end_pids;

/// What a teardown found and removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    /// Namespaces deleted.
    pub namespaces: Vec<String>,
    /// Processes ended.
    pub processes: usize,
    /// True when the run directory existed.
    pub run_dir: bool,
}

impl Removed {
    /// True when there was nothing of the lab left.
    pub fn nothing(&self) -> bool {
        self.namespaces.is_empty() && self.processes == 0 && !self.run_dir
    }
}

/// Names of the labs that have a run directory on this machine (those this
/// library built and has not removed).
pub fn existing_labs() -> Result<Vec<String>, LabError> {
    let root = crate::names::RUN_ROOT;
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LabError::io(format!("listing {root}"))(e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| LabName::new(n).is_ok())
        .collect();
    names.sort();
    Ok(names)
}

/// The lab's namespaces that exist now: those named in `known` (a lab's
/// plan) and any other the name owns (a lab whose plan is lost).
pub fn namespaces_of(name: &LabName, known: &[String]) -> Result<Vec<String>, LabError> {
    let mut found: Vec<String> = netns::list()?
        .into_iter()
        .filter(|n| name.owns_netns(n) || known.contains(n))
        .collect();
    found.sort();
    Ok(found)
}

/// Removes everything of lab `name`. Every step is tried even when an
/// earlier one fails; the first error is returned.
pub fn teardown(name: &LabName, known: &[String]) -> Result<Removed, LabError> {
    let mut removed = Removed::default();
    let mut first_error: Option<LabError> = None;
    let mut keep = |r: Result<(), LabError>| {
        if let Err(e) = r
            && first_error.is_none()
        {
            first_error = Some(e);
        }
    };
    let namespaces = match namespaces_of(name, known) {
        Ok(n) => n,
        Err(e) => {
            keep(Err(e));
            known.to_vec()
        }
    };
    let mut pids = Vec::new();
    for ns in &namespaces {
        match netns::pids(ns) {
            Ok(p) => pids.extend(p),
            Err(e) => keep(Err(e)),
        }
    }
    pids.sort_unstable();
    pids.dedup();
    removed.processes = pids.len();
    end_pids(&pids);
    for ns in namespaces.iter().chain(known) {
        keep(netns::remove_etc(ns));
    }
    for ns in &namespaces {
        let r = netns::delete(ns);
        if r.is_ok() {
            removed.namespaces.push(ns.clone());
        }
        keep(r);
    }
    let dir = name.run_dir();
    if dir.exists() {
        removed.run_dir = true;
        keep(
            std::fs::remove_dir_all(&dir)
                .map_err(LabError::io(format!("removing {}", dir.display()))),
        );
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

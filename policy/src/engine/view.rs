//! What the engine knows about an address, for the answers `cordond`
//! gives (`cordon show`, `list`, the portal).

use cordon_config::SubscriberAddr;
use cordon_proto::control::Suspicion;
use cordon_proto::portal::HostState;
use cordon_proto::time::{Unix, system_time};

use super::Engine;
use crate::lifecycle::{Host, State};

/// A snapshot of one address.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// The address asked about, or the suspect's unit in a listing.
    pub addr: SubscriberAddr,
    /// The deciding record, if any.
    pub host: Option<Host>,
    /// Self-releases left now.
    pub self_releases_left: u32,
    /// What detection saw without quarantining (observe mode).
    pub suspect: Option<Suspicion>,
    /// The outside-report score now.
    pub report_score: u32,
}

impl Engine {
    /// The address as it stands at `now`: its deciding record (its own or
    /// a quarantined range covering it), suspicion and report score.
    pub fn view(&self, addr: &SubscriberAddr, now: Unix) -> View {
        match self.lifecycle.lookup(addr) {
            Some(h) => self.view_of(h, now),
            None => View {
                addr: *addr,
                host: None,
                self_releases_left: self.lifecycle.policy().self_release_count,
                suspect: self.book.suspicion(addr).cloned(),
                report_score: self.book.score(addr, system_time(now)),
            },
        }
    }

    /// Every record that is not clean, then the suspects that are
    /// otherwise clean.
    pub fn list(&self, now: Unix) -> Vec<View> {
        let mut views: Vec<View> = self
            .lifecycle
            .hosts()
            .filter(|h| !matches!(h.state, State::Clean))
            .map(|h| self.view_of(h, now))
            .collect();
        let suspects: Vec<SubscriberAddr> = self
            .book
            .suspects()
            .map(|(u, _)| *u)
            .filter(|u| self.state_of(u) == HostState::Clean)
            .collect();
        views.extend(suspects.iter().map(|u| self.view(u, now)));
        views
    }

    fn view_of(&self, h: &Host, now: Unix) -> View {
        View {
            addr: h.addr,
            self_releases_left: self.lifecycle.self_releases_left(h, now),
            host: Some(h.clone()),
            suspect: self.book.suspicion(&h.addr).cloned(),
            report_score: self.book.score(&h.addr, system_time(now)),
        }
    }
}

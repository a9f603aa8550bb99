//! Short-lived memory of what `cordond` said about each caller, and of the
//! cleanup page last rendered for them; and the cleanup page's shells
//! (everything but the caller's own parts), kept while the tools stay.
//!
//! A browser opening the page sends several requests at once (the page, the
//! OS probes, the captive API), and a reload repeats them; asking `cordond`
//! and rendering for each cost most of the portal's time. Answers are kept
//! for about a second, per caller address (the portal only ever asks about
//! the host that is talking to it, so an entry is only ever shown to the
//! address it is about). Every map is bounded: a flood from many source
//! addresses evicts the oldest entries instead of growing memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cordon_proto::expiring::Expiring;
use cordon_proto::portal::HostStatus;
use parking_lot::{Mutex, MutexGuard};

use crate::facts::{Facts, Standing};
use crate::templates::Shell;
use crate::tools::{Listing, ToolView};

/// How long `cordond`'s answer about a caller is reused: short enough that a
/// change made by an operator or by the lifecycle shows on the next reload.
pub const FACTS_TTL: Duration = Duration::from_secs(1);
/// Callers remembered at once: far more than load a page within a second.
pub const FACTS_CAPACITY: usize = 4096;
/// Rendered pages remembered at once (about 9 KB each).
pub const PAGE_CAPACITY: usize = 256;

/// Proof that a lookup missed, taken before asking `cordond`: an answer
/// asked for before a self-release must not be stored after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// `cordond`'s answer of less than [`FACTS_TTL`] ago.
    Hit(HostStatus),
    /// Ask `cordond`, then [`FactsCache::put`] the answer with this ticket.
    Miss(Ticket),
}

#[derive(Debug)]
struct FactsInner {
    entries: Expiring<IpAddr, HostStatus>,
    /// Bumped by every [`FactsCache::forget`].
    generation: u64,
}

/// `cordond`'s recent answers, per caller address. Only answers are kept:
/// when `cordond` cannot be asked, the next request asks again.
#[derive(Debug)]
pub struct FactsCache {
    inner: Mutex<FactsInner>,
}

impl FactsCache {
    /// Keeps up to `capacity` answers for `ttl` each.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        FactsCache {
            inner: Mutex::new(FactsInner {
                entries: Expiring::new(ttl, capacity),
                generation: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FactsInner> {
        self.inner.lock()
    }

    /// The answer about `peer` if it is recent enough at `now`.
    pub fn get(&self, peer: IpAddr, now: Instant) -> Lookup {
        let inner = self.lock();
        match inner.entries.get(&peer, now) {
            Some(status) => Lookup::Hit(status.clone()),
            None => Lookup::Miss(Ticket(inner.generation)),
        }
    }

    /// Keeps `cordond`'s answer about `peer`, unless something was forgotten
    /// since `ticket` was taken (the answer may predate a self-release; the
    /// next request asks again).
    pub fn put(&self, peer: IpAddr, status: HostStatus, ticket: Ticket, now: Instant) {
        let mut inner = self.lock();
        if inner.generation == ticket.0 {
            inner.entries.insert(peer, status, now);
        }
    }

    /// Drops what is known about `peer` (its state is changing), and keeps
    /// answers already on their way from being stored.
    pub fn forget(&self, peer: IpAddr) {
        let mut inner = self.lock();
        inner.entries.remove(&peer);
        inner.generation = inner.generation.wrapping_add(1);
    }

    /// Answers held now (tests and diagnostics).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a cleanup page is made of, besides the fixed parts (templates,
/// translations, ISP name, support) that do not change while running.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    /// The caller: its form token is made for its address.
    pub peer: IpAddr,
    /// The page's language.
    pub lang: String,
    /// The system whose steps are opened first.
    pub os: &'static str,
}

#[derive(Debug)]
struct Page {
    /// The Unix second it was rendered in: the form token carries it.
    second: i64,
    facts: Facts,
    tools: Listing,
    body: Bytes,
}

/// Cleanup pages rendered within the current second. A page is reused only
/// when everything it shows is the same: the caller, language and system
/// (the key), the facts and the tools, and the second, because the form
/// token is the caller's address and the second, signed. Reuse therefore
/// gives exactly the bytes a new render would, token included.
#[derive(Debug)]
pub struct PageCache {
    pages: Mutex<Expiring<PageKey, Page>>,
}

impl PageCache {
    /// Keeps up to `capacity` pages.
    pub fn new(capacity: usize) -> Self {
        PageCache {
            pages: Mutex::new(Expiring::new(Duration::from_secs(1), capacity)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Expiring<PageKey, Page>> {
        self.pages.lock()
    }

    /// The page for `key` rendered in `second` from the same facts and tools.
    pub fn get(
        &self,
        key: &PageKey,
        second: i64,
        facts: &Facts,
        tools: &[ToolView],
        now: Instant,
    ) -> Option<Bytes> {
        self.lock()
            .get(key, now)
            .filter(|p| p.second == second && p.facts == *facts && same(&p.tools, tools))
            .map(|p| p.body.clone())
    }

    /// Keeps a page rendered in `second` from `facts` and `tools`.
    pub fn put(
        &self,
        key: PageKey,
        second: i64,
        facts: Facts,
        tools: Listing,
        body: Bytes,
        now: Instant,
    ) {
        let page = Page {
            second,
            facts,
            tools,
            body,
        };
        self.lock().insert(key, page, now);
    }

    /// Pages held now (tests and diagnostics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a cleanup page's shell is rendered for: everything it shows, but
/// for the tools (held beside it) and the fixed parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShellKey {
    /// The page's language.
    pub lang: String,
    /// The system whose steps are opened first.
    pub os: &'static str,
    /// Where the callers it is shown to stand.
    pub standing: Standing,
}

/// Shells of the cleanup page: the page without the caller's own parts,
/// rendered once per language, system and standing (and again when the
/// tools change), then filled for each caller. Bounded: a map past
/// [`SHELL_CAPACITY`] starts again empty (languages, systems and standings
/// are few; only a changing tools directory makes new ones).
#[derive(Debug, Default)]
pub struct ShellCache {
    shells: Mutex<HashMap<ShellKey, Listed>>,
}

/// A shell and the tools it lists.
type Listed = (Listing, Arc<Shell>);

/// Shells held at once.
pub const SHELL_CAPACITY: usize = 256;

impl ShellCache {
    /// The shell for `key` listing `tools`.
    pub fn get(&self, key: &ShellKey, tools: &Listing) -> Option<Arc<Shell>> {
        self.shells
            .lock()
            .get(key)
            .filter(|(t, _)| same(t, tools))
            .map(|(_, s)| Arc::clone(s))
    }

    /// Keeps `shell`, rendered for `key` with `tools`.
    pub fn put(&self, key: ShellKey, tools: Listing, shell: Arc<Shell>) {
        let mut shells = self.shells.lock();
        if shells.len() >= SHELL_CAPACITY && !shells.contains_key(&key) {
            shells.clear();
        }
        shells.insert(key, (tools, shell));
    }
}

/// Whether two listings are the same: the one listing of the catalog in
/// force (the usual case, told by its address), or equal item by item.
fn same(a: &Listing, b: &[ToolView]) -> bool {
    (std::ptr::eq(a.as_ptr(), b.as_ptr()) && a.len() == b.len()) || **a == *b
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use cordon_proto::portal::HostState;

    fn status(state: HostState) -> HostStatus {
        HostStatus {
            state,
            since: Some(1_000),
            smtp_attempts: 3,
            quiet_period_s: 7_200,
            self_releases_left: 2,
            ..crate::fixtures::quarantined(IpAddr::from([100, 64, 1, 7]))
        }
    }

    fn ip(i: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(0x6440_0000 + i))
    }

    fn miss(l: Lookup) -> Ticket {
        match l {
            Lookup::Miss(t) => t,
            Lookup::Hit(s) => panic!("unexpected hit: {s:?}"),
        }
    }

    fn hit(l: Lookup) -> HostStatus {
        match l {
            Lookup::Hit(s) => s,
            Lookup::Miss(_) => panic!("unexpected miss"),
        }
    }

    #[test]
    fn an_answer_is_kept_for_the_ttl_and_no_longer() {
        let c = FactsCache::new(Duration::from_secs(1), 16);
        let t0 = Instant::now();
        let ticket = miss(c.get(ip(1), t0));
        c.put(ip(1), status(HostState::Quarantined), ticket, t0);
        let s = hit(c.get(ip(1), t0 + Duration::from_millis(999)));
        assert_eq!(s.state, HostState::Quarantined);
        miss(c.get(ip(1), t0 + Duration::from_secs(1)));
        // Only the address it is about.
        miss(c.get(ip(2), t0));
    }

    #[test]
    fn a_flood_of_addresses_keeps_the_newest_within_the_bound() {
        let c = FactsCache::new(Duration::from_secs(1), 100);
        let t0 = Instant::now();
        for i in 0..10_000 {
            let ticket = miss(c.get(ip(i), t0));
            c.put(ip(i), status(HostState::Clean), ticket, t0);
            assert!(c.len() <= 100);
        }
        assert_eq!(c.len(), 100);
        miss(c.get(ip(0), t0));
        miss(c.get(ip(9_899), t0));
        hit(c.get(ip(9_900), t0));
        hit(c.get(ip(9_999), t0));
    }

    #[test]
    fn expired_answers_are_dropped_as_new_ones_come() {
        let c = FactsCache::new(Duration::from_secs(1), 100);
        let t0 = Instant::now();
        for i in 0..50 {
            c.put(ip(i), status(HostState::Clean), miss(c.get(ip(i), t0)), t0);
        }
        let t1 = t0 + Duration::from_secs(2);
        c.put(
            ip(77),
            status(HostState::Clean),
            miss(c.get(ip(77), t1)),
            t1,
        );
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_new_answer_replaces_the_old_and_lives_its_own_ttl() {
        let c = FactsCache::new(Duration::from_secs(1), 2);
        let t0 = Instant::now();
        c.put(ip(1), status(HostState::Clean), miss(c.get(ip(1), t0)), t0);
        c.put(ip(2), status(HostState::Clean), Ticket(0), t0);
        let t1 = t0 + Duration::from_millis(600);
        c.put(ip(1), status(HostState::Probation), Ticket(0), t1);
        // ip(2) is now the oldest: the next address evicts it, not ip(1).
        c.put(ip(3), status(HostState::Clean), Ticket(0), t1);
        assert_eq!(
            hit(c.get(ip(1), t0 + Duration::from_millis(1_500))).state,
            HostState::Probation
        );
        miss(c.get(ip(2), t1));
    }

    #[test]
    fn forgetting_drops_the_entry_and_answers_already_on_their_way() {
        let c = FactsCache::new(Duration::from_secs(1), 16);
        let t0 = Instant::now();
        c.put(
            ip(1),
            status(HostState::Quarantined),
            miss(c.get(ip(1), t0)),
            t0,
        );
        // A page view asks cordond while the button's press is being handled.
        let in_flight = miss(c.get(ip(2), t0));
        c.forget(ip(1));
        let ticket = miss(c.get(ip(1), t0));
        // The answer asked for before the release is not kept...
        c.put(ip(1), status(HostState::Quarantined), in_flight, t0);
        miss(c.get(ip(1), t0));
        // ...the one asked for after it is.
        c.put(ip(1), status(HostState::Probation), ticket, t0);
        assert_eq!(hit(c.get(ip(1), t0)).state, HostState::Probation);
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let c = FactsCache::new(Duration::from_secs(1), 0);
        let t0 = Instant::now();
        c.put(ip(1), status(HostState::Clean), miss(c.get(ip(1), t0)), t0);
        assert!(c.is_empty());
    }

    #[test]
    fn a_page_is_reused_only_for_the_same_caller_second_facts_and_tools() {
        let pages = PageCache::new(4);
        let t0 = Instant::now();
        let key = PageKey {
            peer: ip(1),
            lang: "en".into(),
            os: "windows",
        };
        let facts = Facts::from_status(&status(HostState::Quarantined), 5_000);
        pages.put(
            key.clone(),
            5_000,
            facts.clone(),
            Listing::from(Vec::new()),
            Bytes::from_static(b"page"),
            t0,
        );
        assert_eq!(
            pages.get(&key, 5_000, &facts, &[], t0).as_deref(),
            Some(&b"page"[..])
        );
        assert!(pages.get(&key, 5_001, &facts, &[], t0).is_none(), "second");
        let other = Facts::from_status(&status(HostState::Probation), 5_000);
        assert!(pages.get(&key, 5_000, &other, &[], t0).is_none(), "facts");
        let tool = ToolView {
            file: "a.exe".into(),
            href: "tools/a.exe".into(),
            name: "A".into(),
            description: String::new(),
            size: "1 KB".into(),
            sha256: "00".repeat(32),
        };
        assert!(
            pages.get(&key, 5_000, &facts, &[tool], t0).is_none(),
            "tools"
        );
        for changed in [
            PageKey {
                peer: ip(2),
                ..key.clone()
            },
            PageKey {
                lang: "es".into(),
                ..key.clone()
            },
            PageKey {
                os: "linux",
                ..key.clone()
            },
        ] {
            assert!(pages.get(&changed, 5_000, &facts, &[], t0).is_none());
        }
        assert!(
            pages
                .get(&key, 5_000, &facts, &[], t0 + Duration::from_secs(1))
                .is_none(),
            "expired"
        );
    }

    #[test]
    fn pages_stay_within_their_bound() {
        let pages = PageCache::new(8);
        let t0 = Instant::now();
        let facts = Facts::unknown();
        for i in 0..100 {
            let key = PageKey {
                peer: ip(i),
                lang: "en".into(),
                os: "",
            };
            pages.put(
                key,
                1,
                facts.clone(),
                Listing::from(Vec::new()),
                Bytes::new(),
                t0,
            );
            assert!(pages.len() <= 8);
        }
    }
}

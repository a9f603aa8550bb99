//! Serving a Unix socket within bounds: a cap on connections overall and per
//! peer uid, an idle timeout, eviction of the oldest idle connection when a
//! cap is reached, refusal of uids that may not use the socket, and an accept
//! loop that backs off when descriptors run out instead of spinning.
//!
//! Why evict rather than refuse: a flood of idle connections (from any local
//! user allowed on the socket) must not lock an operator out. A newcomer
//! takes the slot of the oldest connection that is waiting for a request,
//! preferably one of its own uid's; a connection in the middle of a request
//! is never evicted. The caps sit below the descriptor limit, so the flood
//! meets the caps long before `EMFILE`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cordon_runtime::frame::{Framed, recv, send_all};
use cordon_runtime::limits::{Backoff, Throttle, is_exhaustion};
use parking_lot::Mutex;
use serde::{Serialize, de::DeserializeOwned};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// How often each kind of trouble may be logged.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Bounds for one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Open connections in all.
    pub total: usize,
    /// Open connections of one peer uid.
    pub per_uid: usize,
    /// A connection waiting this long for its next request is closed.
    pub idle: Duration,
    /// An answer the peer does not take within this long is dropped, and
    /// the connection with it.
    pub write: Duration,
}

/// Caps for the control socket and the portal socket, sized from the
/// descriptor limit in force: a quarter of it (at least 32, at most 1 024)
/// stays for the store, the kernel sockets, detection and blocking tasks;
/// the portal (one uid, at most 32 connections: one per runtime, see
/// `cordon_portal::cordond`) gets up to 64 of
/// the rest, the control socket the remainder, at most half per uid so that
/// one user's flood leaves room for another's.
pub fn caps_for(nofile: usize) -> (Caps, Caps) {
    let reserve = (nofile / 4).clamp(32, 1024);
    let available = nofile.saturating_sub(reserve).max(8);
    let portal = (available / 4).clamp(2, 64);
    let control = available.saturating_sub(portal).max(2);
    (
        Caps {
            total: control,
            per_uid: (control / 2).max(1),
            idle: Duration::from_secs(30),
            write: Duration::from_secs(10),
        },
        Caps {
            total: portal,
            per_uid: portal,
            idle: Duration::from_secs(300),
            write: Duration::from_secs(10),
        },
    )
}

#[derive(Debug)]
struct Entry {
    uid: u32,
    idle: bool,
    evict: CancellationToken,
}

/// The open connections of one socket, oldest first (ids only grow).
#[derive(Debug)]
pub struct ConnTable {
    caps: Caps,
    conns: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    conns: BTreeMap<u64, Entry>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Every connection (of this uid, or in all) is busy with a request.
    AllBusy,
}

/// One admitted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    table: Arc<ConnTable>,
    id: u64,
    /// Cancelled when the connection is evicted.
    pub evicted: CancellationToken,
}

impl ConnTable {
    /// An empty table with these caps.
    pub fn new(caps: Caps) -> Arc<Self> {
        Arc::new(ConnTable {
            caps,
            conns: Mutex::new(Inner::default()),
        })
    }

    /// The caps in force.
    pub fn caps(&self) -> Caps {
        self.caps
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, Inner> {
        self.conns.lock()
    }

    /// Admits a connection of `uid`, evicting the oldest idle connection of
    /// that uid when it is at its cap, or of the uid holding the most when
    /// the socket is; returns how many were evicted.
    pub fn admit(self: &Arc<Self>, uid: u32) -> Result<(Slot, usize), Refused> {
        let mut inner = self.lock();
        let mut evicted = 0;
        let mine = inner.conns.values().filter(|e| e.uid == uid).count();
        if mine >= self.caps.per_uid {
            if !evict_oldest_idle(&mut inner, Some(uid)) {
                return Err(Refused::AllBusy);
            }
            evicted += 1;
        }
        if inner.conns.len() >= self.caps.total {
            let heaviest = heaviest_uid(&inner);
            if !evict_oldest_idle(&mut inner, heaviest) && !evict_oldest_idle(&mut inner, None) {
                return Err(Refused::AllBusy);
            }
            evicted += 1;
        }
        let id = inner.next;
        inner.next += 1;
        let evict = CancellationToken::new();
        inner.conns.insert(
            id,
            Entry {
                uid,
                idle: true,
                evict: evict.clone(),
            },
        );
        Ok((
            Slot {
                table: Arc::clone(self),
                id,
                evicted: evict,
            },
            evicted,
        ))
    }

    /// Evicts the oldest idle connection of any uid (to free a descriptor
    /// when `accept` ran out); whether there was one.
    pub fn evict_one(&self) -> bool {
        evict_oldest_idle(&mut self.lock(), None)
    }

    /// Open connections now.
    fn open(&self) -> usize {
        self.lock().conns.len()
    }
}

fn heaviest_uid(inner: &Inner) -> Option<u32> {
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for e in inner.conns.values() {
        *counts.entry(e.uid).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|&(_, n)| n)
        .map(|(uid, _)| uid)
}

fn evict_oldest_idle(inner: &mut Inner, uid: Option<u32>) -> bool {
    let victim = inner
        .conns
        .iter()
        .find(|(_, e)| e.idle && uid.is_none_or(|u| e.uid == u))
        .map(|(&id, _)| id);
    match victim.and_then(|id| inner.conns.remove(&id)) {
        Some(e) => {
            e.evict.cancel();
            true
        }
        None => false,
    }
}

impl Slot {
    fn set_idle(&self, idle: bool) {
        if let Some(e) = self.table.lock().conns.get_mut(&self.id) {
            e.idle = idle;
        }
    }

    /// The next request, or `None` when the peer closed, sent junk, stayed
    /// idle past the timeout or the connection was evicted.
    pub async fn next_request<T: DeserializeOwned>(&self, io: &mut Framed) -> Option<T> {
        self.set_idle(true);
        let got = tokio::select! {
            () = self.evicted.cancelled() => None,
            r = tokio::time::timeout(self.table.caps.idle, recv::<T>(io)) => r.ok()?.ok()?,
        };
        self.set_idle(false);
        got
    }

    /// Sends an answer within the write timeout; `false` when it failed and
    /// the connection should end.
    pub async fn answer<T: Serialize>(&self, io: &mut Framed, answer: &T) -> bool {
        self.answer_all(io, std::slice::from_ref(answer)).await
    }

    /// Sends answers in order, in one write where they fit, within the
    /// write timeout; `false` when it failed and the connection should end.
    pub async fn answer_all<T: Serialize>(&self, io: &mut Framed, answers: &[T]) -> bool {
        matches!(
            tokio::time::timeout(self.table.caps.write, send_all(io, answers)).await,
            Ok(Ok(()))
        )
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.lock().conns.remove(&self.id);
    }
}

/// Which uids may use a socket.
#[derive(Debug, Clone, Copy)]
pub enum Allowed {
    /// Anyone the file permissions let in (the control socket).
    Any,
    /// Only this uid (the portal socket: the portal's own user).
    Only(u32),
}

/// Accepts on `listener` until cancelled and hands each admitted connection
/// to `serve` on its own task.
pub async fn accept_loop<F, Fut>(
    what: &'static str,
    listener: UnixListener,
    table: Arc<ConnTable>,
    allowed: Allowed,
    cancel: CancellationToken,
    serve: F,
) where
    F: Fn(UnixStream, Slot) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut backoff = Backoff::new();
    let mut exhausted = Throttle::new(LOG_EVERY);
    let mut failed = Throttle::new(LOG_EVERY);
    let mut strangers = Throttle::new(LOG_EVERY);
    let mut evictions = Throttle::new(LOG_EVERY);
    let mut busy = Throttle::new(LOG_EVERY);
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((s, _)) => {
                backoff.reset();
                s
            }
            Err(e) if is_exhaustion(&e) => {
                // Free a descriptor if one of ours is idle, else wait: the
                // pending connection stays queued until we can take it.
                let freed = table.evict_one();
                if let Some(left_out) = exhausted.hit(Instant::now()) {
                    warn!(socket = what, error = %e, open = table.open(), freed, left_out, "accept: out of descriptors or memory; backing off (raise LimitNOFILE if this persists)");
                }
                if freed {
                    tokio::task::yield_now().await;
                } else {
                    tokio::time::sleep(backoff.pause()).await;
                }
                continue;
            }
            Err(e) => {
                if let Some(left_out) = failed.hit(Instant::now()) {
                    warn!(socket = what, error = %e, left_out, "accept failed");
                }
                tokio::time::sleep(backoff.pause()).await;
                continue;
            }
        };
        let uid = match stream.peer_cred() {
            Ok(c) => c.uid(),
            Err(_) => continue,
        };
        if let Allowed::Only(only) = allowed
            && uid != only
        {
            if let Some(left_out) = strangers.hit(Instant::now()) {
                warn!(
                    socket = what,
                    uid,
                    allowed = only,
                    left_out,
                    "refused a connection from a uid that may not use this socket"
                );
            }
            continue;
        }
        match table.admit(uid) {
            Ok((slot, evicted)) => {
                if evicted > 0
                    && let Some(left_out) = evictions.hit(Instant::now())
                {
                    let caps = table.caps();
                    warn!(
                        socket = what,
                        uid,
                        open = table.open(),
                        cap = caps.total,
                        per_uid = caps.per_uid,
                        left_out,
                        "connection cap reached; closed the oldest idle connection"
                    );
                }
                tokio::spawn(serve(stream, slot));
            }
            Err(Refused::AllBusy) => {
                if let Some(left_out) = busy.hit(Instant::now()) {
                    warn!(
                        socket = what,
                        uid,
                        open = table.open(),
                        left_out,
                        "connection cap reached and every connection is busy; refused one"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn caps(total: usize, per_uid: usize) -> Caps {
        Caps {
            total,
            per_uid,
            idle: Duration::from_secs(30),
            write: Duration::from_secs(10),
        }
    }

    #[test]
    fn a_flooding_uid_evicts_its_own_oldest_idle_connection() {
        let t = ConnTable::new(caps(4, 2));
        let (a1, _) = t.admit(0).unwrap();
        let (_a2, _) = t.admit(0).unwrap();
        let (_b1, _) = t.admit(1000).unwrap();
        let (_a3, n) = t.admit(0).unwrap();
        assert_eq!(n, 1);
        assert!(a1.evicted.is_cancelled());
        assert_eq!(t.open(), 3);
    }

    #[test]
    fn a_full_socket_evicts_from_the_heaviest_uid_never_a_busy_one() {
        let t = ConnTable::new(caps(3, 3));
        let (a1, _) = t.admit(0).unwrap();
        a1.set_idle(false);
        let (a2, _) = t.admit(0).unwrap();
        let (b1, _) = t.admit(1000).unwrap();
        let (_c1, n) = t.admit(2000).unwrap();
        assert_eq!(n, 1);
        assert!(!a1.evicted.is_cancelled());
        assert!(a2.evicted.is_cancelled());
        assert!(!b1.evicted.is_cancelled());
        drop(a2);
        assert_eq!(t.open(), 3);
        // All busy: refused.
        let t = ConnTable::new(caps(1, 1));
        let (x, _) = t.admit(0).unwrap();
        x.set_idle(false);
        assert_eq!(t.admit(0).unwrap_err(), Refused::AllBusy);
    }

    #[test]
    fn caps_stay_under_the_descriptor_limit() {
        for nofile in [64, 256, 1024, 20_000, 1 << 20] {
            let (control, portal) = caps_for(nofile);
            assert!(
                control.total + portal.total + 32 <= nofile.max(64),
                "{nofile}"
            );
            assert!(portal.total >= 2 * 16 || nofile < 256, "{nofile}");
            assert!(control.per_uid < control.total);
        }
    }
}

//! Asking `cordond` about the caller, over the portal socket.
//!
//! Connections are kept and reused: a connection per question cost both sides
//! a connect, an accept and a task for every page view. The protocol has no
//! request ids (one question, then its answer), so each connection carries
//! one question at a time; a small pool holds the idle ones. Every call,
//! waiting for a free connection included, has a deadline, so a stuck daemon
//! slows a page by that much at most and the page then renders general advice.

use std::net::IpAddr;
use std::path::PathBuf;
use std::thread::ThreadId;
use std::time::Duration;

use cordon_proto::portal::{HostStatus, Request, Response, SelfReleaseOutcome};
use cordon_runtime::frame::{Framed, call, framed};
use parking_lot::Mutex;
use tokio::net::UnixStream;
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// Most questions in flight to `cordond` at once, and so most connections
/// in use: plenty for pages answered from memory in well under a
/// millisecond, and a cap on what a flood of callers from many addresses
/// can make `cordond` do (the rest wait, within the deadline). More does
/// not buy more answers: under an outbreak 24 in flight got the same
/// 5 000 to 8 000 answers a second as 16, each waiting longer.
pub const MAX_IN_FLIGHT: usize = 16;
/// Most connections kept between questions, over all runtimes: each
/// runtime uses only its own (see [`Cordond`]) and may have all the
/// questions in flight at one moment and few at the next, so the pool
/// holds two runtimes' worth.
pub const MAX_IDLE: usize = 2 * MAX_IN_FLIGHT;
/// Most connections open at once (in use and kept): within the 64 that
/// `cordond` serves for the portal.
pub const MAX_CONNECTIONS: usize = MAX_IN_FLIGHT + MAX_IDLE;

/// A client for `control.portal_socket`.
#[derive(Debug)]
pub struct Cordond {
    socket: PathBuf,
    timeout: Duration,
    /// Connections between questions, each with the thread that opened
    /// it. A connection is put back only after a whole question and
    /// answer: one abandoned mid-way (deadline, error) may still get its
    /// answer later, which must never be read as the answer to someone
    /// else's question. A thread takes only its own: each of the portal's
    /// runtimes is one thread, and a connection's readiness is reported by
    /// the runtime that opened it, so one used from another runtime would
    /// wait for that runtime to look.
    idle: Mutex<Vec<(ThreadId, Framed)>>,
    slots: Semaphore,
}

impl Cordond {
    /// A client for `socket`, each call bounded by `timeout`.
    pub fn new(socket: PathBuf, timeout: Duration) -> Self {
        Cordond {
            socket,
            timeout,
            idle: Mutex::new(Vec::with_capacity(MAX_IDLE)),
            slots: Semaphore::new(MAX_IN_FLIGHT),
        }
    }

    /// The caller's state and facts.
    pub async fn status(&self, address: IpAddr) -> Result<HostStatus> {
        match self.ask(&Request::Status { address }).await? {
            Response::Status(status) => Ok(status),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Asks for the caller's self-release.
    pub async fn self_release(&self, address: IpAddr) -> Result<SelfReleaseOutcome> {
        match self.ask(&Request::SelfRelease { address }).await? {
            Response::SelfRelease(outcome) => Ok(outcome),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Acknowledges the caller's notice; answers whether it had one.
    pub async fn acknowledge(&self, address: IpAddr) -> Result<bool> {
        match self.ask(&Request::Acknowledge { address }).await? {
            Response::Acknowledged { acknowledged } => Ok(acknowledged),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Idle connections kept now (tests and diagnostics).
    pub fn idle_connections(&self) -> usize {
        self.lock_idle().len()
    }

    async fn ask(&self, request: &Request) -> Result<Response> {
        let exchange = async {
            // The semaphore is never closed; the error arm cannot happen.
            let _slot = self
                .slots
                .acquire()
                .await
                .map_err(|e| self.error(e.to_string()))?;
            if let Some(mut io) = self.take_idle() {
                match call::<_, Response>(&mut io, request).await {
                    Ok(answer) => {
                        self.put_back(io);
                        return Ok(answer);
                    }
                    // Almost always closed between the liveness check and
                    // the question (cordond restarting), so the question
                    // was never read. Were a self-release read and acted on
                    // just before a crash, asking again is still harmless:
                    // the second answer is "not quarantined".
                    Err(e) => {
                        tracing::debug!(error = %e, "kept cordond connection failed; reconnecting");
                    }
                }
            }
            let stream = UnixStream::connect(&self.socket)
                .await
                .map_err(|e| self.error(format!("cannot connect: {e}")))?;
            let mut io = framed(stream);
            let answer = call::<_, Response>(&mut io, request)
                .await
                .map_err(|e| self.error(e.to_string()))?;
            self.put_back(io);
            Ok(answer)
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| self.error(format!("no answer within {:?}", self.timeout)))?
    }

    /// An idle connection that still looks usable. A restarted `cordond`
    /// closed every kept connection: they are all dropped here in one go
    /// rather than each failing one page view.
    fn take_idle(&self) -> Option<Framed> {
        let me = std::thread::current().id();
        let mut idle = self.lock_idle();
        while let Some(i) = idle.iter().rposition(|(t, _)| *t == me) {
            let (_, io) = idle.swap_remove(i);
            if usable(&io) {
                return Some(io);
            }
        }
        None
    }

    /// Keeps `io` for this thread's next question. When the pool is full
    /// the connection idle longest goes (another runtime's, most likely,
    /// which asks less now): dropping the one just used instead, with room
    /// for one runtime's worth only, left the other runtime without kept
    /// connections, connecting anew for one question in eight under an
    /// outbreak.
    fn put_back(&self, io: Framed) {
        let mut idle = self.lock_idle();
        if idle.len() >= MAX_IDLE {
            idle.remove(0);
        }
        idle.push((std::thread::current().id(), io));
    }

    fn lock_idle(&self) -> parking_lot::MutexGuard<'_, Vec<(ThreadId, Framed)>> {
        self.idle.lock()
    }

    fn unexpected(&self, answer: &Response) -> Error {
        match answer {
            Response::Error { message } => self.error(format!("cordond refused: {message}")),
            other => self.error(format!("answer of the wrong kind: {other:?}")),
        }
    }

    fn error(&self, reason: String) -> Error {
        Error::Cordond {
            socket: self.socket.clone(),
            reason,
        }
    }
}

/// Between questions a kept connection has nothing to read: end of stream
/// means `cordond` closed it, and bytes nobody asked for mean the two sides
/// no longer agree on which answer is which.
fn usable(io: &Framed) -> bool {
    if !io.read_buffer().is_empty() {
        return false;
    }
    let mut probe = [0u8; 1];
    matches!(
        io.get_ref().try_read(&mut probe),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use cordon_proto::portal::HostState;
    use cordon_runtime::frame::{recv, send};
    use tokio::net::UnixListener;

    fn status(address: IpAddr) -> HostStatus {
        HostStatus {
            subscriber: None,
            address: address.to_string(),
            state: HostState::Quarantined,
            reason: None,
            since: None,
            until: None,
            smtp_attempts: 0,
            last_smtp_attempt: None,
            quiet_period_s: 60,
            self_releases_left: 1,
        }
    }

    /// A stand-in `cordond` that counts the connections it accepted and
    /// answers `questions_per_connection` questions on each before closing
    /// it (`usize::MAX`: keep it open). Aborting its task stops it as a
    /// stopping `cordond` does: listener and connections closed.
    fn serve(
        listener: UnixListener,
        questions_per_connection: usize,
    ) -> (Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            // Aborting the stand-in drops this set, closing every connection.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                connections.spawn(async move {
                    let mut io = framed(stream);
                    for _ in 0..questions_per_connection {
                        let Ok(Some(Request::Status { address })) = recv(&mut io).await else {
                            return;
                        };
                        let answer = Response::Status(status(address));
                        if send(&mut io, &answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (accepted, task)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Runtimes A, B and C, one after another, ask as much as they may at
    /// once, C twice: C's second turn finds the connections of its first
    /// (the pool made room by closing A's, idle longest), and connects
    /// nobody anew.
    #[tokio::test]
    async fn a_runtime_keeps_its_connections_when_another_filled_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portal.sock");
        let (accepted, _server) = serve(UnixListener::bind(&path).unwrap(), usize::MAX);
        let c = Arc::new(Cordond::new(path, Duration::from_secs(2)));
        // Each turn on a thread of its own, as each runtime of the portal.
        let turn = |c: Arc<Cordond>, turns: usize| {
            let thread = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    for _ in 0..turns {
                        let mut all = tokio::task::JoinSet::new();
                        for i in 0..MAX_IN_FLIGHT {
                            let c = Arc::clone(&c);
                            let peer = IpAddr::from([100, 64, 0, u8::try_from(i).unwrap()]);
                            all.spawn(async move { c.status(peer).await.unwrap() });
                        }
                        while let Some(r) = all.join_next().await {
                            r.unwrap();
                        }
                    }
                });
            });
            tokio::task::spawn_blocking(move || thread.join().unwrap())
        };
        turn(Arc::clone(&c), 1).await.unwrap();
        turn(Arc::clone(&c), 1).await.unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 2 * MAX_IN_FLIGHT);
        turn(Arc::clone(&c), 2).await.unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 3 * MAX_IN_FLIGHT);
        assert!(c.idle_connections() <= MAX_IDLE);
    }

    #[tokio::test]
    async fn one_connection_serves_question_after_question() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portal.sock");
        let (accepted, _server) = serve(UnixListener::bind(&path).unwrap(), usize::MAX);
        let c = Cordond::new(path, Duration::from_secs(2));
        for i in 1..=5u8 {
            let peer = IpAddr::from([100, 64, 0, i]);
            assert_eq!(c.status(peer).await.unwrap().address, peer.to_string());
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(c.idle_connections(), 1);
    }

    #[tokio::test]
    async fn a_connection_closed_by_cordond_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portal.sock");
        // Closes each connection after one answer, as a restart would.
        let (accepted, _server) = serve(UnixListener::bind(&path).unwrap(), 1);
        let c = Cordond::new(path, Duration::from_secs(2));
        for _ in 0..3 {
            assert!(c.status(ip("100.64.0.1")).await.is_ok());
            // Let the stand-in close its end.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_restarted_cordond_is_found_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portal.sock");
        let (_, first) = serve(UnixListener::bind(&path).unwrap(), usize::MAX);
        let c = Cordond::new(path.clone(), Duration::from_secs(2));
        assert!(c.status(ip("100.64.0.1")).await.is_ok());
        assert_eq!(c.idle_connections(), 1);

        // cordond stops: its listener and every connection close.
        first.abort();
        let _ = first.await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        std::fs::remove_file(&path).unwrap();
        assert!(c.status(ip("100.64.0.1")).await.is_err(), "nobody answers");

        // And starts again on the same path.
        let (accepted, _second) = serve(UnixListener::bind(&path).unwrap(), usize::MAX);
        assert!(c.status(ip("100.64.0.1")).await.is_ok());
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_kept_connection_failing_mid_question_is_retried_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portal.sock");
        let listener = UnixListener::bind(&path).unwrap();
        // The first connection answers once, then reads the next question
        // and closes without an answer; the second answers normally.
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut io = framed(stream);
            let Ok(Some(Request::Status { address })) = recv::<Request>(&mut io).await else {
                panic!("no question");
            };
            send(&mut io, &Response::Status(status(address)))
                .await
                .unwrap();
            let _ = recv::<Request>(&mut io).await;
            drop(io);
            let (stream, _) = listener.accept().await.unwrap();
            let mut io = framed(stream);
            while let Ok(Some(Request::Status { address })) = recv::<Request>(&mut io).await {
                send(&mut io, &Response::Status(status(address)))
                    .await
                    .unwrap();
            }
        });
        let c = Cordond::new(path, Duration::from_secs(2));
        assert!(c.status(ip("100.64.0.1")).await.is_ok());
        assert_eq!(
            c.status(ip("100.64.0.2")).await.unwrap().address,
            "100.64.0.2"
        );
        assert_eq!(c.idle_connections(), 1);
        server.abort();
    }

    #[tokio::test]
    async fn an_unanswered_connection_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portal.sock");
        let listener = UnixListener::bind(&path).unwrap();
        // Reads questions and never answers.
        let _server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut io = framed(stream);
                    while let Ok(Some(_)) = recv::<Request>(&mut io).await {}
                });
            }
        });
        let c = Cordond::new(path, Duration::from_millis(100));
        assert!(c.status(ip("100.64.0.1")).await.is_err());
        assert_eq!(c.idle_connections(), 0);
    }
}

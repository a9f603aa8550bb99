//! Asking `cordond` about the caller, over the portal socket.
//!
//! Each of the portal's runtimes keeps one connection of its own and sends
//! its questions on it without waiting for the answers before them;
//! `cordond` answers in order, and answers together whatever arrived
//! together. Under an outbreak every new zombie's first page asks: one
//! question and one answer per connection at a time cost each question
//! two process wake-ups on each side, and those wake-ups, not the work,
//! were most of both sides' time (measured: `cordond` spent half its CPU
//! waking the portal). Every call, waiting for the answer included, has a
//! deadline, so a stuck daemon slows a page by that much at most and the
//! page then renders general advice. A button press (self-release, "I
//! understand") gets a longer one: `cordond` answers it only once the
//! change is recorded and in the kernel, which under a loaded disk takes
//! seconds, and a press given up too soon is carried out unseen (the
//! subscriber is sent on as if it had failed: to the notice again).

use std::net::IpAddr;
use std::path::PathBuf;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use cordon_proto::portal::{HostStatus, Request, Response, SelfReleaseOutcome};
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use tokio::sync::{Semaphore, oneshot};

use crate::error::{Error, Result};

mod line;

use line::{Line, Question};

/// Most questions under way at once over all runtimes: a cap on what a
/// flood of callers from many addresses can make `cordond` do (the rest
/// wait, within the deadline). Questions travel together, so more under
/// way means fuller batches, not more work per question.
pub const MAX_IN_FLIGHT: usize = 64;
/// Most connections open at once: one per runtime, and runtimes past this
/// many share (within the 64 that `cordond` serves for the portal).
pub const MAX_CONNECTIONS: usize = 32;

/// How long callers waited for `cordond`, and how often in vain: under an
/// outbreak every new zombie's first page waits for one answer, so this
/// is where an operator sees whether `cordond` keeps up with the portal.
#[derive(Debug, Clone)]
pub struct Waits {
    /// Seconds from asking (a free slot included) to the answer.
    pub answered: Histogram,
    /// Questions that got no answer (none in time, cannot connect, the
    /// connection failed twice): those pages showed general advice.
    pub failed: Counter,
}

impl Default for Waits {
    fn default() -> Self {
        Waits {
            // 50 µs to about 1.6 s, doubling: a quiet answer takes well
            // under a millisecond, a question's deadline is 2 s (a press
            // waiting longer counts in the last bucket, `+Inf`).
            answered: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            failed: Counter::default(),
        }
    }
}

/// A client for `control.portal_socket`.
#[derive(Debug)]
pub struct Cordond {
    socket: PathBuf,
    timeout: Duration,
    /// The deadline of a button press.
    press_timeout: Duration,
    /// Each runtime's line to `cordond`: a task on that runtime owning the
    /// connection. A runtime uses its own, since a connection's readiness
    /// is reported by the runtime that opened it.
    lines: Mutex<Vec<(ThreadId, Line)>>,
    slots: Semaphore,
    waits: Waits,
}

impl Cordond {
    /// A client for `socket`, each call bounded by `timeout` (button
    /// presses too, unless [`Cordond::presses_within`] says otherwise).
    pub fn new(socket: PathBuf, timeout: Duration) -> Self {
        Cordond {
            socket,
            timeout,
            press_timeout: timeout,
            lines: Mutex::new(Vec::new()),
            slots: Semaphore::new(MAX_IN_FLIGHT),
            waits: Waits::default(),
        }
    }

    /// Button presses bounded by `timeout` instead.
    #[must_use]
    pub fn presses_within(mut self, timeout: Duration) -> Self {
        self.press_timeout = timeout;
        self
    }

    /// The caller's state and facts.
    pub async fn status(&self, address: IpAddr) -> Result<HostStatus> {
        match self.ask(Request::Status { address }).await? {
            Response::Status(status) => Ok(status),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Asks for the caller's self-release.
    pub async fn self_release(&self, address: IpAddr) -> Result<SelfReleaseOutcome> {
        match self.ask(Request::SelfRelease { address }).await? {
            Response::SelfRelease(outcome) => Ok(outcome),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Acknowledges the caller's notice; answers whether it had one.
    pub async fn acknowledge(&self, address: IpAddr) -> Result<bool> {
        match self.ask(Request::Acknowledge { address }).await? {
            Response::Acknowledged { acknowledged } => Ok(acknowledged),
            other => Err(self.unexpected(&other)),
        }
    }

    /// The waits' metrics (registered with the portal's others).
    pub fn waits(&self) -> Waits {
        self.waits.clone()
    }

    /// Connections open now (tests and diagnostics).
    pub fn connections(&self) -> usize {
        self.lines
            .lock()
            .iter()
            .filter(|(_, l)| l.is_connected())
            .count()
    }

    async fn ask(&self, request: Request) -> Result<Response> {
        let asked = Instant::now();
        let answer = self.ask_within(request).await;
        match &answer {
            Ok(_) => self.waits.answered.observe(asked.elapsed().as_secs_f64()),
            Err(_) => {
                self.waits.failed.inc();
            }
        }
        answer
    }

    async fn ask_within(&self, request: Request) -> Result<Response> {
        let timeout = match request {
            Request::Status { .. } => self.timeout,
            Request::SelfRelease { .. } | Request::Acknowledge { .. } => self.press_timeout,
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let exchange = async {
            // The semaphore is never closed; the error arm cannot happen.
            let _slot = self
                .slots
                .acquire()
                .await
                .map_err(|e| self.error(e.to_string()))?;
            let (tx, rx) = oneshot::channel();
            self.line().send(Question {
                request,
                deadline,
                answer: tx,
            });
            match rx.await {
                Ok(answer) => answer.map_err(|reason| self.error(reason)),
                Err(_) => Err(self.error("the portal is stopping".into())),
            }
        };
        tokio::time::timeout_at(deadline, exchange)
            .await
            .map_err(|_| self.error(format!("no answer within {timeout:?}")))?
    }

    /// This runtime's line, started on first use (and again when its
    /// runtime stopped); past [`MAX_CONNECTIONS`] runtimes, another's.
    fn line(&self) -> Line {
        let me = std::thread::current().id();
        let mut lines = self.lines.lock();
        lines.retain(|(_, l)| !l.is_closed());
        if let Some((_, l)) = lines.iter().find(|(t, _)| *t == me) {
            return l.clone();
        }
        if lines.len() >= MAX_CONNECTIONS {
            let i = usize::try_from(hash(me)).unwrap_or(0) % lines.len();
            if let Some((_, l)) = lines.get(i) {
                return l.clone();
            }
        }
        let line = Line::start(self.socket.clone());
        lines.push((me, line.clone()));
        line
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

/// A thread's place among the lines, when there are more runtimes than
/// lines.
fn hash(thread: ThreadId) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    thread.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests;

//! One runtime's connection to `cordond`, owned by a task on that runtime:
//! questions go out as they come, several in one write when several are
//! waiting, and answers come back in order.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cordon_proto::portal::{Request, Response};
use cordon_runtime::frame::{Framed, framed, recv, send_all};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Most questions written in one go.
const MAX_BATCH: usize = 64;

/// One question and where its answer goes.
#[derive(Debug)]
pub(super) struct Question {
    pub request: Request,
    /// When the asker stops waiting: past it, an unanswered connection
    /// is given up.
    pub deadline: Instant,
    pub answer: oneshot::Sender<Result<Response, String>>,
}

/// A handle on a line; the line's task ends when every handle is gone,
/// or with its runtime.
#[derive(Debug, Clone)]
pub(super) struct Line {
    to: mpsc::UnboundedSender<Question>,
    connected: Arc<AtomicBool>,
}

impl Line {
    /// Starts a line's task on the current runtime. Nothing connects until
    /// the first question.
    pub fn start(socket: PathBuf) -> Line {
        let (to, from) = mpsc::unbounded_channel();
        let connected = Arc::new(AtomicBool::new(false));
        tokio::spawn(drive(socket, from, Arc::clone(&connected)));
        Line { to, connected }
    }

    /// Hands `q` to the line; a line whose task is gone answers nothing,
    /// and the asker's deadline ends its wait (its runtime is stopping).
    pub fn send(&self, q: Question) {
        if let Err(mpsc::error::SendError(q)) = self.to.send(q) {
            let _ = q.answer.send(Err("the portal is stopping".into()));
        }
    }

    /// Whether the line's task has ended.
    pub fn is_closed(&self) -> bool {
        self.to.is_closed()
    }

    /// Whether it holds a connection now.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}

/// A question sent and not yet answered.
#[derive(Debug)]
struct Sent {
    q: Question,
    /// Sent again already, after its first connection failed.
    retried: bool,
}

/// The line's task.
async fn drive(
    socket: PathBuf,
    mut questions: mpsc::UnboundedReceiver<Question>,
    connected: Arc<AtomicBool>,
) {
    let mut conn = Conn {
        socket,
        io: None,
        waiting: VecDeque::new(),
        connected,
    };
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let oldest = conn.waiting.front().map(|s| s.q.deadline);
        tokio::select! {
            n = questions.recv_many(&mut batch, MAX_BATCH) => {
                if n == 0 {
                    return;
                }
                let fresh = batch.drain(..).filter(|q| !q.answer.is_closed());
                conn.ask(fresh.map(|q| Sent { q, retried: false }).collect()).await;
            }
            answer = next(&mut conn.io), if !conn.waiting.is_empty() => conn.answered(answer).await,
            () = tokio::time::sleep_until(oldest.unwrap_or_else(Instant::now)), if oldest.is_some() => {
                conn.expired().await;
            }
        }
    }
}

/// The next answer on `io` (never, without a connection).
async fn next(io: &mut Option<Framed>) -> Result<Option<Response>, String> {
    match io {
        Some(io) => recv::<Response>(io).await.map_err(|e| e.to_string()),
        None => std::future::pending().await,
    }
}

#[derive(Debug)]
struct Conn {
    socket: PathBuf,
    io: Option<Framed>,
    /// Sent and unanswered, in the order sent: answers come in that order.
    waiting: VecDeque<Sent>,
    connected: Arc<AtomicBool>,
}

impl Conn {
    /// Sends `sent`, on the kept connection or a new one. When a kept
    /// connection fails, each question on it is sent once more on a new
    /// one: it was almost always closed by a restarting `cordond` before
    /// the question was read. Were a self-release read and acted on just
    /// before a crash, asking again is still harmless: the second answer
    /// is "not quarantined".
    async fn ask(&mut self, mut sent: Vec<Sent>) {
        loop {
            if sent.is_empty() {
                return;
            }
            if self
                .io
                .as_ref()
                .is_some_and(|io| self.waiting.is_empty() && !usable(io))
            {
                self.set(None);
            }
            let kept = self.io.is_some();
            if !kept {
                match connect(&self.socket).await {
                    Ok(io) => self.set(Some(io)),
                    Err(e) => {
                        for s in sent {
                            let _ = s.q.answer.send(Err(format!("cannot connect: {e}")));
                        }
                        return;
                    }
                }
            }
            let Some(io) = self.io.as_mut() else { return };
            let requests: Vec<&Request> = sent.iter().map(|s| &s.q.request).collect();
            let until = sent
                .iter()
                .map(|s| s.q.deadline)
                .min()
                .unwrap_or_else(Instant::now);
            let written = match tokio::time::timeout_at(until, send_all(io, &requests)).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err("cordond took no question in time".to_owned()),
            };
            match written {
                Ok(()) => {
                    self.waiting.extend(sent);
                    return;
                }
                Err(e) => {
                    // Whatever was under way on it is lost too.
                    let lost: Vec<Sent> = self.waiting.drain(..).chain(sent).collect();
                    sent = self.give_up(lost, &e, kept);
                }
            }
        }
    }

    /// An answer (or the end of the connection) arrived.
    async fn answered(&mut self, answer: Result<Option<Response>, String>) {
        let reason = match answer {
            Ok(Some(response)) => {
                if let Some(s) = self.waiting.pop_front() {
                    let _ = s.q.answer.send(Ok(response));
                }
                return;
            }
            Ok(None) => "cordond closed the connection".to_owned(),
            Err(e) => e,
        };
        let lost: Vec<Sent> = self.waiting.drain(..).collect();
        let again = self.give_up(lost, &reason, true);
        self.ask(again).await;
    }

    /// The oldest question's deadline passed unanswered: `cordond` is
    /// stuck or slow, and a late answer must never be taken for a later
    /// question's, so the connection goes. The questions whose own
    /// deadline has not passed (a button press waits longer than a page)
    /// are sent once more on a new one; the others fail.
    async fn expired(&mut self) {
        const REASON: &str = "no answer in time";
        let now = Instant::now();
        let (late, waiting): (Vec<Sent>, Vec<Sent>) =
            self.waiting.drain(..).partition(|s| s.q.deadline <= now);
        self.give_up(late, REASON, false);
        let again = self.give_up(waiting, REASON, true);
        self.ask(again).await;
    }

    /// Drops the connection. Of the questions `lost` with it, those not
    /// yet sent twice (when `retry`) come back, marked, to be sent once
    /// more on a new one (see [`Conn::ask`]); the others fail with
    /// `reason`, and those nobody waits for any more are dropped.
    fn give_up(&mut self, lost: Vec<Sent>, reason: &str, retry: bool) -> Vec<Sent> {
        self.set(None);
        let (again, failed): (Vec<Sent>, Vec<Sent>) =
            lost.into_iter().partition(|s| retry && !s.retried);
        for s in failed {
            let _ = s.q.answer.send(Err(reason.to_owned()));
        }
        again
            .into_iter()
            .filter(|s| !s.q.answer.is_closed())
            .map(|s| Sent { retried: true, ..s })
            .collect()
    }

    fn set(&mut self, io: Option<Framed>) {
        self.connected.store(io.is_some(), Ordering::Relaxed);
        self.io = io;
    }
}

async fn connect(socket: &Path) -> std::io::Result<Framed> {
    Ok(framed(UnixStream::connect(socket).await?))
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

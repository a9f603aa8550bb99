//! One runtime's connection to `cordond`, with no task of its own: each
//! asker writes its question itself, and whichever asker finds answers
//! readable reads them all and hands each to its asker.
//!
//! A task owning the connection cost every question two trips through the
//! runtime's queue of ready tasks (to the task, and back to the asker), and
//! under an outbreak that queue is long: measured in the portal, 0.7 ms
//! from asking to the question being written and 1.3 ms from the answer
//! being read to the asker running again, of a 4 ms round trip. Now the
//! question is written at once, and every asker waiting when answers
//! arrive is woken by the same readiness and runs in the same pass.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Buf, BufMut, BytesMut};
use cordon_proto::portal::{Request, Response};
use cordon_runtime::frame::MAX_FRAME;
use parking_lot::{Mutex, MutexGuard};
use tokio::io::Interest;
use tokio::net::UnixStream;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Why a question got no answer.
#[derive(Debug)]
enum Failed {
    /// The connection failed under it: asked once more on a new one.
    Lost(String),
    /// Nothing to do but give up (no answer in time, a bad answer).
    Final(String),
}

/// A handle on a line; clones share the connection.
#[derive(Debug, Clone)]
pub(super) struct Line {
    socket: PathBuf,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    conn: Option<Conn>,
    /// Questions written (or being written) and not yet answered, oldest
    /// first: answers come in this order.
    waiting: VecDeque<u64>,
    /// Questions whose asker still waits.
    wanted: HashSet<u64>,
    /// Answers arrived for askers that have not yet taken them.
    answered: HashMap<u64, Result<Response, Failed>>,
    next_id: u64,
    /// Told when the connect under way ends.
    connecting: Option<Arc<Notify>>,
}

#[derive(Debug)]
struct Conn {
    stream: Arc<UnixStream>,
    /// Told when answers were handed to other askers, or the connection
    /// was given up: its askers then look without waiting for a readiness
    /// that may never come.
    news: Arc<Notify>,
    /// Bytes not yet written (a question the socket did not take whole).
    out: BytesMut,
    /// Bytes read and not yet a whole answer.
    inbuf: BytesMut,
}

impl Line {
    /// A line to `socket`; nothing connects until the first question.
    pub fn new(socket: PathBuf) -> Line {
        Line {
            socket,
            state: Arc::default(),
        }
    }

    /// Whether it holds a connection now.
    pub fn is_connected(&self) -> bool {
        self.lock().conn.is_some()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Asks `request` and waits for its answer until `deadline`. A question
    /// whose connection failed under it is asked once more on a new one:
    /// the connection was almost always closed by a restarting `cordond`
    /// before the question was read. Were a self-release read and acted on
    /// just before a crash, asking again is still harmless: the second
    /// answer is "not quarantined".
    pub async fn ask(&self, request: &Request, deadline: Instant) -> Result<Response, String> {
        let frame = encode(request)?;
        match self.ask_once(&frame, deadline).await {
            Ok(r) => Ok(r),
            Err(Failed::Lost(_)) => self.ask_once(&frame, deadline).await.map_err(|f| match f {
                Failed::Lost(e) | Failed::Final(e) => e,
            }),
            Err(Failed::Final(e)) => Err(e),
        }
    }

    async fn ask_once(&self, frame: &[u8], deadline: Instant) -> Result<Response, Failed> {
        self.connected().await?;
        let (id, stream, news) = {
            let mut st = self.lock();
            let id = st.next_id;
            st.next_id = st.next_id.wrapping_add(1);
            let Some(conn) = st.conn.as_mut() else {
                return Err(Failed::Lost("no connection".into()));
            };
            conn.out.extend_from_slice(frame);
            let (stream, news) = (Arc::clone(&conn.stream), Arc::clone(&conn.news));
            st.waiting.push_back(id);
            st.wanted.insert(id);
            st.flush();
            (id, stream, news)
        };
        let _wanted = Wanted { line: self, id };
        loop {
            {
                let mut st = self.lock();
                st.flush();
                if st.read_all() {
                    news.notify_waiters();
                }
                if let Some(answer) = st.answered.remove(&id) {
                    return answer;
                }
            }
            let interest = if self.lock().conn.as_ref().is_some_and(|c| !c.out.is_empty()) {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            tokio::select! {
                ready = stream.ready(interest) => {
                    if let Err(e) = ready {
                        self.lock().give_up(&format!("cordond connection: {e}"), true);
                    }
                }
                () = news.notified() => {}
                () = tokio::time::sleep_until(deadline) => {
                    let mut st = self.lock();
                    if let Some(answer) = st.answered.remove(&id) {
                        return answer;
                    }
                    // Nothing answered by this deadline: `cordond` is stuck,
                    // and a late answer must never be taken for a later
                    // question's.
                    st.give_up("no answer in time", false);
                    return Err(Failed::Final("no answer in time".into()));
                }
            }
        }
    }

    /// Makes sure there is a connection to use: the kept one, unless it is
    /// gone (closed by a restarted `cordond`), or a new one. Askers that
    /// come while one connects wait for it, rather than each connecting.
    async fn connected(&self) -> Result<(), Failed> {
        loop {
            let other = {
                let mut st = self.lock();
                let idle = st.waiting.is_empty();
                match st.conn.as_ref() {
                    Some(c) if !idle || usable(c) => return Ok(()),
                    Some(_) => st.conn = None,
                    None => {}
                }
                match &st.connecting {
                    Some(n) => Arc::clone(n),
                    None => {
                        st.connecting = Some(Arc::new(Notify::new()));
                        break;
                    }
                }
            };
            let notified = other.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let still = self
                .lock()
                .connecting
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(c, &other));
            if still {
                notified.await;
            }
        }
        let connecting = Connecting { line: self };
        let stream = connect(&self.socket)
            .await
            .map_err(|e| Failed::Final(format!("cannot connect: {e}")))?;
        self.lock().conn = Some(Conn {
            stream: Arc::new(stream),
            news: Arc::new(Notify::new()),
            out: BytesMut::new(),
            inbuf: BytesMut::new(),
        });
        drop(connecting);
        Ok(())
    }
}

/// Ends a connect however it ends (done, failed, its asker dropped), and
/// wakes the askers waiting for it.
struct Connecting<'a> {
    line: &'a Line,
}

impl Drop for Connecting<'_> {
    fn drop(&mut self) {
        let waiting = self.line.lock().connecting.take();
        if let Some(n) = waiting {
            n.notify_waiters();
        }
    }
}

/// Takes the asker's question off the books however it ends (answered,
/// timed out, its request dropped): an answer that arrives later is
/// dropped, not kept.
struct Wanted<'a> {
    line: &'a Line,
    id: u64,
}

impl Drop for Wanted<'_> {
    fn drop(&mut self) {
        let mut st = self.line.lock();
        st.wanted.remove(&self.id);
        st.answered.remove(&self.id);
    }
}

impl State {
    /// Writes what the socket takes now.
    fn flush(&mut self) {
        let failed = {
            let Some(conn) = self.conn.as_mut() else {
                return;
            };
            loop {
                if conn.out.is_empty() {
                    break None;
                }
                match conn.stream.try_write(&conn.out) {
                    Ok(n) => conn.out.advance(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break None,
                    Err(e) => break Some(e),
                }
            }
        };
        if let Some(e) = failed {
            self.give_up(&format!("cannot write to cordond: {e}"), true);
        }
    }

    /// Reads every answer there is and hands each to its question; whether
    /// any went to another asker (who is then woken).
    fn read_all(&mut self) -> bool {
        let mut handed = false;
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return handed;
            };
            conn.inbuf.reserve(16 * 1024);
            let got = conn.stream.try_read_buf(&mut conn.inbuf);
            match got {
                Ok(0) => {
                    self.give_up("cordond closed the connection", true);
                    return true;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return handed,
                Err(e) => {
                    self.give_up(&format!("cannot read from cordond: {e}"), true);
                    return true;
                }
            }
            loop {
                let Some(conn) = self.conn.as_mut() else {
                    return true;
                };
                match next_frame(&mut conn.inbuf) {
                    Ok(None) => break,
                    Ok(Some(frame)) => {
                        let Some(id) = self.waiting.pop_front() else {
                            // Bytes nobody asked for: the two sides no
                            // longer agree on which answer is which.
                            self.give_up("an answer nobody asked for", false);
                            return true;
                        };
                        let answer = serde_json::from_slice::<Response>(&frame)
                            .map_err(|e| Failed::Final(format!("a bad answer: {e}")));
                        if self.wanted.contains(&id) {
                            self.answered.insert(id, answer);
                            handed = true;
                        }
                    }
                    Err(e) => {
                        self.give_up(&e, false);
                        return true;
                    }
                }
            }
        }
    }

    /// Drops the connection; every question on it fails (`lost`: asked
    /// again on a new one).
    fn give_up(&mut self, reason: &str, lost: bool) {
        if let Some(conn) = self.conn.take() {
            conn.news.notify_waiters();
        }
        for id in self.waiting.drain(..) {
            if self.wanted.contains(&id) {
                let failed = if lost {
                    Failed::Lost(reason.to_owned())
                } else {
                    Failed::Final(reason.to_owned())
                };
                self.answered.insert(id, Err(failed));
            }
        }
    }
}

/// A question as the portal socket frames it: a 4-byte big-endian length,
/// then JSON (`cordon_runtime::frame`'s codec).
fn encode(request: &Request) -> Result<Vec<u8>, String> {
    let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    let len = u32::try_from(body.len()).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.put_u32(len);
    out.extend_from_slice(&body);
    Ok(out)
}

/// The next whole frame in `buf`, taken out of it.
fn next_frame(buf: &mut BytesMut) -> Result<Option<BytesMut>, String> {
    let Some(head) = buf.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > MAX_FRAME {
        return Err(format!("an answer of {len} bytes"));
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len)))
}

async fn connect(socket: &Path) -> io::Result<UnixStream> {
    UnixStream::connect(socket).await
}

/// Between questions a kept connection has nothing to read: end of stream
/// means `cordond` closed it, and bytes nobody asked for mean the two sides
/// no longer agree on which answer is which.
fn usable(conn: &Conn) -> bool {
    if !conn.inbuf.is_empty() {
        return false;
    }
    let mut probe = [0u8; 1];
    matches!(
        conn.stream.try_read(&mut probe),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock
    )
}

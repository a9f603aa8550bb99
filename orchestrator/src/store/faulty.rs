//! A test seam, not a mock: a real SQLite store (the "remote" behind the
//! outbox, or the core's own store) that can be switched to fail the way a
//! server store fails, or to hold its commits until let go.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cordon_policy::lifecycle::Unix;
use cordon_proto::control::AuditEntry;
use futures::future::BoxFuture;
use tokio::sync::watch;

use crate::store::sqlite::Sqlite;
use crate::store::{Backend, Loaded, SessionRecord, StoreError, StoredReport, Write};

/// How the remote answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// As the store does.
    Up = 0,
    /// Every call fails as unreachable; nothing is stored.
    Down = 1,
    /// A commit is stored, then its answer is lost (the connection broke
    /// after the server committed); reads fail as unreachable.
    LostAnswer = 2,
    /// A commit is stored, but the answer comes only after an hour.
    Late = 3,
    /// A commit waits until the switch is set to another mode, then goes
    /// as that mode says (reads go on as `Up`).
    Held = 4,
}

/// The real store behind a switch.
#[derive(Debug)]
pub struct Faulty {
    inner: Sqlite,
    path: PathBuf,
    mode: Arc<watch::Sender<Mode>>,
}

impl Faulty {
    /// Opens the SQLite store at `path`, answering as `switch` says.
    pub fn open(path: &Path, switch: &Switch) -> Faulty {
        let (inner, _) = Sqlite::open(path).unwrap();
        Faulty {
            inner,
            path: path.to_owned(),
            mode: Arc::clone(&switch.0),
        }
    }

    fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    fn away(&self) -> StoreError {
        StoreError::unreachable(self.path.display().to_string(), "connection refused")
    }

    fn read<'a, T: Send + 'a>(
        &'a self,
        call: BoxFuture<'a, Result<T, StoreError>>,
    ) -> BoxFuture<'a, Result<T, StoreError>> {
        Box::pin(async move {
            if matches!(self.mode(), Mode::Up | Mode::Held) {
                call.await
            } else {
                Err(self.away())
            }
        })
    }
}

/// The switch the test holds (shared by every `Faulty` it opens).
#[derive(Debug, Clone)]
pub struct Switch(Arc<watch::Sender<Mode>>);

impl Default for Switch {
    fn default() -> Self {
        Switch(Arc::new(watch::Sender::new(Mode::Up)))
    }
}

impl Switch {
    /// From now on, answer as `mode` (commits held until now go as it
    /// says).
    pub fn set(&self, mode: Mode) {
        self.0.send_replace(mode);
    }
}

impl Backend for Faulty {
    fn location(&self) -> &Path {
        &self.path
    }

    fn load(&self) -> BoxFuture<'_, Result<Loaded, StoreError>> {
        self.read(self.inner.load())
    }

    fn commit(&self, writes: Vec<Write>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut mode = self.mode.subscribe();
            let now = *mode.wait_for(|m| *m != Mode::Held).await.unwrap();
            match now {
                Mode::Held | Mode::Up => self.inner.commit(writes).await,
                Mode::Down => Err(self.away()),
                Mode::LostAnswer => {
                    self.inner.commit(writes).await.unwrap();
                    Err(self.away())
                }
                Mode::Late => {
                    self.inner.commit(writes).await.unwrap();
                    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                    Ok(())
                }
            }
        })
    }

    fn history(
        &self,
        address: Option<String>,
        subscriber: Option<String>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<AuditEntry>, StoreError>> {
        self.read(self.inner.history(address, subscriber, limit))
    }

    fn reports(&self) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        self.read(self.inner.reports())
    }

    fn recent_reports(
        &self,
        unit: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        self.read(self.inner.recent_reports(unit, limit))
    }

    fn holders_at(
        &self,
        questions: Vec<(Vec<String>, Unix)>,
    ) -> BoxFuture<'_, Result<Vec<Option<String>>, StoreError>> {
        self.read(self.inner.holders_at(questions))
    }

    fn webhooks_due(
        &self,
        gateway: String,
        hook: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<crate::store::WebhookQueue, StoreError>> {
        self.read(self.inner.webhooks_due(gateway, hook, limit))
    }

    fn recent_subscriber_reports(
        &self,
        subscriber: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        self.read(self.inner.recent_subscriber_reports(subscriber, limit))
    }

    fn sessions(
        &self,
        subscriber: Option<String>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<SessionRecord>, StoreError>> {
        self.read(self.inner.sessions(subscriber, limit))
    }

    fn holder_at(
        &self,
        addresses: Vec<String>,
        at: Unix,
    ) -> BoxFuture<'_, Result<Option<String>, StoreError>> {
        self.read(self.inner.holder_at(addresses, at))
    }
}

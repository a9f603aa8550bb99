//! The outbox at a start, and the snapshot it keeps for one (see
//! [`snapshot`](super::snapshot)): what a start enforces, whether the
//! store answers or not.

use std::sync::Arc;

use super::{Outbox, snapshot, unix_now, wire};
use crate::store::{Loaded, StoreError, Write};

impl Outbox {
    /// Applies what of an acknowledged batch the snapshot holds. A failure
    /// is logged, not returned: the decision is durable (in the store or
    /// the queue), and the next start from the database replaces the
    /// snapshot whole.
    pub(super) async fn keep_in_snapshot(&self, mut writes: Vec<Write>) {
        writes.retain(snapshot::matters);
        if writes.is_empty() {
            return;
        }
        let snap = Arc::clone(&self.snapshot);
        let kept = tokio::task::spawn_blocking(move || snap.apply(writes))
            .await
            .map_err(|_| StoreError::Stopped)
            .and_then(|r| r);
        if let Err(e) = kept {
            tracing::warn!(error = %e, "cannot keep the local snapshot of the fleet's state current; a start while the store is away may miss this decision");
        }
    }

    /// Keeps in the snapshot what the follower adopted from the rest of
    /// the fleet (the store's winners, for this gateway's subscribers).
    pub async fn remember(&self, hosts: Vec<cordon_policy::lifecycle::Host>) {
        self.keep_in_snapshot(hosts.into_iter().map(|h| Write::Host(h, 0)).collect())
            .await;
    }

    /// A start that loaded `loaded` from the store: the snapshot becomes
    /// that; returns what the start enforces, `loaded` with the batches
    /// still queued (decisions the store has not seen) laid over it.
    pub async fn loaded_from_store(&self, loaded: Loaded) -> Result<Loaded, StoreError> {
        let snap = Arc::clone(&self.snapshot);
        let now = unix_now();
        let loaded =
            tokio::task::spawn_blocking(move || snap.replace(&loaded, now).map(|()| loaded))
                .await
                .map_err(|_| StoreError::Stopped)??;
        if self.state().queued == 0 {
            return Ok(loaded);
        }
        self.snapshot_with_queue().await?.ok_or(StoreError::Stopped)
    }

    /// A start that found the store away (`why`): what the snapshot holds
    /// with the queued batches laid over it. The outbox says the store is
    /// unreachable from now; the replay and the follower take over when it
    /// answers. Refused, naming the remedy, when no start has ever loaded
    /// from the store ([`StoreError::NoSnapshot`]).
    pub async fn loaded_from_snapshot(&self, why: StoreError) -> Result<Loaded, StoreError> {
        self.observe::<()>(&Err(StoreError::unreachable(
            self.remote.location().display().to_string(),
            why.to_string(),
        )));
        match self.snapshot_with_queue().await? {
            Some(loaded) => {
                tracing::warn!(
                    store = %self.remote.location().display(),
                    outbox = %self.path().display(),
                    hosts = loaded.hosts.len(),
                    subscribers = loaded.subscribers.len(),
                    sessions = loaded.sessions.len(),
                    queued = self.state().queued,
                    error = %why,
                    "the store cannot be reached at start: enforcing the local snapshot of the fleet's state; decisions queue in the outbox until it answers"
                );
                Ok(loaded)
            }
            None => Err(StoreError::NoSnapshot {
                location: self.remote.location().display().to_string(),
                outbox: self.path().to_owned(),
                source: Box::new(why),
            }),
        }
    }

    /// The snapshot with the queued batches laid over it (those this
    /// cordond cannot read back are left to the replay, which says why).
    async fn snapshot_with_queue(&self) -> Result<Option<Loaded>, StoreError> {
        let config = self.config.clone();
        let (local, snap) = (Arc::clone(&self.local), Arc::clone(&self.snapshot));
        tokio::task::spawn_blocking(move || {
            let queued: Vec<Vec<Write>> = local
                .all()?
                .into_iter()
                .filter_map(|(_, body)| wire::decode(&body, &config).ok())
                .collect();
            snap.load(&queued)
        })
        .await
        .map_err(|_| StoreError::Stopped)?
    }
}

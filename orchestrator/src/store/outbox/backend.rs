//! The outbox as a [`Backend`]: commits go through the queue (see the
//! module above), reads go to the store under the time bound.

use std::path::Path;

use cordon_policy::lifecycle::Unix;
use cordon_proto::control::AuditEntry;
use futures::future::BoxFuture;

use super::{Outbox, OutboxState};
use crate::store::{Backend, Loaded, SessionRecord, StoreError, StoredReport, Write};

impl Backend for Outbox {
    fn location(&self) -> &Path {
        self.remote.location()
    }

    fn load(&self) -> BoxFuture<'_, Result<Loaded, StoreError>> {
        Box::pin(self.bounded(self.remote.load()))
    }

    fn commit(&self, writes: Vec<Write>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.commit_or_queue(writes))
    }

    fn history(
        &self,
        address: Option<String>,
        subscriber: Option<String>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<AuditEntry>, StoreError>> {
        Box::pin(self.bounded(self.remote.history(address, subscriber, limit)))
    }

    fn reports(&self) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        Box::pin(self.bounded(self.remote.reports()))
    }

    fn recent_reports(
        &self,
        unit: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        Box::pin(self.bounded(self.remote.recent_reports(unit, limit)))
    }

    fn holders_at(
        &self,
        questions: Vec<(Vec<String>, Unix)>,
    ) -> BoxFuture<'_, Result<Vec<Option<String>>, StoreError>> {
        Box::pin(self.bounded(self.remote.holders_at(questions)))
    }

    fn recent_subscriber_reports(
        &self,
        subscriber: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        Box::pin(self.bounded(self.remote.recent_subscriber_reports(subscriber, limit)))
    }

    fn sessions(
        &self,
        subscriber: Option<String>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<SessionRecord>, StoreError>> {
        Box::pin(self.bounded(self.remote.sessions(subscriber, limit)))
    }

    fn holder_at(
        &self,
        addresses: Vec<String>,
        at: Unix,
    ) -> BoxFuture<'_, Result<Option<String>, StoreError>> {
        Box::pin(self.bounded(self.remote.holder_at(addresses, at)))
    }

    fn webhooks_due(
        &self,
        gateway: String,
        hook: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<crate::store::WebhookQueue, StoreError>> {
        Box::pin(self.bounded(self.remote.webhooks_due(gateway, hook, limit)))
    }

    fn outbox(&self) -> Option<OutboxState> {
        Some(self.state())
    }
}

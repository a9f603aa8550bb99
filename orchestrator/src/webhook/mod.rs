//! Webhooks: every transition POSTed, signed, to the ISP's other systems.
//!
//! - The queue is in the store: the core writes one row per transition per
//!   hook that wants it (`payload::rows`) in the same commit as the
//!   decision, so a decision the operator saw acknowledged cannot lose its
//!   event to a crash. Each row carries the gateway that decided, and each
//!   gateway sends only its own (a fleet shares one database).
//! - The sender (`send`) runs one task per hook, in order, deleting a row
//!   only after a 2xx; `client` makes the one POST, `sign` its signature.
//! - A config reload restarts the tasks with the new hooks; events queued
//!   for a hook no longer configured stay until the retention purge.

pub mod client;
pub mod payload;
pub mod send;
pub mod sign;

use std::sync::Arc;

use cordon_config::{Config, Webhook, WebhookSecretError};
use http::Uri;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info};

pub use send::Context;

/// A configured hook, ready to send: its settings, key, URL and client.
#[derive(Debug, Clone)]
pub struct Hook {
    /// As configured.
    pub settings: Webhook,
    /// The HMAC key.
    pub key: Arc<[u8]>,
    /// The URL, parsed.
    pub uri: Uri,
    /// Its HTTP client.
    pub client: client::Client,
}

/// Why a hook cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// Its key file.
    #[error(transparent)]
    Secret(#[from] WebhookSecretError),
    /// Its TLS roots.
    #[error(transparent)]
    Client(#[from] client::ClientError),
}

impl Hook {
    /// Reads the hook's key and builds its client.
    pub fn new(settings: &Webhook) -> Result<Hook, HookError> {
        let key = settings.read_secret()?;
        let client = client::client(settings)?;
        // The config checked that it parses.
        let uri = settings
            .url
            .as_str()
            .parse()
            .map_err(|e: http::uri::InvalidUri| client::ClientError {
                url: settings.url.to_string(),
                why: e.to_string(),
            })?;
        Ok(Hook {
            settings: settings.clone(),
            key: key.into(),
            uri,
            client,
        })
    }
}

/// Every configured hook, or the first that cannot be used.
pub fn hooks(config: &Config) -> Result<Vec<Hook>, HookError> {
    config.webhooks.iter().map(Hook::new).collect()
}

/// Runs the senders of `hooks` until `cancel`; after a reload that changes
/// `webhooks`, the senders of the new hooks (a hook whose key or roots
/// cannot be read then is left out, loudly, and its events wait).
pub fn spawn(
    hooks: Vec<Hook>,
    cx: Context,
    mut config: watch::Receiver<Arc<Config>>,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) {
    tracker.spawn(async move {
        let mut hooks = hooks;
        let mut running = config.borrow_and_update().webhooks.clone();
        loop {
            let round = cancel.child_token();
            let tasks = TaskTracker::new();
            for hook in hooks.drain(..) {
                tasks.spawn(send::run(hook, cx.clone(), round.clone()));
            }
            tasks.close();
            let reloaded = loop {
                tokio::select! {
                    () = cancel.cancelled() => break None,
                    changed = config.changed() => {
                        if changed.is_err() {
                            break None;
                        }
                        let now = config.borrow_and_update().webhooks.clone();
                        if now != running {
                            break Some(now);
                        }
                    }
                }
            };
            round.cancel();
            tasks.wait().await;
            let Some(now) = reloaded else { return };
            for settings in &now {
                match Hook::new(settings) {
                    Ok(h) => hooks.push(h),
                    Err(e) => error!(error = %e, "webhook left out after the reload; its events wait in the queue"),
                }
            }
            info!(hooks = hooks.len(), "webhooks reloaded");
            running = now;
        }
    });
}

//! What the socket-facing side of `cordond` shares: the core's handle, the
//! config in force, the kernel and the store for what needs not go through
//! the core, and the clock.

use std::sync::Arc;

use cordon_config::Config;
use cordon_proto::time::{Clock, Unix};
use tokio::sync::watch;

use super::seen::SeenCache;
use crate::core::CoreHandle;
use crate::kernel::Enforcer;
use crate::store::Store;

/// What every connection on both sockets shares.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The core.
    pub core: CoreHandle,
    /// The config in force (replaced on reload).
    pub config: watch::Receiver<Arc<Config>>,
    /// The kernel, for lookups that need not go through the core.
    pub kernel: Arc<dyn Enforcer>,
    /// The store, for history.
    pub store: Store,
    /// When cordond started.
    pub started: Unix,
    /// The clock the answers read (the core's).
    pub clock: Arc<dyn Clock>,
    /// Recent kernel answers about hosts' SMTP attempts, for displays.
    pub seen: SeenCache,
    /// The shared store's view of the fleet, when there is one.
    pub fleet: Option<std::sync::Arc<dyn crate::store::feed::Feed>>,
}

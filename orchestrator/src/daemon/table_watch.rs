//! The task that turns nftables' change notices into table checks by the
//! core (see `crate::kernel::TableEvents` and `core::repair`), so a rule
//! flushed by hand is put back within a second rather than at the next
//! reconcile. Without the notices (the socket cannot be opened, or it
//! failed), the reconcile still compares the table at every interval.

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, warn};

use crate::core::{Asked, CoreHandle};
use crate::kernel::{Notice, TableEvents, watch_table};

/// Opens the notices of table `inet table` and starts the task.
pub(super) fn spawn(
    core: CoreHandle,
    table: &str,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) {
    match watch_table(table) {
        Ok(events) => {
            tracker.spawn(run(core, events, cancel));
        }
        Err(e) => warn!(
            error = %e,
            "cannot listen to nftables' change notices; a table changed by hand is found and repaired at the next reconcile only"
        ),
    }
}

async fn run(core: CoreHandle, mut events: TableEvents, cancel: CancellationToken) {
    loop {
        let notice = tokio::select! {
            _ = cancel.cancelled() => return,
            notice = events.next() => notice,
        };
        match notice {
            Ok(Notice::Changed) => {}
            Ok(Notice::Overflowed) => {
                // Usually cordond's own big batches of elements; the table
                // is compared instead of trusting what was heard.
                debug!("the nftables monitor overflowed (ENOBUFS); comparing the table");
            }
            Err(e) => {
                error!(
                    error = %e,
                    "the nftables monitor failed; a table changed by hand is found and repaired at the next reconcile only"
                );
                return;
            }
        }
        if !core.check_table(Asked::Monitor).await {
            return;
        }
    }
}

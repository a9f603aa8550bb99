//! Reading one feed on a thread of its own, handing its pieces to the task
//! that sends them through a bounded channel: a feed read faster than
//! cordond takes it waits on the channel instead of piling up in memory.

use std::ops::ControlFlow;
use std::path::Path;

use cordon_config::Config;
use cordon_detect::{FeedMeta, ImportResult};
use tokio::sync::mpsc;

/// Most bytes of a whole-document format read from standard input (mail,
/// X-ARF JSON, IODEF, ZIP: parsed whole, so they are held whole): a zipped
/// feed or an mbox is a few megabytes; more is a mistake (or an attack).
/// Line-oriented feeds stream and have no such bound.
pub const MAX_STDIN: u64 = 64 * 1024 * 1024;

/// The name `-` is shown as.
pub(super) const STDIN: &str = "standard input";

/// Pieces (each what one read of up to 64 KiB held, some 300 Shadowserver
/// rows) waiting to be sent: enough that the pieces read while a chunk
/// was being sent fill the next one (5000 reports), so a fast feed costs
/// cordond no more commits than whole chunks would; at most 2 MiB of
/// input and its reports.
const QUEUED: usize = 32;

/// Starts reading `path` (`-`: standard input) on a blocking thread; its
/// pieces come out of the receiver, in file order, and the handle tells
/// how reading ended. Dropping the receiver stops the reading.
pub(super) fn start(
    path: &Path,
    config: Option<&Config>,
) -> (
    mpsc::Receiver<ImportResult>,
    tokio::task::JoinHandle<Result<(), String>>,
) {
    let (tx, rx) = mpsc::channel(QUEUED);
    let path = path.to_owned();
    let config = config.cloned();
    let reader = tokio::task::spawn_blocking(move || read(&path, config.as_ref(), &tx));
    (rx, reader)
}

fn read(
    path: &Path,
    config: Option<&Config>,
    tx: &mpsc::Sender<ImportResult>,
) -> Result<(), String> {
    let mut piece = |p: ImportResult| match tx.blocking_send(p) {
        Ok(()) => ControlFlow::Continue(()),
        Err(_) => ControlFlow::Break(()),
    };
    let stream =
        |input: &mut dyn std::io::Read,
         meta: FeedMeta<'_>,
         cap: u64,
         piece: &mut dyn FnMut(ImportResult) -> cordon_detect::reports::Flow| {
            match config {
                Some(c) => cordon_detect::stream_for(input, meta, cap, c, piece),
                None => cordon_detect::stream_feed(input, meta, cap, &|_| Ok(()), piece),
            }
        };
    if path == Path::new("-") {
        let mut input = std::io::stdin().lock();
        return stream(&mut input, FeedMeta::default(), MAX_STDIN, &mut piece)
            .map(|_| ())
            .map_err(|e| format!("{STDIN}: {e}"));
    }
    let (mut file, received) = cordon_detect::reports::open(path).map_err(|e| e.to_string())?;
    let meta = cordon_detect::reports::meta(path, received);
    stream(
        &mut file,
        meta,
        cordon_detect::reports::MAX_FEED,
        &mut piece,
    )
    .map(|_| ())
    .map_err(|e| cordon_detect::reports::for_file(path, e).to_string())
}

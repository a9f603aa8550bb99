//! Length-delimited JSON frames over a Unix stream.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::{Serialize, de::DeserializeOwned};
use tokio::net::UnixStream;
use tokio_util::codec::LengthDelimitedCodec;

/// Largest frame either side accepts: requests and answers are small, and a
/// cap keeps a confused or hostile peer from making us buffer without end.
pub const MAX_FRAME: usize = 4 * 1024 * 1024;

/// A socket carrying length-delimited frames.
pub type Framed = tokio_util::codec::Framed<UnixStream, LengthDelimitedCodec>;

/// Wraps a connected stream.
pub fn framed(stream: UnixStream) -> Framed {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_framed(stream)
}

/// What can go wrong with one frame.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The socket failed or the peer sent an oversized frame.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The frame was not the JSON message expected (a version mismatch between
    /// `cordon` and `cordond`, or not a Cordon peer at all).
    #[error("unexpected message (are cordon and cordond the same version?): {0}")]
    Json(#[from] serde_json::Error),
    /// The peer closed the connection before answering.
    #[error("the peer closed the connection")]
    Closed,
}

/// Sends one message.
pub async fn send<T: Serialize>(io: &mut Framed, msg: &T) -> Result<(), FrameError> {
    send_all(io, std::slice::from_ref(msg)).await
}

/// Receives one message; `Ok(None)` when the peer closed cleanly.
pub async fn recv<T: DeserializeOwned>(io: &mut Framed) -> Result<Option<T>, FrameError> {
    match io.next().await {
        None => Ok(None),
        Some(frame) => Ok(Some(serde_json::from_slice(&frame?)?)),
    }
}

/// Sends messages in order, written together: one flush, so a batch of
/// answers (or of pipelined questions) costs the peer one wake-up.
pub async fn send_all<T: Serialize>(io: &mut Framed, msgs: &[T]) -> Result<(), FrameError> {
    for msg in msgs {
        io.feed(Bytes::from(serde_json::to_vec(msg)?)).await?;
    }
    SinkExt::<Bytes>::flush(io).await?;
    Ok(())
}

/// A message that can be had without waiting: already read, or readable
/// now. `None` when none is (or the peer closed: the next [`recv`] says
/// so); otherwise as [`recv`].
pub fn recv_ready<T: DeserializeOwned>(io: &mut Framed) -> Option<Result<T, FrameError>> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match io.poll_next_unpin(&mut cx) {
        std::task::Poll::Ready(Some(frame)) => Some(
            frame
                .map_err(FrameError::from)
                .and_then(|f| serde_json::from_slice(&f).map_err(FrameError::from)),
        ),
        std::task::Poll::Ready(None) | std::task::Poll::Pending => None,
    }
}

/// Sends a request and waits for its answer.
pub async fn call<Q: Serialize, A: DeserializeOwned>(
    io: &mut Framed,
    request: &Q,
) -> Result<A, FrameError> {
    send(io, request).await?;
    recv(io).await?.ok_or(FrameError::Closed)
}

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
    let bytes = serde_json::to_vec(msg)?;
    io.send(Bytes::from(bytes)).await?;
    Ok(())
}

/// Receives one message; `Ok(None)` when the peer closed cleanly.
pub async fn recv<T: DeserializeOwned>(io: &mut Framed) -> Result<Option<T>, FrameError> {
    match io.next().await {
        None => Ok(None),
        Some(frame) => Ok(Some(serde_json::from_slice(&frame?)?)),
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

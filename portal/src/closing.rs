//! Ending a connection with `close(2)` alone.
//!
//! hyper ends every connection by flushing what it wrote and then asking the
//! stream to shut down (`shutdown(2)`), and the portal drops the stream as
//! soon as hyper returns. `close(2)` sends the same FIN behind the same
//! queued bytes, so that `shutdown(2)` was one system call per connection
//! for nothing: under an outbreak, where most connections carry one request,
//! it was a fifth of the system calls the portal made beyond nginx's (which
//! only closes). [`CloseOnDrop`] answers hyper's shutdown at once and leaves
//! the ending to the drop.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream whose shutdown is its drop. Only for streams dropped as soon as
/// their shutdown returns, as the portal's connections are.
#[derive(Debug)]
pub struct CloseOnDrop<T>(T);

impl<T> CloseOnDrop<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        CloseOnDrop(inner)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CloseOnDrop<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CloseOnDrop<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    /// Flushes (the stream's own buffer, if it has one) and does no more:
    /// the drop that follows closes.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (server, _) = l.accept().await.unwrap();
        (server, client)
    }

    /// After the shutdown the peer has every byte but no end yet; the drop
    /// ends it, and the peer reads everything, then the end.
    #[tokio::test]
    async fn the_end_comes_with_the_drop_behind_every_byte() {
        let (server, mut client) = pair().await;
        let mut s = CloseOnDrop::new(server);
        let sent = vec![7u8; 256 * 1024];
        let writer = tokio::spawn(async move {
            s.write_all(&sent).await.unwrap();
            s.shutdown().await.unwrap();
            s
        });
        let mut got = vec![0u8; 256 * 1024];
        client.read_exact(&mut got).await.unwrap();
        assert!(got.iter().all(|&b| b == 7));
        let s = writer.await.unwrap();
        let mut more = [0u8; 1];
        let early = tokio::time::timeout(Duration::from_millis(100), client.read(&mut more)).await;
        assert!(
            early.is_err(),
            "the peer saw the end before the drop: {early:?}"
        );
        drop(s);
        let end = tokio::time::timeout(Duration::from_secs(5), client.read(&mut more))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(end, 0, "the drop ends the stream");
    }
}

//! The bytes between the socket and the `h2` library: `h2` reads and writes a [`Pipe`] (as
//! tokio's `AsyncRead`/`AsyncWrite`, the only part of tokio it needs), and the connection's
//! turn fills the pipe's input from the socket and empties its output into it. Nothing in
//! the pipe ever waits: an empty input or a full output is `Pending`, and the turn, which
//! knows whether the socket had more, decides what happens next.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};

/// `h2`'s writes wait (`Pending`) once this much output waits for the socket.
pub(super) const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// What the pipe holds between the socket and `h2`.
#[derive(Debug, Default)]
pub(super) struct PipeBuffers {
    /// Read from the socket, not yet taken by `h2`.
    pub(super) input: BytesMut,
    /// The client closed its side: once `input` is taken, reads end.
    pub(super) input_ended: bool,
    /// Written by `h2`, not yet taken by the socket.
    pub(super) output: Vec<u8>,
}

/// `h2`'s transport: a handle on buffers the turn shares.
#[derive(Debug, Clone, Default)]
pub(super) struct Pipe(Arc<Mutex<PipeBuffers>>);

impl Pipe {
    pub(super) fn buffers(&self) -> MutexGuard<'_, PipeBuffers> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Frees the buffers when both are empty: an idle connection holds none.
    pub(super) fn release_if_empty(&self) {
        let mut buffers = self.buffers();
        if buffers.input.is_empty() && buffers.output.is_empty() {
            buffers.input = BytesMut::new();
            buffers.output = Vec::new();
        }
    }
}

impl tokio::io::AsyncRead for Pipe {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut buffers = self.buffers();
        if buffers.input.is_empty() {
            // Ended: a read of nothing is the end of the stream. Otherwise the turn reads the
            // socket and polls `h2` again.
            return if buffers.input_ended {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            };
        }
        let n = buf.remaining().min(buffers.input.len());
        buf.put_slice(&buffers.input[..n]);
        buffers.input.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for Pipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut buffers = self.buffers();
        if buffers.output.len() >= MAX_OUTPUT_BYTES {
            // The turn writes it to the socket, then polls `h2` again.
            return Poll::Pending;
        }
        buffers.output.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    /// Written means handed to the turn, which writes it to the socket.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;
    use tokio::io::{AsyncRead, AsyncWrite};

    #[test]
    fn reads_wait_for_input_and_end_once_the_client_has() {
        let mut pipe = Pipe::default();
        let mut cx = Context::from_waker(Waker::noop());
        let mut storage = [0u8; 4];
        let mut buf = tokio::io::ReadBuf::new(&mut storage);
        assert!(
            Pin::new(&mut pipe)
                .poll_read(&mut cx, &mut buf)
                .is_pending()
        );
        pipe.buffers().input.extend_from_slice(b"abcdef");
        assert!(Pin::new(&mut pipe).poll_read(&mut cx, &mut buf).is_ready());
        assert_eq!(buf.filled(), b"abcd");
        pipe.buffers().input_ended = true;
        let mut storage = [0u8; 4];
        let mut buf = tokio::io::ReadBuf::new(&mut storage);
        assert!(Pin::new(&mut pipe).poll_read(&mut cx, &mut buf).is_ready());
        assert_eq!(buf.filled(), b"ef");
        let mut buf = tokio::io::ReadBuf::new(&mut storage);
        assert!(Pin::new(&mut pipe).poll_read(&mut cx, &mut buf).is_ready());
        assert!(buf.filled().is_empty(), "the end of the stream");
    }

    #[test]
    fn writes_wait_while_the_output_is_full() {
        let mut pipe = Pipe::default();
        let mut cx = Context::from_waker(Waker::noop());
        let big = vec![7u8; MAX_OUTPUT_BYTES];
        assert!(matches!(
            Pin::new(&mut pipe).poll_write(&mut cx, &big),
            Poll::Ready(Ok(n)) if n == MAX_OUTPUT_BYTES
        ));
        assert!(Pin::new(&mut pipe).poll_write(&mut cx, b"x").is_pending());
        pipe.buffers().output.clear();
        assert!(Pin::new(&mut pipe).poll_write(&mut cx, b"x").is_ready());
    }
}

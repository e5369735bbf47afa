//! [`ShutdownHandle`]: stops a server from any thread.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Shared;
use super::waker::PollerWaker;

/// Stops a running [`Server`](crate::Server) gracefully, from any thread (a handler
/// included).
///
/// [`shutdown`](Self::shutdown) returns at once: the listener stops accepting, idle
/// keep-alive connections are closed, requests in flight finish (their responses carry
/// `Connection: close`), then the workers are joined and `run` returns. With a
/// [`shutdown_delay`](crate::ServerBuilder::shutdown_delay) the server first keeps
/// accepting and serving for that long (`Health` answers 503), and idle connections get as
/// long again for a last request. Calling it again is harmless.
#[derive(Clone)]
pub struct ShutdownHandle {
    pub(super) shared: Arc<Shared>,
    pub(super) waker: Arc<PollerWaker>,
}

impl ShutdownHandle {
    /// Starts the graceful shutdown. Does not block.
    pub fn shutdown(&self) {
        // Responses being written from now on carry `Connection: close`, including the one a
        // handler calling this is about to return.
        if self.shared.shutdown_delay.is_zero() {
            // Responses already on their way say `Connection: close`.
            self.shared.draining.store(true, Ordering::Release);
        }
        if !self.shared.shutdown.swap(true, Ordering::AcqRel) {
            // The poller sees the flag on its next turn; the wake makes that turn now.
            self.waker.wake();
        }
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shutdown(&self) -> bool {
        self.shared.shutdown.load(Ordering::Acquire)
    }
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle")
            .field("is_shutdown", &self.is_shutdown())
            .finish()
    }
}

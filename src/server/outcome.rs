//! How a connection's turn ends: one [`Outcome`] for every protocol and transport, which
//! the worker acts on (park the connection, queue it again, move it, close it).

use std::time::Instant;

use crate::http1::{RouteTag, WaitFor};

/// See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Park it until its socket is ready as `wait` says, or `until` passes.
    Park { wait: Wait, until: Instant },
    /// Its turn's budget is spent with work left: queue it again, at the back.
    Yield,
    /// Its current request belongs on the pool of `tag` (or at the back of the main pool's
    /// queue, for a connection that must leave another pool).
    Move(RouteTag),
    /// Close it.
    Close,
}

/// What a parked connection waits for; the table counts parked connections by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    /// A next request, between requests (the keep-alive timeout), or the first bytes of a
    /// TLS handshake.
    NextRequest,
    /// The rest of a request head (the header-read timeout; then 408).
    RestOfHead,
    /// The rest of a request body (the body-read timeout; then 408).
    Body,
    /// Room in the socket for owed output (the write timeout; then the connection closes).
    Writable,
    /// A live connection (WebSocket, event stream): input, something to send, or its
    /// next timer (a ping, a keep-alive).
    Live,
    /// A live connection whose client does not read: room in the socket, or its timer.
    LiveBlocked,
}

impl Wait {
    /// How many kinds there are (for per-kind counters).
    pub(super) const COUNT: usize = 6;

    /// Its position in declaration order, for per-kind counters.
    pub(super) fn index(self) -> usize {
        self as usize
    }

    /// Whether the socket must be watched for writability rather than readability.
    pub(super) fn is_writable(self) -> bool {
        matches!(self, Self::Writable | Self::LiveBlocked)
    }

    /// Whether it is a live connection (its timer gives it a turn rather than closing it).
    pub(super) fn is_live(self) -> bool {
        matches!(self, Self::Live | Self::LiveBlocked)
    }

    /// Whether a request is in flight (a graceful shutdown waits for it).
    pub(super) fn is_in_flight(self) -> bool {
        matches!(self, Self::Body | Self::Writable)
    }

    /// Whether the client is told `408 Request Timeout` by the poller when the deadline
    /// passes (a head never finished: nothing is routed yet).
    pub(super) fn answers_timeout(self) -> bool {
        matches!(self, Self::RestOfHead)
    }

    /// Whether its deadline gives it a turn on a worker instead of closing it: a live
    /// connection's timers (pings, keep-alives), and a body too slow, whose 408 is answered
    /// through its route's middleware (user code runs on workers, never on the poller).
    pub(super) fn takes_a_turn_when_due(self) -> bool {
        matches!(self, Self::Live | Self::LiveBlocked | Self::Body)
    }
}

impl From<WaitFor> for Wait {
    fn from(wait_for: WaitFor) -> Self {
        match wait_for {
            WaitFor::NextRequest => Self::NextRequest,
            WaitFor::RestOfHead => Self::RestOfHead,
            WaitFor::Body => Self::Body,
            WaitFor::Writable => Self::Writable,
        }
    }
}

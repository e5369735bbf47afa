//! Limits on what a client may send and how slowly, and the server's capacity defaults:
//! every number a server starts with, as a named constant.
//!
//! [`Limits`] holds the per-connection limits and timeouts; set them with its chainable
//! setters and hand them to [`ServerBuilder::limits`](crate::ServerBuilder::limits). The
//! server-wide capacities (threads, queue, connections, drain) are set on the builder.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use switchyard::limits::{self, Limits};
//!
//! let limits = Limits::default()
//!     .max_body_bytes(16 << 20)
//!     .keep_alive_timeout(Duration::from_secs(30));
//! assert_eq!(limits.max_body_bytes, 16 << 20);
//! assert_eq!(limits.max_headers, limits::DEFAULT_MAX_HEADERS);
//! ```

use std::time::{Duration, Instant};

/// The longest request head (request line and headers) accepted, in bytes; longer is 431.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most header fields accepted in one request; more is 431 (hyper's default).
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// The upper bound for [`Limits::max_headers`]: the parser's header table lives on the stack.
pub const MAX_HEADERS_CAP: usize = 256;
/// The longest request target accepted, in bytes; longer is 414.
pub const DEFAULT_MAX_URI_BYTES: usize = 8 * 1024;
/// The largest request body accepted, in bytes; larger is 413 (axum's default).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 2 * 1024 * 1024;
/// What the request bodies being gathered by parked connections may hold together, in
/// bytes; past it, a body that must wait for more gets 503.
pub const DEFAULT_MAX_PARKED_BODY_BYTES: u64 = 256 * 1024 * 1024;
/// A request body longer than this, in bytes, is spooled to a temporary file as it arrives
/// instead of being kept in memory (see [`Limits::spool_threshold`]).
pub const DEFAULT_SPOOL_THRESHOLD: u64 = 1024 * 1024;
/// What the request bodies spooled to disk may hold together, in bytes; past it, a body
/// that needs more gets 503.
pub const DEFAULT_MAX_SPOOLED_BYTES: u64 = 16 * 1024 * 1024 * 1024;
/// Time allowed from a request's first byte to the end of its head; then 408 (hyper: 30 s).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed for a request body to arrive, from the first time it has to be waited for
/// (and one more second for every [`DEFAULT_MIN_BODY_RATE`] bytes that arrived); then 408.
/// The connection is parked meanwhile: no worker waits.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes per second a request body must keep arriving at once its
/// [`body_read_timeout`](Limits::body_read_timeout) has passed: each such many bytes
/// received extend the body's deadline by a second (Apache's `RequestReadTimeout MinRate`),
/// so a long upload over a slow link completes while a client that trickles is cut off.
/// The extension never reaches past `body_read_timeout` after the body last grew: a
/// client that sent much and then stopped is not kept for the time it earned.
pub const DEFAULT_MIN_BODY_RATE: u64 = 500;
/// How long an idle keep-alive connection is kept open without a new request.
///
/// 75 s, longer than nginx's upstream `keepalive_timeout` (60 s): a reverse proxy in front
/// closes an idle connection before we do, so it never reuses one we are closing (which
/// would fail the request it sent on it).
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(75);
/// Time a client that does not read its response is given to make room for more of it (the
/// connection is parked meanwhile: no worker waits); then the connection is closed.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest timeout a server keeps: 100 years. Every timeout saturates at it, so that
/// `Instant::now() + timeout` cannot overflow; a longer timeout, `Duration::MAX` included,
/// means "never" in practice.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// Worker threads unless [`ServerBuilder::threads`](crate::ServerBuilder::threads) says
/// otherwise.
pub const DEFAULT_THREADS: usize = 8;
/// Connections waiting for a worker before new work is answered with 503.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;
/// Open connections before new ones are answered with 503 and closed. An idle connection
/// costs no thread and no buffer, so the practical bound is the process's file descriptor
/// limit (`ulimit -n`): past it, accepting pauses and retries every 50 ms.
pub const DEFAULT_MAX_CONNECTIONS: usize = 65_536;
/// Live connections (WebSocket, event streams) open at once before new ones are answered
/// 503. One costs a few KiB and no thread.
pub const DEFAULT_MAX_LIVE_CONNECTIONS: usize = 10_000;
/// How long a graceful shutdown waits for requests in flight before cutting them.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Limits on what a client may send, and how slowly.
///
/// The defaults are close to hyper's and Go's `net/http`; each is a named constant of this
/// module. Fields are read directly and set with the chainable setters of the same name
/// (timeouts saturate at [`MAX_TIMEOUT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// See [`DEFAULT_MAX_HEAD_BYTES`].
    pub max_head_bytes: usize,
    /// See [`DEFAULT_MAX_HEADERS`]; at most [`MAX_HEADERS_CAP`].
    pub max_headers: usize,
    /// See [`DEFAULT_MAX_URI_BYTES`].
    pub max_uri_bytes: usize,
    /// See [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: u64,
    /// See [`DEFAULT_MAX_PARKED_BODY_BYTES`]. Keep it at least `max_body_bytes`, or the
    /// largest bodies can never wait for their rest.
    pub max_parked_body_bytes: u64,
    /// See [`DEFAULT_SPOOL_THRESHOLD`].
    pub spool_threshold: u64,
    /// See [`DEFAULT_MAX_SPOOLED_BYTES`].
    pub max_spooled_bytes: u64,
    /// See [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`DEFAULT_BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// See [`DEFAULT_MIN_BODY_RATE`].
    pub min_body_rate: u64,
    /// See [`DEFAULT_KEEP_ALIVE_TIMEOUT`].
    pub keep_alive_timeout: Duration,
    /// See [`DEFAULT_WRITE_TIMEOUT`].
    pub write_timeout: Duration,
    /// How long a handler may run before its client is answered `503 Service Unavailable`
    /// with `Retry-After: 1`; `None` (the default): as long as it takes. A router can set
    /// its own ([`Router::handler_timeout`](crate::Router::handler_timeout)).
    ///
    /// At the deadline the request is cancelled ([`Request::cancelled`](crate::Request::cancelled)
    /// turns true) and the poller answers the client itself, on plain connections, without
    /// waiting for the handler (over TLS, and when earlier pipelined responses are still
    /// being written, the worker answers once the handler returns). What the handler returns
    /// afterwards is dropped and counted ([`GaveUp::late_responses_dropped`](crate::metrics::GaveUp::late_responses_dropped), in [`MetricsSnapshot::gave_up`](crate::metrics::MetricsSnapshot::gave_up)). The
    /// 503 says `Connection: close`: the handler's worker still holds the connection, so
    /// the client's next request goes on a new one. A 503 rather than a 504 (no gateway
    /// timed out: this server did) or a 408 (the client was not slow), as Go's
    /// `TimeoutHandler` answers; `Retry-After` tells clients and balancers that retrying is
    /// fine. Counted from when the handler starts; time spent queued is bounded by
    /// [`max_queue_wait`](Self::max_queue_wait).
    pub handler_timeout: Option<Duration>,
    /// How long a request may wait in its pool's queue for a worker; one that waited
    /// longer is answered `503` with `Retry-After: 1` without running (load shedding: under
    /// overload the requests that are served stay fast, instead of everyone being served
    /// late). `None` (the default): requests wait until the queue is full
    /// ([`ServerBuilder::queue_capacity`](crate::ServerBuilder::queue_capacity)). For every
    /// pool; one pool can have its own
    /// ([`ServerBuilder::pool_max_queue_wait`](crate::ServerBuilder::pool_max_queue_wait)).
    pub max_queue_wait: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_uri_bytes: DEFAULT_MAX_URI_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_parked_body_bytes: DEFAULT_MAX_PARKED_BODY_BYTES,
            spool_threshold: DEFAULT_SPOOL_THRESHOLD,
            max_spooled_bytes: DEFAULT_MAX_SPOOLED_BYTES,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            min_body_rate: DEFAULT_MIN_BODY_RATE,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            handler_timeout: None,
            max_queue_wait: None,
        }
    }
}

impl Limits {
    /// The longest request head, in bytes; longer gets 431.
    #[must_use]
    pub fn max_head_bytes(mut self, bytes: usize) -> Self {
        self.max_head_bytes = bytes;
        self
    }

    /// The most header fields in a request (1 to [`MAX_HEADERS_CAP`]; the server's `bind`
    /// refuses others); more gets 431.
    #[must_use]
    pub fn max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }

    /// The longest request target, in bytes; longer gets 414.
    #[must_use]
    pub fn max_uri_bytes(mut self, bytes: usize) -> Self {
        self.max_uri_bytes = bytes;
        self
    }

    /// The largest request body, in bytes; larger gets 413.
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: u64) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// What the request bodies of parked connections (those waiting for the rest of a
    /// body) may hold together; past it, such a request gets 503 and the connection closes.
    /// Keep it at least `max_body_bytes`.
    #[must_use]
    pub fn max_parked_body_bytes(mut self, bytes: u64) -> Self {
        self.max_parked_body_bytes = bytes;
        self
    }

    /// Request bodies longer than this, in bytes, go to a temporary file in the spool
    /// directory ([`ServerBuilder::spool_dir`](crate::ServerBuilder::spool_dir)) as they
    /// arrive, instead of memory; the handler reads them with
    /// [`Request::body_reader`](crate::Request::body_reader) or keeps them with
    /// [`Request::body_file`](crate::Request::body_file). `u64::MAX`: never spool.
    #[must_use]
    pub fn spool_threshold(mut self, bytes: u64) -> Self {
        self.spool_threshold = bytes;
        self
    }

    /// What the spooled request bodies may hold on disk together; past it, a body that
    /// needs more gets 503 and the connection closes.
    #[must_use]
    pub fn max_spooled_bytes(mut self, bytes: u64) -> Self {
        self.max_spooled_bytes = bytes;
        self
    }

    /// Time from a request's first byte to the end of its head; then 408 and close. Over
    /// TLS, the handshake must also be done within it, counted from accept.
    #[must_use]
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout.min(MAX_TIMEOUT);
        self
    }

    /// Time to receive a request body, from the first time it has to be waited for, plus a
    /// second for every [`min_body_rate`](Self::min_body_rate) bytes received; then 408
    /// and close.
    #[must_use]
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout.min(MAX_TIMEOUT);
        self
    }

    /// The body rate, in bytes per second, that earns a request body more time than its
    /// [`body_read_timeout`](Self::body_read_timeout): each `bytes` received add a second
    /// to its deadline, as long as the body keeps growing (a body still gets 408 once it
    /// has not grown for `body_read_timeout`). `0`: the timeout is the whole body's.
    #[must_use]
    pub fn min_body_rate(mut self, bytes: u64) -> Self {
        self.min_body_rate = bytes;
        self
    }

    /// How long an idle keep-alive connection stays open.
    #[must_use]
    pub fn keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.keep_alive_timeout = timeout.min(MAX_TIMEOUT);
        self
    }

    /// Time a client that does not read is given to take more of its response (the
    /// connection waits parked, holding no worker); then it is closed.
    #[must_use]
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout.min(MAX_TIMEOUT);
        self
    }

    /// Sets [`handler_timeout`](Self::handler_timeout).
    #[must_use]
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = Some(timeout.min(MAX_TIMEOUT));
        self
    }

    /// Sets [`max_queue_wait`](Self::max_queue_wait).
    #[must_use]
    pub fn max_queue_wait(mut self, wait: Duration) -> Self {
        self.max_queue_wait = Some(wait.min(MAX_TIMEOUT));
        self
    }

    /// These limits with every timeout saturated at [`MAX_TIMEOUT`] (fields set directly
    /// may exceed it).
    pub(crate) fn saturated(self) -> Self {
        Self {
            header_read_timeout: self.header_read_timeout.min(MAX_TIMEOUT),
            body_read_timeout: self.body_read_timeout.min(MAX_TIMEOUT),
            keep_alive_timeout: self.keep_alive_timeout.min(MAX_TIMEOUT),
            write_timeout: self.write_timeout.min(MAX_TIMEOUT),
            handler_timeout: self.handler_timeout.map(|t| t.min(MAX_TIMEOUT)),
            max_queue_wait: self.max_queue_wait.map(|t| t.min(MAX_TIMEOUT)),
            ..self
        }
    }
}

/// `from + timeout`, saturating at [`MAX_TIMEOUT`] rather than overflowing.
pub(crate) fn deadline_after(from: Instant, timeout: Duration) -> Instant {
    let timeout = timeout.min(MAX_TIMEOUT);
    from.checked_add(timeout)
        .or_else(|| from.checked_add(Duration::from_secs(365 * 24 * 60 * 60)))
        .unwrap_or(from)
}

/// When a body waited for since `first` (and last seen growing at `last_growth`, with
/// `received` bytes) must be complete: `timeout` from the first wait, and a second more for
/// every `min_rate` bytes received (Apache's `MinRate`), but never later than `timeout` after
/// it last grew. HTTP/1.1 and HTTP/2 bodies alike.
pub(crate) fn body_deadline(
    first: Instant,
    last_growth: Instant,
    received: u64,
    timeout: Duration,
    min_rate: u64,
) -> Instant {
    let whole = deadline_after(deadline_after(first, timeout), earned(received, min_rate));
    whole.min(deadline_after(last_growth, timeout))
}

/// The time `received` bytes earn a body at `min_rate` bytes a second (none at 0).
fn earned(received: u64, min_rate: u64) -> Duration {
    if min_rate == 0 {
        return Duration::ZERO;
    }
    let nanos = u128::from(received) * 1_000_000_000 / u128::from(min_rate);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle connection must outlive a proxy's (nginx `keepalive_timeout 60s`), so the
    /// proxy never sends a request on a connection we are closing.
    #[test]
    fn default_keep_alive_outlasts_nginx_upstream_keepalive() {
        const NGINX_UPSTREAM_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(60);
        assert_eq!(DEFAULT_KEEP_ALIVE_TIMEOUT, Duration::from_secs(75));
        assert!(Limits::default().keep_alive_timeout > NGINX_UPSTREAM_KEEPALIVE_TIMEOUT);
    }

    #[test]
    fn timeouts_saturate_at_the_longest_one_kept() {
        let limits = Limits::default()
            .write_timeout(Duration::MAX)
            .keep_alive_timeout(Duration::MAX);
        assert_eq!(limits.write_timeout, MAX_TIMEOUT);
        assert_eq!(limits.keep_alive_timeout, MAX_TIMEOUT);
        let raw = Limits {
            body_read_timeout: Duration::MAX,
            ..Limits::default()
        };
        assert_eq!(raw.saturated().body_read_timeout, MAX_TIMEOUT);
        let now = Instant::now();
        assert!(deadline_after(now, Duration::MAX) > now);
    }
}

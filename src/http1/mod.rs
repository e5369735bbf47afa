//! HTTP/1.1 wire protocol (RFC 9112): request heads in, responses out, body framing both ways.
//!
//! This layer sees only `http` types and bytes: it knows nothing of routing, handlers,
//! worker pools (a request's pool is an opaque [`RouteTag`] the service picks) or sockets
//! beyond [`Transport`].
//!
//! - `parse`: request heads; `raw_headers`: their fields, parsed into a map on demand;
//!   `decode`: the chunked coding; `request_body`: request bodies.
//! - `encode`: response heads and chunks; `write`: response framing and streamed bodies.
//! - `read_buf`: unconsumed input; `conn`: the engine that runs one connection's turn;
//!   `clock`: one clock reading per request; `date`: the `Date` header.
//! - `memory`: an in-memory stream for tests, fuzzing and `crate::testing`.

mod clock;
mod conn;
mod date;
mod decode;
mod encode;
mod memory;
mod parse;
mod raw_headers;
mod read_buf;
pub(crate) mod recycle;
mod request_body;
mod write;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub(crate) use clock::TurnClock;
pub(crate) use conn::turn_in_memory;
pub(crate) use conn::{
    AfterTurn, Conn, ConnConfig, ConnState, Decision, RouteTag, Service, Upgraded, WaitFor,
};
pub(crate) use decode::ChunkedDecoder;
pub(crate) use encode::{encode_chunk, write_rejection};
pub(crate) use memory::MemoryStream;
pub(crate) use parse::RequestHead;
pub(crate) use raw_headers::RawHeaders;
pub(crate) use read_buf::ReadBuf;
pub(crate) use request_body::BodyBudget;

/// The longest timeout a server keeps: 100 years. Every timeout setter of
/// [`ServerBuilder`](crate::ServerBuilder) saturates at it, so that `Instant::now() + timeout`
/// cannot overflow; a longer timeout, `Duration::MAX` included, means "never" in practice.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `from + timeout`, saturating at [`MAX_TIMEOUT`] rather than overflowing.
pub(crate) fn deadline_after(from: Instant, timeout: Duration) -> Instant {
    let timeout = timeout.min(MAX_TIMEOUT);
    from.checked_add(timeout)
        .or_else(|| from.checked_add(Duration::from_secs(365 * 24 * 60 * 60)))
        .unwrap_or(from)
}

/// A blocking read that timed out reports `WouldBlock` on Unix and `TimedOut` on Windows.
fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Entry points for benches and fuzz targets (feature `__internals`).
#[cfg(feature = "__internals")]
#[allow(unreachable_pub, missing_docs)] // reachable only through `__private`, not semver
pub mod fuzzing {
    use super::*;
    use crate::error::ParseError;

    /// Parses one request head; `Ok(Some(len))` when complete.
    pub fn parse_request_head(buf: &[u8], limits: &Limits) -> Result<Option<usize>, ParseError> {
        parse::parse_head(buf, limits).map(|parsed| parsed.map(|(_, len)| len))
    }

    /// Decodes a chunked body from `input` fed in pieces split at `splits`. Returns the data,
    /// whether the body ended, and the bytes used.
    pub fn decode_chunked(
        input: &[u8],
        splits: &[usize],
    ) -> Result<(Vec<u8>, bool, usize), ParseError> {
        let mut decoder = decode::ChunkedDecoder::default();
        let mut out = Vec::new();
        let mut start = 0;
        let mut ends: Vec<usize> = splits.iter().map(|&s| s.min(input.len())).collect();
        ends.push(input.len());
        ends.sort_unstable();
        for end in ends {
            if end <= start && end != input.len() {
                continue;
            }
            start += decoder.decode(&input[start..end.max(start)], &mut out)?;
            if decoder.is_done() {
                break;
            }
        }
        Ok((out, decoder.is_done(), start))
    }

    /// Encodes a `200` response with `body` into `out`, as the server would.
    pub fn encode_response(out: &mut Vec<u8>, headers: &http::HeaderMap, body: &[u8]) {
        encode::encode_head(
            out,
            http::StatusCode::OK,
            headers,
            encode::Framing::Length(body.len() as u64),
            encode::ConnectionHeader::Omit,
            Instant::now(),
        );
        out.extend_from_slice(body);
    }

    /// Runs the connection engine over `input` with an echo service, turn after turn as a
    /// poller would, on an in-memory stream whose reads and writes follow `read_sizes` and
    /// `write_sizes` (cycled; 0 means "would block"); returns what it wrote.
    pub fn serve_bytes(
        input: &[u8],
        read_sizes: &[usize],
        write_sizes: &[usize],
        limits: &Limits,
    ) -> Vec<u8> {
        let mut stream = memory::MemoryStream::new(input);
        stream.read_sizes = read_sizes.to_vec();
        stream.write_sizes = write_sizes.to_vec();
        let echo = |head: http::request::Parts, body: Vec<u8>| {
            let mut text = format!("{} {} ", head.method, head.uri).into_bytes();
            text.extend_from_slice(&body);
            http::Response::new(crate::body::Body::from(text))
        };
        let mut buf = ReadBuf::default();
        let mut state = ConnState::default();
        // Every turn makes progress unless it waits for input that is not there: bound the
        // turns by the work there is.
        let max_turns = 64 + 4 * (input.len() + 1) * (1 + write_sizes.len());
        for _ in 0..max_turns {
            let next =
                conn::turn_in_memory(&mut stream, &mut buf, &mut state, limits, false, &echo);
            match next {
                AfterTurn::Close | AfterTurn::Upgrade => break,
                AfterTurn::Wait { wait_for, .. }
                    if !wait_for.is_writable() && !stream.has_input() =>
                {
                    break;
                }
                AfterTurn::Wait { .. } | AfterTurn::Yield | AfterTurn::Reroute { .. } => {}
            }
        }
        stream.output
    }
}

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
/// Time allowed from a request's first byte to the end of its head; then 408 (hyper: 30 s).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed for a request body to arrive, from the first time it has to be waited for;
/// then 408. The connection is parked meanwhile: no worker waits.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an idle keep-alive connection is kept open without a new request.
///
/// 75 s, longer than nginx's upstream `keepalive_timeout` (60 s): a reverse proxy in front
/// closes an idle connection before we do, so it never reuses one we are closing (which
/// would fail the request it sent on it).
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(75);
/// Time a client that does not read its response is given to make room for more of it (the
/// connection is parked meanwhile: no worker waits); then the connection is closed.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Limits on what a client may send, and how slowly.
///
/// The defaults are close to hyper's and Go's `net/http`; each is a named constant.
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
    /// See [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`DEFAULT_BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// See [`DEFAULT_KEEP_ALIVE_TIMEOUT`].
    pub keep_alive_timeout: Duration,
    /// See [`DEFAULT_WRITE_TIMEOUT`].
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_uri_bytes: DEFAULT_MAX_URI_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_parked_body_bytes: DEFAULT_MAX_PARKED_BODY_BYTES,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
        }
    }
}

/// What [`discard_input`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Discarded {
    /// The input there was is dropped; nothing more for now.
    Drained,
    /// The peer closed, or reading failed.
    Ended,
    /// `max` bytes were dropped and more may be there.
    AtLimit,
}

/// Reads and drops what `read` has, without waiting for more, up to `max` bytes: before
/// closing a connection (so the close does not reset it before the peer reads the answer),
/// and for input a live connection does not expect.
pub(crate) fn discard_input(
    mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
    max: usize,
) -> Discarded {
    let mut scratch = [0u8; 4096];
    let mut discarded = 0;
    while discarded < max {
        match read(&mut scratch) {
            Ok(0) => return Discarded::Ended,
            Ok(n) => discarded += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Discarded::Drained,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Discarded::Ended,
        }
    }
    Discarded::AtLimit
}

/// A byte stream the connection engine uses non-blocking, and switches to blocking operation
/// with a timeout only for a body streamed to its handler (`Router::stream_bodies`), whose
/// reads block that handler's worker.
pub(crate) trait Transport: Read + Write {
    /// `Some(timeout)`: block, failing with `TimedOut`/`WouldBlock` after `timeout`.
    /// `None`: non-blocking.
    fn set_blocking(&mut self, timeout: Option<Duration>) -> io::Result<()>;

    /// A second handle on the same connection, owned, for a body streamed to a handler.
    fn try_clone_boxed(&self) -> io::Result<Box<dyn Transport + Send>>;
}

/// `Transport::set_blocking` for a TCP socket (the TLS transports use it too).
pub(crate) fn set_tcp_blocking(stream: &TcpStream, timeout: Option<Duration>) -> io::Result<()> {
    match timeout {
        Some(timeout) => {
            // A zero timeout means "none" to the OS; never block forever.
            let timeout = timeout.max(Duration::from_millis(1));
            stream.set_read_timeout(Some(timeout))?;
            stream.set_write_timeout(Some(timeout))?;
            stream.set_nonblocking(false)
        }
        None => stream.set_nonblocking(true),
    }
}

impl Transport for &TcpStream {
    fn set_blocking(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        set_tcp_blocking(self, timeout)
    }

    fn try_clone_boxed(&self) -> io::Result<Box<dyn Transport + Send>> {
        Ok(Box::new(self.try_clone()?))
    }
}

impl Transport for TcpStream {
    fn set_blocking(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        set_tcp_blocking(self, timeout)
    }

    fn try_clone_boxed(&self) -> io::Result<Box<dyn Transport + Send>> {
        Ok(Box::new(self.try_clone()?))
    }
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
}

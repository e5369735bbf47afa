//! HTTP/1.1 wire protocol (RFC 9112): request heads in, responses out, body framing both ways.
//!
//! This layer sees only `http` types and bytes: it knows nothing of routing, handlers, the
//! pool or sockets beyond [`Transport`].

mod conn;
mod date;
mod decode;
mod encode;
mod parse;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub(crate) use conn::{Conn, ConnConfig, Next, ReadBuf};
pub(crate) use encode::write_rejection;
pub(crate) use parse::RequestHead;

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
/// Time allowed from a request's first byte to the end of its head; then 408 (hyper: 30 s).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed to read a request body once the handler would need it; then 408.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an idle keep-alive connection is kept open without a new request.
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// Time allowed for each blocking write to a slow client before the connection is dropped.
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
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
        }
    }
}

/// A byte stream the connection engine can switch between non-blocking operation (while it
/// only serves what has already arrived) and blocking operation with a timeout (while it
/// waits for a request body or for a slow client to take a large response).
pub(crate) trait Transport: Read + Write {
    /// `Some(timeout)`: block, failing with `TimedOut`/`WouldBlock` after `timeout`.
    /// `None`: non-blocking.
    fn set_blocking(&mut self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Transport for TcpStream {
    fn set_blocking(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match timeout {
            Some(timeout) => {
                // A zero timeout means "none" to the OS; never block forever.
                let timeout = timeout.max(Duration::from_millis(1));
                self.set_read_timeout(Some(timeout))?;
                self.set_write_timeout(Some(timeout))?;
                self.set_nonblocking(false)
            }
            None => self.set_nonblocking(true),
        }
    }
}

//! One connection's turn on a worker: serve every request that has arrived, then give the
//! connection back.
//!
//! ```text
//!            (poller saw it readable)
//!                     │
//!                     ▼
//!   ┌──────────► parse head ──── error ─────► write 4xx/5xx, close ──► Close
//!   │                 │ incomplete
//!   │                 ├── socket drained / would block ──► flush ──► Park
//!   │                 ├── EOF ───────────────────────────────────────► Close
//!   │                 │ complete
//!   │                 ▼
//!   │        413 / 100-continue / read body (blocking, deadline)
//!   │                 │
//!   │                 ▼
//!   │           call the service
//!   │                 │
//!   │                 ▼
//!   └── keep-alive ◄─ write response (buffered; one write per batch) ── close ──► Close
//! ```
//!
//! The engine never waits for a *next* request: when no complete head is buffered and the
//! socket has nothing more, it returns [`Next::Park`] and the poller owns the connection
//! again. It blocks (with a deadline) only for a body the handler needs, and for a client
//! that is slow to take a response.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::{Method, StatusCode, Version, request::Parts};

use super::decode::ChunkedDecoder;
use super::encode::{self, ConnectionHeader, Framing};
use super::parse::{BodyFraming, parse_head};
use super::stream::BodyStream;
use super::{Limits, RequestHead, Transport};
use crate::body::{Body, Kind, RequestBody};
use crate::error::ParseError;

/// The read buffer starts at this size and grows (for large heads) as needed.
const READ_BUF_INITIAL_BYTES: usize = 8 * 1024;
/// Reads ask for at least this much room.
const MIN_READ_BYTES: usize = 1024;
/// Buffered responses are written once they reach this size, even mid-batch.
const FLUSH_THRESHOLD_BYTES: usize = 64 * 1024;
/// A streamed body is read in pieces of this size; each becomes one chunk.
const STREAM_READ_BYTES: usize = 16 * 1024;
/// At most this much unread input is discarded before closing after an error, so that the
/// close does not turn into a TCP reset that destroys the error response in flight.
const MAX_DISCARD_BYTES: usize = 64 * 1024;
/// The interim response sent to `Expect: 100-continue` (RFC 9110 §15.2.1).
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What serves a parsed request: the layer above http1 (the router, through the server).
pub(crate) trait Service {
    /// Produces the response for a request whose body has been read, or is to be read.
    fn call(&self, head: Parts, body: RequestBody) -> http::Response<Body>;

    /// The worker pool that must serve this request (0: the server's main pool).
    fn pool_for(&self, _head: &Parts) -> usize {
        0
    }

    /// `Some(limit)`: the handler reads this request's body as it arrives, up to `limit`
    /// bytes; `None`: the body is read in full first.
    fn body_stream_limit(&self, _head: &Parts) -> Option<u64> {
        None
    }
}

impl<F> Service for F
where
    F: Fn(Parts, Vec<u8>) -> http::Response<Body>,
{
    fn call(&self, head: Parts, body: RequestBody) -> http::Response<Body> {
        match body {
            RequestBody::Full(bytes) => self(head, bytes),
            RequestBody::Stream(stream) => {
                let mut bytes = Vec::new();
                let _ = stream.lock().map(|mut s| s.read_to_end(&mut bytes));
                self(head, bytes)
            }
        }
    }
}

/// What the engine needs besides the stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnConfig<'a> {
    pub(crate) limits: &'a Limits,
    /// Set while the server shuts down: finish the current request, then close.
    pub(crate) draining: &'a AtomicBool,
    /// The pool this turn runs on; a request for another pool ends the turn.
    pub(crate) pool: usize,
}

/// What the connection should do after its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Keep it open and wait for it to become readable. `partial_head` says whether part of
    /// the next head has arrived (the header-read timeout applies) or none (idle timeout).
    Park { partial_head: bool },
    /// Close it.
    Close,
    /// The next request (still unconsumed in the buffer) belongs on another worker pool.
    Reroute { pool: usize },
}

/// Bytes read from the connection and not yet consumed. Reused across connections by a
/// worker; the unconsumed rest is handed to the connection when it parks.
#[derive(Debug)]
pub(crate) struct ReadBuf {
    /// Always initialised up to its length, so reads need no zeroing.
    data: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes consumed since the buffer was made: a turn that consumed any completed a
    /// request head.
    consumed_total: u64,
}

impl Default for ReadBuf {
    fn default() -> Self {
        Self {
            data: vec![0; READ_BUF_INITIAL_BYTES],
            start: 0,
            end: 0,
            consumed_total: 0,
        }
    }
}

impl ReadBuf {
    /// The unconsumed bytes.
    pub(crate) fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Bytes consumed so far (see `consumed_total`).
    pub(crate) fn consumed_total(&self) -> u64 {
        self.consumed_total
    }

    fn consume(&mut self, n: usize) {
        self.consumed_total += n as u64;
        self.start += n;
        debug_assert!(self.start <= self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Replaces the contents with `bytes` (a parked connection's leftover).
    pub(crate) fn load(&mut self, bytes: &[u8]) {
        self.start = 0;
        self.end = 0;
        self.make_room(bytes.len());
        self.data[..bytes.len()].copy_from_slice(bytes);
        self.end = bytes.len();
    }

    /// Empties the buffer, returning what was unconsumed (no allocation when nothing was).
    pub(crate) fn take(&mut self) -> Vec<u8> {
        let rest = self.filled().to_vec();
        self.start = 0;
        self.end = 0;
        rest
    }

    fn make_room(&mut self, wanted: usize) {
        if self.data.len() - self.end >= wanted {
            return;
        }
        if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.data.len() - self.end < wanted {
            let new_len = (self.end + wanted).max(self.data.len() * 2);
            self.data.resize(new_len, 0);
        }
    }

    /// One read into free space. Returns the byte count and whether the read filled all the
    /// space offered (then more may be waiting in the socket).
    fn read_from<R: Read + ?Sized>(&mut self, reader: &mut R) -> io::Result<(usize, bool)> {
        self.make_room(MIN_READ_BYTES);
        let space = self.data.len() - self.end;
        let n = reader.read(&mut self.data[self.end..])?;
        self.end += n;
        Ok((n, n == space))
    }
}

/// A connection's turn on a worker; see the module docs.
pub(crate) struct Conn<'a, S: Transport, F: Service> {
    io: &'a mut S,
    buf: &'a mut ReadBuf,
    out: &'a mut Vec<u8>,
    config: ConnConfig<'a>,
    service: &'a F,
    /// The blocking timeout the stream is set to; `None` while non-blocking.
    blocking: Option<Duration>,
    /// The last read returned less than it could take, so the socket had nothing more at
    /// that moment and the poller will hear of anything that arrives later.
    drained: bool,
}

/// Why a request ended the connection early.
enum Abort {
    /// Answer with this error's status, then close.
    Reject(ParseError),
    /// Close without answering (the peer is gone, or a response is half written).
    Close,
}

impl From<io::Error> for Abort {
    fn from(_: io::Error) -> Self {
        Abort::Close
    }
}

impl<'a, S: Transport, F: Service> Conn<'a, S, F> {
    /// `buf` holds whatever the connection had buffered from earlier turns; `out` must be
    /// empty. The stream must be in non-blocking mode.
    pub(crate) fn new(
        io: &'a mut S,
        buf: &'a mut ReadBuf,
        out: &'a mut Vec<u8>,
        config: ConnConfig<'a>,
        service: &'a F,
    ) -> Self {
        Self {
            io,
            buf,
            out,
            config,
            service,
            blocking: None,
            drained: false,
        }
    }

    /// Serves every request available; see the module docs.
    pub(crate) fn serve(mut self) -> Next {
        let next = self.serve_available();
        self.out.clear();
        if next != Next::Close && self.blocking.is_some() && self.io.set_blocking(None).is_err() {
            return Next::Close;
        }
        next
    }

    fn serve_available(&mut self) -> Next {
        loop {
            let parsed = match parse_head(self.buf.filled(), self.config.limits) {
                Ok(parsed) => parsed,
                Err(error) => return self.reject(error),
            };
            if let Some((head, len)) = parsed {
                let pool = self.service.pool_for(&head.parts);
                if pool != self.config.pool {
                    // Leave the head in the buffer: the other pool's worker parses it again.
                    return match self.flush() {
                        Ok(()) => Next::Reroute { pool },
                        Err(_) => Next::Close,
                    };
                }
                self.buf.consume(len);
                match self.handle(head) {
                    Ok(true) => continue,
                    Ok(false) => return self.close(),
                    Err(Abort::Reject(error)) => return self.reject(error),
                    Err(Abort::Close) => return Next::Close,
                }
            }
            // No complete head: read more, or park.
            let partial_head = !self.buf.filled().is_empty();
            if self.drained {
                return self.park(partial_head);
            }
            match self.buf.read_from(self.io) {
                Ok((0, _)) => return self.close(),
                Ok((_, filled_space)) => self.drained = !filled_space,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return self.park(partial_head),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
    }

    fn park(&mut self, partial_head: bool) -> Next {
        match self.flush() {
            Ok(()) => Next::Park { partial_head },
            Err(_) => Next::Close,
        }
    }

    fn close(&mut self) -> Next {
        let _ = self.flush();
        Next::Close
    }

    /// Answers a request that never reaches the service, then closes.
    fn reject(&mut self, error: ParseError) -> Next {
        if error != ParseError::Incomplete {
            encode::write_rejection(self.out, error.status(), &[], true);
        }
        if self.flush().is_ok() {
            self.discard_input();
        }
        Next::Close
    }

    /// Reads and drops what the client already sent, without waiting for more.
    fn discard_input(&mut self) {
        if self.blocking.is_some() && self.io.set_blocking(None).is_err() {
            return;
        }
        self.blocking = None;
        let mut scratch = [0u8; 4096];
        let mut discarded = 0;
        while discarded < MAX_DISCARD_BYTES {
            match self.io.read(&mut scratch) {
                Ok(0) | Err(_) => break,
                Ok(n) => discarded += n,
            }
        }
    }

    /// Serves one request whose head is parsed. `Ok(true)`: the connection stays open.
    fn handle(&mut self, head: RequestHead) -> Result<bool, Abort> {
        let RequestHead {
            parts,
            framing,
            keep_alive,
            expect_continue,
        } = head;
        let streamed_limit = match framing {
            BodyFraming::Length(0) => None,
            _ => self.service.body_stream_limit(&parts),
        };
        let limit = streamed_limit.unwrap_or(self.config.limits.max_body_bytes);
        // RFC 9110 §15.5.14: refuse an announced body that is too large before reading it.
        if let BodyFraming::Length(len) = framing {
            if len > limit {
                return Err(Abort::Reject(ParseError::BodyTooLarge { limit }));
            }
        }
        let is_head = parts.method == Method::HEAD;
        let version = parts.version;
        let (response, body_complete) = match streamed_limit {
            Some(limit) => self.call_streaming(parts, framing, expect_continue, limit)?,
            None => {
                let body = self.read_body(framing, expect_continue)?;
                (self.service.call(parts, RequestBody::Full(body)), true)
            }
        };
        let handler_closes = response
            .headers()
            .get(http::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        // A body the handler did not read to its end leaves the connection unusable.
        let keep_alive = keep_alive
            && body_complete
            && !handler_closes
            && !self.config.draining.load(Ordering::Acquire);
        self.write_response(response, is_head, version, keep_alive)
    }

    /// Calls the service with a body it reads itself, straight from the connection. Returns
    /// the response and whether the body was read to its end.
    fn call_streaming(
        &mut self,
        parts: Parts,
        framing: BodyFraming,
        expect_continue: bool,
        limit: u64,
    ) -> Result<(http::Response<Body>, bool), Abort> {
        let Ok(io) = self.io.try_clone_boxed() else {
            // No second handle (an in-memory stream): read the body first after all.
            let body = self.read_body(framing, expect_continue)?;
            return Ok((self.service.call(parts, RequestBody::Full(body)), true));
        };
        // Responses to earlier pipelined requests go out before the handler takes over.
        self.flush()?;
        let prefix = match framing {
            BodyFraming::Length(len) => {
                let take = usize::try_from(len)
                    .map_or(usize::MAX, |len| len)
                    .min(self.buf.filled().len());
                let prefix = self.buf.filled()[..take].to_vec();
                self.buf.consume(take);
                prefix
            }
            // The decoder finds the body's end; what lies beyond comes back afterwards.
            BodyFraming::Chunked => self.buf.take(),
        };
        let stream = Arc::new(Mutex::new(BodyStream::new(
            io,
            framing,
            prefix,
            limit,
            self.config.limits.body_read_timeout,
            expect_continue,
        )));
        let shared: Arc<Mutex<dyn Read + Send>> = stream.clone();
        let response = self.service.call(parts, RequestBody::Stream(shared));
        // The stream may have switched the socket to blocking reads; the engine owns the
        // mode again.
        self.io.set_blocking(None).map_err(|_| Abort::Close)?;
        self.blocking = None;
        let mut stream = stream.lock().unwrap_or_else(PoisonError::into_inner);
        let complete = stream.is_complete();
        if complete {
            let over_read = stream.take_over_read();
            if !over_read.is_empty() {
                self.buf.load(&over_read);
            }
        }
        Ok((response, complete))
    }

    /// Reads the whole body into memory, blocking (with the body deadline) if it has not
    /// all arrived yet.
    fn read_body(&mut self, framing: BodyFraming, expect_continue: bool) -> Result<Vec<u8>, Abort> {
        let limits = *self.config.limits;
        // Taken when the body first has to be waited for (most have arrived with the head).
        let mut deadline = None;
        let mut deadline =
            || *deadline.get_or_insert_with(|| Instant::now() + limits.body_read_timeout);
        match framing {
            BodyFraming::Length(0) => Ok(Vec::new()),
            BodyFraming::Length(len) => {
                let len = usize::try_from(len).map_err(|_| {
                    Abort::Reject(ParseError::BodyTooLarge {
                        limit: limits.max_body_bytes,
                    })
                })?;
                let buffered = self.buf.filled().len().min(len);
                let mut body = Vec::with_capacity(len);
                body.extend_from_slice(&self.buf.filled()[..buffered]);
                self.buf.consume(buffered);
                if body.len() < len && expect_continue {
                    self.out.extend_from_slice(CONTINUE);
                }
                while body.len() < len {
                    self.read_blocking(deadline())?;
                    let take = self.buf.filled().len().min(len - body.len());
                    body.extend_from_slice(&self.buf.filled()[..take]);
                    self.buf.consume(take);
                }
                Ok(body)
            }
            BodyFraming::Chunked => {
                let mut decoder = ChunkedDecoder::default();
                let mut body = Vec::new();
                let mut continue_sent = false;
                loop {
                    let used = decoder
                        .decode(self.buf.filled(), &mut body)
                        .map_err(Abort::Reject)?;
                    self.buf.consume(used);
                    if body.len() as u64 > limits.max_body_bytes {
                        return Err(Abort::Reject(ParseError::BodyTooLarge {
                            limit: limits.max_body_bytes,
                        }));
                    }
                    if decoder.is_done() {
                        return Ok(body);
                    }
                    if expect_continue && !continue_sent {
                        self.out.extend_from_slice(CONTINUE);
                        continue_sent = true;
                    }
                    self.read_blocking(deadline())?;
                }
            }
        }
    }

    /// Waits for more input until `deadline`. Responses still buffered go out first, so a
    /// pipelining client is never kept waiting on them.
    fn read_blocking(&mut self, deadline: Instant) -> Result<(), Abort> {
        self.flush()?;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Abort::Reject(ParseError::Timeout));
            }
            self.set_blocking(remaining)?;
            match self.buf.read_from(self.io) {
                Ok((0, _)) => return Err(Abort::Reject(ParseError::Incomplete)),
                Ok((_, filled_space)) => {
                    self.drained = !filled_space;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Err(Abort::Reject(ParseError::Timeout)),
                Err(_) => return Err(Abort::Close),
            }
        }
    }

    fn set_blocking(&mut self, timeout: Duration) -> io::Result<()> {
        if self.blocking != Some(timeout) {
            self.io.set_blocking(Some(timeout))?;
            self.blocking = Some(timeout);
        }
        Ok(())
    }

    /// Encodes the response into the output buffer (streamed bodies are written as they are
    /// read). `Ok(true)`: the connection stays open.
    fn write_response(
        &mut self,
        response: http::Response<Body>,
        is_head: bool,
        version: Version,
        keep_alive: bool,
    ) -> Result<bool, Abort> {
        let (parts, body) = response.into_parts();
        let status = parts.status;
        // RFC 9110 §6.4.1: 1xx, 204 and 304 never carry content; HEAD carries the headers a
        // GET would, without content (§9.3.2).
        let bodiless_status = status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let mut keep_alive = keep_alive;
        let kind = body.into_kind();
        let framing = match &kind {
            _ if status.is_informational() || status == StatusCode::NO_CONTENT => Framing::Unframed,
            _ if status == StatusCode::NOT_MODIFIED => Framing::Unframed,
            Kind::Bytes(bytes) => Framing::Length(bytes.len() as u64),
            Kind::SizedStream(_, len) => Framing::Length(*len),
            Kind::Stream(_) if version == Version::HTTP_11 => Framing::Chunked,
            Kind::Stream(_) => {
                // An HTTP/1.0 client cannot take chunks: the body ends when we close.
                keep_alive = false;
                Framing::Unframed
            }
        };
        let connection = match (keep_alive, version) {
            (false, _) => ConnectionHeader::Close,
            (true, Version::HTTP_10) => ConnectionHeader::KeepAlive,
            (true, _) => ConnectionHeader::Omit,
        };
        encode::encode_head(self.out, status, &parts.headers, framing, connection);
        if is_head || bodiless_status {
            return Ok(keep_alive);
        }
        match kind {
            Kind::Bytes(bytes) => self.out.extend_from_slice(&bytes),
            Kind::Stream(reader) => {
                self.copy_stream(reader, framing == Framing::Chunked)?;
            }
            Kind::SizedStream(reader, len) => {
                let copied = self.copy_stream(Box::new(reader.take(len)), false)?;
                if copied != len {
                    // The Content-Length we sent is now a lie: the only honest end is a close.
                    let _ = self.flush();
                    return Err(Abort::Close);
                }
            }
        }
        if self.out.len() >= FLUSH_THRESHOLD_BYTES {
            self.flush()?;
        }
        Ok(keep_alive)
    }

    /// Copies a streamed body to the client, each read going out at once (as a chunk when
    /// `chunked`). Returns the number of body bytes copied.
    fn copy_stream(
        &mut self,
        mut reader: Box<dyn Read + Send>,
        chunked: bool,
    ) -> Result<u64, Abort> {
        let mut piece = vec![0u8; STREAM_READ_BYTES];
        let mut copied = 0u64;
        loop {
            let n = match reader.read(&mut piece) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // The response cannot be completed; closing tells the client so.
                    let _ = self.flush();
                    return Err(Abort::Close);
                }
            };
            copied += n as u64;
            if chunked {
                encode::encode_chunk(self.out, &piece[..n]);
            } else {
                self.out.extend_from_slice(&piece[..n]);
            }
            self.flush()?;
        }
        if chunked {
            encode::encode_last_chunk(self.out);
        }
        Ok(copied)
    }

    /// Writes everything buffered. A socket that cannot take it all now is switched to
    /// blocking writes bounded by the write timeout.
    fn flush(&mut self) -> io::Result<()> {
        let mut written = 0;
        while written < self.out.len() {
            match self.io.write(&self.out[written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.blocking.is_none() => {
                    self.set_blocking(self.config.limits.write_timeout)?;
                }
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        Ok(())
    }
}

/// A blocking read that timed out reports `WouldBlock` on Unix and `TimedOut` on Windows.
fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// An in-memory connection for tests and fuzzing. Reads hand out `input` in pieces of at
/// most `read_size` bytes; when it runs dry a non-blocking read says `WouldBlock`, a blocking
/// one times out (or sees EOF once `eof` is set).
#[cfg(any(test, feature = "__internals"))]
#[derive(Debug, Default)]
pub(crate) struct MemoryStream {
    pub(crate) input: Vec<u8>,
    pub(crate) pos: usize,
    pub(crate) read_size: usize,
    pub(crate) eof: bool,
    pub(crate) output: Vec<u8>,
    blocking: bool,
}

#[cfg(any(test, feature = "__internals"))]
impl MemoryStream {
    pub(crate) fn new(input: &[u8]) -> Self {
        Self {
            input: input.to_vec(),
            read_size: usize::MAX,
            ..Self::default()
        }
    }

    #[cfg(feature = "__internals")]
    pub(crate) fn into_output(self) -> Vec<u8> {
        self.output
    }

    /// One connection turn over this stream; `buf` carries unconsumed input between turns.
    pub(crate) fn turn<F: Service>(
        &mut self,
        buf: &mut ReadBuf,
        limits: &Limits,
        draining: bool,
        service: &F,
    ) -> Next {
        let draining = AtomicBool::new(draining);
        let mut out = Vec::new();
        let config = ConnConfig {
            limits,
            draining: &draining,
            pool: 0,
        };
        Conn::new(self, buf, &mut out, config, service).serve()
    }
}

#[cfg(any(test, feature = "__internals"))]
impl Read for MemoryStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.input.len() {
            return match (self.eof, self.blocking) {
                (true, _) => Ok(0),
                (false, false) => Err(io::ErrorKind::WouldBlock.into()),
                (false, true) => Err(io::ErrorKind::TimedOut.into()),
            };
        }
        let n = buf
            .len()
            .min(self.read_size)
            .min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(any(test, feature = "__internals"))]
impl io::Write for MemoryStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(any(test, feature = "__internals"))]
impl Transport for MemoryStream {
    fn set_blocking(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.blocking = timeout.is_some();
        Ok(())
    }

    fn try_clone_boxed(&self) -> io::Result<Box<dyn Transport + Send>> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echoes method, path and body, and streams on `/stream`.
    fn echo(head: Parts, body: Vec<u8>) -> http::Response<Body> {
        if head.uri.path() == "/stream" {
            let pieces = ["chunk 0\n", "chunk 1\n"].map(|s| s.as_bytes().to_vec());
            return http::Response::new(Body::stream(Pieces(pieces.into_iter().collect())));
        }
        if head.uri.path() == "/empty" {
            let mut response = http::Response::new(Body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            return response;
        }
        let mut text = format!("{} {} ", head.method, head.uri.path()).into_bytes();
        text.extend_from_slice(&body);
        http::Response::new(Body::from(text))
    }

    /// A reader that returns one piece per read.
    struct Pieces(std::collections::VecDeque<Vec<u8>>);
    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.pop_front() {
                Some(piece) => {
                    buf[..piece.len()].copy_from_slice(&piece);
                    Ok(piece.len())
                }
                None => Ok(0),
            }
        }
    }

    fn run_with(stream: &mut MemoryStream, limits: &Limits) -> (Next, String) {
        let next = stream.turn(&mut ReadBuf::default(), limits, false, &echo);
        (next, strip_dates(&String::from_utf8_lossy(&stream.output)))
    }

    fn run(input: &[u8]) -> (Next, String) {
        run_with(&mut MemoryStream::new(input), &Limits::default())
    }

    /// Removes `date:` lines so that expected outputs are constant.
    fn strip_dates(text: &str) -> String {
        text.split("\r\n")
            .filter(|line| !line.starts_with("date: "))
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    #[test]
    fn serves_a_request_and_parks() {
        let (next, out) = run(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(
            next,
            Next::Park {
                partial_head: false
            }
        );
        assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nGET /a ");
    }

    #[test]
    fn pipelined_requests_are_answered_in_order_in_one_write() {
        let input = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: h\r\n\r\n";
        let (next, out) = run(input);
        assert_eq!(
            next,
            Next::Park {
                partial_head: false
            }
        );
        let bodies: Vec<&str> = out
            .split("\r\n\r\n")
            .skip(1)
            .map(|s| &s[..s.find("HTTP/").unwrap_or(s.len())])
            .collect();
        assert_eq!(bodies, ["GET /1 ", "POST /2 abc", "GET /3 "]);
    }

    #[test]
    fn any_split_of_a_pipelined_stream_gives_the_same_responses() {
        let input = b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /y HTTP/1.1\r\nHost: h\r\n\r\n";
        let expected = run(input).1;
        assert!(expected.ends_with("GET /y "), "{expected}");
        for read_size in 1..input.len() {
            let mut stream = MemoryStream::new(input);
            stream.read_size = read_size;
            // A short read parks the connection; the poller dispatches it again when more
            // bytes arrive, which here means: while input is left.
            let limits = Limits::default();
            let mut buf = ReadBuf::default();
            let mut turns = 0;
            while stream.pos < stream.input.len() || turns == 0 {
                let next = stream.turn(&mut buf, &limits, false, &echo);
                assert!(
                    matches!(next, Next::Park { .. }),
                    "read size {read_size}: {next:?}"
                );
                turns += 1;
                assert!(turns <= input.len(), "no progress");
            }
            let out = strip_dates(&String::from_utf8_lossy(&stream.output));
            assert_eq!(out, expected, "read size {read_size}");
        }
    }

    #[test]
    fn partial_head_parks_with_the_bytes_kept() {
        let limits = Limits::default();
        let mut stream = MemoryStream::new(b"GET /a HTTP/1.1\r\nHo");
        let mut buf = ReadBuf::default();
        let next = stream.turn(&mut buf, &limits, false, &echo);
        assert_eq!(next, Next::Park { partial_head: true });
        assert_eq!(buf.filled(), b"GET /a HTTP/1.1\r\nHo");
        // The rest arrives later; the next turn completes the request.
        stream.input.extend_from_slice(b"st: h\r\n\r\n");
        let next = stream.turn(&mut buf, &limits, false, &echo);
        assert_eq!(
            next,
            Next::Park {
                partial_head: false
            }
        );
        assert!(String::from_utf8_lossy(&stream.output).ends_with("GET /a "));
    }

    #[test]
    fn connection_close_closes_after_the_response() {
        let (next, out) = run(b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(next, Next::Close);
        assert!(out.contains("connection: close\r\n"));
        assert!(!out.contains("/b"), "served a request after close: {out}");
    }

    #[test]
    fn http_1_0_closes_unless_keep_alive() {
        let (next, out) = run(b"GET /a HTTP/1.0\r\n\r\n");
        assert_eq!(next, Next::Close);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.contains("connection: close"));
        let (next, out) = run(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(
            next,
            Next::Park {
                partial_head: false
            }
        );
        assert!(out.contains("connection: keep-alive\r\n"));
    }

    #[test]
    fn head_gets_get_headers_without_body() {
        let (_, out) = run(b"HEAD /abc HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n");
    }

    #[test]
    fn no_content_has_no_length_and_no_body() {
        let (_, out) = run(b"GET /empty HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(out, "HTTP/1.1 204 No Content\r\n\r\n");
    }

    #[test]
    fn streamed_body_is_chunked_one_chunk_per_read() {
        let (next, out) = run(b"GET /stream HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(
            next,
            Next::Park {
                partial_head: false
            }
        );
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n8\r\nchunk 0\n\r\n8\r\nchunk 1\n\r\n0\r\n\r\n"
        );
    }

    #[test]
    fn streamed_body_to_http_1_0_is_close_delimited() {
        let (next, out) = run(b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(next, Next::Close);
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nchunk 0\nchunk 1\n"
        );
    }

    #[test]
    fn te_and_cl_is_rejected_and_closes() {
        let (next, out) = run(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc");
        assert_eq!(next, Next::Close);
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
        assert!(out.contains("connection: close"));
    }

    #[test]
    fn body_over_the_limit_is_413_before_reading_it() {
        let limits = Limits {
            max_body_bytes: 10,
            ..Limits::default()
        };
        let mut stream = MemoryStream::new(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n",
        );
        let (next, out) = run_with(&mut stream, &limits);
        assert_eq!(next, Next::Close);
        assert!(
            out.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
            "{out}"
        );
        assert!(!out.contains("100 Continue"));
    }

    #[test]
    fn chunked_body_over_the_limit_is_413() {
        let limits = Limits {
            max_body_bytes: 4,
            ..Limits::default()
        };
        let mut stream = MemoryStream::new(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n");
        let (next, out) = run_with(&mut stream, &limits);
        assert_eq!(next, Next::Close);
        assert!(out.starts_with("HTTP/1.1 413 "), "{out}");
    }

    #[test]
    fn expect_continue_sends_100_before_the_body_arrives() {
        let mut stream = MemoryStream::new(
            b"POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
        );
        let (next, out) = run_with(&mut stream, &Limits::default());
        // The body never came: 100 Continue went out, then the body read timed out: 408.
        assert_eq!(next, Next::Close);
        assert!(
            out.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 408 Request Timeout\r\n"),
            "{out}"
        );
    }

    #[test]
    fn expect_continue_with_body_already_sent_gets_no_interim_response() {
        let (_, out) = run(
            b"POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi",
        );
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nPOST /e hi"
        );
    }

    #[test]
    fn eof_in_the_middle_of_a_body_closes_without_answer() {
        let mut stream =
            MemoryStream::new(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
        stream.eof = true;
        let (next, out) = run_with(&mut stream, &Limits::default());
        assert_eq!((next, out.as_str()), (Next::Close, ""));
    }

    #[test]
    fn draining_server_closes_after_the_current_response() {
        let mut stream = MemoryStream::new(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        let next = stream.turn(&mut ReadBuf::default(), &Limits::default(), true, &echo);
        assert_eq!(next, Next::Close);
        assert!(String::from_utf8_lossy(&stream.output).contains("connection: close\r\n"));
    }

    #[test]
    fn malformed_input_never_panics() {
        // A few hostile shapes; the fuzz target covers the rest.
        let inputs: [&[u8]; 6] = [
            b"\0\0\0\0",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
            b"GET / HTTP/1.1\r\n\xff\xfe: x\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"\r\n\r\n\r\n\r\n",
        ];
        for input in inputs {
            let (next, out) = run(input);
            assert!(next == Next::Close || out.is_empty(), "{next:?} {out}");
        }
    }
}

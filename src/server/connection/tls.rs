//! The TLS transport (feature `tls`): a rustls session beside the socket, driven in the
//! same non-blocking worker turns as plain connections.
//!
//! A turn: write the TLS output still owed (the socket full: park for writability); finish
//! the handshake as far as the socket allows (not done: park until the handshake
//! deadline); run the protocol's turn over [`TlsStream`], which decrypts and encrypts as
//! the protocol reads and writes; then write what rustls holds, and park for writability
//! while some is left. No TLS output is ever stranded in rustls: a protocol parks for
//! readability only when it wrote everything, and rustls's buffer is checked after every
//! turn. And no decrypted input is stranded: [`TlsStream`]'s reads return less than asked
//! only once rustls's plaintext is empty and the socket was (a read of it came back short,
//! or said `WouldBlock`), as a plain socket's reads do; a protocol that reads again sees
//! what waited behind (the end of the stream, say), and one that parks hears of what
//! arrives later.
//!
//! The rustls session sits behind an `Arc<Mutex<_>>` so that a body streamed to a handler
//! (`Router::stream_bodies`) reads through a second handle ([`TlsStream::try_clone_boxed`]);
//! the lock is never contended otherwise.

#![cfg(feature = "tls")]

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use http::StatusCode;
use rustls::ServerConnection;

use super::transport::{REJECT_DISCARD_BYTES, rejection};
use crate::io::{Socket, Stream, discard_input, is_timeout};
use crate::limits::{Limits, deadline_after};
use crate::server::outcome::{Outcome, Wait};
use crate::server::protocol::{Protocol, TransportFacts, TurnCx};
use crate::tls::{TlsConfig, TlsInfo};

/// A TLS connection's session and what its turns carry.
pub(super) struct TlsSession {
    session: Arc<Mutex<ServerConnection>>,
    /// Set once the handshake is done.
    info: Option<TlsInfo>,
    /// The handshake must be done by then (the header read timeout, from accept).
    handshake_until: Instant,
    /// Set when the protocol closed with output still in rustls: the connection closes
    /// once it is written, or at this deadline (moved on whenever the client takes some).
    closing_until: Option<Instant>,
    /// `close_notify` was sent (or must not be: the connection failed).
    closed: bool,
}

impl std::fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSession")
            .field("info", &self.info)
            .field("handshake_until", &self.handshake_until)
            .field("closing_until", &self.closing_until)
            .finish_non_exhaustive()
    }
}

impl TransportFacts for TlsInfo {
    fn annotate(&self, extensions: &mut http::Extensions) {
        extensions.insert(self.clone());
    }
}

impl TlsSession {
    /// A session for a connection accepted `now`, with the configuration new connections
    /// get now.
    pub(super) fn new(config: &TlsConfig, now: Instant, limits: &Limits) -> io::Result<Self> {
        let session = ServerConnection::new(config.current()).map_err(io::Error::other)?;
        Ok(Self {
            session: Arc::new(Mutex::new(session)),
            info: None,
            handshake_until: deadline_after(now, limits.header_read_timeout),
            closing_until: None,
            closed: false,
        })
    }

    /// When the connection closes unless its handshake is done.
    pub(super) fn handshake_deadline(&self) -> Instant {
        self.handshake_until
    }

    /// Whether rustls holds output the socket has not taken yet: nothing else (a 503) may
    /// be sent before it.
    pub(super) fn owes_output(&self) -> bool {
        self.is_closing() || lock(&self.session).wants_write()
    }

    /// Whether the connection is only writing its last bytes before it closes.
    pub(super) fn is_closing(&self) -> bool {
        self.closing_until.is_some()
    }

    /// One turn; see the module docs.
    pub(super) fn turn<S: Socket>(
        &mut self,
        socket: &Arc<S>,
        protocol: &mut Protocol,
        cx: &TurnCx<'_>,
    ) -> Outcome {
        let limits = &cx.shared.limits;
        let now = Instant::now();
        // The handshake's last read of the socket came back short (this turn's).
        let mut socket_emptied = false;
        {
            let mut session = lock(&self.session);
            if let Some(until) = self.closing_until {
                let wrote = flush_counting(&**socket, &mut session);
                return match wrote {
                    Ok((true, _)) => Outcome::Close,
                    Ok((false, progress)) => {
                        let until = if progress {
                            deadline_after(now, limits.write_timeout)
                        } else {
                            until
                        };
                        if now >= until {
                            return fail(&mut self.closed);
                        }
                        self.closing_until = Some(until);
                        Outcome::Park {
                            wait: Wait::Writable,
                            until,
                        }
                    }
                    Err(_) => fail(&mut self.closed),
                };
            }
            match flush(&**socket, &mut session) {
                Ok(true) => {}
                // A live protocol takes its turn all the same: its writes meet the full
                // socket (`WouldBlock`), and it parks as blocked with its own timers, so
                // that senders still wake it and a shutdown still says goodbye.
                Ok(false) if self.info.is_some() && protocol.is_live() => {}
                Ok(false) => return self.wait_writable(now, limits),
                Err(_) => return fail(&mut self.closed),
            }
            if self.info.is_none() {
                let Ok(emptied) = handshake(&**socket, &mut session, cx.client_closed) else {
                    // Its alert, if any, went out: nothing more to say.
                    return fail(&mut self.closed);
                };
                socket_emptied = emptied;
                match flush(&**socket, &mut session) {
                    Ok(true) => {}
                    Ok(false) => return self.wait_writable(now, limits),
                    Err(_) => return fail(&mut self.closed),
                }
                if session.is_handshaking() {
                    if now >= self.handshake_until {
                        return fail(&mut self.closed);
                    }
                    // Parked as idle: at the deadline it closes without an answer (none
                    // can be sent), counted as an idle timeout, not as a 408.
                    return Outcome::Park {
                        wait: Wait::NextRequest,
                        until: self.handshake_until,
                    };
                }
                self.info = Some(TlsInfo::from_connection(&session));
                #[cfg(feature = "http2")]
                if session.alpn_protocol() == Some(crate::tls::ALPN_H2) {
                    protocol.start_http2(cx);
                }
            }
        }
        let Some(info) = self.info.as_ref() else {
            return Outcome::Close;
        };
        let mut stream = TlsStream {
            socket: Arc::clone(socket),
            session: Arc::clone(&self.session),
            deadline: None,
            socket_emptied,
            client_closed: cx.client_closed,
        };
        let outcome = protocol.turn(&mut stream, cx, Some(info));
        let mut session = lock(&self.session);
        let owed = match flush(&**socket, &mut session) {
            Ok(done) => !done,
            Err(_) => return fail(&mut self.closed),
        };
        let write_until = deadline_after(Instant::now(), limits.write_timeout);
        match outcome {
            // The last output is still in rustls: write it before closing.
            Outcome::Close if owed => {
                self.closing_until = Some(write_until);
                Outcome::Park {
                    wait: Wait::Writable,
                    until: write_until,
                }
            }
            outcome if owed => owing_output(outcome, write_until),
            // A safety net: decrypted input must never wait for a readiness event that will
            // not come (protocols drain it before parking, so this does not happen).
            Outcome::Park { wait, .. }
                if !wait.is_writable() && plaintext_pending(&mut session) =>
            {
                Outcome::Yield
            }
            outcome => outcome,
        }
    }

    fn wait_writable(&self, now: Instant, limits: &Limits) -> Outcome {
        let until = if self.info.is_none() {
            self.handshake_until
        } else {
            deadline_after(now, limits.write_timeout)
        };
        Outcome::Park {
            wait: Wait::Writable,
            until,
        }
    }

    /// Answers `status` (encrypted) and closes, for a connection the server will not serve;
    /// before the handshake is done nothing can be said, and it just closes. Best effort,
    /// non-blocking.
    pub(super) fn reject<S: Socket>(&mut self, socket: &S, status: StatusCode) {
        self.closed = true;
        if self.info.is_none() {
            let _ = socket.shutdown(Shutdown::Both);
            return;
        }
        let _ = socket.set_blocking(None);
        let mut session = lock(&self.session);
        discard_input(
            |buf| {
                let mut reader = SocketReader::new(socket, false, false);
                read_decrypted(&mut reader, &mut session, buf, None)
            },
            REJECT_DISCARD_BYTES,
        );
        let _ = session.writer().write_all(&rejection(status));
        session.send_close_notify();
        let _ = flush(socket, &mut session);
        let _ = socket.shutdown(Shutdown::Write);
    }

    /// Sends `close_notify` as the connection closes, unless a response is cut short (the
    /// client must not take a truncated response for a complete one) or the connection
    /// failed. Best effort, non-blocking.
    pub(super) fn close<S: Socket>(&mut self, socket: &S, response_cut_short: bool) {
        if self.closed || self.info.is_none() || response_cut_short {
            return;
        }
        self.closed = true;
        let mut session = lock(&self.session);
        session.send_close_notify();
        let _ = flush(socket, &mut session);
    }
}

/// `outcome` for a connection whose session still holds output (records the socket did
/// not take): a park for readability becomes one for writability, until `write_until` (a
/// live connection keeps its own timer, which also bounds a client that does not read).
fn owing_output(outcome: Outcome, write_until: Instant) -> Outcome {
    match outcome {
        Outcome::Park { wait, until } if !wait.is_writable() => {
            if wait.is_live() {
                Outcome::Park {
                    wait: Wait::LiveBlocked,
                    until,
                }
            } else {
                Outcome::Park {
                    wait: Wait::Writable,
                    until: write_until,
                }
            }
        }
        other => other,
    }
}

/// A socket read as `io::Read`, for libraries that take one (rustls's `read_tls`), that
/// notes whether a read returned less than it asked for: then the socket was empty, and
/// another read before the next readiness event would most likely only say `WouldBlock`;
/// the poller hears of what arrives later. (Not when the client had closed: its end waits
/// behind the data and sends no event of its own, so no read counts as emptying the
/// socket then, and the reader goes on to meet the end. Nor, on Linux, at a TCP urgent
/// mark, which ends a read short and which the poller does not watch for: a client that
/// sends one stalls only its own connection, until its deadline.)
struct SocketReader<'a, S> {
    socket: &'a S,
    emptied: bool,
    client_closed: bool,
}

impl<'a, S: Socket> SocketReader<'a, S> {
    /// `emptied`: an earlier read in this turn came back short, and nothing read since.
    fn new(socket: &'a S, emptied: bool, client_closed: bool) -> Self {
        Self {
            socket,
            emptied: emptied && !client_closed,
            client_closed,
        }
    }
}

impl<S: Socket> Read for SocketReader<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.socket.read(buf)?;
        self.emptied = !self.client_closed && read > 0 && read < buf.len();
        Ok(read)
    }
}

/// A socket written as `io::Write`, for libraries that take one (rustls's `write_tls`).
struct SocketWriter<'a, S>(&'a S);

impl<S: Socket> Write for SocketWriter<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    /// rustls hands over all the records it has queued at once: one system call, not one
    /// per record (a handshake's flight is several).
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `step` (one write of a library's buffered output, such as rustls's `write_tls`)
/// until it reports nothing left or the stream would block. `step` returns `None` when
/// nothing is left. `Ok(true)`: all written.
fn write_until_blocked(mut step: impl FnMut() -> Option<io::Result<usize>>) -> io::Result<bool> {
    while let Some(result) = step() {
        match result {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Closes without `close_notify` (the connection failed).
fn fail(closed: &mut bool) -> Outcome {
    *closed = true;
    Outcome::Close
}

/// Reads and processes handshake records until the handshake is done or the socket is
/// empty (a read said `WouldBlock`, or came back short unless `client_closed`: see
/// [`SocketReader`]). `Ok(true)`: the last read came back short and counts as emptying
/// the socket. `Err`: the client left or the handshake failed (rustls's alert is queued).
fn handshake<S: Socket>(
    socket: &S,
    session: &mut ServerConnection,
    client_closed: bool,
) -> Result<bool, ()> {
    let mut reader = SocketReader::new(socket, false, client_closed);
    while session.is_handshaking() {
        if reader.emptied {
            return Ok(true);
        }
        match session.read_tls(&mut reader) {
            Ok(0) => return Err(()),
            Ok(_) => {
                if let Err(error) = session.process_new_packets() {
                    crate::logging::log_debug!("TLS handshake failed: {error}");
                    let _ = flush(socket, session);
                    return Err(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(()),
        }
    }
    Ok(reader.emptied)
}

/// Writes rustls's output to the socket. `Ok(true)`: all of it; `Ok(false)`: the socket is
/// full (or, blocking, timed out) with some left.
fn flush<S: Socket>(socket: &S, session: &mut ServerConnection) -> io::Result<bool> {
    flush_counting(socket, session).map(|(done, _)| done)
}

/// [`flush`], and whether anything was written.
fn flush_counting<S: Socket>(
    socket: &S,
    session: &mut ServerConnection,
) -> io::Result<(bool, bool)> {
    let mut wrote = false;
    let done = write_until_blocked(|| {
        session.wants_write().then(|| {
            let written = session.write_tls(&mut SocketWriter(socket));
            wrote |= written.as_ref().is_ok_and(|&n| n > 0);
            written
        })
    })?;
    Ok((done, wrote))
}

/// Whether rustls holds decrypted input nobody read.
fn plaintext_pending(session: &mut ServerConnection) -> bool {
    session
        .process_new_packets()
        .is_ok_and(|state| state.plaintext_bytes_to_read() > 0)
}

/// Decrypted input into `buf`. Non-blocking (`deadline` is `None`), it returns less than
/// `buf.len()` only when rustls has no more plaintext and the socket had nothing more (or
/// closed), as a plain socket's read would. Once it has plaintext to return, a read of the
/// socket through `reader` that came back short is its last (see [`SocketReader`]); and
/// a `reader` that starts out emptied (the turn's handshake read came back short) returns
/// plaintext rustls already holds without reading the socket at all. A caller that parks
/// hears of what arrives later.
/// Blocking until `deadline` (a body streamed to its handler), it returns as soon as it has
/// something, as a socket read does, and fails with `TimedOut` at the deadline however the
/// records trickle in. `Ok(0)`: the client closed (with or without `close_notify`).
fn read_decrypted<S: Socket>(
    reader: &mut SocketReader<'_, S>,
    session: &mut ServerConnection,
    buf: &mut [u8],
    deadline: Option<Instant>,
) -> io::Result<usize> {
    let socket = reader.socket;
    let mut n = 0;
    loop {
        if n == buf.len() || (deadline.is_some() && n > 0) {
            return Ok(n);
        }
        match session.reader().read(&mut buf[n..]) {
            // `close_notify` received: the end of the input.
            Ok(0) => return Ok(n),
            Ok(read) => {
                n += read;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if n > 0 && reader.emptied {
                    return Ok(n);
                }
            }
            // The TCP connection ended without `close_notify`: an end all the same (HTTP's
            // own framing tells a cut request from a complete one).
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(n),
            Err(e) => return if n > 0 { Ok(n) } else { Err(e) },
        }
        if let Some(deadline) = deadline {
            // Each blocking read gets only the time left, not the whole timeout again.
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            socket.set_blocking(Some(left.max(Duration::from_millis(1))))?;
        }
        match session.read_tls(reader) {
            Ok(0) => return Ok(n),
            Ok(_) => {
                if let Err(error) = session.process_new_packets() {
                    crate::logging::log_debug!("TLS error: {error}");
                    // The alert, best effort.
                    let _ = flush(socket, session);
                    return if n > 0 {
                        Ok(n)
                    } else {
                        Err(io::Error::new(io::ErrorKind::InvalidData, error))
                    };
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return if n > 0 { Ok(n) } else { Err(e) },
        }
    }
}

/// Encrypts `buf` into rustls and writes what the socket takes. `WouldBlock` when what an
/// earlier write left in rustls still does not fit in the socket: back-pressure as a
/// socket's, so that the protocols' write timeouts see a client that does not read (rustls
/// holds at most one write's worth, written at the end of the turn or when the socket has
/// room).
fn write_encrypted<S: Socket>(
    socket: &S,
    session: &mut ServerConnection,
    buf: &[u8],
) -> io::Result<usize> {
    if !flush(socket, session)? {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    let n = session.writer().write(buf)?;
    if n == 0 && !buf.is_empty() {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    flush(socket, session)?;
    Ok(n)
}

fn lock(session: &Mutex<ServerConnection>) -> MutexGuard<'_, ServerConnection> {
    // A panic while locked (in a handler's body stream) leaves a session that at worst
    // fails its next record: the connection then closes.
    session.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The decrypted stream a protocol reads and writes in a TLS connection's turn; a clone
/// (the handle a body streamed to its handler reads through) shares the session.
pub(super) struct TlsStream<S> {
    socket: Arc<S>,
    session: Arc<Mutex<ServerConnection>>,
    /// Switched to blocking reads until then (`Stream::set_blocking`).
    deadline: Option<Instant>,
    /// The handshake's last read of the socket, in this turn, came back short; the next
    /// read may return what was decrypted from it without asking the socket again.
    socket_emptied: bool,
    /// See `TurnCx::client_closed`.
    client_closed: bool,
}

impl<S: Socket> Read for TlsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let emptied = std::mem::take(&mut self.socket_emptied);
        let mut reader = SocketReader::new(&*self.socket, emptied, self.client_closed);
        read_decrypted(&mut reader, &mut lock(&self.session), buf, self.deadline)
    }
}

impl<S: Socket> Write for TlsStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_encrypted(&*self.socket, &mut lock(&self.session), buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        if flush(&*self.socket, &mut lock(&self.session))? {
            Ok(())
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }
}

impl<S: Socket> Stream for TlsStream<S> {
    fn set_blocking(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket.set_blocking(timeout)?;
        self.deadline = timeout.map(|timeout| deadline_after(Instant::now(), timeout));
        Ok(())
    }

    fn try_clone_boxed(&self) -> io::Result<Box<dyn Stream + Send>> {
        Ok(Box::new(Self {
            socket: Arc::clone(&self.socket),
            session: Arc::clone(&self.session),
            deadline: self.deadline,
            socket_emptied: false,
            client_closed: self.client_closed,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn owed_output_turns_a_read_wait_into_a_write_wait() {
        let now = Instant::now();
        let later = now + Duration::from_secs(5);
        let write = now + Duration::from_secs(1);
        let park = |wait| Outcome::Park { wait, until: later };
        assert_eq!(
            owing_output(park(Wait::NextRequest), write),
            Outcome::Park {
                wait: Wait::Writable,
                until: write
            }
        );
        assert_eq!(
            owing_output(park(Wait::Live), write),
            park(Wait::LiveBlocked)
        );
        assert_eq!(
            owing_output(park(Wait::Writable), write),
            park(Wait::Writable)
        );
        assert_eq!(owing_output(Outcome::Close, write), Outcome::Close);
        assert_eq!(owing_output(Outcome::Yield, write), Outcome::Yield);
    }

    #[test]
    fn a_reader_notes_a_read_that_came_back_short() {
        let socket = crate::io::MemorySocket::new(b"hello");
        let mut buf = [0; 4];
        let mut reader = SocketReader::new(&socket, false, false);
        assert_eq!(reader.read(&mut buf).unwrap(), 4);
        assert!(!reader.emptied, "a full read says nothing of what is left");
        assert_eq!(reader.read(&mut buf).unwrap(), 1);
        assert!(reader.emptied);
    }

    #[test]
    fn a_reader_of_a_client_that_closed_never_takes_a_short_read_for_empty() {
        let socket = crate::io::MemorySocket::new(b"hello");
        let mut buf = [0; 8];
        let mut reader = SocketReader::new(&socket, true, true);
        assert!(!reader.emptied);
        assert_eq!(reader.read(&mut buf).unwrap(), 5);
        assert!(!reader.emptied, "the end may wait behind the data");
    }

    #[test]
    fn write_until_blocked_stops_at_the_first_would_block() {
        let mut steps = vec![Ok(4), Err(io::ErrorKind::Interrupted.into()), Ok(2)].into_iter();
        assert!(write_until_blocked(|| steps.next()).unwrap());
        let mut steps = vec![Ok(4), Err(io::ErrorKind::WouldBlock.into()), Ok(2)].into_iter();
        assert!(!write_until_blocked(|| steps.next()).unwrap());
        assert_eq!(steps.len(), 1, "went on after the stream was full");
        let mut steps = vec![Ok(0)].into_iter();
        assert!(write_until_blocked(|| steps.next()).is_err());
    }
}

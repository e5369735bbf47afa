//! TLS connections (feature `tls`): a rustls session beside the socket, driven in the same
//! non-blocking worker turns as plain connections.
//!
//! A TLS connection's turn: write the TLS output still owed (the socket full: park for
//! writability); finish the handshake as far as the socket allows (not done: park for
//! readability until the handshake deadline); run the HTTP/1.1 engine over [`TlsIo`], which
//! decrypts and encrypts as the engine reads and writes; then write what rustls holds, and
//! park for writability while some is left. No TLS output is ever stranded in rustls: the
//! engine parks for readability only when it wrote everything, and rustls's buffer is
//! checked after every turn. And no decrypted input is stranded: [`TlsIo`]'s reads return
//! less than asked only once rustls's plaintext and the socket are both empty, which is when
//! the engine parks.
//!
//! A live connection's turn (WebSocket, event stream) runs through the same session
//! (`serve_live`), with the same rule for what rustls still holds.
//!
//! The rustls session sits behind an `Arc<Mutex<_>>` so that a body streamed to a handler
//! (`Router::stream_bodies`) reads through a second handle ([`TlsIo::try_clone_boxed`]); the
//! lock is never contended otherwise.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use http::StatusCode;
use rustls::ServerConnection;

use super::live::LiveTurn;
use super::reject::{REJECT_DISCARD_BYTES, rejection};
use crate::http1::{
    AfterTurn, Limits, Transport, WaitFor, deadline_after, discard_input, set_tcp_blocking,
};
use crate::tls::{TlsConfig, TlsInfo};

/// A TLS connection's session and what its turns carry.
pub(super) struct TlsState {
    session: Arc<Mutex<ServerConnection>>,
    /// Set once the handshake is done.
    info: Option<TlsInfo>,
    /// The handshake must be done by then (the header read timeout, from accept).
    handshake_until: Instant,
    /// The connection closes once rustls's output is written, or at `closing_until`.
    closing: bool,
    closing_until: Option<Instant>,
    /// `close_notify` was sent (or must not be: the connection failed).
    closed: bool,
}

impl std::fmt::Debug for TlsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsState")
            .field("info", &self.info)
            .field("handshake_until", &self.handshake_until)
            .field("closing", &self.closing)
            .finish_non_exhaustive()
    }
}

impl TlsState {
    /// A session for a connection accepted `now`, with the configuration new connections
    /// get now.
    pub(super) fn new(config: &TlsConfig, now: Instant, limits: &Limits) -> io::Result<Self> {
        let session = ServerConnection::new(config.current()).map_err(io::Error::other)?;
        Ok(Self {
            session: Arc::new(Mutex::new(session)),
            info: None,
            handshake_until: deadline_after(now, limits.header_read_timeout),
            closing: false,
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
        self.closing || lock(&self.session).wants_write()
    }

    /// Whether the connection is only writing its last bytes before it closes (a live one
    /// then has nothing more to say at a shutdown).
    pub(super) fn is_closing(&self) -> bool {
        self.closing
    }

    /// One turn; `engine` runs the HTTP/1.1 engine over the decrypted stream. See the
    /// module docs.
    pub(super) fn serve(
        &mut self,
        tcp: &TcpStream,
        limits: &Limits,
        engine: impl FnOnce(&mut TlsIo<'_>, &TlsInfo) -> AfterTurn,
    ) -> AfterTurn {
        let now = Instant::now();
        {
            let mut session = lock(&self.session);
            match flush(tcp, &mut session) {
                Ok(true) => {}
                Ok(false) => return self.wait_writable(now, limits),
                Err(_) => return fail(&mut self.closed),
            }
            if self.closing {
                return AfterTurn::Close;
            }
            if self.info.is_none() {
                if handshake(tcp, &mut session).is_err() {
                    // Its alert, if any, went out: nothing more to say.
                    return fail(&mut self.closed);
                }
                match flush(tcp, &mut session) {
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
                    return AfterTurn::Wait {
                        wait_for: WaitFor::NextRequest,
                        until: self.handshake_until,
                    };
                }
                self.info = Some(TlsInfo::from_connection(&session));
            }
        }
        let Some(info) = self.info.as_ref() else {
            return AfterTurn::Close;
        };
        let mut io = TlsIo {
            tcp,
            session: &self.session,
            deadline: None,
        };
        let next = engine(&mut io, info);
        let mut session = lock(&self.session);
        let owed = match flush(tcp, &mut session) {
            Ok(done) => !done,
            Err(_) => return fail(&mut self.closed),
        };
        match next {
            // The last response is still in rustls: write it before closing.
            AfterTurn::Close if owed => {
                self.closing = true;
                self.wait_writable(Instant::now(), limits)
            }
            AfterTurn::Wait { wait_for, .. } if owed && !wait_for.is_writable() => {
                self.wait_writable(Instant::now(), limits)
            }
            // A safety net: decrypted input must never wait for a readiness event that will
            // not come (the engine drains it before parking, so this does not happen).
            AfterTurn::Wait { wait_for, .. }
                if !wait_for.is_writable() && plaintext_pending(&mut session) =>
            {
                AfterTurn::Yield
            }
            next => next,
        }
    }

    /// A live connection's turn (WebSocket, event stream): `live` reads and writes through
    /// the session; what rustls still holds afterwards is owed as the engine's output is.
    pub(super) fn serve_live(
        &mut self,
        tcp: &TcpStream,
        write_timeout: Duration,
        live: impl FnOnce(&mut TlsIo<'_>) -> LiveTurn,
    ) -> LiveTurn {
        let now = Instant::now();
        let write_until = deadline_after(now, write_timeout);
        if self.closing {
            // Its last bytes, until the deadline set when closing began (not a new one
            // per turn: a client that never reads is cut).
            let until = *self.closing_until.get_or_insert(write_until);
            return match flush(tcp, &mut lock(&self.session)) {
                Ok(true) => LiveTurn::Close,
                Ok(false) if now < until => LiveTurn::Park {
                    blocked: true,
                    until,
                },
                Ok(false) | Err(_) => fail_live(&mut self.closed),
            };
        }
        let mut io = TlsIo {
            tcp,
            session: &self.session,
            deadline: None,
        };
        let next = live(&mut io);
        let mut session = lock(&self.session);
        let owed = match flush(tcp, &mut session) {
            Ok(done) => !done,
            Err(_) => return fail_live(&mut self.closed),
        };
        match next {
            // Its last frames are still in rustls: write them before closing.
            LiveTurn::Close if owed => {
                self.closing = true;
                self.closing_until = Some(write_until);
                LiveTurn::Park {
                    blocked: true,
                    until: write_until,
                }
            }
            // Watch writability, keeping the live connection's own timer.
            LiveTurn::Park {
                blocked: false,
                until,
            } if owed => LiveTurn::Park {
                blocked: true,
                until,
            },
            LiveTurn::Park { blocked: false, .. } if plaintext_pending(&mut session) => {
                LiveTurn::Yield
            }
            next => next,
        }
    }

    fn wait_writable(&self, now: Instant, limits: &Limits) -> AfterTurn {
        let until = if self.info.is_none() {
            self.handshake_until
        } else {
            deadline_after(now, limits.write_timeout)
        };
        AfterTurn::Wait {
            wait_for: WaitFor::Writable,
            until,
        }
    }

    /// Answers `status` (encrypted) and closes, for a connection the server will not serve;
    /// before the handshake is done nothing can be said, and it just closes. Best effort,
    /// non-blocking.
    pub(super) fn reject(&mut self, tcp: &TcpStream, status: StatusCode) {
        self.closed = true;
        if self.info.is_none() {
            let _ = tcp.shutdown(Shutdown::Both);
            return;
        }
        let _ = tcp.set_nonblocking(true);
        let mut session = lock(&self.session);
        discard_input(
            |buf| read_decrypted(tcp, &mut session, buf, None),
            REJECT_DISCARD_BYTES,
        );
        let _ = session.writer().write_all(&rejection(status));
        session.send_close_notify();
        let _ = flush(tcp, &mut session);
        let _ = tcp.shutdown(Shutdown::Write);
    }

    /// Sends `close_notify` as the connection closes, unless a response is cut short (the
    /// client must not take a truncated response for a complete one) or the connection
    /// failed. Best effort, non-blocking.
    pub(super) fn close(&mut self, tcp: &TcpStream, response_cut_short: bool) {
        if self.closed || self.info.is_none() || response_cut_short {
            return;
        }
        self.closed = true;
        let mut session = lock(&self.session);
        session.send_close_notify();
        let _ = flush(tcp, &mut session);
    }
}

/// Closes without `close_notify` (the connection failed).
fn fail(closed: &mut bool) -> AfterTurn {
    *closed = true;
    AfterTurn::Close
}

fn fail_live(closed: &mut bool) -> LiveTurn {
    *closed = true;
    LiveTurn::Close
}

/// Reads and processes handshake records until the handshake is done or the socket is
/// empty. `Err`: the client left or the handshake failed (rustls's alert is queued).
fn handshake(tcp: &TcpStream, session: &mut ServerConnection) -> Result<(), ()> {
    let mut socket = tcp;
    while session.is_handshaking() {
        match session.read_tls(&mut socket) {
            Ok(0) => return Err(()),
            Ok(_) => {
                if let Err(error) = session.process_new_packets() {
                    crate::logging::log_debug!("TLS handshake failed: {error}");
                    let _ = flush(tcp, session);
                    return Err(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(()),
        }
    }
    Ok(())
}

/// Writes rustls's output to the socket. `Ok(true)`: all of it; `Ok(false)`: the socket is
/// full (or, blocking, timed out) with some left.
fn flush(tcp: &TcpStream, session: &mut ServerConnection) -> io::Result<bool> {
    let mut socket = tcp;
    while session.wants_write() {
        match session.write_tls(&mut socket) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if is_timeout(&e) => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Whether rustls holds decrypted input nobody read.
fn plaintext_pending(session: &mut ServerConnection) -> bool {
    session
        .process_new_packets()
        .is_ok_and(|state| state.plaintext_bytes_to_read() > 0)
}

/// Decrypted input into `buf`. Non-blocking (`deadline` is `None`), it returns less than
/// `buf.len()` only when rustls has no more plaintext and the socket had nothing more (or
/// closed): then the engine may park, and the poller hears of what arrives later. Blocking
/// until `deadline` (a body streamed to its handler), it returns as soon as it has
/// something, as a socket read does, and fails with `TimedOut` at the deadline however the
/// records trickle in. `Ok(0)`: the client closed (with or without `close_notify`).
fn read_decrypted(
    tcp: &TcpStream,
    session: &mut ServerConnection,
    buf: &mut [u8],
    deadline: Option<Instant>,
) -> io::Result<usize> {
    let mut socket = tcp;
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
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
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
            tcp.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        }
        match session.read_tls(&mut socket) {
            Ok(0) => return Ok(n),
            Ok(_) => {
                if let Err(error) = session.process_new_packets() {
                    crate::logging::log_debug!("TLS error: {error}");
                    // The alert, best effort.
                    let _ = flush(tcp, session);
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
/// socket's, so that the engine's and live connections' write timeouts see a client that
/// does not read (rustls holds at most one write's worth, written at the end of the turn or
/// when the socket has room).
fn write_encrypted(
    tcp: &TcpStream,
    session: &mut ServerConnection,
    buf: &[u8],
) -> io::Result<usize> {
    if !flush(tcp, session)? {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    let n = session.writer().write(buf)?;
    if n == 0 && !buf.is_empty() {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    flush(tcp, session)?;
    Ok(n)
}

fn flush_encrypted(tcp: &TcpStream, session: &mut ServerConnection) -> io::Result<()> {
    if flush(tcp, session)? {
        Ok(())
    } else {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

fn lock(session: &Mutex<ServerConnection>) -> MutexGuard<'_, ServerConnection> {
    // A panic while locked (in a handler's body stream) leaves a session that at worst
    // fails its next record: the connection then closes.
    session.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The decrypted stream the HTTP/1.1 engine reads and writes in a TLS connection's turn.
pub(super) struct TlsIo<'a> {
    tcp: &'a TcpStream,
    session: &'a Arc<Mutex<ServerConnection>>,
    /// Switched to blocking reads until then (`Transport::set_blocking`).
    deadline: Option<Instant>,
}

impl Read for TlsIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_decrypted(self.tcp, &mut lock(self.session), buf, self.deadline)
    }
}

impl Write for TlsIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_encrypted(self.tcp, &mut lock(self.session), buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        flush_encrypted(self.tcp, &mut lock(self.session))
    }
}

impl Transport for TlsIo<'_> {
    fn set_blocking(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        set_tcp_blocking(self.tcp, timeout)?;
        self.deadline = timeout.map(|timeout| deadline_after(Instant::now(), timeout));
        Ok(())
    }

    /// A handle for a body streamed to its handler: the same session, and the socket
    /// cloned.
    fn try_clone_boxed(&self) -> io::Result<Box<dyn Transport + Send>> {
        Ok(Box::new(OwnedTlsIo {
            tcp: self.tcp.try_clone()?,
            session: Arc::clone(self.session),
            deadline: self.deadline,
        }))
    }
}

/// [`TlsIo`] owning its handles, for a body streamed to a handler.
struct OwnedTlsIo {
    tcp: TcpStream,
    session: Arc<Mutex<ServerConnection>>,
    deadline: Option<Instant>,
}

impl Read for OwnedTlsIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_decrypted(&self.tcp, &mut lock(&self.session), buf, self.deadline)
    }
}

impl Write for OwnedTlsIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_encrypted(&self.tcp, &mut lock(&self.session), buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        flush_encrypted(&self.tcp, &mut lock(&self.session))
    }
}

impl Transport for OwnedTlsIo {
    fn set_blocking(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        set_tcp_blocking(&self.tcp, timeout)?;
        self.deadline = timeout.map(|timeout| deadline_after(Instant::now(), timeout));
        Ok(())
    }

    fn try_clone_boxed(&self) -> io::Result<Box<dyn Transport + Send>> {
        Ok(Box::new(Self {
            tcp: self.tcp.try_clone()?,
            session: Arc::clone(&self.session),
            deadline: self.deadline,
        }))
    }
}

//! Non-blocking I/O as every connection does it: the one write-until-would-block loop, the
//! one read-and-drop loop, what counts as a timeout, and the two stream traits the server
//! and the HTTP/1.1 engine drive.
//!
//! - [`Socket`]: a connection's byte stream, read and written through a shared reference
//!   (as `&TcpStream` is), so that a second handle (a body streamed to its handler, the
//!   drain deadline's cut) can use it while a turn holds it.
//! - [`Stream`]: what a protocol's turn reads and writes: a socket, or the decrypted side of
//!   a TLS session; non-blocking, and switched to blocking reads only for a body streamed to
//!   its handler.
//! - [`read_at`] and [`Socket::send_file`]: a file read at an offset, into memory or (on
//!   Linux, plain sockets) straight into the socket with `sendfile(2)`.
//! - `accept`: connections taken from a listener non-blocking and without Nagle's
//!   algorithm (on Linux, with no system call per connection for either).
//! - `memory`: in-memory sockets and streams with scheduled short reads, short writes and
//!   would-blocks, for tests and fuzzing.

mod accept;
mod memory;

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Duration;

pub(crate) use accept::{accept, listener_nodelay};
pub(crate) use memory::MemorySocket;
#[cfg(any(test, feature = "__internals"))]
pub(crate) use memory::MemoryStream;

/// At most this much unread input is discarded before closing a connection after an error,
/// so that the close does not turn into a TCP reset that destroys the answer in flight.
pub(crate) const MAX_DISCARD_BYTES: usize = 64 * 1024;

/// A connection's byte stream; see the module docs.
pub(crate) trait Socket: Send + Sync + 'static {
    /// Reads what is there; `WouldBlock` when nothing is (non-blocking).
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;

    /// Writes what fits; `WouldBlock` when nothing does (non-blocking).
    fn write(&self, buf: &[u8]) -> io::Result<usize>;

    /// Writes what fits of `bufs`, in order, in one call where the socket can (`writev(2)`);
    /// else as much of the first non-empty one as [`Socket::write`] takes.
    // TLS writes its queued records with it; plain connections write one buffer.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match bufs.iter().find(|buf| !buf.is_empty()) {
            Some(buf) => self.write(buf),
            None => Ok(0),
        }
    }

    /// `Some(timeout)`: reads and writes block, failing with `WouldBlock` or `TimedOut`
    /// after `timeout`. `None`: non-blocking.
    fn set_blocking(&self, timeout: Option<Duration>) -> io::Result<()>;

    /// Shuts one or both directions down (the peer sees the end of the stream).
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;

    /// Writes up to `len` bytes of `file` from `*offset` straight from the kernel's page
    /// cache (`sendfile(2)`), moving `*offset` past them; `WouldBlock` as [`Socket::write`].
    /// `None`: this socket cannot, the caller copies the bytes itself.
    fn send_file(&self, file: &File, offset: &mut u64, len: usize) -> Option<io::Result<usize>> {
        let _ = (file, offset, len);
        None
    }
}

/// A socket behind an `Arc`, shared as a `dyn Socket` (for what is written from outside a
/// connection's turn: a handler deadline's late answer).
pub(crate) trait ShareSocket {
    fn share(&self) -> Arc<dyn Socket>;
}

impl<S: Socket> ShareSocket for Arc<S> {
    fn share(&self) -> Arc<dyn Socket> {
        self.clone()
    }
}

impl Socket for TcpStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(&mut &*self, buf)
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        Write::write(&mut &*self, buf)
    }

    /// `writev(2)` cannot say `MSG_NOSIGNAL`: used only where `SIGPIPE` is known to be
    /// ignored (see `sigpipe_ignored`).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if sigpipe_ignored() {
            return Write::write_vectored(&mut &*self, bufs);
        }
        match bufs.iter().find(|buf| !buf.is_empty()) {
            Some(buf) => Socket::write(self, buf),
            None => Ok(0),
        }
    }

    fn set_blocking(&self, timeout: Option<Duration>) -> io::Result<()> {
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

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        TcpStream::shutdown(self, how)
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn send_file(&self, file: &File, offset: &mut u64, len: usize) -> Option<io::Result<usize>> {
        if !sigpipe_ignored() {
            return None;
        }
        match rustix::fs::sendfile(self, file, Some(offset), len) {
            Ok(sent) => Some(Ok(sent)),
            // Files sendfile cannot read (some special files): copy them instead.
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => None,
            Err(errno) => Some(Err(errno.into())),
        }
    }
}

/// Whether this process ignores `SIGPIPE`, read once from `/proc/self/status`.
/// `sendfile(2)` cannot say `MSG_NOSIGNAL` as our writes do: to a peer that reset the
/// connection it raises `SIGPIPE`, whose default kills the process. Rust programs ignore it
/// from their start; one that restores the default (as some command-line tools do) gets
/// its files copied instead.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn sigpipe_ignored() -> bool {
    static IGNORED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *IGNORED.get_or_init(|| {
        const SIGPIPE_BIT: u64 = 1 << (13 - 1);
        let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
            return false;
        };
        status
            .lines()
            .find_map(|line| line.strip_prefix("SigIgn:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .is_some_and(|mask| mask & SIGPIPE_BIT != 0)
    })
}

/// Reads `buf.len()` bytes or fewer of `file` at `offset`, without moving (or using) the
/// file's own position.
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

/// What a protocol's turn reads and writes; see the module docs.
pub(crate) trait Stream: Read + Write {
    /// `Some(timeout)`: block, failing with `TimedOut`/`WouldBlock` after `timeout`.
    /// `None`: non-blocking.
    fn set_blocking(&mut self, timeout: Option<Duration>) -> io::Result<()>;

    /// A second handle on the same connection, owned, for a body streamed to a handler.
    fn try_clone_boxed(&self) -> io::Result<Box<dyn Stream + Send>>;

    /// [`Socket::send_file`] when the bytes go to the socket as they are (not through TLS).
    fn send_file(
        &mut self,
        file: &File,
        offset: &mut u64,
        len: usize,
    ) -> Option<io::Result<usize>> {
        let _ = (file, offset, len);
        None
    }
}

/// A [`Socket`] as a [`Stream`]: the plain transport. Clones share the socket.
#[derive(Debug)]
pub(crate) struct SocketStream<S>(pub(crate) Arc<S>);

impl<S: Socket> Read for SocketStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<S: Socket> Write for SocketStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<S: Socket> Stream for SocketStream<S> {
    fn set_blocking(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.set_blocking(timeout)
    }

    fn try_clone_boxed(&self) -> io::Result<Box<dyn Stream + Send>> {
        Ok(Box::new(Self(Arc::clone(&self.0))))
    }

    fn send_file(
        &mut self,
        file: &File,
        offset: &mut u64,
        len: usize,
    ) -> Option<io::Result<usize>> {
        self.0.send_file(file, offset, len)
    }
}

/// Writes `bytes[*written..]` until all of it is out or the stream would block (or, in
/// blocking mode, times out). `Ok(true)`: all written; `Ok(false)`: the rest waits for room.
/// `*written` counts what went out, also on error.
pub(crate) fn write_pending<W: Write + ?Sized>(
    io: &mut W,
    bytes: &[u8],
    written: &mut usize,
) -> io::Result<bool> {
    while *written < bytes.len() {
        match io.write(&bytes[*written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// A blocking read or write that timed out reports `WouldBlock` on Unix and `TimedOut` on
/// Windows; a non-blocking one that cannot proceed reports `WouldBlock`.
pub(crate) fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_pending_resumes_where_a_full_stream_stopped() {
        let mut stream = MemoryStream::new(b"");
        stream.write_sizes = vec![3, 0];
        let mut written = 0;
        assert!(!write_pending(&mut stream, b"abcdefgh", &mut written).unwrap());
        assert_eq!(written, 3);
        assert!(!write_pending(&mut stream, b"abcdefgh", &mut written).unwrap());
        stream.write_sizes.clear();
        assert!(write_pending(&mut stream, b"abcdefgh", &mut written).unwrap());
        assert_eq!(stream.output, b"abcdefgh");
    }

    #[test]
    fn a_timed_out_blocking_write_counts_as_full() {
        let mut stream = MemoryStream::new(b"");
        stream.write_sizes = vec![0];
        Stream::set_blocking(&mut stream, Some(Duration::from_millis(1))).unwrap();
        let mut written = 0;
        assert!(!write_pending(&mut stream, b"x", &mut written).unwrap());
    }

    #[test]
    fn discard_input_tells_drained_from_ended_and_stops_at_its_limit() {
        let mut stream = MemoryStream::new(&[b'x'; 10_000]);
        assert_eq!(
            discard_input(|buf| stream.read(buf), 100_000),
            Discarded::Drained
        );
        let mut stream = MemoryStream::new(b"abc");
        stream.eof = true;
        assert_eq!(discard_input(|buf| stream.read(buf), 100), Discarded::Ended);
        let mut stream = MemoryStream::new(&[b'x'; 10_000]);
        assert_eq!(
            discard_input(|buf| stream.read(buf), 5000),
            Discarded::AtLimit
        );
        assert!(stream.has_input());
    }

    /// A connected loopback pair: the sender, and the receiver (reads time out after 10 s).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn tcp_pair() -> (TcpStream, TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let sender = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (receiver, _) = listener.accept().unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        (sender, receiver)
    }

    /// Several buffers in one call on a TCP socket (rustls queues a handshake's flight as
    /// several records); one at a time on a socket without vectored writes.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn write_vectored_writes_every_buffer_where_the_socket_can() {
        let bufs = [IoSlice::new(b"ab"), IoSlice::new(b""), IoSlice::new(b"cd")];
        let (sender, mut receiver) = tcp_pair();
        assert_eq!(Socket::write_vectored(&sender, &bufs).unwrap(), 4);
        let mut got = [0; 4];
        receiver.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"abcd");

        let memory = MemorySocket::new(b"");
        assert_eq!(Socket::write_vectored(&memory, &bufs[1..]).unwrap(), 2);
        assert_eq!(memory.output(), b"cd");
    }

    /// `sendfile` on a TCP socket: the range asked for arrives, the offset moves past it,
    /// and a full socket says `WouldBlock` (then the rest follows once the peer reads).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn send_file_sends_a_range_and_would_block_when_full() {
        use std::io::Seek;

        // More than loopback socket buffers hold, even tuned ones.
        let contents: Vec<u8> = (0..32 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&contents).unwrap();
        file.seek(io::SeekFrom::Start(0)).unwrap();
        let (sender, mut receiver) = tcp_pair();
        sender.set_nonblocking(true).unwrap();

        let mut offset = 10;
        let sent = Socket::send_file(&sender, &file, &mut offset, 5)
            .unwrap()
            .unwrap();
        assert_eq!((sent, offset), (5, 15));
        let mut got = [0; 5];
        receiver.read_exact(&mut got).unwrap();
        assert_eq!(got, contents[10..15]);

        // Nobody reads: the socket fills, and says so.
        let start = offset;
        let full = loop {
            let rest = contents.len() - offset as usize;
            assert!(
                rest > 0,
                "the socket buffers took all 32 MiB: nothing to prove"
            );
            match Socket::send_file(&sender, &file, &mut offset, rest) {
                Some(Ok(0)) | None => panic!("sendfile stopped before the socket was full"),
                Some(Ok(_)) => {}
                Some(Err(e)) => break e,
            }
        };
        assert!(is_timeout(&full), "{full}");
        let mut got = vec![0; (offset - start) as usize];
        receiver.read_exact(&mut got).unwrap();
        assert!(got == contents[start as usize..offset as usize]);
    }

    /// Rust programs (test binaries too) ignore SIGPIPE from their start: sendfile is used.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn a_rust_program_ignores_sigpipe() {
        assert!(sigpipe_ignored());
    }

    #[test]
    fn a_socket_stream_clone_shares_the_socket() {
        let socket = Arc::new(MemorySocket::new(b"hello"));
        let mut first = SocketStream(Arc::clone(&socket));
        let mut second = first.try_clone_boxed().unwrap();
        let mut buf = [0; 2];
        assert_eq!(first.read(&mut buf).unwrap(), 2);
        let mut rest = Vec::new();
        second.read_to_end(&mut rest).unwrap_or_default();
        assert_eq!(rest, b"llo");
        first.write_all(b"a").unwrap();
        second.write_all(b"b").unwrap();
        assert_eq!(socket.output(), b"ab");
    }
}

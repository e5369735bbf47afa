//! In-memory connections for tests and fuzz targets: reads and writes follow a schedule of
//! sizes, where 0 means "would block", so every partial-read and full-socket path can be
//! driven without a socket. [`MemoryStream`] is a [`Stream`] with one owner (the engine's
//! tests); [`MemorySocket`] is a [`Socket`] that handles share (the server's connection
//! tests, and bodies streamed to their handlers).

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::{Socket, Stream};

/// See the module docs. Reads hand out `input`; when it runs dry a non-blocking read says
/// `WouldBlock`, a blocking one times out (or sees EOF once `eof` is set).
#[derive(Debug, Default)]
pub(crate) struct MemoryStream {
    pub(crate) input: Vec<u8>,
    pub(crate) pos: usize,
    /// Sizes of successive reads, cycled; 0 means one `WouldBlock`. Empty: unlimited.
    pub(crate) read_sizes: Vec<usize>,
    read_step: usize,
    /// Sizes of successive writes, cycled; 0 means one `WouldBlock`. Empty: unlimited.
    pub(crate) write_sizes: Vec<usize>,
    write_step: usize,
    pub(crate) eof: bool,
    pub(crate) output: Vec<u8>,
    /// How many reads were asked for (those that said `WouldBlock` too).
    pub(crate) reads: usize,
    blocking: bool,
    /// Shut down for writing ([`MemorySocket`]).
    shut_down: bool,
}

impl MemoryStream {
    pub(crate) fn new(input: &[u8]) -> Self {
        Self {
            input: input.to_vec(),
            ..Self::default()
        }
    }

    /// Whether input is left to read.
    pub(crate) fn has_input(&self) -> bool {
        self.pos < self.input.len()
    }

    fn next_size(sizes: &[usize], step: &mut usize) -> usize {
        if sizes.is_empty() {
            return usize::MAX;
        }
        let size = sizes[*step % sizes.len()];
        *step += 1;
        size
    }
}

impl Read for MemoryStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        if self.pos == self.input.len() {
            return match (self.eof, self.blocking) {
                (true, _) => Ok(0),
                (false, false) => Err(io::ErrorKind::WouldBlock.into()),
                (false, true) => Err(io::ErrorKind::TimedOut.into()),
            };
        }
        let mut size = Self::next_size(&self.read_sizes, &mut self.read_step);
        if size == 0 {
            if !self.blocking {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            size = 1;
        }
        let n = buf.len().min(size).min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for MemoryStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let size = Self::next_size(&self.write_sizes, &mut self.write_step);
        if size == 0 && !buf.is_empty() {
            return Err(if self.blocking {
                io::ErrorKind::TimedOut.into()
            } else {
                io::ErrorKind::WouldBlock.into()
            });
        }
        let n = buf.len().min(size);
        self.output.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for MemoryStream {
    fn set_blocking(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.blocking = timeout.is_some();
        Ok(())
    }

    fn try_clone_boxed(&self) -> io::Result<Box<dyn Stream + Send>> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// A [`MemoryStream`] behind a lock, as a [`Socket`]: what the client sends is appended
/// with [`send`](Self::send), what the server wrote is read with [`output`](Self::output).
/// A shutdown ends both directions as a socket's would.
#[derive(Debug, Default)]
pub(crate) struct MemorySocket {
    stream: Mutex<MemoryStream>,
}

impl MemorySocket {
    pub(crate) fn new(input: &[u8]) -> Self {
        Self {
            stream: Mutex::new(MemoryStream::new(input)),
        }
    }

    /// The stream, to change its schedules or look at it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, MemoryStream> {
        self.stream.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends input, as if the client sent it.
    #[cfg(test)]
    pub(crate) fn send(&self, bytes: &[u8]) {
        self.lock().input.extend_from_slice(bytes);
    }

    /// Everything the server wrote so far.
    #[cfg(test)]
    pub(crate) fn output(&self) -> Vec<u8> {
        self.lock().output.clone()
    }

    /// Takes what the server wrote so far.
    pub(crate) fn take_output(&self) -> Vec<u8> {
        std::mem::take(&mut self.lock().output)
    }
}

impl Socket for MemorySocket {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.lock().read(buf)
    }

    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let mut stream = self.lock();
        if stream.shut_down {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        stream.write(buf)
    }

    fn set_blocking(&self, timeout: Option<Duration>) -> io::Result<()> {
        Stream::set_blocking(&mut *self.lock(), timeout)
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let mut stream = self.lock();
        if how != Shutdown::Write {
            stream.eof = true;
            stream.pos = stream.input.len();
        }
        if how != Shutdown::Read {
            stream.shut_down = true;
        }
        Ok(())
    }
}

//! An in-memory connection for the engine's tests and fuzz targets: reads and writes follow
//! a schedule of sizes, where 0 means "would block", so every partial-read and
//! full-socket path can be driven without a socket.

use std::io::{self, Read, Write};
use std::time::Duration;

use super::Transport;

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
    blocking: bool,
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

impl Transport for MemoryStream {
    fn set_blocking(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.blocking = timeout.is_some();
        Ok(())
    }

    fn try_clone_boxed(&self) -> io::Result<Box<dyn Transport + Send>> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

//! The bytes read from a connection and not yet consumed.

use std::io::{self, Read};

/// The read buffer starts at this size and grows (for large heads) as needed.
const READ_BUF_INITIAL_BYTES: usize = 8 * 1024;
/// Reads ask for at least this much room.
const MIN_READ_BYTES: usize = 1024;

/// Bytes read from the connection and not yet consumed. Reused across connections by a
/// worker; the unconsumed rest is handed to the connection when its turn ends.
#[derive(Debug)]
pub(crate) struct ReadBuf {
    /// Always initialised up to its length, so reads need no zeroing.
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl Default for ReadBuf {
    fn default() -> Self {
        Self {
            data: vec![0; READ_BUF_INITIAL_BYTES],
            start: 0,
            end: 0,
        }
    }
}

impl ReadBuf {
    /// The unconsumed bytes.
    pub(crate) fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub(crate) fn consume(&mut self, n: usize) {
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
    pub(crate) fn read_from<R: Read + ?Sized>(
        &mut self,
        reader: &mut R,
    ) -> io::Result<(usize, bool)> {
        self.make_room(MIN_READ_BYTES);
        let space = self.data.len() - self.end;
        let n = reader.read(&mut self.data[self.end..])?;
        self.end += n;
        Ok((n, n == space))
    }
}

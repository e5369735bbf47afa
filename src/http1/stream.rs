//! A request body read by the handler while it arrives, straight from the connection, for
//! routes that opt in (uploads larger than memory should hold).

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use super::Transport;
use super::decode::ChunkedDecoder;
use super::parse::BodyFraming;

/// Reads a streamed body: first what the connection had already buffered, then the socket,
/// with the body deadline and size limit. After the last byte, anything read beyond the
/// body (a pipelined next request) is kept for the connection.
pub(crate) struct BodyStream {
    io: Box<dyn Transport + Send>,
    framing: StreamFraming,
    /// Input not yet consumed: the buffered prefix, then what reads bring.
    raw: Vec<u8>,
    raw_pos: usize,
    /// Decoded data not yet handed out (chunked only).
    decoded: Vec<u8>,
    decoded_pos: usize,
    read_total: u64,
    limit: u64,
    deadline: Instant,
    /// `100 Continue` is owed before the first read from the socket.
    continue_owed: bool,
    done: bool,
    failed: bool,
}

enum StreamFraming {
    Length { remaining: u64 },
    Chunked(ChunkedDecoder),
}

impl BodyStream {
    pub(crate) fn new(
        io: Box<dyn Transport + Send>,
        framing: BodyFraming,
        prefix: Vec<u8>,
        limit: u64,
        timeout: Duration,
        expect_continue: bool,
    ) -> Self {
        let framing = match framing {
            BodyFraming::Length(remaining) => StreamFraming::Length { remaining },
            BodyFraming::Chunked => StreamFraming::Chunked(ChunkedDecoder::default()),
        };
        let done = matches!(framing, StreamFraming::Length { remaining: 0 });
        Self {
            io,
            framing,
            raw: prefix,
            raw_pos: 0,
            decoded: Vec::new(),
            decoded_pos: 0,
            read_total: 0,
            limit,
            deadline: Instant::now() + timeout,
            continue_owed: expect_continue,
            done,
            failed: false,
        }
    }

    /// Whether the whole body was read without error.
    pub(crate) fn is_complete(&self) -> bool {
        self.done && !self.failed
    }

    /// Bytes read past the end of the body: the start of the next request.
    pub(crate) fn take_over_read(&mut self) -> Vec<u8> {
        let rest = self.raw.split_off(self.raw_pos.min(self.raw.len()));
        self.raw_pos = self.raw.len();
        rest
    }

    fn fail(&mut self, kind: io::ErrorKind, message: &'static str) -> io::Error {
        self.failed = true;
        io::Error::new(kind, message)
    }

    /// Reads more input from the socket into `raw`, at most `max` bytes.
    fn fill(&mut self, max: usize) -> io::Result<()> {
        if self.continue_owed {
            self.continue_owed = false;
            self.io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(self.fail(io::ErrorKind::TimedOut, "request body read timed out"));
        }
        self.io.set_blocking(Some(remaining))?;
        if self.raw_pos == self.raw.len() {
            self.raw.clear();
            self.raw_pos = 0;
        }
        let start = self.raw.len();
        self.raw.resize(start + max.clamp(1, 16 * 1024), 0);
        let result = self.io.read(&mut self.raw[start..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.raw.truncate(start + n);
        match result {
            Ok(0) => Err(self.fail(
                io::ErrorKind::UnexpectedEof,
                "connection closed before the request body was complete",
            )),
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(self.fail(io::ErrorKind::TimedOut, "request body read timed out"))
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    fn count(&mut self, n: usize) -> io::Result<()> {
        self.read_total += n as u64;
        if self.read_total > self.limit {
            return Err(self.fail(io::ErrorKind::InvalidData, "request body exceeds the limit"));
        }
        Ok(())
    }
}

impl Read for BodyStream {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("request body stream failed earlier"));
        }
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            match &mut self.framing {
                StreamFraming::Length { remaining } => {
                    if *remaining == 0 {
                        self.done = true;
                        return Ok(0);
                    }
                    let wanted =
                        usize::try_from(*remaining).map_or(out.len(), |r| r.min(out.len()));
                    if self.raw_pos < self.raw.len() {
                        let n = wanted.min(self.raw.len() - self.raw_pos);
                        out[..n].copy_from_slice(&self.raw[self.raw_pos..self.raw_pos + n]);
                        self.raw_pos += n;
                        *remaining -= n as u64;
                        self.count(n)?;
                        return Ok(n);
                    }
                    // Never read past the body: the next request stays in the socket.
                    self.fill(wanted)?;
                }
                StreamFraming::Chunked(decoder) => {
                    if self.decoded_pos < self.decoded.len() {
                        let n = out.len().min(self.decoded.len() - self.decoded_pos);
                        out[..n]
                            .copy_from_slice(&self.decoded[self.decoded_pos..self.decoded_pos + n]);
                        self.decoded_pos += n;
                        return Ok(n);
                    }
                    if decoder.is_done() {
                        self.done = true;
                        return Ok(0);
                    }
                    self.decoded.clear();
                    self.decoded_pos = 0;
                    if self.raw_pos < self.raw.len() {
                        let used = decoder
                            .decode(&self.raw[self.raw_pos..], &mut self.decoded)
                            .map_err(|_| {
                                io::Error::new(
                                    io::ErrorKind::InvalidData,
                                    "invalid chunked request body",
                                )
                            });
                        let used = match used {
                            Ok(used) => used,
                            Err(e) => {
                                self.failed = true;
                                return Err(e);
                            }
                        };
                        self.raw_pos += used;
                        let decoded = self.decoded.len();
                        self.count(decoded)?;
                        continue;
                    }
                    self.fill(16 * 1024)?;
                }
            }
        }
    }
}

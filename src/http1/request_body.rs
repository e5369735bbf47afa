//! Request bodies: one sans-IO decoder for both framings, and the two ways a handler gets a
//! body: gathered in full while the connection is parked between reads ([`BufferedBody`]),
//! or read by the handler as it arrives ([`BodyStream`], for routes that opt in).

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::decode::ChunkedDecoder;
use super::parse::BodyFraming;
use crate::body::RequestBody;
use crate::error::ParseError;
use crate::io::{Stream, is_timeout};
use crate::limits::body_deadline;
use crate::spool::{ByteBudget, Held, Spool, SpoolError, SpoolWriter};

/// A `Content-Length` body reserves at most this much before its bytes arrive, so that a
/// head alone cannot make the server allocate a large announced body.
const INITIAL_BODY_RESERVE_BYTES: usize = 16 * 1024;
/// A `Content-Length` body at least this long still to come is read straight from the
/// socket into the body (smaller ones go through the connection's read buffer).
const DIRECT_READ_MIN_BYTES: u64 = 16 * 1024;
/// A spooled body goes to its file in writes of about this size (and before every wait).
const SPOOL_WRITE_BYTES: usize = 64 * 1024;
/// A streamed request body reads from the socket in pieces of at most this size.
const SOCKET_READ_BYTES: usize = 16 * 1024;
/// The interim response sent to `Expect: 100-continue` (RFC 9110 §15.2.1).
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Finds a body's end in the input, whatever its framing, and hands out its data.
#[derive(Debug, Clone)]
pub(crate) enum BodyDecoder {
    /// `Content-Length`: this many bytes are still to come.
    Length {
        remaining: u64,
    },
    Chunked(ChunkedDecoder),
}

impl BodyDecoder {
    pub(crate) fn new(framing: BodyFraming) -> Self {
        match framing {
            BodyFraming::Length(remaining) => Self::Length { remaining },
            BodyFraming::Chunked => Self::Chunked(ChunkedDecoder::default()),
        }
    }

    /// Whether the whole body has been decoded.
    pub(crate) fn is_done(&self) -> bool {
        match self {
            Self::Length { remaining } => *remaining == 0,
            Self::Chunked(decoder) => decoder.is_done(),
        }
    }

    /// Decodes from `input`, appending body data to `out`; returns the input bytes used.
    /// It stops only at the body's end: what follows is the next request.
    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ParseError> {
        match self {
            Self::Length { remaining } => {
                let take = usize::try_from(*remaining).map_or(input.len(), |r| r.min(input.len()));
                out.extend_from_slice(&input[..take]);
                *remaining -= take as u64;
                Ok(take)
            }
            Self::Chunked(decoder) => decoder.decode(input, out),
        }
    }

    /// Body bytes already announced and not yet decoded: the rest of a `Content-Length`
    /// body, or of the current chunk.
    fn bytes_due(&self) -> u64 {
        match self {
            Self::Length { remaining } => *remaining,
            Self::Chunked(decoder) => decoder.chunk_bytes_due(),
        }
    }

    /// How much to read from the socket next without reading past the body.
    fn read_hint(&self) -> usize {
        match self {
            Self::Length { remaining } => {
                usize::try_from(*remaining).map_or(SOCKET_READ_BYTES, |r| r.min(SOCKET_READ_BYTES))
            }
            Self::Chunked(_) => SOCKET_READ_BYTES,
        }
    }
}

/// A body being gathered for a handler that wants it in full. The connection parks between
/// reads (no worker waits for a slow client); the handler runs once it is complete. A body
/// longer than the spool's threshold goes to a file as it arrives (see `crate::spool`).
#[derive(Debug)]
pub(crate) struct BufferedBody {
    decoder: BodyDecoder,
    /// The body, or (once spooled) what is still to be written to its file.
    data: Vec<u8>,
    limit: u64,
    /// `100 Continue` is owed before the client is waited for.
    continue_owed: bool,
    /// When the body first had to be waited for: its timeout counts from then.
    first_wait: Option<Instant>,
    /// The bytes received when the body was last seen to grow, and when.
    progress: Option<(u64, Instant)>,
    /// What this body holds of the parked bodies' budget (given back when it is dropped).
    held: Option<Held>,
    /// The body is known to be longer than the spool's threshold: it goes to a file.
    spooling: bool,
    /// Its file, from its first write (or wait) on.
    file: Option<SpoolWriter>,
}

impl BufferedBody {
    pub(crate) fn new(framing: BodyFraming, limit: u64, expect_continue: bool) -> Self {
        let reserve = match framing {
            BodyFraming::Length(len) => usize::try_from(len)
                .map_or(INITIAL_BODY_RESERVE_BYTES, |len| {
                    len.min(INITIAL_BODY_RESERVE_BYTES)
                }),
            BodyFraming::Chunked => 0,
        };
        let decoder = BodyDecoder::new(framing);
        Self {
            continue_owed: expect_continue && !decoder.is_done(),
            decoder,
            data: Vec::with_capacity(reserve),
            limit,
            first_wait: None,
            progress: None,
            held: None,
            spooling: false,
            file: None,
        }
    }

    /// Takes what belongs to the body from `input`; returns the bytes used. Fails on bad
    /// chunked framing, once the body exceeds the limit (413), or when it cannot be
    /// spooled.
    pub(crate) fn absorb(&mut self, input: &[u8], spool: &Spool) -> Result<usize, ParseError> {
        let used = self.decoder.decode(input, &mut self.data)?;
        // Refused as soon as the body is known to go over, before the rest arrives.
        let announced = self.received().saturating_add(self.decoder.bytes_due());
        if announced > self.limit {
            return Err(ParseError::BodyTooLarge { limit: self.limit });
        }
        self.spooling |= announced > spool.threshold();
        if self.spooling && (self.data.len() >= SPOOL_WRITE_BYTES || self.decoder.is_done()) {
            self.write_out(spool)?;
        }
        Ok(used)
    }

    /// Body bytes received so far.
    pub(crate) fn received(&self) -> u64 {
        let spooled = self.file.as_ref().map_or(0, SpoolWriter::len);
        spooled + self.data.len() as u64
    }

    /// Writes what is in memory of a spooled body to its file, which it creates first if
    /// need be (taking a `Content-Length` body's whole length of the disk budget at once).
    fn write_out(&mut self, spool: &Spool) -> Result<(), ParseError> {
        if !self.spooling {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let mut file = spool.create().map_err(spool_refusal)?;
                if let BodyDecoder::Length { remaining } = self.decoder {
                    let announced = (self.data.len() as u64).saturating_add(remaining);
                    file.reserve(announced).map_err(spool_refusal)?;
                }
                self.file.insert(file)
            }
        };
        if !self.data.is_empty() {
            file.write(&self.data).map_err(spool_refusal)?;
            self.data.clear();
            if self.data.capacity() > 2 * SPOOL_WRITE_BYTES {
                self.data = Vec::new();
            }
        }
        Ok(())
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.decoder.is_done()
    }

    /// Reads what has arrived of a long `Content-Length` body straight from `reader` into
    /// the body, in large reads and without a copy through the connection's read buffer
    /// (which must be empty); a spooled body in pieces of its file's write size, so that
    /// [`absorb`](Self::absorb) (with no input) writes them out between reads. `None`: not
    /// such a body. At most `max` bytes are read. `Ok(true)`: read a piece, perhaps the
    /// last; `Ok(false)`: the client closed its side first. An error (`WouldBlock`: nothing
    /// more now) keeps what was read.
    pub(crate) fn read_direct<R: Read + ?Sized>(
        &mut self,
        reader: &mut R,
        max: u64,
    ) -> Option<io::Result<bool>> {
        let BodyDecoder::Length { remaining } = &mut self.decoder else {
            return None;
        };
        if *remaining < DIRECT_READ_MIN_BYTES {
            return None;
        }
        let piece = if self.spooling {
            SPOOL_WRITE_BYTES.saturating_sub(self.data.len()).max(1) as u64
        } else {
            // Room grows with what arrived: an announced length alone reserves little.
            let ahead = usize::try_from(*remaining)
                .map_or(usize::MAX, |due| due)
                .min(self.data.len().max(DIRECT_READ_MIN_BYTES as usize));
            self.data.reserve(ahead);
            *remaining
        };
        let piece = piece.min(*remaining).min(max.max(1));
        let before = self.data.len();
        // `read_to_end` reads until the piece's end, the client's, or `WouldBlock`, in
        // reads that grow while they fill what they are offered.
        let result = reader.take(piece).read_to_end(&mut self.data);
        let got = (self.data.len() - before) as u64;
        *remaining -= got;
        Some(result.map(|_| got == piece))
    }

    /// Whether `100 Continue` must be sent now (once, before the first wait).
    pub(crate) fn take_continue_owed(&mut self) -> bool {
        std::mem::take(&mut self.continue_owed)
    }

    /// The time by which the body must be complete: `timeout` from the first wait, and a
    /// second more for every `min_rate` bytes received; but never later than `timeout`
    /// after it last grew (a client that sent much, then stopped, is not kept for the time
    /// it earned).
    pub(crate) fn deadline(&mut self, now: Instant, timeout: Duration, min_rate: u64) -> Instant {
        let received = self.received();
        let first = *self.first_wait.get_or_insert(now);
        if self.progress.is_none_or(|(seen, _)| received > seen) {
            self.progress = Some((received, now));
        }
        let last_growth = self.progress.map_or(now, |(_, at)| at);
        body_deadline(first, last_growth, received, timeout, min_rate)
    }

    /// Readies the body for its connection to park (or to wait in the queue): a spooled
    /// body's memory goes to its file, and what stays in memory is accounted for in
    /// `budget`. Fails (503) when the parked bodies would hold more than the budget, or the
    /// spooled ones more than theirs.
    pub(crate) fn park(
        &mut self,
        budget: &Arc<ByteBudget>,
        spool: &Spool,
    ) -> Result<(), ParseError> {
        self.write_out(spool)?;
        // Bytes received: what a user can reason about (the allocation may be up to twice).
        self.held
            .get_or_insert_with(|| Held::new(budget))
            .hold(self.data.len() as u64)
            .map_err(|_| ParseError::Overloaded)
    }

    /// The complete body, for the handler: in memory, or in its file.
    pub(crate) fn into_body(mut self) -> RequestBody {
        match self.file.take() {
            // `absorb` wrote the rest out as the body completed.
            Some(file) => RequestBody::File(file.finish()),
            None => RequestBody::Full(std::mem::take(&mut self.data)),
        }
    }

    /// The complete body, in memory (a body that was never spooled).
    #[cfg(test)]
    pub(crate) fn into_data(mut self) -> Vec<u8> {
        std::mem::take(&mut self.data)
    }
}

/// How a body that cannot be spooled is refused.
fn spool_refusal(error: SpoolError) -> ParseError {
    match error {
        SpoolError::Full => ParseError::Overloaded,
        SpoolError::Io(error) => {
            crate::logging::log_warn!("cannot spool a request body: {error}");
            ParseError::Storage
        }
    }
}

/// Reads a streamed body: first what the connection had already buffered, then the socket,
/// with the body deadline and size limit, blocking the handler's worker between reads
/// (which is why streaming routes belong on their own pool). After the last byte, anything
/// read beyond the body (a pipelined next request) is kept for the connection.
pub(crate) struct BodyStream {
    io: Box<dyn Stream + Send>,
    decoder: BodyDecoder,
    /// Input not yet consumed: the buffered prefix, then what reads bring.
    raw: Vec<u8>,
    raw_pos: usize,
    /// Decoded data not yet handed out.
    decoded: Vec<u8>,
    decoded_pos: usize,
    read_total: u64,
    limit: u64,
    /// When the handler started reading, and when the body last grew.
    started: Instant,
    last_growth: Instant,
    timeout: Duration,
    /// Bytes a second that earn the body a second beyond its timeout.
    min_rate: u64,
    /// `100 Continue` is owed before the first read from the socket.
    continue_owed: bool,
    failed: bool,
}

impl BodyStream {
    pub(crate) fn new(
        io: Box<dyn Stream + Send>,
        framing: BodyFraming,
        prefix: Vec<u8>,
        limit: u64,
        (timeout, min_rate): (Duration, u64),
        expect_continue: bool,
    ) -> Self {
        Self {
            io,
            decoder: BodyDecoder::new(framing),
            raw: prefix,
            raw_pos: 0,
            decoded: Vec::new(),
            decoded_pos: 0,
            read_total: 0,
            limit,
            started: Instant::now(),
            last_growth: Instant::now(),
            timeout,
            min_rate,
            continue_owed: expect_continue,
            failed: false,
        }
    }

    /// Whether the whole body was read without error.
    pub(crate) fn is_complete(&self) -> bool {
        self.decoder.is_done() && self.decoded_pos == self.decoded.len() && !self.failed
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
        let deadline = body_deadline(
            self.started,
            self.last_growth,
            self.read_total,
            self.timeout,
            self.min_rate,
        );
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(self.fail(io::ErrorKind::TimedOut, "request body read timed out"));
        }
        self.io.set_blocking(Some(remaining))?;
        if self.continue_owed {
            self.continue_owed = false;
            self.io.write_all(CONTINUE)?;
        }
        if self.raw_pos == self.raw.len() {
            self.raw.clear();
            self.raw_pos = 0;
        }
        let start = self.raw.len();
        self.raw.resize(start + max.max(1), 0);
        let result = self.io.read(&mut self.raw[start..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.raw.truncate(start + n);
        match result {
            Ok(0) => Err(self.fail(
                io::ErrorKind::UnexpectedEof,
                "connection closed before the request body was complete",
            )),
            Ok(_) => {
                self.last_growth = Instant::now();
                Ok(())
            }
            Err(e) if is_timeout(&e) => {
                Err(self.fail(io::ErrorKind::TimedOut, "request body read timed out"))
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
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
            if self.decoded_pos < self.decoded.len() {
                let n = out.len().min(self.decoded.len() - self.decoded_pos);
                out[..n].copy_from_slice(&self.decoded[self.decoded_pos..self.decoded_pos + n]);
                self.decoded_pos += n;
                return Ok(n);
            }
            if self.decoder.is_done() {
                return Ok(0);
            }
            self.decoded.clear();
            self.decoded_pos = 0;
            if self.raw_pos < self.raw.len() {
                let used = match self
                    .decoder
                    .decode(&self.raw[self.raw_pos..], &mut self.decoded)
                {
                    Ok(used) => used,
                    Err(_) => {
                        return Err(
                            self.fail(io::ErrorKind::InvalidData, "invalid chunked request body")
                        );
                    }
                };
                self.raw_pos += used;
                self.read_total += self.decoded.len() as u64;
                if self.read_total > self.limit {
                    // The kind a handler can tell from bad input: a limit, answered 413.
                    return Err(self.fail(
                        io::ErrorKind::FileTooLarge,
                        "request body exceeds the limit",
                    ));
                }
                continue;
            }
            // Never read past a Content-Length body: the next request stays in the socket.
            let hint = self.decoder.read_hint();
            self.fill(hint)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_length_body_reserves_little_before_its_bytes_arrive() {
        let body = BufferedBody::new(BodyFraming::Length(1 << 40), u64::MAX, false);
        assert!(body.data.capacity() <= INITIAL_BODY_RESERVE_BYTES);
    }

    #[test]
    fn a_buffered_body_grows_with_what_arrives_and_stops_at_its_end() {
        let mut body = BufferedBody::new(BodyFraming::Length(5), 10, false);
        assert_eq!(body.absorb(b"ab", &Spool::in_memory()).unwrap(), 2);
        assert!(!body.is_complete());
        assert_eq!(body.absorb(b"cdeGET", &Spool::in_memory()).unwrap(), 3);
        assert!(body.is_complete());
        assert_eq!(body.into_data(), b"abcde");
    }

    #[test]
    fn a_chunked_body_over_the_limit_is_refused() {
        let mut body = BufferedBody::new(BodyFraming::Chunked, 3, false);
        assert_eq!(
            body.absorb(b"5\r\nabcde\r\n", &Spool::in_memory()),
            Err(ParseError::BodyTooLarge { limit: 3 })
        );
    }

    #[test]
    fn a_chunk_announced_over_the_limit_is_refused_before_its_data() {
        let mut body = BufferedBody::new(BodyFraming::Chunked, 100, false);
        assert_eq!(
            body.absorb(b"ffffffffffffffff\r\n", &Spool::in_memory()),
            Err(ParseError::BodyTooLarge { limit: 100 })
        );
        let mut body = BufferedBody::new(BodyFraming::Chunked, 100, false);
        assert_eq!(
            body.absorb(b"64\r\n", &Spool::in_memory()).unwrap(),
            4,
            "100 bytes fit"
        );
    }

    /// Hands out `pieces` one per read, then would block (or ends, if `then_eof`).
    struct Pieces {
        pieces: std::collections::VecDeque<Vec<u8>>,
        then_eof: bool,
    }

    impl Read for Pieces {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let Some(mut piece) = self.pieces.pop_front() else {
                return if self.then_eof {
                    Ok(0)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            };
            let n = piece.len().min(out.len());
            out[..n].copy_from_slice(&piece[..n]);
            if n < piece.len() {
                self.pieces.push_front(piece.split_off(n));
            }
            Ok(n)
        }
    }

    #[test]
    fn a_long_body_is_read_straight_in_and_never_past_its_end() {
        let len = 100_000;
        let mut body = BufferedBody::new(BodyFraming::Length(len), u64::MAX, false);
        let bytes: Vec<u8> = (0..len + 10).map(|i| (i % 251) as u8).collect();
        let mut socket = Pieces {
            pieces: [&bytes[..30_000], &bytes[30_000..]]
                .map(<[u8]>::to_vec)
                .into(),
            then_eof: false,
        };
        // All of it arrives in one go, with the next request's first bytes behind it.
        assert!(body.read_direct(&mut socket, u64::MAX).unwrap().unwrap());
        assert!(body.is_complete());
        assert_eq!(body.into_data(), &bytes[..100_000]);
        let rest: Vec<u8> = socket.pieces.into_iter().flatten().collect();
        assert_eq!(
            rest,
            &bytes[100_000..],
            "the next request is left in the socket"
        );

        // Part of it, then nothing for now: what came is kept; then the client leaves.
        let mut body = BufferedBody::new(BodyFraming::Length(len), u64::MAX, false);
        let mut socket = Pieces {
            pieces: [bytes[..20_000].to_vec()].into(),
            then_eof: false,
        };
        let would_block = body
            .read_direct(&mut socket, u64::MAX)
            .unwrap()
            .unwrap_err();
        assert_eq!(would_block.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(body.decoder.bytes_due(), 80_000);
        socket.then_eof = true;
        assert!(!body.read_direct(&mut socket, u64::MAX).unwrap().unwrap());
        assert_eq!(body.into_data(), &bytes[..20_000]);

        // Short or chunked bodies go through the read buffer.
        let mut short = BufferedBody::new(BodyFraming::Length(100), u64::MAX, false);
        assert!(short.read_direct(&mut socket, u64::MAX).is_none());
        let mut chunked = BufferedBody::new(BodyFraming::Chunked, u64::MAX, false);
        assert!(chunked.read_direct(&mut socket, u64::MAX).is_none());
    }

    /// Gathers `body` as the connection does: what `input` holds, then straight from
    /// `socket`, until it is complete or the socket has nothing more.
    fn gather(
        body: &mut BufferedBody,
        input: &[u8],
        socket: &mut Pieces,
        spool: &Spool,
    ) -> Result<bool, ParseError> {
        let mut input = input;
        loop {
            let used = body.absorb(input, spool)?;
            input = &input[used..];
            if body.is_complete() {
                return Ok(true);
            }
            match body.read_direct(socket, u64::MAX) {
                Some(Ok(true)) => {}
                _ => return Ok(false),
            }
        }
    }

    fn file_body(body: BufferedBody) -> crate::spool::BodyFile {
        match body.into_body() {
            RequestBody::File(file) => file,
            _ => panic!("not spooled"),
        }
    }

    #[test]
    fn a_long_body_goes_to_its_file_as_it_arrives_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let files = || std::fs::read_dir(dir.path()).unwrap().count();
        let spool = Spool::new(dir.path().to_path_buf(), 100_000, u64::MAX);
        let len = 1_000_000;
        let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();

        // A Content-Length body over the threshold: spooled from its first byte, and what
        // waits in memory stays under one write's worth.
        let mut body = BufferedBody::new(BodyFraming::Length(len), u64::MAX, false);
        let mut socket = Pieces {
            pieces: bytes[1000..].chunks(7000).map(<[u8]>::to_vec).collect(),
            then_eof: false,
        };
        socket.pieces.truncate(50);
        assert!(!gather(&mut body, &bytes[..1000], &mut socket, &spool).unwrap());
        assert!(body.data.len() < SPOOL_WRITE_BYTES);
        let budget = Arc::new(ByteBudget::new(u64::MAX));
        body.park(&budget, &Spool::in_memory()).unwrap();
        assert_eq!(body.data.len(), 0, "parked with its bytes in its file");
        assert_eq!(budget.used(), 0);
        assert_eq!(files(), 1);
        socket.pieces = bytes[351_000..]
            .chunks(100_000)
            .map(<[u8]>::to_vec)
            .collect();
        assert!(gather(&mut body, &[], &mut socket, &spool).unwrap());
        let file = file_body(body);
        assert_eq!(file.len(), len);
        assert_eq!(file.contents(), &bytes[..]);
        drop(file);
        assert_eq!(files(), 0);

        // A chunked body goes to its file once it is longer than the threshold.
        let mut chunked = Vec::new();
        for piece in bytes[..300_000].chunks(30_000) {
            chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            chunked.extend_from_slice(piece);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let mut body = BufferedBody::new(BodyFraming::Chunked, u64::MAX, false);
        body.absorb(&chunked[..50_000], &spool).unwrap();
        assert!(body.file.is_none(), "under the threshold: in memory");
        body.absorb(&chunked[50_000..], &spool).unwrap();
        assert!(body.is_complete());
        assert_eq!(file_body(body).contents(), &bytes[..300_000]);

        // A client that leaves mid-body: the dropped body takes its file with it.
        let mut body = BufferedBody::new(BodyFraming::Length(len), u64::MAX, false);
        body.absorb(&bytes[..200_000], &spool).unwrap();
        assert_eq!(files(), 1);
        drop(body);
        assert_eq!(files(), 0);
    }

    #[test]
    fn a_body_over_the_spool_budget_is_503_and_an_unwritable_spool_500() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().to_path_buf(), 1000, 100_000);
        let mut body = BufferedBody::new(BodyFraming::Length(200_000), u64::MAX, false);
        assert_eq!(
            body.absorb(&[7; 150_000], &spool),
            Err(ParseError::Overloaded)
        );
        drop(body);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        let nowhere = Spool::new(dir.path().join("missing"), 1000, u64::MAX);
        let mut body = BufferedBody::new(BodyFraming::Length(2000), u64::MAX, false);
        body.absorb(&[7; 10], &nowhere).unwrap();
        let budget = Arc::new(ByteBudget::new(u64::MAX));
        assert_eq!(body.park(&budget, &nowhere), Err(ParseError::Storage));
    }

    #[test]
    fn parked_bodies_share_one_budget_and_give_it_back() {
        let budget = Arc::new(ByteBudget::new(40 * 1024));
        let mut first = BufferedBody::new(BodyFraming::Length(1 << 20), u64::MAX, false);
        first.absorb(&[1; 10_000], &Spool::in_memory()).unwrap();
        first.park(&budget, &Spool::in_memory()).unwrap();
        let held = budget.used();
        assert_eq!(held, 10_000);
        let mut second = BufferedBody::new(BodyFraming::Length(1 << 20), u64::MAX, false);
        second.absorb(&[2; 31_000], &Spool::in_memory()).unwrap();
        assert_eq!(
            second.park(&budget, &Spool::in_memory()),
            Err(ParseError::Overloaded)
        );
        assert_eq!(budget.used(), held, "a refused body takes nothing");
        drop(first);
        assert_eq!(budget.used(), 0);
        second.park(&budget, &Spool::in_memory()).unwrap();
        let data = second.into_data();
        assert_eq!(data.len(), 31_000);
        assert_eq!(budget.used(), 0, "handed to the handler: no longer parked");
    }

    #[test]
    fn continue_is_owed_once_and_only_for_a_body() {
        let mut body = BufferedBody::new(BodyFraming::Length(2), 10, true);
        assert!(body.take_continue_owed());
        assert!(!body.take_continue_owed());
        let mut empty = BufferedBody::new(BodyFraming::Length(0), 10, true);
        assert!(!empty.take_continue_owed());
    }

    #[test]
    fn the_deadline_counts_from_the_first_wait() {
        let mut body = BufferedBody::new(BodyFraming::Length(10_000), 10_000, false);
        let start = Instant::now();
        let first = body.deadline(start, Duration::from_secs(1), 0);
        let later = body.deadline(
            start + Duration::from_millis(500),
            Duration::from_secs(1),
            0,
        );
        assert_eq!(first, later);
        // What arrives earns time at the minimum rate.
        body.absorb(b"x", &Spool::in_memory()).unwrap();
        let earned = body.deadline(
            start + Duration::from_millis(600),
            Duration::from_secs(1),
            4,
        );
        assert_eq!(earned, first + Duration::from_millis(250));
        // Much at once earns much, but not past the timeout after the body last grew.
        body.absorb(&[b'y'; 999], &Spool::in_memory()).unwrap();
        let burst = body.deadline(
            start + Duration::from_millis(700),
            Duration::from_secs(1),
            4,
        );
        assert_eq!(burst, start + Duration::from_millis(1700));
    }
}

//! Response bodies: nothing, bytes in memory, or a reader streamed to the client.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, Sender};

/// A streamed body is read in pieces of at most this size; each read becomes one chunk.
/// The docs of [`Body::from_chunks`] and [`Body::writer`] state it.
pub(crate) const STREAM_READ_BYTES: usize = 16 * 1024;

/// The size of the buffers a [`BodyWriter`] fills and hands over: one read's worth.
const WRITER_BUFFER_BYTES: usize = STREAM_READ_BYTES;

/// How many filled buffers may wait for the reading side before a [`BodyWriter`] blocks.
const WRITER_QUEUE_BUFFERS: usize = 4;

/// The name of the thread that runs a [`Body::writer`] closure.
const WRITER_THREAD_NAME: &str = "switchyard-body-writer";

/// The body of a [`Response`](crate::Response).
///
/// - in-memory bytes are sent with `Content-Length`;
/// - a [`Body::stream`] is sent with `Transfer-Encoding: chunked`, one chunk per `read`;
///   [`Body::from_chunks`] (an iterator) and [`Body::writer`] (a closure that writes) are
///   streams too;
/// - a [`Body::file`] is sent with `Content-Length`, on Linux over a plain connection
///   straight from the page cache (`sendfile(2)`);
/// - a [`Body::sized_stream`] (any reader of known length) is sent with `Content-Length`
///   and copied as read.
///
/// # Examples
///
/// ```
/// use switchyard::Body;
///
/// assert_eq!(Body::from("hello").len(), Some(5));
/// assert_eq!(Body::stream(std::io::empty()).len(), None);
/// assert_eq!(Body::from_chunks(["a", "b"]).len(), None);
/// ```
pub struct Body {
    kind: Kind,
}

pub(crate) enum Kind {
    Bytes(Cow<'static, [u8]>),
    Stream(Box<dyn Read + Send + 'static>),
    SizedStream(Box<dyn Read + Send + 'static>, u64),
    /// `len` bytes of a file: over a plain socket on Linux they go with `sendfile(2)`.
    File(FileRange, u64),
}

/// An open file read from `offset` on, with positioned reads (the file's own position is
/// neither used nor moved), so that the engine can hand the same place to `sendfile(2)`.
pub(crate) struct FileRange {
    pub(crate) file: File,
    pub(crate) offset: u64,
}

impl Read for FileRange {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = crate::io::read_at(&self.file, buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

impl Body {
    /// An empty body (`Content-Length: 0`).
    pub fn empty() -> Self {
        Self::from_bytes(Cow::Borrowed(&[]))
    }

    fn from_bytes(bytes: Cow<'static, [u8]>) -> Self {
        Self {
            kind: Kind::Bytes(bytes),
        }
    }

    /// A body of unknown length, sent chunked: each successful `read` of `reader` becomes
    /// one chunk, until it returns 0. An error while reading ends the connection, since the
    /// response can no longer be completed.
    pub fn stream<R: Read + Send + 'static>(reader: R) -> Self {
        Self {
            kind: Kind::Stream(Box::new(reader)),
        }
    }

    /// A body of unknown length, sent chunked, whose bytes are the items of `chunks` in
    /// order. The iterator is pulled lazily, as the client takes the response, on the
    /// worker that writes it.
    ///
    /// Items are anything that is bytes: `&'static str`, `String`, `Vec<u8>`,
    /// `&'static [u8]`, `[u8; N]` and so on. The server reads a streamed body up to 16 KiB
    /// at a time and sends each read as one chunk; one read here takes as many consecutive
    /// items as fit, so tiny items are gathered into larger chunks (a thousand one-byte
    /// items make one 1000-byte chunk, not a thousand chunks), and an item larger than what
    /// is left of the read continues in the next one. Empty items are skipped.
    ///
    /// A read ends only when its buffer is full or the iterator is, so an iterator that
    /// blocks between items (a channel's, say) holds back what it has yielded until 16 KiB
    /// have gathered. For pieces that must go out as they are made, use [`Body::writer`] and
    /// `flush`.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::{Body, Response};
    ///
    /// let lines = (1..=3).map(|n| format!("line {n}\n"));
    /// let response = Response::bytes(Body::from_chunks(lines));
    /// assert_eq!(response.into_body_bytes()?, b"line 1\nline 2\nline 3\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_chunks<I>(chunks: I) -> Self
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: AsRef<[u8]> + Send + 'static,
    {
        Self::stream(ChunkReader::new(chunks.into_iter()))
    }

    /// A body of unknown length, sent chunked, that `f` writes into a [`BodyWriter`] (an
    /// [`io::Write`]): a serializer, a template engine, a `write!` loop.
    ///
    /// A worker runs handlers but must never wait for a slow client, and a closure that
    /// writes cannot be paused when the socket is full. So `f` runs on a thread of its own,
    /// `switchyard-body-writer`, one per body, started when the server first reads the body
    /// (a response that is never sent, such as the answer to a HEAD request, starts no
    /// thread and never calls `f`).
    ///
    /// - **Buffers.** The writer gathers small writes into 16 KiB buffers and hands each
    ///   one over when it is full; [`flush`](Write::flush) hands over what is buffered at
    ///   once. Each buffer is sent as one chunk, so a flush after each event of a live feed
    ///   sends each event as its own chunk.
    /// - **Back-pressure.** When 4 buffers wait to be sent (the client reads slowly), the
    ///   writer blocks in `write` or `flush` until one has gone out: a body holds at most
    ///   about 96 KiB however much `f` writes.
    /// - **Reading side.** A read of the body waits for the next buffer, so the worker
    ///   that sends the response waits while `f` works on it, as it would for a
    ///   [`Body::stream`] reader.
    /// - **The client goes away.** Once the server drops the body (the client closed the
    ///   connection, or it failed), every write fails with [`io::ErrorKind::BrokenPipe`],
    ///   so `f` should return the error (`?` does). The thread ends when `f` does; nothing
    ///   waits for it.
    /// - **Failure.** If `f` returns an error or panics, the read gets an error, and the
    ///   server closes the connection without the last chunk: the client sees a truncated
    ///   body, the only honest end of a failed chunked response. Bytes still buffered are
    ///   dropped; a panic stays in its thread. If the thread cannot be started, the first
    ///   read returns that error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use switchyard::{Body, Response};
    ///
    /// let body = Body::writer(|out| {
    ///     for n in 1..=3 {
    ///         writeln!(out, "line {n}")?;
    ///     }
    ///     out.flush()?; // sends the three lines as one chunk now
    ///     write!(out, "done")
    /// });
    /// let response = Response::bytes(body);
    /// assert_eq!(response.into_body_bytes()?, b"line 1\nline 2\nline 3\ndone");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn writer<F>(f: F) -> Self
    where
        F: FnOnce(&mut BodyWriter) -> io::Result<()> + Send + 'static,
    {
        Self::stream(WriterReader {
            state: WriterState::Unstarted(f),
        })
    }

    /// A body of `len` bytes read from `reader`, sent with `Content-Length`. If the reader
    /// ends early, the connection is closed (the client sees a truncated response rather than
    /// a wrong one).
    pub fn sized_stream<R: Read + Send + 'static>(reader: R, len: u64) -> Self {
        Self {
            kind: Kind::SizedStream(Box::new(reader), len),
        }
    }

    /// A file from its current position to its current end, sent with that length as
    /// `Content-Length`. Over a plain connection on Linux the bytes go from the kernel's page
    /// cache to the socket (`sendfile(2)`), never through the server's memory, as long as
    /// the process ignores `SIGPIPE` (every Rust program does from its start, unless it
    /// restores the default: then files are copied, as over TLS).
    ///
    /// # Errors
    ///
    /// When the file's metadata cannot be read.
    pub fn file(mut file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        // Something without a position (a pipe, a device) is read from its start.
        let offset = std::io::Seek::stream_position(&mut file)
            .unwrap_or(0)
            .min(len);
        Ok(Self::file_range(file, offset, len - offset))
    }

    /// `len` bytes of `file` from `offset` (a range request's part, say), sent like
    /// [`Body::file`]. The file must hold them: if it ends sooner, the connection is closed.
    pub(crate) fn file_range(file: File, offset: u64, len: u64) -> Self {
        Self {
            kind: Kind::File(FileRange { file, offset }, len),
        }
    }

    /// The length in bytes, when known before sending.
    pub fn len(&self) -> Option<u64> {
        match &self.kind {
            Kind::Bytes(bytes) => Some(bytes.len() as u64),
            Kind::Stream(_) => None,
            Kind::SizedStream(_, len) | Kind::File(_, len) => Some(*len),
        }
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The bytes of an in-memory body; `None` for a streamed one.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Bytes(bytes) => Some(bytes),
            Kind::Stream(_) | Kind::SizedStream(..) | Kind::File(..) => None,
        }
    }

    /// Reads the whole body into memory (streams included).
    ///
    /// # Errors
    ///
    /// What the stream's reader reports.
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        match self.kind {
            Kind::Bytes(bytes) => Ok(bytes.into_owned()),
            Kind::Stream(mut reader) => {
                let mut bytes = Vec::new();
                reader.read_to_end(&mut bytes)?;
                Ok(bytes)
            }
            Kind::SizedStream(reader, len) => {
                let mut bytes = Vec::new();
                reader.take(len).read_to_end(&mut bytes)?;
                Ok(bytes)
            }
            Kind::File(range, len) => Self::sized_stream(range, len).into_bytes(),
        }
    }

    pub(crate) fn into_kind(self) -> Kind {
        self.kind
    }
}

/// A request body as the connection engine hands it over: read in full (in memory, or
/// spooled to a file), or to be read by the handler as it arrives.
pub(crate) enum RequestBody {
    Full(Vec<u8>),
    File(crate::spool::BodyFile),
    Stream(std::sync::Arc<std::sync::Mutex<dyn Read + Send>>),
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Bytes(bytes) => f.debug_tuple("Body::Bytes").field(&bytes.len()).finish(),
            Kind::Stream(_) => f.write_str("Body::Stream(..)"),
            Kind::SizedStream(_, len) => f.debug_tuple("Body::SizedStream").field(len).finish(),
            Kind::File(_, len) => f.debug_tuple("Body::File").field(len).finish(),
        }
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Self::from_bytes(Cow::Borrowed(text.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Self::from_bytes(Cow::Borrowed(bytes))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Self::from_bytes(Cow::Owned(text.into_bytes()))
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Self::from_bytes(Cow::Owned(bytes))
    }
}

impl From<()> for Body {
    fn from((): ()) -> Self {
        Self::empty()
    }
}

/// The reader behind [`Body::from_chunks`]: each read gathers consecutive items until the
/// buffer is full; an item that does not fit carries over to the next read.
struct ChunkReader<I: Iterator> {
    chunks: I,
    /// The item being copied, and how much of it has been.
    current: Option<(I::Item, usize)>,
}

impl<I: Iterator> ChunkReader<I> {
    fn new(chunks: I) -> Self {
        Self {
            chunks,
            current: None,
        }
    }
}

impl<I> Read for ChunkReader<I>
where
    I: Iterator,
    I::Item: AsRef<[u8]>,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            let Some((item, copied)) = &mut self.current else {
                match self.chunks.next() {
                    Some(item) => self.current = Some((item, 0)),
                    None => break,
                }
                continue;
            };
            let rest = &item.as_ref()[*copied..];
            let n = rest.len().min(buf.len() - filled);
            buf[filled..filled + n].copy_from_slice(&rest[..n]);
            filled += n;
            *copied += n;
            if n == rest.len() {
                self.current = None;
            }
        }
        Ok(filled)
    }
}

/// Writes a [`Body::writer`] body: an [`io::Write`] whose bytes become the response body.
///
/// Writes gather in a 16 KiB buffer, handed to the server when it is full or on
/// [`flush`](Write::flush); each buffer becomes one chunk. A write blocks while 4 buffers
/// wait for a slow client. Once the client is gone, writes fail with
/// [`io::ErrorKind::BrokenPipe`]. See [`Body::writer`].
pub struct BodyWriter {
    buffer: Vec<u8>,
    pieces: Sender<Piece>,
    /// Set when the reading side is dropped: the response will not be sent.
    reader_gone: Arc<AtomicBool>,
}

/// What the writer thread hands to the reading side.
enum Piece {
    /// A buffer of the body, never empty.
    Data(Vec<u8>),
    /// `f` returned `Ok` and everything it wrote was handed over.
    End,
    /// `f` returned this error, or panicked.
    Failed(io::Error),
}

impl BodyWriter {
    fn new(pieces: Sender<Piece>, reader_gone: Arc<AtomicBool>) -> Self {
        Self {
            buffer: Vec::with_capacity(WRITER_BUFFER_BYTES),
            pieces,
            reader_gone,
        }
    }

    fn check_reader(&self) -> io::Result<()> {
        if self.reader_gone.load(Ordering::Acquire) {
            return Err(reader_gone());
        }
        Ok(())
    }

    /// Hands the buffer over, waiting while the queue is full.
    fn send_buffer(&mut self) -> io::Result<()> {
        let full = std::mem::replace(&mut self.buffer, Vec::with_capacity(WRITER_BUFFER_BYTES));
        self.pieces.send(Piece::Data(full)).map_err(|_| {
            self.reader_gone.store(true, Ordering::Release);
            reader_gone()
        })
    }

    /// Runs `f` to the end, handing over what it wrote and how it ended.
    fn run<F>(mut self, f: F)
    where
        F: FnOnce(&mut BodyWriter) -> io::Result<()>,
    {
        let last = match panic::catch_unwind(AssertUnwindSafe(|| f(&mut self))) {
            Ok(Ok(())) => match self.flush() {
                Ok(()) => Piece::End,
                // The reading side is gone: nobody to tell.
                Err(_) => return,
            },
            Ok(Err(error)) => Piece::Failed(error),
            Err(payload) => {
                let error = io::Error::other(format!(
                    "body writer panicked: {}",
                    panic_message(&*payload)
                ));
                // Dropping a payload can itself panic; keep that inside this thread too.
                let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
                Piece::Failed(error)
            }
        };
        // A send error means the reading side is gone and nobody waits for the end.
        let _ = self.pieces.send(last);
    }
}

impl Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check_reader()?;
        let n = data.len().min(WRITER_BUFFER_BYTES - self.buffer.len());
        self.buffer.extend_from_slice(&data[..n]);
        if self.buffer.len() == WRITER_BUFFER_BYTES {
            // The bytes are taken either way: if the reading side is gone, the next write
            // or flush says so.
            let _ = self.send_buffer();
        }
        Ok(n)
    }

    /// Hands what is buffered to the server, to be sent as one chunk; waits while 4
    /// buffers are queued.
    fn flush(&mut self) -> io::Result<()> {
        self.check_reader()?;
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.send_buffer()
    }
}

impl fmt::Debug for BodyWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyWriter")
            .field("buffered", &self.buffer.len())
            .field("queued", &self.pieces.len())
            .field("reader_gone", &self.reader_gone.load(Ordering::Acquire))
            .finish()
    }
}

fn reader_gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the response body is no longer read",
    )
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-string payload")
}

/// The reader behind [`Body::writer`]: starts the writer thread on the first read, then
/// returns its buffers one per read.
struct WriterReader<F> {
    state: WriterState<F>,
}

enum WriterState<F> {
    /// Not read yet: no thread, `f` not called.
    Unstarted(F),
    /// The thread runs `f`; `buffer[at..]` is what the last buffer still holds.
    Running {
        pieces: Receiver<Piece>,
        reader_gone: Arc<AtomicBool>,
        thread: JoinHandle<()>,
        buffer: Vec<u8>,
        at: usize,
    },
    /// `f` returned `Ok` and every byte was read.
    Ended,
    /// The body failed; the error went to the read that saw it.
    Failed,
}

impl<F> WriterReader<F>
where
    F: FnOnce(&mut BodyWriter) -> io::Result<()> + Send + 'static,
{
    fn start(f: F) -> io::Result<WriterState<F>> {
        let (sender, pieces) = crossbeam_channel::bounded(WRITER_QUEUE_BUFFERS);
        let reader_gone = Arc::new(AtomicBool::new(false));
        let writer = BodyWriter::new(sender, Arc::clone(&reader_gone));
        let thread = thread::Builder::new()
            .name(WRITER_THREAD_NAME.to_owned())
            .spawn(move || writer.run(f))?;
        Ok(WriterState::Running {
            pieces,
            reader_gone,
            thread,
            buffer: Vec::new(),
            at: 0,
        })
    }
}

impl<F> Read for WriterReader<F>
where
    F: FnOnce(&mut BodyWriter) -> io::Result<()> + Send + 'static,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match &mut self.state {
                WriterState::Unstarted(_) => {
                    // Failed stands in while starting: a spawn error is this body's end.
                    self.state = match std::mem::replace(&mut self.state, WriterState::Failed) {
                        WriterState::Unstarted(f) => Self::start(f)?,
                        other => other,
                    };
                }
                WriterState::Running {
                    pieces, buffer, at, ..
                } => {
                    if *at < buffer.len() {
                        let n = (buffer.len() - *at).min(buf.len());
                        buf[..n].copy_from_slice(&buffer[*at..*at + n]);
                        *at += n;
                        return Ok(n);
                    }
                    let piece = pieces.recv();
                    match piece {
                        Ok(Piece::Data(data)) => {
                            *buffer = data;
                            *at = 0;
                        }
                        Ok(Piece::End) => {
                            self.finish(WriterState::Ended);
                            return Ok(0);
                        }
                        Ok(Piece::Failed(error)) => {
                            self.finish(WriterState::Failed);
                            return Err(error);
                        }
                        Err(_) => {
                            self.finish(WriterState::Failed);
                            return Err(io::Error::other(
                                "body writer thread ended without finishing the body",
                            ));
                        }
                    }
                }
                WriterState::Ended => return Ok(0),
                WriterState::Failed => {
                    return Err(io::Error::other("the body writer failed"));
                }
            }
        }
    }
}

impl<F> WriterReader<F> {
    /// Moves to a final state; the writer thread, having sent its last piece, is joined.
    fn finish(&mut self, end: WriterState<F>) {
        if let WriterState::Running { thread, .. } = std::mem::replace(&mut self.state, end) {
            // It has only to return; its panics were caught inside.
            let _ = thread.join();
        }
    }
}

impl<F> Drop for WriterReader<F> {
    fn drop(&mut self) {
        if let WriterState::Running { reader_gone, .. } = &self.state {
            // The writer's next write fails, so `f` ends; nothing waits for the thread.
            reader_gone.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    /// Bounds every wait for the writer thread.
    const WAIT: Duration = Duration::from_secs(10);

    #[test]
    fn a_file_body_is_the_file_from_its_position_to_its_end() {
        use std::io::{Seek, SeekFrom};

        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"0123456789").unwrap();
        file.seek(SeekFrom::Start(3)).unwrap();
        let body = Body::file(file.try_clone().unwrap()).unwrap();
        assert_eq!(body.len(), Some(7));
        assert_eq!(body.into_bytes().unwrap(), b"3456789");
        let range = Body::file_range(file, 2, 4);
        assert_eq!(range.len(), Some(4));
        assert_eq!(range.into_bytes().unwrap(), b"2345");
    }

    /// The sizes of successive reads of `reader` with a buffer of `buf_len`, and the bytes.
    fn reads(mut reader: impl Read, buf_len: usize) -> (Vec<usize>, Vec<u8>) {
        let mut buf = vec![0; buf_len];
        let (mut sizes, mut bytes) = (Vec::new(), Vec::new());
        loop {
            let n = reader.read(&mut buf).expect("read");
            if n == 0 {
                return (sizes, bytes);
            }
            sizes.push(n);
            bytes.extend_from_slice(&buf[..n]);
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn chunk_reader_gathers_tiny_items_into_one_read() {
        let items = (0..1000).map(|i| vec![(i % 256) as u8]);
        let (sizes, bytes) = reads(ChunkReader::new(items), STREAM_READ_BYTES);
        assert_eq!(sizes, [1000]);
        assert_eq!(
            bytes,
            (0..1000).map(|i| (i % 256) as u8).collect::<Vec<_>>()
        );
    }

    #[test]
    fn chunk_reader_carries_a_large_item_over_to_the_next_reads() {
        let big = pattern(40_000);
        let items = vec![b"ab".to_vec(), big.clone(), b"cd".to_vec()];
        let (sizes, bytes) = reads(ChunkReader::new(items.into_iter()), STREAM_READ_BYTES);
        assert_eq!(sizes, [16_384, 16_384, 40_004 - 2 * 16_384]);
        assert_eq!(bytes, [&b"ab"[..], &big, b"cd"].concat());
    }

    #[test]
    fn chunk_reader_fills_each_read_across_item_boundaries() {
        let items = ["0123456789"; 5].into_iter();
        let (sizes, bytes) = reads(ChunkReader::new(items), 15);
        assert_eq!(sizes, [15, 15, 15, 5]);
        assert_eq!(bytes, "0123456789".repeat(5).as_bytes());
    }

    #[test]
    fn chunk_reader_skips_empty_items_and_ends_on_an_empty_iterator() {
        let items = ["", "a", "", "", "b", ""].into_iter();
        assert_eq!(
            reads(ChunkReader::new(items), 16),
            (vec![2], b"ab".to_vec())
        );
        let (sizes, _) = reads(ChunkReader::new(std::iter::empty::<Vec<u8>>()), 16);
        assert!(sizes.is_empty());
    }

    #[test]
    fn from_chunks_takes_strings_vectors_and_static_slices() {
        let owned = Body::from_chunks(vec![String::from("a"), String::from("b")]);
        assert_eq!(owned.into_bytes().unwrap(), b"ab");
        let vectors = Body::from_chunks([vec![1u8], vec![2, 3]]);
        assert_eq!(vectors.into_bytes().unwrap(), [1, 2, 3]);
        let slices = Body::from_chunks([&b"x"[..], b"yz"]);
        assert_eq!(slices.into_bytes().unwrap(), b"xyz");
    }

    #[test]
    fn writer_gathers_small_writes_into_16_kib_buffers() {
        let body = Body::writer(|out| {
            for byte in pattern(40_000) {
                out.write_all(&[byte])?;
            }
            Ok(())
        });
        let (sizes, bytes) = reads(writer_reader(body), STREAM_READ_BYTES);
        assert_eq!(sizes, [16_384, 16_384, 40_000 - 2 * 16_384]);
        assert_eq!(bytes, pattern(40_000));
    }

    #[test]
    fn writer_flush_hands_over_what_is_buffered_as_one_read() {
        let body = Body::writer(|out| {
            out.write_all(b"ab")?;
            out.flush()?;
            out.flush()?; // nothing buffered: nothing sent
            out.write_all(b"cde")
        });
        let (sizes, bytes) = reads(writer_reader(body), STREAM_READ_BYTES);
        assert_eq!(sizes, [2, 3]);
        assert_eq!(bytes, b"abcde");
    }

    #[test]
    fn writer_runs_on_its_own_named_thread() {
        let body = Body::writer(|out| {
            let name = thread::current().name().unwrap_or("unnamed").to_owned();
            out.write_all(name.as_bytes())
        });
        assert_eq!(body.into_bytes().unwrap(), b"switchyard-body-writer");
    }

    #[test]
    fn an_unread_writer_body_never_calls_its_closure() {
        let (called, calls) = mpsc::channel::<()>();
        let body = Body::writer(move |_| {
            let _ = called.send(());
            Ok(())
        });
        drop(body);
        // Dropping the body dropped the closure (and its sender) without calling it.
        assert_eq!(
            calls.recv_timeout(WAIT),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
    }

    #[test]
    fn writer_error_becomes_a_read_error() {
        let body = Body::writer(|out| {
            out.write_all(b"never flushed")?;
            Err(io::Error::new(io::ErrorKind::InvalidData, "template broke"))
        });
        let mut reader = writer_reader(body);
        let mut buf = [0; 64];
        let error = reader.read(&mut buf).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(error.to_string(), "template broke");
        assert!(reader.read(&mut buf).is_err(), "a failed body stays failed");
    }

    #[test]
    fn writer_panic_becomes_a_read_error_after_the_flushed_bytes() {
        let body = Body::writer(|out| {
            out.write_all(b"sent")?;
            out.flush()?;
            panic!("writer panics on purpose");
        });
        let mut reader = writer_reader(body);
        let mut buf = [0; 64];
        assert_eq!(reader.read(&mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"sent");
        let error = reader.read(&mut buf).unwrap_err();
        assert_eq!(
            error.to_string(),
            "body writer panicked: writer panics on purpose"
        );
    }

    #[test]
    fn dropping_the_reader_breaks_the_writer_with_broken_pipe() {
        let (ended, end) = mpsc::channel();
        let body = Body::writer(move |out| {
            let result = loop {
                if let Err(error) = out.write_all(&[b'x'; 1000]) {
                    break error;
                }
            };
            let _ = ended.send(result.kind());
            Err(result)
        });
        let mut reader = writer_reader(body);
        let mut buf = vec![0; STREAM_READ_BYTES];
        assert_eq!(reader.read(&mut buf).unwrap(), STREAM_READ_BYTES);
        drop(reader); // the client went away; the writer is blocked or writing
        assert_eq!(end.recv_timeout(WAIT), Ok(io::ErrorKind::BrokenPipe));
    }

    #[test]
    fn writer_blocks_while_four_buffers_wait() {
        let (progress, written) = mpsc::channel();
        let body = Body::writer(move |out| {
            for n in 1..=8 {
                out.write_all(&[b'x'; WRITER_BUFFER_BYTES])?;
                let _ = progress.send(n);
            }
            Ok(())
        });
        let mut reader = writer_reader(body);
        let mut buf = vec![0; STREAM_READ_BYTES];
        assert_eq!(reader.read(&mut buf).unwrap(), WRITER_BUFFER_BYTES);
        // One buffer read, four queued: the sixth write waits for the reader.
        for n in 1..=1 + WRITER_QUEUE_BUFFERS {
            assert_eq!(written.recv_timeout(WAIT), Ok(n));
        }
        assert_eq!(
            written.recv_timeout(Duration::from_millis(200)),
            Err(mpsc::RecvTimeoutError::Timeout),
            "the writer ran ahead of the queue"
        );
        assert_eq!(reader.read(&mut buf).unwrap(), WRITER_BUFFER_BYTES);
        assert_eq!(written.recv_timeout(WAIT), Ok(2 + WRITER_QUEUE_BUFFERS));
        let (sizes, _) = reads(reader, STREAM_READ_BYTES);
        assert_eq!(sizes, [WRITER_BUFFER_BYTES; 6]);
    }

    /// The reader of a streamed body.
    fn writer_reader(body: Body) -> Box<dyn Read + Send> {
        match body.into_kind() {
            Kind::Stream(reader) => reader,
            _ => panic!("Body::writer is a stream"),
        }
    }
}

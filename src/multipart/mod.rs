//! `multipart/form-data` bodies (RFC 7578, feature `multipart`): what an HTML form with a
//! file input sends. [`Request::multipart`] reads the parts in order as the body arrives,
//! each a [`Read`] of its own bytes, so a file part of any size goes to disk or a hash
//! without being held in memory; [`Multipart::save_to`] gathers the text fields and writes
//! the files into a directory.
//!
//! Hand-written rather than `multer`, the ecosystem's parser: multer is async, and it reads
//! its stream until the stream says "pending", which a blocking body reader never does, so
//! it would gather a whole upload in memory (it also brings `futures-util`, `encoding_rs`
//! and `spin`). The `multipart` crate is synchronous but unmaintained since 2021. The format
//! is small: a delimiter search, part headers (parsed by `httparse`, as request heads are)
//! and one header's parameters.
//!
//! ```text
//!   preamble ─► delimiter ─► part headers ─► part body ─► delimiter ─► ... ─► "--"
//!   (ignored)   "--" boundary  (to CRLF CRLF)  (a Read)   "\r\n--" boundary     epilogue
//!                                                                           (ignored)
//! ```

use std::io::{self, Read};

use http::HeaderMap;

use crate::request::Request;

/// Default for [`Multipart::max_parts`].
pub const DEFAULT_MAX_PARTS: usize = 128;
/// Default for [`Multipart::max_part_header_bytes`].
pub const DEFAULT_MAX_PART_HEADER_BYTES: usize = 8 * 1024;
/// Default for [`Multipart::max_field_bytes`].
pub const DEFAULT_MAX_FIELD_BYTES: u64 = 1 << 20;

/// Bytes read from the body at a time.
const READ_CHUNK: usize = 16 * 1024;
/// Epilogue bytes read and dropped after the close delimiter (so a streamed body is read to
/// its end and the connection stays usable); a longer one is left unread.
const MAX_EPILOGUE_BYTES: u64 = 64 * 1024;

mod error;
mod head;
mod save;

pub use error::MultipartError;
use head::{MAX_PART_HEADERS, PartHead, boundary_of};
pub use save::{Form, SavedFile};

impl Request {
    /// Reads the body as `multipart/form-data`, part by part, with one 16 KiB buffer. For
    /// uploads, raise the route's limit
    /// ([`Router::max_body_bytes`](crate::Router::max_body_bytes)): a body past
    /// [`Limits::spool_threshold`](crate::Limits::spool_threshold) was spooled to a file
    /// as it arrived and is read from there, so an upload of any size costs no memory
    /// and held no worker while it arrived. On a route that streams its bodies
    /// ([`Router::stream_bodies`](crate::Router::stream_bodies)) the parts are read from
    /// the connection as they arrive, holding the worker. Requires the feature
    /// `multipart`.
    ///
    /// # Errors
    ///
    /// [`MultipartError::NotMultipart`] (415 as a [`Rejection`](crate::Rejection)) for
    /// another content type, [`MultipartError::InvalidBoundary`] (400) without a valid
    /// boundary.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use switchyard::{Rejection, Request, Router};
    ///
    /// let router = Router::new().post("/upload", |req: &Request| -> Result<String, Rejection> {
    ///     let mut form = req.multipart()?;
    ///     let mut seen = Vec::new();
    ///     while let Some(mut part) = form.next_part()? {
    ///         let name = part.name().to_owned();
    ///         // A read error carries the MultipartError: a limit broken is a 413.
    ///         let size = std::io::copy(&mut part, &mut std::io::sink())
    ///             .map_err(switchyard::multipart::MultipartError::from)?;
    ///         seen.push(format!("{name}: {size}"));
    ///     }
    ///     Ok(seen.join(", "))
    /// });
    /// let body = "--XyZ\r\n\
    ///     Content-Disposition: form-data; name=\"title\"\r\n\r\n\
    ///     Holidays\r\n\
    ///     --XyZ\r\n\
    ///     Content-Disposition: form-data; name=\"photo\"; filename=\"beach.jpg\"\r\n\
    ///     Content-Type: image/jpeg\r\n\r\n\
    ///     JPEG...\r\n\
    ///     --XyZ--\r\n";
    /// let request = http::Request::post("/upload")
    ///     .header("content-type", "multipart/form-data; boundary=XyZ")
    ///     .body(body)?;
    /// let res = router.handle(request);
    /// assert_eq!(res.into_body_bytes()?, b"title: 8, photo: 7");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn multipart(&self) -> Result<Multipart<crate::request::BodyReader<'_>>, MultipartError> {
        let content_type = self
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let boundary = boundary_of(content_type)?;
        Ok(Multipart::new(self.body_reader(), &boundary))
    }
}

/// A `multipart/form-data` body being read part by part; see [`Request::multipart`].
///
/// Limits (each answered 413 when exceeded, as a [`Rejection`](crate::Rejection)): [`max_parts`]
/// (default 128), [`max_part_header_bytes`] (8 KiB), [`max_field_bytes`] for a part
/// without a file name (1 MiB), [`max_file_bytes`] for a file part (none beyond the
/// route's body limit).
///
/// [`max_parts`]: Self::max_parts
/// [`max_part_header_bytes`]: Self::max_part_header_bytes
/// [`max_field_bytes`]: Self::max_field_bytes
/// [`max_file_bytes`]: Self::max_file_bytes
#[derive(Debug)]
pub struct Multipart<R> {
    reader: R,
    /// Bytes read and not consumed: `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// How many bytes at `pos` are known to hold no delimiter (searched already).
    clear: usize,
    eof: bool,
    /// `\r\n--boundary`. The body is read as if it began with `\r\n`, so the first
    /// delimiter, which has no line break before it, is found like the others.
    delimiter: Vec<u8>,
    state: State,
    parts: usize,
    /// The part being read: its body's bytes so far, its limit, and what to call it in an
    /// error.
    part_read: u64,
    part_limit: u64,
    part_is_file: bool,
    part_name: String,
    max_parts: usize,
    max_part_header_bytes: usize,
    max_field_bytes: u64,
    max_file_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter (the preamble), or inside a part's body.
    Body,
    /// Just after a delimiter: a line end and a part's headers, or `--` and the end.
    AfterDelimiter,
    /// The close delimiter was read.
    Done,
    /// An error was returned: nothing more is read.
    Failed,
}

impl<R: Read> Multipart<R> {
    /// Reads `reader` as a multipart body whose parts are separated by `boundary` (the
    /// content type's parameter): for bodies that do not come from a [`Request`].
    pub fn new(reader: R, boundary: &str) -> Self {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        Self {
            reader,
            buf: b"\r\n".to_vec(),
            pos: 0,
            clear: 0,
            eof: false,
            delimiter,
            state: State::Body,
            parts: 0,
            part_read: 0,
            part_limit: u64::MAX,
            part_is_file: false,
            part_name: String::new(),
            max_parts: DEFAULT_MAX_PARTS,
            max_part_header_bytes: DEFAULT_MAX_PART_HEADER_BYTES,
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
            max_file_bytes: u64::MAX,
        }
    }

    /// At most `limit` parts (default [`DEFAULT_MAX_PARTS`]).
    #[must_use]
    pub fn max_parts(mut self, limit: usize) -> Self {
        self.max_parts = limit;
        self
    }

    /// At most `limit` bytes of headers per part (default
    /// [`DEFAULT_MAX_PART_HEADER_BYTES`]).
    #[must_use]
    pub fn max_part_header_bytes(mut self, limit: usize) -> Self {
        self.max_part_header_bytes = limit;
        self
    }

    /// At most `limit` bytes in a part without a file name, a text field (default
    /// [`DEFAULT_MAX_FIELD_BYTES`]).
    #[must_use]
    pub fn max_field_bytes(mut self, limit: u64) -> Self {
        self.max_field_bytes = limit;
        self
    }

    /// At most `limit` bytes in a file part (default: no limit beyond the route's body
    /// limit).
    #[must_use]
    pub fn max_file_bytes(mut self, limit: u64) -> Self {
        self.max_file_bytes = limit;
        self
    }

    /// The next part, or `None` after the last. What was not read of the previous part is
    /// skipped.
    ///
    /// # Errors
    ///
    /// A [`MultipartError`] when the body is malformed, ends early, exceeds a limit or
    /// cannot be read; after one, every call returns [`MultipartError::Malformed`].
    pub fn next_part(&mut self) -> Result<Option<Part<'_, R>>, MultipartError> {
        match self.advance() {
            Ok(Some(head)) => Ok(Some(Part {
                multipart: self,
                head,
            })),
            Ok(None) => Ok(None),
            Err(error) => {
                self.state = State::Failed;
                Err(error)
            }
        }
    }

    fn advance(&mut self) -> Result<Option<PartHead>, MultipartError> {
        loop {
            match self.state {
                State::Failed => return Err(MultipartError::Malformed("read after an error")),
                State::Done => return Ok(None),
                State::Body => {
                    // The rest of the preamble or of the previous part, unlimited.
                    self.part_limit = u64::MAX;
                    let mut scratch = [0u8; 4096];
                    while self.read_body(&mut scratch)? > 0 {}
                }
                State::AfterDelimiter => return self.after_delimiter(),
            }
        }
    }

    /// After a delimiter: `--` ends the body; otherwise optional white space, a line end,
    /// and a part's headers.
    fn after_delimiter(&mut self) -> Result<Option<PartHead>, MultipartError> {
        self.fill_to(2)?;
        if self.buf[self.pos..].starts_with(b"--") {
            self.state = State::Done;
            self.pos += 2;
            self.drain_epilogue();
            return Ok(None);
        }
        loop {
            self.fill_to(2)?;
            match self.buf[self.pos] {
                b' ' | b'\t' => self.pos += 1,
                _ if self.buf[self.pos..].starts_with(b"\r\n") => {
                    self.pos += 2;
                    break;
                }
                _ => return Err(MultipartError::Malformed("no line break after a boundary")),
            }
        }
        self.parts += 1;
        if self.parts > self.max_parts {
            return Err(MultipartError::TooManyParts {
                limit: self.max_parts,
            });
        }
        let head = self.read_part_head()?;
        self.part_read = 0;
        self.part_is_file = head.filename.is_some();
        self.part_limit = if self.part_is_file {
            self.max_file_bytes
        } else {
            self.max_field_bytes
        };
        self.part_name.clone_from(&head.name);
        self.state = State::Body;
        Ok(Some(head))
    }

    fn read_part_head(&mut self) -> Result<PartHead, MultipartError> {
        loop {
            let mut slots = [httparse::EMPTY_HEADER; MAX_PART_HEADERS];
            let available = &self.buf[self.pos..];
            let window = &available[..available.len().min(self.max_part_header_bytes)];
            match httparse::parse_headers(window, &mut slots) {
                Ok(httparse::Status::Complete((length, fields))) => {
                    let head = PartHead::from_fields(fields)?;
                    self.pos += length;
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) => {
                    if window.len() >= self.max_part_header_bytes {
                        return Err(MultipartError::HeadersTooLarge {
                            limit: self.max_part_header_bytes,
                        });
                    }
                    if !self.fill()? {
                        return Err(MultipartError::UnexpectedEnd);
                    }
                }
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(MultipartError::Malformed("too many headers in a part"));
                }
                Err(_) => return Err(MultipartError::Malformed("invalid part headers")),
            }
        }
    }

    /// Reads the current part's body into `out`; 0 once it ended (the delimiter after it
    /// is consumed).
    fn read_body(&mut self, out: &mut [u8]) -> Result<usize, MultipartError> {
        if self.state != State::Body || out.is_empty() {
            return Ok(0);
        }
        loop {
            let available = &self.buf[self.pos..];
            if self.clear > 0 {
                let n = self.clear.min(out.len());
                out[..n].copy_from_slice(&available[..n]);
                self.pos += n;
                self.clear -= n;
                self.count(n)?;
                return Ok(n);
            }
            let (data, ended) = match find(available, &self.delimiter) {
                Some(at) => (at, true),
                // A delimiter may begin in the last bytes: keep them for the next read.
                None => (
                    available.len().saturating_sub(self.delimiter.len() - 1),
                    false,
                ),
            };
            if data > 0 {
                let n = data.min(out.len());
                out[..n].copy_from_slice(&available[..n]);
                self.pos += n;
                self.clear = data - n;
                self.count(n)?;
                return Ok(n);
            }
            if ended {
                self.pos += self.delimiter.len();
                self.state = State::AfterDelimiter;
                return Ok(0);
            }
            if !self.fill()? {
                return Err(MultipartError::UnexpectedEnd);
            }
        }
    }

    fn count(&mut self, n: usize) -> Result<(), MultipartError> {
        self.part_read += n as u64;
        if self.part_read <= self.part_limit {
            return Ok(());
        }
        let name = self.part_name.clone();
        let limit = self.part_limit;
        Err(if self.part_is_file {
            MultipartError::FileTooLarge { name, limit }
        } else {
            MultipartError::FieldTooLarge { name, limit }
        })
    }

    /// Reads more of the body; false at its end.
    fn fill(&mut self) -> Result<bool, MultipartError> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + READ_CHUNK, 0);
        let read = loop {
            match self.reader.read(&mut self.buf[len..]) {
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        let n = match read {
            Ok(n) => n,
            Err(error) => {
                self.buf.truncate(len);
                return Err(error.into());
            }
        };
        self.buf.truncate(len + n);
        self.eof = n == 0;
        Ok(n > 0)
    }

    /// Reads until at least `n` bytes are buffered.
    fn fill_to(&mut self, n: usize) -> Result<(), MultipartError> {
        while self.buf.len() - self.pos < n {
            if !self.fill()? {
                return Err(MultipartError::UnexpectedEnd);
            }
        }
        Ok(())
    }

    /// Reads and drops what follows the close delimiter, within a bound: a streamed body
    /// read to its end leaves its connection usable.
    fn drain_epilogue(&mut self) {
        self.buf.clear();
        self.pos = 0;
        let _ = io::copy(
            &mut (&mut self.reader).take(MAX_EPILOGUE_BYTES),
            &mut io::sink(),
        );
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while from + needle.len() <= haystack.len() {
        let at = from
            + haystack[from..=haystack.len() - needle.len()]
                .iter()
                .position(|&b| b == first)?;
        if haystack[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// One part of a [`Multipart`] body: its name, file name and type, and a [`Read`] of its
/// bytes, which ends where the part does. A read that breaks a limit or meets a malformed
/// body fails with an `io::Error` carrying the [`MultipartError`]:
/// `MultipartError::from(error)` takes it out (and `?` then makes it a
/// [`Rejection`](crate::Rejection) with the right status). [`read_all`](Self::read_all)
/// does this itself.
#[derive(Debug)]
pub struct Part<'m, R> {
    multipart: &'m mut Multipart<R>,
    head: PartHead,
}

impl<R: Read> Part<'_, R> {
    /// The form field's name (`name` of `Content-Disposition`).
    pub fn name(&self) -> &str {
        &self.head.name
    }

    /// The client's name for the file, for a file field (`filename`). Not a safe path:
    /// never join it to a directory as it is.
    pub fn filename(&self) -> Option<&str> {
        self.head.filename.as_deref()
    }

    /// The part's `Content-Type`, if it has one (browsers send it for files).
    pub fn content_type(&self) -> Option<&str> {
        self.head.content_type.as_deref()
    }

    /// Every header of the part.
    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }

    /// Reads the rest of the part into memory (within its limit).
    ///
    /// # Errors
    ///
    /// As [`Multipart::next_part`].
    pub fn read_all(&mut self) -> Result<Vec<u8>, MultipartError> {
        let mut bytes = Vec::new();
        self.read_to_end(&mut bytes).map_err(MultipartError::from)?;
        Ok(bytes)
    }
}

impl<R: Read> Read for Part<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.multipart.read_body(out).map_err(|error| {
            self.multipart.state = State::Failed;
            match error {
                MultipartError::Io(error) => error,
                other => io::Error::new(io::ErrorKind::InvalidData, other),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Rejection;

    /// A part as read: name, file name, bytes.
    type ReadPart = (String, Option<String>, Vec<u8>);

    /// A reader that hands out its bytes `step` at a time.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.bytes.len());
            out[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    const BODY: &[u8] = b"preamble, ignored\r\n\
--b0undary\r\n\
Content-Disposition: form-data; name=\"title\"\r\n\
\r\n\
Holidays\r\n\
--b0undary  \r\n\
Content-Disposition: form-data; name=\"photo\"; filename=\"C:\\\\pics\\\\beach \\\"1\\\".jpg\"\r\n\
Content-Type: image/jpeg\r\n\
\r\n\
\r\n--b0undar not yet\r\n\r\n\
--b0undary--\r\n\
epilogue, ignored";

    fn parts(body: &[u8], step: usize) -> Result<Vec<ReadPart>, MultipartError> {
        let mut multipart = Multipart::new(Trickle { bytes: body, step }, "b0undary");
        let mut out = Vec::new();
        while let Some(mut part) = multipart.next_part()? {
            let bytes = part.read_all()?;
            out.push((
                part.name().to_owned(),
                part.filename().map(str::to_owned),
                bytes,
            ));
        }
        Ok(out)
    }

    #[test]
    fn parts_read_alike_whatever_the_body_s_pieces() {
        for step in [1, 2, 3, 7, 13, 64, 4096] {
            let parts = parts(BODY, step).unwrap();
            assert_eq!(parts.len(), 2, "step {step}");
            assert_eq!(parts[0], ("title".into(), None, b"Holidays".to_vec()));
            assert_eq!(parts[1].0, "photo");
            assert_eq!(parts[1].1.as_deref(), Some("C:\\pics\\beach \"1\".jpg"));
            assert_eq!(parts[1].2, b"\r\n--b0undar not yet\r\n");
        }
    }

    #[test]
    fn a_body_may_start_with_its_first_boundary_and_a_part_may_be_empty() {
        let body = b"--b0undary\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--b0undary--";
        assert_eq!(
            parts(body, 5).unwrap(),
            vec![("a".into(), None, Vec::new())]
        );
    }

    #[test]
    fn a_missing_close_delimiter_or_a_broken_part_is_an_error() {
        let cut = &BODY[..BODY.len() - 30];
        assert!(matches!(parts(cut, 4), Err(MultipartError::UnexpectedEnd)));
        let no_name = b"--b0undary\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b0undary--";
        assert!(matches!(
            parts(no_name, 4),
            Err(MultipartError::Malformed(_))
        ));
        let junk = b"--b0undaryX\r\n";
        assert!(matches!(parts(junk, 4), Err(MultipartError::Malformed(_))));
        assert!(matches!(parts(b"", 4), Err(MultipartError::UnexpectedEnd)));
    }

    #[test]
    fn limits_are_413s_naming_the_field() {
        let multipart = |limit| {
            Multipart::new(
                Trickle {
                    bytes: BODY,
                    step: 3,
                },
                "b0undary",
            )
            .max_field_bytes(limit)
        };
        let mut form = multipart(4);
        let mut part = form.next_part().unwrap().unwrap();
        let error = part.read_all().unwrap_err();
        assert!(
            matches!(&error, MultipartError::FieldTooLarge { name, limit: 4 } if name == "title")
        );
        let rejection = Rejection::from(error);
        assert_eq!(rejection.status(), 413);
        assert_eq!(
            rejection.details(),
            [("field".to_owned(), "title".to_owned())]
        );
        assert!(form.next_part().is_err(), "nothing is read after an error");

        let mut form = Multipart::new(BODY, "b0undary").max_parts(1);
        form.next_part().unwrap().unwrap();
        assert!(matches!(
            form.next_part(),
            Err(MultipartError::TooManyParts { limit: 1 })
        ));
        let mut form = Multipart::new(BODY, "b0undary").max_file_bytes(5);
        assert!(form.next_part().unwrap().unwrap().read_all().is_ok());
        let error = form.next_part().unwrap().unwrap().read_all().unwrap_err();
        assert!(matches!(
            error,
            MultipartError::FileTooLarge { limit: 5, .. }
        ));
        let mut form = Multipart::new(BODY, "b0undary").max_part_header_bytes(20);
        assert!(matches!(
            form.next_part(),
            Err(MultipartError::HeadersTooLarge { limit: 20 })
        ));
    }

    #[test]
    fn unread_parts_are_skipped() {
        let mut form = Multipart::new(
            Trickle {
                bytes: BODY,
                step: 2,
            },
            "b0undary",
        );
        assert_eq!(form.next_part().unwrap().unwrap().name(), "title");
        assert_eq!(form.next_part().unwrap().unwrap().name(), "photo");
        assert!(form.next_part().unwrap().is_none());
        assert!(form.next_part().unwrap().is_none());
    }

    #[test]
    fn the_boundary_comes_from_the_content_type() {
        assert_eq!(
            boundary_of("multipart/form-data; boundary=abc").unwrap(),
            "abc"
        );
        assert_eq!(
            boundary_of("Multipart/Form-Data; charset=x; BOUNDARY=\"a b;c\"").unwrap(),
            "a b;c"
        );
        assert!(matches!(
            boundary_of("text/plain; boundary=a"),
            Err(MultipartError::NotMultipart)
        ));
        assert!(matches!(
            boundary_of("multipart/form-data"),
            Err(MultipartError::InvalidBoundary)
        ));
        let long = format!("multipart/form-data; boundary={}", "x".repeat(71));
        assert!(matches!(
            boundary_of(&long),
            Err(MultipartError::InvalidBoundary)
        ));
    }

    #[test]
    fn save_to_writes_files_under_names_of_its_own() {
        let dir = std::env::temp_dir().join(format!("switchyard-multipart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let form = Multipart::new(BODY, "b0undary").save_to(&dir).unwrap();
        assert_eq!(form.field("title"), Some("Holidays"));
        let file = &form.files[0];
        assert_eq!(file.filename, "C:\\pics\\beach \"1\".jpg");
        assert_eq!(file.content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(file.path.parent(), Some(dir.as_path()));
        assert_eq!(
            std::fs::read(&file.path).unwrap(),
            b"\r\n--b0undar not yet\r\n"
        );
        assert_eq!(file.size, 21);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn save_to_leaves_no_file_when_the_body_breaks_off() {
        let dir = tempfile::tempdir().unwrap();
        // The file part's data complete, the closing delimiter cut short.
        let close = BODY.windows(12).position(|w| w == b"--b0undary--").unwrap();
        let cut = &BODY[..close + 5];
        let saved = Multipart::new(cut, "b0undary").save_to(dir.path());
        assert!(saved.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

//! [`Compression`]: gzip responses for the clients that accept them (feature `compression`).
//!
//! The decision, per response:
//!
//! ```text
//! Accept-Encoding ──► negotiate ──► gzip | identity | nothing acceptable
//! response ──────────► classify ──► no content | not worth it | compressible
//!
//!                   gzip                identity            nothing acceptable
//! no content        as is (304: Vary)   as is (304: Vary)   as is (304: Vary)
//! not worth it      as is               as is               406 + Vary
//! compressible      gzip + Vary         as is + Vary        406 + Vary
//! ```

use std::io::{self, Read, Write};

use flate2::write::GzEncoder;
use http::StatusCode;
use http::header::{
    ACCEPT_ENCODING, ACCEPT_RANGES, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, HeaderMap, HeaderValue,
};

use super::negotiate::{AcceptEncoding, Choice, Coding};
use super::{Plugin, append_vary};
use crate::body::{Body, Kind, STREAM_READ_BYTES};
use crate::middleware::{Middleware, Next};
use crate::request::Request;
use crate::response::Response;
use crate::router::Router;

/// Bodies shorter than this many bytes are sent as they are: gzip's 18 bytes of framing
/// and the CPU time outweigh what it saves on them.
pub const DEFAULT_MIN_COMPRESS_BYTES: u64 = 256;

/// The compression level [`Compression::new`] uses: zlib's default, the usual balance of
/// speed and size (0 stores only, 9 compresses hardest).
pub const DEFAULT_COMPRESSION_LEVEL: u32 = 6;

/// The highest compression level deflate has.
const MAX_COMPRESSION_LEVEL: u32 = 9;

/// Media type prefixes never compressed: their formats are compressed already.
const SKIPPED_TYPE_PREFIXES: &[&str] = &["image/", "audio/", "video/"];

/// Media types under [`SKIPPED_TYPE_PREFIXES`] that are text, and compress well.
const COMPRESSED_ANYWAY: &[&str] = &["image/svg+xml"];

/// Media types never compressed: server-sent events (small events, which proxies tend to
/// hold back when compressed), opaque bytes of unknown kind (most often an archive or a
/// media file already), and compressed archives and fonts.
const SKIPPED_TYPES: &[&str] = &[
    "text/event-stream",
    "application/octet-stream",
    "application/gzip",
    "application/x-gzip",
    "application/zip",
    "application/zstd",
    "font/woff",
    "font/woff2",
];

/// The body of a 406 answer.
const NOT_ACCEPTABLE_MESSAGE: &str =
    "Not Acceptable: this response is available only as gzip or identity\n";

/// Compresses responses with gzip for the clients that accept it, as middleware (or a
/// [`Plugin`]) on a router.
///
/// **Negotiation** (RFC 9110 §12.5.3). `Accept-Encoding` is read with its q-values: `gzip`
/// and `x-gzip` name gzip, `*` stands for every coding not listed, `q=0` excludes one,
/// entries that do not parse are ignored, and a coding listed twice gets the lower of its
/// q-values (so `q=0` excludes it wherever it stands). gzip is chosen when its q-value is above 0 and at
/// least that of `identity` (which, when neither it nor `*` is listed, ranks below every
/// listed coding); otherwise the response goes out as it is, as it does without
/// `Accept-Encoding` or with an empty one. A client that excludes `identity`
/// (`identity;q=0`, or `*;q=0` without an `identity` entry) and accepts no gzip gets `406
/// Not Acceptable` instead of the response, unless the response has no content to encode
/// (the route runs first: its response decides). Brotli is not offered.
///
/// **What is compressed.** A response with content, that is:
///
/// - not 1xx, 204, 206 or 304, and without `Content-Encoding` or `Content-Range` already;
/// - not shorter than [`min_size`](Self::min_size) ([`DEFAULT_MIN_COMPRESS_BYTES`] unless
///   set; a stream of unknown length counts as long enough);
/// - not of a type that is compressed already or must not be held back: `image/*` (but
///   `image/svg+xml` is compressed), `audio/*`, `video/*`, `application/octet-stream` (set a
///   precise `Content-Type` to have bytes compressed), gzip, zip and zstd archives, WOFF
///   fonts, and `text/event-stream`. A response without `Content-Type` is compressed.
///
/// Such a response gets `Vary: Accept-Encoding` (added to any `Vary` it has) whether or not
/// this client gets it compressed, so that caches keep the two apart. A 304 gets it too,
/// as the 200 it stands for would have (RFC 9110 §15.4.5).
///
/// **A compressed response** gets `Content-Encoding: gzip`; loses `Content-Length` (the
/// server frames the new body itself) and `Accept-Ranges` (ranges would count bytes of the
/// uncompressed body); and its strong `ETag` becomes weak (`"x"` becomes `W/"x"`), as the
/// bytes differ from the uncompressed response's (RFC 9110 §8.8.1). A 304 to a client that
/// accepts gzip gets the weakened `ETag` too.
///
/// - An in-memory body is compressed at once and sent with its new `Content-Length`.
/// - A streamed body ([`Body::stream`], [`Body::from_chunks`], [`Body::writer`],
///   [`Body::sized_stream`], [`Body::file`]) stays a stream, sent chunked: each read of it
///   is compressed and flushed (a deflate sync flush) as one piece, sent as one chunk (two
///   if it does not shrink below 16 KiB), so what the client has after each piece decodes
///   to every byte read so far, and a live feed stays live. Each stream holds a deflate
///   state (a few hundred KiB) while it is sent.
///
/// **HEAD** is treated as GET: the response carries the headers the GET response would,
/// `Content-Length` of the compressed body included, so an in-memory body is compressed to
/// be measured and then dropped.
///
/// **Order:** add it before middleware that edits response bodies, so that it runs outside
/// them and compresses what they produce.
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use switchyard::{Compression, Request, Router};
///
/// let page = "<p>hello</p>\n".repeat(100);
/// let body = page.clone();
/// let router = Router::new()
///     .plugin(Compression::new())
///     .get("/", move |_: &Request| switchyard::Response::html(body.clone()));
///
/// let req = http::Request::get("/").header("accept-encoding", "gzip, br;q=0.9").body(())?;
/// let res = router.handle(req);
/// assert_eq!(res.headers()["content-encoding"], "gzip");
/// assert_eq!(res.headers()["vary"], "accept-encoding");
/// let mut decoded = String::new();
/// flate2::read::GzDecoder::new(&res.into_body_bytes()?[..]).read_to_string(&mut decoded)?;
/// assert_eq!(decoded, page);
///
/// // A client that does not ask for gzip gets the page as it is.
/// let res = router.handle(http::Request::get("/").body(())?);
/// assert!(res.headers().get("content-encoding").is_none());
/// assert_eq!(res.into_body_bytes()?, page.as_bytes());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    min_size: u64,
    level: u32,
}

impl Compression {
    /// Compresses bodies of [`DEFAULT_MIN_COMPRESS_BYTES`] and more, at
    /// [`DEFAULT_COMPRESSION_LEVEL`].
    pub fn new() -> Self {
        Self {
            min_size: DEFAULT_MIN_COMPRESS_BYTES,
            level: DEFAULT_COMPRESSION_LEVEL,
        }
    }

    /// Sends bodies shorter than `bytes` as they are. A stream of unknown length is always
    /// compressed.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::{Compression, Request, Router};
    ///
    /// let router = Router::new()
    ///     .plugin(Compression::new().min_size(1024))
    ///     .get("/", |_: &Request| "x".repeat(1000));
    /// let req = http::Request::get("/").header("accept-encoding", "gzip").body(())?;
    /// assert!(router.handle(req).headers().get("content-encoding").is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn min_size(mut self, bytes: u64) -> Self {
        self.min_size = bytes;
        self
    }

    /// Compresses at `level`, from 0 (store only: fastest, no smaller) to 9 (smallest,
    /// slowest); a higher value counts as 9.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::{Compression, Router};
    ///
    /// // Streams of live events: spend little CPU per flush.
    /// let router = Router::new().plugin(Compression::new().level(1));
    /// ```
    #[must_use]
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.min(MAX_COMPRESSION_LEVEL);
        self
    }

    fn flate_level(self) -> flate2::Compression {
        flate2::Compression::new(self.level)
    }

    /// Applies the decision table of the module docs to `response`.
    fn respond(self, accepted: Negotiated, mut response: Response) -> Response {
        // The headers are read and changed: into the map with them now (see `Response`).
        response.settle_headers();
        let class = self.classify(&response);
        match (class, accepted) {
            (Class::NoContent, _) => {
                if response.status() == StatusCode::NOT_MODIFIED {
                    append_vary(response.headers_mut(), &[ACCEPT_ENCODING]);
                    if accepted == Negotiated::Gzip {
                        weaken_etag(response.headers_mut());
                    }
                }
                response
            }
            (_, Negotiated::NotAcceptable) => {
                let mut refused =
                    Response::text(NOT_ACCEPTABLE_MESSAGE).with_status(StatusCode::NOT_ACCEPTABLE);
                append_vary(refused.headers_mut(), &[ACCEPT_ENCODING]);
                refused
            }
            (Class::NotWorthIt, _) => response,
            (Class::Compressible, Negotiated::Identity) => {
                append_vary(response.headers_mut(), &[ACCEPT_ENCODING]);
                response
            }
            (Class::Compressible, Negotiated::Gzip) => {
                append_vary(response.headers_mut(), &[ACCEPT_ENCODING]);
                self.compress(response)
            }
        }
    }

    /// What `response` is, for compression.
    fn classify(self, response: &Response) -> Class {
        let status = response.status();
        // RFC 9110 §6.4.1: 1xx, 204 and 304 have no content. A 206 is a part of one.
        if status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::PARTIAL_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            return Class::NoContent;
        }
        let headers = response.headers();
        // Encoded already (a precompressed file), or a range of the identity bytes.
        if headers.contains_key(CONTENT_ENCODING) || headers.contains_key(CONTENT_RANGE) {
            return Class::NoContent;
        }
        let body = response.body();
        if body.is_empty() {
            return Class::NoContent;
        }
        if body.len().is_some_and(|len| len < self.min_size) || is_skipped_type(headers) {
            return Class::NotWorthIt;
        }
        Class::Compressible
    }

    /// Replaces the body with its gzip encoding and fixes the headers to match.
    fn compress(self, response: Response) -> Response {
        let (mut head, body) = response.into_parts();
        let level = self.flate_level();
        let sized = |reader, left| {
            let exact = Exactly { reader, left };
            Body::stream(GzipReader::new(Box::new(exact), level))
        };
        let body = match body.into_kind() {
            Kind::Bytes(bytes) => Body::from(gzip(&bytes, level)),
            Kind::Stream(reader) => Body::stream(GzipReader::new(reader, level)),
            Kind::SizedStream(reader, len) => sized(reader, len),
            Kind::File(range, len) => sized(Box::new(range), len),
        };
        let headers = &mut head.headers;
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        headers.remove(CONTENT_LENGTH);
        headers.remove(ACCEPT_RANGES);
        weaken_etag(headers);
        Response::from(http::Response::from_parts(head, body))
    }
}

/// A sized stream's bytes, and an error if it ends before its length: a file cut short
/// must not become a complete (but shorter) gzip stream; the error closes the connection,
/// as it would without compression.
struct Exactly {
    reader: Box<dyn Read + Send>,
    left: u64,
}

impl Read for Exactly {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = usize::try_from(self.left).map_or(out.len(), |left| left.min(out.len()));
        let n = self.reader.read(&mut out[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "body ended before its length",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

impl Default for Compression {
    fn default() -> Self {
        Self::new()
    }
}

impl Middleware for Compression {
    fn handle(&self, request: &mut Request, next: Next<'_>) -> Response {
        let accepted = negotiate(request.headers());
        let response = next.run(request);
        self.respond(accepted, response)
    }
}

impl Plugin for Compression {
    fn name(&self) -> &str {
        "compression"
    }

    fn install(self, router: Router) -> Router {
        router.middleware(self)
    }
}

/// What a response is, for compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// No content to encode: a status without content, an empty body, a body encoded
    /// already, or a range.
    NoContent,
    /// Content sent as it is: too short, or of a type that gains nothing.
    NotWorthIt,
    Compressible,
}

/// What the client's `Accept-Encoding` allows, among the codings this middleware has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Negotiated {
    Gzip,
    Identity,
    /// `identity` excluded, and gzip not accepted.
    NotAcceptable,
}

/// What `headers`' `Accept-Encoding` allows of gzip and identity, by the rule of the
/// `negotiate` module (RFC 9110 §12.5.3).
fn negotiate(headers: &HeaderMap) -> Negotiated {
    match AcceptEncoding::from_headers(headers).choose(&[Coding::Gzip]) {
        Choice::Coding(Coding::Gzip) => Negotiated::Gzip,
        // Only gzip is offered.
        Choice::Coding(Coding::Br) | Choice::Identity => Negotiated::Identity,
        Choice::NotAcceptable => Negotiated::NotAcceptable,
    }
}

/// Whether the response's media type is one never compressed.
fn is_skipped_type(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if COMPRESSED_ANYWAY.contains(&essence.as_str()) {
        return false;
    }
    SKIPPED_TYPES.contains(&essence.as_str())
        || SKIPPED_TYPE_PREFIXES
            .iter()
            .any(|prefix| essence.starts_with(prefix))
}

/// Turns a strong `ETag` into a weak one: `"x"` becomes `W/"x"` (RFC 9110 §8.8.3).
fn weaken_etag(headers: &mut HeaderMap) {
    let Some(etag) = headers.get(ETAG) else {
        return;
    };
    if etag.as_bytes().starts_with(b"W/") {
        return;
    }
    let mut weak = b"W/".to_vec();
    weak.extend_from_slice(etag.as_bytes());
    let weak = HeaderValue::from_bytes(&weak).expect("a valid value prefixed with W/ is valid");
    headers.insert(ETAG, weak);
}

/// The gzip encoding of `bytes`.
fn gzip(bytes: &[u8], level: flate2::Compression) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 2 + 32), level);
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .expect("compressing into a Vec cannot fail")
}

/// The reader of a compressed stream: each read of the source is compressed and
/// sync-flushed into one piece of gzip (ending on a byte boundary, with everything read so
/// far decodable), which the following reads hand out; when the source ends, the last read
/// hands out the gzip trailer. The server sends each read as one chunk, so a piece goes out
/// as one chunk (two, for a read that does not compress to less than 16 KiB).
struct GzipReader {
    source: Box<dyn Read + Send>,
    /// `None` once the trailer is in `output`.
    encoder: Option<GzEncoder<Vec<u8>>>,
    input: Vec<u8>,
    /// The current piece; `output[at..]` is what is left of it.
    output: Vec<u8>,
    at: usize,
}

impl GzipReader {
    fn new(source: Box<dyn Read + Send>, level: flate2::Compression) -> Self {
        Self {
            source,
            encoder: Some(GzEncoder::new(Vec::new(), level)),
            input: vec![0; STREAM_READ_BYTES],
            output: Vec::new(),
            at: 0,
        }
    }

    /// Reads the source once and compresses what it gave into `output`: a sync-flushed
    /// piece, or the end of the stream. `Ok(false)` once the stream has ended.
    fn next_piece(&mut self) -> io::Result<bool> {
        let Some(encoder) = self.encoder.as_mut() else {
            return Ok(false);
        };
        let n = self.source.read(&mut self.input)?;
        self.output.clear();
        self.at = 0;
        if n == 0 {
            let encoder = self.encoder.take().expect("checked above");
            self.output = encoder.finish()?;
        } else {
            encoder.write_all(&self.input[..n])?;
            // A sync flush: the piece ends on a byte boundary, decodable on its own.
            encoder.flush()?;
            // The encoder only appends to its Vec, so the compressed bytes can be taken as
            // they come (flate2 documents this use of `get_mut`).
            std::mem::swap(&mut self.output, encoder.get_mut());
        }
        Ok(true)
    }
}

impl Read for GzipReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.at == self.output.len() {
            if !self.next_piece()? {
                return Ok(0);
            }
        }
        let n = (self.output.len() - self.at).min(buf.len());
        buf[..n].copy_from_slice(&self.output[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use http::header::VARY;

    use super::*;

    #[test]
    fn a_sized_stream_cut_short_is_an_error_not_a_shorter_body() {
        let mut exact = Exactly {
            reader: Box::new(&b"abc"[..]),
            left: 5,
        };
        let mut out = Vec::new();
        let error = exact.read_to_end(&mut out).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(out, b"abc");
        let mut exact = Exactly {
            reader: Box::new(&b"abcdef"[..]),
            left: 5,
        };
        let mut out = Vec::new();
        exact.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcde");
    }

    fn accept(values: &[&str]) -> Negotiated {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        }
        negotiate(&headers)
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    fn text(len: usize) -> String {
        "All work and no play makes Jack a dull boy. "
            .chars()
            .cycle()
            .take(len)
            .collect()
    }

    fn compress(accept_encoding: &str, response: Response) -> Response {
        Compression::new().respond(accept(&[accept_encoding]), response)
    }

    #[test]
    fn negotiation_picks_gzip_when_accepted() {
        assert_eq!(accept(&["gzip"]), Negotiated::Gzip);
        assert_eq!(accept(&["GZIP"]), Negotiated::Gzip);
        assert_eq!(accept(&["x-gzip"]), Negotiated::Gzip);
        assert_eq!(accept(&["gzip, deflate, br"]), Negotiated::Gzip);
        assert_eq!(accept(&["br;q=1, gzip;q=0.1"]), Negotiated::Gzip);
        assert_eq!(accept(&["*"]), Negotiated::Gzip);
        assert_eq!(
            accept(&["br", "gzip"]),
            Negotiated::Gzip,
            "two header lines"
        );
        assert_eq!(
            accept(&["gzip, identity"]),
            Negotiated::Gzip,
            "a tie goes to gzip"
        );
        assert_eq!(
            accept(&["gzip;q=0.5"]),
            Negotiated::Gzip,
            "identity is implicit"
        );
    }

    #[test]
    fn negotiation_keeps_identity_when_gzip_is_not_wanted() {
        assert_eq!(accept(&[]), Negotiated::Identity, "no Accept-Encoding");
        assert_eq!(accept(&[""]), Negotiated::Identity, "an empty one");
        assert_eq!(accept(&["br, deflate"]), Negotiated::Identity);
        assert_eq!(accept(&["gzip;q=0"]), Negotiated::Identity);
        assert_eq!(accept(&["gzip;q=0, *"]), Negotiated::Identity);
        assert_eq!(accept(&["*;q=0.5, gzip;q=0"]), Negotiated::Identity);
        assert_eq!(accept(&["gzip;q=0.5, identity"]), Negotiated::Identity);
        assert_eq!(
            accept(&["gzip;q=0.5, *"]),
            Negotiated::Identity,
            "* covers identity"
        );
        assert_eq!(
            accept(&["gzip;q=2"]),
            Negotiated::Identity,
            "invalid entry ignored"
        );
    }

    #[test]
    fn negotiation_refuses_when_identity_is_excluded_and_gzip_not_accepted() {
        assert_eq!(accept(&["identity;q=0"]), Negotiated::NotAcceptable);
        assert_eq!(accept(&["*;q=0"]), Negotiated::NotAcceptable);
        assert_eq!(accept(&["br, *;q=0"]), Negotiated::NotAcceptable);
        assert_eq!(
            accept(&["gzip;q=0, identity;q=0"]),
            Negotiated::NotAcceptable
        );
        // An explicit entry wins over `*`.
        assert_eq!(accept(&["*;q=0, identity"]), Negotiated::Identity);
        assert_eq!(accept(&["*;q=0, gzip"]), Negotiated::Gzip);
        assert_eq!(accept(&["identity;q=0, gzip;q=0.1"]), Negotiated::Gzip);
    }

    #[test]
    fn compressible_text_is_gzipped_with_its_headers_fixed() {
        let body = text(1000);
        let response = Response::html(body.clone())
            .with_header(ETAG, "\"v1\"")
            .with_header(ACCEPT_RANGES, "bytes")
            .with_header(CONTENT_LENGTH, "1000")
            .with_header(VARY, "Cookie");
        let res = compress("gzip", response);
        let headers = res.headers();
        assert_eq!(headers[CONTENT_ENCODING], "gzip");
        assert_eq!(headers[ETAG], "W/\"v1\"");
        assert!(headers.get(ACCEPT_RANGES).is_none());
        assert!(headers.get(CONTENT_LENGTH).is_none());
        let vary: Vec<_> = headers.get_all(VARY).iter().collect();
        assert_eq!(vary, ["Cookie", "accept-encoding"]);
        let len = res.body().len().expect("an in-memory body stays in memory");
        assert!(len < 200, "{len} bytes");
        assert_eq!(gunzip(&res.into_body_bytes().unwrap()), body.as_bytes());
    }

    #[test]
    fn a_weak_etag_stays_as_it_is() {
        let response = Response::text(text(1000)).with_header(ETAG, "W/\"v1\"");
        assert_eq!(compress("gzip", response).headers()[ETAG], "W/\"v1\"");
    }

    #[test]
    fn identity_answer_of_a_compressible_response_still_varies() {
        let res = compress("br", Response::text(text(1000)));
        assert!(res.headers().get(CONTENT_ENCODING).is_none());
        assert_eq!(res.headers()[VARY], "accept-encoding");
        assert_eq!(res.into_body_bytes().unwrap(), text(1000).as_bytes());
    }

    #[test]
    fn vary_is_not_repeated() {
        let response = Response::text(text(1000)).with_header(VARY, "Accept-Encoding");
        let res = compress("gzip", response);
        assert_eq!(res.headers().get_all(VARY).iter().count(), 1);
    }

    #[test]
    fn skip_rules_leave_responses_as_they_are() {
        let typed = |content_type: &'static str| {
            Response::with_content_type(Body::from(text(1000)), content_type)
        };
        let skipped = [
            ("short body", Response::text(text(255))),
            ("png", typed("image/png")),
            ("jpeg, upper case", typed("IMAGE/JPEG")),
            ("audio", typed("audio/ogg")),
            ("video", typed("video/mp4")),
            ("sse", typed("text/event-stream; charset=utf-8")),
            ("opaque bytes", Response::bytes(text(1000))),
            ("zip", typed("application/zip")),
            ("woff2", typed("font/woff2")),
        ];
        for (what, response) in skipped {
            let expected = response.body().as_bytes().unwrap().to_vec();
            let res = compress("gzip", response);
            assert!(res.headers().get(CONTENT_ENCODING).is_none(), "{what}");
            assert!(res.headers().get(VARY).is_none(), "{what}");
            assert_eq!(res.into_body_bytes().unwrap(), expected, "{what}");
        }
    }

    #[test]
    fn svg_and_untyped_bodies_are_compressed() {
        let svg = Response::with_content_type(Body::from(text(1000)), "image/svg+xml");
        assert_eq!(compress("gzip", svg).headers()[CONTENT_ENCODING], "gzip");
        let untyped = Response::new(StatusCode::OK).with_body(text(1000));
        assert_eq!(
            compress("gzip", untyped).headers()[CONTENT_ENCODING],
            "gzip"
        );
    }

    #[test]
    fn min_size_is_inclusive_and_configurable() {
        let at_min = Response::text(text(256));
        assert_eq!(compress("gzip", at_min).headers()[CONTENT_ENCODING], "gzip");
        let small = Compression::new()
            .min_size(10)
            .respond(Negotiated::Gzip, Response::text(text(10)));
        assert_eq!(small.headers()[CONTENT_ENCODING], "gzip");
    }

    #[test]
    fn encoded_ranged_and_contentless_responses_are_untouched() {
        let encoded = Response::text(text(1000)).with_header(CONTENT_ENCODING, "br");
        let ranged = Response::text(text(1000))
            .with_status(StatusCode::PARTIAL_CONTENT)
            .with_header(CONTENT_RANGE, "bytes 0-999/5000");
        let empty = Response::new(StatusCode::NOT_FOUND);
        let no_content = Response::new(StatusCode::NO_CONTENT);
        for (what, response) in [
            ("encoded", encoded),
            ("ranged", ranged),
            ("empty", empty),
            ("204", no_content),
        ] {
            for accept_encoding in ["gzip", "identity;q=0"] {
                let before = format!("{:?}", response.headers());
                let res = Compression::new().respond(accept(&[accept_encoding]), clone(&response));
                assert_eq!(
                    format!("{:?}", res.headers()),
                    before,
                    "{what}, {accept_encoding}"
                );
                assert_eq!(res.status(), response.status(), "{what}, {accept_encoding}");
            }
        }
    }

    /// A copy of an in-memory response.
    fn clone(response: &Response) -> Response {
        let mut copy = Response::new(response.status())
            .with_body(response.body().as_bytes().unwrap().to_vec());
        *copy.headers_mut() = response.headers().clone();
        copy
    }

    #[test]
    fn not_modified_gets_vary_and_the_weakened_etag_of_its_200() {
        let not_modified = || Response::new(StatusCode::NOT_MODIFIED).with_header(ETAG, "\"v1\"");
        let res = compress("gzip", not_modified());
        assert_eq!(res.headers()[VARY], "accept-encoding");
        assert_eq!(res.headers()[ETAG], "W/\"v1\"");
        let res = compress("identity", not_modified());
        assert_eq!(res.headers()[VARY], "accept-encoding");
        assert_eq!(res.headers()[ETAG], "\"v1\"");
    }

    #[test]
    fn nothing_acceptable_is_406_with_vary() {
        for response in [Response::text(text(1000)), Response::text("short")] {
            let res = compress("identity;q=0", response);
            assert_eq!(res.status(), StatusCode::NOT_ACCEPTABLE);
            assert_eq!(res.headers()[VARY], "accept-encoding");
            assert!(res.headers().get(CONTENT_ENCODING).is_none());
        }
    }

    #[test]
    fn level_is_clamped_to_9() {
        assert_eq!(Compression::new().level(42).level, 9);
        assert_eq!(Compression::new().level(0).level, 0);
        assert_eq!(Compression::new().level, DEFAULT_COMPRESSION_LEVEL);
    }

    /// A reader that hands out `pieces`, one per read.
    struct Pieces(std::collections::VecDeque<Vec<u8>>);

    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(piece) = self.0.pop_front() else {
                return Ok(0);
            };
            assert!(piece.len() <= buf.len());
            buf[..piece.len()].copy_from_slice(&piece);
            Ok(piece.len())
        }
    }

    #[test]
    fn each_read_of_a_stream_is_one_decodable_piece() {
        let pieces = ["first piece\n", "second piece\n", "third piece\n"];
        let source = Pieces(pieces.iter().map(|p| p.as_bytes().to_vec()).collect());
        let mut reader = GzipReader::new(Box::new(source), flate2::Compression::default());
        let mut decoder = flate2::write::GzDecoder::new(Vec::new());
        let mut buf = vec![0; STREAM_READ_BYTES];
        let mut seen = String::new();
        for piece in pieces {
            let n = reader.read(&mut buf).unwrap();
            assert!(n > 0);
            decoder.write_all(&buf[..n]).unwrap();
            decoder.flush().unwrap();
            seen.push_str(piece);
            assert_eq!(decoder.get_ref(), seen.as_bytes(), "decodable as it came");
        }
        let n = reader.read(&mut buf).unwrap();
        assert!(n > 0, "the trailer");
        decoder.write_all(&buf[..n]).unwrap();
        assert_eq!(decoder.finish().unwrap(), seen.as_bytes());
        assert_eq!(reader.read(&mut buf).unwrap(), 0);
        assert_eq!(reader.read(&mut buf).unwrap(), 0, "ended for good");
    }

    #[test]
    fn a_piece_larger_than_the_buffer_is_handed_out_over_several_reads() {
        let data = text(50_000).into_bytes();
        let mut reader = GzipReader::new(
            Box::new(Cursor::new(data.clone())),
            flate2::Compression::new(0),
        );
        let mut compressed = Vec::new();
        let mut buf = [0; 100];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            compressed.extend_from_slice(&buf[..n]);
        }
        assert_eq!(gunzip(&compressed), data);
    }

    #[test]
    fn streams_stay_streams_and_sized_streams_become_streams() {
        let stream = Response::new(StatusCode::OK)
            .with_body(Body::from_chunks([text(100), text(100)]))
            .with_header(CONTENT_TYPE, "text/csv");
        let res = compress("gzip", stream);
        assert_eq!(res.headers()[CONTENT_ENCODING], "gzip");
        assert_eq!(res.body().len(), None);
        assert_eq!(
            gunzip(&res.into_body_bytes().unwrap()),
            (text(100) + &text(100)).as_bytes()
        );

        // Only `len` bytes of a sized stream are its body.
        let source = Cursor::new(text(2000).into_bytes());
        let sized = Response::new(StatusCode::OK).with_body(Body::sized_stream(source, 1000));
        let res = compress("gzip", sized);
        assert_eq!(res.body().len(), None, "sent chunked now");
        assert_eq!(
            gunzip(&res.into_body_bytes().unwrap()),
            text(1000).as_bytes()
        );

        // A sized stream under the minimum is left alone.
        let short = Response::new(StatusCode::OK).with_body(Body::sized_stream(io::empty(), 10));
        assert_eq!(compress("gzip", short).body().len(), Some(10));
    }

    #[test]
    fn a_source_error_is_passed_on() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let mut reader = GzipReader::new(Box::new(Failing), flate2::Compression::default());
        let error = reader.read(&mut [0; 64]).unwrap_err();
        assert_eq!(error.to_string(), "disk on fire");
    }

    #[test]
    fn head_gets_the_headers_of_get() {
        let router = Router::new()
            .plugin(Compression::new())
            .get("/", |_: &Request| Response::text(text(1000)));
        let request = |method: http::Method| {
            http::Request::builder()
                .method(method)
                .uri("/")
                .header(ACCEPT_ENCODING, "gzip")
                .body(())
                .unwrap()
        };
        let get = router.handle(request(http::Method::GET));
        let head = router.handle(request(http::Method::HEAD));
        assert_eq!(head.headers()[CONTENT_ENCODING], "gzip");
        assert_eq!(head.headers()[VARY], "accept-encoding");
        let get_len = get.body().len().unwrap();
        assert_eq!(head.headers()[CONTENT_LENGTH], get_len.to_string().as_str());
        assert!(head.body().is_empty());
    }
}

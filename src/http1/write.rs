//! Responses on their way out: how a response is framed (a pure decision, tested without
//! I/O), and the rest of a streamed body still to be copied when the socket is full.

use std::io::{self, Read};

use http::{StatusCode, Version};

use super::encode::{self, ConnectionHeader, Framing};
use crate::body::{FileRange, Kind, STREAM_READ_BYTES};
use crate::io::{Stream, is_timeout};

/// A sized stream (a file where `sendfile` cannot go) is read in pieces of at most this size: no chunk framing to
/// keep small, and fewer reads and writes per byte (a 1 MiB file: 8 of each, not 64).
const SIZED_READ_BYTES: usize = 128 * 1024;

/// At most this much of a file is handed to one `sendfile(2)` (Linux moves at most
/// 0x7ffff000 bytes a call anyway); the socket's free room usually limits it first.
const SEND_FILE_BYTES: usize = 1 << 30;

/// How a response goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResponsePlan {
    pub(crate) framing: Framing,
    pub(crate) connection: ConnectionHeader,
    /// Whether the connection stays open afterwards.
    pub(crate) keep_alive: bool,
    /// Whether the body is sent (not for HEAD, 1xx, 204, 304).
    pub(crate) send_body: bool,
}

/// Decides the framing of a response with `status` and `body` to a request of `version`
/// (`is_head`: to a HEAD request), when the connection may otherwise stay open
/// (`keep_alive`).
pub(crate) fn plan_response(
    status: StatusCode,
    body: &Kind,
    is_head: bool,
    version: Version,
    keep_alive: bool,
) -> ResponsePlan {
    // RFC 9110 §6.4.1: 1xx, 204 and 304 never carry content; HEAD carries the headers a
    // GET would, without content (§9.3.2).
    let bodiless_status = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let mut keep_alive = keep_alive;
    let framing = match body {
        _ if bodiless_status => Framing::Unframed,
        Kind::Bytes(bytes) => Framing::Length(bytes.len() as u64),
        Kind::SizedStream(_, len) | Kind::File(_, len) => Framing::Length(*len),
        Kind::Stream(_) if version == Version::HTTP_11 => Framing::Chunked,
        Kind::Stream(_) => {
            // An HTTP/1.0 client cannot take chunks: the body ends when we close.
            keep_alive = false;
            Framing::Unframed
        }
    };
    let connection = match (keep_alive, version) {
        (false, _) => ConnectionHeader::Close,
        (true, Version::HTTP_10) => ConnectionHeader::KeepAlive,
        (true, _) => ConnectionHeader::Omit,
    };
    ResponsePlan {
        framing,
        connection,
        keep_alive,
        send_body: !is_head && !bodiless_status,
    }
}

/// The part of a streamed response body not yet copied to the output.
pub(crate) struct OutgoingBody {
    source: Source,
    chunked: bool,
    /// For a sized stream: bytes still owed (its `Content-Length` promised them).
    owed: Option<u64>,
}

/// Where a streamed body's bytes come from.
enum Source {
    Reader(Box<dyn Read + Send>),
    /// A file: sent with `sendfile(2)` where the stream can, read like any reader elsewhere.
    File(FileRange),
}

/// What one step of copying a streamed body did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Copied {
    /// A piece went to the output; there may be more.
    Piece,
    /// Sent straight to the stream until it was full; the rest waits for room.
    Full,
    /// The body ended (the last chunk is in the output when chunked).
    End,
}

impl OutgoingBody {
    pub(crate) fn new(reader: Box<dyn Read + Send>, chunked: bool, owed: Option<u64>) -> Self {
        Self {
            source: Source::Reader(reader),
            chunked,
            owed,
        }
    }

    /// `len` bytes of a file, sent with `Content-Length`.
    pub(crate) fn file(range: FileRange, len: u64) -> Self {
        Self {
            source: Source::File(range),
            chunked: false,
            owed: Some(len),
        }
    }

    /// Sends the rest of a file body straight to `io` (`sendfile(2)`: no copy through our
    /// buffers) until all of it is out or `io` is full. Call it only with nothing else
    /// buffered for `io`. `None`: not a file, or `io` cannot (copy it with `copy_piece`,
    /// which is all this body does from then on).
    pub(crate) fn send_file<S: Stream + ?Sized>(
        &mut self,
        io: &mut S,
    ) -> Option<io::Result<Copied>> {
        let (Source::File(range), Some(owed)) = (&mut self.source, &mut self.owed) else {
            return None;
        };
        while *owed > 0 {
            let len = usize::try_from(*owed).map_or(SEND_FILE_BYTES, |o| o.min(SEND_FILE_BYTES));
            let Some(sent) = io.send_file(&range.file, &mut range.offset, len) else {
                // The stream cannot (TLS), or not this file: copy it from here on.
                let empty = Source::Reader(Box::new(io::empty()));
                if let Source::File(range) = std::mem::replace(&mut self.source, empty) {
                    self.source = Source::Reader(Box::new(range));
                }
                return None;
            };
            match sent {
                Ok(0) => return Some(Err(ended_early())),
                Ok(sent) => *owed -= sent as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Some(Ok(Copied::Full)),
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok(Copied::End))
    }

    /// Reads one piece of the body into `out` (as a chunk when chunked). An error, or a
    /// sized stream that ends before its promised length, means the response cannot be
    /// completed: the only honest end is a close.
    pub(crate) fn copy_piece(&mut self, out: &mut Vec<u8>) -> io::Result<Copied> {
        let want = match self.owed {
            Some(0) => return Ok(Copied::End),
            Some(owed) => {
                usize::try_from(owed).map_or(SIZED_READ_BYTES, |o| o.min(SIZED_READ_BYTES))
            }
            None => STREAM_READ_BYTES,
        };
        // Room for the chunk-size line in front of the data, filled in after the read.
        let prefix = if self.chunked {
            encode::MAX_CHUNK_SIZE_LINE
        } else {
            0
        };
        let start = out.len();
        out.resize(start + prefix + want, 0);
        let result = loop {
            let into = &mut out[start + prefix..];
            let read = match &mut self.source {
                Source::Reader(reader) => reader.read(into),
                Source::File(range) => range.read(into),
            };
            match read {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        let n = match result {
            Ok(n) => n,
            Err(e) => {
                out.truncate(start);
                return Err(e);
            }
        };
        if n == 0 {
            out.truncate(start);
            if self.owed.is_some() {
                return Err(ended_early());
            }
            if self.chunked {
                encode::encode_last_chunk(out);
            }
            return Ok(Copied::End);
        }
        if let Some(owed) = &mut self.owed {
            *owed -= n as u64;
        }
        if self.chunked {
            // The size line is shorter than the room left for it: move the data up to it.
            let (size_line, size_len) = encode::chunk_size_line(n);
            let data_at = start + size_len;
            out.copy_within(start + prefix..start + prefix + n, data_at);
            out[start..data_at].copy_from_slice(&size_line[..size_len]);
            out.truncate(data_at + n);
            out.extend_from_slice(b"\r\n");
        } else {
            out.truncate(start + n);
        }
        Ok(Copied::Piece)
    }
}

fn ended_early() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "body ended before its Content-Length",
    )
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn bytes(len: usize) -> Kind {
        Kind::Bytes(Cow::Owned(vec![b'x'; len]))
    }

    fn stream() -> Kind {
        Kind::Stream(Box::new(io::empty()))
    }

    #[test]
    fn bytes_get_a_length_and_keep_the_connection() {
        let plan = plan_response(StatusCode::OK, &bytes(3), false, Version::HTTP_11, true);
        assert_eq!(
            plan,
            ResponsePlan {
                framing: Framing::Length(3),
                connection: ConnectionHeader::Omit,
                keep_alive: true,
                send_body: true,
            }
        );
    }

    #[test]
    fn a_stream_is_chunked_for_1_1_and_close_delimited_for_1_0() {
        let plan = plan_response(StatusCode::OK, &stream(), false, Version::HTTP_11, true);
        assert_eq!((plan.framing, plan.keep_alive), (Framing::Chunked, true));
        let plan = plan_response(StatusCode::OK, &stream(), false, Version::HTTP_10, true);
        assert_eq!(
            (plan.framing, plan.connection, plan.keep_alive),
            (Framing::Unframed, ConnectionHeader::Close, false)
        );
    }

    #[test]
    fn head_keeps_the_framing_of_get_without_the_body() {
        let plan = plan_response(StatusCode::OK, &bytes(10), true, Version::HTTP_11, true);
        assert_eq!((plan.framing, plan.send_body), (Framing::Length(10), false));
    }

    #[test]
    fn no_content_and_not_modified_have_no_framing_and_no_body() {
        for status in [StatusCode::NO_CONTENT, StatusCode::NOT_MODIFIED] {
            let plan = plan_response(status, &bytes(4), false, Version::HTTP_11, true);
            assert_eq!((plan.framing, plan.send_body), (Framing::Unframed, false));
        }
    }

    #[test]
    fn http_1_0_keep_alive_is_said_explicitly() {
        let plan = plan_response(StatusCode::OK, &bytes(1), false, Version::HTTP_10, true);
        assert_eq!(plan.connection, ConnectionHeader::KeepAlive);
        let plan = plan_response(StatusCode::OK, &bytes(1), false, Version::HTTP_11, false);
        assert_eq!(plan.connection, ConnectionHeader::Close);
    }

    #[test]
    fn a_chunked_body_is_copied_a_chunk_per_read_then_ended() {
        let mut body = OutgoingBody::new(Box::new(&b"abc"[..]), true, None);
        let mut out = Vec::new();
        assert_eq!(body.copy_piece(&mut out).unwrap(), Copied::Piece);
        assert_eq!(body.copy_piece(&mut out).unwrap(), Copied::End);
        assert_eq!(out, b"3\r\nabc\r\n0\r\n\r\n");
    }

    #[test]
    fn a_sized_body_that_ends_early_is_an_error() {
        let mut body = OutgoingBody::new(Box::new(&b"ab"[..]), false, Some(5));
        let mut out = b"head".to_vec();
        assert_eq!(body.copy_piece(&mut out).unwrap(), Copied::Piece);
        assert!(body.copy_piece(&mut out).is_err());
        assert_eq!(out, b"headab");
    }

    #[test]
    fn a_sized_body_stops_at_its_length() {
        let mut body = OutgoingBody::new(Box::new(&b"abcdef"[..]), false, Some(4));
        let mut out = Vec::new();
        assert_eq!(body.copy_piece(&mut out).unwrap(), Copied::Piece);
        assert_eq!(body.copy_piece(&mut out).unwrap(), Copied::End);
        assert_eq!(out, b"abcd");
    }
}

//! Response heads and body framing (RFC 9112 §4, §6, §7).

use std::io::Write;
use std::time::Instant;

use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{HeaderMap, StatusCode};

use super::date;

/// How a response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// No framing header: the body runs until the connection closes (HTTP/1.0 streams), or
    /// the status forbids a body and a length (1xx, 204: RFC 9110 §8.6).
    Unframed,
}

/// The `Connection` header the server adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectionHeader {
    /// None: HTTP/1.1 keeps the connection by default.
    Omit,
    /// `Connection: close`: the server closes after this response (RFC 9112 §9.6).
    Close,
    /// `Connection: keep-alive`: an HTTP/1.0 client asked to keep the connection.
    KeepAlive,
    /// `Connection: upgrade`: a 101 switching to the protocol of the `Upgrade` header.
    Upgrade,
}

/// What a response head says besides its framing.
pub(crate) struct Head<'a> {
    pub(crate) status: StatusCode,
    /// A `Content-Type` that is not in `headers` (a valid value).
    pub(crate) content_type: Option<&'static str>,
    pub(crate) headers: &'a HeaderMap,
}

/// Appends the status line and headers. The framing and `Connection` headers come from the
/// arguments, never from the head's map (the server owns the framing); `Date` is added
/// unless the handler set one.
pub(crate) fn encode_head(
    out: &mut Vec<u8>,
    head: &Head<'_>,
    framing: Framing,
    connection: ConnectionHeader,
    now: Instant,
) {
    append_status_line(out, head.status);
    if let Some(content_type) = head.content_type {
        out.extend_from_slice(b"content-type: ");
        out.extend_from_slice(content_type.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let headers = head.headers;
    let mut has_date = false;
    for (name, value) in headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == CONNECTION {
            continue;
        }
        has_date |= name == DATE;
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has_date {
        out.extend_from_slice(b"date: ");
        date::append_at(out, now);
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Length(len) => {
            out.extend_from_slice(b"content-length: ");
            append_decimal(out, len);
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::Unframed => {}
    }
    match connection {
        ConnectionHeader::Omit => {}
        ConnectionHeader::Close => out.extend_from_slice(b"connection: close\r\n"),
        ConnectionHeader::KeepAlive => out.extend_from_slice(b"connection: keep-alive\r\n"),
        ConnectionHeader::Upgrade => out.extend_from_slice(b"connection: upgrade\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends the status line. RFC 9110 §6.2: a server sends its own highest version, 1.1,
/// to 1.0 clients too.
fn append_status_line(out: &mut Vec<u8>, status: StatusCode) {
    // The usual statuses in one piece each (this runs once per response).
    let line: &[u8] = match status.as_u16() {
        200 => b"HTTP/1.1 200 OK\r\n",
        201 => b"HTTP/1.1 201 Created\r\n",
        204 => b"HTTP/1.1 204 No Content\r\n",
        206 => b"HTTP/1.1 206 Partial Content\r\n",
        301 => b"HTTP/1.1 301 Moved Permanently\r\n",
        302 => b"HTTP/1.1 302 Found\r\n",
        303 => b"HTTP/1.1 303 See Other\r\n",
        304 => b"HTTP/1.1 304 Not Modified\r\n",
        400 => b"HTTP/1.1 400 Bad Request\r\n",
        401 => b"HTTP/1.1 401 Unauthorized\r\n",
        403 => b"HTTP/1.1 403 Forbidden\r\n",
        404 => b"HTTP/1.1 404 Not Found\r\n",
        500 => b"HTTP/1.1 500 Internal Server Error\r\n",
        503 => b"HTTP/1.1 503 Service Unavailable\r\n",
        _ => {
            out.extend_from_slice(b"HTTP/1.1 ");
            out.extend_from_slice(status.as_str().as_bytes());
            out.push(b' ');
            out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
            out.extend_from_slice(b"\r\n");
            return;
        }
    };
    out.extend_from_slice(line);
}

/// Appends `n` in decimal (without the formatting machinery: this runs once per response).
fn append_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        // `n % 10` is below 10, so the cast cannot truncate.
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// The longest chunk-size line: 16 hex digits and CRLF.
pub(crate) const MAX_CHUNK_SIZE_LINE: usize = 18;

/// The size line that starts a chunk of `len` bytes (RFC 9112 §7.1): hex digits, CRLF.
/// Returns the bytes and how many of them are used.
pub(crate) fn chunk_size_line(len: usize) -> ([u8; MAX_CHUNK_SIZE_LINE], usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut start = digits.len();
    let mut n = len;
    loop {
        start -= 1;
        digits[start] = HEX[n % 16];
        n /= 16;
        if n == 0 {
            break;
        }
    }
    let mut line = [0u8; MAX_CHUNK_SIZE_LINE];
    let count = digits.len() - start;
    line[..count].copy_from_slice(&digits[start..]);
    line[count..count + 2].copy_from_slice(b"\r\n");
    (line, count + 2)
}

/// Appends `data` as one chunk (nothing for empty data: that would be the last chunk).
pub(crate) fn encode_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let (line, used) = chunk_size_line(data.len());
    out.extend_from_slice(&line[..used]);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the last chunk and an empty trailer section.
pub(crate) fn encode_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

/// Appends a complete response the server sends on its own (a parse error, 503, 408...):
/// the reason phrase as a plain-text body, `Connection: close` when `close`.
pub(crate) fn write_rejection(
    out: &mut Vec<u8>,
    status: StatusCode,
    extra: &[(&str, &str)],
    close: bool,
) {
    let reason = status.canonical_reason().unwrap_or("Error");
    let _ = write!(out, "HTTP/1.1 {} {reason}\r\ndate: ", status.as_str());
    date::append_now(out);
    out.extend_from_slice(b"\r\ncontent-type: text/plain; charset=utf-8\r\n");
    for (name, value) in extra {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    let _ = write!(out, "content-length: {}\r\n", reason.len() + 1);
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    let _ = write!(out, "\r\n{reason}\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{CONTENT_TYPE, HeaderValue};

    fn head(
        status: StatusCode,
        headers: &HeaderMap,
        framing: Framing,
        c: ConnectionHeader,
    ) -> String {
        let mut out = Vec::new();
        let head = Head {
            status,
            content_type: None,
            headers,
        };
        encode_head(&mut out, &head, framing, c, Instant::now());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_content_type_kept_out_of_the_map_is_written_first() {
        let mut headers = HeaderMap::new();
        headers.insert("x-a", HeaderValue::from_static("1"));
        let head = Head {
            status: StatusCode::IM_A_TEAPOT,
            content_type: Some("text/plain"),
            headers: &headers,
        };
        let mut out = Vec::new();
        let now = Instant::now();
        encode_head(
            &mut out,
            &head,
            Framing::Length(0),
            ConnectionHeader::Close,
            now,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(
                "HTTP/1.1 418 I'm a teapot\r\ncontent-type: text/plain\r\nx-a: 1\r\ndate: "
            ),
            "{text}"
        );
        assert!(
            text.ends_with("\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
            "{text}"
        );
    }

    #[test]
    fn every_status_line_has_its_code_and_reason() {
        for code in 200..600 {
            let Ok(status) = StatusCode::from_u16(code) else {
                continue;
            };
            let mut out = Vec::new();
            append_status_line(&mut out, status);
            let reason = status.canonical_reason().unwrap_or("");
            assert_eq!(out, format!("HTTP/1.1 {code} {reason}\r\n").into_bytes());
        }
    }

    #[test]
    fn head_has_status_line_date_length_and_blank_line() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let text = head(
            StatusCode::OK,
            &headers,
            Framing::Length(13),
            ConnectionHeader::Omit,
        );
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ndate: "),
            "{text}"
        );
        assert!(text.ends_with("\r\ncontent-length: 13\r\n\r\n"), "{text}");
    }

    #[test]
    fn framing_headers_from_the_handler_are_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("999"));
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("gzip"));
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        let text = head(
            StatusCode::OK,
            &headers,
            Framing::Chunked,
            ConnectionHeader::Close,
        );
        assert!(
            !text.contains("999") && !text.contains("gzip") && !text.contains("upgrade"),
            "{text}"
        );
        assert!(text.contains("transfer-encoding: chunked\r\n"));
        assert!(text.contains("connection: close\r\n"));
    }

    #[test]
    fn handler_date_is_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(
            DATE,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        let text = head(
            StatusCode::NO_CONTENT,
            &headers,
            Framing::Unframed,
            ConnectionHeader::Omit,
        );
        assert_eq!(text.matches("date:").count(), 1, "{text}");
        assert_eq!(
            text,
            "HTTP/1.1 204 No Content\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
        );
    }

    #[test]
    fn chunk_sizes_are_hex_lines() {
        for (len, line) in [(8, "8\r\n"), (26, "1a\r\n"), (0x10000, "10000\r\n")] {
            let (bytes, used) = chunk_size_line(len);
            assert_eq!(&bytes[..used], line.as_bytes());
        }
        let (_, used) = chunk_size_line(usize::MAX);
        assert_eq!(used, MAX_CHUNK_SIZE_LINE);
    }

    #[test]
    fn rejection_is_a_complete_closing_response() {
        let mut out = Vec::new();
        write_rejection(
            &mut out,
            StatusCode::SERVICE_UNAVAILABLE,
            &[("retry-after", "1")],
            true,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(text.contains("retry-after: 1\r\n"));
        assert!(text.contains("connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\nService Unavailable\n"));
        assert!(text.contains(&format!(
            "content-length: {}\r\n",
            "Service Unavailable\n".len()
        )));
    }

    #[test]
    fn decimals_are_written_exactly() {
        for n in [0, 7, 10, 13, 999, 1000, 65_536, u64::MAX] {
            let mut out = b"x".to_vec();
            append_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }
}

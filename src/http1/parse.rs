//! Request heads: `httparse` turns bytes into a request line and header fields; this module
//! applies RFC 9112's rules on top and decides how the body is framed (§6).

use std::mem::MaybeUninit;

use bytes::Bytes;
use http::{Method, Uri, Version, request::Parts};

use super::Limits;
use crate::error::ParseError;
use crate::head::{RawHead, TargetRef};
use crate::limits::MAX_HEADERS_CAP;

/// How many bytes of method, spaces and version a request line may add to its target before
/// the line counts as a target that is too long (414) rather than a bad head.
const REQUEST_LINE_SLACK_BYTES: usize = 1024;
/// The longest header name `http::HeaderName` takes.
const MAX_HEADER_NAME_BYTES: usize = (1 << 16) - 1;

/// A parsed request head and what the connection must do about it.
#[derive(Debug)]
pub(crate) struct RequestHead {
    /// Method, target and version; the headers are left empty, in `raw_head`, and so is
    /// the target when `raw_head` keeps it as bytes (see [`target`](Self::target)).
    pub(crate) parts: Parts,
    pub(crate) raw_head: RawHead,
    pub(crate) framing: BodyFraming,
    /// Whether the connection may stay open after this request (RFC 9112 §9.3).
    pub(crate) keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request (RFC 9110 §10.1.1).
    pub(crate) expect_continue: bool,
    /// An expectation other than `100-continue`: answered 417 (once routed, so that the
    /// route's middleware answers it).
    pub(crate) expectation_failed: bool,
}

impl RequestHead {
    /// The request's target, wherever it is kept.
    pub(crate) fn target(&self) -> TargetRef<'_> {
        TargetRef::new(&self.parts.uri, Some(&self.raw_head))
    }
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// Exactly this many bytes follow the head; 0 when the request has no body.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Parses one request head from the start of `buf`.
///
/// `Ok(None)`: the head is incomplete, read more. `Ok(Some((head, len)))`: the head took
/// `len` bytes; the body (if any) starts there.
// Inlined into its caller, the head is built where the engine keeps it, not moved out
// of a returned `Result` (a head is a few hundred bytes).
#[inline(always)]
pub(crate) fn parse_head(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(RequestHead, usize)>, ParseError> {
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let max_headers = limits.max_headers.min(MAX_HEADERS_CAP);
    let mut request = httparse::Request::new(&mut []);
    let len = match request.parse_with_uninit_headers(buf, &mut headers[..max_headers]) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            check_partial(buf, limits)?;
            return Ok(None);
        }
        Err(httparse::Error::Version) => {
            return match version_error(buf) {
                Some(error) => Err(error),
                None => {
                    check_partial(buf, limits)?;
                    Ok(None)
                }
            };
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ParseError::TooManyHeaders { limit: max_headers });
        }
        Err(error) => return Err(malformed(error)),
    };
    if len > limits.max_head_bytes {
        return Err(ParseError::HeadTooLarge {
            limit: limits.max_head_bytes,
        });
    }
    // RFC 9112 §2.2 lets a recipient accept a bare LF as a line terminator; we do not, so
    // that no peer in front of us can read the head differently (request smuggling).
    if has_bare_lf(&buf[..len]) {
        return Err(ParseError::Malformed("line not terminated by CRLF"));
    }

    let target = request.path.expect("complete parse has a target");
    if target.len() > limits.max_uri_bytes {
        return Err(ParseError::UriTooLong {
            limit: limits.max_uri_bytes,
        });
    }
    let method = request.method.expect("complete parse has a method");
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| ParseError::Malformed("invalid method"))?;
    // One copy of the head; the target and the header values share it. A request with a
    // body may park while the body arrives: it gets a copy of its own, so that it never
    // keeps a thread's shared head buffer alive meanwhile.
    // (`Content-Length: 0`, which some clients send on every request, is no body.)
    let facts = FieldFacts::of(request.headers);
    let head = if facts.may_have_body {
        Bytes::copy_from_slice(&buf[..len])
    } else {
        crate::head::copy_head(&buf[..len])
    };
    let target_start = target.as_ptr() as usize - buf.as_ptr() as usize;
    // The usual target (`/path?query` of plain bytes) is kept as bytes; anything else is
    // parsed now, with `http`'s rules.
    let (uri, kept_target) = match crate::head::keep_target(target.as_bytes(), target_start) {
        Some(kept) => (None, Some(kept)),
        None => {
            let range = target_start..target_start + target.len();
            let uri = Uri::from_maybe_shared(head.slice(range))
                .map_err(|_| ParseError::Malformed("invalid request target"))?;
            (Some(uri), None)
        }
    };
    // RFC 9112 §3.2.3: the authority form is CONNECT's, and only CONNECT's; a server that
    // opens no tunnels does not implement CONNECT (RFC 9110 §9.3.6, §15.6.2).
    let authority_form = uri
        .as_ref()
        .is_some_and(|uri| uri.scheme().is_none() && uri.authority().is_some());
    if method == Method::CONNECT {
        return Err(ParseError::MethodNotImplemented);
    }
    if authority_form {
        return Err(ParseError::Malformed(
            "authority-form target without CONNECT",
        ));
    }
    let version = match request.version.expect("complete parse has a version") {
        0 => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    // The fields stay bytes until a handler asks for them (`RawHead`): httparse admits
    // exactly the names and values `http` does, but for a name's length.
    if facts.long_name {
        return Err(ParseError::Malformed("invalid header name"));
    }
    let raw_head = RawHead::new(head, request.headers.len(), kept_target);

    // The framing rules read the raw fields: a few byte comparisons are cheaper than
    // hashing each name into the map again; and only the fields a request has are read
    // again.
    let fields = request.headers;
    // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host, and to
    // any request with more than one Host field or with an invalid Host value (even when an
    // absolute-form target makes the server ignore it).
    match (facts.host, facts.hosts) {
        (None, _) if version == Version::HTTP_11 => return Err(ParseError::Host),
        (None, _) => {}
        (Some(host), 1) if is_valid_host(trim_ows(host)) => {}
        (Some(_), _) => return Err(ParseError::Host),
    }
    let framing = if facts.content_length || facts.transfer_encoding {
        body_framing(fields, version)?
    } else {
        BodyFraming::Length(0)
    };
    let keep_alive = match facts.connection {
        true => keep_alive(fields, version),
        false => version == Version::HTTP_11,
    };
    let (expect_continue, expectation_failed) = match facts.expect {
        true => expectations(fields, version),
        false => (false, false),
    };

    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = method;
    if let Some(uri) = uri {
        parts.uri = uri;
    }
    parts.version = version;
    Ok(Some((
        RequestHead {
            parts,
            raw_head,
            framing,
            keep_alive,
            expect_continue,
            expectation_failed,
        },
        len,
    )))
}

/// What the engine needs to know of a head's fields, found in one pass over them (most
/// requests have none of the fields that frame a body, close a connection or expect).
#[derive(Default)]
struct FieldFacts<'a> {
    /// The first `Host` value, and how many `Host` fields there are.
    host: Option<&'a [u8]>,
    hosts: usize,
    content_length: bool,
    transfer_encoding: bool,
    /// A `Content-Length` other than `0`, or a `Transfer-Encoding`.
    may_have_body: bool,
    connection: bool,
    expect: bool,
    /// A name longer than `http` takes.
    long_name: bool,
}

impl<'a> FieldFacts<'a> {
    fn of(fields: &[httparse::Header<'a>]) -> Self {
        let mut facts = Self::default();
        for field in fields {
            let name = field.name.as_bytes();
            // The length first: one comparison rules out most names.
            match name.len() {
                4 if name.eq_ignore_ascii_case(b"host") => {
                    facts.host = facts.host.or(Some(field.value));
                    facts.hosts += 1;
                }
                6 if name.eq_ignore_ascii_case(b"expect") => facts.expect = true,
                10 if name.eq_ignore_ascii_case(b"connection") => facts.connection = true,
                14 if name.eq_ignore_ascii_case(b"content-length") => {
                    facts.content_length = true;
                    facts.may_have_body |= trim_ows(field.value) != b"0";
                }
                17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                    facts.transfer_encoding = true;
                    facts.may_have_body = true;
                }
                len => facts.long_name |= len > MAX_HEADER_NAME_BYTES,
            }
        }
        facts
    }
}

/// An incomplete head may still be too long already.
fn check_partial(buf: &[u8], limits: &Limits) -> Result<(), ParseError> {
    let request_line_ended = buf.contains(&b'\n');
    if !request_line_ended && buf.len() > limits.max_uri_bytes + REQUEST_LINE_SLACK_BYTES {
        return Err(ParseError::UriTooLong {
            limit: limits.max_uri_bytes,
        });
    }
    if buf.len() > limits.max_head_bytes {
        return Err(ParseError::HeadTooLarge {
            limit: limits.max_head_bytes,
        });
    }
    Ok(())
}

/// httparse reports a version error for whatever follows the target when it is not
/// `HTTP/1.0` or `HTTP/1.1`, a request line with more than three parts (`GET /a b HTTP/1.1`)
/// included. RFC 9112 §3: `request-line = method SP request-target SP HTTP-version`, and
/// §2.3: `HTTP-version = "HTTP/" DIGIT "." DIGIT`. Only a well-formed line with another
/// version is 505 (RFC 9110 §15.6.6); any other line is malformed, 400. `None`: the line has
/// not ended and could still be either, so the answer does not depend on how it was split.
fn version_error(buf: &[u8]) -> Option<ParseError> {
    const MALFORMED: ParseError = ParseError::Malformed("invalid request line");
    /// `HTTP-version`, with `D` for a digit.
    const SHAPE: &[u8; 8] = b"HTTP/D.D";
    // httparse skips empty lines before the request line (RFC 9112 §2.2).
    let start = buf
        .iter()
        .position(|&b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(buf.len());
    let line = &buf[start..];
    let (line, ended) = match line.iter().position(|&b| matches!(b, b'\r' | b'\n')) {
        Some(end) => (&line[..end], true),
        None => (line, false),
    };
    let mut parts = line.split(|&b| b == b' ');
    let (Some(_method), Some(_target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Some(MALFORMED);
    };
    let fits_shape = version.len() <= SHAPE.len()
        && version
            .iter()
            .zip(SHAPE)
            .all(|(&b, &expected)| match expected {
                b'D' => b.is_ascii_digit(),
                expected => b == expected,
            });
    match (fits_shape, ended) {
        (true, true) if version.len() == SHAPE.len() => Some(ParseError::Version),
        (true, false) => None,
        _ => Some(MALFORMED),
    }
}

fn malformed(error: httparse::Error) -> ParseError {
    ParseError::Malformed(match error {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid token in request line",
        _ => "invalid request head",
    })
}

/// For a head `httparse` accepted: it rejects a CR not followed by LF, so every CR ends a
/// line, and a bare LF shows as more LFs than CRs. (Two counts vectorise; looking back
/// from each LF does not.)
fn has_bare_lf(head: &[u8]) -> bool {
    // Byte-wide counters per block of at most 255 bytes (they cannot overflow), so that
    // the comparisons run 16 bytes at a time; usize counters ran 4 at a time.
    let (mut cr, mut lf) = (0usize, 0usize);
    for block in head.chunks(255) {
        let (mut block_cr, mut block_lf) = (0u8, 0u8);
        for &b in block {
            block_cr += u8::from(b == b'\r');
            block_lf += u8::from(b == b'\n');
        }
        cr += usize::from(block_cr);
        lf += usize::from(block_lf);
    }
    cr != lf
}

/// RFC 9110 §7.2: `Host = uri-host [ ":" port ]`, with RFC 3986's `host` (§3.2.2): an
/// `IP-literal` in brackets, or a `reg-name` (which covers `IPv4address`), possibly empty;
/// `port = *DIGIT` (§3.2.3), possibly empty. No userinfo, path, query or fragment.
fn is_valid_host(value: &[u8]) -> bool {
    let (host_is_valid, port) = match value.strip_prefix(b"[") {
        Some(literal) => match literal.iter().position(|&b| b == b']') {
            Some(end) => (is_ip_literal(&literal[..end]), &literal[end + 1..]),
            None => return false,
        },
        // Every request has one: a reg-name and its port in one pass.
        None => match reg_name_len(value) {
            Some(end) => (true, &value[end..]),
            None => return false,
        },
    };
    host_is_valid
        && match port.split_first() {
            None => true,
            Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
            Some(_) => false,
        }
}

/// RFC 3986 §3.2.2: `IP-literal = "[" ( IPv6address / IPvFuture ) "]"`, brackets removed;
/// `IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )`. No zone identifier.
fn is_ip_literal(literal: &[u8]) -> bool {
    if let Some(future) = literal.strip_prefix(b"v").or(literal.strip_prefix(b"V")) {
        let Some(dot) = future.iter().position(|&b| b == b'.') else {
            return false;
        };
        let (version, rest) = (&future[..dot], &future[dot + 1..]);
        return !version.is_empty()
            && version.iter().all(u8::is_ascii_hexdigit)
            && !rest.is_empty()
            && rest
                .iter()
                .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':');
    }
    std::str::from_utf8(literal).is_ok_and(|text| text.parse::<std::net::Ipv6Addr>().is_ok())
}

/// The length of the `reg-name` (RFC 3986 §3.2.2) at the start of `text`, up to a `:` or
/// the end; `None` if a byte before that cannot be in one.
/// Host names are checked on every request: a table, not a chain of comparisons.
const REG_NAME_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = is_unreserved(b as u8) || is_sub_delim(b as u8);
        b += 1;
    }
    table
};

fn reg_name_len(text: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(&b) = text.get(at) {
        at += match b {
            b if REG_NAME_BYTE[usize::from(b)] => 1,
            b':' => return Some(at),
            b'%' => match text.get(at + 1..at + 3) {
                Some([high, low]) if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => 3,
                _ => return None,
            },
            _ => return None,
        };
    }
    Some(at)
}

/// RFC 3986 §2.3: `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"`.
const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 §2.2: `sub-delims = "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "="`.
const fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// RFC 9112 §6.3, in order: Transfer-Encoding wins over Content-Length, but a request with
/// both is rejected (§6.1: "ought to be handled as an error"; it is the smuggling vector);
/// chunked must be the final coding; otherwise Content-Length; otherwise no body.
fn body_framing(
    fields: &[httparse::Header<'_>],
    version: Version,
) -> Result<BodyFraming, ParseError> {
    if values(fields, b"transfer-encoding").next().is_some() {
        // §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
        if version == Version::HTTP_10 || values(fields, b"content-length").next().is_some() {
            return Err(ParseError::TransferEncoding);
        }
        let mut codings = Vec::new();
        for value in values(fields, b"transfer-encoding") {
            let value = std::str::from_utf8(value).map_err(|_| ParseError::TransferEncoding)?;
            for coding in value.split(',') {
                let coding = coding.trim();
                if coding.is_empty() {
                    return Err(ParseError::TransferEncoding);
                }
                codings.push(coding);
            }
        }
        let is_chunked = |coding: &str| coding.eq_ignore_ascii_case("chunked");
        let (last, earlier) = codings.split_last().expect("at least one coding");
        // §6.3: chunked must be the final coding, applied once (§7); otherwise the body's
        // end cannot be found and the answer is 400.
        if !is_chunked(last) || earlier.iter().any(|c| is_chunked(c)) {
            return Err(ParseError::TransferEncoding);
        }
        // §6.1: a coding we do not decode (gzip under chunked, say) is 501.
        if !earlier.is_empty() {
            return Err(ParseError::UnsupportedTransferCoding);
        }
        return Ok(BodyFraming::Chunked);
    }

    let mut length: Option<u64> = None;
    for value in values(fields, b"content-length") {
        // §6.3 rule 5 and RFC 9110 §8.6: a list of identical values may be folded into one;
        // anything that is not 1*DIGIT is invalid.
        for item in value.split(|&b| b == b',') {
            let parsed = parse_decimal(trim_ows(item)).ok_or(ParseError::ContentLength)?;
            match length {
                Some(existing) if existing != parsed => return Err(ParseError::ContentLength),
                _ => length = Some(parsed),
            }
        }
    }
    Ok(BodyFraming::Length(length.unwrap_or(0)))
}

/// The values of every field named `name` (a lowercase name), in order.
fn values<'a>(
    fields: &'a [httparse::Header<'a>],
    name: &'static [u8],
) -> impl Iterator<Item = &'a [u8]> + 'a {
    fields.iter().filter_map(move |field| {
        field
            .name
            .as_bytes()
            .eq_ignore_ascii_case(name)
            .then_some(field.value)
    })
}

fn trim_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let end = bytes.iter().rposition(|b| !matches!(b, b' ' | b'\t'));
    match (start, end) {
        (Some(start), Some(end)) => &bytes[start..=end],
        _ => &[],
    }
}

/// `1*DIGIT` as a u64: no sign, no spaces, no hex, no overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// RFC 9112 §9.3: HTTP/1.1 stays open unless `close`; HTTP/1.0 only with `keep-alive`.
fn keep_alive(fields: &[httparse::Header<'_>], version: Version) -> bool {
    let mut close = false;
    let mut keep_alive = false;
    for value in values(fields, b"connection") {
        for option in value.split(|&b| b == b',') {
            let option = trim_ows(option);
            close |= option.eq_ignore_ascii_case(b"close");
            keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
        }
    }
    match version {
        Version::HTTP_11 => !close,
        _ => keep_alive && !close,
    }
}

/// RFC 9110 §10.1.1: `100-continue` is the only expectation; others get 417. A server MUST
/// ignore it in an HTTP/1.0 request. Returns whether `100 Continue` is expected, and
/// whether an unsupported expectation was sent.
fn expectations(fields: &[httparse::Header<'_>], version: Version) -> (bool, bool) {
    let mut expect_continue = false;
    for value in values(fields, b"expect") {
        if trim_ows(value).eq_ignore_ascii_case(b"100-continue") {
            expect_continue = true;
        } else {
            return (false, true);
        }
    }
    (expect_continue && version == Version::HTTP_11, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> Result<Option<(RequestHead, usize)>, ParseError> {
        parse_head(input.as_bytes(), &Limits::default())
    }

    fn head(input: &str) -> RequestHead {
        parse(input).unwrap().expect("complete head").0
    }

    fn error(input: &str) -> ParseError {
        parse(input).unwrap_err()
    }

    /// Table of heads that must be rejected, with the error each gets.
    macro_rules! rejects {
        ($($name:ident: $input:expr => $error:pat,)*) => {$(
            #[test]
            fn $name() {
                let got = error($input);
                assert!(matches!(got, $error), "{:?} gave {got:?}", $input);
            }
        )*};
    }

    rejects! {
        connect_is_not_implemented: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n" => ParseError::MethodNotImplemented,
        authority_form_without_connect: "GET example.com:80 HTTP/1.1\r\nHost: example.com\r\n\r\n" => ParseError::Malformed(_),
        missing_host_on_1_1: "GET / HTTP/1.1\r\n\r\n" => ParseError::Host,
        repeated_host: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" => ParseError::Host,
        repeated_host_on_1_0: "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n" => ParseError::Host,
        // RFC 9110 §7.2, RFC 9112 §3.2: a Host value that is not `uri-host [ ":" port ]`.
        host_with_space: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n" => ParseError::Host,
        host_with_userinfo: "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n" => ParseError::Host,
        host_with_path: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n" => ParseError::Host,
        host_with_query: "GET / HTTP/1.1\r\nHost: a?b\r\n\r\n" => ParseError::Host,
        host_with_fragment: "GET / HTTP/1.1\r\nHost: a#b\r\n\r\n" => ParseError::Host,
        host_with_letter_port: "GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n" => ParseError::Host,
        host_with_two_ports: "GET / HTTP/1.1\r\nHost: a:80:81\r\n\r\n" => ParseError::Host,
        host_unbracketed_ipv6: "GET / HTTP/1.1\r\nHost: ::1\r\n\r\n" => ParseError::Host,
        host_unbracketed_ipv6_full: "GET / HTTP/1.1\r\nHost: 2001:db8::1\r\n\r\n" => ParseError::Host,
        host_unclosed_ipv6: "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n" => ParseError::Host,
        host_bracketed_name: "GET / HTTP/1.1\r\nHost: [example.com]\r\n\r\n" => ParseError::Host,
        host_ipv6_zone: "GET / HTTP/1.1\r\nHost: [fe80::1%eth0]\r\n\r\n" => ParseError::Host,
        host_text_after_ipv6: "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n" => ParseError::Host,
        host_bad_percent: "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n" => ParseError::Host,
        host_short_percent: "GET / HTTP/1.1\r\nHost: a%4\r\n\r\n" => ParseError::Host,
        host_backslash: "GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n" => ParseError::Host,
        host_obs_text: "GET / HTTP/1.1\r\nHost: caf\u{e9}\r\n\r\n" => ParseError::Host,
        host_invalid_on_1_0: "GET / HTTP/1.0\r\nHost: a b\r\n\r\n" => ParseError::Host,
        host_invalid_with_absolute_target: "GET http://a/ HTTP/1.1\r\nHost: a b\r\n\r\n" => ParseError::Host,
        content_length_plus: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n" => ParseError::ContentLength,
        content_length_hex: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n" => ParseError::ContentLength,
        content_length_inner_space: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n" => ParseError::ContentLength,
        content_length_negative: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n" => ParseError::ContentLength,
        content_length_empty: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n" => ParseError::ContentLength,
        content_length_overflow: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n" => ParseError::ContentLength,
        content_length_conflict: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n" => ParseError::ContentLength,
        content_length_list_conflict: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n" => ParseError::ContentLength,
        te_and_cl: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" => ParseError::TransferEncoding,
        te_on_1_0: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" => ParseError::TransferEncoding,
        te_chunked_not_last: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n" => ParseError::TransferEncoding,
        te_chunked_twice: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" => ParseError::TransferEncoding,
        te_empty_item: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n" => ParseError::TransferEncoding,
        te_gzip_then_chunked: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" => ParseError::UnsupportedTransferCoding,
        te_unknown_alone: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: zstd-magic\r\n\r\n" => ParseError::TransferEncoding,
        te_unknown_then_chunked: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: zstd-magic, chunked\r\n\r\n" => ParseError::UnsupportedTransferCoding,
        te_identity: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n" => ParseError::TransferEncoding,
        garbage_request_line: "HELLO\r\n\r\n" => ParseError::Malformed(_),
        space_before_colon: "GET / HTTP/1.1\r\nHost : a\r\n\r\n" => ParseError::Malformed(_),
        obs_fold: "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n" => ParseError::Malformed(_),
        control_char_in_value: "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n" => ParseError::Malformed(_),
        bare_lf_in_headers: "GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n" => ParseError::Malformed(_),
        bare_lf_request_line: "GET / HTTP/1.1\nHost: a\r\n\r\n" => ParseError::Malformed(_),
        bare_cr: "GET / HTTP/1.1\rHost: a\r\n\r\n" => ParseError::Malformed(_),
        http_2_version: "GET / HTTP/2.0\r\nHost: a\r\n\r\n" => ParseError::Version,
        http_2_preface: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" => ParseError::Version,
        http_0_9_style: "GET /\r\n\r\n" => ParseError::Malformed(_) | ParseError::Version,
        // RFC 9112 §3: method SP request-target SP HTTP-version; more parts are malformed,
        // not an unsupported version.
        request_line_with_four_parts: "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n" => ParseError::Malformed(_),
        request_line_with_double_space: "GET /a  HTTP/1.1\r\nHost: a\r\n\r\n" => ParseError::Malformed(_),
        request_line_with_five_parts: "GET /a b c HTTP/2.0\r\nHost: a\r\n\r\n" => ParseError::Malformed(_),
        request_line_lowercase_version: "GET / http/1.1\r\nHost: a\r\n\r\n" => ParseError::Malformed(_),
        request_line_version_not_digits: "GET / HTTP/x.y\r\nHost: a\r\n\r\n" => ParseError::Malformed(_),
        http_1_2_version: "GET / HTTP/1.2\r\nHost: a\r\n\r\n" => ParseError::Version,
    }

    #[test]
    fn simple_get_is_complete_with_its_length() {
        let input = "GET /users/7?x=1 HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\nNEXT";
        let (head, len) = parse(input).unwrap().unwrap();
        assert_eq!(len, input.len() - 4);
        assert_eq!(head.parts.method, Method::GET);
        assert_eq!(head.target().path(), "/users/7");
        assert_eq!(head.target().query(), Some("x=1"));
        assert_eq!(
            head.parts.uri, "/",
            "the target is left as bytes until asked for"
        );
        assert_eq!(head.raw_head.target_uri().unwrap(), "/users/7?x=1");
        assert!(
            head.parts.headers.is_empty(),
            "left as bytes until asked for"
        );
        let headers = head.raw_head.to_map();
        assert_eq!(headers["accept"], "*/*");
        assert_eq!(headers["host"], "example");
        assert_eq!(head.framing, BodyFraming::Length(0));
        assert!(head.keep_alive);
        assert!(!head.expect_continue);
    }

    /// An unknown expectation is not a parse error: the engine answers it 417 once the
    /// request is routed, through the route's middleware.
    #[test]
    fn an_unknown_expectation_is_marked_not_refused() {
        let input = "POST / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n";
        let (head, _) = parse(input).unwrap().unwrap();
        assert!(head.expectation_failed && !head.expect_continue);
        let input = "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n";
        let (head, _) = parse(input).unwrap().unwrap();
        assert!(!head.expectation_failed && head.expect_continue);
    }

    #[test]
    fn every_prefix_of_a_head_is_partial() {
        let input = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
        for end in 0..input.len() {
            assert!(parse(&input[..end]).unwrap().is_none(), "prefix {end}");
        }
        assert!(parse(input).unwrap().is_some());
    }

    /// A request line gets the same answer however it is split across reads: 400 for a
    /// malformed line, 505 only for a well-formed one with another version.
    #[test]
    fn request_line_errors_agree_at_every_split() {
        for (input, expect_version) in [
            ("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", false),
            ("GET / HTTP/2.0 x\r\nHost: a\r\n\r\n", false),
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", true),
            ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", true),
        ] {
            for end in 0..=input.len() {
                match parse(&input[..end]) {
                    Ok(None) => assert!(end < input.len(), "{input:?} never decided"),
                    Err(ParseError::Version) => assert!(expect_version, "{input:?} at {end}"),
                    Err(ParseError::Malformed(_)) => assert!(!expect_version, "{input:?} at {end}"),
                    other => panic!("{input:?} at {end}: {:?}", other.map(|h| h.map(|(_, l)| l))),
                }
            }
        }
    }

    #[test]
    fn absolute_form_target_is_accepted() {
        let head = head("GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n");
        assert_eq!(head.parts.uri.host(), Some("example.com"));
        assert_eq!(head.parts.uri.path(), "/a");
        assert_eq!(head.target().path(), "/a");
        assert!(head.raw_head.target_uri().is_none(), "parsed at once");
    }

    #[test]
    fn a_target_http_takes_but_we_do_not_keep_is_parsed_at_once() {
        for (target, path) in [("/a#frag", "/a"), ("/%7B%7D{}", "/%7B%7D{}"), ("*", "*")] {
            let head = head(&format!("OPTIONS {target} HTTP/1.1\r\nHost: a\r\n\r\n"));
            assert_eq!(head.parts.uri.path(), path, "{target}");
            assert_eq!(head.target().path(), path, "{target}");
            assert!(head.raw_head.target_uri().is_none(), "{target}");
        }
    }

    /// RFC 9110 §7.2: `Host = uri-host [ ":" port ]`, `port = *DIGIT` (RFC 3986 §3.2.3, so
    /// an empty port is valid), and an empty value for a target without authority.
    #[test]
    fn valid_host_values_are_accepted() {
        for host in [
            "example.com",
            "example.com:8080",
            "example.com:",
            "EXAMPLE.com",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8080",
            "[2001:db8::7]:",
            "[::ffff:192.0.2.1]",
            "[v7.fe80::a+en1]",
            "xn--bcher-kva.example",
            "a_b~c-d.e",
            "sub.delims!$&'()*+,;=",
            "pct%20encoded",
            "",
        ] {
            let input = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            assert!(
                matches!(parse(&input), Ok(Some(_))),
                "{host:?} gave {:?}",
                parse(&input).map(|head| head.map(|(_, len)| len))
            );
        }
    }

    #[test]
    fn http_1_0_needs_no_host_and_closes_by_default() {
        let head = head("GET / HTTP/1.0\r\n\r\n");
        assert_eq!(head.parts.version, Version::HTTP_10);
        assert!(!head.keep_alive);
        let head = self::head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(head.keep_alive);
    }

    #[test]
    fn connection_close_is_honoured_in_a_list() {
        assert!(
            !head("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, close\r\n\r\n").keep_alive
        );
    }

    /// The fields are read in one pass: each fact must hold wherever its field is, in any
    /// case, among fields of the same length.
    #[test]
    fn fields_are_found_among_others_in_one_pass() {
        let head = head(
            "POST / HTTP/1.1\r\nX-Ab: 1\r\nHOST: a\r\nAccept: */*\r\nconnection: close\r\n\
             X-Long-Name-17-b: 2\r\nTransfer-encoding: chunked\r\n\r\n",
        );
        assert_eq!(head.framing, BodyFraming::Chunked);
        assert!(!head.keep_alive);
        // A second Host late in the head is still a second Host.
        let late = "GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nhost: b\r\n\r\n";
        assert!(matches!(parse(late), Err(ParseError::Host)));
        // `Content-Length: 0` is no body; a field named like one but longer is not one.
        let head = self::head(
            "GET / HTTP/1.1\r\nHost: a\r\nContent-Lengths: 9\r\nContent-Length:  0 \r\n\r\n",
        );
        assert_eq!(head.framing, BodyFraming::Length(0));
        assert!(head.keep_alive && !head.expect_continue && !head.expectation_failed);
        let head = self::head("GET / HTTP/1.1\r\nExpect: nothing\r\nHost: a\r\n\r\n");
        assert!(head.expectation_failed);
    }

    #[test]
    fn identical_content_lengths_fold() {
        let head =
            head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(head.framing, BodyFraming::Length(5));
        let head = self::head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\n\r\n");
        assert_eq!(head.framing, BodyFraming::Length(7));
    }

    #[test]
    fn chunked_is_case_insensitive() {
        let head = head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert_eq!(head.framing, BodyFraming::Chunked);
    }

    #[test]
    fn expect_continue_only_on_1_1() {
        assert!(
            head("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n")
                .expect_continue
        );
        assert!(
            !head("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
                .expect_continue
        );
    }

    #[test]
    fn leading_empty_line_is_ignored() {
        assert_eq!(
            head("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").parts.method,
            Method::GET
        );
    }

    #[test]
    fn long_target_is_414_even_before_the_line_ends() {
        let limits = Limits::default();
        let long = format!(
            "GET /{} HTTP/1.1\r\nHost: a\r\n\r\n",
            "a".repeat(limits.max_uri_bytes)
        );
        assert!(matches!(error(&long), ParseError::UriTooLong { .. }));
        let unfinished = format!(
            "GET /{}",
            "a".repeat(limits.max_uri_bytes + REQUEST_LINE_SLACK_BYTES)
        );
        assert!(matches!(error(&unfinished), ParseError::UriTooLong { .. }));
    }

    #[test]
    fn large_head_is_431() {
        let limits = Limits::default();
        let mut input = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        while input.len() <= limits.max_head_bytes {
            input.push_str(
                "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            );
        }
        // Partial (no blank line yet) and complete heads are both refused.
        assert!(matches!(
            error(&input),
            ParseError::HeadTooLarge { .. } | ParseError::TooManyHeaders { .. }
        ));
        let few_but_long = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
            "b".repeat(limits.max_head_bytes)
        );
        assert!(matches!(
            error(&few_but_long),
            ParseError::HeadTooLarge { .. }
        ));
    }

    #[test]
    fn too_many_headers_is_431() {
        let mut input = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..DEFAULT_MAX_HEADERS_FOR_TEST {
            input.push_str(&format!("X-{i}: v\r\n"));
        }
        input.push_str("\r\n");
        let got = error(&input);
        assert!(
            matches!(got, ParseError::TooManyHeaders { limit: 100 }),
            "{got:?}"
        );
        assert_eq!(
            got.status(),
            http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }
    const DEFAULT_MAX_HEADERS_FOR_TEST: usize = crate::limits::DEFAULT_MAX_HEADERS;

    #[test]
    fn statuses_match_the_rfc() {
        use http::StatusCode;
        assert_eq!(
            error("GET / HTTP/1.1\r\n\r\n").status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            error("GET / HTTP/2.0\r\nHost: a\r\n\r\n").status(),
            StatusCode::HTTP_VERSION_NOT_SUPPORTED
        );
        assert_eq!(
            error("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: br, chunked\r\n\r\n").status(),
            StatusCode::NOT_IMPLEMENTED
        );
        assert_eq!(
            ParseError::ExpectationFailed.status(),
            StatusCode::EXPECTATION_FAILED
        );
    }

    #[test]
    fn a_crlf_anywhere_in_a_long_head_is_a_line_end() {
        // Every alignment of the CRLF pairs against the counters' 255-byte blocks.
        for width in 0..300 {
            let head = format!(
                "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: {}\r\n\r\n",
                "p".repeat(width)
            );
            assert!(!has_bare_lf(head.as_bytes()), "width {width}");
            assert!(parse(&head).unwrap().is_some(), "width {width}");
            let bare = head.replacen("\r\nX-Pad", "\nX-Pad", 1);
            assert!(has_bare_lf(bare.as_bytes()), "width {width}");
        }
    }

    /// The plain definition `has_bare_lf` must agree with wherever httparse accepts a head.
    fn bare_lf_by_lookback(head: &[u8]) -> bool {
        head.iter()
            .enumerate()
            .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
    }

    proptest::proptest! {
        #[test]
        fn bare_lf_is_found_exactly_when_a_head_has_one(
            lines in proptest::collection::vec(
                (0usize..5, proptest::sample::select(vec![
                    "\r\n", "\n", "\r", "\r\r\n", "\n\r",
                ])),
                1..6,
            ),
            last in proptest::sample::select(vec!["\r\n", "\n", "\r\r\n"]),
        ) {
            // A long line puts line ends across the counters' 255-byte blocks.
            let long = format!("X-Long: {}", "v".repeat(300));
            let lines_text = ["Host: a", "X-K: v", "Accept: */*", "X-Empty:", &long];
            let mut head = String::from("GET /p HTTP/1.1");
            for (line, ending) in &lines {
                head.push_str(ending);
                head.push_str(lines_text[*line]);
            }
            head.push_str("\r\n");
            head.push_str(last);
            let bytes = head.as_bytes();
            match parse_head(bytes, &Limits::default()) {
                Ok(Some((_, len))) => proptest::prop_assert!(!bare_lf_by_lookback(&bytes[..len])),
                Err(ParseError::Malformed("line not terminated by CRLF")) => {
                    proptest::prop_assert!(bare_lf_by_lookback(bytes));
                }
                _ => {}
            }
        }
    }
}

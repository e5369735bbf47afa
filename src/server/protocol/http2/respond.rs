//! A stream's response on its way out: the head made valid HTTP/2, then the body as the
//! stream's flow-control window opens (a streamed body read a chunk at a time as it does).
//! A window that stays closed past the write timeout resets the stream.

use std::io::Read;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, SendStream};
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};

use super::{Progress, StreamState};
use crate::body::{Body, Kind};
use crate::limits::deadline_after;
use crate::server::Shared;

/// A response body is read from its source this much at a time.
const BODY_CHUNK_BYTES: usize = 16 * 1024;

/// A response body on its way out.
pub(super) struct Outgoing {
    pub(super) send: SendStream<Bytes>,
    /// Taken from the body, not yet sent.
    pending: Bytes,
    /// The rest of a streamed body.
    source: Option<Box<dyn Read + Send>>,
    /// When the last byte went out (a window that never opens is a write timeout).
    progressed: Instant,
    /// The request was still arriving when the response began: reset the stream once the
    /// response is complete (RFC 9113 §8.1).
    reset_after: bool,
}

impl Outgoing {
    /// When a window that stays closed resets the stream.
    pub(super) fn write_deadline(&self, write_timeout: std::time::Duration) -> Instant {
        deadline_after(self.progressed, write_timeout)
    }
}

/// Sends a response's head, and its body if it has one.
pub(super) fn start_response(
    mut respond: SendResponse<Bytes>,
    response: http::Response<Body>,
    head_request: bool,
    reset_after: bool,
) -> StreamState {
    let (mut parts, body) = response.into_parts();
    prepare_headers(&mut parts.headers, parts.status, body.len());
    let status = parts.status;
    let bodiless = head_request
        || body.len() == Some(0)
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let head = http::Response::from_parts(parts, ());
    let Ok(send) = respond.send_response(head, bodiless) else {
        return StreamState::Done;
    };
    if bodiless {
        if reset_after {
            let mut send = send;
            send.send_reset(Reason::NO_ERROR);
        }
        return StreamState::Done;
    }
    let (pending, source) = match body.into_kind() {
        Kind::Bytes(bytes) => (bytes_of(bytes), None),
        Kind::Stream(reader) | Kind::SizedStream(reader, _) => (Bytes::new(), Some(reader)),
    };
    StreamState::Sending(Box::new(Outgoing {
        send,
        pending,
        source,
        progressed: Instant::now(),
        reset_after,
    }))
}

fn bytes_of(bytes: std::borrow::Cow<'static, [u8]>) -> Bytes {
    match bytes {
        std::borrow::Cow::Borrowed(bytes) => Bytes::from_static(bytes),
        std::borrow::Cow::Owned(bytes) => Bytes::from(bytes),
    }
}

/// Makes a response's header fields valid HTTP/2: no connection-specific fields (RFC 9113
/// §8.2.2), `Content-Length` when the length is known, and `Date`.
pub(super) fn prepare_headers(headers: &mut HeaderMap, status: StatusCode, length: Option<u64>) {
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::HeaderName::from_static("keep-alive"),
        header::HeaderName::from_static("proxy-connection"),
    ] {
        headers.remove(name);
    }
    if let Some(length) = length {
        let bodiless_status = status.is_informational() || status == StatusCode::NO_CONTENT;
        if !bodiless_status && !headers.contains_key(header::CONTENT_LENGTH) {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
    }
    if !headers.contains_key(header::DATE) {
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        if let Ok(value) = HeaderValue::from_str(&date) {
            headers.insert(header::DATE, value);
        }
    }
}

/// Sends what the stream's window takes of its body; reads a streamed body a chunk at a time
/// as the window opens.
pub(super) fn send_body(
    mut out: Box<Outgoing>,
    now: Instant,
    shared: &Shared,
    task: &mut Context<'_>,
    progress: &mut Progress,
) -> StreamState {
    let write_timeout = shared.limits.write_timeout;
    loop {
        if out.pending.is_empty() {
            let Some(source) = &mut out.source else {
                return finish_body(&mut out);
            };
            let mut chunk = vec![0u8; BODY_CHUNK_BYTES];
            match read_some(source.as_mut(), &mut chunk) {
                Ok(0) => {
                    out.source = None;
                    return finish_body(&mut out);
                }
                Ok(n) => {
                    chunk.truncate(n);
                    out.pending = Bytes::from(chunk);
                }
                Err(_) => {
                    // The body failed midway: the stream ends as incomplete.
                    out.send.send_reset(Reason::INTERNAL_ERROR);
                    return StreamState::Done;
                }
            }
        }
        out.send.reserve_capacity(out.pending.len());
        match out.send.poll_capacity(task) {
            Poll::Ready(Some(Ok(0))) | Poll::Pending => {
                if now >= deadline_after(out.progressed, write_timeout) {
                    // A window that does not open within the write timeout.
                    out.send.send_reset(Reason::CANCEL);
                    return StreamState::Done;
                }
                return StreamState::Sending(out);
            }
            Poll::Ready(Some(Ok(capacity))) => {
                let take = capacity.min(out.pending.len());
                let chunk = out.pending.split_to(take);
                let last = out.pending.is_empty() && out.source.is_none();
                if out.send.send_data(chunk, last).is_err() {
                    return StreamState::Done;
                }
                out.progressed = now;
                progress.made();
                if last {
                    if out.reset_after {
                        out.send.send_reset(Reason::NO_ERROR);
                    }
                    return StreamState::Done;
                }
            }
            // Reset by the client, or the connection ended.
            Poll::Ready(Some(Err(_)) | None) => {
                shared.counters.http2_reset();
                return StreamState::Done;
            }
        }
    }
}

/// Ends a body whose last bytes were sent without the end-of-stream flag (a streamed body
/// learns its end only when its source says so).
fn finish_body(out: &mut Outgoing) -> StreamState {
    let _ = out.send.send_data(Bytes::new(), true);
    if out.reset_after {
        out.send.send_reset(Reason::NO_ERROR);
    }
    StreamState::Done
}

fn read_some(source: &mut (dyn Read + Send), buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match source.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

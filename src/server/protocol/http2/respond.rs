//! A stream's response on its way out: the head made valid HTTP/2, then the body as the
//! stream's flow-control window opens (a streamed body read a chunk at a time as it does).
//! A window that stays closed past the write timeout resets the stream. A response that
//! begins before its request's body is complete needs nothing more: once the stream's
//! handles are dropped, `h2` resets it with NO_ERROR after the response (RFC 9113 §8.1).

use std::io::Read;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, SendStream};
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::{Progress, StreamState};
use crate::body::{Body, Kind};
use crate::limits::deadline_after;
use crate::server::Shared;

/// A response body is read from its source this much at a time.
const BODY_CHUNK_BYTES: usize = 16 * 1024;

/// A response body on its way out.
pub(super) struct Outgoing {
    send: SendStream<Bytes>,
    /// Taken from the body, not yet sent.
    pending: Bytes,
    /// The rest of a streamed body.
    source: Option<Box<dyn Read + Send>>,
    /// What the source still owes of a body of known length (its `content-length`).
    owed: Option<u64>,
    /// When the last byte went out (a window that never opens is a write timeout).
    progressed: Instant,
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
) -> StreamState {
    let (mut parts, body) = response.into_parts();
    let status = parts.status;
    prepare_headers(&mut parts.headers, status, body.len());
    let bodiless = head_request
        || body.len() == Some(0)
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let head = http::Response::from_parts(parts, ());
    let send = match respond.send_response(head, bodiless) {
        Ok(send) => send,
        Err(_) => {
            // `h2` refused the head (the stream closed meanwhile, or a field HTTP/2 forbids
            // that survived `prepare_headers`): the client gets a 500 if it still listens.
            crate::logging::log_debug!("an HTTP/2 response head was refused; answering 500");
            let mut head = http::Response::new(());
            *head.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            let _ = respond.send_response(head, true);
            return StreamState::Done;
        }
    };
    if bodiless {
        return StreamState::Done;
    }
    let (pending, source, owed) = match body.into_kind() {
        Kind::Bytes(bytes) => (bytes_of(bytes), None, None),
        Kind::Stream(reader) => (Bytes::new(), Some(reader), None),
        Kind::SizedStream(reader, length) => (Bytes::new(), Some(reader), Some(length)),
        Kind::File(range, length) => (Bytes::new(), Some(Box::new(range) as _), Some(length)),
    };
    StreamState::Sending(Box::new(Outgoing {
        send,
        pending,
        source,
        owed,
        progressed: Instant::now(),
    }))
}

fn bytes_of(bytes: std::borrow::Cow<'static, [u8]>) -> Bytes {
    match bytes {
        std::borrow::Cow::Borrowed(bytes) => Bytes::from_static(bytes),
        std::borrow::Cow::Owned(bytes) => Bytes::from(bytes),
    }
}

/// Makes a response's header fields valid HTTP/2: no connection-specific fields (RFC 9113
/// §8.2.2: those `Connection` names, and itself), `Content-Length` when the length is known
/// and the status has a body, and `Date`.
pub(super) fn prepare_headers(headers: &mut HeaderMap, status: StatusCode, length: Option<u64>) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::TE,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ] {
        headers.remove(name);
    }
    if let Some(length) = length {
        let bodiless_status = status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        if !bodiless_status && !headers.contains_key(header::CONTENT_LENGTH) {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
    }
    if !headers.contains_key(header::DATE) {
        if let Some(date) = crate::http1::date_header_value() {
            headers.insert(header::DATE, date);
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
            // A body of known length is read no further than its length.
            let want = out.owed.map_or(BODY_CHUNK_BYTES, |owed| {
                usize::try_from(owed).map_or(BODY_CHUNK_BYTES, |owed| owed.min(BODY_CHUNK_BYTES))
            });
            let mut chunk = vec![0u8; want];
            match read_some(source.as_mut(), &mut chunk) {
                Ok(0) => {
                    out.source = None;
                    if out.owed.is_some_and(|owed| owed > 0) {
                        // Shorter than its length: the client must not take it as whole.
                        out.send.send_reset(Reason::INTERNAL_ERROR);
                        return StreamState::Done;
                    }
                    return finish_body(&mut out);
                }
                Ok(n) => {
                    chunk.truncate(n);
                    if let Some(owed) = &mut out.owed {
                        *owed = owed.saturating_sub(n as u64);
                        if *owed == 0 {
                            // All of its length: what the source may have beyond is not sent.
                            out.source = None;
                        }
                    }
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

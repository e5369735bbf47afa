//! The output side of a turn: responses encoded into the worker's buffer, the rest of a
//! streamed body copied as the socket takes it (a file sent with `sendfile` where the socket
//! is plain), and what follows once all of it is out.

use std::io;

use http::StatusCode;

use super::TurnClock;
use super::encode::{self, ConnectionHeader, Framing};
use super::service::{Reply, Switch};
use super::state::AfterOutput;
use super::write::{Copied, OutgoingBody, plan_response};
use crate::body::{Body, Kind};
use crate::io::{Stream, write_pending};

/// See the module docs.
pub(super) struct Output<'a> {
    /// The worker's output buffer, reused for every connection it serves (cleared first).
    pub(super) bytes: &'a mut Vec<u8>,
    /// The rest of a streamed response body, sent as the socket takes it.
    pub(super) body: Option<OutgoingBody>,
    pub(super) after: AfterOutput,
}

/// How a response ended up encoded.
pub(super) enum Encoded<U> {
    /// An ordinary response (perhaps with a body to stream).
    Response,
    /// The head of a response that switches protocols: `U` takes over the connection
    /// (`chunked`: a `Switch::Stream` body is sent as chunks).
    Switched { upgrade: U, chunked: bool },
}

impl Output<'_> {
    /// Whether something is left to write.
    pub(super) fn is_pending(&self) -> bool {
        !self.bytes.is_empty() || self.body.is_some()
    }

    /// Encodes the service's reply. A streamed body is set up to be copied as the socket
    /// takes it; a switch the response may not make (a 101 to anything but a `Switch::
    /// Upgrade`, an event stream to `HEAD`) is dropped and the response sent as it is.
    pub(super) fn encode<U>(
        &mut self,
        reply: Reply<U>,
        is_head: bool,
        version: http::Version,
        keep_alive: bool,
        clock: &TurnClock,
    ) -> Encoded<U> {
        let (parts, body) = reply.response.into_parts();
        let content_type = reply.content_type;
        if let Some((switch, upgrade)) = reply.switch {
            if let Some((framing, connection)) = switch_framing(switch, &parts, is_head, version) {
                let head = encode::Head {
                    status: parts.status,
                    content_type,
                    headers: &parts.headers,
                };
                encode::encode_head(self.bytes, &head, framing, connection, clock.latest());
                let chunked = framing == Framing::Chunked;
                return Encoded::Switched { upgrade, chunked };
            }
        }
        let (status, content_type, headers, kind) = if parts.status.is_informational() {
            // A 1xx is never a final response (RFC 9110 §15.2), and we send none but
            // `100 Continue` ourselves: the handler is wrong, so the client gets a 500.
            crate::logging::log_error!(
                "a handler answered {} as a final response; sent 500 instead",
                parts.status
            );
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                http::HeaderMap::new(),
                Body::from("Internal Server Error\n").into_kind(),
            )
        } else {
            (parts.status, content_type, parts.headers, body.into_kind())
        };
        let plan = plan_response(status, &kind, is_head, version, keep_alive);
        let head = encode::Head {
            status,
            content_type,
            headers: &headers,
        };
        let now = clock.latest();
        encode::encode_head(self.bytes, &head, plan.framing, plan.connection, now);
        crate::head::give_back(headers);
        if !plan.keep_alive {
            self.after = AfterOutput::Close;
        }
        if plan.send_body {
            let chunked = plan.framing == Framing::Chunked;
            match kind {
                Kind::Bytes(bytes) => self.bytes.extend_from_slice(&bytes),
                Kind::Stream(reader) => {
                    self.body = Some(OutgoingBody::new(reader, chunked, None));
                }
                Kind::SizedStream(reader, len) => {
                    self.body = Some(OutgoingBody::new(reader, false, Some(len)));
                }
                Kind::File(range, len) => self.body = Some(OutgoingBody::file(range, len)),
            }
        }
        Encoded::Response
    }

    /// Writes the output and copies the streamed body, without blocking. `Ok(true)`: all of
    /// it went out; `Ok(false)`: the socket is full (the rest stays owed). `cut_short` is set
    /// when the body failed midway.
    pub(super) fn write<S: Stream + ?Sized>(
        &mut self,
        io: &mut S,
        clock: &TurnClock,
        cut_short: &mut bool,
    ) -> io::Result<bool> {
        loop {
            if !self.write_bytes(io)? {
                return Ok(false);
            }
            let Some(body) = &mut self.body else {
                return Ok(true);
            };
            // The handler's reader may block (and a file read from disk).
            let copied = match body.send_file(io) {
                Some(sent) => sent,
                None => body.copy_piece(self.bytes),
            };
            clock.forget();
            match copied {
                Ok(Copied::Piece) => {}
                Ok(Copied::Full) => return Ok(false),
                Ok(Copied::End) => self.body = None,
                Err(error) => {
                    // The response cannot be completed; closing tells the client so.
                    self.body = None;
                    *cut_short = true;
                    let _ = self.write_bytes(io);
                    return Err(error);
                }
            }
        }
    }

    /// Writes the buffered bytes without blocking. `Ok(false)`: the socket took only part
    /// of them; the rest is kept.
    fn write_bytes<S: Stream + ?Sized>(&mut self, io: &mut S) -> io::Result<bool> {
        let mut written = 0;
        let result = write_pending(io, self.bytes, &mut written);
        self.bytes.drain(..written);
        result
    }

    /// Writes the buffered bytes with blocking writes bounded by `timeout`: only before a
    /// handler that streams its request body takes over (it blocks its worker anyway). The
    /// stream is left in blocking mode when it had to block.
    pub(super) fn write_blocking<S: Stream + ?Sized>(
        &mut self,
        io: &mut S,
        timeout: std::time::Duration,
        clock: &TurnClock,
    ) -> io::Result<()> {
        if self.write_bytes(io)? {
            return Ok(());
        }
        io.set_blocking(Some(timeout))?;
        let written = io.write_all(self.bytes);
        clock.forget();
        self.bytes.clear();
        written
    }
}

/// The framing of the head of a response that switches protocols as `switch` says, if it
/// may (RFC 9110 §15.2.2: only a 101 switches; an event stream is a 200 to anything but
/// `HEAD`).
fn switch_framing(
    switch: Switch,
    parts: &http::response::Parts,
    is_head: bool,
    version: http::Version,
) -> Option<(Framing, ConnectionHeader)> {
    match switch {
        Switch::Upgrade if parts.status == StatusCode::SWITCHING_PROTOCOLS => {
            Some((Framing::Unframed, ConnectionHeader::Upgrade))
        }
        Switch::Stream if parts.status == StatusCode::OK && !is_head => {
            if version >= http::Version::HTTP_11 {
                Some((Framing::Chunked, ConnectionHeader::Close))
            } else {
                Some((Framing::Unframed, ConnectionHeader::Close))
            }
        }
        _ => None,
    }
}

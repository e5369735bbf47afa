//! A WebSocket's turn on a worker (RFC 6455, framing by tungstenite): read the frames
//! that are there and call the session for each message, write what senders queued and
//! what the timers ask for (pings, the closing handshake), then say when the connection
//! needs its next turn. It never waits: the poller does that.

use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tungstenite::error::{Error as WsError, ProtocolError};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig as FrameConfig, WebSocketContext};
use tungstenite::{Bytes, Message};

use super::{LiveCx, MAX_ROUNDS, TURN_BUDGET, earliest};
use crate::io::{Discarded, MAX_DISCARD_BYTES, discard_input, write_pending};
use crate::limits::deadline_after;
use crate::live::WebSocketAccepted;
use crate::live::outbox::{CloseRequest, Outbox};
use crate::server::outcome::{Outcome, Wait};

/// Outgoing frames are gathered up to this size, then written.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;

/// A WebSocket connection: tungstenite's framing state, the session, and the timers.
pub(in crate::server) struct WebSocketConn {
    accepted: WebSocketAccepted,
    frames: WebSocketContext,
    /// The HTTP output (ending with the 101) still to be written, and how much of it is.
    prefix: Vec<u8>,
    prefix_written: usize,
    opened: bool,
    /// `on_close` was called (or will not be: the session panicked).
    session_closed: bool,
    /// The last text or binary message, either way.
    last_message: Instant,
    next_ping: Option<Instant>,
    /// When the unanswered ping was sent.
    ping_sent: Option<Instant>,
    /// When the server sent its close frame; the client has `close_timeout` to answer.
    closing_since: Option<Instant>,
    /// The connection failed (a protocol error): its input is dropped until it closes.
    failed: bool,
    /// Since when the client has not taken what is written.
    blocked_since: Option<Instant>,
    /// A turn saw the server shutting down (it says goodbye once its 101 is out).
    saw_draining: bool,
    going_away: bool,
}

/// How reading ended.
enum Reading {
    /// Nothing more to read now.
    Drained,
    /// The budget is spent with input perhaps left.
    Budget,
    /// The connection is done.
    Close,
}

impl WebSocketConn {
    pub(super) fn new(accepted: WebSocketAccepted, leftover: Vec<u8>, prefix: Vec<u8>) -> Self {
        let config = &accepted.config;
        let frame_config = FrameConfig::default()
            .read_buffer_size(config.read_buffer_size.max(16))
            .write_buffer_size(WRITE_BUFFER_BYTES)
            .max_write_buffer_size(usize::MAX)
            .max_message_size(Some(config.max_message_size))
            .max_frame_size(Some(config.max_frame_size));
        let frames =
            WebSocketContext::from_partially_read(leftover, Role::Server, Some(frame_config));
        let now = Instant::now();
        let next_ping = config.ping_interval.map(|every| deadline_after(now, every));
        Self {
            accepted,
            frames,
            prefix,
            prefix_written: 0,
            opened: false,
            session_closed: false,
            last_message: now,
            next_ping,
            ping_sent: None,
            closing_since: None,
            failed: false,
            blocked_since: None,
            saw_draining: false,
            going_away: false,
        }
    }

    /// The outbox senders wake the connection through.
    pub(super) fn set_waker(&self, waker: Arc<dyn crate::live::outbox::Wake>) {
        self.accepted.handle.outbox().set_waker(waker);
    }

    pub(super) fn told_to_go(&self) -> bool {
        self.saw_draining
    }

    pub(super) fn turn<S: Read + Write>(
        &mut self,
        io: &mut S,
        now: Instant,
        cx: &LiveCx<'_>,
    ) -> Outcome {
        let outbox = Arc::clone(self.accepted.handle.outbox());
        outbox.begin_turn();
        self.saw_draining |= cx.draining;
        if !self.opened {
            // Before the 101 is written: a client that sees it knows `on_open` ran.
            self.opened = true;
            self.call(|session, ws| session.on_open(ws));
        }
        match write_pending(io, &self.prefix, &mut self.prefix_written) {
            Ok(true) => self.prefix = Vec::new(),
            Ok(false) => return self.park_blocked(now, cx),
            Err(_) => return self.end(),
        }
        let mut rounds = 0;
        loop {
            rounds += 1;
            if self.failed {
                return self.discard_until_closed(io, now, cx);
            }
            let more_input = match self.read(io, now) {
                Reading::Drained => false,
                Reading::Budget => true,
                Reading::Close => return self.end(),
            };
            if self.saw_draining && !self.going_away {
                self.going_away = true;
                if self.closing_since.is_none() {
                    cx.closed_by_shutdown.fetch_add(1, Ordering::Relaxed);
                    self.start_close(io, now, CloseCode::Away, "server shutting down");
                }
            }
            if let Some(turn) = self.check_timers(io, now, cx) {
                return turn;
            }
            let blocked = match self.write(io, now, &outbox) {
                Ok(blocked) => blocked,
                Err(()) => return self.end(),
            };
            let again = outbox.settle(blocked);
            if again && rounds < MAX_ROUNDS {
                continue;
            }
            if again || more_input {
                // More to do than one turn should: others get a turn first.
                return Outcome::Yield;
            }
            if blocked {
                return self.park_blocked(now, cx);
            }
            return Outcome::Park {
                wait: Wait::Live,
                until: self.next_timer(now, cx),
            };
        }
    }

    /// Reads and handles the messages that are there.
    fn read<S: Read + Write>(&mut self, io: &mut S, now: Instant) -> Reading {
        for _ in 0..TURN_BUDGET {
            match self.frames.read(io) {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                    self.last_message = now;
                    if !self.session_closed {
                        self.call(|session, ws| session.on_message(ws, message));
                    }
                }
                // Answered by tungstenite (the pong goes out with the next write).
                Ok(Message::Ping(_) | Message::Frame(_)) => {}
                Ok(Message::Pong(_)) => self.ping_sent = None,
                Ok(Message::Close(frame)) => {
                    if self.closing_since.is_none() {
                        // The client closes: tungstenite answers with the same code.
                        self.closing_since = Some(now);
                        self.notify_closed(frame);
                    }
                    // Otherwise it answered ours: the next read reports the end.
                }
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Reading::Drained;
                }
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => return Reading::Close,
                Err(WsError::Capacity(_)) => {
                    self.fail(io, now, CloseCode::Size, "message too big");
                    return Reading::Drained;
                }
                Err(WsError::Utf8(_)) => {
                    self.fail(io, now, CloseCode::Invalid, "invalid UTF-8");
                    return Reading::Drained;
                }
                Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => {
                    return Reading::Close;
                }
                Err(WsError::Protocol(_)) => {
                    self.fail(io, now, CloseCode::Protocol, "protocol error");
                    return Reading::Drained;
                }
                Err(_) => return Reading::Close,
            }
        }
        Reading::Budget
    }

    /// Writes what senders queued (unless the socket is full or the connection closing)
    /// and flushes. Returns whether the socket is full; `Err` when the connection is
    /// broken or its closing handshake is complete.
    fn write<S: Read + Write>(
        &mut self,
        io: &mut S,
        now: Instant,
        outbox: &Outbox<Message>,
    ) -> Result<bool, ()> {
        if self.blocked_since.is_none() && self.closing_since.is_none() {
            let (items, close) = outbox.take(TURN_BUDGET);
            let mut items = items.into_iter();
            let mut full = false;
            for message in items.by_ref() {
                if message.is_text() || message.is_binary() {
                    self.last_message = now;
                }
                match self.frames.write(io, message) {
                    Ok(()) => {}
                    Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                        // The frame is kept in tungstenite's buffer; the rest waits.
                        full = true;
                        break;
                    }
                    Err(_) => return Err(()),
                }
            }
            if full {
                // The close (if any) goes out after what was queued before it.
                outbox.put_back(items, close);
            } else {
                self.take_close_request(io, now, close);
            }
        } else if self.closing_since.is_none() {
            // Blocked: a close request is still honoured (its frame queues behind the
            // rest), without waiting for the socket.
            // (`take` hands it over only once nothing is queued before it.)
            let (_, close) = outbox.take(0);
            self.take_close_request(io, now, close);
        }
        match self.frames.flush(io) {
            Ok(()) => {
                self.blocked_since = None;
                Ok(false)
            }
            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.blocked_since.get_or_insert(now);
                Ok(true)
            }
            // `ConnectionClosed`: the close handshake is complete (a server closes first).
            Err(_) => Err(()),
        }
    }

    fn take_close_request<S: Read + Write>(
        &mut self,
        io: &mut S,
        now: Instant,
        close: Option<CloseRequest>,
    ) {
        match close {
            Some(CloseRequest::Asked(code, reason)) => {
                self.start_close(io, now, CloseCode::from(code), &reason);
            }
            Some(CloseRequest::Overflow) => {
                self.start_close(io, now, CloseCode::Policy, "send queue full");
            }
            None => {}
        }
    }

    /// The close, pong, ping and idle timeouts, and the write timeout: `Some` when the
    /// connection ends here. A ping or an idle close is queued, written by `write`.
    fn check_timers<S: Read + Write>(
        &mut self,
        io: &mut S,
        now: Instant,
        cx: &LiveCx<'_>,
    ) -> Option<Outcome> {
        let config = &self.accepted.config;
        if let Some(since) = self.closing_since {
            if now >= deadline_after(since, config.close_timeout) {
                return Some(self.end());
            }
        }
        if let Some(since) = self.blocked_since {
            if now >= deadline_after(since, cx.write_timeout) {
                return Some(self.end());
            }
        }
        if let Some(sent) = self.ping_sent {
            if now >= deadline_after(sent, config.pong_timeout) {
                // The client is gone without a word.
                return Some(self.end());
            }
        }
        if self.closing_since.is_some() {
            return None;
        }
        if let Some(idle) = config.idle_timeout {
            if now >= deadline_after(self.last_message, idle) {
                self.start_close(io, now, CloseCode::Away, "idle timeout");
                return None;
            }
        }
        if let (Some(at), Some(every)) = (self.next_ping, config.ping_interval) {
            if now >= at && self.ping_sent.is_none() && self.blocked_since.is_none() {
                self.next_ping = Some(deadline_after(now, every));
                match self.frames.write(io, Message::Ping(Bytes::new())) {
                    Ok(()) => {}
                    Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return Some(self.end()),
                }
                self.ping_sent = Some(now);
            }
        }
        None
    }

    fn next_timer(&self, now: Instant, cx: &LiveCx<'_>) -> Instant {
        let config = &self.accepted.config;
        let closing = self
            .closing_since
            .map(|since| deadline_after(since, config.close_timeout));
        let open = closing.is_none();
        // A ping is not sent while the socket is full: its time does not wake the
        // connection then (it would find it still full, again and again).
        let ping_due = open && self.ping_sent.is_none() && self.blocked_since.is_none();
        earliest(
            [
                closing,
                self.blocked_since
                    .map(|since| deadline_after(since, cx.write_timeout)),
                self.ping_sent
                    .map(|sent| deadline_after(sent, config.pong_timeout)),
                self.next_ping.filter(|_| ping_due),
                config
                    .idle_timeout
                    .filter(|_| open)
                    .map(|idle| deadline_after(self.last_message, idle)),
            ],
            now,
        )
    }

    fn park_blocked(&mut self, now: Instant, cx: &LiveCx<'_>) -> Outcome {
        let since = *self.blocked_since.get_or_insert(now);
        if now >= deadline_after(since, cx.write_timeout) {
            return self.end();
        }
        Outcome::Park {
            wait: Wait::LiveBlocked,
            until: self.next_timer(now, cx),
        }
    }

    /// Queues a close frame (once) and waits for the client's answer.
    fn start_close<S: Read + Write>(
        &mut self,
        io: &mut S,
        now: Instant,
        code: CloseCode,
        reason: &str,
    ) {
        if self.closing_since.is_some() {
            return;
        }
        self.closing_since = Some(now);
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        // WouldBlock keeps the frame queued; other errors show at the flush.
        let _ = self.frames.close(io, Some(frame));
        self.notify_closed(None);
    }

    /// Fails the connection (RFC 6455 §7.1.7): a close frame with `code`, then its input is
    /// dropped until the client closes or the close timeout passes.
    fn fail<S: Read + Write>(&mut self, io: &mut S, now: Instant, code: CloseCode, reason: &str) {
        self.start_close(io, now, code, reason);
        self.failed = true;
    }

    fn discard_until_closed<S: Read + Write>(
        &mut self,
        io: &mut S,
        now: Instant,
        cx: &LiveCx<'_>,
    ) -> Outcome {
        // The close frame first (it may be queued behind a full socket).
        match self.frames.flush(io) {
            Ok(()) => self.blocked_since = None,
            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                return self.park_blocked(now, cx);
            }
            Err(_) => return self.end(),
        }
        let until = deadline_after(
            self.closing_since.unwrap_or(now),
            self.accepted.config.close_timeout,
        );
        let discarded = discard_input(|buf| io.read(buf), MAX_DISCARD_BYTES);
        if discarded != Discarded::Drained || now >= until {
            return self.end();
        }
        Outcome::Park {
            wait: Wait::Live,
            until,
        }
    }

    fn end(&mut self) -> Outcome {
        self.notify_closed(None);
        Outcome::Close
    }

    fn notify_closed(&mut self, frame: Option<CloseFrame>) {
        if self.session_closed || !self.opened {
            self.session_closed = true;
            return;
        }
        self.session_closed = true;
        self.accepted.handle.outbox().close_for_senders();
        self.call(|session, ws| session.on_close(ws, frame));
    }

    /// Calls the session; a panic fails the connection with 1011, and the session is not
    /// called again (its state may be broken).
    fn call(
        &mut self,
        f: impl FnOnce(&mut dyn crate::live::WebSocketSession, &crate::live::WebSocket),
    ) {
        let accepted = &mut self.accepted;
        let handle = &accepted.handle;
        let session = &mut *accepted.session;
        if catch_unwind(AssertUnwindSafe(|| f(session, handle))).is_err() {
            crate::logging::log_error!(
                "a WebSocket session panicked; closing its connection with 1011"
            );
            self.session_closed = true;
            if self.closing_since.is_none() {
                self.accepted
                    .handle
                    .outbox()
                    .request_close(CloseRequest::Asked(
                        u16::from(CloseCode::Error),
                        "internal error".to_owned(),
                    ));
            }
        }
    }
}

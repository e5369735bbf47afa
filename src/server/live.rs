//! Live connections on the server side: a WebSocket's or an event stream's turn on a
//! worker. A turn reads what the socket has, calls the session for each message, writes
//! what senders queued and what the timers ask for (pings, keep-alives), then says when
//! the connection needs its next turn. It never waits: the poller does that.

use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tungstenite::error::{Error as WsError, ProtocolError};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig as FrameConfig, WebSocketContext};
use tungstenite::{Bytes, Message};

use crate::http1::{Discarded, MAX_TIMEOUT, deadline_after, discard_input, encode_chunk};
use std::sync::Arc;

use crate::live::outbox::{CloseRequest, Outbox};
use crate::live::{EventsAccepted, Upgrade, WebSocketAccepted};

/// Messages read, or queued items written, per turn before others get a turn.
const TURN_BUDGET: usize = 64;
/// Outgoing frames are gathered up to this size, then written.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// Input dropped from a connection being failed before it is closed anyway.
const MAX_DISCARD_BYTES: usize = 64 * 1024;

/// What a live connection needs from the server for a turn.
pub(super) struct LiveContext<'a> {
    /// The server is shutting down: close with 1001, end event streams.
    pub(super) draining: bool,
    /// How long a client that does not read may block the connection.
    pub(super) write_timeout: Duration,
    /// Live connections closed because the server shut down.
    pub(super) closed_by_shutdown: &'a AtomicUsize,
}

/// How a live connection's turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LiveTurn {
    /// Park it; `blocked`: the client does not read (watch writability).
    Park { blocked: bool, until: Instant },
    /// Its budget is spent with work left: queue it again.
    Yield,
    /// Close the socket.
    Close,
}

/// A connection switched to a live protocol.
pub(super) enum Live {
    WebSocket(Box<WebSocketConn>),
    Events(Box<EventsConn>),
}

impl Live {
    /// The live connection an upgrade switched to; `unwritten` goes out first.
    pub(super) fn new(
        upgrade: Upgrade,
        leftover: Vec<u8>,
        unwritten: Vec<u8>,
        chunked: bool,
    ) -> Self {
        match upgrade {
            Upgrade::WebSocket(accepted) => {
                Live::WebSocket(Box::new(WebSocketConn::new(*accepted, leftover, unwritten)))
            }
            Upgrade::Events(accepted) => {
                Live::Events(Box::new(EventsConn::new(*accepted, unwritten, chunked)))
            }
        }
    }

    /// The outbox senders wake the connection through.
    pub(super) fn set_waker(&self, waker: std::sync::Arc<dyn crate::live::outbox::Wake>) {
        match self {
            Live::WebSocket(conn) => conn.accepted.handle.outbox().set_waker(waker),
            Live::Events(conn) => conn.accepted.outbox.set_waker(waker),
        }
    }

    /// Whether it already knows the server is shutting down.
    pub(super) fn told_to_go(&self) -> bool {
        match self {
            Live::WebSocket(conn) => conn.told_to_go(),
            Live::Events(conn) => conn.ending,
        }
    }

    pub(super) fn turn<S: Read + Write>(&mut self, io: &mut S, cx: &LiveContext<'_>) -> LiveTurn {
        let now = Instant::now();
        match self {
            Live::WebSocket(conn) => conn.turn(io, now, cx),
            Live::Events(conn) => conn.turn(io, now, cx),
        }
    }
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Live::WebSocket(_) => "Live::WebSocket",
            Live::Events(_) => "Live::Events",
        })
    }
}

/// Writes `bytes[*written..]` without blocking. `Ok(true)`: all written.
fn write_pending<S: Write>(io: &mut S, bytes: &[u8], written: &mut usize) -> io::Result<bool> {
    while *written < bytes.len() {
        match io.write(&bytes[*written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn earliest(times: impl IntoIterator<Item = Option<Instant>>, now: Instant) -> Instant {
    times
        .into_iter()
        .flatten()
        .min()
        .unwrap_or_else(|| deadline_after(now, MAX_TIMEOUT))
}

/// A WebSocket connection: tungstenite's framing state, the session, and the timers.
pub(super) struct WebSocketConn {
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

/// How many times a turn goes round (read, write, look at the outbox) before yielding.
const MAX_ROUNDS: usize = 4;

impl WebSocketConn {
    fn new(accepted: WebSocketAccepted, leftover: Vec<u8>, prefix: Vec<u8>) -> Self {
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

    fn told_to_go(&self) -> bool {
        self.saw_draining
    }

    fn turn<S: Read + Write>(
        &mut self,
        io: &mut S,
        now: Instant,
        cx: &LiveContext<'_>,
    ) -> LiveTurn {
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
                return LiveTurn::Yield;
            }
            if blocked {
                return self.park_blocked(now, cx);
            }
            return LiveTurn::Park {
                blocked: false,
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
        cx: &LiveContext<'_>,
    ) -> Option<LiveTurn> {
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

    fn next_timer(&self, now: Instant, cx: &LiveContext<'_>) -> Instant {
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

    fn park_blocked(&mut self, now: Instant, cx: &LiveContext<'_>) -> LiveTurn {
        let since = *self.blocked_since.get_or_insert(now);
        if now >= deadline_after(since, cx.write_timeout) {
            return self.end();
        }
        LiveTurn::Park {
            blocked: true,
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
        cx: &LiveContext<'_>,
    ) -> LiveTurn {
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
        LiveTurn::Park {
            blocked: false,
            until,
        }
    }

    fn end(&mut self) -> LiveTurn {
        self.notify_closed(None);
        LiveTurn::Close
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

/// An event stream: the response's chunks still to write, and the keep-alive timer.
pub(super) struct EventsConn {
    accepted: EventsAccepted,
    /// Bytes to write (the head first), and how much of them is written.
    pending: Vec<u8>,
    written: usize,
    chunked: bool,
    next_keep_alive: Option<Instant>,
    blocked_since: Option<Instant>,
    /// The last chunk is queued: close once it is written.
    ending: bool,
}

impl EventsConn {
    fn new(accepted: EventsAccepted, head: Vec<u8>, chunked: bool) -> Self {
        let now = Instant::now();
        let next_keep_alive = accepted.keep_alive.map(|every| deadline_after(now, every));
        Self {
            accepted,
            pending: head,
            written: 0,
            chunked,
            next_keep_alive,
            blocked_since: None,
            ending: false,
        }
    }

    fn turn<S: Read + Write>(
        &mut self,
        io: &mut S,
        now: Instant,
        cx: &LiveContext<'_>,
    ) -> LiveTurn {
        let outbox = Arc::clone(&self.accepted.outbox);
        outbox.begin_turn();
        // The client sends nothing on an event stream: what it sends is dropped (up to a
        // bound: more is abuse), and its end of the connection means it left.
        if discard_input(|buf| io.read(buf), MAX_DISCARD_BYTES) != Discarded::Drained {
            return LiveTurn::Close;
        }
        let mut rounds = 0;
        loop {
            rounds += 1;
            let mut sent_any = false;
            if self.written == self.pending.len() && !self.ending {
                self.pending.clear();
                self.written = 0;
                let (events, close) = outbox.take(TURN_BUDGET);
                sent_any = !events.is_empty();
                for event in events {
                    self.append(&event);
                }
                if close.is_some() {
                    self.end_stream();
                }
            }
            if cx.draining && !self.ending {
                cx.closed_by_shutdown.fetch_add(1, Ordering::Relaxed);
                self.end_stream();
            }
            if let Some(at) = self.next_keep_alive {
                if sent_any {
                    self.next_keep_alive = self
                        .accepted
                        .keep_alive
                        .map(|every| deadline_after(now, every));
                } else if now >= at && self.pending.len() == self.written && !self.ending {
                    self.append(b":\n\n");
                    self.next_keep_alive = self
                        .accepted
                        .keep_alive
                        .map(|every| deadline_after(now, every));
                }
            }
            let blocked = match write_pending(io, &self.pending, &mut self.written) {
                Ok(all) => !all,
                Err(_) => return LiveTurn::Close,
            };
            if blocked {
                let since = *self.blocked_since.get_or_insert(now);
                let until = deadline_after(since, cx.write_timeout);
                if now >= until {
                    return LiveTurn::Close;
                }
                outbox.settle(true);
                return LiveTurn::Park {
                    blocked: true,
                    until,
                };
            }
            self.blocked_since = None;
            if self.ending {
                return LiveTurn::Close;
            }
            if outbox.settle(false) {
                if rounds < 4 {
                    continue;
                }
                return LiveTurn::Yield;
            }
            return LiveTurn::Park {
                blocked: false,
                until: earliest([self.next_keep_alive], now),
            };
        }
    }

    fn append(&mut self, event: &[u8]) {
        if self.chunked {
            encode_chunk(&mut self.pending, event);
        } else {
            self.pending.extend_from_slice(event);
        }
    }

    /// Queues the end of the response; the connection closes once it is written.
    fn end_stream(&mut self) {
        self.ending = true;
        self.accepted.outbox.close_for_senders();
        if self.chunked {
            self.pending.extend_from_slice(b"0\r\n\r\n");
        }
    }
}

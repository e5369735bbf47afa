//! HTTP/2 as a connection's protocol (feature `http2`, RFC 9113): `h2` (hyper's HTTP/2:
//! framing, HPACK, flow control, stream states and their limits) driven by the
//! connection's turns, its streams' handlers on the pools.
//!
//! ```text
//!   turn:  socket ─► pipe input ─► h2 ─► pipe output ─► socket   (`pipe`; nothing waits)
//!          h2 accepts a stream ─► route it (`decide`) ─► gather its body (spooled when long)
//!            ─► its handler as a job on its route's pool ─► the reply comes back, wakes the
//!               connection ─► the response's head and body go out as the flow-control
//!               windows open (a closed window waits on the poller, never on a worker)
//! ```
//!
//! A connection is live (like a WebSocket): parked between turns, woken by its socket, by a
//! handler that replied, or by `h2` (a window opened). Its handlers run apart from it, so
//! a hundred concurrent streams run on as many workers as their pools have, and a slow
//! stream holds nothing but its own slot. Work per connection is bounded: at most
//! [`MAX_CONCURRENT_STREAMS`] streams are gathered or served at once; the rest wait in
//! `h2`, whose own limits cut off clients that reset streams in a loop (CVE-2023-44487),
//! flood CONTINUATION frames, or send oversized header lists.

mod pipe;
mod preface;

use std::cell::Cell;
use std::future::Future;
use std::io::Read;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::server::{Connection as H2Connection, Handshake, SendResponse};
use h2::{Reason, RecvStream, SendStream};
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, StatusCode};

use self::pipe::Pipe;
pub(super) use self::preface::{Preface, Sniffed};
use super::{TransportFacts, TurnCx, earliest};
use crate::body::{Body, Kind, RequestBody};
use crate::error::ParseError;
use crate::head::RawHeaders;
use crate::http1::{RouteTag, Service, TurnClock};
use crate::io::{Stream, is_timeout, write_pending};
use crate::limits::deadline_after;
use crate::live::outbox::Wake;
use crate::router::RoutePlan;
use crate::server::Shared;
use crate::server::outcome::{Outcome, Wait};
use crate::server::service::HandlerService;
use crate::spool::{Held, SpoolWriter};

/// Streams a connection may have open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`), and
/// streams whose body is gathered or whose handler runs at once.
pub(crate) const MAX_CONCURRENT_STREAMS: u32 = 100;
/// The flow-control window of a stream's request body: what a client may send before the
/// server has taken it. The connection's is 4 times larger.
const STREAM_WINDOW_BYTES: u32 = 256 * 1024;
/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Input read and not yet taken by `h2`, at most.
const MAX_INPUT_BYTES: usize = 256 * 1024;
/// A response body is read from its source this much at a time.
const BODY_CHUNK_BYTES: usize = 16 * 1024;
/// How many times a turn goes round (read, `h2`, streams, write) before yielding.
const MAX_ROUNDS: usize = 8;
/// How long a connection told to go away (idle, or the server shutting down) may take to
/// finish its last frames once it has no streams.
const GOAWAY_GRACE: Duration = Duration::from_secs(1);

/// An HTTP/2 connection between turns.
pub(in crate::server) struct Http2Conn {
    pipe: Pipe,
    phase: Phase,
    streams: Vec<StreamSlot>,
    next_id: u64,
    /// Where handlers leave their replies.
    replies: Arc<Replies>,
    waker: Arc<TurnWaker>,
    /// `waker` as `h2` takes it.
    task_waker: Waker,
    /// Output has waited for the socket since.
    blocked_since: Option<Instant>,
    /// The connection has had no stream since.
    idle_since: Option<Instant>,
    /// GOAWAY was sent (idle, or shutting down); close at this time at the latest.
    going_away: Option<Instant>,
}

enum Phase {
    Handshaking(Handshake<Pipe, Bytes>),
    Open(H2Connection<Pipe, Bytes>),
    /// The connection ended: write what is left, then close.
    Ended,
}

struct StreamSlot {
    id: u64,
    state: StreamState,
}

enum StreamState {
    /// The request's body is arriving.
    Receiving(Box<Incoming>),
    /// Its handler runs; `cancelled` tells the handler's job the client reset the stream
    /// before it started.
    Serving {
        respond: SendResponse<Bytes>,
        head_request: bool,
        cancelled: Arc<AtomicBool>,
    },
    /// The response's body goes out as the window allows.
    Sending(Box<Outgoing>),
    Done,
}

/// A request whose body is arriving.
struct Incoming {
    head: Parts,
    headers: HeaderMap,
    plan: RoutePlan,
    tag: RouteTag,
    recv: RecvStream,
    respond: SendResponse<Bytes>,
    /// The body in memory (while shorter than the spool threshold).
    body: Vec<u8>,
    /// What `body` holds of the parked bodies' memory budget.
    held: Held,
    /// The body's file, once it is longer than the spool threshold.
    spooled: Option<SpoolWriter>,
    received: u64,
    limit: u64,
}

/// A response body on its way out.
struct Outgoing {
    send: SendStream<Bytes>,
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

/// Handlers' replies, by stream id, waiting for the connection's next turn.
#[derive(Default)]
struct Replies(Mutex<Vec<(u64, http::Response<Body>)>>);

impl Replies {
    fn push(&self, id: u64, response: http::Response<Body>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((id, response));
    }

    fn take(&self) -> Vec<(u64, http::Response<Body>)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// How `h2` and the handlers wake the connection: during its turn, the turn just goes round
/// again; otherwise through its slot (the parked connection is queued for a turn).
struct TurnWaker {
    in_turn: AtomicBool,
    woken: AtomicBool,
    slot: Arc<dyn Wake>,
}

impl TurnWaker {
    fn wake_connection(&self) {
        self.woken.store(true, Ordering::SeqCst);
        if !self.in_turn.load(Ordering::SeqCst) {
            self.slot.wake();
        }
    }

    fn begin_turn(&self) {
        self.woken.store(false, Ordering::SeqCst);
        self.in_turn.store(true, Ordering::SeqCst);
    }

    /// Whether something woke the connection since the last look.
    fn take_woken(&self) -> bool {
        self.woken.swap(false, Ordering::SeqCst)
    }

    /// Ends the turn; true if it was woken meanwhile (serve it again).
    fn end_turn(&self) -> bool {
        self.in_turn.store(false, Ordering::SeqCst);
        self.take_woken()
    }
}

impl std::task::Wake for TurnWaker {
    fn wake(self: Arc<Self>) {
        self.wake_connection();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_connection();
    }
}

/// A stream's handler's reply, delivered however the job ends: with the response, or with a
/// 503 if the job was dropped unrun (its pool refused it or closed) or failed outside the
/// handler (a panic in a handler is a 500 already).
struct ReplyGuard {
    id: u64,
    replies: Arc<Replies>,
    waker: Arc<TurnWaker>,
    delivered: bool,
}

impl ReplyGuard {
    fn deliver(mut self, response: http::Response<Body>) {
        self.delivered = true;
        self.replies.push(self.id, response);
        self.waker.wake_connection();
    }
}

impl Drop for ReplyGuard {
    fn drop(&mut self) {
        if !self.delivered {
            let response = crate::Response::text("Service Unavailable\n")
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
                .with_header(header::RETRY_AFTER, "1")
                .into_http();
            self.replies.push(self.id, response);
            self.waker.wake_connection();
        }
    }
}

/// What a round of the turn did.
#[derive(Default)]
struct Progress(bool);

impl Progress {
    fn made(&mut self) {
        self.0 = true;
    }
}

impl Http2Conn {
    /// A connection whose client sent `input` (starting with the connection preface, or,
    /// after ALPN, nothing yet); `slot` wakes it.
    pub(super) fn new(input: &[u8], shared: &Shared, slot: Arc<dyn Wake>) -> Self {
        shared.counters.http2_connection();
        let pipe = Pipe::default();
        pipe.buffers().input.extend_from_slice(input);
        let limits = &shared.limits;
        let mut builder = h2::server::Builder::new();
        builder
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
            .max_header_list_size(u32::try_from(limits.max_head_bytes).unwrap_or(u32::MAX))
            .initial_window_size(STREAM_WINDOW_BYTES)
            .initial_connection_window_size(4 * STREAM_WINDOW_BYTES);
        let waker = Arc::new(TurnWaker {
            in_turn: AtomicBool::new(false),
            woken: AtomicBool::new(false),
            slot,
        });
        Self {
            phase: Phase::Handshaking(builder.handshake(pipe.clone())),
            pipe,
            streams: Vec::new(),
            next_id: 0,
            replies: Arc::default(),
            task_waker: Waker::from(Arc::clone(&waker)),
            waker,
            blocked_since: None,
            idle_since: None,
            going_away: None,
        }
    }

    /// Whether it said GOAWAY (the server is shutting down, or it was idle).
    pub(super) fn told_to_go(&self) -> bool {
        self.going_away.is_some()
    }

    /// One turn over `io`: read what arrived, let `h2` take it, start and finish streams,
    /// write what `h2` wrote; see the module docs.
    pub(super) fn turn<S: Stream>(
        &mut self,
        io: &mut S,
        cx: &TurnCx<'_>,
        facts: Option<&dyn TransportFacts>,
    ) -> Outcome {
        self.waker.begin_turn();
        let limits = &cx.shared.limits;
        let mut now = Instant::now();
        let mut rounds = 0;
        loop {
            rounds += 1;
            let mut progress = Progress::default();
            if self.read_input(io, &mut progress).is_err() {
                self.waker.end_turn();
                return Outcome::Close;
            }
            self.drive(cx, facts, now, &mut progress);
            match self.write_output(io) {
                Ok(true) => progress.made(),
                Ok(false) => {}
                Err(()) => {
                    self.waker.end_turn();
                    return Outcome::Close;
                }
            }
            if self.waker.take_woken() {
                progress.made();
            }
            if !progress.0 || rounds >= MAX_ROUNDS {
                if progress.0 {
                    self.waker.end_turn();
                    return Outcome::Yield;
                }
                break;
            }
            now = Instant::now();
        }
        let owed = !self.pipe.buffers().output.is_empty();
        if owed {
            let since = *self.blocked_since.get_or_insert(now);
            let until = deadline_after(since, limits.write_timeout);
            self.waker.end_turn();
            if now >= until {
                return Outcome::Close;
            }
            return Outcome::Park {
                wait: Wait::LiveBlocked,
                until,
            };
        }
        self.blocked_since = None;
        if matches!(self.phase, Phase::Ended) || self.going_away.is_some_and(|at| now >= at) {
            self.waker.end_turn();
            return Outcome::Close;
        }
        if self.waker.end_turn() {
            return Outcome::Yield;
        }
        let idle_until = self
            .idle_since
            .map(|since| deadline_after(since, limits.keep_alive_timeout));
        let stalled_until = self
            .streams
            .iter()
            .filter_map(|slot| match &slot.state {
                StreamState::Sending(out) => {
                    Some(deadline_after(out.progressed, limits.write_timeout))
                }
                _ => None,
            })
            .min();
        Outcome::Park {
            wait: Wait::Live,
            until: earliest([idle_until, stalled_until, self.going_away], now),
        }
    }

    /// Reads what the socket has into the pipe. `Err`: the socket failed.
    fn read_input<S: Stream>(&mut self, io: &mut S, progress: &mut Progress) -> Result<(), ()> {
        let mut buffers = self.pipe.buffers();
        if buffers.input_ended {
            return Ok(());
        }
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        // What `h2` has not taken is not added to: a client that floods frames (pings,
        // settings) and reads none of the answers stops being read once `h2` stops, and
        // the write timeout ends it.
        while buffers.input.len() < MAX_INPUT_BYTES {
            match io.read(&mut chunk) {
                Ok(0) => {
                    buffers.input_ended = true;
                    progress.made();
                    return Ok(());
                }
                Ok(n) => {
                    buffers.input.extend_from_slice(&chunk[..n]);
                    progress.made();
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Ok(()),
                Err(_) => return Err(()),
            }
        }
        Ok(())
    }

    /// Writes what `h2` wrote. `Ok(true)`: some went out.
    fn write_output<S: Stream>(&mut self, io: &mut S) -> Result<bool, ()> {
        let mut buffers = self.pipe.buffers();
        if buffers.output.is_empty() {
            return Ok(false);
        }
        let mut written = 0;
        let result = write_pending(io, &buffers.output, &mut written);
        buffers.output.drain(..written);
        match result {
            Ok(_) => {
                if written > 0 {
                    self.blocked_since = None;
                }
                Ok(written > 0)
            }
            Err(_) => Err(()),
        }
    }

    /// One round of `h2`: the handshake, new streams, replies, and every stream's body.
    fn drive(
        &mut self,
        cx: &TurnCx<'_>,
        facts: Option<&dyn TransportFacts>,
        now: Instant,
        progress: &mut Progress,
    ) {
        let task_waker = self.task_waker.clone();
        let mut task = Context::from_waker(&task_waker);
        if let Phase::Handshaking(handshake) = &mut self.phase {
            match Pin::new(handshake).poll(&mut task) {
                Poll::Ready(Ok(connection)) => {
                    self.phase = Phase::Open(connection);
                    self.idle_since = Some(now);
                    progress.made();
                }
                Poll::Ready(Err(_)) => {
                    self.phase = Phase::Ended;
                    return;
                }
                Poll::Pending => return,
            }
        }
        self.deliver_replies(cx, facts, now, &mut task, progress);
        self.drive_streams(cx, facts, now, &mut task, progress);
        self.accept_streams(cx, facts, now, &mut task, progress);
        // What the streams queued is written by the connection: poll it once more.
        if let Phase::Open(connection) = &mut self.phase {
            if connection.poll_closed(&mut task).is_ready() {
                self.phase = Phase::Ended;
            }
        }
        self.streams
            .retain(|slot| !matches!(slot.state, StreamState::Done));
        if self.streams.is_empty() {
            self.idle_since.get_or_insert(now);
        } else {
            self.idle_since = None;
        }
        self.maybe_go_away(cx, now);
    }

    /// Says GOAWAY when the server shuts down, or when the connection has been idle for the
    /// keep-alive timeout; streams under way finish.
    fn maybe_go_away(&mut self, cx: &TurnCx<'_>, now: Instant) {
        if self.going_away.is_some() {
            return;
        }
        let draining = cx.shared.draining.load(Ordering::Acquire);
        let idle = self
            .idle_since
            .is_some_and(|since| now >= deadline_after(since, cx.shared.limits.keep_alive_timeout));
        if !(draining || idle) {
            return;
        }
        if let Phase::Open(connection) = &mut self.phase {
            connection.graceful_shutdown();
            cx.shared.counters.http2_goaway();
        }
        if draining {
            cx.shared
                .live_closed_by_shutdown
                .fetch_add(1, Ordering::Relaxed);
        }
        // Streams under way may take the drain timeout (the poller cuts them then); the
        // grace is for the last frames of an idle connection.
        let grace = if self.streams.is_empty() {
            GOAWAY_GRACE
        } else {
            cx.shared.drain_timeout.max(GOAWAY_GRACE)
        };
        self.going_away = Some(deadline_after(now, grace));
        self.waker.wake_connection();
    }

    /// Takes new streams from `h2`, as long as fewer than `MAX_CONCURRENT_STREAMS` are
    /// gathered or served.
    fn accept_streams(
        &mut self,
        cx: &TurnCx<'_>,
        facts: Option<&dyn TransportFacts>,
        now: Instant,
        task: &mut Context<'_>,
        progress: &mut Progress,
    ) {
        loop {
            let Phase::Open(connection) = &mut self.phase else {
                return;
            };
            if self.streams.len() >= MAX_CONCURRENT_STREAMS as usize {
                // Frames still flow (windows, resets, pings); new streams wait in `h2`.
                if connection.poll_closed(task).is_ready() {
                    self.phase = Phase::Ended;
                }
                return;
            }
            match connection.poll_accept(task) {
                Poll::Ready(Some(Ok((request, respond)))) => {
                    progress.made();
                    self.start_stream(request, respond, cx, facts, now, task, progress);
                }
                Poll::Ready(Some(Err(error))) => {
                    // A connection error: `h2` said GOAWAY with its code (unless the
                    // socket itself failed).
                    if error.is_go_away() || error.reason().is_some() {
                        cx.shared.counters.http2_goaway();
                    }
                    self.phase = Phase::Ended;
                    return;
                }
                Poll::Ready(None) => {
                    self.phase = Phase::Ended;
                    return;
                }
                Poll::Pending => return,
            }
        }
    }

    /// Routes a new stream's request and starts gathering its body, or serving it.
    #[allow(clippy::too_many_arguments)]
    fn start_stream(
        &mut self,
        request: http::Request<RecvStream>,
        respond: SendResponse<Bytes>,
        cx: &TurnCx<'_>,
        facts: Option<&dyn TransportFacts>,
        now: Instant,
        task: &mut Context<'_>,
        progress: &mut Progress,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        cx.shared.counters.http2_stream();
        let (mut head, recv) = request.into_parts();
        let mut headers = std::mem::take(&mut head.headers);
        if !headers.contains_key(header::HOST) {
            // RFC 9113 §8.3.1: `:authority` stands for `Host`.
            if let Some(authority) = head.uri.authority() {
                if let Ok(value) = HeaderValue::from_str(authority.as_str()) {
                    headers.insert(header::HOST, value);
                }
            }
        }
        if let Some(facts) = facts {
            facts.annotate(&mut head.extensions);
        }
        let shared = cx.shared;
        let (decision, plan) = with_service(cx, facts, |service| service.decide(&head));
        let limit = decision
            .max_body_bytes
            .unwrap_or(shared.limits.max_body_bytes);
        let announced = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if announced.is_some_and(|length| length > limit) {
            let error = ParseError::BodyTooLarge { limit };
            let state = self.refuse(cx, facts, head, headers, plan, respond, &error, true);
            self.streams.push(StreamSlot { id, state });
            return;
        }
        if recv.is_end_stream() {
            let state = self.dispatch(
                id,
                head,
                headers,
                RequestBody::Full(Vec::new()),
                plan,
                decision.tag,
                respond,
                cx,
            );
            self.streams.push(StreamSlot { id, state });
            return;
        }
        let incoming = Incoming {
            head,
            headers,
            plan,
            tag: decision.tag,
            recv,
            respond,
            body: Vec::new(),
            held: Held::new(&shared.body_budget),
            spooled: None,
            received: 0,
            limit,
        };
        self.streams.push(StreamSlot {
            id,
            state: StreamState::Receiving(Box::new(incoming)),
        });
        // Its first DATA frames may be here already.
        let index = self.streams.len() - 1;
        self.drive_stream(index, cx, facts, now, task, progress);
    }

    /// Hands a request to its handler, on its route's pool.
    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &self,
        id: u64,
        head: Parts,
        headers: HeaderMap,
        body: RequestBody,
        plan: RoutePlan,
        tag: RouteTag,
        respond: SendResponse<Bytes>,
        cx: &TurnCx<'_>,
    ) -> StreamState {
        let head_request = head.method == Method::HEAD;
        let cancelled = Arc::new(AtomicBool::new(false));
        let guard = ReplyGuard {
            id,
            replies: Arc::clone(&self.replies),
            waker: Arc::clone(&self.waker),
            delivered: false,
        };
        let peer = cx.peer;
        let queued_since = Instant::now();
        let job_cancelled = Arc::clone(&cancelled);
        let job: super::StreamJob = Box::new(move |shared: &Shared| {
            if job_cancelled.load(Ordering::Acquire) {
                // The client reset the stream before its handler started: nothing to do,
                // and nobody to answer.
                return;
            }
            let clock = TurnClock::default();
            let service = HandlerService {
                shared,
                peer,
                tag,
                facts: None,
                clock: &clock,
                queued_since,
                watch: None,
                late_answers: None,
                deadlines: None,
                calls: Cell::new(0),
            };
            let reply = service.call(head, RawHeaders::decoded(headers), body, plan, true);
            let mut response = reply.response;
            if let Some((_, upgrade)) = reply.switch {
                // Live protocols over HTTP/2 (RFC 8441 WebSockets, event streams on a
                // stream) are not served: the upgrade is dropped, which closes it.
                drop(upgrade);
                response = not_over_http2();
            }
            guard.deliver(response);
        });
        match cx.jobs {
            Some(jobs) => jobs.run(tag, job),
            None => job(cx.shared),
        }
        StreamState::Serving {
            respond,
            head_request,
            cancelled,
        }
    }

    /// Answers a request the server refuses (413, 408, ...) through the route's middleware,
    /// as HTTP/1.1 does.
    #[allow(clippy::too_many_arguments)]
    fn refuse(
        &self,
        cx: &TurnCx<'_>,
        facts: Option<&dyn TransportFacts>,
        head: Parts,
        headers: HeaderMap,
        plan: RoutePlan,
        respond: SendResponse<Bytes>,
        error: &ParseError,
        body_unread: bool,
    ) -> StreamState {
        let head_request = head.method == Method::HEAD;
        let reply = with_service(cx, facts, |service| {
            service.refuse(head, RawHeaders::decoded(headers), plan, error)
        });
        start_response(respond, reply.response, head_request, body_unread)
    }

    /// Sends the responses handlers left.
    fn deliver_replies(
        &mut self,
        _cx: &TurnCx<'_>,
        _facts: Option<&dyn TransportFacts>,
        _now: Instant,
        _task: &mut Context<'_>,
        progress: &mut Progress,
    ) {
        for (id, response) in self.replies.take() {
            let Some(slot) = self.streams.iter_mut().find(|slot| slot.id == id) else {
                continue;
            };
            let StreamState::Serving {
                respond,
                head_request,
                ..
            } = std::mem::replace(&mut slot.state, StreamState::Done)
            else {
                continue;
            };
            progress.made();
            slot.state = start_response(respond, response, head_request, false);
        }
    }

    fn drive_streams(
        &mut self,
        cx: &TurnCx<'_>,
        facts: Option<&dyn TransportFacts>,
        now: Instant,
        task: &mut Context<'_>,
        progress: &mut Progress,
    ) {
        for index in 0..self.streams.len() {
            self.drive_stream(index, cx, facts, now, task, progress);
        }
    }

    /// Moves one stream on as far as it goes without waiting.
    fn drive_stream(
        &mut self,
        index: usize,
        cx: &TurnCx<'_>,
        facts: Option<&dyn TransportFacts>,
        now: Instant,
        task: &mut Context<'_>,
        progress: &mut Progress,
    ) {
        let id = self.streams[index].id;
        let state = std::mem::replace(&mut self.streams[index].state, StreamState::Done);
        let state = match state {
            StreamState::Receiving(incoming) => {
                self.receive(id, incoming, cx, facts, task, progress)
            }
            StreamState::Serving {
                mut respond,
                head_request,
                cancelled,
            } => match respond.poll_reset(task) {
                Poll::Ready(_) => {
                    cx.shared.counters.http2_reset();
                    cancelled.store(true, Ordering::Release);
                    StreamState::Done
                }
                Poll::Pending => StreamState::Serving {
                    respond,
                    head_request,
                    cancelled,
                },
            },
            StreamState::Sending(outgoing) => send_body(outgoing, now, cx.shared, task, progress),
            StreamState::Done => StreamState::Done,
        };
        self.streams[index].state = state;
    }

    /// Takes what arrived of a request body; once it is complete, hands the request to its
    /// handler.
    fn receive(
        &self,
        id: u64,
        mut incoming: Box<Incoming>,
        cx: &TurnCx<'_>,
        facts: Option<&dyn TransportFacts>,
        task: &mut Context<'_>,
        progress: &mut Progress,
    ) -> StreamState {
        let shared = cx.shared;
        loop {
            match incoming.recv.poll_data(task) {
                Poll::Ready(Some(Ok(data))) => {
                    progress.made();
                    let _ = incoming.recv.flow_control().release_capacity(data.len());
                    incoming.received += data.len() as u64;
                    let stored = if incoming.received > incoming.limit {
                        Err(ParseError::BodyTooLarge {
                            limit: incoming.limit,
                        })
                    } else {
                        store(&mut incoming, &data, shared)
                    };
                    if let Err(error) = stored {
                        let Incoming {
                            head,
                            headers,
                            plan,
                            respond,
                            ..
                        } = *incoming;
                        return self.refuse(cx, facts, head, headers, plan, respond, &error, true);
                    }
                }
                // Reset by the client, or the connection failed.
                Poll::Ready(Some(Err(_))) => {
                    shared.counters.http2_reset();
                    return StreamState::Done;
                }
                Poll::Ready(None) => break,
                Poll::Pending => {
                    return StreamState::Receiving(incoming);
                }
            }
        }
        let Incoming {
            head,
            headers,
            plan,
            tag,
            respond,
            body,
            spooled,
            ..
        } = *incoming;
        let body = match spooled {
            Some(file) => RequestBody::File(file.finish()),
            None => RequestBody::Full(body),
        };
        self.dispatch(id, head, headers, body, plan, tag, respond, cx)
    }
}

/// Keeps `data`, a piece of a request body: in memory (within the parked bodies' budget)
/// while the body is short, in its spool file once it is longer than the threshold.
fn store(incoming: &mut Incoming, data: &[u8], shared: &Shared) -> Result<(), ParseError> {
    let storage = |_| ParseError::Storage;
    if incoming.spooled.is_none() && incoming.received > shared.spool.threshold() {
        let mut file = shared.spool.create().map_err(storage)?;
        file.write(&incoming.body)
            .map_err(|_| ParseError::Overloaded)?;
        incoming.body = Vec::new();
        let _ = incoming.held.hold(0);
        incoming.spooled = Some(file);
    }
    match &mut incoming.spooled {
        Some(file) => file.write(data).map_err(|_| ParseError::Overloaded),
        None => {
            let length = (incoming.body.len() + data.len()) as u64;
            incoming
                .held
                .hold(length)
                .map_err(|_| ParseError::Overloaded)?;
            incoming.body.extend_from_slice(data);
            Ok(())
        }
    }
}

/// A [`HandlerService`] for this turn (routing, and refusals answered through the route's
/// middleware).
fn with_service<R>(
    cx: &TurnCx<'_>,
    facts: Option<&dyn TransportFacts>,
    f: impl FnOnce(&HandlerService<'_>) -> R,
) -> R {
    let clock = TurnClock::default();
    let service = HandlerService {
        shared: cx.shared,
        peer: cx.peer,
        tag: cx.tag,
        facts,
        clock: &clock,
        queued_since: cx.queued_since,
        watch: None,
        late_answers: None,
        deadlines: None,
        calls: Cell::new(0),
    };
    f(&service)
}

/// The answer to a handler that switched to a live protocol over HTTP/2.
fn not_over_http2() -> http::Response<Body> {
    crate::Response::text("WebSockets and event streams need HTTP/1.1.\n")
        .with_status(StatusCode::HTTP_VERSION_NOT_SUPPORTED)
        .into_http()
}

/// Sends a response's head, and its body if it has one.
fn start_response(
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
fn prepare_headers(headers: &mut HeaderMap, status: StatusCode, length: Option<u64>) {
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
fn send_body(
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

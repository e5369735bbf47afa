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

mod events;
mod pipe;
mod preface;
mod receive;
mod reply;
mod respond;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::RecvStream;
use h2::server::{Connection as H2Connection, Handshake, SendResponse};
use http::Method;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;

use self::events::{EventsOut, start_events};
use self::pipe::Pipe;
pub(super) use self::preface::{Preface, Sniffed};
use self::receive::{Incoming, Received};
use self::reply::{Replies, ReplyGuard};
use self::respond::{Outgoing, send_body, start_response};
use super::{JobCx, TransportFacts, TurnCx, earliest};
use crate::body::RequestBody;
use crate::cancel::CallWatch;
use crate::error::ParseError;
use crate::head::{RawHead, TargetRef};
use crate::http1::{RouteTag, Service, TurnClock};
use crate::io::{Stream, is_timeout, write_pending};
use crate::limits::deadline_after;
use crate::live::outbox::Wake;
use crate::metrics::Tally;
use crate::router::RoutePlan;
use crate::server::Shared;
use crate::server::outcome::{Outcome, Wait};
use crate::server::service::HandlerService;

/// Streams a connection may have open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`), and
/// streams whose body is gathered or whose handler runs at once.
pub(crate) const MAX_CONCURRENT_STREAMS: u32 = 100;
/// The flow-control window of a stream's request body: what a client may send before the
/// server has taken it. The connection's is 4 times larger.
const STREAM_WINDOW_BYTES: u32 = 256 * 1024;
/// What `h2` buffers of a response body per stream, at most.
const MAX_SEND_BUFFER_BYTES: usize = 64 * 1024;
/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Input read and not yet taken by `h2`, at most.
const MAX_INPUT_BYTES: usize = 256 * 1024;
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
    /// GOAWAY was sent (idle, or shutting down): it closes once its last stream is done,
    /// and not before this time (its last frames' grace).
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
    /// Its handler runs; its `watch` hears of the client's reset.
    Serving {
        respond: SendResponse<Bytes>,
        head_request: bool,
        watch: Arc<CallWatch>,
    },
    /// The response's body goes out as the window allows.
    Sending(Box<Outgoing>),
    /// An event stream: what its senders queue goes out as the window allows.
    Events(Box<EventsOut>),
    /// Reset by the client while its handler runs (cancelled): kept until the handler
    /// returns, so that it still counts against the streams in flight.
    Abandoned,
    Done,
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

/// An event stream's senders wake the connection the same way.
impl Wake for TurnWaker {
    fn wake(&self) {
        self.wake_connection();
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

/// What a round of the turn did.
#[derive(Default)]
struct Progress(bool);

impl Progress {
    fn made(&mut self) {
        self.0 = true;
    }
}

impl Drop for Http2Conn {
    /// The connection is gone: the handlers still running for it are cancelled.
    fn drop(&mut self) {
        for slot in &self.streams {
            if let StreamState::Serving { watch, .. } = &slot.state {
                watch.hang_up();
            }
        }
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
            .initial_connection_window_size(4 * STREAM_WINDOW_BYTES)
            // What `h2` holds of a response body that the client's window has room for
            // but the socket has not taken: a client that opens its windows wide and
            // does not read costs this per stream, not h2's default 400 KiB.
            .max_send_buffer_size(MAX_SEND_BUFFER_BYTES);
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
            idle_since: Some(Instant::now()),
            going_away: None,
        }
    }

    /// Whether a request of it is under way (its body arriving, its handler running, its
    /// response going out): a shutdown that cuts it cuts a request.
    pub(super) fn has_requests_in_flight(&self) -> bool {
        self.streams.iter().any(|slot| {
            matches!(
                slot.state,
                StreamState::Receiving(_) | StreamState::Serving { .. } | StreamState::Sending(_)
            )
        })
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
        // Told to go: once its last stream is done (and the grace for its last frames has
        // passed), it closes.
        let gone = self.going_away.is_some_and(|at| now >= at) && self.streams.is_empty();
        if matches!(self.phase, Phase::Ended) || gone {
            self.waker.end_turn();
            return Outcome::Close;
        }
        if self.waker.end_turn() {
            return Outcome::Yield;
        }
        if self.streams.is_empty() {
            // Idle until the client sends again: hold no buffer meanwhile.
            self.pipe.release_if_empty();
            self.streams = Vec::new();
        }
        // Once told to go, the idle timer has done its part.
        let idle_until = self
            .idle_since
            .filter(|_| self.going_away.is_none())
            .map(|since| deadline_after(since, limits.keep_alive_timeout));
        let stream_timers = self
            .streams
            .iter()
            .filter_map(|slot| match &slot.state {
                StreamState::Receiving(incoming) => Some(incoming.deadline(limits)),
                StreamState::Sending(out) => Some(out.write_deadline(limits.write_timeout)),
                StreamState::Events(events) => events.next_timer(cx.shared),
                StreamState::Serving { .. } | StreamState::Abandoned => None,
                StreamState::Done => None,
            })
            .min();
        let going_away = self.going_away.filter(|at| *at > now);
        Outcome::Park {
            wait: Wait::Live,
            until: earliest([idle_until, stream_timers, going_away], now),
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
                Poll::Pending => {
                    // A client that never sends its preface (after ALPN) is idle: it ends
                    // at the keep-alive timeout, or at once when the server shuts down.
                    let idle = self.idle_since.is_some_and(|since| {
                        now >= deadline_after(since, cx.shared.limits.keep_alive_timeout)
                    });
                    if idle || cx.shared.draining.load(Ordering::Acquire) {
                        self.phase = Phase::Ended;
                    }
                    return;
                }
            }
        }
        self.deliver_replies(cx.shared, &mut task, progress);
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
        // It closes once its last stream is done, and not before this grace for its last
        // frames; streams under way at a shutdown are cut at the drain deadline.
        self.going_away = Some(deadline_after(now, GOAWAY_GRACE));
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
        mut respond: SendResponse<Bytes>,
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
        if is_malformed(&head, &headers) {
            // A stream error (RFC 9113 §8.1.1): no handler, no answer but the reset.
            respond.send_reset(h2::Reason::PROTOCOL_ERROR);
            return;
        }
        if !headers.contains_key(header::HOST) {
            // RFC 9113 §8.3.1: `:authority` stands for `Host`.
            if let Some(authority) = head.uri.authority() {
                if let Ok(value) = HeaderValue::from_str(authority.as_str()) {
                    headers.insert(header::HOST, value);
                }
            }
        }
        // The target in origin form, as HTTP/1.1 requests have it (the authority is in
        // `Host`): the same app answers the same way over either protocol.
        if head.method != Method::CONNECT {
            if let Some(target) = head.uri.path_and_query().cloned() {
                head.uri = http::Uri::from(target);
            }
        }
        if let Some(facts) = facts {
            facts.annotate(&mut head.extensions);
        }
        let shared = cx.shared;
        let (decision, plan) = with_service(cx, facts, |service| {
            service.decide(&head, TargetRef::new(&head.uri, None))
        });
        // A route that streams its bodies over HTTP/1.1 takes them spooled here, up to the
        // same limit: its handler reads them with `body_reader` all the same.
        let limit = decision
            .streamed_body_limit
            .or(decision.max_body_bytes)
            .unwrap_or(shared.limits.max_body_bytes);
        if let Some(error) = refusal_of_head(&head, &headers, &recv, limit, &shared.limits) {
            let state = self.refuse(cx, facts, head, headers, plan, respond, &error);
            self.streams.push(StreamSlot { id, state });
            return;
        }
        if !recv.is_end_stream() && expects_continue(&headers) {
            // The client waits for this before it sends the body (RFC 9110 §10.1.1).
            let mut interim = http::Response::new(());
            *interim.status_mut() = http::StatusCode::CONTINUE;
            let _ = respond.send_informational(interim);
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
        let incoming = Incoming::new(
            head,
            headers,
            plan,
            decision.tag,
            respond,
            recv,
            limit,
            shared,
        );
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
        // The stream's own watch: its handler sees the client's reset (and the connection's
        // end) as a cancellation, and its deadline as one kept by the poller. A stream reset
        // before its handler starts costs no handler call.
        let watch = Arc::new(CallWatch::default());
        let guard = ReplyGuard::new(id, &self.replies, &self.waker);
        let peer = cx.peer;
        let queued_since = Instant::now();
        let job_watch = Arc::clone(&watch);
        let job: super::StreamJob = Box::new(move |job: &JobCx<'_>| {
            let clock = TurnClock::default();
            let service = HandlerService {
                shared: job.shared,
                peer,
                tag,
                facts: None,
                clock: &clock,
                queued_since,
                watch: Some(&job_watch),
                late_answers: None,
                deadlines: job.deadlines,
                calls: Cell::new(0),
                tally: Tally::default(),
            };
            let reply = service.call(head, RawHead::decoded(headers), body, plan, true);
            service.before_write();
            let (response, switch) = reply.into_http();
            guard.deliver(response, switch.map(|(_, upgrade)| upgrade));
        });
        match cx.jobs {
            Some(jobs) => jobs.run(tag, job),
            None => job(&JobCx {
                shared: cx.shared,
                deadlines: cx.deadlines,
            }),
        }
        StreamState::Serving {
            respond,
            head_request,
            watch,
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
    ) -> StreamState {
        let head_request = head.method == Method::HEAD;
        let reply = with_service(cx, facts, |service| {
            service.refuse(head, RawHead::decoded(headers), plan, error)
        });
        start_response(respond, reply.into_http().0, head_request)
    }

    /// Sends the responses handlers left.
    fn deliver_replies(
        &mut self,
        shared: &Shared,
        task: &mut Context<'_>,
        progress: &mut Progress,
    ) {
        for reply in self.replies.take() {
            let Some(slot) = self.streams.iter_mut().find(|slot| slot.id == reply.id) else {
                continue;
            };
            let StreamState::Serving {
                mut respond,
                head_request,
                ..
            } = std::mem::replace(&mut slot.state, StreamState::Done)
            else {
                continue;
            };
            progress.made();
            if respond.poll_reset(task).is_ready() {
                // The client reset it meanwhile: nothing to send.
                shared.counters.http2_reset();
                continue;
            }
            slot.state = match reply.events {
                Some(accepted) => {
                    let waker: Arc<dyn Wake> = self.waker.clone();
                    start_events(respond, reply.response, accepted, waker)
                }
                None => start_response(respond, reply.response, head_request),
            };
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
                self.receive(id, incoming, cx, facts, now, task, progress)
            }
            StreamState::Serving {
                mut respond,
                head_request,
                watch,
            } => match respond.poll_reset(task) {
                Poll::Ready(_) => {
                    cx.shared.counters.http2_reset();
                    watch.hang_up();
                    StreamState::Abandoned
                }
                Poll::Pending => StreamState::Serving {
                    respond,
                    head_request,
                    watch,
                },
            },
            StreamState::Sending(outgoing) => send_body(outgoing, now, cx.shared, task, progress),
            StreamState::Events(events) => events.drive(now, cx.shared, task, progress),
            StreamState::Abandoned => StreamState::Abandoned,
            StreamState::Done => StreamState::Done,
        };
        self.streams[index].state = state;
    }

    /// Takes what arrived of a request body; once it is complete, hands the request to its
    /// handler.
    #[allow(clippy::too_many_arguments)]
    fn receive(
        &self,
        id: u64,
        mut incoming: Box<Incoming>,
        cx: &TurnCx<'_>,
        facts: Option<&dyn TransportFacts>,
        now: Instant,
        task: &mut Context<'_>,
        progress: &mut Progress,
    ) -> StreamState {
        match incoming.receive(task, now, cx.shared, &mut progress.0) {
            Received::Waiting => StreamState::Receiving(incoming),
            Received::Reset => {
                cx.shared.counters.http2_reset();
                StreamState::Done
            }
            Received::Refused(error) => {
                let Incoming {
                    head,
                    headers,
                    plan,
                    respond,
                    ..
                } = *incoming;
                self.refuse(cx, facts, head, headers, plan, respond, &error)
            }
            Received::Complete(body) => {
                let Incoming {
                    head,
                    headers,
                    plan,
                    tag,
                    respond,
                    ..
                } = *incoming;
                self.dispatch(id, head, headers, body, plan, tag, respond, cx)
            }
        }
    }
}

/// Why a request is refused from its head alone, if it is: a body announced longer than its
/// route takes (413), more header fields than `max_headers` (431), a target longer than
/// `max_uri_bytes` (414), an expectation other than `100-continue` (417). (`h2` bounds the
/// header list's size itself.)
fn refusal_of_head(
    head: &Parts,
    headers: &HeaderMap,
    recv: &RecvStream,
    limit: u64,
    limits: &crate::limits::Limits,
) -> Option<ParseError> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let target = head
        .uri
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    // A cookie may come as one field per crumb (RFC 9113 §8.2.3): they count as one, as
    // HTTP/1.1's one `Cookie` line does.
    let crumbs = headers.get_all(header::COOKIE).iter().count();
    let fields = headers.len() - crumbs.saturating_sub(1);
    if head.method == Method::CONNECT {
        // No tunnels, as over HTTP/1.1.
        Some(ParseError::MethodNotImplemented)
    } else if target > limits.max_uri_bytes {
        Some(ParseError::UriTooLong {
            limit: limits.max_uri_bytes,
        })
    } else if fields > limits.max_headers {
        Some(ParseError::TooManyHeaders {
            limit: limits.max_headers,
        })
    } else if announced.is_some_and(|length| length > limit) && !recv.is_end_stream() {
        Some(ParseError::BodyTooLarge { limit })
    } else if headers.get(header::EXPECT).is_some() && !expects_continue(headers) {
        Some(ParseError::ExpectationFailed)
    } else {
        None
    }
}

/// Whether a request is malformed in ways `h2` leaves to the server (RFC 9113 §8.2.1,
/// §8.3.1, §8.5): a field value with whitespace at either end, a `:path` that is not an
/// origin-form target (nor `*` for OPTIONS), a `Host` naming another authority than
/// `:authority`, a `CONNECT` without `:authority`.
fn is_malformed(head: &Parts, headers: &HeaderMap) -> bool {
    let padded = |value: &HeaderValue| {
        let bytes = value.as_bytes();
        let space = |byte: Option<&u8>| matches!(byte, Some(b' ' | b'\t'));
        space(bytes.first()) || space(bytes.last())
    };
    if headers.values().any(padded) {
        return true;
    }
    let authority = head.uri.authority();
    if head.method == Method::CONNECT {
        if authority.is_none() {
            return true;
        }
    } else {
        // `:path` is an origin-form target, or `*` for OPTIONS (§8.3.1); HTTP/1.1's parser
        // admits nothing else either.
        let path = head.uri.path();
        let asterisk = path == "*" && head.method == Method::OPTIONS;
        if !path.starts_with('/') && !asterisk {
            return true;
        }
    }
    match (authority, headers.get(header::HOST)) {
        (Some(authority), Some(host)) => !host
            .as_bytes()
            .eq_ignore_ascii_case(authority.as_str().as_bytes()),
        _ => false,
    }
}

/// Whether the request carries `Expect: 100-continue` (and nothing else).
fn expects_continue(headers: &HeaderMap) -> bool {
    let mut expectations = headers.get_all(header::EXPECT).iter();
    matches!(
        (expectations.next(), expectations.next()),
        (Some(value), None) if value.as_bytes().eq_ignore_ascii_case(b"100-continue")
    )
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
        tally: Tally::default(),
    };
    f(&service)
}

//! A client connection, and its turn on a worker thread: the HTTP/1.1 engine over its
//! socket, with the router as the service.

use std::cell::RefCell;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use std::time::Instant;

use http::request::Parts;

use crate::error::ParseError;

use http::StatusCode;

use super::Shared;
use super::live::{Live, LiveContext, LiveTurn};
use super::reject::reject;
use crate::body::{Body, RequestBody};
use crate::http1::{
    AfterTurn, Conn, ConnConfig, ConnState, Decision, Limits, RawHeaders, ReadBuf, RouteTag,
    Service, Transport, TurnClock, Upgraded, deadline_after,
};
use crate::live::outbox::Wake;
use crate::live::{LiveTicket, LiveUpgrade};
use crate::router::RoutePlan;
#[cfg(feature = "tls")]
use crate::tls::TlsInfo;

/// Stands in for `tls::TlsInfo` without the `tls` feature: there is never one.
#[cfg(not(feature = "tls"))]
#[derive(Debug)]
enum TlsInfo {}

/// Beyond this capacity a worker's output buffer is freed after use rather than kept.
const MAX_RETAINED_OUTPUT_BYTES: usize = 256 * 1024;

/// An open client connection. Parked, it holds only what the engine carries between turns
/// (usually nothing); on a worker, it is served.
#[derive(Debug)]
pub(super) struct Connection {
    /// Shared with the connection table while a worker has the connection, so that the
    /// drain deadline can shut the socket down under a stuck request.
    pub(super) stream: Arc<TcpStream>,
    pub(super) peer: SocketAddr,
    /// What the engine carries from one turn to the next.
    state: ConnState<RoutePlan>,
    /// The socket is watched for writability (it owes output) rather than readability.
    pub(super) watching_writable: bool,
    /// Once it switched protocols: the WebSocket or event stream it serves.
    live: Option<Live>,
    /// The TLS session (feature `tls`); `None` on a plain connection, which costs a word.
    #[cfg(feature = "tls")]
    tls: Option<Box<super::tls::TlsState>>,
}

thread_local! {
    /// Each worker reuses one read buffer and one output buffer for every connection it
    /// serves, so a parked connection costs no buffer at all.
    static BUFFERS: RefCell<(ReadBuf, Vec<u8>)> = RefCell::new((ReadBuf::default(), Vec::new()));
}

impl Connection {
    pub(super) fn new(stream: TcpStream, peer: SocketAddr) -> Self {
        Self {
            stream: Arc::new(stream),
            peer,
            state: ConnState::default(),
            watching_writable: false,
            live: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// A connection just accepted: over TLS when the server serves TLS (with the
    /// configuration new connections get now). `None`: rustls refused to start a session.
    pub(super) fn accepted(stream: TcpStream, peer: SocketAddr, shared: &Shared) -> Option<Self> {
        #[allow(unused_mut)] // without the `tls` feature
        let mut connection = Self::new(stream, peer);
        #[cfg(feature = "tls")]
        if let Some(config) = &shared.tls {
            let tls = super::tls::TlsState::new(config, Instant::now(), &shared.limits).ok()?;
            connection.tls = Some(Box::new(tls));
        }
        #[cfg(not(feature = "tls"))]
        let _ = shared;
        Some(connection)
    }

    /// When a connection just accepted is closed if it sends nothing: after the keep-alive
    /// timeout, or over TLS when its handshake is not done within the header read timeout.
    pub(super) fn first_deadline(&self, now: Instant, limits: &Limits) -> Instant {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.handshake_deadline();
        }
        deadline_after(now, limits.keep_alive_timeout)
    }

    /// Whether a response to it is under way (see `ConnState::owes_output`), it is live, or
    /// TLS output is owed: it may not be answered with anything else (such as a 503).
    pub(super) fn owes_output(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.tls.as_ref().is_some_and(|tls| tls.owes_output()) {
            return true;
        }
        self.live.is_some() || self.state.owes_output()
    }

    pub(super) fn is_live(&self) -> bool {
        self.live.is_some()
    }

    /// Whether it is live and already knows the server is shutting down.
    pub(super) fn live_told_to_go(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.tls.as_ref().is_some_and(|tls| tls.is_closing()) {
            // Writing its last bytes: it has nothing more to say.
            return true;
        }
        self.live.as_ref().is_some_and(Live::told_to_go)
    }

    /// Switches to the live connection the last turn upgraded to (`AfterTurn::Upgrade`);
    /// `waker` is how its senders wake it. Returns false if there was none.
    pub(super) fn go_live(&mut self, waker: Arc<dyn Wake>) -> bool {
        let Some(upgraded) = self.state.take_upgraded() else {
            return false;
        };
        let Upgraded {
            upgrade,
            leftover,
            unwritten,
            chunked,
        } = *upgraded;
        let live = Live::new(upgrade, leftover, unwritten, chunked);
        live.set_waker(waker);
        self.state = ConnState::default();
        self.live = Some(live);
        true
    }

    /// A live connection's turn; over TLS, through the session.
    pub(super) fn serve_live(&mut self, cx: &LiveContext<'_>) -> LiveTurn {
        let Some(live) = &mut self.live else {
            return LiveTurn::Close;
        };
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return tls.serve_live(&self.stream, cx.write_timeout, |io| live.turn(io, cx));
        }
        let mut stream: &TcpStream = &self.stream;
        live.turn(&mut stream, cx)
    }

    /// Answers `status` and closes the connection for writing, for a connection the server
    /// will not serve (see `reject`); over TLS, through the session.
    pub(super) fn reject(&mut self, status: StatusCode) {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            tls.reject(&self.stream, status);
            return;
        }
        reject(&self.stream, status);
    }

    /// Serves what the connection has ready, on the current worker thread, which belongs to
    /// the pool of `tag`.
    pub(super) fn serve(&mut self, shared: &Shared, tag: RouteTag) -> AfterTurn {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            let (peer, state) = (self.peer, &mut self.state);
            return tls.serve(&self.stream, &shared.limits, |io, info| {
                run_engine(io, state, shared, tag, peer, Some(info))
            });
        }
        let mut stream: &TcpStream = &self.stream;
        run_engine(&mut stream, &mut self.state, shared, tag, self.peer, None)
    }
}

/// Over TLS, the connection says `close_notify` as it closes (see `TlsState::close`).
#[cfg(feature = "tls")]
impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(tls) = &mut self.tls {
            tls.close(
                &self.stream,
                self.state.owes_output() || self.state.response_cut_short(),
            );
        }
    }
}

impl HandlerService<'_> {
    /// A response that switches to a live connection gets a place among the server's live
    /// connections, or becomes a 503 when they are all taken or the server shuts down.
    fn admit_live(&self, response: &mut http::Response<Body>) {
        let Some(live) = response.extensions().get::<LiveUpgrade>() else {
            return;
        };
        let shared = self.shared;
        let ticket = if shared.shutdown.load(Ordering::Acquire) {
            None
        } else {
            LiveTicket::try_new(&shared.live_count, shared.max_live_connections)
        };
        match ticket {
            Some(ticket) => live.attach(ticket),
            None => {
                live.take();
                crate::logging::log_warn!(
                    "refused a live connection from {}: {} open, or shutting down",
                    self.peer,
                    shared.live_count.load(Ordering::Relaxed)
                );
                *response = crate::Response::text("Service Unavailable\n")
                    .with_status(http::StatusCode::SERVICE_UNAVAILABLE)
                    .with_header(http::header::RETRY_AFTER, "1")
                    .with_header(http::header::CONNECTION, "close")
                    .into_http();
            }
        }
    }
}

/// One turn of the HTTP/1.1 engine over `io`, with the worker's buffers.
fn run_engine<S: Transport>(
    io: &mut S,
    state: &mut ConnState<RoutePlan>,
    shared: &Shared,
    tag: RouteTag,
    peer: SocketAddr,
    tls: Option<&TlsInfo>,
) -> AfterTurn {
    BUFFERS.with(|buffers| {
        let mut buffers = buffers.borrow_mut();
        let (buf, out) = &mut *buffers;
        let clock = TurnClock::default();
        let config = ConnConfig {
            limits: &shared.limits,
            draining: &shared.draining,
            tag,
            body_budget: &shared.body_budget,
            clock: &clock,
        };
        let service = HandlerService {
            shared,
            peer,
            tag,
            tls,
            clock: &clock,
        };
        let next = Conn::new(io, buf, out, state, config, &service).serve();
        if out.capacity() > MAX_RETAINED_OUTPUT_BYTES {
            *out = Vec::new();
        }
        next
    })
}

/// The router, as the connection engine sees it.
struct HandlerService<'a> {
    shared: &'a Shared,
    peer: SocketAddr,
    /// The pool this turn runs on.
    tag: RouteTag,
    /// The connection's TLS parameters, given to every request (`Request::tls`).
    tls: Option<&'a TlsInfo>,
    /// Read once as each request ends: its latency, and the next one's start.
    clock: &'a TurnClock,
}

impl Service for HandlerService<'_> {
    type Plan = RoutePlan;

    /// Routes the request once: the plan says where it runs and is served as it says.
    fn decide(&self, head: &Parts) -> (Decision, RoutePlan) {
        let shared = self.shared;
        let plan = shared.router.plan(&head.method, &head.uri);
        if shared.pool_tags.is_empty() && !shared.streams_bodies {
            // No bulkheads and no streamed bodies: every request is alike.
            return (Decision::default(), plan);
        }
        let (pool, streamed_body_limit) = shared.router.placement(&plan);
        let tag = pool
            .and_then(|name| shared.pool_tags.get(name).copied())
            .unwrap_or_default();
        let decision = Decision {
            tag,
            streamed_body_limit,
        };
        (decision, plan)
    }

    fn call(
        &self,
        #[cfg_attr(not(feature = "tls"), allow(unused_mut))] mut head: Parts,
        headers: RawHeaders,
        body: RequestBody,
        plan: RoutePlan,
    ) -> http::Response<Body> {
        if let Some(info) = self.tls {
            #[cfg(feature = "tls")]
            head.extensions.insert(info.clone());
            #[cfg(not(feature = "tls"))]
            match *info {}
        }
        let shared = self.shared;
        // What handlers see (Health's 503): shutdown asked for, even while still accepting.
        let draining = shared.shutdown.load(Ordering::Acquire);
        let counters = &shared.counters;
        let metered = counters.enabled();
        let series = match &plan {
            RoutePlan::Route { route, handler, .. } if metered => {
                counters.series(*route, handler.position())
            }
            _ => None,
        };
        let started = metered.then(|| self.clock.latest());
        let mut response =
            shared
                .router
                .serve_parts(head, headers, body, Some(self.peer), draining, plan);
        self.admit_live(&mut response);
        // Read as the request ends, also unmetered: the response's `Date` uses it.
        let ended = self.clock.read();
        if let Some(started) = started {
            let latency = ended.saturating_duration_since(started);
            counters.responded(response.status(), self.tag.0, series, latency);
        }
        response
    }

    fn rejected(&self, error: &ParseError) {
        crate::logging::log_debug!("refused a request from {}: {error}", self.peer);
        self.shared.counters.rejected(error);
    }
}

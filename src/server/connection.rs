//! A client connection, and its turn on a worker thread: the HTTP/1.1 engine over its
//! socket, with the router as the service.

use std::cell::RefCell;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use std::time::Instant;

use http::request::Parts;

use crate::error::ParseError;

use super::Shared;
use super::live::{Live, LiveContext, LiveTurn};
use crate::body::{Body, RequestBody};
use crate::http1::{
    AfterTurn, Conn, ConnConfig, ConnState, Decision, ReadBuf, RouteTag, Service, Upgraded,
};
use crate::live::outbox::Wake;
use crate::live::{LiveTicket, LiveUpgrade};
use crate::router::RoutePlan;

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
        }
    }

    /// Whether a response to it is under way (see `ConnState::owes_output`), or it is
    /// live: either way it may not be answered with anything else (such as a 503).
    pub(super) fn owes_output(&self) -> bool {
        self.live.is_some() || self.state.owes_output()
    }

    pub(super) fn is_live(&self) -> bool {
        self.live.is_some()
    }

    /// Whether it is live and already knows the server is shutting down.
    pub(super) fn live_told_to_go(&self) -> bool {
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

    /// A live connection's turn.
    pub(super) fn serve_live(&mut self, cx: &LiveContext<'_>) -> LiveTurn {
        let Some(live) = &mut self.live else {
            return LiveTurn::Close;
        };
        let mut stream: &TcpStream = &self.stream;
        live.turn(&mut stream, cx)
    }

    /// Serves what the connection has ready, on the current worker thread, which belongs to
    /// the pool of `tag`.
    pub(super) fn serve(&mut self, shared: &Shared, tag: RouteTag) -> AfterTurn {
        BUFFERS.with(|buffers| {
            let mut buffers = buffers.borrow_mut();
            let (buf, out) = &mut *buffers;
            let config = ConnConfig {
                limits: &shared.limits,
                draining: &shared.draining,
                tag,
                body_budget: &shared.body_budget,
            };
            let service = HandlerService {
                shared,
                peer: self.peer,
                tag,
            };
            let mut stream: &TcpStream = &self.stream;
            let next = Conn::new(&mut stream, buf, out, &mut self.state, config, &service).serve();
            if out.capacity() > MAX_RETAINED_OUTPUT_BYTES {
                *out = Vec::new();
            }
            next
        })
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
                *response = http::Response::builder()
                    .status(http::StatusCode::SERVICE_UNAVAILABLE)
                    .header(http::header::RETRY_AFTER, "1")
                    .header(http::header::CONNECTION, "close")
                    .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                    .body(Body::from("Service Unavailable\n"))
                    .unwrap_or_default();
            }
        }
    }
}

/// The router, as the connection engine sees it.
struct HandlerService<'a> {
    shared: &'a Shared,
    peer: SocketAddr,
    /// The pool this turn runs on.
    tag: RouteTag,
}

impl Service for HandlerService<'_> {
    type Plan = RoutePlan;

    /// Routes the request once: the plan says where it runs and is served as it says.
    fn decide(&self, head: &Parts) -> (Decision, RoutePlan) {
        let shared = self.shared;
        let plan = shared.router.plan(&head.method, head.uri.path());
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

    fn call(&self, head: Parts, body: RequestBody, plan: RoutePlan) -> http::Response<Body> {
        let shared = self.shared;
        // What handlers see (Health's 503): shutdown asked for, even while still accepting.
        let draining = shared.shutdown.load(Ordering::Acquire);
        let counters = &shared.counters;
        if !counters.enabled() {
            let mut response =
                shared
                    .router
                    .serve_parts(head, body, Some(self.peer), draining, plan);
            self.admit_live(&mut response);
            return response;
        }
        let series = match &plan {
            RoutePlan::Route { route, handler, .. } => counters.series(*route, handler.position()),
            _ => None,
        };
        let started = Instant::now();
        let mut response = shared
            .router
            .serve_parts(head, body, Some(self.peer), draining, plan);
        self.admit_live(&mut response);
        counters.responded(response.status(), self.tag.0, series, started.elapsed());
        response
    }

    fn rejected(&self, error: &ParseError) {
        crate::logging::log_debug!("refused a request from {}: {error}", self.peer);
        self.shared.counters.rejected(error);
    }
}

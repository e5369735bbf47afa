//! The protocols a connection speaks, one file each: HTTP/1.1 (`http1`, through the
//! engine in `crate::http1` with the router as its service), and the live protocols a
//! response switches to: WebSocket (`websocket`) and Server-Sent Events (`events`).
//!
//! ```text
//!   Http1 ── a 101 to a WebSocket handshake ──► WebSocket
//!     └───── a 200 event stream ──────────────► Events
//!   Sniffing ── the HTTP/2 preface (h2c) ──► Http2      (feature `http2`; ALPN `h2` over
//!     └──────── anything else ────────────► Http1       TLS starts as Http2)
//! ```
//!
//! Every protocol's turn reads and writes a [`Stream`] (whatever the transport: a socket,
//! or a TLS session's plaintext) and returns an [`Outcome`]. A switch happens inside a
//! turn: the new protocol takes over the same stream at once, starting with the output and
//! input the HTTP/1.1 engine left. Adding a protocol is one file and one arm here.

mod events;
mod http1;
#[cfg(feature = "http2")]
mod http2;
mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use self::events::EventsConn;
use self::http1::{Http1, Http1Turn};
#[cfg(feature = "http2")]
use self::http2::{Http2Conn, Preface, Sniffed};
use self::websocket::WebSocketConn;
use super::Shared;
use super::deadlines::CallDeadlines;
use super::outcome::Outcome;
use crate::cancel::CallWatch;
use crate::http1::{RouteTag, Upgraded};
use crate::io::ShareSocket;
use crate::io::Stream;
use crate::limits::{MAX_TIMEOUT, deadline_after};
use crate::live::Upgrade;
use crate::live::outbox::Wake;

/// Messages read, or queued items written, per live turn before others get a turn.
const TURN_BUDGET: usize = 64;
/// How many times a live turn goes round (read, write, look at the outbox) before yielding.
const MAX_ROUNDS: usize = 4;

/// What a turn needs to know besides its connection.
pub(super) struct TurnCx<'a> {
    pub(super) shared: &'a Shared,
    /// The pool this turn runs on.
    pub(super) tag: RouteTag,
    pub(super) peer: SocketAddr,
    /// Makes the waker a connection's senders wake it through, once it goes live.
    pub(super) waker: &'a dyn Fn() -> Arc<dyn Wake>,
    /// When the connection was queued for this turn (load shedding by queue wait).
    pub(super) queued_since: Instant,
    /// The watch over the connection's requests (its slot's).
    pub(super) watch: Option<&'a Arc<CallWatch>>,
    /// The client closed its side: a short read does not mean the socket is empty. Seen
    /// as the connection became ready (`Connection::client_closed`), or while it was busy
    /// (the call watch's hang-up).
    pub(super) client_closed: bool,
    /// Where a late answer may be written from outside the turn (set by the connection:
    /// plain ones only).
    pub(super) late_answers: Option<&'a dyn ShareSocket>,
    /// Where handler deadlines are kept; `None` where no poller keeps them (in process).
    pub(super) deadlines: Option<&'a CallDeadlines>,
    /// Where handlers that run apart from their connection go (HTTP/2 streams); `None`:
    /// they run in the turn (in process).
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    pub(super) jobs: Option<&'a dyn Jobs>,
}

/// A request's handler that runs apart from its connection (an HTTP/2 stream's), given what
/// the worker that runs it has of the server.
#[cfg_attr(not(feature = "http2"), allow(dead_code))]
pub(super) type StreamJob = Box<dyn FnOnce(&JobCx<'_>) + Send>;

/// What a [`StreamJob`] gets from the worker that runs it.
#[cfg_attr(not(feature = "http2"), allow(dead_code))]
pub(super) struct JobCx<'a> {
    pub(super) shared: &'a Shared,
    /// Where handler deadlines are kept; `None` where no poller keeps them.
    pub(super) deadlines: Option<&'a CallDeadlines>,
}

/// Where a turn hands [`StreamJob`]s: the pools.
#[cfg_attr(not(feature = "http2"), allow(dead_code))]
pub(super) trait Jobs {
    /// Runs `job` on the pool of `tag`. A pool that refuses it (its queue full, or closed)
    /// drops it unrun.
    fn run(&self, tag: RouteTag, job: StreamJob);
}

/// What a transport tells every request it carries (a TLS session's parameters).
pub(super) trait TransportFacts {
    /// Adds what it knows to a request's extensions.
    fn annotate(&self, extensions: &mut http::Extensions);
}

/// What a live connection's turn needs from the server.
struct LiveCx<'a> {
    /// The server is shutting down: close with 1001, end event streams.
    draining: bool,
    /// How long a client that does not read may block the connection.
    write_timeout: Duration,
    /// Live connections closed because the server shut down.
    closed_by_shutdown: &'a AtomicUsize,
}

/// The protocol a connection speaks; see the module docs.
pub(super) enum Protocol {
    Http1(Http1),
    WebSocket(Box<WebSocketConn>),
    Events(Box<EventsConn>),
    #[cfg(feature = "http2")]
    Http2(Box<Http2Conn>),
    /// A plain connection whose first bytes tell HTTP/2 (its preface) from HTTP/1.1.
    #[cfg(feature = "http2")]
    Sniffing(Preface),
}

impl Protocol {
    /// A new connection speaks HTTP/1.1.
    pub(super) fn http1() -> Self {
        Self::Http1(Http1::default())
    }

    /// What a new plain connection speaks: HTTP/1.1, or HTTP/2 if it opens with the
    /// preface and the server serves h2c.
    pub(super) fn for_plain(shared: &Shared) -> Self {
        #[cfg(feature = "http2")]
        if shared.h2c {
            return Self::Sniffing(Preface::default());
        }
        let _ = shared;
        Self::http1()
    }

    /// Speaks HTTP/2 from now on (agreed with ALPN, before any request).
    #[cfg(all(feature = "http2", feature = "tls"))]
    pub(super) fn start_http2(&mut self, cx: &TurnCx<'_>) {
        *self = Self::Http2(Box::new(Http2Conn::new(&[], cx.shared, (cx.waker)())));
    }

    /// One turn over `io`; a switch to a live protocol serves that protocol's first turn
    /// too.
    pub(super) fn turn<S: Stream>(
        &mut self,
        io: &mut S,
        cx: &TurnCx<'_>,
        facts: Option<&dyn TransportFacts>,
    ) -> Outcome {
        let live = || LiveCx {
            draining: cx.shared.draining.load(Ordering::Acquire),
            write_timeout: cx.shared.limits.write_timeout,
            closed_by_shutdown: &cx.shared.live_closed_by_shutdown,
        };
        match self {
            Self::Http1(http) => match http.turn(io, cx, facts) {
                Http1Turn::Done(outcome) => outcome,
                Http1Turn::Switched(upgraded) => {
                    *self = Self::switched(*upgraded, (cx.waker)());
                    self.turn(io, cx, facts)
                }
            },
            Self::WebSocket(conn) => conn.turn(io, Instant::now(), &live()),
            Self::Events(conn) => conn.turn(io, Instant::now(), &live()),
            #[cfg(feature = "http2")]
            Self::Http2(conn) => conn.turn(io, cx, facts),
            #[cfg(feature = "http2")]
            Self::Sniffing(preface) => {
                match preface.sniff(io, cx.shared.limits.keep_alive_timeout) {
                    Sniffed::Http2(input) => {
                        let conn = Http2Conn::new(&input, cx.shared, (cx.waker)());
                        *self = Self::Http2(Box::new(conn));
                    }
                    Sniffed::Http1(input) => *self = Self::Http1(Http1::with_input(input)),
                    Sniffed::Wait(until) => {
                        return Outcome::Park {
                            wait: super::outcome::Wait::NextRequest,
                            until,
                        };
                    }
                    Sniffed::Closed => return Outcome::Close,
                }
                self.turn(io, cx, facts)
            }
        }
    }

    /// The live protocol an HTTP/1.1 response switched to; `waker` is how its senders
    /// wake it.
    fn switched(upgraded: Upgraded<Upgrade>, waker: Arc<dyn Wake>) -> Self {
        let Upgraded {
            upgrade,
            leftover,
            unwritten,
            chunked,
        } = upgraded;
        match upgrade {
            Upgrade::WebSocket(accepted) => {
                let conn = WebSocketConn::new(*accepted, leftover, unwritten);
                conn.set_waker(waker);
                Self::WebSocket(Box::new(conn))
            }
            Upgrade::Events(accepted) => {
                let conn = EventsConn::new(*accepted, unwritten, chunked);
                conn.set_waker(waker);
                Self::Events(Box::new(conn))
            }
        }
    }

    /// Whether it is a live protocol.
    pub(super) fn is_live(&self) -> bool {
        match self {
            Self::Http1(_) => false,
            #[cfg(feature = "http2")]
            Self::Sniffing(_) => false,
            _ => true,
        }
    }

    /// Whether it is HTTP/1.1 with no request parsed and waiting.
    pub(super) fn is_unread(&self) -> bool {
        match self {
            Self::Http1(http) => !http.has_request(),
            #[cfg(feature = "http2")]
            Self::Sniffing(_) => true,
            _ => false,
        }
    }

    /// Whether part of a response is written or owed (a live connection always has its
    /// response under way): nothing else, such as a 503, may be sent on it.
    pub(super) fn owes_output(&self) -> bool {
        match self {
            Self::Http1(http) => http.owes_output(),
            #[cfg(feature = "http2")]
            Self::Sniffing(_) => false,
            _ => true,
        }
    }

    /// Whether it must not end as if complete: a response is owed or was cut short (TLS
    /// then closes without `close_notify`).
    pub(super) fn is_cut_short(&self) -> bool {
        match self {
            Self::Http1(http) => http.is_cut_short(),
            _ => false,
        }
    }

    /// Whether a request multiplexed on it (an HTTP/2 stream) is under way while the
    /// connection itself is parked.
    pub(super) fn has_requests_in_flight(&self) -> bool {
        match self {
            #[cfg(feature = "http2")]
            Self::Http2(conn) => conn.has_requests_in_flight(),
            _ => false,
        }
    }

    /// Whether it is live and already knows the server is shutting down.
    pub(super) fn told_to_go(&self) -> bool {
        match self {
            Self::Http1(_) => false,
            Self::WebSocket(conn) => conn.told_to_go(),
            Self::Events(conn) => conn.told_to_go(),
            #[cfg(feature = "http2")]
            Self::Http2(conn) => conn.told_to_go(),
            #[cfg(feature = "http2")]
            Self::Sniffing(_) => false,
        }
    }
}

impl std::fmt::Debug for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Http1(_) => "Http1",
            Self::WebSocket(_) => "WebSocket",
            Self::Events(_) => "Events",
            #[cfg(feature = "http2")]
            Self::Http2(_) => "Http2",
            #[cfg(feature = "http2")]
            Self::Sniffing(_) => "Sniffing",
        })
    }
}

/// The earliest of `times`, or "never" (as far as a deadline goes) if there is none.
fn earliest(times: impl IntoIterator<Item = Option<Instant>>, now: Instant) -> Instant {
    times
        .into_iter()
        .flatten()
        .min()
        .unwrap_or_else(|| deadline_after(now, MAX_TIMEOUT))
}

//! Live connections: WebSocket (RFC 6455) and Server-Sent Events, served without holding
//! a worker or a thread.
//!
//! A live connection belongs to the server's poller like an idle keep-alive connection:
//! it costs a few KiB and no thread while nothing happens. When a message arrives, or
//! something is sent to it, a worker gives it a short turn: it reads the frames that are
//! there, calls your [`WebSocketSession`] for each message, and writes what is queued.
//! Senders ([`WebSocket`], [`EventStream`], [`Topic`]) are cheap clones usable from any
//! thread; they queue and return, never wait.
//!
//! ```no_run
//! use switchyard::live::{Event, Message, WebSocket};
//! use switchyard::http::Method;
//! use switchyard::{Request, Response, Server};
//!
//! let server = Server::builder()
//!     // Echo: every message goes back.
//!     .websocket("/ws", |_req: &Request| {
//!         |ws: &WebSocket, message: Message| {
//!             let _ = ws.send(message);
//!         }
//!     })
//!     .route(Method::GET, "/hello", |_req: &Request| {
//!         let (response, events) = Response::events();
//!         std::thread::spawn(move || {
//!             let _ = events.send(&Event::new().data("hello"));
//!         });
//!         response
//!     })
//!     .bind("127.0.0.1:3000")?;
//! server.run()?;
//! # Ok::<(), switchyard::Error>(())
//! ```
//!
//! Limits are on by default: message and frame size (1009), a bounded send queue per
//! connection (a slow consumer is closed with 1008), ping/pong keep-alive, an idle timeout
//! ([`WebSocketConfig`]), and a cap on live connections
//! ([`ServerBuilder::max_live_connections`](crate::ServerBuilder::max_live_connections)).
//! Invalid frames close with 1002, invalid UTF-8 with 1007. A graceful shutdown closes
//! WebSockets with 1001 (going away) and ends event streams; the
//! [`ShutdownReport`](crate::ShutdownReport) counts them.

mod events;
pub(crate) mod outbox;
mod topic;
mod websocket;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

pub use events::{DEFAULT_KEEP_ALIVE, Event, EventStream};
pub use topic::{Subscriber, Topic};
pub use tungstenite::protocol::CloseFrame;
pub use tungstenite::protocol::frame::coding::CloseCode;
pub use tungstenite::{Bytes, Message, Utf8Bytes};
pub use websocket::{
    DEFAULT_MAX_MESSAGE_SIZE, NoClose, NoOpen, Session, WebSocket, WebSocketConfig,
    WebSocketSession, WebSocketUpgrade, session,
};

pub(crate) use events::Accepted as EventsAccepted;
pub(crate) use websocket::Accepted as WebSocketAccepted;

/// Why a message was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The connection is closed or closing.
    #[error("the connection is closed")]
    Closed,
    /// The client reads too slowly: its send queue is full, and the connection is being
    /// closed.
    #[error("the client's send queue is full; the connection is being closed")]
    Full,
}

/// A live connection accepted by a handler, waiting for the engine to switch to it.
pub(crate) enum Upgrade {
    WebSocket(Box<WebSocketAccepted>),
    Events(Box<EventsAccepted>),
}

impl Upgrade {
    /// Gives the upgrade its place among the server's live connections.
    pub(crate) fn attach(&mut self, ticket: LiveTicket) {
        match self {
            Upgrade::WebSocket(accepted) => accepted.ticket = Some(ticket),
            Upgrade::Events(accepted) => accepted.ticket = Some(ticket),
        }
    }
}

/// One of the server's live connections, counted until it is dropped.
#[derive(Debug)]
pub(crate) struct LiveTicket(Arc<AtomicUsize>);

impl LiveTicket {
    /// A ticket, unless `count` is at `max` already.
    pub(crate) fn try_new(count: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(Arc::clone(count)))
    }
}

impl Drop for LiveTicket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How an [`Upgrade`] rides in a response's extensions (which must be `Clone + Sync`):
/// whoever takes it first has it.
#[derive(Clone)]
pub(crate) struct LiveUpgrade(Arc<Mutex<Option<Upgrade>>>);

impl LiveUpgrade {
    pub(crate) fn new(upgrade: Upgrade) -> Self {
        Self(Arc::new(Mutex::new(Some(upgrade))))
    }

    pub(crate) fn take(&self) -> Option<Upgrade> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl std::fmt::Debug for LiveUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveUpgrade")
    }
}

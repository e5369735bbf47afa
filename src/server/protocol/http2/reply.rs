//! How a stream's handler, on its pool, hands its response back to the connection: a
//! queue of replies, and a guard that answers 503 for a handler job dropped unrun.

use std::sync::{Arc, Mutex, PoisonError};

use http::StatusCode;
use http::header;

use super::TurnWaker;
use crate::body::Body;
use crate::live::{EventsAccepted, Upgrade};

/// A handler's answer to a stream.
pub(super) struct Reply {
    pub(super) id: u64,
    pub(super) response: http::Response<Body>,
    /// An event stream the response opens (its body is the events that senders queue).
    pub(super) events: Option<Box<EventsAccepted>>,
}

/// Handlers' replies, waiting for the connection's next turn.
#[derive(Default)]
pub(super) struct Replies(Mutex<Vec<Reply>>);

impl Replies {
    fn push(&self, reply: Reply) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(reply);
    }

    pub(super) fn take(&self) -> Vec<Reply> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A stream's handler's reply, delivered however the job ends: with the response, or with a
/// 503 if the job was dropped unrun (its pool refused it or closed) or failed outside the
/// handler (a panic in a handler is a 500 already).
pub(super) struct ReplyGuard {
    id: u64,
    replies: Arc<Replies>,
    waker: Arc<TurnWaker>,
    delivered: bool,
}

impl ReplyGuard {
    pub(super) fn new(id: u64, replies: &Arc<Replies>, waker: &Arc<TurnWaker>) -> Self {
        Self {
            id,
            replies: Arc::clone(replies),
            waker: Arc::clone(waker),
            delivered: false,
        }
    }

    /// Hands the connection the handler's response, and the event stream it opens if any.
    /// A WebSocket cannot be opened over HTTP/2 (that needs RFC 8441's extended CONNECT):
    /// such a switch is dropped, which closes it, and answered 505.
    pub(super) fn deliver(mut self, mut response: http::Response<Body>, switch: Option<Upgrade>) {
        let events = match switch {
            None => None,
            Some(Upgrade::Events(accepted)) => Some(accepted),
            Some(Upgrade::WebSocket(accepted)) => {
                drop(accepted);
                response = websocket_needs_http1();
                None
            }
        };
        self.delivered = true;
        self.replies.push(Reply {
            id: self.id,
            response,
            events,
        });
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
            self.replies.push(Reply {
                id: self.id,
                response,
                events: None,
            });
            self.waker.wake_connection();
        }
    }
}

/// The answer to a WebSocket handshake over HTTP/2.
fn websocket_needs_http1() -> http::Response<Body> {
    crate::Response::text("WebSockets need HTTP/1.1.\n")
        .with_status(StatusCode::HTTP_VERSION_NOT_SUPPORTED)
        .into_http()
}

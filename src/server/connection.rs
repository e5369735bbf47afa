//! A client connection, and its turn on a worker thread.

use std::cell::RefCell;
use std::net::{SocketAddr, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::StatusCode;
use http::request::Parts;

use super::Shared;
use super::poller::PollerWaker;
use crate::body::Body;
use crate::http1::{Conn, ConnConfig, Next, ReadBuf, Service};
use crate::request::Request;

/// Beyond this capacity a worker's output buffer is freed after use rather than kept.
const MAX_RETAINED_OUTPUT_BYTES: usize = 256 * 1024;

/// An open client connection. It lives in the poller while idle and moves to a worker for
/// its turn; parked, it holds only the bytes of a partly received head (usually none).
#[derive(Debug)]
pub(super) struct Connection {
    /// Shared with the poller while a worker has the connection, so that a drain deadline
    /// can shut the socket down under a stuck request.
    pub(super) stream: Arc<TcpStream>,
    pub(super) peer: SocketAddr,
    /// Unconsumed input from the last turn: the start of the next request head.
    pub(super) leftover: Vec<u8>,
}

/// How a turn on a worker ended.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Park the connection; `partial_head` says whether a head has started to arrive.
    Park {
        connection: Connection,
        partial_head: bool,
    },
    /// Its next request belongs on worker pool `pool`.
    Reroute { connection: Connection, pool: usize },
    /// The connection was closed.
    Closed,
}

/// What a worker hands back to the poller after a turn.
#[derive(Debug)]
pub(super) struct Returned {
    pub(super) token: usize,
    pub(super) outcome: Outcome,
}

thread_local! {
    /// Each worker reuses one read buffer and one output buffer for every connection it
    /// serves, so a parked connection costs no buffer at all.
    static BUFFERS: RefCell<(ReadBuf, Vec<u8>)> = RefCell::new((ReadBuf::default(), Vec::new()));
}

impl Connection {
    /// Serves every request the connection has ready, on the current worker thread, which
    /// belongs to worker pool `pool`.
    pub(super) fn serve(mut self, shared: &Shared, pool: usize) -> Outcome {
        BUFFERS.with(|buffers| {
            let mut buffers = buffers.borrow_mut();
            let (buf, out) = &mut *buffers;
            buf.load(&self.leftover);
            let config = ConnConfig {
                limits: &shared.limits,
                draining: &shared.draining,
                pool,
            };
            let service = HandlerService {
                shared,
                peer: self.peer,
            };
            let mut stream: &TcpStream = &self.stream;
            let next = Conn::new(&mut stream, buf, out, config, &service).serve();
            self.leftover = buf.take();
            if out.capacity() > MAX_RETAINED_OUTPUT_BYTES {
                *out = Vec::new();
            }
            match next {
                Next::Park { partial_head } => Outcome::Park {
                    connection: self,
                    partial_head,
                },
                Next::Reroute { pool } => Outcome::Reroute {
                    connection: self,
                    pool,
                },
                Next::Close => Outcome::Closed,
            }
        })
    }
}

/// The router, as the connection engine sees it.
struct HandlerService<'a> {
    shared: &'a Shared,
    peer: SocketAddr,
}

impl Service for HandlerService<'_> {
    fn call(&self, head: Parts, body: Vec<u8>) -> http::Response<Body> {
        call_handler(self.shared, head, body, self.peer)
    }

    fn pool_for(&self, head: &Parts) -> usize {
        if self.shared.pool_indices.is_empty() {
            return 0;
        }
        self.shared
            .router
            .pool_for(&head.method, head.uri.path())
            .and_then(|name| self.shared.pool_indices.get(name).copied())
            .unwrap_or(0)
    }
}

/// Runs the handler; a panic costs the client a 500, never the worker.
fn call_handler(
    shared: &Shared,
    head: Parts,
    body: Vec<u8>,
    peer: SocketAddr,
) -> http::Response<Body> {
    let mut request = Request::from_parts(head, body, Some(peer));
    request.set_server_draining(shared.draining.load(Ordering::Acquire));
    // The router catches handler panics itself (and logs the route); this catches the rest,
    // such as a panicking middleware.
    match panic::catch_unwind(AssertUnwindSafe(|| shared.router.dispatch(&mut request))) {
        Ok(response) => response.into_http(),
        Err(_) => {
            // The panic message itself was printed by the panic hook.
            let mut response = http::Response::new(Body::from("Internal Server Error\n"));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

/// Tells the poller the outcome of a turn, even if the turn itself panicked (a bug): the
/// poller must never wait forever for a connection that is gone.
pub(super) struct ReturnGuard {
    pub(super) token: usize,
    pub(super) returns: crossbeam_channel::Sender<Returned>,
    pub(super) waker: Arc<PollerWaker>,
    pub(super) sent: bool,
}

impl ReturnGuard {
    pub(super) fn send(mut self, outcome: Outcome) {
        self.sent = true;
        self.deliver(Returned {
            token: self.token,
            outcome,
        });
    }

    fn deliver(&self, returned: Returned) {
        // The poller is gone only after shutdown; the connection then just closes.
        if self.returns.send(returned).is_ok() {
            self.waker.wake_if_sleeping();
        }
    }
}

impl Drop for ReturnGuard {
    fn drop(&mut self) {
        if !self.sent {
            self.deliver(Returned {
                token: self.token,
                outcome: Outcome::Closed,
            });
        }
    }
}

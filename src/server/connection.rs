//! A client connection, and its turn on a worker thread.

use std::cell::RefCell;
use std::net::{SocketAddr, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use http::StatusCode;
use http::request::Parts;

use crossbeam_channel::Sender;

use super::Shared;
use super::dispatch::{Dispatch, Ready};
use super::poller::{PollerWaker, reject};
use super::slot::{self, Occupancy, SlotRef, SlotState};
use crate::body::{Body, RequestBody};
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
    /// When the first byte of the head in `leftover` arrived (as seen at the end of a turn):
    /// the header-read timeout counts from here, however slowly the rest trickles in.
    pub(super) head_started: Option<Instant>,
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
            let consumed_before = buf.consumed_total();
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
            // A turn that consumed input completed a request, so a partial head now is a
            // new one.
            let completed_request = buf.consumed_total() != consumed_before;
            self.leftover = buf.take();
            if out.capacity() > MAX_RETAINED_OUTPUT_BYTES {
                *out = Vec::new();
            }
            match next {
                Next::Park { partial_head } => {
                    self.head_started = match (partial_head, self.head_started) {
                        (false, _) => None,
                        (true, Some(started)) if !completed_request => Some(started),
                        (true, _) => Some(Instant::now()),
                    };
                    Outcome::Park {
                        connection: self,
                        partial_head,
                    }
                }
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
    fn call(&self, head: Parts, body: RequestBody) -> http::Response<Body> {
        call_handler(self.shared, head, body, self.peer)
    }

    fn body_stream_limit(&self, head: &Parts) -> Option<u64> {
        if !self.shared.streams_bodies {
            return None;
        }
        self.shared
            .router
            .body_stream_limit(&head.method, head.uri.path())
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
    body: RequestBody,
    peer: SocketAddr,
) -> http::Response<Body> {
    let mut request = Request::from_body(head, body, Some(peer));
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

/// What workers tell the poller; most turns end without any.
#[derive(Debug)]
pub(super) enum Notice {
    /// A parked connection needs a timer earlier than its live one.
    Timer {
        token: usize,
        generation: u64,
        at: Instant,
    },
    /// The connection's next request belongs on worker pool `pool` (or at the tail of its
    /// own pool's queue).
    Reroute {
        token: usize,
        connection: Connection,
        pool: usize,
    },
}

/// What every turn needs besides its connection: created once, shared by all turns.
pub(super) struct TurnContext {
    pub(super) shared: Arc<Shared>,
    pub(super) occupancy: Occupancy,
    pub(super) notices: Sender<Notice>,
    pub(super) waker: Arc<PollerWaker>,
    pub(super) dispatch: Dispatch,
}

impl TurnContext {
    /// Takes a connection that became readable: an idle one becomes busy and is queued for
    /// the main pool (its first turn is there; the engine moves it if its request belongs to
    /// another pool); a busy one is marked, so its worker serves it again.
    pub(super) fn on_readable(&self, token: usize) {
        let Some(slot) = self.dispatch.slots.get(token) else {
            return;
        };
        let mut guard = slot::lock(&slot);
        if let SlotState::Busy { readable, .. } = &mut guard.state {
            *readable = true;
            return;
        }
        let SlotState::Idle { connection, .. } =
            std::mem::replace(&mut guard.state, SlotState::Free)
        else {
            return;
        };
        guard.state = SlotState::Busy {
            readable: false,
            stream: Arc::clone(&connection.stream),
        };
        drop(guard);
        self.occupancy.became_busy();
        self.enqueue(token, slot, connection);
    }

    /// Queues a busy connection for the main pool's runners, or answers 503 when the queue
    /// is full.
    pub(super) fn enqueue(&self, token: usize, slot: SlotRef, connection: Connection) {
        let ready = Ready {
            token,
            slot,
            connection,
            since: Instant::now(),
        };
        if let Err(refused) = self.dispatch.push(ready, self.shared.queue_capacity) {
            reject(&refused.connection.stream, StatusCode::SERVICE_UNAVAILABLE);
            drop(refused.connection);
            self.close(refused.token, &refused.slot);
        }
    }

    fn notify(&self, notice: Notice) {
        // The poller is gone only after shutdown; the connection then just closes.
        if self.notices.send(notice).is_ok() {
            self.waker.wake_if_sleeping();
        }
    }

    /// Frees the slot of a connection that is gone (its stream already dropped).
    pub(super) fn close(&self, token: usize, slot: &SlotRef) {
        slot::lock(slot).free();
        self.occupancy.closed(token);
        self.finished_turn();
    }

    /// Parks a connection after its turn, unless it became readable meanwhile: then it is
    /// handed back, to be queued again.
    fn park(
        &self,
        token: usize,
        slot: &SlotRef,
        connection: Connection,
        partial_head: bool,
    ) -> Option<Connection> {
        let mut guard = slot::lock(slot);
        if self.shared.shutdown.load(Ordering::Acquire) {
            guard.free();
            drop(guard);
            drop(connection);
            self.occupancy.closed(token);
            self.finished_turn();
            return None;
        }
        if let SlotState::Busy { readable, .. } = &mut guard.state {
            if *readable {
                *readable = false;
                return Some(connection);
            }
        }
        let limits = &self.shared.limits;
        let deadline = match connection.head_started {
            Some(started) if partial_head => started + limits.header_read_timeout,
            _ => Instant::now() + limits.keep_alive_timeout,
        };
        guard.state = SlotState::Idle {
            connection,
            deadline,
            partial_head,
        };
        // A later deadline reuses the live timer (the poller re-arms it when it fires); an
        // earlier one, or none armed, needs the poller.
        let notice = if guard.timer_at.is_none_or(|at| deadline < at) {
            guard.timer_at = Some(deadline);
            Some(Notice::Timer {
                token,
                generation: guard.generation,
                at: deadline,
            })
        } else {
            None
        };
        drop(guard);
        self.finished_turn();
        if let Some(notice) = notice {
            self.notify(notice);
        }
        None
    }

    fn finished_turn(&self) {
        self.occupancy.became_idle();
        if self.shared.shutdown.load(Ordering::Acquire) {
            // The poller waits for the last turn to end.
            self.waker.wake();
        }
    }
}

/// One dispatched turn: a connection with a request ready, on its way to a worker. If it
/// is dropped without running (its pool closed) or its run panics (a bug), its slot is
/// freed, so the poller never waits for a connection that is gone.
pub(super) struct Turn {
    context: Arc<TurnContext>,
    token: usize,
    slot: SlotRef,
    connection: Option<Connection>,
    /// The worker pool it runs on.
    pool: usize,
    finished: bool,
}

impl Turn {
    pub(super) fn new(
        context: Arc<TurnContext>,
        token: usize,
        slot: SlotRef,
        connection: Connection,
        pool: usize,
    ) -> Self {
        Self {
            context,
            token,
            slot,
            connection: Some(connection),
            pool,
            finished: false,
        }
    }

    /// Serves what the connection has ready, then parks, closes or queues it again.
    pub(super) fn run(mut self) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        let context = Arc::clone(&self.context);
        let requeue = |connection, pool| {
            if pool == 0 && self.pool == 0 && !context.shared.shutdown.load(Ordering::Acquire) {
                // On a runner: back to the tail of the queue it is draining.
                context.enqueue(self.token, Arc::clone(&self.slot), connection);
            } else {
                context.notify(Notice::Reroute {
                    token: self.token,
                    connection,
                    pool,
                });
            }
        };
        match connection.serve(&context.shared, self.pool) {
            Outcome::Closed => context.close(self.token, &self.slot),
            Outcome::Reroute { connection, pool } => requeue(connection, pool),
            Outcome::Park {
                connection,
                partial_head,
            } => {
                if let Some(readable) =
                    context.park(self.token, &self.slot, connection, partial_head)
                {
                    // More arrived during the turn. Serving it now would jump the queue of
                    // connections already waiting (unfair under load): go to its tail.
                    requeue(readable, self.pool);
                }
            }
        }
        self.finished = true;
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if !self.finished {
            drop(self.connection.take());
            self.context.close(self.token, &self.slot);
        }
    }
}

/// A main-pool job: serves queued connections, polls readiness itself when the queue is
/// empty, and retires when there is nothing to do (see the `dispatch` module).
pub(super) fn run_runner(context: Arc<TurnContext>) {
    let mut running = Running(Some(&context));
    let dispatch = &context.dispatch;
    loop {
        dispatch.scanned();
        if let Some(ready) = dispatch.pop() {
            Turn::new(
                Arc::clone(&context),
                ready.token,
                ready.slot,
                ready.connection,
                0,
            )
            .run();
            continue;
        }
        let mut found = false;
        dispatch.poll_readiness(|token| {
            found = true;
            context.on_readable(token);
        });
        if found {
            continue;
        }
        if context.shared.shutdown.load(Ordering::Acquire) {
            // Nothing new will be served: retire at once.
        } else if dispatch.lead(|token| context.on_readable(token), || context.waker.wake()) {
            continue;
        }
        if dispatch.retire() {
            running.0 = None;
            return;
        }
    }
}

/// Uncounts a runner that unwinds (a bug), and has the poller start another if work is
/// left.
struct Running<'a>(Option<&'a TurnContext>);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Some(context) = self.0 {
            context.dispatch.uncount_runner();
            context.waker.wake();
        }
    }
}

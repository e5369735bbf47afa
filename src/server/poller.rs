//! The acceptor and supervisor: one thread that owns the listener and the connections'
//! timers, watches connection readiness while no runner does, and supervises the runners
//! (`dispatch`).
//!
//! A connection is idle in its slot (`SlotState::Idle`) or on a worker (`SlotState::Busy`).
//! The worker parks it in its slot again itself; the poller hears from workers only for the
//! rare things it must do (an earlier timer, a move to another pool). Idle connections
//! therefore cost no worker, and a blocked handler blocks only its own worker.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use http::StatusCode;
use mio::unix::SourceFd;
use mio::{Events, Poll, Token, Waker};

use super::connection::{Connection, Notice, Turn, TurnContext, run_runner};
use super::dispatch::{self, Dispatch};
use super::slot::{self, Occupancy, SlotState};
use super::{Shared, ShutdownReport};
use crate::http1::write_rejection;
use crate::pool::ThreadPool;

pub(super) const LISTENER: Token = Token(usize::MAX - 1);
pub(super) const WAKER: Token = Token(usize::MAX);
/// Readiness events taken per `poll` call.
const EVENTS_CAPACITY: usize = 1024;
/// After `accept` fails for lack of resources (EMFILE...), wait this long before retrying.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);
/// Even with no drain time left, workers get this long to finish before being detached.
const MIN_WORKER_JOIN_TIME: Duration = Duration::from_millis(100);
/// Input read and dropped before the poller answers a connection it will not serve, so the
/// close does not reset the connection before the client reads the answer.
const REJECT_DISCARD_BYTES: usize = 16 * 1024;

/// The poller's `mio::Waker`, used only when the poller is asleep in `poll`: under load it
/// is awake anyway and picks up returned connections on its next turn, so a worker spares
/// the wake-up syscall on most requests.
#[derive(Debug)]
pub(super) struct PollerWaker {
    waker: Waker,
    /// The poller is in (or about to enter) `poll`.
    sleeping: AtomicBool,
}

impl PollerWaker {
    pub(super) fn new(waker: Waker) -> Self {
        Self {
            waker,
            sleeping: AtomicBool::new(false),
        }
    }

    /// Wakes the poller unconditionally (shutdown).
    pub(super) fn wake(&self) {
        // A failed wake means the poller is gone already.
        let _ = self.waker.wake();
    }

    /// Called after handing something to the poller: wakes it if it may be asleep.
    pub(super) fn wake_if_sleeping(&self) {
        // Pairs with the fence in `Poller::run`: either the poller sees what was sent before
        // it sleeps, or this sees it sleeping.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            self.wake();
        }
    }
}

/// The state of the poller thread.
pub(super) struct Poller {
    poll: Poll,
    listener: Option<TcpListener>,
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    accept_retry_at: Option<Instant>,
    notices: Receiver<Notice>,
    context: Arc<TurnContext>,
    /// The main pool first, then the named pools (bulkheads) in declaration order.
    pools: Vec<ThreadPool>,
    /// Set when shutdown begins: past it, requests still in flight are cut.
    drain_deadline: Option<Instant>,
    connections_cut: usize,
}

impl Poller {
    pub(super) fn new(
        poll: Poll,
        listener: TcpListener,
        waker: Arc<PollerWaker>,
        shared: Arc<Shared>,
        pools: Vec<ThreadPool>,
    ) -> io::Result<Self> {
        let (notices_sender, notices) = crossbeam_channel::unbounded();
        let dispatch = Dispatch::new(poll.registry(), pools[0].size())?;
        Ok(Self {
            poll,
            listener: Some(listener),
            timers: BinaryHeap::new(),
            accept_retry_at: None,
            notices,
            context: Arc::new(TurnContext {
                shared,
                occupancy: Occupancy::default(),
                notices: notices_sender,
                waker,
                dispatch,
            }),
            pools,
            drain_deadline: None,
            connections_cut: 0,
        })
    }

    fn dispatch(&self) -> &Dispatch {
        &self.context.dispatch
    }

    fn shared(&self) -> &Shared {
        &self.context.shared
    }

    /// Runs until shutdown was requested and every in-flight request has finished (or the
    /// drain deadline cut it); then joins the workers.
    pub(super) fn run(mut self) -> io::Result<ShutdownReport> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        loop {
            self.context.waker.sleeping.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let timeout = if self.notices.is_empty() {
                self.next_timeout()
            } else {
                Some(Duration::ZERO)
            };
            let polled = self.poll.poll(&mut events, timeout);
            self.context.waker.sleeping.store(false, Ordering::SeqCst);
            if let Err(error) = polled {
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    WAKER => {}
                    dispatch::READINESS => {
                        let context = &self.context;
                        context
                            .dispatch
                            .poll_readiness(|token| context.on_readable(token));
                    }
                    Token(_) => {}
                }
            }
            while let Ok(notice) = self.notices.try_recv() {
                self.on_notice(notice);
            }
            self.expire_timers();
            self.supervise_runners();
            if self.shared().shutdown.load(Ordering::Acquire) {
                self.begin_shutdown();
                if self.context.occupancy.busy() == 0 {
                    break;
                }
                if self.drain_deadline.is_some_and(|at| at <= Instant::now()) {
                    self.cut_busy_connections();
                    break;
                }
            }
        }
        // Give the workers what is left of the drain time to finish; a handler stuck past it
        // is left behind (its thread is detached) rather than hanging the caller forever.
        let remaining = self.drain_deadline.map_or(Duration::ZERO, |at| {
            at.saturating_duration_since(Instant::now())
        });
        let deadline = Instant::now() + remaining.max(MIN_WORKER_JOIN_TIME);
        let stuck_workers = self
            .pools
            .drain(..)
            .map(|pool| {
                let left = deadline.saturating_duration_since(Instant::now());
                match pool.shutdown_timeout(left) {
                    Ok(()) => 0,
                    Err(timed_out) => timed_out.busy_workers.len(),
                }
            })
            .sum();
        Ok(ShutdownReport {
            connections_cut: self.connections_cut,
            stuck_workers,
        })
    }

    /// Shuts down the sockets of requests still in flight at the drain deadline: their
    /// clients see the connection end, and their workers' reads and writes fail.
    fn cut_busy_connections(&mut self) {
        for slot in self.dispatch().slots.snapshot() {
            if slot::lock(&slot).cut_if_busy() {
                self.connections_cut += 1;
            }
        }
    }

    fn next_timeout(&self) -> Option<Duration> {
        let next_timer = self.timers.peek().map(|Reverse((at, _, _))| *at);
        let timeout = [next_timer, self.accept_retry_at, self.drain_deadline]
            .into_iter()
            .flatten()
            .min()
            .map(|at| at.saturating_duration_since(Instant::now()));
        if !self.dispatch().poller_must_tick() {
            return timeout;
        }
        // Runners are serving: look in on them every GRACE.
        Some(timeout.map_or(dispatch::GRACE, |t| t.min(dispatch::GRACE)))
    }

    /// Starts runners where work waits for them, and watches readiness while no runner
    /// does (the `dispatch` module).
    fn supervise_runners(&mut self) {
        let now = Instant::now();
        let dispatch = self.dispatch();
        let queued = dispatch.queued();
        let runners = dispatch.runners();
        let stuck = dispatch.runners_stuck(now);
        let wanted = if queued == 0 {
            0
        } else if dispatch.serving() == 0 {
            1
        } else {
            let overdue = now
                .checked_sub(dispatch::GRACE)
                .map_or(0, |before| dispatch.waiting_since(before));
            if stuck { overdue } else { overdue.min(1) }
        };
        let start = wanted.min(dispatch.max_runners().saturating_sub(runners));
        for _ in 0..start {
            self.start_runner();
        }
        self.dispatch().poller_watches(stuck);
    }

    fn start_runner(&mut self) {
        self.dispatch().runner_starting();
        let context = Arc::clone(&self.context);
        if self.pools[0].execute(move || run_runner(context)).is_err() {
            // The pool is closed (shutdown). With no runner left, nobody serves what is
            // queued: close it.
            self.dispatch().uncount_runner();
            if self.dispatch().runners() == 0 {
                for ready in self.dispatch().take_all() {
                    drop(ready.connection);
                    self.context.close(ready.token, &ready.slot);
                }
            }
        }
    }

    fn accept_all(&mut self) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    if self.context.occupancy.open() >= self.shared().max_connections {
                        reject(&stream, StatusCode::SERVICE_UNAVAILABLE);
                        continue;
                    }
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    // Small responses must not wait for Nagle's algorithm.
                    let _ = stream.set_nodelay(true);
                    self.register(Connection {
                        stream: Arc::new(stream),
                        peer,
                        leftover: Vec::new(),
                        head_started: None,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_transient_accept_error(&e) => {}
                Err(_) => {
                    // Out of file descriptors or memory: the listener stays readable, but an
                    // edge-triggered poll would not say so again. Retry shortly.
                    self.accept_retry_at = Some(Instant::now() + ACCEPT_RETRY_DELAY);
                    return;
                }
            }
        }
    }

    /// Gives a new connection a slot, idle until its first request arrives.
    fn register(&mut self, connection: Connection) {
        let token = match self.context.occupancy.take_free() {
            Some(token) => token,
            None => self.dispatch().slots.add(),
        };
        let Some(slot_ref) = self.dispatch().slots.get(token) else {
            return;
        };
        let fd = connection.stream.as_raw_fd();
        self.context.occupancy.opened();
        let deadline = Instant::now() + self.shared().limits.keep_alive_timeout;
        {
            // Idle before it is registered: a runner may see it readable at once.
            let mut slot = slot::lock(&slot_ref);
            slot.state = SlotState::Idle {
                connection,
                deadline,
                partial_head: false,
            };
            slot.timer_at = Some(deadline);
            self.timers
                .push(Reverse((deadline, token, slot.generation)));
        }
        // Registration reports data that is already there, so the first request arrives as
        // an ordinary readable event.
        if self.dispatch().register(fd, token).is_err() {
            drop(slot::lock(&slot_ref).free());
            self.context.occupancy.closed(token);
        }
    }

    /// Queues a busy connection's turn on worker pool `pool`, or answers 503 when that queue
    /// is full.
    fn submit(&mut self, token: usize, connection: Connection, pool: usize) {
        let Some(slot) = self.dispatch().slots.get(token) else {
            return;
        };
        if pool == 0 {
            self.context.enqueue(token, slot, connection);
            return;
        }
        if self.pools[pool].queued() >= self.shared().queue_capacity {
            reject(&connection.stream, StatusCode::SERVICE_UNAVAILABLE);
            drop(connection);
            self.context.close(token, &slot);
            return;
        }
        let turn = Turn::new(Arc::clone(&self.context), token, slot, connection, pool);
        // The poller is the only producer and checked the queue's room above, so this does
        // not block; it fails only once the pool is closed, and then the turn, dropped
        // unrun, frees its slot.
        let _ = self.pools[pool].execute(move || turn.run());
    }

    fn on_notice(&mut self, notice: Notice) {
        match notice {
            Notice::Timer {
                token,
                generation,
                at,
            } => self.timers.push(Reverse((at, token, generation))),
            Notice::Reroute {
                token,
                connection,
                pool,
            } => {
                if self.shared().shutdown.load(Ordering::Acquire) {
                    drop(connection);
                    if let Some(slot) = self.dispatch().slots.get(token) {
                        self.context.close(token, &slot);
                    }
                } else {
                    self.submit(token, connection, pool);
                }
            }
        }
    }

    /// Closes idle connections whose deadline passed: silently when idle between requests,
    /// with 408 when a request head was left unfinished (slowloris).
    fn expire_timers(&mut self) {
        let now = Instant::now();
        if self.accept_retry_at.is_some_and(|at| at <= now) {
            self.accept_retry_at = None;
            self.accept_all();
        }
        while let Some(&Reverse((at, token, generation))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(slot_ref) = self.dispatch().slots.get(token) else {
                continue;
            };
            let mut slot = slot::lock(&slot_ref);
            if slot.generation != generation || slot.timer_at != Some(at) {
                continue;
            }
            slot.timer_at = None;
            let (deadline, partial_head) = match &slot.state {
                SlotState::Idle {
                    deadline,
                    partial_head,
                    ..
                } => (*deadline, *partial_head),
                // A busy connection gets a timer again when it parks.
                SlotState::Busy { .. } | SlotState::Free => continue,
            };
            if deadline > now {
                slot.timer_at = Some(deadline);
                self.timers.push(Reverse((deadline, token, generation)));
                continue;
            }
            let connection = slot.free();
            drop(slot);
            if let Some(connection) = connection {
                if partial_head {
                    reject(&connection.stream, StatusCode::REQUEST_TIMEOUT);
                }
            }
            self.context.occupancy.closed(token);
        }
    }

    /// Stops accepting and closes every idle connection; busy ones close when their turn
    /// ends.
    fn begin_shutdown(&mut self) {
        if let Some(listener) = self.listener.take() {
            let fd = listener.as_raw_fd();
            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            drop(listener);
            self.shared().draining.store(true, Ordering::Release);
            self.drain_deadline = Some(Instant::now() + self.shared().drain_timeout);
            // Queued turns still run (their responses say `Connection: close`).
            for pool in &self.pools {
                pool.close();
            }
        }
        for (token, slot) in self.dispatch().slots.snapshot().iter().enumerate() {
            let mut slot = slot::lock(slot);
            if matches!(slot.state, SlotState::Idle { .. }) {
                let connection = slot.free();
                drop(slot);
                drop(connection);
                self.context.occupancy.closed(token);
            }
        }
    }
}

/// Answers a connection the poller will not serve (over capacity, timed out), then closes
/// it. Best effort: the socket is non-blocking and the answer is small.
pub(super) fn reject(mut stream: &TcpStream, status: StatusCode) {
    let _ = stream.set_nonblocking(true);
    let mut discard = [0u8; 4096];
    let mut discarded = 0;
    while discarded < REJECT_DISCARD_BYTES {
        match stream.read(&mut discard) {
            Ok(0) | Err(_) => break,
            Ok(n) => discarded += n,
        }
    }
    let mut answer = Vec::with_capacity(256);
    let extra: &[(&str, &str)] = if status == StatusCode::SERVICE_UNAVAILABLE {
        &[("retry-after", "1")]
    } else {
        &[]
    };
    write_rejection(&mut answer, status, extra, true);
    let _ = stream.write(&answer);
    let _ = stream.shutdown(Shutdown::Write);
}

/// Errors of one incoming connection that say nothing about the listener.
fn is_transient_accept_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::PermissionDenied
    )
}

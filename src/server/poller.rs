//! The acceptor and readiness poller: one thread that owns the listener and every idle
//! connection, and hands connections that became readable to the pool.
//!
//! A connection is in exactly one place: parked here (`Slot::Idle`), or on a worker
//! (`Slot::Busy`), which gives it back through a channel and a `mio::Waker`. Idle
//! connections therefore cost no worker, and a blocked handler blocks only its own worker.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use http::StatusCode;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use super::connection::{Connection, Outcome, ReturnGuard, Returned};
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

/// Where a connection is.
#[derive(Debug)]
enum Slot {
    Free,
    /// Parked here, waiting to become readable or to time out.
    Idle {
        connection: Connection,
        deadline: Instant,
        partial_head: bool,
    },
    /// On a worker. `readable` records readiness seen meanwhile, so the connection is
    /// dispatched again as soon as it comes back; `stream` lets a drain deadline cut it.
    Busy {
        readable: bool,
        stream: Arc<TcpStream>,
    },
}

#[derive(Debug)]
struct Entry {
    slot: Slot,
    /// Bumped on every reuse, so timers of an earlier connection in the slot are ignored.
    generation: u64,
    /// When this connection's live timer in the heap fires. Heap entries for other times
    /// are stale and skipped, so each connection has one live timer at most.
    timer_at: Option<Instant>,
}

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
    entries: Vec<Entry>,
    free: Vec<usize>,
    /// Connections in a slot (idle or busy).
    open: usize,
    busy: usize,
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    accept_retry_at: Option<Instant>,
    returns: Receiver<Returned>,
    returns_sender: Sender<Returned>,
    waker: Arc<PollerWaker>,
    shared: Arc<Shared>,
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
    ) -> Self {
        let (returns_sender, returns) = crossbeam_channel::unbounded();
        Self {
            poll,
            listener: Some(listener),
            entries: Vec::new(),
            free: Vec::new(),
            open: 0,
            busy: 0,
            timers: BinaryHeap::new(),
            accept_retry_at: None,
            returns,
            returns_sender,
            waker,
            shared,
            pools,
            drain_deadline: None,
            connections_cut: 0,
        }
    }

    /// Runs until shutdown was requested and every in-flight request has finished (or the
    /// drain deadline cut it); then joins the workers.
    pub(super) fn run(mut self) -> io::Result<ShutdownReport> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        loop {
            self.waker.sleeping.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let timeout = if self.returns.is_empty() {
                self.next_timeout()
            } else {
                Some(Duration::ZERO)
            };
            let polled = self.poll.poll(&mut events, timeout);
            self.waker.sleeping.store(false, Ordering::SeqCst);
            if let Err(error) = polled {
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    WAKER => {}
                    Token(token) => self.on_readable(token),
                }
            }
            while let Ok(returned) = self.returns.try_recv() {
                self.on_return(returned);
            }
            self.expire_timers();
            if self.shared.shutdown.load(Ordering::Acquire) {
                self.begin_shutdown();
                if self.busy == 0 {
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
        for entry in &self.entries {
            if let Slot::Busy { stream, .. } = &entry.slot {
                let _ = stream.shutdown(Shutdown::Both);
                self.connections_cut += 1;
            }
        }
    }

    fn next_timeout(&self) -> Option<Duration> {
        let next_timer = self.timers.peek().map(|Reverse((at, _, _))| *at);
        [next_timer, self.accept_retry_at, self.drain_deadline]
            .into_iter()
            .flatten()
            .min()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    fn accept_all(&mut self) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    if self.open >= self.shared.max_connections {
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

    fn register(&mut self, connection: Connection) {
        let token = match self.free.pop() {
            Some(token) => token,
            None => {
                self.entries.push(Entry {
                    slot: Slot::Free,
                    generation: 0,
                    timer_at: None,
                });
                self.entries.len() - 1
            }
        };
        let fd = connection.stream.as_raw_fd();
        if self
            .poll
            .registry()
            .register(&mut SourceFd(&fd), Token(token), Interest::READABLE)
            .is_err()
        {
            self.free.push(token);
            return;
        }
        self.open += 1;
        let entry = &mut self.entries[token];
        entry.generation += 1;
        entry.timer_at = None;
        // Registration reports data that is already there, so the first request arrives as
        // an ordinary readable event.
        self.park(token, connection, false);
    }

    fn on_readable(&mut self, token: usize) {
        let Some(entry) = self.entries.get_mut(token) else {
            return;
        };
        match std::mem::replace(&mut entry.slot, Slot::Free) {
            Slot::Idle { connection, .. } => self.dispatch(token, connection, 0),
            Slot::Busy { stream, .. } => {
                entry.slot = Slot::Busy {
                    readable: true,
                    stream,
                }
            }
            Slot::Free => {}
        }
    }

    /// Hands a readable connection to worker pool `pool`, or answers 503 when its queue is
    /// full.
    fn dispatch(&mut self, token: usize, connection: Connection, pool: usize) {
        if self.pools[pool].queued() >= self.shared.queue_capacity {
            self.close(
                token,
                Some(connection),
                Some(StatusCode::SERVICE_UNAVAILABLE),
            );
            return;
        }
        self.entries[token].slot = Slot::Busy {
            readable: false,
            stream: Arc::clone(&connection.stream),
        };
        self.busy += 1;
        let shared = Arc::clone(&self.shared);
        let guard = ReturnGuard {
            token,
            returns: self.returns_sender.clone(),
            waker: Arc::clone(&self.waker),
            sent: false,
        };
        let job = move || guard.send(connection.serve(&shared, pool));
        // The poller is the only producer and checked the queue's room above, so this does
        // not block; it fails only once the pool is closed, and then the guard, dropped with
        // the job, reports the connection closed.
        let _ = self.pools[pool].execute(job);
    }

    fn on_return(&mut self, returned: Returned) {
        let Returned { token, outcome } = returned;
        self.busy -= 1;
        let readable = match self.entries[token].slot {
            Slot::Busy { readable, .. } => readable,
            _ => unreachable!("only busy connections come back from workers"),
        };
        let shutting_down = self.shared.shutdown.load(Ordering::Acquire);
        match outcome {
            Outcome::Reroute { connection, pool } if !shutting_down => {
                self.dispatch(token, connection, pool);
            }
            Outcome::Park { connection, .. } if !shutting_down && readable => {
                // The first turn of a readable connection is always on the main pool; the
                // engine reroutes it from there if it must.
                self.dispatch(token, connection, 0);
            }
            Outcome::Park {
                connection,
                partial_head,
            } if !shutting_down => self.park(token, connection, partial_head),
            Outcome::Park { connection, .. } | Outcome::Reroute { connection, .. } => {
                self.close(token, Some(connection), None);
            }
            Outcome::Closed => self.close(token, None, None),
        }
    }

    /// Parks a busy connection until it is readable or its deadline passes.
    fn park(&mut self, token: usize, connection: Connection, partial_head: bool) {
        let limits = &self.shared.limits;
        let timeout = if partial_head {
            limits.header_read_timeout
        } else {
            limits.keep_alive_timeout
        };
        let deadline = Instant::now() + timeout;
        let entry = &mut self.entries[token];
        entry.slot = Slot::Idle {
            connection,
            deadline,
            partial_head,
        };
        // A later deadline reuses the live timer (it re-arms when it fires); an earlier
        // one (a head started arriving) needs a timer of its own.
        if entry.timer_at.is_none_or(|at| deadline < at) {
            entry.timer_at = Some(deadline);
            self.timers
                .push(Reverse((deadline, token, entry.generation)));
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
            let entry = &mut self.entries[token];
            if entry.generation != generation || entry.timer_at != Some(at) {
                continue;
            }
            entry.timer_at = None;
            match &entry.slot {
                Slot::Idle {
                    deadline,
                    partial_head,
                    ..
                } => {
                    if *deadline <= now {
                        let status = partial_head.then_some(StatusCode::REQUEST_TIMEOUT);
                        if let Slot::Idle { connection, .. } =
                            std::mem::replace(&mut entry.slot, Slot::Free)
                        {
                            self.close(token, Some(connection), status);
                        }
                    } else {
                        entry.timer_at = Some(*deadline);
                        self.timers.push(Reverse((*deadline, token, generation)));
                    }
                }
                // A busy connection gets a fresh deadline when it parks again.
                Slot::Busy { .. } | Slot::Free => {}
            }
        }
    }

    /// Frees a slot, closing its connection (after `status`, if given).
    fn close(&mut self, token: usize, connection: Option<Connection>, status: Option<StatusCode>) {
        if let Some(connection) = connection {
            match status {
                Some(status) => reject(&connection.stream, status),
                None => drop(connection),
            }
        }
        let entry = &mut self.entries[token];
        entry.slot = Slot::Free;
        entry.generation += 1;
        entry.timer_at = None;
        self.free.push(token);
        self.open -= 1;
    }

    /// Stops accepting and closes every idle connection; busy ones close when they return.
    fn begin_shutdown(&mut self) {
        if let Some(listener) = self.listener.take() {
            let fd = listener.as_raw_fd();
            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            drop(listener);
            self.shared.draining.store(true, Ordering::Release);
            self.drain_deadline = Some(Instant::now() + self.shared.drain_timeout);
            // Queued turns still run (their responses say `Connection: close`).
            for pool in &self.pools {
                pool.close();
            }
        }
        for token in 0..self.entries.len() {
            if matches!(self.entries[token].slot, Slot::Idle { .. }) {
                if let Slot::Idle { connection, .. } =
                    std::mem::replace(&mut self.entries[token].slot, Slot::Free)
                {
                    self.close(token, Some(connection), None);
                }
            }
        }
    }
}

/// Answers a connection the poller will not serve (over capacity, timed out), then closes
/// it. Best effort: the socket is non-blocking and the answer is small.
fn reject(mut stream: &TcpStream, status: StatusCode) {
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

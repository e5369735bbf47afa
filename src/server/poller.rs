//! The acceptor and supervisor: one thread that owns the listener and the connections'
//! timers, watches connection readiness while no runner does, supervises the runners
//! (the `scheduler` module), and moves requests to their pools. Nothing imports it but the
//! server itself.
//!
//! Connections live in the [`ConnectionTable`]: parked (waiting for their socket) or busy
//! (on a worker). Workers park connections themselves; the poller hears from them only for
//! the rare things it must do (an earlier timer, a move to another pool). Parked
//! connections therefore cost no worker, and a blocked handler blocks only its own worker.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use http::StatusCode;
use mio::unix::SourceFd;
use mio::{Events, Poll, Token};

use super::connection::Connection;
use super::connection::answer_and_close;
use super::deadlines::CallDeadlines;
use super::outcome::Wait;
use super::scheduler::{self, Scheduler};
use super::table::{ConnectionTable, Expired, SlotHandle, Timer};
use super::turn::{Notice, Turn, TurnContext, run_runner};
use super::waker::PollerWaker;
use super::{Shared, ShutdownReport};
use crate::http1::RouteTag;
use crate::limits::{MAX_TIMEOUT, deadline_after};
use crate::metrics::{GaveUpOn, LiveGauges, MetricsHandle, TimeoutKind};
use crate::pool::{SYSTEM_POOL, ThreadPool};

pub(super) const LISTENER: Token = Token(usize::MAX - 1);
pub(super) const WAKER: Token = Token(usize::MAX);
/// Readiness events taken per `poll` call.
const EVENTS_CAPACITY: usize = 1024;
/// Waiting connections handed to the server's own lane at a time, while every main worker
/// is stuck (see `triage_on_system_lane`).
const SYSTEM_LANE_BATCH: usize = 16;
/// After `accept` fails for lack of resources (EMFILE...), wait this long before retrying.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);
/// Even with no drain time left, workers get this long to finish before being detached.
const MIN_WORKER_JOIN_TIME: Duration = Duration::from_millis(100);

/// The state of the poller thread.
pub(super) struct Poller {
    poll: Poll,
    listener: Option<TcpListener>,
    /// Whether the sockets it accepts inherit `TCP_NODELAY` from it (else each gets it).
    nodelay_inherited: bool,
    timers: BinaryHeap<Reverse<Timer>>,
    accept_retry_at: Option<Instant>,
    notices: Receiver<Notice>,
    context: Arc<TurnContext>,
    /// The main pool first, then the named pools (bulkheads) in declaration order; a
    /// request's `RouteTag` is its pool's index here.
    pools: Vec<ThreadPool>,
    /// Set when shutdown begins: past it, requests still in flight are cut.
    drain_deadline: Option<Instant>,
    /// Set when shutdown is asked for: until then the server still accepts and serves
    /// (`shutdown_delay`; `Health` already answers 503).
    accept_until: Option<Instant>,
    /// After a `shutdown_delay`, idle connections get as long again to send a last request
    /// (answered with `Connection: close`) before they are closed: a proxy reusing one at
    /// that moment must not meet a closed socket.
    idle_close_at: Option<Instant>,
    connections_cut: usize,
    /// Every runner of the main pool is out in a handler, or was a moment ago (none to add;
    /// `scheduler::AllHeld`): the poller looks in on them every `scheduler::GRACE_ALL_OUT`
    /// rather than every `GRACE`, and watches readiness.
    all_runners_out: bool,
    /// Tells when blocking handlers hold every runner of the main pool.
    held: scheduler::AllHeld,
    /// The server's own lane (`pool::SYSTEM_POOL`), when a route runs on it: while every
    /// main worker is stuck, it reads and routes the requests waiting for them.
    system_lane: Option<RouteTag>,
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
        let scheduler = Scheduler::new(poll.registry(), pools[0].size())?;
        let deadlines = Arc::new(CallDeadlines::new(Arc::clone(&waker)));
        let system_lane = shared.pool_tags.get(SYSTEM_POOL).copied();
        let nodelay_inherited = crate::io::listener_nodelay(&listener);
        Ok(Self {
            poll,
            listener: Some(listener),
            nodelay_inherited,
            timers: BinaryHeap::new(),
            accept_retry_at: None,
            notices,
            context: Arc::new(TurnContext {
                pool_probes: pools.iter().map(ThreadPool::probe).collect(),
                shared,
                table: ConnectionTable::default(),
                notices: notices_sender,
                waker,
                scheduler,
                deadlines,
            }),
            pools,
            drain_deadline: None,
            accept_until: None,
            idle_close_at: None,
            connections_cut: 0,
            all_runners_out: false,
            held: scheduler::AllHeld::default(),
            system_lane,
        })
    }

    /// A handle on the server's metrics: its counters, and its live parts while they live.
    pub(super) fn metrics_handle(&self) -> MetricsHandle {
        let live: Arc<dyn LiveGauges> = self.context.clone();
        MetricsHandle::new(Arc::clone(&self.shared().counters), Arc::downgrade(&live))
    }

    fn scheduler(&self) -> &Scheduler {
        &self.context.scheduler
    }

    fn table(&self) -> &ConnectionTable {
        &self.context.table
    }

    fn shared(&self) -> &Shared {
        &self.context.shared
    }

    /// Runs until shutdown was requested and every in-flight request has finished (or the
    /// drain deadline cut it); then joins the workers.
    pub(super) fn run(mut self) -> io::Result<ShutdownReport> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        loop {
            self.context.waker.going_to_sleep();
            // Work queued with no runner serving it needs a runner now, if one can be
            // started: live connections are queued by their senders, from any thread (they
            // wake a sleeping poller). With every runner out, the leader finds it when its
            // wait for readiness ends (`scheduler::LEAD_IDLE` at most).
            let scheduler = self.scheduler();
            let unserved = scheduler.queued() > 0
                && scheduler.serving() == 0
                && scheduler.runners() < scheduler.max_runners();
            let timeout = if self.notices.is_empty() && !unserved {
                self.next_timeout()
            } else {
                Some(Duration::ZERO)
            };
            let polled = self.poll.poll(&mut events, timeout);
            self.context.waker.awake();
            if let Err(error) = polled {
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    WAKER => {}
                    scheduler::READINESS => {
                        let context = &self.context;
                        context
                            .scheduler
                            .poll_readiness(|id, hung_up| context.on_ready(id, hung_up));
                    }
                    Token(_) => {}
                }
            }
            while let Ok(notice) = self.notices.try_recv() {
                self.on_notice(notice);
            }
            self.expire_timers();
            self.expire_handler_deadlines();
            self.supervise_runners();
            if self.shared().shutdown.load(Ordering::Acquire) && self.shutdown_step() {
                break;
            }
        }
        // Give the workers what is left of the drain time to finish; a handler stuck past it
        // is left behind (its thread is detached) rather than hanging the caller forever.
        let remaining = self.drain_deadline.map_or(Duration::ZERO, |at| {
            at.saturating_duration_since(Instant::now())
        });
        let deadline = deadline_after(Instant::now(), remaining.max(MIN_WORKER_JOIN_TIME));
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
        let report = ShutdownReport {
            connections_cut: self.connections_cut,
            stuck_workers,
            live_connections_closed: self
                .shared()
                .live_closed_by_shutdown
                .load(Ordering::Relaxed),
        };
        crate::logging::log_info!("shut down: {report:?}");
        Ok(report)
    }

    /// Cuts the requests still in flight at the drain deadline: their clients see the
    /// connection end, and their workers' reads and writes fail.
    fn cut_busy_connections(&mut self) {
        self.connections_cut += self.table().cut_in_flight();
    }

    /// One step of a graceful shutdown (the drain sequence): keep accepting until
    /// `accept_until`; then take what the accept queue holds and close the listener, answer
    /// with `Connection: close`, close idle connections (at once, or after a last chance when
    /// there was a delay); stop once nothing is in flight, or cut what is at the drain
    /// deadline. Returns whether the server may stop.
    fn shutdown_step(&mut self) -> bool {
        let now = Instant::now();
        let delay = self.shared().shutdown_delay;
        let accept_until = *self
            .accept_until
            .get_or_insert_with(|| deadline_after(now, delay));
        if now < accept_until {
            return false;
        }
        self.begin_shutdown(now, delay);
        if self.idle_close_at.is_some_and(|at| at <= now) {
            self.idle_close_at = None;
            self.table().close_idle();
        }
        let in_flight = self.table().in_flight();
        let idle_left = self.idle_close_at.is_some() && self.table().open() > in_flight;
        // Live connections say goodbye (1001, the end of an event stream) and wait for the
        // client's answer, bounded by their close timeout.
        let live_left =
            self.table().parked(Wait::Live) + self.table().parked(Wait::LiveBlocked) > 0;
        if in_flight == 0 && !idle_left && !live_left {
            return true;
        }
        if self.drain_deadline.is_some_and(|at| at <= now) {
            self.cut_busy_connections();
            return true;
        }
        false
    }

    fn next_timeout(&self) -> Option<Duration> {
        let next_timer = self.timers.peek().map(|Reverse(timer)| timer.at);
        let next_deadline = self.context.deadlines.next();
        let accept_until = self.accept_until.filter(|_| self.listener.is_some());
        let timeout = [
            next_timer,
            next_deadline,
            self.accept_retry_at,
            self.drain_deadline,
            accept_until,
            self.idle_close_at,
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|at| at.saturating_duration_since(Instant::now()));
        if !self.scheduler().poller_must_tick() {
            return timeout;
        }
        // Runners are serving: look in on them every GRACE, or less often while there is
        // no runner left to start (blocking handlers hold every worker: ticking at 1 kHz
        // then only burns CPU).
        let every = if self.all_runners_out {
            scheduler::GRACE_ALL_OUT
        } else {
            scheduler::GRACE
        };
        Some(timeout.map_or(every, |t| t.min(every)))
    }

    /// Starts runners where work waits for them, and watches readiness while no runner
    /// does (the `scheduler` module).
    fn supervise_runners(&mut self) {
        let now = Instant::now();
        let scheduler = self.scheduler();
        let queued = scheduler.queued();
        let runners = scheduler.runners();
        let stuck = scheduler.runners_stuck(now);
        let wanted = if queued == 0 {
            0
        } else if scheduler.serving() == 0 {
            1
        } else {
            let overdue = now
                .checked_sub(scheduler::GRACE)
                .map_or(0, |before| scheduler.waiting_since(before));
            if stuck { overdue } else { overdue.min(1) }
        };
        let max_runners = scheduler.max_runners();
        let start = wanted.min(max_runners.saturating_sub(runners));
        let pool_full = runners >= max_runners;
        // Runners started just now are not stuck: look in on them at the usual pace.
        self.all_runners_out = self.held.update(now, stuck, pool_full);
        for _ in 0..start {
            self.start_runner();
        }
        self.scheduler()
            .poller_watches(stuck || self.all_runners_out);
        if stuck && pool_full {
            self.triage_on_system_lane();
        }
    }

    /// Every main worker is stuck in a handler: requests that wait for one are read and
    /// routed on the server's own lane instead, which serves its own routes (health,
    /// metrics) and hands the others back to the main pool's queue, parsed.
    fn triage_on_system_lane(&mut self) {
        let Some(lane) = self.system_lane else {
            return;
        };
        let Some(pool) = self.pools.get(lane.0) else {
            return;
        };
        // One small batch at a time, and only once the lane has read the last one: reading
        // is quick, but the lane must stay free for its own routes.
        if pool.queued() > 0 {
            return;
        }
        let batch = SYSTEM_LANE_BATCH.min(self.shared().queue_capacity);
        for ready in self.scheduler().take_unread(batch) {
            self.submit(ready.slot, ready.connection, lane, ready.since);
        }
    }

    fn start_runner(&mut self) {
        self.scheduler().runner_starting();
        let context = Arc::clone(&self.context);
        if self.pools[0].execute(move || run_runner(context)).is_err() {
            // The pool is closed (shutdown). With no runner left, nobody serves what is
            // queued: close it.
            self.scheduler().uncount_runner();
            if self.scheduler().runners() == 0 {
                for ready in self.scheduler().take_all() {
                    drop(ready.connection);
                    self.context.close(&ready.slot);
                }
            }
        }
    }

    fn accept_all(&mut self) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match crate::io::accept(listener, self.nodelay_inherited) {
                Ok((stream, peer)) => {
                    if self.table().open() >= self.shared().max_connections {
                        // Over TLS nothing can be said before a handshake: it just closes.
                        if !self.shared().serves_tls() {
                            answer_and_close(&stream, StatusCode::SERVICE_UNAVAILABLE);
                        }
                        self.shared().counters.refused_max_connections();
                        continue;
                    }
                    self.shared().counters.accepted();
                    if let Some(connection) = Connection::accepted(stream, peer, self.shared()) {
                        self.register(connection);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_transient_accept_error(&e) => {}
                Err(error) => {
                    crate::logging::log_warn!("accept failed ({error}); retrying in 50 ms");
                    // Out of file descriptors or memory: the listener stays readable, but an
                    // edge-triggered poll would not say so again. Retry shortly.
                    self.accept_retry_at = Some(Instant::now() + ACCEPT_RETRY_DELAY);
                    return;
                }
            }
        }
    }

    /// Gives a new connection a slot, parked until its first request arrives.
    fn register(&mut self, connection: Connection) {
        let fd = connection.socket.as_raw_fd();
        let until = connection.first_deadline(Instant::now(), &self.shared().limits);
        // Parked before it is registered: a runner may see it readable at once.
        let (id, timer) = self.table().insert(connection, until);
        self.arm(timer);
        // Registration reports data that is already there, so the first request arrives as
        // an ordinary readable event.
        if self.scheduler().register(fd, id).is_err() {
            drop(self.table().remove_parked(id));
        }
    }

    /// Queues a busy connection's turn on the pool of `tag` (its request has waited
    /// `since`), or answers 503 when that queue is full.
    fn submit(
        &mut self,
        slot: SlotHandle,
        mut connection: Connection,
        tag: RouteTag,
        since: Instant,
    ) {
        if tag == RouteTag::default() {
            self.context.enqueue(slot, connection, since);
            return;
        }
        let Some(pool) = self.pools.get(tag.0) else {
            drop(connection);
            self.context.close(&slot);
            return;
        };
        if pool.queued() >= self.shared().queue_capacity {
            // Mid-response, a 503 would corrupt what the client has already received.
            if !connection.owes_output() {
                connection.reject(StatusCode::SERVICE_UNAVAILABLE);
                self.shared().counters.refused_queue_full();
            }
            drop(connection);
            self.context.close(&slot);
            return;
        }
        let turn = Turn::new(Arc::clone(&self.context), slot, connection, tag, since);
        // The poller is the only producer and checked the queue's room above, so this does
        // not block; it fails only once the pool is closed, and then the turn, dropped
        // unrun, frees its slot.
        let _ = pool.execute(move || {
            turn.run();
        });
    }

    /// Runs a request's handler on its named pool; a full queue drops it unrun (its
    /// connection answers 503).
    fn run_job(&mut self, tag: RouteTag, job: Box<dyn FnOnce() + Send>) {
        let Some(pool) = self.pools.get(tag.0) else {
            return;
        };
        if pool.queued() >= self.shared().queue_capacity {
            self.shared().counters.refused_queue_full();
            return;
        }
        let _ = pool.execute(job);
    }

    fn on_notice(&mut self, notice: Notice) {
        match notice {
            Notice::Timer(timer) => self.arm(timer),
            Notice::Move {
                slot,
                connection,
                tag,
                since,
            } => self.submit(slot, connection, tag, since),
            Notice::Run { tag, job } => self.run_job(tag, job.0),
        }
    }

    /// Closes parked connections whose deadline passed: silently when idle between
    /// requests or owing output to a client that does not read, with 408 when a request
    /// head or body was left unfinished (slowloris, R.U.D.Y.).
    fn expire_timers(&mut self) {
        let now = Instant::now();
        if self.accept_retry_at.is_some_and(|at| at <= now) {
            self.accept_retry_at = None;
            self.accept_all();
        }
        while let Some(&Reverse(timer)) = self.timers.peek() {
            if timer.at > now {
                break;
            }
            self.timers.pop();
            match self.table().expire(timer, now) {
                Expired::Due(mut connection, wait_for) => {
                    let counters = &self.shared().counters;
                    match wait_for {
                        // Their deadlines give them a turn instead (`Expired::Wake`): a
                        // live connection's timers; a slow body's 408, which the turn
                        // answers through its route's middleware (and counts).
                        Wait::Live | Wait::LiveBlocked | Wait::Body => {}
                        Wait::NextRequest => counters.timed_out(TimeoutKind::Idle),
                        Wait::Writable => counters.timed_out(TimeoutKind::Write),
                        Wait::RestOfHead => counters.timed_out_with_408(TimeoutKind::Head),
                    }
                    if wait_for.answers_timeout() {
                        connection.reject(StatusCode::REQUEST_TIMEOUT);
                    }
                }
                Expired::Wake(slot, connection) => self.context.enqueue_due(slot, connection),
                Expired::Later(timer) => self.arm(timer),
                Expired::Stale => {}
            }
        }
    }

    /// Cancels the handlers whose deadline passed, answering their clients 503 where the
    /// connection allows (see `deadlines`).
    fn expire_handler_deadlines(&mut self) {
        let timed_out = self.context.deadlines.expire(Instant::now());
        if timed_out > 0 {
            let counters = &self.shared().counters;
            counters.gave_up(GaveUpOn::Deadline, timed_out);
        }
    }

    /// Stops accepting and closes every connection with nothing in flight; the others
    /// close when their request is done.
    fn begin_shutdown(&mut self, now: Instant, delay: Duration) {
        if self.listener.is_some() && !delay.is_zero() {
            // Connections the kernel has queued are clients like any other: serve them
            // (they get the idle connections' last chance), rather than reset them with the
            // listener (two processes on one port with SO_REUSEPORT each have their own
            // queue). Without a delay, shutdown is immediate: the queue is reset.
            self.accept_all();
        }
        if let Some(listener) = self.listener.take() {
            let fd = listener.as_raw_fd();
            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            drop(listener);
            self.shared().draining.store(true, Ordering::Release);
            self.drain_deadline = Some(deadline_after(Instant::now(), self.shared().drain_timeout));
            // The pools stay open until the end: a request parked mid-body or mid-response
            // still needs a worker for its next turn (its response says `Connection: close`).
            // One pass: a connection parked idle by a turn that raced with this is closed
            // when the server stops (nothing waits for it).
            for (slot, connection) in self.table().take_live() {
                self.context.enqueue(slot, connection, Instant::now());
            }
            if delay.is_zero() {
                self.table().close_idle();
            } else {
                self.idle_close_at = Some(deadline_after(now, delay));
            }
        }
    }

    /// Keeps a timer, unless it is for "never" (a timeout saturated at `MAX_TIMEOUT`):
    /// those would only pile up.
    fn arm(&mut self, timer: Timer) {
        if timer.at.saturating_duration_since(Instant::now()) < MAX_TIMEOUT / 2 {
            self.timers.push(Reverse(timer));
        }
    }
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

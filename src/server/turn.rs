//! The worker side: a connection's turn on a worker, and what it does with the connection
//! afterwards (park it, queue it again, hand it to the poller, close it); and the runner
//! loop of the main pool's workers (see the `scheduler` module).

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Instant;

use crossbeam_channel::Sender;
use http::StatusCode;

use super::Shared;
use super::connection::Connection;
use super::deadlines::CallDeadlines;
use super::outcome::{Outcome, Wait};
use super::protocol::{JobCx, Jobs, StreamJob, TurnCx};
use super::scheduler::{Ready, Scheduler, Work};
use super::table::{ConnectionTable, Parked, SlotHandle, SlotId, Timer, WeakSlotHandle};
use super::waker::PollerWaker;
use crate::http1::RouteTag;
use crate::live::outbox::Wake;
use crate::metrics::{LiveGauges, MetricsSnapshot, PoolMetrics};
use crate::pool::PoolProbe;

/// A runner whose queue does not empty because connections go back to it (their budget
/// spent, or ready again) polls readiness after this many of them, so new requests wait
/// behind a bounded number of turns. Ordinary turns (the connection parks) do not count:
/// the queue then empties, and the runner polls anyway.
const REQUEUES_BETWEEN_POLLS: usize = 8;

/// What workers tell the poller; most turns end without any.
#[derive(Debug)]
pub(super) enum Notice {
    /// A parked connection needs a timer earlier than its live one.
    Timer(Timer),
    /// The connection's current request belongs on the pool of `tag` (or at the back of its
    /// own pool's queue).
    Move {
        slot: SlotHandle,
        connection: Connection,
        tag: RouteTag,
        /// Since when its request has waited (for its queue wait, which goes on).
        since: Instant,
    },
    /// A request's handler for the named pool of `tag` (an HTTP/2 stream's).
    Run { tag: RouteTag, job: PoolJob },
}

/// A job for a pool, in a [`Notice`].
pub(super) struct PoolJob(pub(super) Box<dyn FnOnce() + Send>);

impl std::fmt::Debug for PoolJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PoolJob")
    }
}

/// What every turn needs besides its connection: created once, shared by all turns.
pub(super) struct TurnContext {
    pub(super) shared: Arc<Shared>,
    pub(super) table: ConnectionTable,
    pub(super) notices: Sender<Notice>,
    pub(super) waker: Arc<PollerWaker>,
    pub(super) scheduler: Scheduler,
    /// Every pool's stats reader, `RouteTag` order (the main pool's runners are counted by
    /// the scheduler instead: its jobs are runner loops, not requests).
    pub(super) pool_probes: Vec<PoolProbe>,
    /// The handler deadlines in flight, which the poller keeps.
    pub(super) deadlines: Arc<CallDeadlines>,
}

impl LiveGauges for TurnContext {
    fn fill(&self, snapshot: &mut MetricsSnapshot) {
        let table = &self.table;
        snapshot.connections_open = table.open();
        snapshot.connections_idle = table.parked(Wait::NextRequest);
        snapshot.connections_reading = table.parked(Wait::RestOfHead) + table.parked(Wait::Body);
        snapshot.connections_writing = table.parked(Wait::Writable);
        snapshot.connections_live = table.parked(Wait::Live) + table.parked(Wait::LiveBlocked);
        let counters = &self.shared.counters;
        snapshot.pools = self
            .pool_probes
            .iter()
            .zip(&self.shared.pool_names)
            .enumerate()
            .map(|(tag, (probe, name))| {
                let stats = probe.stats();
                let (busy, queued) = if tag == 0 {
                    (self.scheduler.serving(), self.scheduler.queued_now())
                } else {
                    (stats.busy, stats.queued)
                };
                PoolMetrics::new(
                    name.clone(),
                    stats.size,
                    busy,
                    queued,
                    counters.pool_requests(tag),
                    counters.pool_queue_wait(tag),
                )
            })
            .collect();
    }
}

impl TurnContext {
    /// Takes a connection whose socket became ready and queues it for the main pool (its
    /// request moves to another pool later if it belongs there). `hung_up`: the client
    /// closed its side (or the socket failed).
    pub(super) fn on_ready(&self, id: SlotId, hung_up: bool) {
        if let Some((slot, connection)) = self.table.take_ready(id, hung_up) {
            self.enqueue(slot, connection, Instant::now());
        }
    }

    /// Queues a busy connection for the main pool's runners, or answers 503 when the queue
    /// is full. A connection in the middle of a response is always queued: a 503 would land
    /// inside the response, and it holds no more than it did.
    /// `since`: when its request began to wait (now, unless it waited elsewhere first).
    pub(super) fn enqueue(&self, slot: SlotHandle, connection: Connection, since: Instant) {
        let capacity = if connection.owes_output() {
            usize::MAX
        } else {
            self.shared.queue_capacity
        };
        self.push(slot, connection, capacity, since);
    }

    /// Queues a connection whose deadline gives it a turn (a live connection's timer, a
    /// body too slow, whose 408 the turn answers): never refused for a full queue, which
    /// would answer it with a bare 503 instead.
    pub(super) fn enqueue_due(&self, slot: SlotHandle, connection: Connection) {
        self.push(slot, connection, usize::MAX, Instant::now());
    }

    fn push(&self, slot: SlotHandle, connection: Connection, capacity: usize, since: Instant) {
        let ready = Ready {
            slot,
            connection,
            since,
        };
        if let Err(mut refused) = self.scheduler.push(ready, capacity) {
            refused.connection.reject(StatusCode::SERVICE_UNAVAILABLE);
            self.shared.counters.refused_queue_full();
            drop(refused.connection);
            self.close(&refused.slot);
        }
    }

    fn notify(&self, notice: Notice) {
        // The poller is gone only after shutdown; the connection then just closes.
        if self.notices.send(notice).is_ok() {
            self.waker.wake_if_sleeping();
        }
    }

    /// Closes a busy connection (its socket already dropped).
    pub(super) fn close(&self, slot: &SlotHandle) {
        self.table.close_busy(slot);
        self.finished_turn();
    }

    fn finished_turn(&self) {
        if self.shared.draining.load(Ordering::Acquire) {
            // The poller waits for the last request in flight to end.
            self.waker.wake();
        }
    }
}

impl Jobs for TurnContext {
    fn run(&self, tag: RouteTag, job: StreamJob) {
        let shared = Arc::clone(&self.shared);
        let deadlines = Arc::clone(&self.deadlines);
        let job: Box<dyn FnOnce() + Send> = Box::new(move || {
            job(&JobCx {
                shared: &shared,
                deadlines: Some(&deadlines),
            });
        });
        if tag == RouteTag::default() {
            let capacity = self.shared.queue_capacity;
            if let Err(refused) = self.scheduler.push_job(job, capacity) {
                // Dropped unrun: its stream is answered 503.
                self.shared.counters.refused_queue_full();
                drop(refused);
            }
        } else {
            self.notify(Notice::Run {
                tag,
                job: PoolJob(job),
            });
        }
    }
}

/// One turn: a connection with something to do, on its way to a worker. If it is dropped
/// without running (its pool closed) or its run panics (a bug), its slot is freed, so the
/// poller never waits for a connection that is gone.
pub(super) struct Turn {
    context: Arc<TurnContext>,
    slot: SlotHandle,
    connection: Option<Connection>,
    /// The pool it runs on.
    tag: RouteTag,
    /// When it was queued for this turn.
    since: Instant,
    /// The connection was dealt with (parked, queued, moved or closed).
    finished: bool,
}

impl Turn {
    pub(super) fn new(
        context: Arc<TurnContext>,
        slot: SlotHandle,
        connection: Connection,
        tag: RouteTag,
        since: Instant,
    ) -> Self {
        Self {
            context,
            slot,
            connection: Some(connection),
            tag,
            since,
            finished: false,
        }
    }

    /// Serves what the connection has ready, then parks, closes or queues it again.
    /// Returns whether it went back to the main pool's queue.
    pub(super) fn run(mut self) -> bool {
        let Some(connection) = self.connection.take() else {
            return false;
        };
        let requeued = self.serve(connection);
        self.finished = true;
        requeued
    }

    fn serve(&self, mut connection: Connection) -> bool {
        let context = &*self.context;
        let waker = || -> Arc<dyn Wake> {
            Arc::new(SlotWaker {
                context: Arc::downgrade(&self.context),
                generation: self.slot.generation(),
                slot: self.slot.downgrade(),
            })
        };
        let cx = TurnCx {
            shared: &context.shared,
            tag: self.tag,
            peer: connection.peer,
            waker: &waker,
            queued_since: self.since,
            watch: Some(self.slot.watch()),
            client_closed: self.slot.watch().client_gone(),
            late_answers: None,
            deadlines: Some(&context.deadlines),
            jobs: Some(context),
        };
        let calls_before = self.slot.watch().calls();
        match connection.serve(&cx) {
            Outcome::Close => {
                drop(connection);
                context.close(&self.slot);
                false
            }
            Outcome::Yield => self.requeue(connection, self.tag, Instant::now()),
            Outcome::Move(tag) => {
                // A request read here but served elsewhere goes on waiting: its queue wait
                // counts from when it first waited, unless this turn served an earlier one.
                let since = if self.slot.watch().calls() == calls_before {
                    self.since
                } else {
                    Instant::now()
                };
                self.requeue(connection, tag, since)
            }
            Outcome::Park { wait, until } => self.park(connection, wait, until),
        }
    }

    /// Parks the connection until its socket is ready as `wait` says, or `until`.
    fn park(&self, mut connection: Connection, wait: Wait, until: Instant) -> bool {
        let context = &*self.context;
        if connection.watching_writable != wait.is_writable() {
            let fd = connection.socket.as_raw_fd();
            if context
                .scheduler
                .watch(fd, self.slot.id, wait.is_writable())
                .is_err()
            {
                drop(connection);
                context.close(&self.slot);
                return false;
            }
            connection.watching_writable = wait.is_writable();
        }
        // Once the listener is closed an idle connection closes as it parks, unless there
        // was a `shutdown_delay`: then idle connections get their last chance (the client
        // may have sent a request right after a keep-alive response written just before
        // the listener closed), and the poller closes them.
        let shared = &context.shared;
        let parked = if wait.is_live() {
            let told = connection.live_told_to_go();
            let draining = &shared.draining;
            context
                .table
                .park_live(&self.slot, connection, wait, until, draining, told)
        } else {
            let shutting_down =
                shared.draining.load(Ordering::Acquire) && shared.shutdown_delay.is_zero();
            context
                .table
                .park(&self.slot, connection, wait, until, shutting_down)
        };
        match parked {
            Parked::Waiting(timer) => {
                context.finished_turn();
                if let Some(timer) = timer {
                    context.notify(Notice::Timer(timer));
                }
                false
            }
            // Ready during the turn. Serving it now would jump the queue of connections
            // already waiting (unfair under load): go to its back.
            Parked::ReadyAgain(connection) => self.requeue(connection, self.tag, Instant::now()),
            Parked::Closed => {
                context.finished_turn();
                false
            }
        }
    }

    /// Queues the connection again at the back: the main pool's own queue when this turn
    /// runs there (returns `true`), or the poller moves it to its pool.
    fn requeue(&self, connection: Connection, tag: RouteTag, since: Instant) -> bool {
        let context = &*self.context;
        let main = RouteTag::default();
        // Live connections are served by the main pool, whichever pool switched them.
        let tag = if connection.is_live() { main } else { tag };
        if tag == main && self.tag == main && !context.shared.draining.load(Ordering::Acquire) {
            context.enqueue(self.slot.clone(), connection, since);
            true
        } else {
            context.notify(Notice::Move {
                slot: self.slot.clone(),
                connection,
                tag,
                since,
            });
            false
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if !self.finished {
            drop(self.connection.take());
            self.context.close(&self.slot);
        }
    }
}

/// How a live connection's senders wake it: a parked one is queued for a turn, a busy one
/// is served again after its turn. Holds the server weakly: a sender outliving the server
/// wakes nothing.
struct SlotWaker {
    context: Weak<TurnContext>,
    /// Weak: the connection holds its waker (through its outbox), and must not keep its
    /// own slot alive.
    slot: WeakSlotHandle,
    /// The connection's generation in its slot: a later connection there is not woken.
    generation: u64,
}

impl Wake for SlotWaker {
    fn wake(&self) {
        let (Some(context), Some(slot)) = (self.context.upgrade(), self.slot.upgrade()) else {
            return;
        };
        if let Some(connection) = context.table.wake_live(&slot, self.generation) {
            context.enqueue(slot, connection, Instant::now());
            // No runner may be about: the poller starts one.
            context.waker.wake_if_sleeping();
        }
    }
}

/// A main-pool job: serves queued connections, polls readiness itself when the queue is
/// empty, and retires when there is nothing to do (see the `scheduler` module).
pub(super) fn run_runner(context: Arc<TurnContext>) {
    let mut running = Running(Some(&context));
    let scheduler = &context.scheduler;
    let mut requeued_since_poll = 0;
    loop {
        scheduler.scanned();
        if requeued_since_poll >= REQUEUES_BETWEEN_POLLS {
            // Connections that yield or become ready again keep the queue from emptying:
            // look for new ones too, or they would wait behind them for ever.
            requeued_since_poll = 0;
            scheduler.poll_readiness(|id, hung_up| context.on_ready(id, hung_up));
        }
        if let Some(work) = scheduler.pop() {
            let ready = match work {
                Work::Turn(ready) => ready,
                Work::Job(queued) => {
                    (queued.job)();
                    // Handlers keep the queue from emptying too: look for new work.
                    requeued_since_poll += 1;
                    continue;
                }
            };
            let requeued = Turn::new(
                Arc::clone(&context),
                ready.slot,
                ready.connection,
                RouteTag::default(),
                ready.since,
            )
            .run();
            requeued_since_poll += usize::from(requeued);
            continue;
        }
        requeued_since_poll = 0;
        let mut found = false;
        scheduler.poll_readiness(|id, hung_up| {
            found = true;
            context.on_ready(id, hung_up);
        });
        if found {
            continue;
        }
        if context.shared.draining.load(Ordering::Acquire) {
            // Nothing new will be served: retire at once.
        } else if scheduler.lead(
            |id, hung_up| context.on_ready(id, hung_up),
            || context.waker.wake(),
        ) {
            continue;
        }
        if scheduler.retire() {
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
            context.scheduler.uncount_runner();
            context.waker.wake();
        }
    }
}

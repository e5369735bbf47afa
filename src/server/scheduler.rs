//! The scheduler: how connections with a request ready reach the main pool's workers
//! without a thread hand-off per request.
//!
//! Main-pool workers run as *runners*: a runner takes ready connections from a shared queue
//! (FIFO within each of its two lanes, HTTP requests and live connections; see
//! `ReadyQueue`) and serves them; when the queue is empty it polls connection readiness itself
//! (never blocking) and queues what it finds; when there is nothing at all it retires and its
//! worker goes back to sleep. While runners are busy, the poller thread does not watch
//! connection readiness at all, so under load a request costs no wake-up of another thread.
//!
//! The poller supervises: it watches readiness while no runner does (none running, or all
//! stuck in handlers for longer than [`GRACE`]), starts a runner when work arrives with none
//! running, and adds runners while connections wait longer than `GRACE`: at once, one per
//! waiting connection, when the runners are all stuck (blocking handlers); one per `GRACE`
//! while they keep up but fall behind (more load than one thread serves). It looks in every
//! `GRACE` while runners serve, and every [`GRACE_ALL_OUT`] once every worker of the pool is
//! a runner stuck in a handler (there is none left to add). While blocking handlers hold the
//! whole pool, it goes on watching between one handler returning and the next starting
//! ([`AllHeld`]), rather than handing the watch back and forth each time.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};

use super::connection::Connection;
use super::table::{SlotHandle, SlotId};

/// The poller's token for the readiness poll itself (registered in the poller's own poll
/// while the poller watches it).
pub(super) const READINESS: Token = Token(usize::MAX - 2);
/// How long a ready connection may wait, or the runners go without looking for work, before
/// the poller steps in.
pub(super) const GRACE: Duration = Duration::from_millis(1);
/// How often the poller looks in while every runner is stuck in a handler: there is none to
/// add, so it only watches for them to come back (and readiness meanwhile).
pub(super) const GRACE_ALL_OUT: Duration = Duration::from_millis(10);
/// Readiness events taken per poll.
const EVENTS_CAPACITY: usize = 1024;
/// How long a runner with nothing to do waits for readiness itself before it retires.
const LEAD_IDLE: Duration = Duration::from_millis(50);

/// A connection with a request ready, waiting for a main-pool worker.
#[derive(Debug)]
pub(super) struct Ready {
    pub(super) slot: SlotHandle,
    pub(super) connection: Connection,
    /// When it was queued.
    pub(super) since: Instant,
}

/// A request's handler to run on a main-pool worker, detached from its connection (an
/// HTTP/2 stream: its connection's turn goes on serving the others).
pub(super) struct QueuedJob {
    pub(super) job: Box<dyn FnOnce() + Send>,
    /// When it was queued.
    pub(super) since: Instant,
}

impl std::fmt::Debug for QueuedJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedJob")
            .field("since", &self.since)
            .finish()
    }
}

/// What a runner takes from the queue.
#[derive(Debug)]
pub(super) enum Work {
    /// A connection's turn.
    Turn(Ready),
    /// A request's handler (see [`QueuedJob`]).
    Job(QueuedJob),
}

/// Connections waiting for a runner, in two lanes: HTTP requests, and live connections'
/// turns; and, taking turns with them, handlers of requests already read (HTTP/2 streams). Requests go first, so a storm of broadcasts delays a request by one live turn,
/// not by thousands; live turns are not starved by a stream of requests either: one in
/// every `LIVE_SHARE` pops serves the live lane when both wait.
#[derive(Default)]
struct ReadyQueue {
    jobs: VecDeque<QueuedJob>,
    /// The last pop served an overdue turn: a handler goes next if one waits.
    turn_served_last: bool,
    requests: VecDeque<Ready>,
    live: VecDeque<Ready>,
    /// Requests served in a row while live turns waited.
    requests_in_a_row: usize,
}

/// See [`ReadyQueue`].
const LIVE_SHARE: usize = 4;
/// How long a connection's turn may wait behind queued handlers before it goes next.
const TURN_WAIT_BEHIND_JOBS: Duration = Duration::from_millis(5);

impl ReadyQueue {
    fn len(&self) -> usize {
        self.jobs.len() + self.requests.len() + self.live.len()
    }

    fn is_empty(&self) -> bool {
        self.jobs.is_empty() && self.requests.is_empty() && self.live.is_empty()
    }

    /// Handlers go first while they are quick: a connection's turn waits behind them at
    /// most [`TURN_WAIT_BEHIND_JOBS`], then turns and handlers alternate. Quick handlers'
    /// replies leave in one turn; a burst of slow ones holds back the turns that send
    /// replies, read resets and new requests by one handler at most; and a backlog of
    /// turns (HTTP/1.1 under load beside HTTP/2) does not starve the handlers.
    fn pop(&mut self, now: Instant) -> Option<Work> {
        if !self.jobs.is_empty() && (self.turn_served_last || !self.turn_overdue(now)) {
            self.turn_served_last = false;
            return self.jobs.pop_front().map(Work::Job);
        }
        match self.pop_turn() {
            Some(ready) => {
                self.turn_served_last = true;
                Some(Work::Turn(ready))
            }
            None => self.jobs.pop_front().map(Work::Job),
        }
    }

    /// Whether a connection has waited behind handlers for longer than it may.
    fn turn_overdue(&self, now: Instant) -> bool {
        [self.requests.front(), self.live.front()]
            .into_iter()
            .flatten()
            .any(|ready| now.saturating_duration_since(ready.since) >= TURN_WAIT_BEHIND_JOBS)
    }

    fn pop_turn(&mut self) -> Option<Ready> {
        if self.live.is_empty() {
            return self.requests.pop_front();
        }
        if self.requests.is_empty() || self.requests_in_a_row + 1 >= LIVE_SHARE {
            self.requests_in_a_row = 0;
            return self.live.pop_front();
        }
        self.requests_in_a_row += 1;
        self.requests.pop_front()
    }
}

/// The readiness of every connection (not the listener's: the poller keeps that).
struct Readiness {
    poll: Poll,
    events: Events,
}

/// What runners and the poller share to hand work to one another.
pub(super) struct Scheduler {
    readiness: Mutex<Readiness>,
    readiness_fd: RawFd,
    /// Registers new connections for readiness (a handle on the same poll).
    connections: Registry,
    /// The poller's own registry, where `readiness` is registered while the poller watches.
    poller: Registry,
    /// Whether the poller watches readiness.
    watched: Mutex<bool>,
    /// The poller asks to watch readiness even with runners out (they are stuck).
    poller_watches: AtomicBool,
    ready: Mutex<ReadyQueue>,
    /// `ready`'s length, mirrored for readers that must not take its lock.
    queued_now: AtomicUsize,
    /// Runners started and not yet retired (queued on the pool, or running).
    runners: AtomicUsize,
    /// A runner waits for readiness (is not serving).
    leading: AtomicBool,
    /// The poller looks in periodically (every `GRACE`, or `GRACE_ALL_OUT`); it does not
    /// while no runner serves.
    poller_ticks: AtomicBool,
    /// The main pool's size.
    max_runners: usize,
    /// When a runner last looked for work, in nanoseconds since `epoch`.
    last_scan: AtomicU64,
    epoch: Instant,
}

impl Scheduler {
    /// `poller` is the poller's registry; `max_runners` the main pool's size.
    pub(super) fn new(poller: &Registry, max_runners: usize) -> std::io::Result<Self> {
        let poll = Poll::new()?;
        let readiness_fd = poll.as_raw_fd();
        // No runner yet: the poller watches readiness from the start.
        let poller = poller.try_clone()?;
        poller.register(&mut SourceFd(&readiness_fd), READINESS, Interest::READABLE)?;
        Ok(Self {
            connections: poll.registry().try_clone()?,
            readiness: Mutex::new(Readiness {
                poll,
                events: Events::with_capacity(EVENTS_CAPACITY),
            }),
            readiness_fd,
            poller,
            watched: Mutex::new(true),
            poller_watches: AtomicBool::new(false),
            ready: Mutex::new(ReadyQueue::default()),
            queued_now: AtomicUsize::new(0),
            runners: AtomicUsize::new(0),
            leading: AtomicBool::new(false),
            poller_ticks: AtomicBool::new(false),
            max_runners,
            last_scan: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    /// Registers a new connection's socket for readability under `id`.
    pub(super) fn register(&self, fd: RawFd, id: SlotId) -> std::io::Result<()> {
        self.connections
            .register(&mut SourceFd(&fd), Token(id.0), Interest::READABLE)
    }

    /// Watches a connection's socket for writability (it owes output) or readability.
    /// Readiness already there is reported, so nothing is missed across the switch.
    pub(super) fn watch(&self, fd: RawFd, id: SlotId, writable: bool) -> std::io::Result<()> {
        let interest = if writable {
            Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        self.connections
            .reregister(&mut SourceFd(&fd), Token(id.0), interest)
    }

    /// Takes the readiness events there are, without waiting, and hands each connection to
    /// `on_ready`. Skipped when someone else is polling: a runner that polls always polls
    /// again before it retires, and a leading runner gets the events itself.
    pub(super) fn poll_readiness(&self, on_ready: impl FnMut(SlotId, bool)) {
        let readiness = match self.readiness.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        Self::take_events(readiness, Duration::ZERO, on_ready);
    }

    /// Called by a runner with nothing to do: unless another runner is polling, waits up to
    /// `LEAD_IDLE` for readiness itself, so that the next request wakes this thread
    /// directly rather than the poller. Returns whether there was any; then `wake_poller`
    /// is called if the poller sleeps without looking in on the runners.
    pub(super) fn lead(
        &self,
        mut on_ready: impl FnMut(SlotId, bool),
        wake_poller: impl FnOnce(),
    ) -> bool {
        let Ok(readiness) = self.readiness.try_lock() else {
            return false;
        };
        // Only the holder of the readiness lock leads, so there is one leader at most.
        self.leading.store(true, Ordering::SeqCst);
        let mut found = false;
        Self::take_events(readiness, LEAD_IDLE, |id, hung_up| {
            found = true;
            on_ready(id, hung_up);
        });
        self.scanned();
        self.leading.store(false, Ordering::SeqCst);
        if found && !self.poller_ticks.load(Ordering::SeqCst) {
            // This runner may get stuck in a handler now: the poller must watch for that.
            wake_poller();
        }
        found
    }

    fn take_events(
        mut readiness: MutexGuard<'_, Readiness>,
        wait: Duration,
        mut on_ready: impl FnMut(SlotId, bool),
    ) {
        let Readiness { poll, events } = &mut *readiness;
        let mut wait = wait;
        loop {
            // A failed poll (EINTR) is retried by whoever polls next.
            if poll.poll(events, Some(wait)).is_err() {
                return;
            }
            wait = Duration::ZERO;
            let mut taken = 0;
            for event in events.iter() {
                // A client that hung up cancels what it asked for (`crate::cancel`).
                let hung_up = event.is_read_closed() || event.is_error();
                on_ready(SlotId(event.token().0), hung_up);
                taken += 1;
            }
            if taken < EVENTS_CAPACITY {
                return;
            }
        }
    }

    /// Has the poller watch readiness even while runners are out (`true`: they are stuck),
    /// or only while none is (`false`).
    pub(super) fn poller_watches(&self, always: bool) {
        self.poller_watches.store(always, Ordering::SeqCst);
        self.update_watch();
    }

    /// Registers readiness with the poller, or takes it back, as the runner count says. The
    /// count is read under the lock, so the last of several concurrent updates is right.
    fn update_watch(&self) {
        let mut watched = lock(&self.watched);
        let on = self.runners() == 0 || self.poller_watches.load(Ordering::SeqCst);
        if *watched == on {
            return;
        }
        let mut source = SourceFd(&self.readiness_fd);
        let changed = if on {
            // Registration reports readiness already there, so nothing slips between a
            // runner's last look and the poller's watch.
            self.poller
                .register(&mut source, READINESS, Interest::READABLE)
        } else {
            self.poller.deregister(&mut source)
        };
        if changed.is_ok() {
            *watched = on;
        }
    }

    pub(super) fn queued(&self) -> usize {
        lock(&self.ready).len()
    }

    /// Queues `ready` unless `capacity` HTTP connections wait already; then hands it back.
    /// Live connections (WebSocket, event streams) wait in a lane of their own, which
    /// `capacity` does not count: a burst of broadcasts must not turn requests away.
    #[allow(clippy::result_large_err)] // handing the connection back is the point; it is moved, not copied twice
    pub(super) fn push(&self, ready: Ready, capacity: usize) -> Result<(), Ready> {
        let mut queue = lock(&self.ready);
        if ready.connection.is_live() {
            queue.live.push_back(ready);
        } else {
            if queue.requests.len() >= capacity {
                return Err(ready);
            }
            queue.requests.push_back(ready);
        }
        self.queued_now.store(queue.len(), Ordering::Relaxed);
        Ok(())
    }

    /// Queues a request's handler, unless `capacity` handlers wait already; then hands it
    /// back (to be dropped outside the lock: a dropped job answers its stream).
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    #[allow(clippy::type_complexity)]
    pub(super) fn push_job(
        &self,
        job: Box<dyn FnOnce() + Send>,
        capacity: usize,
    ) -> Result<(), Box<dyn FnOnce() + Send>> {
        let mut queue = lock(&self.ready);
        if queue.jobs.len() >= capacity {
            return Err(job);
        }
        queue.jobs.push_back(QueuedJob {
            job,
            since: Instant::now(),
        });
        self.queued_now.store(queue.len(), Ordering::Relaxed);
        Ok(())
    }

    pub(super) fn pop(&self) -> Option<Work> {
        let mut queue = lock(&self.ready);
        let ready = if queue.jobs.is_empty() {
            queue.pop_turn().map(Work::Turn)
        } else {
            queue.pop(Instant::now())
        };
        self.queued_now.store(queue.len(), Ordering::Relaxed);
        ready
    }

    /// Takes up to `at_most` queued HTTP connections whose next request is still unread (no
    /// request parsed and waiting, nothing owed), oldest first, for the server's own lane
    /// to read and route.
    pub(super) fn take_unread(&self, at_most: usize) -> Vec<Ready> {
        let mut queue = lock(&self.ready);
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(queue.requests.len());
        for ready in queue.requests.drain(..) {
            if taken.len() < at_most && ready.connection.is_unread() {
                taken.push(ready);
            } else {
                kept.push_back(ready);
            }
        }
        queue.requests = kept;
        self.queued_now.store(queue.len(), Ordering::Relaxed);
        taken
    }

    /// Takes every queued connection (shutdown with no runner left to serve them); queued
    /// handlers are dropped unrun (their connections close).
    pub(super) fn take_all(&self) -> Vec<Ready> {
        let (all, jobs) = {
            let mut queue = lock(&self.ready);
            self.queued_now.store(0, Ordering::Relaxed);
            let jobs = std::mem::take(&mut queue.jobs);
            let mut all: Vec<Ready> = queue.requests.drain(..).collect();
            all.extend(queue.live.drain(..));
            (all, jobs)
        };
        // Dropped outside the lock: a dropped job tells its connection, which may queue it.
        drop(jobs);
        all
    }

    /// The queue's length as last changed, read without its lock (for metrics).
    pub(super) fn queued_now(&self) -> usize {
        self.queued_now.load(Ordering::Relaxed)
    }

    /// How many queued connections have waited since `before` or longer.
    pub(super) fn waiting_since(&self, before: Instant) -> usize {
        let queue = lock(&self.ready);
        let waited = |lane: &VecDeque<Ready>| {
            lane.iter()
                .take_while(|ready| ready.since <= before)
                .count()
        };
        let jobs = queue
            .jobs
            .iter()
            .take_while(|job| job.since <= before)
            .count();
        jobs + waited(&queue.requests) + waited(&queue.live)
    }

    pub(super) fn runners(&self) -> usize {
        self.runners.load(Ordering::SeqCst)
    }

    pub(super) fn max_runners(&self) -> usize {
        self.max_runners
    }

    /// Counts a runner about to be started; the poller stops watching readiness, which the
    /// runner takes over.
    pub(super) fn runner_starting(&self) {
        if self.runners.fetch_add(1, Ordering::SeqCst) == 0 {
            self.scanned();
        }
    }

    /// Uncounts a runner (retired, never started, or unwound); the last one hands readiness
    /// back to the poller.
    pub(super) fn uncount_runner(&self) {
        if self.runners.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.update_watch();
        }
    }

    /// A runner with nothing to do retires, unless work arrived meanwhile: returns whether
    /// it retired.
    pub(super) fn retire(&self) -> bool {
        self.uncount_runner();
        // Whoever queued work after this runner's last look either saw it counted (and
        // started no runner) or sees it gone (and starts one): check, so neither case
        // strands the work.
        if lock(&self.ready).is_empty() {
            return true;
        }
        self.runners.fetch_add(1, Ordering::SeqCst);
        false
    }

    /// Records that a runner is looking for work.
    pub(super) fn scanned(&self) {
        let nanos = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_scan.store(nanos, Ordering::Relaxed);
    }

    /// Called by the poller before it sleeps: whether it must look in on the runners
    /// periodically (some serve; every `GRACE`, or `GRACE_ALL_OUT` while all are stuck). If
    /// it need not, a runner that stops leading wakes it.
    pub(super) fn poller_must_tick(&self) -> bool {
        // Pairs with `lead`: either this sees the leader gone, or the leader sees this.
        self.poller_ticks.store(false, Ordering::SeqCst);
        let tick = self.serving() > 0;
        self.poller_ticks.store(tick, Ordering::SeqCst);
        tick
    }

    /// Runners out serving (not waiting for readiness).
    pub(super) fn serving(&self) -> usize {
        let leading = usize::from(self.leading.load(Ordering::SeqCst));
        self.runners().saturating_sub(leading)
    }

    /// Whether runners are serving but none looked for work during the last `GRACE`: they
    /// are all inside handlers, and none watches readiness.
    pub(super) fn runners_stuck(&self, now: Instant) -> bool {
        if self.leading.load(Ordering::SeqCst) {
            return false;
        }
        let last = Duration::from_nanos(self.last_scan.load(Ordering::Relaxed));
        self.runners() > 0 && now.saturating_duration_since(self.epoch + last) > GRACE
    }
}

/// Whether blocking handlers hold every runner of the main pool, from the poller's looks.
///
/// Each time one of them returns, its runner takes the next queued connection, and for a
/// moment the runners look unstuck (one looked for work within `GRACE`). Seen as "all held"
/// through those moments, the poller keeps watching readiness: otherwise each request would
/// cost it an unwatch, a watch and a wake-up more. Once no look finds them stuck for
/// `GRACE_ALL_OUT`, the runners watch again.
#[derive(Debug, Default)]
pub(super) struct AllHeld {
    last_stuck: Option<Instant>,
}

impl AllHeld {
    /// `stuck`: no runner looked for work during the last `GRACE`; `pool_full`: every
    /// worker of the pool is a runner. Returns whether handlers hold them all.
    pub(super) fn update(&mut self, now: Instant, stuck: bool, pool_full: bool) -> bool {
        if stuck {
            self.last_stuck = Some(now);
        }
        pool_full
            && self
                .last_stuck
                .is_some_and(|at| now.saturating_duration_since(at) < GRACE_ALL_OUT)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    fn connected_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    fn poller_hears_readiness(poller: &mut Poll, timeout: Duration) -> bool {
        let mut events = Events::with_capacity(8);
        poller.poll(&mut events, Some(timeout)).unwrap();
        events.iter().any(|event| event.token() == READINESS)
    }

    /// A queued connection (a real socket, nothing to read) queued at `since`.
    fn ready(id: usize, since: Instant) -> Ready {
        let (_client, server) = connected_pair();
        let peer = server.peer_addr().unwrap();
        Ready {
            slot: SlotHandle::detached(SlotId(id)),
            connection: Connection::new(server, peer),
            since,
        }
    }

    /// Blocks until `byte` is readable on `server` (so readiness callbacks have run).
    fn arrived(server: &TcpStream, byte: u8) {
        server.set_read_timeout(Some(WAIT)).unwrap();
        let mut buf = [0u8; 8];
        let n = server.peek(&mut buf).unwrap();
        assert_eq!(buf[n - 1], byte);
    }

    #[test]
    fn a_full_pool_stays_held_between_handlers_returning() {
        let start = Instant::now();
        let mut held = AllHeld::default();
        assert!(!held.update(start, false, true), "never stuck yet");
        assert!(
            !held.update(start, true, false),
            "a runner is left to start"
        );
        assert!(held.update(start, true, true));
        // A handler returned and its runner took the next connection: not stuck for a moment.
        assert!(held.update(start + GRACE * 2, false, true));
        assert!(
            !held.update(start + GRACE * 2, false, false),
            "the pool grew"
        );
        assert!(held.update(start + GRACE * 3, true, true));
        // No look finds them stuck for GRACE_ALL_OUT: the handlers no longer hold them.
        assert!(!held.update(start + GRACE * 3 + GRACE_ALL_OUT, false, true));
    }

    #[test]
    fn the_poller_watches_readiness_only_while_no_runner_does() {
        let mut poller = Poll::new().unwrap();
        let scheduler = Scheduler::new(poller.registry(), 2).unwrap();
        let (mut client, server) = connected_pair();
        scheduler.register(server.as_raw_fd(), SlotId(7)).unwrap();

        // No runner out: the poller hears of it, and polls the token out.
        client.write_all(b"a").unwrap();
        assert!(poller_hears_readiness(&mut poller, WAIT));
        let mut tokens = Vec::new();
        scheduler.poll_readiness(|token, _| tokens.push(token));
        assert_eq!(tokens, [SlotId(7)]);

        // A runner is out: readiness is its business, the poller is not woken.
        scheduler.runner_starting();
        scheduler.poller_watches(false);
        client.write_all(b"b").unwrap();
        arrived(&server, b'b');
        assert!(!poller_hears_readiness(&mut poller, Duration::ZERO));

        // The runners are stuck: the poller watches again, and hears what is waiting.
        scheduler.poller_watches(true);
        assert!(poller_hears_readiness(&mut poller, WAIT));
        scheduler.poller_watches(false);

        // The last runner retires: the poller hears what arrived before.
        assert!(scheduler.retire());
        assert_eq!(scheduler.runners(), 0);
        assert!(poller_hears_readiness(&mut poller, WAIT));
        let mut tokens = Vec::new();
        scheduler.poll_readiness(|token, _| tokens.push(token));
        assert_eq!(tokens, [SlotId(7)]);
    }

    #[test]
    fn a_runner_does_not_retire_while_work_is_queued() {
        let poller = Poll::new().unwrap();
        let scheduler = Scheduler::new(poller.registry(), 1).unwrap();
        scheduler.runner_starting();
        scheduler.push(ready(0, Instant::now()), 1).unwrap();
        assert!(
            scheduler.push(ready(1, Instant::now()), 1).is_err(),
            "queued beyond capacity"
        );
        assert!(!scheduler.retire(), "retired with a connection queued");
        assert_eq!(scheduler.runners(), 1);
        assert!(matches!(scheduler.pop(), Some(Work::Turn(_))));
        assert!(scheduler.retire());
        assert_eq!(scheduler.runners(), 0);
    }

    /// Quick handlers go first; a turn that waited past `TURN_WAIT_BEHIND_JOBS` goes next,
    /// then handlers and overdue turns alternate (neither starves the other).
    #[test]
    fn handlers_go_first_until_a_turn_is_overdue_then_they_alternate() {
        let now = Instant::now();
        let job = || QueuedJob {
            job: Box::new(|| {}),
            since: now,
        };
        let mut queue = ReadyQueue::default();
        queue.jobs.extend([job(), job(), job()]);
        queue.requests.push_back(ready(0, now));
        assert!(matches!(queue.pop(now), Some(Work::Job(_))));
        let later = now + TURN_WAIT_BEHIND_JOBS;
        queue.requests.push_back(ready(1, now));
        assert!(matches!(queue.pop(later), Some(Work::Turn(_))));
        assert!(matches!(queue.pop(later), Some(Work::Job(_))));
        assert!(matches!(queue.pop(later), Some(Work::Turn(_))));
        assert!(matches!(queue.pop(later), Some(Work::Job(_))));
        assert!(queue.is_empty());
    }

    #[test]
    fn connections_waiting_past_a_time_are_counted_oldest_first() {
        let poller = Poll::new().unwrap();
        let scheduler = Scheduler::new(poller.registry(), 1).unwrap();
        let start = Instant::now();
        for (token, age) in [(0, 3), (1, 2), (2, 0)] {
            scheduler
                .push(ready(token, start - Duration::from_millis(age)), 3)
                .unwrap();
        }
        assert_eq!(scheduler.waiting_since(start - Duration::from_millis(1)), 2);
        assert_eq!(scheduler.waiting_since(start), 3);
        assert_eq!(scheduler.queued(), 3);
    }
}

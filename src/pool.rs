//! A fixed-size thread pool: the Rust Book's (chapter 20) shape, made production grade.
//!
//! The pool knows nothing of HTTP. It owns `size` named worker threads that take boxed jobs from
//! one shared queue, in FIFO order. Compared with the Book's pool:
//!
//! - the queue is a multi-consumer channel, so workers wait on it directly instead of taking
//!   turns on a `Mutex<Receiver>` (no lock is ever held while a job runs, and an idle worker
//!   never blocks the others);
//! - the queue may be bounded, and [`ThreadPool::try_execute`] hands a job back when it is full;
//! - a panicking job is caught: the worker survives, the panic is counted and reported;
//! - spawning, submitting and shutting down report errors instead of panicking, and shutdown can
//!   be given a deadline.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

pub use crate::error::{ExecuteError, PoolError, ShutdownTimedOut, TryExecuteError};

/// A unit of work for the pool: any closure that can be sent to another thread and run once.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// The name prefix of worker threads unless [`ThreadPoolBuilder::thread_name_prefix`] says
/// otherwise; worker `i` is named `"switchyard-worker-{i}"`.
pub const DEFAULT_THREAD_NAME_PREFIX: &str = "switchyard-worker";

/// The name of the server's own lane: the worker pool the [`Health`](crate::Health) and
/// [`Metrics`](crate::Metrics) routes run on, so that they answer even while every worker
/// of the main pool is busy in a handler (a balancer must not take a busy instance for a
/// dead one). While the main pool's workers are all stuck in handlers, new requests are
/// read and routed on this lane: its routes are served there, the others wait for the main
/// pool as before. The server declares it with one thread when a route is placed on it;
/// declare it yourself ([`ServerBuilder::worker_pool`](crate::ServerBuilder::worker_pool))
/// for more, and place your own quick routes on it with
/// [`Router::on_pool`](crate::Router::on_pool) (never slow ones: they would hold the lane).
pub const SYSTEM_POOL: &str = "system";

type PanicHook = Arc<dyn Fn(&PanicReport) + Send + Sync + 'static>;

/// What the pool's panic hook is told about a job that panicked.
///
/// The worker that ran the job keeps serving the queue.
#[derive(Debug)]
#[non_exhaustive]
pub struct PanicReport {
    /// The id of the worker that ran the job (`0..size`).
    pub worker_id: usize,
    /// The panic message, when the payload was a string (as it is for `panic!("...")`).
    pub message: Option<String>,
}

/// A snapshot of a pool's counters, from [`ThreadPool::stats`].
///
/// The counters are read one after the other while the workers run, so they are each exact
/// but not necessarily from the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// The number of worker threads.
    pub size: usize,
    /// Workers running a job right now.
    pub busy: usize,
    /// Jobs accepted but not yet taken by a worker.
    pub queued: usize,
    /// Jobs that ran to completion, panicked ones included.
    pub completed: u64,
    /// Jobs that panicked.
    pub panicked: u64,
}

/// Reads a pool's [`PoolStats`] from anywhere, without the pool; see `ThreadPool::probe`.
#[derive(Clone)]
pub(crate) struct PoolProbe {
    size: usize,
    receiver: Receiver<Job>,
    states: Arc<[WorkerState]>,
}

impl PoolProbe {
    pub(crate) fn stats(&self) -> PoolStats {
        let mut stats = PoolStats {
            size: self.size,
            busy: 0,
            queued: self.receiver.len(),
            completed: 0,
            panicked: 0,
        };
        for state in self.states.iter() {
            stats.busy += usize::from(state.busy.load(Ordering::Acquire));
            stats.completed += state.completed.load(Ordering::Relaxed);
            stats.panicked += state.panicked.load(Ordering::Relaxed);
        }
        stats
    }
}

/// Configuration for a [`ThreadPool`]; start from [`ThreadPool::builder`].
///
/// # Examples
///
/// ```
/// use switchyard::ThreadPool;
///
/// let pool = ThreadPool::builder()
///     .size(4)
///     .queue_capacity(64)
///     .thread_name_prefix("app-worker")
///     .on_panic(|report| eprintln!("job panicked on worker {}", report.worker_id))
///     .build()?;
/// assert_eq!(pool.size(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ThreadPoolBuilder {
    size: usize,
    queue_capacity: Option<usize>,
    thread_name_prefix: String,
    stack_size: Option<usize>,
    on_panic: Option<PanicHook>,
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("size", &self.size)
            .field("queue_capacity", &self.queue_capacity)
            .field("thread_name_prefix", &self.thread_name_prefix)
            .field("stack_size", &self.stack_size)
            .field("on_panic", &self.on_panic.is_some())
            .finish()
    }
}

impl Default for ThreadPoolBuilder {
    fn default() -> Self {
        Self {
            size: thread::available_parallelism().map_or(1, |n| n.get()),
            queue_capacity: None,
            thread_name_prefix: DEFAULT_THREAD_NAME_PREFIX.to_owned(),
            stack_size: None,
            on_panic: None,
        }
    }
}

impl ThreadPoolBuilder {
    /// The number of worker threads (default: the machine's available parallelism).
    pub fn size(mut self, size: usize) -> Self {
        self.size = size;
        self
    }

    /// Bounds the queue of waiting jobs to `capacity` (default: unbounded).
    ///
    /// When the queue is full, [`ThreadPool::execute`] blocks until a worker takes a job and
    /// [`ThreadPool::try_execute`] hands the job back at once. A capacity of 0 makes every
    /// submission a direct hand-off to an idle worker.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = Some(capacity);
        self
    }

    /// Worker `i` is named `"{prefix}-{i}"` (default prefix: [`DEFAULT_THREAD_NAME_PREFIX`]).
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name_prefix = prefix.into();
        self
    }

    /// The stack size of each worker thread, in bytes (default: the standard library's).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Called on the worker thread after a job panicked, once the panic was caught.
    ///
    /// The standard library's panic hook has already printed the panic by then (unless the
    /// application replaced it); this hook is for counting, logging or alerting. A panic inside
    /// the hook itself is caught and ignored.
    pub fn on_panic<F>(mut self, hook: F) -> Self
    where
        F: Fn(&PanicReport) + Send + Sync + 'static,
    {
        self.on_panic = Some(Arc::new(hook));
        self
    }

    /// Starts the workers.
    ///
    /// # Errors
    ///
    /// [`PoolError::ZeroSize`] for a size of 0, and [`PoolError::Spawn`] when the operating
    /// system refuses a thread; the workers already started are then shut down and joined.
    pub fn build(self) -> Result<ThreadPool, PoolError> {
        if self.size == 0 {
            return Err(PoolError::ZeroSize);
        }
        let (sender, receiver) = match self.queue_capacity {
            Some(capacity) => crossbeam_channel::bounded(capacity),
            None => crossbeam_channel::unbounded(),
        };
        let (exit_sender, exit_receiver) = crossbeam_channel::unbounded();
        let states: Arc<[WorkerState]> = (0..self.size).map(|_| WorkerState::default()).collect();
        let mut pool = ThreadPool {
            workers: Vec::with_capacity(self.size),
            sender: Some(sender),
            receiver,
            closed: AtomicBool::new(false),
            states,
            exits: exit_receiver,
        };
        for id in 0..self.size {
            let mut thread =
                thread::Builder::new().name(format!("{}-{id}", self.thread_name_prefix));
            if let Some(bytes) = self.stack_size {
                thread = thread.stack_size(bytes);
            }
            let context = WorkerContext {
                id,
                jobs: pool.receiver.clone(),
                states: Arc::clone(&pool.states),
                on_panic: self.on_panic.clone(),
                exits: exit_sender.clone(),
            };
            match thread.spawn(move || context.run()) {
                Ok(handle) => pool.workers.push(Worker {
                    id,
                    thread: Some(handle),
                }),
                // Dropping `pool` closes the queue and joins the workers started so far.
                Err(source) => return Err(PoolError::Spawn { id, source }),
            }
        }
        Ok(pool)
    }
}

/// A fixed set of worker threads running jobs from a shared FIFO queue.
///
/// Dropping the pool is a graceful shutdown: it stops taking jobs, lets the workers finish
/// every queued job, and joins them (the Book's chapter 20.3). [`ThreadPool::shutdown`] does
/// the same explicitly, and [`ThreadPool::shutdown_timeout`] gives up at a deadline.
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// use switchyard::ThreadPool;
///
/// let pool = ThreadPool::new(4);
/// let (done, results) = mpsc::channel();
/// for i in 0..8 {
///     let done = done.clone();
///     pool.execute(move || done.send(i * i).unwrap())?;
/// }
/// pool.shutdown(); // waits for all eight jobs
/// let mut squares: Vec<i32> = results.try_iter().collect();
/// squares.sort();
/// assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ThreadPool {
    workers: Vec<Worker>,
    /// `None` once the queue is closed for good (shutdown or drop).
    sender: Option<Sender<Job>>,
    /// Kept for [`ThreadPool::stats`] and to drop leftover jobs after a timed-out shutdown.
    receiver: Receiver<Job>,
    /// Set by [`ThreadPool::close`]: no new jobs, the queued ones still run.
    closed: AtomicBool,
    states: Arc<[WorkerState]>,
    /// Every worker sends its id here as its thread ends.
    exits: Receiver<usize>,
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("stats", &self.stats())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// One worker thread, as in the Book: an id and the thread's handle.
#[derive(Debug)]
struct Worker {
    id: usize,
    /// `None` once joined or detached.
    thread: Option<JoinHandle<()>>,
}

/// Counters a worker writes and [`ThreadPool::stats`] reads. Each worker has its own, on its own
/// cache line, so the workers never contend on them.
#[derive(Debug, Default)]
#[repr(align(128))]
struct WorkerState {
    busy: AtomicBool,
    completed: AtomicU64,
    panicked: AtomicU64,
}

/// Everything a worker thread owns.
struct WorkerContext {
    id: usize,
    jobs: Receiver<Job>,
    states: Arc<[WorkerState]>,
    on_panic: Option<PanicHook>,
    exits: Sender<usize>,
}

impl WorkerContext {
    fn run(self) {
        let state = &self.states[self.id];
        // `recv` fails once the pool dropped its sender and the queue is empty: the Book's
        // graceful shutdown, with every queued job run first.
        while let Ok(job) = self.jobs.recv() {
            state.busy.store(true, Ordering::Release);
            let outcome = panic::catch_unwind(AssertUnwindSafe(job));
            // Only this thread writes its counters, so a load and a store suffice.
            let completed = state.completed.load(Ordering::Relaxed);
            state.completed.store(completed + 1, Ordering::Relaxed);
            if let Err(payload) = outcome {
                let panicked = state.panicked.load(Ordering::Relaxed);
                state.panicked.store(panicked + 1, Ordering::Relaxed);
                self.report_panic(payload);
            }
            state.busy.store(false, Ordering::Release);
        }
        // A send error means the pool is gone and nobody waits for this exit.
        let _ = self.exits.send(self.id);
    }

    fn report_panic(&self, payload: Box<dyn std::any::Any + Send>) {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned());
        if let Some(hook) = &self.on_panic {
            let report = PanicReport {
                worker_id: self.id,
                message,
            };
            // The hook is application code: its own panic must not end the worker either.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| hook(&report)));
        }
        // Dropping a payload can itself panic; keep that inside the worker too.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
    }
}

impl ThreadPool {
    /// Starts a pool of `size` workers with an unbounded queue.
    ///
    /// # Panics
    ///
    /// When `size` is 0 or a thread cannot be spawned. [`ThreadPool::build`] reports both as
    /// errors instead.
    #[track_caller]
    pub fn new(size: usize) -> ThreadPool {
        match Self::build(size) {
            Ok(pool) => pool,
            Err(error) => panic!("ThreadPool::new({size}): {error}"),
        }
    }

    /// Starts a pool of `size` workers with an unbounded queue.
    ///
    /// # Errors
    ///
    /// [`PoolError::ZeroSize`] for a size of 0, [`PoolError::Spawn`] when a thread cannot be
    /// spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::{ThreadPool, pool::PoolError};
    ///
    /// assert!(matches!(ThreadPool::build(0), Err(PoolError::ZeroSize)));
    /// assert_eq!(ThreadPool::build(2)?.size(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(size: usize) -> Result<ThreadPool, PoolError> {
        Self::builder().size(size).build()
    }

    /// A builder for a pool with a bounded queue, named threads or a panic hook.
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::default()
    }

    /// The number of worker threads.
    pub fn size(&self) -> usize {
        self.states.len()
    }

    /// Queues `job` to run on a worker. With a bounded queue that is full, waits for room.
    ///
    /// # Errors
    ///
    /// [`ExecuteError`] once [`ThreadPool::close`] was called; the job is dropped unrun.
    pub fn execute<F>(&self, job: F) -> Result<(), ExecuteError>
    where
        F: FnOnce() + Send + 'static,
    {
        let sender = self.open_sender().ok_or(ExecuteError)?;
        sender.send(Box::new(job)).map_err(|_| ExecuteError)
    }

    /// Queues `job` only if that needs no waiting; otherwise hands it back at once.
    ///
    /// A server uses this to answer 503 instead of blocking its acceptor or queueing without
    /// bound.
    ///
    /// # Errors
    ///
    /// [`TryExecuteError::Full`] when the bounded queue is at capacity,
    /// [`TryExecuteError::ShuttingDown`] once [`ThreadPool::close`] was called. Both carry the
    /// job, boxed, to run elsewhere or resubmit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use switchyard::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().size(1).queue_capacity(1).build()?;
    /// let (release, gate) = mpsc::channel::<()>();
    /// let (started, worker_busy) = mpsc::channel();
    /// pool.try_execute(move || {
    ///     started.send(()).unwrap();
    ///     gate.recv().unwrap();
    /// })?;
    /// worker_busy.recv()?; // the only worker is blocked, the queue is empty
    /// pool.try_execute(|| {})?; // fills the queue
    /// let refused = pool.try_execute(|| {}).unwrap_err();
    /// assert!(refused.is_full());
    /// release.send(())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_execute<F>(&self, job: F) -> Result<(), TryExecuteError<Job>>
    where
        F: FnOnce() + Send + 'static,
    {
        let job: Job = Box::new(job);
        let Some(sender) = self.open_sender() else {
            return Err(TryExecuteError::ShuttingDown(job));
        };
        sender.try_send(job).map_err(|error| match error {
            TrySendError::Full(job) => TryExecuteError::Full(job),
            TrySendError::Disconnected(job) => TryExecuteError::ShuttingDown(job),
        })
    }

    /// Stops taking new jobs: later calls to [`execute`](Self::execute) and
    /// [`try_execute`](Self::try_execute) fail. Jobs already queued still run, and the workers
    /// keep running until the pool is shut down or dropped. Does not block.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Jobs accepted but not yet taken by a worker (cheaper than [`stats`](Self::stats)).
    pub fn queued(&self) -> usize {
        self.receiver.len()
    }

    /// A cheap handle that reads this pool's [`stats`](Self::stats) without the pool (for
    /// metrics readers on other threads).
    pub(crate) fn probe(&self) -> PoolProbe {
        PoolProbe {
            size: self.size(),
            receiver: self.receiver.clone(),
            states: Arc::clone(&self.states),
        }
    }

    /// A snapshot of the pool's counters.
    pub fn stats(&self) -> PoolStats {
        self.probe().stats()
    }

    /// Graceful shutdown: stops taking jobs, waits until every queued job has run, and joins
    /// every worker. Dropping the pool does the same.
    pub fn shutdown(mut self) {
        self.close_queue();
        self.join_all();
    }

    /// Like [`shutdown`](Self::shutdown), but gives up waiting after `timeout`. A timeout too
    /// large for a deadline (`Duration::MAX`) waits as long as `shutdown` does.
    ///
    /// # Errors
    ///
    /// [`ShutdownTimedOut`] when workers are still running jobs at the deadline. It names them;
    /// they are detached and exit after their current job. Jobs still queued at the deadline
    /// are dropped unrun and counted.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    /// use switchyard::ThreadPool;
    ///
    /// let pool = ThreadPool::new(2);
    /// let (release, stuck) = mpsc::channel::<()>();
    /// let (started, running) = mpsc::channel();
    /// pool.execute(move || {
    ///     started.send(()).unwrap();
    ///     let _ = stuck.recv(); // never answered until after the shutdown
    /// })?;
    /// running.recv()?;
    /// let timed_out = pool.shutdown_timeout(Duration::from_millis(50)).unwrap_err();
    /// assert_eq!(timed_out.busy_workers.len(), 1);
    /// drop(release);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Result<(), ShutdownTimedOut> {
        // A deadline past what `Instant` can hold (`Duration::MAX`) is no deadline at all.
        let deadline = Instant::now().checked_add(timeout);
        self.close_queue();
        let mut running = self.workers.len();
        while running > 0 {
            let exited = match deadline {
                Some(deadline) => self.exits.recv_deadline(deadline).ok(),
                None => self.exits.recv().ok(),
            };
            match exited {
                Some(id) => {
                    if let Some(worker) = self.workers.iter_mut().find(|w| w.id == id) {
                        join_worker(worker);
                    }
                    running -= 1;
                }
                None => break,
            }
        }
        if running == 0 {
            return Ok(());
        }
        let dropped_jobs = self.receiver.try_iter().count();
        let busy_workers = self
            .workers
            .iter_mut()
            .filter_map(|worker| worker.thread.take().map(|_detached| worker.id))
            .collect();
        Err(ShutdownTimedOut {
            timeout,
            busy_workers,
            dropped_jobs,
        })
    }

    fn open_sender(&self) -> Option<&Sender<Job>> {
        if self.is_closed() {
            return None;
        }
        self.sender.as_ref()
    }

    /// Closes the queue for good: workers finish what is queued, then their `recv` fails.
    fn close_queue(&mut self) {
        self.close();
        self.sender = None;
    }

    fn join_all(&mut self) {
        for worker in &mut self.workers {
            join_worker(worker);
        }
    }
}

fn join_worker(worker: &mut Worker) {
    if let Some(thread) = worker.thread.take() {
        // Jobs run under `catch_unwind`, so a worker thread only ends in a panic if the
        // process is already in trouble; there is nothing left to clean up for it.
        let _ = thread.join();
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.close_queue();
        self.join_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::{Barrier, mpsc};

    /// Bounds every wait in these tests.
    const WAIT: Duration = Duration::from_secs(10);

    #[test]
    fn zero_size_is_an_error() {
        assert!(matches!(ThreadPool::build(0), Err(PoolError::ZeroSize)));
        assert!(matches!(
            ThreadPool::builder().size(0).build(),
            Err(PoolError::ZeroSize)
        ));
    }

    #[test]
    #[should_panic(expected = "ThreadPool::new(0)")]
    fn new_panics_on_zero_size() {
        let _ = ThreadPool::new(0);
    }

    #[test]
    fn size_jobs_run_in_parallel_on_size_workers() {
        // The barrier only opens when all `size` jobs are running at the same time.
        let size = 4;
        let pool = ThreadPool::new(size);
        let barrier = Arc::new(Barrier::new(size + 1));
        let (names_tx, names) = mpsc::channel();
        for _ in 0..size {
            let barrier = Arc::clone(&barrier);
            let names_tx = names_tx.clone();
            pool.execute(move || {
                barrier.wait();
                names_tx
                    .send(thread::current().name().map(str::to_owned))
                    .unwrap();
            })
            .unwrap();
        }
        barrier.wait();
        let mut seen: Vec<String> = (0..size)
            .map(|_| names.recv_timeout(WAIT).unwrap().unwrap())
            .collect();
        seen.sort();
        let expected: Vec<String> = (0..size)
            .map(|i| format!("switchyard-worker-{i}"))
            .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn drop_runs_every_queued_job_before_returning() {
        let counter = Arc::new(AtomicUsize::new(0));
        let pool = ThreadPool::new(3);
        for _ in 0..500 {
            let counter = Arc::clone(&counter);
            pool.execute(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        drop(pool);
        assert_eq!(counter.load(Ordering::SeqCst), 500);
    }

    #[test]
    fn single_worker_runs_jobs_in_submission_order() {
        let pool = ThreadPool::new(1);
        let (order_tx, order) = mpsc::channel();
        for i in 0..100 {
            let order_tx = order_tx.clone();
            pool.execute(move || order_tx.send(i).unwrap()).unwrap();
        }
        pool.shutdown();
        assert_eq!(
            order.try_iter().collect::<Vec<_>>(),
            (0..100).collect::<Vec<_>>()
        );
    }

    #[test]
    fn jobs_are_dispatched_in_fifo_order_across_workers() {
        // Every job reports its start and then waits for its own release. Releasing one job
        // frees exactly one worker, which must take the oldest job still queued.
        let (size, jobs) = (3, 30);
        let pool = ThreadPool::new(size);
        let (started_tx, started) = mpsc::channel();
        let mut releases = Vec::new();
        for i in 0..jobs {
            let (release_tx, release) = mpsc::channel::<()>();
            releases.push(release_tx);
            let started_tx = started_tx.clone();
            pool.execute(move || {
                started_tx.send(i).unwrap();
                let _ = release.recv();
            })
            .unwrap();
        }
        let mut first: Vec<usize> = (0..size)
            .map(|_| started.recv_timeout(WAIT).unwrap())
            .collect();
        first.sort();
        assert_eq!(first, (0..size).collect::<Vec<_>>());
        for (finished, release) in releases.iter().enumerate().take(jobs - size) {
            release.send(()).unwrap();
            assert_eq!(started.recv_timeout(WAIT).unwrap(), finished + size);
        }
        drop(releases);
        pool.shutdown();
    }

    #[test]
    fn execute_after_close_is_an_error() {
        let pool = ThreadPool::new(2);
        pool.execute(|| {}).unwrap();
        pool.close();
        assert!(pool.is_closed());
        assert_eq!(pool.execute(|| {}), Err(ExecuteError));
        let refused = pool.try_execute(|| {}).unwrap_err();
        assert!(matches!(refused, TryExecuteError::ShuttingDown(_)));
    }

    #[test]
    fn panicking_jobs_keep_every_worker_alive() {
        let size = 4;
        let reports = Arc::new(AtomicUsize::new(0));
        let pool = {
            let reports = Arc::clone(&reports);
            ThreadPool::builder()
                .size(size)
                .on_panic(move |report| {
                    assert_eq!(report.message.as_deref(), Some("job failed on purpose"));
                    reports.fetch_add(1, Ordering::SeqCst);
                })
                .build()
                .unwrap()
        };
        let quiet = silence_panics();
        for _ in 0..1000 {
            pool.execute(|| panic!("job failed on purpose")).unwrap();
        }
        // Still `size` live workers: `size` jobs can meet at a barrier.
        let barrier = Arc::new(Barrier::new(size + 1));
        for _ in 0..size {
            let barrier = Arc::clone(&barrier);
            pool.execute(move || {
                barrier.wait();
            })
            .unwrap();
        }
        barrier.wait();
        pool.shutdown_timeout(WAIT).unwrap();
        drop(quiet);
        assert_eq!(reports.load(Ordering::SeqCst), 1000);
    }

    #[test]
    fn stats_count_completed_and_panicked_jobs() {
        let pool = ThreadPool::new(2);
        let quiet = silence_panics();
        for i in 0..10 {
            pool.execute(move || assert!(i % 5 != 0, "every fifth job fails"))
                .unwrap();
        }
        // Two jobs that can only finish together, one per worker: once both run, every
        // earlier job has been taken and counted (FIFO, and a worker counts a job before
        // taking the next).
        let (done_tx, done) = mpsc::channel();
        let barrier = Arc::new(Barrier::new(2));
        for _ in 0..2 {
            let barrier = Arc::clone(&barrier);
            let done_tx = done_tx.clone();
            pool.execute(move || {
                barrier.wait();
                done_tx.send(()).unwrap();
            })
            .unwrap();
        }
        done.recv_timeout(WAIT).unwrap();
        done.recv_timeout(WAIT).unwrap();
        let stats = pool.stats();
        drop(quiet);
        assert_eq!(stats.size, 2);
        assert_eq!(stats.queued, 0);
        assert_eq!(stats.panicked, 2);
        assert!(stats.completed >= 10, "{stats:?}");
    }

    #[test]
    fn stats_report_busy_workers_and_queued_jobs() {
        let pool = ThreadPool::new(2);
        let (release_tx, release) = crossbeam_channel::bounded::<()>(0);
        let barrier = Arc::new(Barrier::new(3));
        for _ in 0..2 {
            let release = release.clone();
            let barrier = Arc::clone(&barrier);
            pool.execute(move || {
                barrier.wait();
                let _ = release.recv();
            })
            .unwrap();
        }
        barrier.wait();
        for _ in 0..3 {
            pool.execute(|| {}).unwrap();
        }
        let stats = pool.stats();
        assert_eq!((stats.busy, stats.queued), (2, 3));
        drop(release_tx);
        pool.shutdown();
    }

    #[test]
    fn try_execute_hands_the_job_back_when_the_queue_is_full() {
        let pool = ThreadPool::builder()
            .size(1)
            .queue_capacity(2)
            .build()
            .unwrap();
        let (release_tx, release) = mpsc::channel::<()>();
        let (started_tx, started) = mpsc::channel();
        pool.try_execute(move || {
            started_tx.send(()).unwrap();
            let _ = release.recv();
        })
        .unwrap();
        started.recv_timeout(WAIT).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let ran = Arc::clone(&ran);
            pool.try_execute(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        let refused = {
            let ran = Arc::clone(&ran);
            pool.try_execute(move || {
                ran.fetch_add(100, Ordering::SeqCst);
            })
            .unwrap_err()
        };
        assert!(refused.is_full());
        // The returned job is the one we passed: running it has its effect.
        refused.into_job()();
        assert_eq!(ran.load(Ordering::SeqCst), 100);
        release_tx.send(()).unwrap();
        pool.shutdown();
        assert_eq!(ran.load(Ordering::SeqCst), 102);
    }

    #[test]
    fn shutdown_timeout_returns_at_its_deadline_with_a_stuck_job() {
        let pool = ThreadPool::new(3);
        let (started_tx, started) = mpsc::channel();
        let (release_tx, release) = mpsc::channel::<()>();
        pool.execute(move || {
            started_tx.send(()).unwrap();
            let _ = release.recv();
        })
        .unwrap();
        started.recv_timeout(WAIT).unwrap();
        // Queued behind nothing: the two idle workers may take them, so only count the stuck
        // worker for certain.
        let timeout = Duration::from_millis(100);
        let begun = Instant::now();
        let error = pool.shutdown_timeout(timeout).unwrap_err();
        let waited = begun.elapsed();
        assert!(waited >= timeout, "returned early after {waited:?}");
        assert!(waited < WAIT, "did not return at its deadline: {waited:?}");
        assert_eq!(error.busy_workers.len(), 1);
        assert_eq!(error.timeout, timeout);
        drop(release_tx);
    }

    #[test]
    fn shutdown_timeout_drops_jobs_still_queued_at_the_deadline() {
        let pool = ThreadPool::new(1);
        let (started_tx, started) = mpsc::channel();
        let (release_tx, release) = mpsc::channel::<()>();
        pool.execute(move || {
            started_tx.send(()).unwrap();
            let _ = release.recv();
        })
        .unwrap();
        started.recv_timeout(WAIT).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..5 {
            let ran = Arc::clone(&ran);
            pool.execute(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        let error = pool
            .shutdown_timeout(Duration::from_millis(20))
            .unwrap_err();
        assert_eq!(error.busy_workers, vec![0]);
        assert_eq!(error.dropped_jobs, 5);
        drop(release_tx);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn shutdown_timeout_is_ok_when_workers_finish_in_time() {
        let pool = ThreadPool::new(2);
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..50 {
            let ran = Arc::clone(&ran);
            pool.execute(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        pool.shutdown_timeout(WAIT).unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 50);
    }

    /// Regression: `Instant::now() + Duration::MAX` overflowed and panicked.
    #[test]
    fn shutdown_timeout_duration_max_waits_without_a_deadline() {
        // Idle workers: Ok at once.
        let (done_tx, done) = mpsc::channel();
        let idle = ThreadPool::new(2);
        thread::spawn(move || done_tx.send(idle.shutdown_timeout(Duration::MAX)));
        let result = done.recv_timeout(WAIT).expect("shutdown_timeout returns");
        assert_eq!(result, Ok(()));

        // A busy worker: it waits for the job, however long it takes.
        let pool = ThreadPool::new(1);
        let (release_tx, release) = mpsc::channel::<()>();
        let (started_tx, started) = mpsc::channel();
        pool.execute(move || {
            started_tx.send(()).unwrap();
            let _ = release.recv_timeout(WAIT);
        })
        .unwrap();
        started.recv_timeout(WAIT).unwrap();
        let (done_tx, done) = mpsc::channel();
        thread::spawn(move || done_tx.send(pool.shutdown_timeout(Duration::MAX)));
        assert!(done.recv_timeout(Duration::from_millis(50)).is_err());
        release_tx.send(()).unwrap();
        let result = done.recv_timeout(WAIT).expect("shutdown_timeout returns");
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn thread_name_prefix_names_the_workers() {
        let pool = ThreadPool::builder()
            .size(1)
            .thread_name_prefix("custom")
            .build()
            .unwrap();
        let (name_tx, name) = mpsc::channel();
        pool.execute(move || {
            name_tx
                .send(thread::current().name().map(str::to_owned))
                .unwrap();
        })
        .unwrap();
        assert_eq!(
            name.recv_timeout(WAIT).unwrap().as_deref(),
            Some("custom-0")
        );
    }

    #[test]
    fn worker_does_not_hold_a_lock_while_a_job_runs() {
        // One worker blocked forever in a job must not keep another from taking jobs.
        let pool = ThreadPool::new(2);
        let (release_tx, release) = mpsc::channel::<()>();
        let (started_tx, started) = mpsc::channel();
        pool.execute(move || {
            started_tx.send(()).unwrap();
            let _ = release.recv();
        })
        .unwrap();
        started.recv_timeout(WAIT).unwrap();
        let (done_tx, done) = mpsc::channel();
        for i in 0..10 {
            let done_tx = done_tx.clone();
            pool.execute(move || done_tx.send(i).unwrap()).unwrap();
        }
        for _ in 0..10 {
            done.recv_timeout(WAIT).unwrap();
        }
        drop(release_tx);
    }

    /// Replaces the default panic hook (which prints every panic) for the duration of a test
    /// that panics on purpose; restores it on drop.
    fn silence_panics() -> impl Drop {
        struct Restore;
        impl Drop for Restore {
            fn drop(&mut self) {
                let _ = panic::take_hook();
            }
        }
        panic::set_hook(Box::new(|_| {}));
        Restore
    }
}

//! Cancellation a blocking handler can see: [`Request::cancelled`](crate::Request::cancelled)
//! turns true when the request's deadline passes or its client leaves, and a
//! [`Cancellation`] carries the same answer to work the handler hands elsewhere.
//!
//! One [`CallWatch`] per connection-table slot, reused by each of its requests in turn (so that
//! watching costs no allocation per request): a request's token is the watch and the
//! number of its call. The poller and the runners write to it (a deadline passed, the
//! client's socket hung up), the worker serving the request reads it.
//!
//! ```text
//!   begin ──► running ──finish──────────────────────────────► returned (its response goes
//!                │                                              out; over once the connection
//!                │                                              begins its next call or closes)
//!                │
//!                ├─ deadline (poller) ─► timed out ─finish──► the handler's answer is dropped:
//!                │                          │                 a 503 replaces it
//!                │                          └─ answered ─────► the poller wrote the 503 itself
//!                └─ the client hung up ─► gone (the handler runs on, told; or never starts)
//! ```

use std::fmt;
use std::sync::atomic::{self, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crate::io::Socket;

/// Why a request was cancelled; see [`Cancellation::reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancelReason {
    /// The handler ran past its deadline
    /// ([`Limits::handler_timeout`](crate::Limits::handler_timeout),
    /// [`Router::handler_timeout`](crate::Router::handler_timeout)); its client was answered
    /// 503, and what it returns now is dropped.
    Deadline,
    /// The client closed its connection (or at least its sending side, as Go's `net/http`
    /// and nginx take it too): nobody will read the answer.
    ClientGone,
    /// The request is over: its connection went on to the next request, or closed. A
    /// token kept past that (by work the handler started) reads as cancelled. (While its
    /// response is still being sent, a `Body::writer` holding the token sees the client
    /// leave as [`ClientGone`](Self::ClientGone).)
    Finished,
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Deadline => "the handler's deadline passed",
            Self::ClientGone => "the client left",
            Self::Finished => "the request is over",
        })
    }
}

/// Whether a request is still wanted: cheap to check (one atomic load) and to clone, `Send`
/// and `Sync`, so a blocking handler polls it between steps of its work or hands it to the
/// thread doing that work. From [`Request::cancellation`](crate::Request::cancellation).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use switchyard::{Request, Response};
///
/// fn report(req: &Request) -> Response {
///     for _step in 0..100 {
///         if req.cancelled() {
///             // Nobody waits for the rest: the deadline passed or the client left.
///             return Response::text("cancelled");
///         }
///         std::thread::sleep(Duration::from_millis(1)); // a slice of the real work
///     }
///     Response::text("done")
/// }
/// # let _ = report;
/// ```
#[derive(Clone, Default)]
pub struct Cancellation {
    /// `None`: a request no server watches (built by hand, served with `Router::handle`).
    watch: Option<Arc<CallWatch>>,
    call: u64,
}

impl Cancellation {
    /// A token that is never cancelled: what requests served outside a server carry.
    pub fn never() -> Self {
        Self::default()
    }

    pub(crate) fn of(watch: Arc<CallWatch>, call: u64) -> Self {
        Self {
            watch: Some(watch),
            call,
        }
    }

    /// Whether the request is cancelled: its deadline passed, its client left, or it is
    /// over.
    pub fn is_cancelled(&self) -> bool {
        self.reason().is_some()
    }

    /// Why the request is cancelled, or `None` while it is still wanted.
    pub fn reason(&self) -> Option<CancelReason> {
        let watch = self.watch.as_ref()?;
        watch.reason(self.call)
    }

    /// Blocks the calling thread for `duration`, or until the request's deadline passes or
    /// its client leaves, whichever comes first: a handler that waits (a backoff, a poll of
    /// something slow) wakes the moment nobody wants its answer any more, with no slices of
    /// sleep to look in between. `Err` says why it was cancelled (at once, if it already
    /// was). A token kept past its request notices
    /// [`Finished`](CancelReason::Finished) when its sleep ends.
    ///
    /// # Errors
    ///
    /// The [`CancelReason`] when the request is (or turns) cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchyard::{Request, Response};
    ///
    /// fn retry_later(req: &Request) -> Response {
    ///     match req.cancellation().sleep(Duration::from_millis(200)) {
    ///         Ok(()) => Response::text("waited"),
    ///         // Its deadline passed or its client left: nobody reads this.
    ///         Err(reason) => Response::text(format!("cancelled: {reason}")),
    ///     }
    /// }
    /// # let _ = retry_later;
    /// ```
    pub fn sleep(&self, duration: Duration) -> Result<(), CancelReason> {
        let until = Instant::now() + duration;
        let Some(watch) = &self.watch else {
            std::thread::sleep(duration);
            return Ok(());
        };
        let _asleep = Sleeper::enter(watch);
        loop {
            if let Some(reason) = watch.reason(self.call) {
                return Err(reason);
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            // Woken early by a cancellation (or spuriously): the loop looks again.
            std::thread::park_timeout(left);
        }
    }
}

/// A thread in [`Cancellation::sleep`], listed on its watch while it sleeps.
struct Sleeper<'a> {
    watch: &'a CallWatch,
}

impl<'a> Sleeper<'a> {
    fn enter(watch: &'a CallWatch) -> Self {
        lock(&watch.sleepers).push(std::thread::current());
        watch.sleeping.fetch_add(1, Ordering::SeqCst);
        // Pairs with `wake_sleepers`: either the canceller sees this thread listed, or this
        // thread sees the cancellation before it parks.
        atomic::fence(Ordering::SeqCst);
        Self { watch }
    }
}

impl Drop for Sleeper<'_> {
    fn drop(&mut self) {
        let me = std::thread::current().id();
        let mut sleepers = lock(&self.watch.sleepers);
        if let Some(at) = sleepers.iter().position(|thread| thread.id() == me) {
            sleepers.swap_remove(at);
        }
        self.watch.sleeping.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl fmt::Debug for Cancellation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancellation")
            .field("reason", &self.reason())
            .finish()
    }
}

// The state word: the call's number above `CALL_SHIFT`, its flags below.
const CALL_SHIFT: u32 = 8;
const FLAGS: u64 = (1 << CALL_SHIFT) - 1;
/// The handler runs (set by `begin`).
const RUNNING: u64 = 1;
/// The deadline passed while the handler ran.
const DEADLINE: u64 = 1 << 1;
/// The poller is writing the 503 itself.
const ANSWERING: u64 = 1 << 2;
/// The poller wrote the 503 (or failed to: either way nothing more may be written).
const ANSWERED: u64 = 1 << 3;
/// The handler returned.
const FINISHED: u64 = 1 << 4;

/// How a call ended; see [`CallWatch::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallEnd {
    /// In time: its response goes out.
    InTime,
    /// Past its deadline, unanswered: a 503 goes out in place of its response.
    TimedOut,
    /// Past its deadline, and the 503 was written from outside the turn: nothing more may
    /// be written on the connection.
    AnsweredLate,
}

/// A connection's watch over the request it is serving; see the module docs.
#[derive(Default)]
pub(crate) struct CallWatch {
    state: AtomicU64,
    /// The client hung up: every call from now on is cancelled.
    gone: AtomicBool,
    /// Threads in [`Cancellation::sleep`], woken when a call is cancelled; `sleeping`
    /// counts them, so that a cancellation with nobody asleep takes no lock.
    sleepers: Mutex<Vec<Thread>>,
    sleeping: AtomicUsize,
}

impl fmt::Debug for CallWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.load(Ordering::Acquire);
        f.debug_struct("CallWatch")
            .field("call", &(state >> CALL_SHIFT))
            .field("flags", &(state & FLAGS))
            .field("gone", &self.gone.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

impl CallWatch {
    /// A new connection takes the watch over: its client is there. (Call numbers go on
    /// counting, so a token of an earlier connection's call stays over.)
    pub(crate) fn new_connection(&self) {
        self.gone.store(false, Ordering::Release);
    }

    /// The connection closed: every call of it is over. Its handlers have all returned (a
    /// connection closes between turns), so no call is running.
    pub(crate) fn connection_closed(&self) {
        let call = self.state.load(Ordering::Acquire) >> CALL_SHIFT;
        self.state
            .store((call + 1) << CALL_SHIFT, Ordering::Release);
        self.wake_sleepers();
    }

    /// Starts the connection's next call; returns its number.
    pub(crate) fn begin(&self) -> u64 {
        let call = (self.state.load(Ordering::Acquire) >> CALL_SHIFT) + 1;
        self.state
            .store((call << CALL_SHIFT) | RUNNING, Ordering::Release);
        call
    }

    /// How many calls the connection's watch has begun, the current one included.
    pub(crate) fn calls(&self) -> u64 {
        self.state.load(Ordering::Acquire) >> CALL_SHIFT
    }

    /// Whether the client hung up.
    pub(crate) fn client_gone(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    /// The client hung up (its socket read-closed or failed): the call in flight and every
    /// later one is cancelled.
    pub(crate) fn hang_up(&self) {
        self.gone.store(true, Ordering::Release);
        self.wake_sleepers();
    }

    /// Wakes the threads in [`Cancellation::sleep`] (after a cancellation: they look why).
    fn wake_sleepers(&self) {
        atomic::fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) == 0 {
            return;
        }
        for thread in lock(&self.sleepers).iter() {
            thread.unpark();
        }
    }

    fn reason(&self, call: u64) -> Option<CancelReason> {
        let state = self.state.load(Ordering::Acquire);
        if state >> CALL_SHIFT != call {
            // A later call started: this one is long over.
            return Some(CancelReason::Finished);
        }
        if state & DEADLINE != 0 {
            Some(CancelReason::Deadline)
        } else if self.gone.load(Ordering::Acquire) {
            Some(CancelReason::ClientGone)
        } else {
            // Returned, its response still going out (a `Body::writer` may hold the
            // token): wanted until the connection moves on or closes.
            None
        }
    }

    /// The deadline of `call` passed (the poller): marks it timed out unless it finished.
    /// Returns whether it did; then, given the connection's `socket` (a plain connection
    /// with nothing of an earlier response still owed on it), writes `answer` on it.
    /// Whoever marks first decides: the handler's answer or this one, never both.
    pub(crate) fn time_out(&self, call: u64, socket: Option<&dyn Socket>, answer: &[u8]) -> bool {
        let mark = if socket.is_some() {
            DEADLINE | ANSWERING
        } else {
            DEADLINE
        };
        let running = (call << CALL_SHIFT) | RUNNING;
        if self
            .state
            .compare_exchange(running, running | mark, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        self.wake_sleepers();
        if let Some(socket) = socket {
            // Small enough for an empty socket buffer; whatever does not fit is lost with
            // the connection, which closes after it anyway.
            let _ = socket.write(answer);
            let _ = socket.shutdown(std::net::Shutdown::Write);
            self.state.fetch_or(ANSWERED, Ordering::AcqRel);
        }
        true
    }

    /// The handler of `call` returned: says how the call ends.
    pub(crate) fn finish(&self, call: u64) -> CallEnd {
        let mut state = self.state.fetch_or(FINISHED, Ordering::AcqRel);
        debug_assert_eq!(state >> CALL_SHIFT, call);
        // The poller is writing the 503 (a few microseconds): the connection is not to be
        // touched until it is done.
        let mut spins = 0;
        while state & ANSWERING != 0 && state & ANSWERED == 0 && spins < 100_000 {
            std::thread::yield_now();
            state = self.state.load(Ordering::Acquire);
            spins += 1;
        }
        if state & ANSWERING != 0 {
            CallEnd::AnsweredLate
        } else if state & DEADLINE != 0 {
            CallEnd::TimedOut
        } else {
            CallEnd::InTime
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemorySocket;

    #[test]
    fn a_call_in_time_is_cancelled_only_once_its_connection_moves_on() {
        let watch = Arc::new(CallWatch::default());
        let call = watch.begin();
        let token = Cancellation::of(Arc::clone(&watch), call);
        assert_eq!(token.reason(), None);
        assert_eq!(watch.finish(call), CallEnd::InTime);
        // Its response may still be going out (a body writer holding the token).
        assert_eq!(token.reason(), None);
        let next = watch.begin();
        assert_eq!(token.reason(), Some(CancelReason::Finished));
        watch.finish(next);
        let token = Cancellation::of(Arc::clone(&watch), next);
        watch.connection_closed();
        assert_eq!(token.reason(), Some(CancelReason::Finished));
    }

    #[test]
    fn a_deadline_answers_once_and_the_handler_s_answer_is_dropped() {
        let watch = Arc::new(CallWatch::default());
        let socket = MemorySocket::new(b"");
        let call = watch.begin();
        let token = Cancellation::of(Arc::clone(&watch), call);
        assert!(watch.time_out(call, Some(&socket), b"late"));
        assert!(!watch.time_out(call, Some(&socket), b"twice"));
        assert_eq!(token.reason(), Some(CancelReason::Deadline));
        assert_eq!(watch.finish(call), CallEnd::AnsweredLate);
        assert_eq!(socket.output(), b"late");
    }

    #[test]
    fn a_deadline_that_cannot_write_leaves_the_answer_to_the_worker() {
        let watch = CallWatch::default();
        let call = watch.begin();
        assert!(watch.time_out(call, None, b"late"));
        assert_eq!(watch.finish(call), CallEnd::TimedOut);
    }

    #[test]
    fn a_finished_call_is_not_timed_out_and_old_deadlines_are_stale() {
        let watch = CallWatch::default();
        let first = watch.begin();
        assert_eq!(watch.finish(first), CallEnd::InTime);
        assert!(!watch.time_out(first, None, b"late"));
        let second = watch.begin();
        assert!(!watch.time_out(first, None, b"late"));
        assert_eq!(watch.finish(second), CallEnd::InTime);
    }

    /// Bounds every wait of the sleep tests: a sleeper nobody wakes sleeps a minute.
    const WAIT: Duration = Duration::from_secs(10);

    /// A thread sleeping a minute on a token of `watch`'s current call; reports its result.
    fn sleeper(watch: &Arc<CallWatch>) -> std::sync::mpsc::Receiver<Result<(), CancelReason>> {
        let token = Cancellation::of(Arc::clone(watch), watch.calls());
        let (done, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(token.sleep(Duration::from_secs(60)));
        });
        let started = Instant::now();
        while watch.sleeping.load(Ordering::SeqCst) == 0 {
            assert!(started.elapsed() < WAIT, "the sleeper never went to sleep");
            std::thread::yield_now();
        }
        result
    }

    #[test]
    fn sleep_wakes_when_the_client_leaves_or_the_deadline_passes() {
        let watch = Arc::new(CallWatch::default());
        let call = watch.begin();
        let result = sleeper(&watch);
        watch.hang_up();
        assert_eq!(result.recv_timeout(WAIT), Ok(Err(CancelReason::ClientGone)));
        watch.finish(call);
        watch.connection_closed();

        watch.new_connection();
        let call = watch.begin();
        let result = sleeper(&watch);
        assert!(watch.time_out(call, None, b""));
        assert_eq!(result.recv_timeout(WAIT), Ok(Err(CancelReason::Deadline)));
        assert_eq!(
            watch.sleeping.load(Ordering::SeqCst),
            0,
            "a sleeper stayed listed"
        );
    }

    #[test]
    fn sleep_runs_its_time_when_wanted_and_not_at_all_when_cancelled() {
        let watch = Arc::new(CallWatch::default());
        let call = watch.begin();
        let token = Cancellation::of(Arc::clone(&watch), call);
        let started = Instant::now();
        assert_eq!(token.sleep(Duration::from_millis(20)), Ok(()));
        assert!(started.elapsed() >= Duration::from_millis(20));
        watch.hang_up();
        assert_eq!(
            token.sleep(Duration::from_secs(60)),
            Err(CancelReason::ClientGone)
        );
        assert_eq!(Cancellation::never().sleep(Duration::ZERO), Ok(()));
    }

    #[test]
    fn a_client_that_hung_up_cancels_this_call_and_the_next_until_a_new_connection() {
        let watch = Arc::new(CallWatch::default());
        let call = watch.begin();
        let token = Cancellation::of(Arc::clone(&watch), call);
        watch.hang_up();
        assert_eq!(token.reason(), Some(CancelReason::ClientGone));
        watch.finish(call);
        assert!(watch.client_gone());
        watch.connection_closed();
        watch.new_connection();
        assert!(!watch.client_gone());
        assert_eq!(token.reason(), Some(CancelReason::Finished));
        assert_eq!(Cancellation::never().reason(), None);
    }
}

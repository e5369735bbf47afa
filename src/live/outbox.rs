//! What a live connection's senders share with the connection: a bounded queue of outgoing
//! items, a close request, and how to wake the connection when there is something to send.
//!
//! Senders (any thread) push and, if the connection is not already due a turn, wake it;
//! the connection's turn (on a worker) takes what is queued and writes it. Nobody waits:
//! a full queue is the sender's error and ends the connection (a slow consumer), never a
//! blocked sender.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Wakes a live connection so that a worker gives it a turn.
pub(crate) trait Wake: Send + Sync {
    fn wake(&self);
}

/// Why an item was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The connection is closed or closing.
    Closed,
    /// The queue would exceed its bound: the connection is being closed (slow consumer).
    Full,
}

/// Items and their size in bytes, as the bound counts them.
pub(crate) trait Weighed {
    fn size(&self) -> usize;
}

/// See the module docs.
pub(crate) struct Outbox<T> {
    state: Mutex<State<T>>,
    limit_bytes: usize,
    id: u64,
}

struct State<T> {
    items: VecDeque<T>,
    bytes: usize,
    /// No more items are accepted (the connection closed, or is closing).
    closed: bool,
    /// Why the connection should close, as asked by a sender or by the bound.
    close_request: Option<CloseRequest>,
    /// A turn is due or running, or the connection cannot write: no wake is needed.
    wake_pending: bool,
    /// The connection is gone: nothing is queued any more.
    gone: bool,
    waker: Option<Arc<dyn Wake>>,
}

/// A close asked for from outside the connection's turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CloseRequest {
    /// By a sender, with a WebSocket close code and reason (ignored by event streams).
    Asked(u16, String),
    /// The queue overflowed: the client does not read fast enough.
    Overflow,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl<T: Weighed> Outbox<T> {
    /// An outbox holding at most `limit_bytes` (at least one item is always accepted).
    /// Until `set_waker`, pushes wake nobody: the connection's first turn takes them.
    pub(crate) fn new(limit_bytes: usize) -> Self {
        Self {
            state: Mutex::new(State {
                items: VecDeque::new(),
                bytes: 0,
                closed: false,
                close_request: None,
                wake_pending: true,
                gone: false,
                waker: None,
            }),
            limit_bytes,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// A number unique to this outbox in the process.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Queues `item`, waking the connection if needed.
    pub(crate) fn push(&self, item: T) -> Result<(), Refused> {
        let mut state = self.lock();
        if state.closed {
            return Err(Refused::Closed);
        }
        let size = item.size();
        if !state.items.is_empty() && state.bytes.saturating_add(size) > self.limit_bytes {
            state.closed = true;
            state.close_request = Some(CloseRequest::Overflow);
            state.items.clear();
            state.bytes = 0;
            wake(Self::due_wake(&mut state), state);
            return Err(Refused::Full);
        }
        state.bytes += size;
        state.items.push_back(item);
        wake(Self::due_wake(&mut state), state);
        Ok(())
    }

    /// Asks the connection to close; later pushes are refused. Returns false if it was
    /// closed or closing already.
    pub(crate) fn request_close(&self, request: CloseRequest) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        state.closed = true;
        state.close_request = Some(request);
        wake(Self::due_wake(&mut state), state);
        true
    }

    /// Whether pushes are refused.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Marks the connection gone: pushes are refused from now on, and what was queued is
    /// dropped.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.gone = true;
        state.items.clear();
        state.bytes = 0;
        state.waker = None;
    }

    /// Refuses pushes from now on (the connection is closing), dropping what is queued;
    /// a pending close request stays.
    pub(crate) fn close_for_senders(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.items.clear();
        state.bytes = 0;
    }

    /// Installs the waker once the connection is live. Its first turn follows, so no wake
    /// is pending yet.
    pub(crate) fn set_waker(&self, waker: Arc<dyn Wake>) {
        let mut state = self.lock();
        if !state.closed || state.close_request.is_some() {
            state.waker = Some(waker);
        }
    }

    /// A turn starts: senders need not wake the connection until it `settle`s (which
    /// looks again for what they queued meanwhile).
    pub(crate) fn begin_turn(&self) {
        self.lock().wake_pending = true;
    }

    /// Takes up to `max` queued items, and the close request once nothing queued before
    /// it is left (what was sent before a close goes out first).
    pub(crate) fn take(&self, max: usize) -> (Vec<T>, Option<CloseRequest>) {
        let mut state = self.lock();
        state.wake_pending = true;
        let count = max.min(state.items.len());
        let items: Vec<T> = state.items.drain(..count).collect();
        let taken: usize = items.iter().map(Weighed::size).sum();
        state.bytes -= taken.min(state.bytes);
        let close = if state.items.is_empty() {
            state.close_request.take()
        } else {
            None
        };
        (items, close)
    }

    /// Puts back what the socket could not take: items at the front, and the close request
    /// taken with them.
    pub(crate) fn put_back(
        &self,
        items: impl DoubleEndedIterator<Item = T>,
        close: Option<CloseRequest>,
    ) {
        let mut state = self.lock();
        if state.gone {
            return;
        }
        for item in items.rev() {
            state.bytes += item.size();
            state.items.push_front(item);
        }
        if close.is_some() {
            state.close_request = close;
        }
    }

    /// Ends the turn's interest: returns true if items arrived meanwhile (serve again);
    /// otherwise the next push wakes the connection. While `blocked` (the socket is full),
    /// pushes do not wake it: the socket's writability will.
    pub(crate) fn settle(&self, blocked: bool) -> bool {
        let mut state = self.lock();
        if !blocked && (!state.items.is_empty() || state.close_request.is_some()) {
            return true;
        }
        state.wake_pending = blocked;
        false
    }

    /// The waker to call, if a wake is due (called once the lock is released: waking
    /// takes the connection table's locks, and the table drops connections, and so
    /// outboxes, under its own).
    fn due_wake(state: &mut MutexGuard<'_, State<T>>) -> Option<Arc<dyn Wake>> {
        if state.wake_pending {
            return None;
        }
        state.wake_pending = true;
        state.waker.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn wake<G>(waker: Option<Arc<dyn Wake>>, guard: G) {
    drop(guard);
    if let Some(waker) = waker {
        waker.wake();
    }
}

impl<T> std::fmt::Debug for Outbox<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("id", &self.id)
            .field("limit_bytes", &self.limit_bytes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    impl Weighed for Vec<u8> {
        fn size(&self) -> usize {
            self.len()
        }
    }

    struct Count(Arc<AtomicUsize>);

    impl Wake for Count {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn outbox(limit: usize) -> (Outbox<Vec<u8>>, Arc<AtomicUsize>) {
        let outbox = Outbox::new(limit);
        let wakes = Arc::new(AtomicUsize::new(0));
        outbox.set_waker(Arc::new(Count(Arc::clone(&wakes))));
        // The connection's first turn has run and settled.
        assert!(!outbox.settle(false));
        (outbox, wakes)
    }

    #[test]
    fn a_burst_of_pushes_wakes_once_until_the_turn_settles() {
        let (outbox, wakes) = outbox(1024);
        for _ in 0..5 {
            outbox.push(vec![0; 10]).unwrap();
        }
        assert_eq!(wakes.load(Ordering::SeqCst), 1);
        let (items, close) = outbox.take(usize::MAX);
        assert_eq!((items.len(), close), (5, None));
        outbox.push(vec![1]).unwrap();
        // Pushed during the turn: the turn serves it rather than a new wake.
        assert!(outbox.settle(false));
        assert_eq!(outbox.take(usize::MAX).0.len(), 1);
        assert!(!outbox.settle(false));
        outbox.push(vec![2]).unwrap();
        assert_eq!(wakes.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn overflow_refuses_and_asks_to_close() {
        let (outbox, wakes) = outbox(16);
        outbox.push(vec![0; 10]).unwrap();
        assert_eq!(outbox.push(vec![0; 10]), Err(Refused::Full));
        assert_eq!(outbox.push(vec![0; 1]), Err(Refused::Closed));
        assert_eq!(wakes.load(Ordering::SeqCst), 1);
        let (items, close) = outbox.take(usize::MAX);
        assert!(items.is_empty());
        assert_eq!(close, Some(CloseRequest::Overflow));
    }

    #[test]
    fn one_item_larger_than_the_bound_is_accepted() {
        let (outbox, _) = outbox(4);
        outbox.push(vec![0; 100]).unwrap();
    }

    #[test]
    fn a_blocked_connection_is_not_woken_by_pushes() {
        let (outbox, wakes) = outbox(1024);
        outbox.push(vec![0]).unwrap();
        let (items, _) = outbox.take(usize::MAX);
        outbox.put_back(items.into_iter(), None);
        assert!(!outbox.settle(true));
        outbox.push(vec![1]).unwrap();
        assert_eq!(wakes.load(Ordering::SeqCst), 1);
        assert_eq!(outbox.take(usize::MAX).0, vec![vec![0], vec![1]]);
    }

    #[test]
    fn a_close_comes_after_what_was_queued_before_it() {
        let (outbox, _) = outbox(1024);
        for i in 0..3 {
            outbox.push(vec![i]).unwrap();
        }
        outbox.request_close(CloseRequest::Asked(1000, String::new()));
        assert_eq!(outbox.take(2), (vec![vec![0], vec![1]], None));
        let (items, close) = outbox.take(2);
        assert_eq!(items, vec![vec![2]]);
        assert!(close.is_some());
        // The socket took none of it: all of it comes back, close last.
        outbox.put_back(items.into_iter(), close);
        assert_eq!(outbox.take(8).0, vec![vec![2]]);
        outbox.close();
        outbox.put_back(vec![vec![9]].into_iter(), None);
        assert_eq!(outbox.take(8), (vec![], None));
    }

    #[test]
    fn closed_outboxes_refuse() {
        let (outbox, _) = outbox(1024);
        assert!(outbox.request_close(CloseRequest::Asked(1000, String::new())));
        assert!(!outbox.request_close(CloseRequest::Overflow));
        assert_eq!(outbox.push(vec![0]), Err(Refused::Closed));
        outbox.close();
        assert!(outbox.is_closed());
    }
}

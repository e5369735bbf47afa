//! Handler deadlines: the calls in flight that have one, and the poller's side of them.
//!
//! A worker registers a call as its handler starts and takes it back as it returns; the
//! poller looks at the registry on every loop and times out the calls whose deadline
//! passed (`CallWatch::time_out`: the request is cancelled, and on a plain connection the
//! 503 is written there and then). Only servers with a handler timeout use it: a short
//! lock as the handler starts (a push) and one as it returns (a swap-remove), no
//! allocation once warm.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::waker::PollerWaker;
use crate::cancel::CallWatch;
use crate::io::Socket;

/// What the poller writes to a client whose handler overran, on plain connections. (No
/// `Date`: RFC 9110 makes it optional on 5xx responses, and the bytes stay static.)
const LATE_ANSWER: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: text/plain; charset=utf-8\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 45\r\n\
\r\n\
The request took too long and was abandoned.\n";

/// [`LATE_ANSWER`]'s head alone, for a HEAD request.
const LATE_ANSWER_HEAD: &[u8] = LATE_ANSWER.split_at(LATE_ANSWER.len() - 45).0;

/// Where and what the poller may answer for a call that overran: a plain connection's
/// socket, with nothing of an earlier response owed on it.
pub(crate) struct PollerAnswer {
    socket: Arc<dyn Socket>,
    bytes: &'static [u8],
}

impl PollerAnswer {
    /// The 503 for a request, on `socket`; bodiless for a HEAD request.
    pub(crate) fn new(socket: Arc<dyn Socket>, is_head: bool) -> Self {
        let bytes = if is_head {
            LATE_ANSWER_HEAD
        } else {
            LATE_ANSWER
        };
        Self { socket, bytes }
    }
}

/// A call in flight with a deadline.
struct DueCall {
    at: Instant,
    watch: Arc<CallWatch>,
    call: u64,
    answer: Option<PollerAnswer>,
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct CallDeadlines {
    inner: Mutex<Registry>,
    /// Wakes the poller for a deadline earlier than any it knows of (`None` in tests).
    waker: Option<Arc<PollerWaker>>,
}

#[derive(Default)]
struct Registry {
    calls: Vec<DueCall>,
    /// The earliest deadline the poller knows of (`None`: it knows of none): a call due
    /// earlier must wake it.
    poller_knows: Option<Instant>,
}

impl CallDeadlines {
    pub(super) fn new(waker: Arc<PollerWaker>) -> Self {
        Self {
            inner: Mutex::default(),
            waker: Some(waker),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Registry> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `call` with its deadline, and wakes the poller if it may sleep past it.
    /// Returns whether it was woken.
    pub(crate) fn register(
        &self,
        watch: &Arc<CallWatch>,
        call: u64,
        at: Instant,
        answer: Option<PollerAnswer>,
    ) -> bool {
        let mut inner = self.inner();
        inner.calls.push(DueCall {
            at,
            watch: Arc::clone(watch),
            call,
            answer,
        });
        let wake = inner.poller_knows.is_none_or(|known| at < known);
        if wake {
            inner.poller_knows = Some(at);
            drop(inner);
            if let Some(waker) = &self.waker {
                waker.wake_if_sleeping();
            }
        }
        wake
    }

    /// Takes `call` back: its handler returned.
    pub(crate) fn unregister(&self, watch: &Arc<CallWatch>, call: u64) {
        let calls = &mut self.inner().calls;
        if let Some(at) = calls
            .iter()
            .position(|due| due.call == call && Arc::ptr_eq(&due.watch, watch))
        {
            calls.swap_remove(at);
        }
    }

    /// Times out the calls whose deadline is `now` or earlier (the poller). Returns how
    /// many it timed out (each is cancelled, and answered where the socket allows).
    pub(super) fn expire(&self, now: Instant) -> usize {
        let mut timed_out = 0;
        self.inner().calls.retain(|due| {
            if due.at > now {
                return true;
            }
            timed_out += usize::from(match &due.answer {
                Some(answer) => due
                    .watch
                    .time_out(due.call, Some(&*answer.socket), answer.bytes),
                None => due.watch.time_out(due.call, None, b""),
            });
            false
        });
        timed_out
    }

    /// The earliest deadline in flight: the poller sleeps no longer than that, and a call
    /// registered with an earlier one wakes it.
    pub(super) fn next(&self) -> Option<Instant> {
        let mut inner = self.inner();
        let next = inner.calls.iter().map(|due| due.at).min();
        inner.poller_knows = next;
        next
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cancel::{CancelReason, Cancellation};
    use crate::io::MemorySocket;

    #[test]
    fn a_due_call_is_cancelled_and_answered_and_an_unregistered_one_is_not() {
        let deadlines = CallDeadlines::default();
        let socket = Arc::new(MemorySocket::new(b""));
        let shared = || Some(PollerAnswer::new(socket.clone(), false));
        let watch = Arc::new(CallWatch::default());
        let now = Instant::now();
        assert_eq!(deadlines.next(), None);
        let call = watch.begin();
        assert!(deadlines.register(&watch, call, now + Duration::from_secs(1), shared()));
        assert_eq!(deadlines.next(), Some(now + Duration::from_secs(1)));
        // A later deadline needs no wake-up; an earlier one does.
        let other = Arc::new(CallWatch::default());
        let later = other.begin();
        assert!(!deadlines.register(&other, later, now + Duration::from_secs(2), None));
        deadlines.unregister(&other, later);
        assert!(deadlines.register(&other, later, now + Duration::from_millis(500), None));
        deadlines.unregister(&other, later);
        assert_eq!(deadlines.expire(now), 0);
        assert_eq!(deadlines.expire(now + Duration::from_secs(1)), 1);
        assert_eq!(
            Cancellation::of(Arc::clone(&watch), call).reason(),
            Some(CancelReason::Deadline)
        );
        assert!(socket.output().starts_with(b"HTTP/1.1 503"));
        assert_eq!(deadlines.next(), None);

        let call = watch.begin();
        deadlines.register(&watch, call, now, shared());
        deadlines.unregister(&watch, call);
        assert_eq!(deadlines.expire(now + Duration::from_secs(1)), 0);
    }

    #[test]
    fn the_late_answer_says_its_length_and_its_head_alone_is_for_head_requests() {
        let text = std::str::from_utf8(LATE_ANSWER).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert_eq!(LATE_ANSWER_HEAD, format!("{head}\r\n\r\n").as_bytes());
    }
}

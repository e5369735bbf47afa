//! How workers wake the poller thread, sparing the syscall while it is awake anyway.

use std::sync::atomic::{AtomicBool, Ordering, fence};

use mio::Waker;

/// The poller's `mio::Waker`, used only when the poller is asleep in `poll`: under load it
/// is awake anyway and picks up what workers hand it on its next turn.
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
        // Pairs with `going_to_sleep`: either the poller sees what was sent before it
        // sleeps, or this sees it sleeping.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            self.wake();
        }
    }

    /// Called by the poller before it checks for work and sleeps.
    pub(super) fn going_to_sleep(&self) {
        self.sleeping.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Called by the poller when `poll` returns.
    pub(super) fn awake(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
    }
}

//! One clock reading per request: within a turn, the moment one request is answered is the
//! moment the next one starts, so that reading serves the metrics' latency and the `Date`
//! header alike. Engine work that may block (copying a streamed response body from the
//! handler's reader, a blocking write) forgets the reading, so that the next use reads the
//! clock again.

use std::cell::Cell;
use std::time::Instant;

/// The latest reading of the monotonic clock in this turn.
#[derive(Debug, Default)]
pub(crate) struct TurnClock {
    latest: Cell<Option<Instant>>,
}

impl TurnClock {
    /// The latest reading, or a new one if there is none: at most a few non-blocking
    /// syscalls old (handlers read the clock when they are done; blocking engine work
    /// calls [`forget`](Self::forget)).
    pub(crate) fn latest(&self) -> Instant {
        match self.latest.get() {
            Some(now) => now,
            None => self.read(),
        }
    }

    /// Drops the reading, after work that may have taken a while.
    pub(crate) fn forget(&self) {
        self.latest.set(None);
    }

    /// Reads the clock, for the end of a request.
    pub(crate) fn read(&self) -> Instant {
        let now = Instant::now();
        self.latest.set(Some(now));
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_is_the_last_reading() {
        let clock = TurnClock::default();
        let first = clock.latest();
        assert_eq!(clock.latest(), first);
        let second = clock.read();
        assert!(second >= first);
        assert_eq!(clock.latest(), second);
        clock.forget();
        let third = clock.latest();
        assert!(third >= second);
        assert_eq!(clock.latest(), third);
    }
}

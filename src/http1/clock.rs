//! One clock reading per request: within a turn, the moment one request is answered is the
//! moment the next one starts, so that reading serves the metrics' latency, the `Date`
//! header and the next park's deadline alike.

use std::cell::Cell;
use std::time::Instant;

/// The latest reading of the monotonic clock in this turn.
#[derive(Debug, Default)]
pub(crate) struct TurnClock {
    latest: Cell<Option<Instant>>,
}

impl TurnClock {
    /// The latest reading, or a new one if the turn has none yet. A turn never waits (a
    /// streamed body's blocking reads happen inside a handler, which reads the clock when it
    /// is done), so the latest reading is at most a few syscalls old.
    pub(crate) fn latest(&self) -> Instant {
        match self.latest.get() {
            Some(now) => now,
            None => self.read(),
        }
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
    }
}

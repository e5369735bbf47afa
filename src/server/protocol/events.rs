//! An event stream's turn on a worker (Server-Sent Events): drop what the client sends,
//! write the events senders queued (as chunks, or close-delimited to HTTP/1.0) and a
//! keep-alive comment when it is due, then say when the connection needs its next turn.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{LiveCx, MAX_ROUNDS, TURN_BUDGET, earliest};
use crate::http1::encode_chunk;
use crate::io::{Discarded, MAX_DISCARD_BYTES, discard_input, write_pending};
use crate::limits::deadline_after;
use crate::live::EventsAccepted;
use crate::server::outcome::{Outcome, Wait};

/// An event stream: the response's chunks still to write, and the keep-alive timer.
pub(in crate::server) struct EventsConn {
    accepted: EventsAccepted,
    /// Bytes to write (the head first), and how much of them is written.
    pending: Vec<u8>,
    written: usize,
    chunked: bool,
    next_keep_alive: Option<Instant>,
    blocked_since: Option<Instant>,
    /// The last chunk is queued: close once it is written.
    ending: bool,
}

impl EventsConn {
    pub(super) fn new(accepted: EventsAccepted, head: Vec<u8>, chunked: bool) -> Self {
        let now = Instant::now();
        let next_keep_alive = accepted.keep_alive.map(|every| deadline_after(now, every));
        Self {
            accepted,
            pending: head,
            written: 0,
            chunked,
            next_keep_alive,
            blocked_since: None,
            ending: false,
        }
    }

    /// The outbox senders wake the connection through.
    pub(super) fn set_waker(&self, waker: Arc<dyn crate::live::outbox::Wake>) {
        self.accepted.outbox.set_waker(waker);
    }

    /// Whether it already knows the server is shutting down (its end is queued).
    pub(super) fn told_to_go(&self) -> bool {
        self.ending
    }

    pub(super) fn turn<S: Read + Write>(
        &mut self,
        io: &mut S,
        now: Instant,
        cx: &LiveCx<'_>,
    ) -> Outcome {
        let outbox = Arc::clone(&self.accepted.outbox);
        outbox.begin_turn();
        // The client sends nothing on an event stream: what it sends is dropped (up to a
        // bound: more is abuse), and its end of the connection means it left.
        if discard_input(|buf| io.read(buf), MAX_DISCARD_BYTES) != Discarded::Drained {
            return Outcome::Close;
        }
        let mut rounds = 0;
        loop {
            rounds += 1;
            let mut sent_any = false;
            if self.written == self.pending.len() && !self.ending {
                self.pending.clear();
                self.written = 0;
                let (events, close) = outbox.take(TURN_BUDGET);
                sent_any = !events.is_empty();
                for event in events {
                    self.append(&event);
                }
                if close.is_some() {
                    self.end_stream();
                }
            }
            if cx.draining && !self.ending {
                cx.closed_by_shutdown.fetch_add(1, Ordering::Relaxed);
                self.end_stream();
            }
            if let Some(at) = self.next_keep_alive {
                if sent_any {
                    self.next_keep_alive = self
                        .accepted
                        .keep_alive
                        .map(|every| deadline_after(now, every));
                } else if now >= at && self.pending.len() == self.written && !self.ending {
                    self.append(b":\n\n");
                    self.next_keep_alive = self
                        .accepted
                        .keep_alive
                        .map(|every| deadline_after(now, every));
                }
            }
            let blocked = match write_pending(io, &self.pending, &mut self.written) {
                Ok(all) => !all,
                Err(_) => return Outcome::Close,
            };
            if blocked {
                let since = *self.blocked_since.get_or_insert(now);
                let until = deadline_after(since, cx.write_timeout);
                if now >= until {
                    return Outcome::Close;
                }
                outbox.settle(true);
                return Outcome::Park {
                    wait: Wait::LiveBlocked,
                    until,
                };
            }
            self.blocked_since = None;
            if self.ending {
                return Outcome::Close;
            }
            if outbox.settle(false) {
                if rounds < MAX_ROUNDS {
                    continue;
                }
                return Outcome::Yield;
            }
            return Outcome::Park {
                wait: Wait::Live,
                until: earliest([self.next_keep_alive], now),
            };
        }
    }

    fn append(&mut self, event: &[u8]) {
        if self.chunked {
            encode_chunk(&mut self.pending, event);
        } else {
            self.pending.extend_from_slice(event);
        }
    }

    /// Queues the end of the response; the connection closes once it is written.
    fn end_stream(&mut self) {
        self.ending = true;
        self.accepted.outbox.close_for_senders();
        if self.chunked {
            self.pending.extend_from_slice(b"0\r\n\r\n");
        }
    }
}

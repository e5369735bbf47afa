//! An event stream (Server-Sent Events) on an HTTP/2 stream: what senders queue goes out as
//! DATA as the stream's window allows, a keep-alive comment when one is due, and the stream
//! ends when the senders close it or the server shuts down; a client that resets it closes
//! it for its senders.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, SendStream};

use super::respond::prepare_headers;
use super::{Progress, StreamState};
use crate::body::Body;
use crate::limits::deadline_after;
use crate::live::EventsAccepted;
use crate::live::outbox::Wake;
use crate::server::Shared;

/// Events taken from the outbox per look.
const EVENTS_PER_LOOK: usize = 64;

/// An event stream under way.
pub(super) struct EventsOut {
    send: SendStream<Bytes>,
    accepted: Box<EventsAccepted>,
    /// Taken from the outbox, not yet sent.
    pending: Bytes,
    next_keep_alive: Option<Instant>,
    /// The end is queued: send what is pending, then end the stream.
    ending: bool,
    /// When the last byte went out (a window that never opens is a write timeout).
    progressed: Instant,
}

/// Sends the head of an event stream's response; its senders wake the connection through
/// `waker` from now on.
pub(super) fn start_events(
    mut respond: SendResponse<Bytes>,
    response: http::Response<Body>,
    accepted: Box<EventsAccepted>,
    waker: Arc<dyn Wake>,
) -> StreamState {
    let (mut parts, _) = response.into_parts();
    prepare_headers(&mut parts.headers, parts.status, None);
    let Ok(send) = respond.send_response(http::Response::from_parts(parts, ()), false) else {
        return StreamState::Done;
    };
    accepted.outbox.set_waker(waker);
    let now = Instant::now();
    StreamState::Events(Box::new(EventsOut {
        send,
        next_keep_alive: accepted.keep_alive.map(|every| deadline_after(now, every)),
        accepted,
        pending: Bytes::new(),
        ending: false,
        progressed: now,
    }))
}

impl EventsOut {
    /// When it needs a turn of its own: its next keep-alive, or the write timeout of what
    /// waits for the window.
    pub(super) fn next_timer(&self, shared: &Shared) -> Option<Instant> {
        let blocked = (!self.pending.is_empty())
            .then(|| deadline_after(self.progressed, shared.limits.write_timeout));
        [self.next_keep_alive, blocked].into_iter().flatten().min()
    }

    /// Sends what is queued, as far as the window allows.
    pub(super) fn drive(
        mut self: Box<Self>,
        now: Instant,
        shared: &Shared,
        task: &mut Context<'_>,
        progress: &mut Progress,
    ) -> StreamState {
        let outbox = Arc::clone(&self.accepted.outbox);
        outbox.begin_turn();
        if self.send.poll_reset(task).is_ready() {
            shared.counters.http2_reset();
            return StreamState::Done;
        }
        loop {
            if self.pending.is_empty() {
                if self.ending {
                    let _ = self.send.send_data(Bytes::new(), true);
                    return StreamState::Done;
                }
                self.take_queued(now, shared);
                if self.pending.is_empty() && !self.ending {
                    if outbox.settle(false) {
                        continue;
                    }
                    return StreamState::Events(self);
                }
                continue;
            }
            self.send.reserve_capacity(self.pending.len());
            match self.send.poll_capacity(task) {
                Poll::Ready(Some(Ok(capacity))) if capacity > 0 => {
                    let chunk = self.pending.split_to(capacity.min(self.pending.len()));
                    if self.send.send_data(chunk, false).is_err() {
                        return StreamState::Done;
                    }
                    self.progressed = now;
                    progress.made();
                }
                Poll::Ready(Some(Ok(_))) | Poll::Pending => {
                    if now >= deadline_after(self.progressed, shared.limits.write_timeout) {
                        self.send.send_reset(Reason::CANCEL);
                        return StreamState::Done;
                    }
                    // The window's opening wakes the connection, not the senders.
                    outbox.settle(true);
                    return StreamState::Events(self);
                }
                Poll::Ready(Some(Err(_)) | None) => {
                    shared.counters.http2_reset();
                    return StreamState::Done;
                }
            }
        }
    }

    /// Takes what senders queued (and the end, if they closed the stream or the server
    /// shuts down), or a keep-alive comment when one is due.
    fn take_queued(&mut self, now: Instant, shared: &Shared) {
        let (events, close) = self.accepted.outbox.take(EVENTS_PER_LOOK);
        if !events.is_empty() {
            let mut bytes = Vec::with_capacity(events.iter().map(Bytes::len).sum());
            for event in &events {
                bytes.extend_from_slice(event);
            }
            self.pending = Bytes::from(bytes);
            self.next_keep_alive = self.keep_alive_after(now);
        } else if self.next_keep_alive.is_some_and(|at| now >= at) {
            self.pending = Bytes::from_static(b":\n\n");
            self.next_keep_alive = self.keep_alive_after(now);
        }
        if close.is_some() {
            self.end();
        }
        if shared.draining.load(Ordering::Acquire) && !self.ending {
            shared
                .live_closed_by_shutdown
                .fetch_add(1, Ordering::Relaxed);
            self.end();
        }
    }

    fn keep_alive_after(&self, now: Instant) -> Option<Instant> {
        self.accepted
            .keep_alive
            .map(|every| deadline_after(now, every))
    }

    fn end(&mut self) {
        self.ending = true;
        self.accepted.outbox.close_for_senders();
    }
}

//! One connection's turn on a worker: serve what has arrived, within a budget, and never
//! wait for the client.
//!
//! ```text
//!   owed output? ── flush; socket full ─────────────────────────────► Wait(Writable)
//!        │
//!   request in progress? (body being gathered, or moved here from another pool)
//!        │
//!   ┌──► parse head ─── error ──► 4xx/5xx, close ────────────────────► Close
//!   │        │ incomplete: read more; nothing more ──────────────────► Wait(NextRequest | RestOfHead)
//!   │        ▼ complete
//!   │    route (pool, body mode), 413 check
//!   │        ▼
//!   │    gather the body (to a spool file when long): read more;
//!   │      nothing more ─────────────────────────────────────────────► Wait(Body)
//!   │      4 MiB taken this turn ────────────────────────────────────► Yield
//!   │        ▼ (a request for another pool ──────────────────────────► Reroute)
//!   │    call the service
//!   │        ▼ (a response that switches protocols ──────────────────► Upgrade)
//!   └── write the response: buffered, one write per batch; a full socket ► Wait(Writable)
//!       (budget spent with input left ───────────────────────────────► Yield)
//! ```
//!
//! Everything a connection needs between turns (unread input, a request whose body is still
//! arriving, output the socket could not take yet) lives in its [`ConnState`], so the worker
//! leaves as soon as the client is the one to wait for. The one exception is a body streamed
//! to its handler ([`BodyStream`]), which the handler reads with blocking reads on its
//! worker.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use http::{Method, request::Parts};

use super::encode;
use super::output::{Encoded, Output};
use super::parse::{BodyFraming, RequestHead, parse_head};
use super::read_buf::ReadBuf;
use super::request_body::{BodyStream, BufferedBody, CONTINUE};
use super::service::{Decision, Reply, RouteTag, Service};
use super::state::{
    AfterOutput, AfterTurn, ConnState, OwedOutput, PendingBody, PendingRequest, Upgraded, WaitFor,
};
use super::{Limits, TurnClock};
use crate::body::RequestBody;
use crate::error::ParseError;
use crate::head::RawHead;
use crate::io::{MAX_DISCARD_BYTES, Stream, discard_input};
use crate::limits::deadline_after;
use crate::spool::{ByteBudget, Spool};

/// Requests served in one turn before the connection goes to the back of the queue, so a
/// client that pipelines without pause cannot keep a worker (hyper uses the same budget).
pub(crate) const TURN_BUDGET: usize = 16;
/// Body bytes one turn takes in before the connection goes to the back of the queue, so that
/// a fast upload of gigabytes shares its worker with the other connections.
const TURN_BODY_BYTES: u64 = 4 * 1024 * 1024;
/// Buffered responses are written once they reach this size, even mid-batch.
const FLUSH_THRESHOLD_BYTES: usize = 64 * 1024;

/// What the engine needs besides the stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnConfig<'a> {
    pub(crate) limits: &'a Limits,
    /// Set while the server shuts down: finish the current request, then close.
    pub(crate) draining: &'a AtomicBool,
    /// The pool this turn runs on; a request for another ends the turn.
    pub(crate) tag: RouteTag,
    /// What parked connections' bodies may hold together in memory.
    pub(crate) body_budget: &'a Arc<ByteBudget>,
    /// Where long bodies go as they arrive.
    pub(crate) spool: &'a Spool,
    /// This turn's clock, shared with the service (which reads it as each request ends).
    pub(crate) clock: &'a TurnClock,
    /// The client closed its side (the poller saw its end as the connection became ready,
    /// or while it was busy): the end waits behind whatever data is left, so a read that
    /// comes back short does not mean the socket is empty. The turn reads until it sees
    /// the end.
    pub(crate) client_closed: bool,
}

/// How one step of the turn ended the turn.
enum Stop {
    NextRequest,
    RestOfHead,
    Body(Instant),
    Writable,
    Yield,
    Reroute(RouteTag),
    Upgrade,
    Close,
}

/// How far [`Conn::gather`] got with a body.
enum Gathered {
    Complete,
    /// The rest must be waited for, until this deadline.
    Wait(Instant),
    /// More has arrived, but this turn took its share: the connection goes to the back of
    /// the queue.
    Yield,
}

/// Why a request ended the connection early.
enum Abort {
    /// Answer with this error's status, then close.
    Reject(ParseError),
    /// Close without answering (the peer is gone, or a response is half written).
    Close,
    /// The client stopped sending mid-request: write what earlier requests are owed, then
    /// close.
    Ended,
}

impl From<std::io::Error> for Abort {
    fn from(_: std::io::Error) -> Self {
        Abort::Close
    }
}

/// A connection's turn on a worker; see the module docs.
pub(crate) struct Conn<'a, S: Stream, F: Service> {
    io: &'a mut S,
    buf: &'a mut ReadBuf,
    output: Output<'a>,
    state: &'a mut ConnState<F::Plan, F::Upgrade>,
    config: ConnConfig<'a>,
    service: &'a F,
    /// The stream was switched to blocking mode (only for a streamed request body).
    blocking: bool,
    /// The last read returned less than it could take, so the socket had nothing more at
    /// that moment and the poller will hear of any data that arrives later. (An end of
    /// the stream queued behind that data sends no event of its own: a turn whose client
    /// had closed when it became ready never counts a short read as drained, see
    /// [`ConnConfig::client_closed`].)
    drained: bool,
    /// The response just encoded switched protocols (and whether a streamed switch is
    /// chunked): nothing more is served as HTTP.
    upgrade: Option<(F::Upgrade, bool)>,
}

impl<'a, S: Stream, F: Service> Conn<'a, S, F> {
    /// The stream must be in non-blocking mode. `out` is the worker's output buffer.
    pub(crate) fn new(
        io: &'a mut S,
        buf: &'a mut ReadBuf,
        out: &'a mut Vec<u8>,
        state: &'a mut ConnState<F::Plan, F::Upgrade>,
        config: ConnConfig<'a>,
        service: &'a F,
    ) -> Self {
        Self {
            io,
            buf,
            output: Output {
                bytes: out,
                body: None,
                after: AfterOutput::Continue,
            },
            state,
            config,
            service,
            blocking: false,
            drained: false,
            upgrade: None,
        }
    }

    /// Serves what the connection has ready; see the module docs.
    pub(crate) fn serve(mut self) -> AfterTurn {
        self.buf.load(&self.state.leftover);
        // The worker's buffer may hold what a connection that closed failed to write.
        self.output.bytes.clear();
        if let Some(owed) = self.state.output.take() {
            if owed.body.is_some() && owed.tag != self.config.tag {
                // The rest of the body is read from the handler's stream: on its own pool.
                let tag = owed.tag;
                self.state.output = Some(owed);
                return AfterTurn::Reroute { tag };
            }
            let OwedOutput {
                bytes,
                body,
                after,
                tag: _,
            } = *owed;
            self.output.bytes.extend_from_slice(&bytes);
            self.output.body = body;
            self.output.after = after;
        }
        let stop = self.serve_available();
        if self.blocking && self.io.set_blocking(None).is_err() {
            return AfterTurn::Close;
        }
        self.state.leftover = self.buf.take();
        if let Stop::Upgrade = stop {
            let Some((upgrade, chunked)) = self.upgrade.take() else {
                return AfterTurn::Close;
            };
            self.state.upgraded = Some(Box::new(Upgraded {
                upgrade,
                leftover: std::mem::take(&mut self.state.leftover),
                unwritten: self.output.bytes.as_slice().to_vec(),
                chunked,
            }));
            self.output.bytes.clear();
            return AfterTurn::Upgrade;
        }
        // Read afresh: the turn may have copied a slow streamed body since the last
        // request's end.
        let now = Instant::now();
        let limits = self.config.limits;
        let (wait_for, until) = match stop {
            Stop::Close | Stop::Upgrade => return AfterTurn::Close,
            Stop::Yield => return self.owe_output(AfterTurn::Yield),
            Stop::Reroute(tag) => return self.owe_output(AfterTurn::Reroute { tag }),
            Stop::NextRequest => (
                WaitFor::NextRequest,
                deadline_after(now, limits.keep_alive_timeout),
            ),
            Stop::RestOfHead => {
                let started = *self.state.head_started.get_or_insert(now);
                (
                    WaitFor::RestOfHead,
                    deadline_after(started, limits.header_read_timeout),
                )
            }
            Stop::Body(deadline) => (WaitFor::Body, deadline),
            Stop::Writable => (WaitFor::Writable, deadline_after(now, limits.write_timeout)),
        };
        if wait_for != WaitFor::RestOfHead {
            self.state.head_started = None;
        }
        self.owe_output(AfterTurn::Wait { wait_for, until })
    }

    /// Whether a read that left `filled_space` says the socket is empty (see
    /// [`Self::drained`]).
    fn emptied_by(&self, filled_space: bool) -> bool {
        !filled_space && !self.config.client_closed
    }

    /// Keeps output the socket has not taken for the next turn.
    fn owe_output(&mut self, next: AfterTurn) -> AfterTurn {
        if self.output.is_pending() {
            // A copy: the worker keeps its (larger) buffer for the next connection.
            self.state.output = Some(Box::new(OwedOutput {
                bytes: self.output.bytes.as_slice().to_vec(),
                body: self.output.body.take(),
                after: self.output.after,
                tag: self.config.tag,
            }));
        }
        self.output.bytes.clear();
        next
    }

    fn serve_available(&mut self) -> Stop {
        // Output owed from an earlier turn goes first; until it is out, nothing new is read
        // (back-pressure on a client that does not read its responses).
        if self.output.is_pending() {
            if let Some(stop) = self.settle_output() {
                return stop;
            }
        }
        let mut served = 0;
        if let Some(request) = self.state.request.take() {
            match self.advance(*request) {
                Ok(None) => served += 1,
                Ok(Some(stop)) => return stop,
                Err(abort) => return self.abort(abort),
            }
            if let Some(stop) = self.after_response() {
                return stop;
            }
        }
        loop {
            if served >= TURN_BUDGET && (!self.buf.filled().is_empty() || !self.drained) {
                return self.finish(Stop::Yield);
            }
            let parsed = match parse_head(self.buf.filled(), self.config.limits) {
                Ok(parsed) => parsed,
                Err(error) => return self.reject(error),
            };
            if let Some((head, len)) = parsed {
                self.buf.consume(len);
                // The header-read timeout of the next head counts from its own first byte.
                self.state.head_started = None;
                let (decision, plan) = self.service.decide(&head.parts, head.target());
                let bodiless = head.framing == BodyFraming::Length(0) && !head.expectation_failed;
                if bodiless && decision.tag == self.config.tag {
                    self.serve_bodiless(head.parts, head.raw_head, head.keep_alive, plan);
                    served += 1;
                    if let Some(stop) = self.after_response() {
                        return stop;
                    }
                    continue;
                }
                let request = self.start(head, decision, plan);
                match self.advance(request) {
                    Ok(None) => served += 1,
                    Ok(Some(stop)) => return stop,
                    Err(abort) => return self.abort(abort),
                }
                if let Some(stop) = self.after_response() {
                    return stop;
                }
                continue;
            }
            // No complete head: read more, or park.
            let wait = if self.buf.filled().is_empty() {
                Stop::NextRequest
            } else {
                Stop::RestOfHead
            };
            if self.drained {
                return self.finish(wait);
            }
            match self.buf.read_from(self.io) {
                Ok((0, _)) => {
                    self.output.after = AfterOutput::Close;
                    return self.finish(Stop::Close);
                }
                Ok((_, filled_space)) => self.drained = self.emptied_by(filled_space),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return self.finish(wait),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Stop::Close,
            }
        }
    }

    /// After a response was encoded: writes it now if it is large, streamed or the last one.
    fn after_response(&mut self) -> Option<Stop> {
        if self.upgrade.is_some() {
            // The new protocol writes the output (the 101 or the stream's head) first.
            return Some(Stop::Upgrade);
        }
        let must_write = self.output.body.is_some()
            || self.output.after != AfterOutput::Continue
            || self.output.bytes.len() >= FLUSH_THRESHOLD_BYTES;
        if must_write {
            self.settle_output()
        } else {
            None
        }
    }

    /// Writes the owed output. `Some`: the turn ends (the socket is full, or the connection
    /// closes after it); `None`: all written, serve on.
    fn settle_output(&mut self) -> Option<Stop> {
        self.service.before_write();
        match self
            .output
            .write(self.io, self.config.clock, &mut self.state.cut_short)
        {
            Ok(true) => {}
            Ok(false) => return Some(Stop::Writable),
            Err(_) => return Some(Stop::Close),
        }
        match self.output.after {
            AfterOutput::Continue => None,
            AfterOutput::Close => Some(Stop::Close),
            AfterOutput::DiscardAndClose => {
                discard_input(|buf| self.io.read(buf), MAX_DISCARD_BYTES);
                Some(Stop::Close)
            }
        }
    }

    /// Ends the turn with `stop` once the output is written (or parks for writability).
    fn finish(&mut self, stop: Stop) -> Stop {
        self.settle_output().unwrap_or(stop)
    }

    fn abort(&mut self, abort: Abort) -> Stop {
        match abort {
            Abort::Reject(error) => self.reject(error),
            Abort::Close => Stop::Close,
            Abort::Ended => {
                self.output.after = AfterOutput::Close;
                self.finish(Stop::Close)
            }
        }
    }

    /// Answers a request that never reaches the service, then closes.
    fn reject(&mut self, error: ParseError) -> Stop {
        self.service.rejected(&error);
        if error != ParseError::Incomplete {
            encode::write_rejection(self.output.bytes, error.status(), &[], true);
        }
        self.output.after = AfterOutput::DiscardAndClose;
        self.finish(Stop::Close)
    }

    /// Turns a parsed head into a request in progress: where it runs, how its body is read,
    /// or why it is refused before its body is read.
    fn start(
        &mut self,
        head: RequestHead,
        decision: Decision,
        plan: F::Plan,
    ) -> PendingRequest<F::Plan> {
        let RequestHead {
            parts,
            raw_head,
            framing,
            keep_alive,
            expect_continue,
            expectation_failed,
        } = head;
        let streamed_limit = match framing {
            BodyFraming::Length(0) => None,
            _ => decision.streamed_body_limit,
        };
        let limit = streamed_limit
            .or(decision.max_body_bytes)
            .unwrap_or(self.config.limits.max_body_bytes);
        let refusal = match framing {
            // RFC 9110 §10.1.1: an expectation the server cannot meet is 417.
            _ if expectation_failed => Some(ParseError::ExpectationFailed),
            // RFC 9110 §15.5.14: refuse an announced body that is too large before reading
            // it (and without a `100 Continue`).
            BodyFraming::Length(len) if len > limit => Some(ParseError::BodyTooLarge { limit }),
            _ => None,
        };
        let body = match streamed_limit {
            Some(limit) => PendingBody::Streamed {
                framing,
                expect_continue,
                limit,
            },
            None => PendingBody::Buffered(BufferedBody::new(framing, limit, expect_continue)),
        };
        PendingRequest {
            parts,
            raw_head,
            keep_alive,
            decision,
            plan,
            body,
            refusal,
        }
    }

    /// Moves a request on: gathers its body, then serves it (or answers its refusal) here,
    /// or hands it to its own pool. `Ok(None)`: it was served; `Ok(Some(stop))`: the turn
    /// ends.
    fn advance(&mut self, mut request: PendingRequest<F::Plan>) -> Result<Option<Stop>, Abort> {
        if let (None, PendingBody::Buffered(body)) = (&request.refusal, &mut request.body) {
            match self.gather(body) {
                Ok(Gathered::Complete) => {}
                Ok(Gathered::Wait(deadline)) => {
                    self.state.request = Some(Box::new(request));
                    return Ok(Some(self.finish(Stop::Body(deadline))));
                }
                Ok(Gathered::Yield) => {
                    // It waits in the queue as it would parked: memory accounted, spooled
                    // bytes written out.
                    if let Err(error) = body.park(self.config.body_budget, self.config.spool) {
                        request.refusal = Some(error);
                    } else {
                        self.state.request = Some(Box::new(request));
                        return Ok(Some(self.finish(Stop::Yield)));
                    }
                }
                Err(Abort::Reject(error)) => request.refusal = Some(error),
                Err(abort) => return Err(abort),
            }
        }
        if request.decision.tag != self.config.tag {
            let tag = request.decision.tag;
            self.state.request = Some(Box::new(request));
            return Ok(Some(self.finish(Stop::Reroute(tag))));
        }
        if let Some(error) = request.refusal.take() {
            self.refuse(request, &error);
            return Ok(Some(self.finish(Stop::Close)));
        }
        self.serve_request(request)?;
        Ok(None)
    }

    /// Answers a refused request through the service, then closes (what the client sent
    /// of its body is dropped first, so that the close does not reset the answer).
    fn refuse(&mut self, request: PendingRequest<F::Plan>, error: &ParseError) {
        let PendingRequest {
            parts,
            raw_head,
            plan,
            ..
        } = request;
        let (is_head, version) = (parts.method == Method::HEAD, parts.version);
        let reply = self.service.refuse(parts, raw_head, plan, error);
        let reply = Reply {
            switch: None,
            ..reply
        };
        self.respond(reply, is_head, version, false);
        self.output.after = AfterOutput::DiscardAndClose;
    }

    /// Takes what has arrived of a body, up to [`TURN_BODY_BYTES`].
    fn gather(&mut self, body: &mut BufferedBody) -> Result<Gathered, Abort> {
        let turn_limit = body.received().saturating_add(TURN_BODY_BYTES);
        loop {
            let used = body
                .absorb(self.buf.filled(), self.config.spool)
                .map_err(Abort::Reject)?;
            self.buf.consume(used);
            if body.is_complete() {
                return Ok(Gathered::Complete);
            }
            if body.received() >= turn_limit {
                return Ok(Gathered::Yield);
            }
            if !self.drained && self.buf.filled().is_empty() {
                match body.read_direct(self.io, turn_limit.saturating_sub(body.received())) {
                    None => {}
                    // `absorb` takes it from there (a spooled piece goes to its file).
                    Some(Ok(true)) => continue,
                    Some(Ok(false)) => return Err(Abort::Ended),
                    Some(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        self.drained = true;
                    }
                    Some(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Some(Err(_)) => return Err(Abort::Close),
                }
            }
            if !self.drained {
                match self.buf.read_from(self.io) {
                    // The client left in the middle of its body: nobody to answer for this
                    // request, but earlier ones still get their responses.
                    Ok((0, _)) => return Err(Abort::Ended),
                    Ok((_, filled_space)) => {
                        self.drained = self.emptied_by(filled_space);
                        continue;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => self.drained = true,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => return Err(Abort::Close),
                }
            }
            let now = Instant::now();
            let limits = self.config.limits;
            let deadline = body.deadline(now, limits.body_read_timeout, limits.min_body_rate);
            if deadline <= now {
                return Err(Abort::Reject(ParseError::Timeout));
            }
            body.park(self.config.body_budget, self.config.spool)
                .map_err(Abort::Reject)?;
            // Only once the body will be waited for: a refused one gets no `100 Continue`.
            if body.take_continue_owed() {
                self.output.bytes.extend_from_slice(CONTINUE);
            }
            return Ok(Gathered::Wait(deadline));
        }
    }

    /// Calls the service and encodes its response.
    fn serve_request(&mut self, request: PendingRequest<F::Plan>) -> Result<(), Abort> {
        let PendingRequest {
            parts,
            raw_head,
            keep_alive,
            plan,
            body,
            ..
        } = request;
        let (is_head, version) = (parts.method == Method::HEAD, parts.version);
        let (reply, body_complete) = match body {
            PendingBody::Buffered(body) => {
                let settled = self.settle_before_call(&plan);
                let reply = self
                    .service
                    .call(parts, raw_head, body.into_body(), plan, settled);
                (reply, true)
            }
            PendingBody::Streamed {
                framing,
                expect_continue,
                limit,
            } => self.call_streaming(parts, raw_head, plan, framing, expect_continue, limit)?,
        };
        // A body the handler did not read to its end leaves the connection unusable.
        self.respond(reply, is_head, version, keep_alive && body_complete);
        Ok(())
    }

    /// Serves a request without a body on this turn's pool: the common case, with no
    /// request state to keep.
    fn serve_bodiless(&mut self, parts: Parts, raw_head: RawHead, keep_alive: bool, plan: F::Plan) {
        let (is_head, version) = (parts.method == Method::HEAD, parts.version);
        let settled = self.settle_before_call(&plan);
        let body = RequestBody::Full(Vec::new());
        let reply = self.service.call(parts, raw_head, body, plan, settled);
        self.respond(reply, is_head, version, keep_alive);
    }

    /// Whether nothing of an earlier response is still owed; when the service may answer
    /// from outside the turn, what is owed is written first (as far as the socket takes
    /// it), so that such an answer cannot overtake it.
    fn settle_before_call(&mut self, plan: &F::Plan) -> bool {
        if self.output.is_pending() && self.service.answers_late(plan) {
            self.service.before_write();
            let written = self
                .output
                .write(self.io, self.config.clock, &mut self.state.cut_short);
            if written.is_err() {
                return false;
            }
        }
        !self.output.is_pending()
    }

    /// Encodes the service's reply, closing after it if the handler, the client or a
    /// draining server says so.
    fn respond(
        &mut self,
        reply: Reply<F::Upgrade>,
        is_head: bool,
        version: http::Version,
        keep_alive: bool,
    ) {
        if reply.is_answered_elsewhere() {
            // Read what the client sent on before closing: unread input would turn the
            // close into a reset, which may destroy the answer before the client reads it.
            self.output.after = AfterOutput::DiscardAndClose;
            return;
        }
        // A scan of the few fields a response has is cheaper than hashing a name.
        let handler_closes = reply.response.headers().iter().any(|(name, value)| {
            name == http::header::CONNECTION && value.as_bytes().eq_ignore_ascii_case(b"close")
        });
        let keep_alive =
            keep_alive && !handler_closes && !self.config.draining.load(Ordering::Acquire);
        let clock = self.config.clock;
        if let Encoded::Switched { upgrade, chunked } = self
            .output
            .encode(reply, is_head, version, keep_alive, clock)
        {
            self.upgrade = Some((upgrade, chunked));
        }
    }

    /// Calls the service with a body it reads itself, straight from the connection (with
    /// blocking reads on this worker). Returns the reply and whether the body was read to
    /// its end.
    fn call_streaming(
        &mut self,
        parts: Parts,
        raw_head: RawHead,
        plan: F::Plan,
        framing: BodyFraming,
        expect_continue: bool,
        limit: u64,
    ) -> Result<(Reply<F::Upgrade>, bool), Abort> {
        let Ok(io) = self.io.try_clone_boxed() else {
            // No second handle (an in-memory stream): gather the body first after all.
            let mut body = BufferedBody::new(framing, limit, false);
            loop {
                match self.gather(&mut body)? {
                    Gathered::Complete => break,
                    Gathered::Yield => {}
                    Gathered::Wait(_) => return Err(Abort::Reject(ParseError::Timeout)),
                }
            }
            let settled = self.settle_before_call(&plan);
            return Ok((
                self.service
                    .call(parts, raw_head, body.into_body(), plan, settled),
                true,
            ));
        };
        // Responses to earlier pipelined requests go out before the handler takes over.
        self.blocking = true;
        self.service.before_write();
        self.output
            .write_blocking(self.io, self.config.limits.write_timeout, self.config.clock)?;
        let prefix = match framing {
            BodyFraming::Length(len) => {
                let take = usize::try_from(len)
                    .map_or(usize::MAX, |len| len)
                    .min(self.buf.filled().len());
                let prefix = self.buf.filled()[..take].to_vec();
                self.buf.consume(take);
                prefix
            }
            // The decoder finds the body's end; what lies beyond comes back afterwards.
            BodyFraming::Chunked => self.buf.take(),
        };
        let stream = Arc::new(Mutex::new(BodyStream::new(
            io,
            framing,
            prefix,
            limit,
            (
                self.config.limits.body_read_timeout,
                self.config.limits.min_body_rate,
            ),
            expect_continue,
        )));
        let shared: Arc<Mutex<dyn Read + Send>> = stream.clone();
        // Not settled: the handler reads the socket in blocking mode, which a write from
        // outside the turn must not meet.
        let body = RequestBody::Stream(shared);
        let reply = self.service.call(parts, raw_head, body, plan, false);
        // The stream may have switched the socket to blocking reads; the engine owns the
        // mode again.
        self.io.set_blocking(None).map_err(|_| Abort::Close)?;
        self.blocking = false;
        let mut stream = stream.lock().unwrap_or_else(PoisonError::into_inner);
        let complete = stream.is_complete();
        if complete {
            let over_read = stream.take_over_read();
            if !over_read.is_empty() {
                self.buf.load(&over_read);
            }
        }
        Ok((reply, complete))
    }
}

/// One turn of a connection over an in-memory stream (the engine's tests, fuzzing).
#[cfg(any(test, feature = "__internals"))]
pub(crate) fn turn_in_memory<F: Service>(
    stream: &mut crate::io::MemoryStream,
    buf: &mut ReadBuf,
    state: &mut ConnState<F::Plan, F::Upgrade>,
    limits: &Limits,
    draining: bool,
    service: &F,
) -> AfterTurn {
    let draining = AtomicBool::new(draining);
    let mut out = Vec::new();
    let body_budget = Arc::new(ByteBudget::new(limits.max_parked_body_bytes));
    let config = ConnConfig {
        limits,
        draining: &draining,
        tag: RouteTag::default(),
        body_budget: &body_budget,
        spool: &Spool::in_memory(),
        clock: &TurnClock::default(),
        client_closed: false,
    };
    Conn::new(stream, buf, &mut out, state, config, service).serve()
}

#[cfg(test)]
mod tests {
    use std::io;

    use std::time::Duration;

    use super::*;
    use crate::body::Body;
    use crate::head::TargetRef;
    use crate::io::MemoryStream;
    use http::StatusCode;

    /// Echoes method, path and body; streams on `/stream`; `/big` is 200 KB.
    fn echo(head: Parts, body: Vec<u8>) -> http::Response<Body> {
        match head.uri.path() {
            "/stream" => {
                let pieces = ["chunk 0\n", "chunk 1\n"].map(|s| s.as_bytes().to_vec());
                return http::Response::new(Body::stream(Pieces(pieces.into_iter().collect())));
            }
            "/empty" => {
                let mut response = http::Response::new(Body::empty());
                *response.status_mut() = StatusCode::NO_CONTENT;
                return response;
            }
            "/switching" => {
                let mut response = http::Response::new(Body::empty());
                *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
                return response;
            }
            "/big" => return http::Response::new(Body::from(vec![b'b'; 200_000])),
            "/file" => {
                let data = vec![b'f'; 100_000];
                return http::Response::new(Body::sized_stream(io::Cursor::new(data), 100_000));
            }
            _ => {}
        }
        let mut text = format!("{} {} ", head.method, head.uri.path()).into_bytes();
        text.extend_from_slice(&body);
        http::Response::new(Body::from(text))
    }

    /// A reader that returns one piece per read.
    struct Pieces(std::collections::VecDeque<Vec<u8>>);
    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.pop_front() {
                Some(piece) => {
                    buf[..piece.len()].copy_from_slice(&piece);
                    Ok(piece.len())
                }
                None => Ok(0),
            }
        }
    }

    /// A connection driven turn by turn, as the server would.
    struct Client {
        stream: MemoryStream,
        buf: ReadBuf,
        state: ConnState,
        limits: Limits,
    }

    impl Client {
        fn new(input: &[u8]) -> Self {
            Self::with_limits(input, Limits::default())
        }

        fn with_limits(input: &[u8], limits: Limits) -> Self {
            Self {
                stream: MemoryStream::new(input),
                buf: ReadBuf::default(),
                state: ConnState::default(),
                limits,
            }
        }

        fn turn(&mut self) -> AfterTurn {
            self.turn_draining(false)
        }

        fn turn_draining(&mut self, draining: bool) -> AfterTurn {
            turn_in_memory(
                &mut self.stream,
                &mut self.buf,
                &mut self.state,
                &self.limits,
                draining,
                &echo,
            )
        }

        fn output(&self) -> String {
            strip_dates(&String::from_utf8_lossy(&self.stream.output))
        }
    }

    fn wait_for(next: AfterTurn) -> Option<WaitFor> {
        match next {
            AfterTurn::Wait { wait_for, .. } => Some(wait_for),
            _ => None,
        }
    }

    fn run(input: &[u8]) -> (AfterTurn, String) {
        let mut client = Client::new(input);
        let next = client.turn();
        (next, client.output())
    }

    /// Removes `date:` lines so that expected outputs are constant.
    fn strip_dates(text: &str) -> String {
        text.split("\r\n")
            .filter(|line| !line.starts_with("date: "))
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    #[test]
    fn serves_a_request_and_waits_for_the_next() {
        let (next, out) = run(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(wait_for(next), Some(WaitFor::NextRequest));
        assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nGET /a ");
    }

    #[test]
    fn pipelined_requests_are_answered_in_order_in_one_write() {
        let input = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: h\r\n\r\n";
        let mut client = Client::new(input);
        assert_eq!(wait_for(client.turn()), Some(WaitFor::NextRequest));
        let out = client.output();
        let bodies: Vec<&str> = out
            .split("\r\n\r\n")
            .skip(1)
            .map(|s| &s[..s.find("HTTP/").unwrap_or(s.len())])
            .collect();
        assert_eq!(bodies, ["GET /1 ", "POST /2 abc", "GET /3 "]);
    }

    #[test]
    fn any_split_of_a_pipelined_stream_gives_the_same_responses() {
        let input = b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /y HTTP/1.1\r\nHost: h\r\n\r\n";
        let expected = run(input).1;
        assert!(expected.ends_with("GET /y "), "{expected}");
        for read_size in 1..input.len() {
            let mut client = Client::new(input);
            // Short reads with a "would block" between them: the connection parks; the
            // poller dispatches it again when more bytes arrive, which here means: while
            // input is left.
            client.stream.read_sizes = vec![read_size, 0];
            let mut turns = 0;
            while client.stream.has_input() || turns == 0 {
                let next = client.turn();
                assert!(
                    matches!(next, AfterTurn::Wait { .. }),
                    "read size {read_size}: {next:?}"
                );
                turns += 1;
                assert!(turns <= 2 * input.len(), "no progress");
            }
            assert_eq!(client.output(), expected, "read size {read_size}");
        }
    }

    #[test]
    fn any_write_schedule_gives_the_same_output() {
        let input = b"GET /stream HTTP/1.1\r\nHost: h\r\n\r\nGET /big HTTP/1.1\r\nHost: h\r\n\r\nGET /file HTTP/1.1\r\nHost: h\r\n\r\nGET /z HTTP/1.1\r\nHost: h\r\n\r\n";
        let expected = run(input).1;
        assert!(expected.ends_with("GET /z "));
        for schedule in [
            vec![1, 0],
            vec![7000, 0, 0],
            vec![0, 65536],
            vec![3, 100_000, 0],
        ] {
            let mut client = Client::new(input);
            client.stream.write_sizes = schedule.clone();
            let mut turns = 0;
            loop {
                match client.turn() {
                    AfterTurn::Wait {
                        wait_for: WaitFor::Writable,
                        ..
                    } => {}
                    AfterTurn::Wait {
                        wait_for: WaitFor::NextRequest,
                        ..
                    } => break,
                    other => panic!("{schedule:?}: {other:?}"),
                }
                turns += 1;
                assert!(turns < 1_000_000, "no progress with {schedule:?}");
            }
            assert_eq!(client.output(), expected, "{schedule:?}");
        }
    }

    #[test]
    fn a_full_socket_parks_the_connection_and_stops_reading() {
        let input = b"GET /big HTTP/1.1\r\nHost: h\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n";
        let mut client = Client::new(input);
        client.stream.read_sizes = vec![input.len() / 2 + 1, 0];
        client.stream.write_sizes = vec![1000, 0];
        assert_eq!(wait_for(client.turn()), Some(WaitFor::Writable));
        // Back-pressure: the second request has not been read while output is owed.
        assert!(client.stream.has_input());
        client.stream.write_sizes.clear();
        client.stream.read_sizes.clear();
        assert_eq!(wait_for(client.turn()), Some(WaitFor::NextRequest));
        assert!(client.output().ends_with("GET /a "));
    }

    #[test]
    fn a_streamed_body_parks_between_chunks_when_the_socket_is_full() {
        let mut client = Client::new(b"GET /stream HTTP/1.1\r\nHost: h\r\n\r\n");
        client.stream.write_sizes = vec![0];
        assert_eq!(wait_for(client.turn()), Some(WaitFor::Writable));
        assert!(client.stream.output.is_empty());
        client.stream.write_sizes.clear();
        assert_eq!(wait_for(client.turn()), Some(WaitFor::NextRequest));
        assert_eq!(
            client.output(),
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n8\r\nchunk 0\n\r\n8\r\nchunk 1\n\r\n0\r\n\r\n"
        );
    }

    #[test]
    fn a_pipelining_client_yields_after_the_budget() {
        let one = b"GET /p HTTP/1.1\r\nHost: h\r\n\r\n";
        let input = one.repeat(TURN_BUDGET * 2 + 1);
        let mut client = Client::new(&input);
        assert_eq!(client.turn(), AfterTurn::Yield);
        assert_eq!(client.output().matches("GET /p").count(), TURN_BUDGET);
        assert_eq!(client.turn(), AfterTurn::Yield);
        assert_eq!(wait_for(client.turn()), Some(WaitFor::NextRequest));
        assert_eq!(
            client.output().matches("GET /p").count(),
            TURN_BUDGET * 2 + 1
        );
    }

    #[test]
    fn a_slow_body_is_gathered_across_turns_and_served_once_complete() {
        let mut client = Client::with_limits(
            b"POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab",
            Limits::default().min_body_rate(0),
        );
        let first = client.turn();
        assert_eq!(wait_for(first), Some(WaitFor::Body));
        assert!(
            client.stream.output.is_empty(),
            "served before the body was complete"
        );
        client.stream.input.extend_from_slice(b"c");
        let second = client.turn();
        // The deadline counts from the first wait, not from each byte (with no minimum
        // rate to earn more time).
        assert_eq!(second, first);
        client.stream.input.extend_from_slice(b"de");
        assert_eq!(wait_for(client.turn()), Some(WaitFor::NextRequest));
        assert!(
            client.output().ends_with("POST /u abcde"),
            "{}",
            client.output()
        );
    }

    #[test]
    fn a_long_body_is_gathered_a_share_per_turn() {
        let len = 10 * 1024 * 1024;
        let mut input =
            format!("POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: {len}\r\n\r\n").into_bytes();
        input.extend(std::iter::repeat_n(b'x', len));
        let limits = Limits::default().max_body_bytes(len as u64);
        let mut client = Client::with_limits(&input, limits);
        // 4 MiB a turn, then the connection goes to the back of the queue.
        assert_eq!(client.turn(), AfterTurn::Yield);
        assert_eq!(client.turn(), AfterTurn::Yield);
        assert_eq!(wait_for(client.turn()), Some(WaitFor::NextRequest));
        assert!(
            client.output().starts_with("HTTP/1.1 200"),
            "{}",
            client.output()
        );
    }

    #[test]
    fn a_body_whose_deadline_passed_gets_408() {
        let limits = Limits {
            body_read_timeout: Duration::ZERO,
            min_body_rate: 0,
            ..Limits::default()
        };
        let mut client = Client::with_limits(
            b"POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab",
            limits,
        );
        assert_eq!(client.turn(), AfterTurn::Close);
        assert!(
            client.output().starts_with("HTTP/1.1 408 "),
            "{}",
            client.output()
        );
    }

    #[test]
    fn partial_head_parks_with_the_bytes_kept() {
        let mut client = Client::new(b"GET /a HTTP/1.1\r\nHo");
        let first = client.turn();
        assert_eq!(wait_for(first), Some(WaitFor::RestOfHead));
        client.stream.input.extend_from_slice(b"st");
        // The header-read deadline counts from the head's first byte.
        assert_eq!(client.turn(), first);
        client.stream.input.extend_from_slice(b": h\r\n\r\n");
        assert_eq!(wait_for(client.turn()), Some(WaitFor::NextRequest));
        assert!(client.output().ends_with("GET /a "));
    }

    #[test]
    fn connection_close_closes_after_the_response() {
        let (next, out) = run(b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(next, AfterTurn::Close);
        assert!(out.contains("connection: close\r\n"));
        assert!(!out.contains("/b"), "served a request after close: {out}");
    }

    #[test]
    fn http_1_0_closes_unless_keep_alive() {
        let (next, out) = run(b"GET /a HTTP/1.0\r\n\r\n");
        assert_eq!(next, AfterTurn::Close);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.contains("connection: close"));
        let (next, out) = run(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(wait_for(next), Some(WaitFor::NextRequest));
        assert!(out.contains("connection: keep-alive\r\n"));
    }

    #[test]
    fn head_gets_get_headers_without_body() {
        let (_, out) = run(b"HEAD /abc HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n");
    }

    #[test]
    fn no_content_has_no_length_and_no_body() {
        let (_, out) = run(b"GET /empty HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(out, "HTTP/1.1 204 No Content\r\n\r\n");
    }

    #[test]
    fn a_1xx_from_a_handler_becomes_a_500() {
        let (next, out) = run(b"GET /switching HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(
            out.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
            "{out}"
        );
        assert_eq!(wait_for(next), Some(WaitFor::NextRequest));
    }

    #[test]
    fn streamed_body_is_chunked_one_chunk_per_read() {
        let (next, out) = run(b"GET /stream HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(wait_for(next), Some(WaitFor::NextRequest));
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n8\r\nchunk 0\n\r\n8\r\nchunk 1\n\r\n0\r\n\r\n"
        );
    }

    #[test]
    fn streamed_body_to_http_1_0_is_close_delimited() {
        let (next, out) = run(b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(next, AfterTurn::Close);
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nchunk 0\nchunk 1\n"
        );
    }

    #[test]
    fn te_and_cl_is_rejected_and_closes() {
        let (next, out) = run(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc");
        assert_eq!(next, AfterTurn::Close);
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
        assert!(out.contains("connection: close"));
    }

    #[test]
    fn a_rejection_to_a_full_socket_is_written_when_it_drains_then_closes() {
        let mut client = Client::new(b"GET / HTTP/1.1\r\n\r\n");
        client.stream.write_sizes = vec![0];
        assert_eq!(wait_for(client.turn()), Some(WaitFor::Writable));
        client.stream.write_sizes.clear();
        assert_eq!(client.turn(), AfterTurn::Close);
        assert!(
            client.output().starts_with("HTTP/1.1 400 "),
            "{}",
            client.output()
        );
    }

    #[test]
    fn body_over_the_limit_is_413_before_reading_it() {
        let limits = Limits {
            max_body_bytes: 10,
            ..Limits::default()
        };
        let mut client = Client::with_limits(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n",
            limits,
        );
        assert_eq!(client.turn(), AfterTurn::Close);
        let out = client.output();
        assert!(
            out.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
            "{out}"
        );
        assert!(!out.contains("100 Continue"));
    }

    #[test]
    fn chunked_body_over_the_limit_is_413() {
        let limits = Limits {
            max_body_bytes: 4,
            ..Limits::default()
        };
        let mut client = Client::with_limits(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n", limits);
        assert_eq!(client.turn(), AfterTurn::Close);
        assert!(
            client.output().starts_with("HTTP/1.1 413 "),
            "{}",
            client.output()
        );
    }

    #[test]
    fn expect_continue_sends_100_before_waiting_for_the_body() {
        let mut client = Client::new(
            b"POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
        );
        assert_eq!(wait_for(client.turn()), Some(WaitFor::Body));
        assert_eq!(client.output(), "HTTP/1.1 100 Continue\r\n\r\n");
        client.stream.input.extend_from_slice(b"hi");
        assert_eq!(wait_for(client.turn()), Some(WaitFor::NextRequest));
        assert_eq!(
            client.output(),
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nPOST /e hi"
        );
    }

    #[test]
    fn expect_continue_with_body_already_sent_gets_no_interim_response() {
        let (_, out) = run(
            b"POST /e HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi",
        );
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nPOST /e hi"
        );
    }

    #[test]
    fn eof_in_the_middle_of_a_body_closes_without_answer() {
        let mut client =
            Client::new(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
        client.stream.eof = true;
        // The first turn read all there was; the end of the stream wakes it again.
        assert_eq!(wait_for(client.turn()), Some(WaitFor::Body));
        assert_eq!(client.turn(), AfterTurn::Close);
        assert_eq!(client.output(), "");
    }

    #[test]
    fn a_client_that_ends_mid_body_still_gets_the_earlier_responses() {
        // One read takes all the input and fills the read buffer exactly (8 KiB), so the
        // engine reads again in the same turn and meets the end of the stream mid-body.
        let post = b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc";
        let get_start = b"GET /a HTTP/1.1\r\nHost: h\r\nX: ";
        let padding = 8192 - post.len() - get_start.len() - 4;
        let mut input = get_start.to_vec();
        input.extend(std::iter::repeat_n(b'x', padding));
        input.extend_from_slice(b"\r\n\r\n");
        input.extend_from_slice(post);
        assert_eq!(input.len(), 8192);
        let mut client = Client::new(&input);
        client.stream.eof = true;
        assert_eq!(client.turn(), AfterTurn::Close);
        assert!(client.output().ends_with("GET /a "), "{}", client.output());
    }

    #[test]
    fn draining_server_closes_after_the_current_response() {
        let mut client = Client::new(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(client.turn_draining(true), AfterTurn::Close);
        assert!(client.output().contains("connection: close\r\n"));
    }

    #[test]
    fn a_request_for_another_pool_is_handed_over_parsed_with_its_body() {
        let mut stream = MemoryStream::new(b"POST /other HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhiGET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        let (mut buf, mut state) = (ReadBuf::default(), ConnState::default());
        let limits = Limits::default();
        let draining = AtomicBool::new(false);
        let budget = Arc::new(ByteBudget::new(u64::MAX));
        let spool = Spool::in_memory();
        let mut turn = |tag| {
            let mut out = Vec::new();
            let config = ConnConfig {
                limits: &limits,
                draining: &draining,
                tag: RouteTag(tag),
                body_budget: &budget,
                spool: &spool,
                clock: &TurnClock::default(),
                client_closed: false,
            };
            Conn::new(
                &mut stream,
                &mut buf,
                &mut out,
                &mut state,
                config,
                &TwoPools,
            )
            .serve()
        };
        assert_eq!(turn(0), AfterTurn::Reroute { tag: RouteTag(1) });
        // Served on its own pool without parsing again; the next request goes back.
        assert_eq!(turn(1), AfterTurn::Reroute { tag: RouteTag(0) });
        assert_eq!(wait_for(turn(0)), Some(WaitFor::NextRequest));
        let out = strip_dates(&String::from_utf8_lossy(&stream.output));
        assert!(
            out.contains("POST /other hi") && out.ends_with("GET /a "),
            "{out}"
        );
    }

    /// A service with two pools: `/other*` runs on pool 1.
    struct TwoPools;
    impl Service for TwoPools {
        type Plan = ();
        type Upgrade = ();
        fn decide(&self, _: &Parts, target: TargetRef<'_>) -> (Decision, ()) {
            let decision = Decision {
                tag: RouteTag(usize::from(target.path().starts_with("/other"))),
                streamed_body_limit: None,
                max_body_bytes: None,
            };
            (decision, ())
        }
        fn call(
            &self,
            mut head: Parts,
            raw: RawHead,
            body: RequestBody,
            (): (),
            _: bool,
        ) -> Reply<()> {
            let RequestBody::Full(body) = body else {
                panic!("streamed");
            };
            if let Some(uri) = raw.target_uri() {
                head.uri = uri;
            }
            if head.uri.path() == "/other/stream" {
                return echo(head.clone(), body)
                    .map(|_| Body::stream(&b"from pool 1"[..]))
                    .into();
            }
            echo(head, body).into()
        }
    }

    fn turn_on(
        stream: &mut MemoryStream,
        state: &mut ConnState,
        out: &mut Vec<u8>,
        tag: usize,
    ) -> AfterTurn {
        let limits = Limits::default();
        let draining = AtomicBool::new(false);
        let budget = Arc::new(ByteBudget::new(u64::MAX));
        let spool = Spool::in_memory();
        let config = ConnConfig {
            limits: &limits,
            draining: &draining,
            tag: RouteTag(tag),
            body_budget: &budget,
            spool: &spool,
            clock: &TurnClock::default(),
            client_closed: false,
        };
        let mut buf = ReadBuf::default();
        Conn::new(stream, &mut buf, out, state, config, &TwoPools).serve()
    }

    #[test]
    fn what_a_closed_connection_left_in_the_worker_s_buffer_is_never_sent() {
        let mut out = b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecret".to_vec();
        let mut stream = MemoryStream::new(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        turn_on(&mut stream, &mut ConnState::default(), &mut out, 0);
        let text = String::from_utf8_lossy(&stream.output);
        assert!(
            !text.contains("secret") && text.ends_with("GET /a "),
            "{text}"
        );
    }

    #[test]
    fn a_streamed_body_owed_to_a_slow_reader_is_resumed_on_its_own_pool() {
        let mut stream = MemoryStream::new(b"GET /other/stream HTTP/1.1\r\nHost: h\r\n\r\n");
        let mut state = ConnState::default();
        let mut out = Vec::new();
        assert_eq!(
            turn_on(&mut stream, &mut state, &mut out, 0),
            AfterTurn::Reroute { tag: RouteTag(1) }
        );
        stream.write_sizes = vec![0];
        assert_eq!(
            wait_for(turn_on(&mut stream, &mut state, &mut out, 1)),
            Some(WaitFor::Writable)
        );
        // Writable again: the readiness poll hands it to the main pool first, which must not
        // read the handler's stream there.
        stream.write_sizes.clear();
        assert_eq!(
            turn_on(&mut stream, &mut state, &mut out, 0),
            AfterTurn::Reroute { tag: RouteTag(1) }
        );
        assert!(stream.output.is_empty());
        assert_eq!(
            wait_for(turn_on(&mut stream, &mut state, &mut out, 1)),
            Some(WaitFor::NextRequest)
        );
        let text = strip_dates(&String::from_utf8_lossy(&stream.output));
        assert!(text.ends_with("b\r\nfrom pool 1\r\n0\r\n\r\n"), "{text}");
    }

    #[test]
    fn malformed_input_never_panics() {
        // A few hostile shapes; the fuzz target covers the rest.
        let inputs: [&[u8]; 6] = [
            b"\0\0\0\0",
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
            b"GET / HTTP/1.1\r\n\xff\xfe: x\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"\r\n\r\n\r\n\r\n",
        ];
        for input in inputs {
            let (next, out) = run(input);
            assert!(next == AfterTurn::Close || out.is_empty(), "{next:?} {out}");
        }
    }
}

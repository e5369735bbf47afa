//! The router as the HTTP/1.1 engine's service: where a request runs (its pool, how its
//! body is read), serving it with the router once, its metrics, and the admission of a
//! response that switches to a live protocol.

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http::Method;
use http::request::Parts;

use super::Shared;
use super::deadlines::{CallDeadlines, PollerAnswer};
use super::protocol::TransportFacts;
use crate::Response;
use crate::body::RequestBody;
use crate::cancel::{CallEnd, CallWatch, Cancellation};
use crate::error::{ParseError, Rejection, RejectionKind};
use crate::head::{RawHead, TargetRef};
use crate::http1::{Decision, Reply, RouteTag, Service, Switch, TurnClock};
use crate::io::ShareSocket;
use crate::limits::deadline_after;
use crate::live::{LiveTicket, LiveUpgrade, Upgrade};
use crate::metrics::{GaveUpOn, Tally};
use crate::router::{Arrival, RoutePlan};

/// See the module docs; one per turn.
pub(super) struct HandlerService<'a> {
    pub(super) shared: &'a Shared,
    pub(super) peer: SocketAddr,
    /// The pool this turn runs on.
    pub(super) tag: RouteTag,
    /// What the transport tells every request (`Request::tls`).
    pub(super) facts: Option<&'a dyn TransportFacts>,
    /// Read once as each request ends: its latency, and the next one's start.
    pub(super) clock: &'a TurnClock,
    /// When the connection was queued for this turn: its first request is shed if it
    /// waited longer than `max_queue_wait`.
    pub(super) queued_since: Instant,
    /// The connection's watch over its requests (`crate::cancel`); `None` in unit tests of
    /// the engine's service alone.
    pub(super) watch: Option<&'a Arc<CallWatch>>,
    /// Where the poller may write a late answer (plain connections).
    pub(super) late_answers: Option<&'a dyn ShareSocket>,
    /// Where deadlines are kept, when a poller keeps them.
    pub(super) deadlines: Option<&'a CallDeadlines>,
    /// Requests called in this turn so far.
    pub(super) calls: Cell<usize>,
    /// Responses counted and not yet published to the shared metrics.
    pub(super) tally: Tally,
}

impl Drop for HandlerService<'_> {
    fn drop(&mut self) {
        self.publish();
    }
}

impl Service for HandlerService<'_> {
    type Plan = RoutePlan;
    type Upgrade = Upgrade;

    /// Routes the request once: the plan says where it runs and is served as it says.
    fn decide(&self, head: &Parts, target: TargetRef<'_>) -> (Decision, RoutePlan) {
        let shared = self.shared;
        let plan = shared.router.plan(&head.method, target);
        if shared.pool_tags.is_empty() && !shared.places_bodies {
            // No bulkheads and no streamed bodies: every request is alike.
            return (Decision::default(), plan);
        }
        let (pool, streamed_body_limit, max_body_bytes) = shared.router.placement(&plan);
        let tag = pool
            .and_then(|name| shared.pool_tags.get(name).copied())
            .unwrap_or_default();
        let decision = Decision {
            tag,
            streamed_body_limit,
            max_body_bytes,
        };
        (decision, plan)
    }

    fn call(
        &self,
        mut head: Parts,
        headers: RawHead,
        body: RequestBody,
        plan: RoutePlan,
        settled: bool,
    ) -> Reply<Upgrade> {
        let shared = self.shared;
        let counters = &shared.counters;
        let first_of_turn = self.calls.replace(self.calls.get() + 1) == 0;
        if self.watch.is_some_and(|watch| watch.client_gone()) {
            return self.client_gone_before_start();
        }
        if first_of_turn && self.waited_too_long() {
            return self.shed(head, headers, plan);
        }
        if let Some(facts) = self.facts {
            facts.annotate(&mut head.extensions);
        }
        // What handlers see (Health's 503): shutdown asked for, even while still accepting.
        let draining = shared.shutdown.load(Ordering::Acquire);
        let metered = counters.enabled();
        let series = match &plan {
            RoutePlan::Route { route, handler, .. } if metered => {
                counters.series(*route, handler.position())
            }
            _ => None,
        };
        let started = metered.then(|| self.clock.latest());
        let timeout = self.handler_timeout(&plan);
        let call = self
            .watch
            .map(|watch| self.begin_call(watch, timeout, settled, head.method == Method::HEAD));
        let cancellation = match &call {
            Some(call) => Cancellation::of(Arc::clone(call.watch), call.number),
            None => Cancellation::never(),
        };
        let arrival = Arrival {
            peer: Some(self.peer),
            draining,
            cancellation,
        };
        let mut response = shared
            .router
            .serve_parts(head, headers, body, arrival, plan);
        if let Some(call) = call {
            match self.end_call(call, timeout) {
                CallEnd::InTime => {}
                CallEnd::TimedOut => response = late_answer(),
                CallEnd::AnsweredLate => return Reply::answered_elsewhere(),
            }
        }
        let switch = self.admit_live(&mut response);
        let status = response.status();
        let (response, content_type) = response.into_wire();
        // Read as the request ends, also unmetered: the response's `Date` uses it.
        let ended = self.clock.read();
        if let Some(started) = started {
            let latency = ended.saturating_duration_since(started);
            counters.responded(&self.tally, status, series, latency);
        }
        Reply {
            response,
            content_type,
            switch,
        }
    }

    fn before_write(&self) {
        self.publish();
    }

    fn answers_late(&self, plan: &RoutePlan) -> bool {
        self.deadlines.is_some() && self.handler_timeout(plan).is_some()
    }

    /// A refused request is answered through the router, as a [`Rejection`] in the route's
    /// middleware, and counted as refused (`rejected_with`), not as the route's response.
    fn refuse(
        &self,
        head: Parts,
        headers: RawHead,
        plan: RoutePlan,
        error: &ParseError,
    ) -> Reply<Upgrade> {
        self.rejected(error);
        let response = self.answer_refusal(head, headers, plan, Rejection::of_refusal(error));
        reply(response)
    }

    fn rejected(&self, error: &ParseError) {
        crate::logging::log_debug!("refused a request from {}: {error}", self.peer);
        self.shared.counters.rejected(error);
    }
}

/// The 503 a handler that overran its deadline gets in place of its response, when the
/// poller could not write it (over TLS, or behind an earlier response still owed).
fn late_answer() -> Response {
    Response::text("The request took too long and was abandoned.\n")
        .with_status(http::StatusCode::SERVICE_UNAVAILABLE)
        .with_header(http::header::RETRY_AFTER, "1")
        .with_header(http::header::CONNECTION, "close")
}

/// A response that switches to nothing, as the engine takes it.
fn reply(response: Response) -> Reply<Upgrade> {
    let (response, content_type) = response.into_wire();
    Reply {
        response,
        content_type,
        switch: None,
    }
}

/// A request in flight on the connection's watch.
struct Call<'a> {
    watch: &'a Arc<CallWatch>,
    number: u64,
    /// When its handler started, if it has a deadline.
    started: Option<Instant>,
    /// Where its deadline is registered, if it has one kept by the poller.
    deadlines: Option<&'a CallDeadlines>,
}

impl<'a> HandlerService<'a> {
    /// Publishes the responses counted so far (metrics on).
    fn publish(&self) {
        let counters = &self.shared.counters;
        if counters.enabled() {
            counters.publish(&self.tally, self.tag.0);
        }
    }

    /// The deadline of the handler `plan` calls, if it has one (its router's, or the
    /// server's).
    fn handler_timeout(&self, plan: &RoutePlan) -> Option<Duration> {
        let shared = self.shared;
        if !shared.handler_timeouts {
            return None;
        }
        shared
            .router
            .planned_handler_timeout(plan)
            .or(shared.limits.handler_timeout)
    }

    /// Starts a call on the connection's watch, with its deadline registered with the
    /// poller if it has one.
    fn begin_call(
        &self,
        watch: &'a Arc<CallWatch>,
        timeout: Option<Duration>,
        settled: bool,
        is_head: bool,
    ) -> Call<'a> {
        let number = watch.begin();
        // Read only for a deadline: most calls have none.
        let started = timeout.map(|_| self.clock.latest());
        let deadlines =
            timeout
                .zip(started)
                .zip(self.deadlines)
                .map(|((timeout, started), deadlines)| {
                    let answer = self
                        .late_answers
                        .filter(|_| settled)
                        .map(|socket| PollerAnswer::new(socket.share(), is_head));
                    deadlines.register(watch, number, deadline_after(started, timeout), answer);
                    deadlines
                });
        Call {
            watch,
            number,
            started,
            deadlines,
        }
    }

    /// Ends a call as its handler returns: how it ends, counted.
    fn end_call(&self, call: Call<'_>, timeout: Option<Duration>) -> CallEnd {
        if let Some(deadlines) = call.deadlines {
            deadlines.unregister(call.watch, call.number);
        }
        let mut end = call.watch.finish(call.number);
        let counters = &self.shared.counters;
        if call.watch.client_gone() {
            counters.gave_up(GaveUpOn::ClientInFlight, 1);
        }
        let overran = || {
            timeout
                .zip(call.started)
                .is_some_and(|(timeout, started)| started.elapsed() > timeout)
        };
        if self.deadlines.is_none() && end == CallEnd::InTime && overran() {
            // No poller keeps deadlines (in process): the deadline is found as the handler
            // returns, and answered as the poller would have.
            counters.gave_up(GaveUpOn::Deadline, 1);
            end = CallEnd::TimedOut;
        }
        if end != CallEnd::InTime {
            counters.gave_up(GaveUpOn::LateResponse, 1);
            self.clock.read();
        }
        end
    }

    /// A request whose client hung up while it was queued: the handler never runs.
    #[cold]
    fn client_gone_before_start(&self) -> Reply<Upgrade> {
        self.shared.counters.gave_up(GaveUpOn::ClientBeforeStart, 1);
        self.clock.read();
        Reply::answered_elsewhere()
    }

    /// Whether the turn's first request waited in its pool's queue past the pool's
    /// `max_queue_wait` (and the wait, counted when metrics are on).
    fn waited_too_long(&self) -> bool {
        let shared = self.shared;
        let max_wait = shared.max_queue_waits.get(self.tag.0).copied().flatten();
        let metered = shared.counters.enabled();
        if max_wait.is_none() && !metered {
            return false;
        }
        let waited = self
            .clock
            .latest()
            .saturating_duration_since(self.queued_since);
        if metered {
            shared.counters.queued_for(self.tag.0, waited);
        }
        let too_long = max_wait.is_some_and(|max| waited > max);
        if too_long {
            shared.counters.gave_up(GaveUpOn::QueueWait, 1);
        }
        too_long
    }

    /// Answers a request that waited too long for a worker without running its handler:
    /// 503 with `Retry-After`, through the route's middleware as the server's other
    /// refusals; the connection stays open.
    fn shed(&self, head: Parts, headers: RawHead, plan: RoutePlan) -> Reply<Upgrade> {
        let refusal = Rejection::of(
            RejectionKind::Overloaded,
            "The server is overloaded: the request waited too long for a worker.",
        );
        let mut response = self.answer_refusal(head, headers, plan, refusal);
        if !response.headers().contains_key(http::header::RETRY_AFTER) {
            response.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            );
        }
        reply(response)
    }

    /// Answers a routed request with `refusal` in place of its handler, through the
    /// route's middleware and rejection rendering.
    fn answer_refusal(
        &self,
        mut head: Parts,
        headers: RawHead,
        plan: RoutePlan,
        refusal: Rejection,
    ) -> Response {
        if let Some(facts) = self.facts {
            facts.annotate(&mut head.extensions);
        }
        let arrival = Arrival {
            peer: Some(self.peer),
            draining: self.shared.shutdown.load(Ordering::Acquire),
            cancellation: Cancellation::never(),
        };
        let response = self
            .shared
            .router
            .serve_refusal(head, headers, arrival, plan, refusal);
        // Read: the response's `Date` and the next request's start use it.
        self.clock.read();
        response
    }

    /// A response that switches to a live connection gets a place among the server's live
    /// connections and hands its upgrade over, or becomes a 503 when they are all taken or
    /// the server shuts down.
    fn admit_live(&self, response: &mut Response) -> Option<(Switch, Upgrade)> {
        let live = response.extensions_mut().remove::<LiveUpgrade>()?;
        let shared = self.shared;
        let ticket = if shared.shutdown.load(Ordering::Acquire) {
            None
        } else {
            LiveTicket::try_new(&shared.live_count, shared.max_live_connections)
        };
        let Some(ticket) = ticket else {
            drop(live.take());
            crate::logging::log_warn!(
                "refused a live connection from {}: {} open, or shutting down",
                self.peer,
                shared.live_count.load(Ordering::Relaxed)
            );
            *response = Response::text("Service Unavailable\n")
                .with_status(http::StatusCode::SERVICE_UNAVAILABLE)
                .with_header(http::header::RETRY_AFTER, "1")
                .with_header(http::header::CONNECTION, "close");
            return None;
        };
        let mut upgrade = live.take()?;
        upgrade.attach(ticket);
        let switch = match upgrade {
            Upgrade::WebSocket(_) => Switch::Upgrade,
            Upgrade::Events(_) => Switch::Stream,
        };
        Some((switch, upgrade))
    }
}

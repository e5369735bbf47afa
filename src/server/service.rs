//! The router as the HTTP/1.1 engine's service: where a request runs (its pool, how its
//! body is read), serving it with the router once, its metrics, and the admission of a
//! response that switches to a live protocol.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use http::request::Parts;

use super::Shared;
use super::protocol::TransportFacts;
use crate::body::{Body, RequestBody};
use crate::error::{ParseError, Rejection};
use crate::head::RawHeaders;
use crate::http1::{Decision, Reply, RouteTag, Service, Switch, TurnClock};
use crate::live::{LiveTicket, LiveUpgrade, Upgrade};
use crate::router::RoutePlan;

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
}

impl Service for HandlerService<'_> {
    type Plan = RoutePlan;
    type Upgrade = Upgrade;

    /// Routes the request once: the plan says where it runs and is served as it says.
    fn decide(&self, head: &Parts) -> (Decision, RoutePlan) {
        let shared = self.shared;
        let plan = shared.router.plan(&head.method, &head.uri);
        if shared.pool_tags.is_empty() && !shared.streams_bodies {
            // No bulkheads and no streamed bodies: every request is alike.
            return (Decision::default(), plan);
        }
        let (pool, streamed_body_limit) = shared.router.placement(&plan);
        let tag = pool
            .and_then(|name| shared.pool_tags.get(name).copied())
            .unwrap_or_default();
        let decision = Decision {
            tag,
            streamed_body_limit,
        };
        (decision, plan)
    }

    fn call(
        &self,
        mut head: Parts,
        headers: RawHeaders,
        body: RequestBody,
        plan: RoutePlan,
    ) -> Reply<Upgrade> {
        if let Some(facts) = self.facts {
            facts.annotate(&mut head.extensions);
        }
        let shared = self.shared;
        // What handlers see (Health's 503): shutdown asked for, even while still accepting.
        let draining = shared.shutdown.load(Ordering::Acquire);
        let counters = &shared.counters;
        let metered = counters.enabled();
        let series = match &plan {
            RoutePlan::Route { route, handler, .. } if metered => {
                counters.series(*route, handler.position())
            }
            _ => None,
        };
        let started = metered.then(|| self.clock.latest());
        let mut response =
            shared
                .router
                .serve_parts(head, headers, body, Some(self.peer), draining, plan);
        let switch = self.admit_live(&mut response);
        // Read as the request ends, also unmetered: the response's `Date` uses it.
        let ended = self.clock.read();
        if let Some(started) = started {
            let latency = ended.saturating_duration_since(started);
            counters.responded(response.status(), self.tag.0, series, latency);
        }
        Reply { response, switch }
    }

    /// A refused request is answered through the router, as a [`Rejection`] in the route's
    /// middleware, and counted as refused (`rejected_with`), not as the route's response.
    fn refuse(
        &self,
        mut head: Parts,
        headers: RawHeaders,
        plan: RoutePlan,
        error: &ParseError,
    ) -> Reply<Upgrade> {
        self.rejected(error);
        if let Some(facts) = self.facts {
            facts.annotate(&mut head.extensions);
        }
        let refusal = Rejection::of_refusal(error);
        let draining = self.shared.shutdown.load(Ordering::Acquire);
        let response = self.shared.router.serve_refusal(
            head,
            headers,
            Some(self.peer),
            draining,
            plan,
            refusal,
        );
        // Read: the response's `Date` and the next request's start use it.
        self.clock.read();
        response.into()
    }

    fn rejected(&self, error: &ParseError) {
        crate::logging::log_debug!("refused a request from {}: {error}", self.peer);
        self.shared.counters.rejected(error);
    }
}

impl HandlerService<'_> {
    /// A response that switches to a live connection gets a place among the server's live
    /// connections and hands its upgrade over, or becomes a 503 when they are all taken or
    /// the server shuts down.
    fn admit_live(&self, response: &mut http::Response<Body>) -> Option<(Switch, Upgrade)> {
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
            *response = crate::Response::text("Service Unavailable\n")
                .with_status(http::StatusCode::SERVICE_UNAVAILABLE)
                .with_header(http::header::RETRY_AFTER, "1")
                .with_header(http::header::CONNECTION, "close")
                .into_http();
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

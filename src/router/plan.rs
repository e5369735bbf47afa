//! A request routed once, from its head: what serves it ([`RoutePlan`], owned so that it
//! travels with the request across turns and pools), where it runs, and what the server
//! lays out from the routes at bind (metrics series, pools, streamed bodies).

use std::sync::Arc;

use http::{Method, StatusCode};

use crate::head::TargetRef;

use super::Router;
use crate::method_router::{HandlerIndex, MethodMatch, RouteHandler};
use crate::metrics::{MetricsSlot, RouteLayout, SeriesOffset};
use crate::params::PathParams;

/// What serves a request, decided before anything runs (see [`Router::plan`]).
#[derive(Debug)]
pub(crate) enum RoutePlan {
    /// A route's handler, with the decoded path parameters.
    Route {
        route: usize,
        handler: HandlerIndex,
        params: PathParams,
    },
    NotFound,
    /// 405, or 204 to OPTIONS, with the route's `Allow` value.
    Allow {
        status: StatusCode,
        route: usize,
    },
    /// A path parameter that is not UTF-8 once percent-decoded: 400.
    InvalidParam {
        route: usize,
        handler: HandlerIndex,
    },
}

impl Router {
    /// Routes `method path` once: what serves it, owned, so that it can travel with the
    /// request (to another pool, across turns) and be served without routing again.
    pub(crate) fn plan(&self, method: &Method, target: TargetRef<'_>) -> RoutePlan {
        let path = target.path();
        let Ok(matched) = self.matcher.at(path) else {
            return RoutePlan::NotFound;
        };
        let index = *matched.value;
        let route = &self.routes[index];
        if route
            .catch_all_at
            .is_some_and(|at| self.owned_by_a_deeper_nest(path, at))
        {
            // A catch-all of an outer router never serves a nest's unmatched paths.
            return RoutePlan::NotFound;
        }
        let handler = match route.methods.lookup(method) {
            MethodMatch::Handler(handler) => handler,
            MethodMatch::Options => {
                return RoutePlan::Allow {
                    status: StatusCode::NO_CONTENT,
                    route: index,
                };
            }
            MethodMatch::NotAllowed => {
                return RoutePlan::Allow {
                    status: StatusCode::METHOD_NOT_ALLOWED,
                    route: index,
                };
            }
        };
        // matchit gives the parameters in pattern order, the order of the route's names.
        debug_assert!(
            matched
                .params
                .iter()
                .map(|(key, _)| key)
                .eq(route.param_names.iter().map(|name| &**name))
        );
        let mut params = PathParams::new(&route.param_names, || target.shared());
        for (_, raw) in matched.params.iter() {
            if params.push_raw(raw).is_none() {
                return RoutePlan::InvalidParam {
                    route: index,
                    handler,
                };
            }
        }
        RoutePlan::Route {
            route: index,
            handler,
            params,
        }
    }

    /// Whether `path` lies under a nest whose prefix is longer than `catch_all_at`, the
    /// literal part of the catch-all route it matched: then it is one of that nest's
    /// unmatched paths, and the nest's fallback serves it inside the nest's middleware.
    fn owned_by_a_deeper_nest(&self, path: &str, catch_all_at: usize) -> bool {
        self.nested
            .iter()
            .any(|nested| nested.prefix.len() > catch_all_at && nested.covers(path))
    }

    fn planned_handler(&self, plan: &RoutePlan) -> Option<&RouteHandler> {
        match plan {
            RoutePlan::Route { route, handler, .. } => {
                Some(self.routes[*route].methods.handler(*handler))
            }
            _ => None,
        }
    }

    /// Where a planned request runs and how its body is read: the pool name (`None`: the
    /// default pool), the body limit if its handler streams the body, and the limit of a
    /// body gathered for it if not the server's (only for a matched route: an unmatched
    /// path's body is not worth a large limit).
    pub(crate) fn placement(&self, plan: &RoutePlan) -> (Option<&str>, Option<u64>, Option<u64>) {
        let handler = self.planned_handler(plan);
        let pool = handler
            .and_then(|handler| handler.pool.as_deref())
            .or(self.pool.as_deref());
        let stream_limit = handler
            .and_then(|handler| handler.stream_limit)
            .or(self.stream_limit);
        let body_limit = handler.and_then(|handler| handler.body_limit.or(self.body_limit));
        (pool, stream_limit, body_limit)
    }

    /// How long a planned request's handler may run: its router's
    /// [`handler_timeout`](Router::handler_timeout), if one was set.
    pub(crate) fn planned_handler_timeout(&self, plan: &RoutePlan) -> Option<std::time::Duration> {
        self.planned_handler(plan)
            .and_then(|handler| handler.handler_timeout)
            .or(self.handler_timeout)
    }

    /// Registers where a `Metrics` plugin finds the server's metrics once it binds.
    pub(crate) fn add_metrics_slot(&mut self, slot: MetricsSlot) {
        self.metrics_slots.push(slot);
    }

    /// Every `Metrics` plugin's slot, to be filled when the server binds.
    pub(crate) fn metrics_slots(&self) -> &[MetricsSlot] {
        &self.metrics_slots
    }

    /// One latency series per route template and method (a nest's fallback has none), in
    /// route order: methods in registration order, then the any-method handler.
    pub(crate) fn metrics_layout(&self) -> RouteLayout {
        let mut layout = RouteLayout::default();
        for route in &self.routes {
            let offset = layout.series.len();
            let mut methods = 0;
            for (method, _) in route.methods.entries() {
                let label = method.map_or("ANY", Method::as_str);
                layout
                    .series
                    .push((Arc::clone(&route.pattern), label.to_owned()));
                methods += usize::from(method.is_some());
            }
            layout.offsets.push(Some(SeriesOffset {
                offset,
                any: methods,
            }));
        }
        layout
    }

    /// Whether any route streams its request body or has a body limit of its own.
    pub(crate) fn places_bodies(&self) -> bool {
        self.stream_limit.is_some()
            || self.body_limit.is_some()
            || self.routes.iter().any(|route| {
                route
                    .methods
                    .entries()
                    .any(|(_, e)| e.stream_limit.is_some() || e.body_limit.is_some())
            })
    }

    /// Whether any route's handler has a deadline of its own.
    pub(crate) fn has_handler_timeouts(&self) -> bool {
        self.handler_timeout.is_some()
            || self.routes.iter().any(|route| {
                route
                    .methods
                    .entries()
                    .any(|(_, e)| e.handler_timeout.is_some())
            })
    }

    /// Every pool name routes refer to.
    pub(crate) fn pool_names(&self) -> Vec<Arc<str>> {
        let mut names: Vec<Arc<str>> = self
            .routes
            .iter()
            .flat_map(|route| route.methods.entries().filter_map(|(_, e)| e.pool.clone()))
            .chain(self.pool.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Route lookup alone, for the router bench (feature `__internals`).
    #[cfg(feature = "__internals")]
    #[doc(hidden)]
    pub fn resolve_for_bench(&self, method: &Method, uri: &http::Uri) -> Option<PathParams> {
        match self.plan(method, TargetRef::new(uri, None)) {
            RoutePlan::Route { params, .. } => Some(params),
            _ => None,
        }
    }
}

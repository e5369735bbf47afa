//! Routers composed into one: `nest` and `merge` move another router's routes in, with
//! its middleware and state scoped to them ([`Scope`]), and keep a [`NestedScope`] per
//! prefix for the paths under it that match no route.

use std::sync::Arc;

use http::StatusCode;

use super::Router;
use crate::method_router::{RouteHandler, Scope};
use crate::middleware::Middleware;
use crate::params::StateMap;
use crate::request::Request;

/// The requests under a nested router's prefix that match no route: they are served inside
/// that router's middleware and state (`endpoint`'s scope), by its fallback or by the
/// serving router's.
#[derive(Clone)]
pub(super) struct NestedScope {
    /// `/api`: covers `/api` and `/api/...`.
    pub(super) prefix: String,
    /// The nested router's middleware and state; its fallback as the handler, if `Own`.
    pub(super) endpoint: RouteHandler,
    pub(super) serves: NestedFallback,
}

/// What serves an unmatched request under a nested router's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NestedFallback {
    /// The nested router's own fallback: the endpoint's handler.
    Own,
    /// The fallback of the router that serves (404 if it has none).
    Serving,
}

impl NestedScope {
    pub(super) fn covers(&self, path: &str) -> bool {
        path.strip_prefix(self.prefix.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// What `Router::absorb` does with the absorbed router's fallback.
#[derive(Clone, Copy)]
pub(super) enum Fallback {
    /// `merge`: it becomes this router's fallback if this router has none.
    TakeIfNone,
    /// `nest`: it serves the unmatched paths under the prefix.
    UnderPrefix,
}

impl Router {
    /// Adds the scope of a nested router's unmatched paths, keeping the longest prefix
    /// first; an earlier nest at the same prefix keeps it.
    fn add_nested(&mut self, nested: NestedScope) {
        if self.nested.iter().any(|n| n.prefix == nested.prefix) {
            return;
        }
        let at = self
            .nested
            .iter()
            .position(|n| n.prefix.len() < nested.prefix.len())
            .unwrap_or(self.nested.len());
        self.nested.insert(at, nested);
    }

    /// Adds `other`'s routes under `prefix`, scoping its middleware and state to them.
    pub(super) fn absorb(mut self, prefix: &str, other: Router, other_fallback: Fallback) -> Self {
        let Router {
            routes,
            middleware,
            state,
            fallback,
            errors,
            pool,
            stream_limit,
            body_limit,
            handler_timeout,
            nested,
            metrics_slots,
            root_with_slash,
            ..
        } = other;
        self.errors.extend(errors);
        self.metrics_slots.extend(metrics_slots);
        // At the root, its `/` route becomes this router's: so does the slash form.
        self.root_with_slash |= root_with_slash && prefix.is_empty();
        let owner = self.owner.clone();
        let scoped = |endpoint: &RouteHandler| RouteHandler {
            handler: Arc::clone(&endpoint.handler),
            scope: nest_scope(&middleware, &state, &endpoint.scope),
            owner: endpoint.owner.clone().or_else(|| owner.clone()),
            pool: endpoint.pool.clone().or_else(|| pool.clone()),
            stream_limit: endpoint.stream_limit.or(stream_limit),
            body_limit: endpoint.body_limit.or(body_limit),
            handler_timeout: endpoint.handler_timeout.or(handler_timeout),
        };
        // Decided by the caller, not by the prefix: `nest("/", r)` has an empty prefix too,
        // and does not take r's fallback.
        let own_scope = match other_fallback {
            Fallback::TakeIfNone => {
                if self.fallback.is_none() {
                    self.fallback = fallback.as_ref().map(scoped);
                }
                None
            }
            Fallback::UnderPrefix if prefix.is_empty() => None,
            // Every nest owns its prefix's unmatched paths, even without a fallback,
            // middleware or state of its own: no catch-all of the outer router serves them.
            Fallback::UnderPrefix => match &fallback {
                Some(fallback) => Some((scoped(fallback), NestedFallback::Own)),
                None => {
                    let no_handler = self.endpoint(Arc::new(|_: &Request| StatusCode::NOT_FOUND));
                    Some((scoped(&no_handler), NestedFallback::Serving))
                }
            },
        };
        for route in routes {
            let pattern = match (&*route.pattern, prefix) {
                ("/", prefix) if !prefix.is_empty() => prefix.to_owned(),
                (pattern, prefix) => format!("{prefix}{pattern}"),
            };
            for (method, endpoint) in route.methods.entries() {
                if root_with_slash && &*route.pattern == "/" && !prefix.is_empty() {
                    let with_slash = format!("{prefix}/");
                    if let Err(error) = self.insert(method.cloned(), &with_slash, scoped(endpoint))
                    {
                        self.errors.push(error);
                    }
                }
                if let Err(error) = self.insert(method.cloned(), &pattern, scoped(endpoint)) {
                    self.errors.push(error);
                }
            }
        }
        // The nested router's own nests (deeper prefixes), then its scope at the prefix.
        for inner in nested {
            let mut endpoint = scoped(&inner.endpoint);
            let mut serves = inner.serves;
            // Unmatched paths under an inner nest without a fallback of its own go to the
            // fallback of the router it was nested in, if that one has one.
            if let (NestedFallback::Serving, Some(fallback)) = (serves, &fallback) {
                endpoint.handler = Arc::clone(&fallback.handler);
                serves = NestedFallback::Own;
            }
            self.add_nested(NestedScope {
                prefix: format!("{prefix}{}", inner.prefix),
                endpoint: unplaced(endpoint),
                serves,
            });
        }
        if let Some((endpoint, serves)) = own_scope {
            self.add_nested(NestedScope {
                prefix: prefix.to_owned(),
                endpoint: unplaced(endpoint),
                serves,
            });
        }
        self
    }
}

/// An endpoint for unmatched paths: it runs on the main pool and reads bodies in full.
fn unplaced(endpoint: RouteHandler) -> RouteHandler {
    RouteHandler {
        pool: None,
        stream_limit: None,
        body_limit: None,
        ..endpoint
    }
}

/// The scope of a route moved out of a router with `middleware` and `state` into another:
/// that router's middleware runs first, then the route's own scope; inner state wins.
fn nest_scope(
    middleware: &[Arc<dyn Middleware>],
    state: &Arc<StateMap>,
    inner: &Scope,
) -> Arc<Scope> {
    let mut chain: Vec<Arc<dyn Middleware>> = middleware.to_vec();
    chain.extend(inner.middleware.iter().cloned());
    let state = match &inner.state {
        Some(inner_state) => {
            let mut merged = StateMap::clone(inner_state);
            merged.inherit(state);
            Some(Arc::new(merged))
        }
        None if state.is_empty() => None,
        None => Some(Arc::clone(state)),
    };
    Arc::new(Scope {
        middleware: chain,
        state,
    })
}

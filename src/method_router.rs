//! One path's method table: which handler serves which method, with HEAD falling back to GET
//! and the `Allow` value for 405 and OPTIONS answers (RFC 9110 §9.3.2, §15.5.6).

use std::sync::Arc;

use http::{HeaderValue, Method};

use crate::handler::Handler;
use crate::middleware::Middleware;
use crate::params::StateMap;

/// Middleware and state of the router a route was registered on, when that router was
/// nested or merged into another (a plugin's router, say). Routes registered directly on the
/// serving router have an empty scope.
#[derive(Default)]
pub(crate) struct Scope {
    pub(crate) middleware: Vec<Arc<dyn Middleware>>,
    pub(crate) state: Option<Arc<StateMap>>,
}

/// A registered handler.
#[derive(Clone)]
pub(crate) struct RouteHandler {
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) scope: Arc<Scope>,
    /// The plugin that registered it, if any.
    pub(crate) owner: Option<Arc<str>>,
    /// The named worker pool it runs on (a bulkhead), set when its router was nested or
    /// merged; `None`: the pool of the router that serves it.
    pub(crate) pool: Option<Arc<str>>,
    /// `Some(limit)`: the handler reads the body as it arrives; set like `pool`.
    pub(crate) stream_limit: Option<u64>,
    /// The largest body gathered for the handler, if not the server's; set like `pool`.
    pub(crate) body_limit: Option<u64>,
    /// How long the handler may run before its client gets 503; set like `pool`.
    pub(crate) handler_timeout: Option<std::time::Duration>,
}

/// What a path's table says about a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MethodMatch {
    Handler(HandlerIndex),
    /// OPTIONS with no handler of its own: answer 204 with the path's `Allow` value.
    Options,
    /// 405 with the path's `Allow` value.
    NotAllowed,
}

/// Which handler of a path's table: one registered for a method (by position), or the one
/// for any method. Owned, so a routing decision can travel with its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandlerIndex {
    Method(usize),
    Any,
}

impl HandlerIndex {
    /// Its index among the route's method handlers; `None` for the any-method handler.
    pub(crate) fn position(self) -> Option<usize> {
        match self {
            Self::Method(i) => Some(i),
            Self::Any => None,
        }
    }
}

/// The handlers of one path, by method.
#[derive(Clone)]
pub(crate) struct MethodRouter {
    methods: Vec<(Method, RouteHandler)>,
    any: Option<RouteHandler>,
    /// The `Allow` value, computed when a handler is added (never per request).
    allow: HeaderValue,
}

impl Default for MethodRouter {
    fn default() -> Self {
        let mut router = Self {
            methods: Vec::new(),
            any: None,
            allow: HeaderValue::from_static("OPTIONS"),
        };
        router.allow = router.compute_allow();
        router
    }
}

impl MethodRouter {
    /// Adds a handler; `None` method means any method. On a duplicate, returns the owner
    /// (plugin) of the handler already there.
    pub(crate) fn insert(
        &mut self,
        method: Option<Method>,
        endpoint: RouteHandler,
    ) -> Result<(), Option<Arc<str>>> {
        let existing = match &method {
            Some(method) => self
                .methods
                .iter()
                .find(|(m, _)| m == method)
                .map(|(_, e)| e),
            None => self.any.as_ref(),
        };
        if let Some(existing) = existing {
            return Err(existing.owner.clone());
        }
        match method {
            Some(method) => self.methods.push((method, endpoint)),
            None => self.any = Some(endpoint),
        }
        self.allow = self.compute_allow();
        Ok(())
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = (Option<&Method>, &RouteHandler)> {
        self.methods
            .iter()
            .map(|(m, e)| (Some(m), e))
            .chain(self.any.iter().map(|e| (None, e)))
    }

    pub(crate) fn lookup(&self, method: &Method) -> MethodMatch {
        let find = |wanted: &Method| self.methods.iter().position(|(m, _)| m == wanted);
        if let Some(index) = find(method) {
            return MethodMatch::Handler(HandlerIndex::Method(index));
        }
        if self.any.is_some() {
            return MethodMatch::Handler(HandlerIndex::Any);
        }
        // RFC 9110 §9.3.2: HEAD is GET without the content; the engine drops the body.
        if *method == Method::HEAD {
            if let Some(index) = find(&Method::GET) {
                return MethodMatch::Handler(HandlerIndex::Method(index));
            }
        }
        if *method == Method::OPTIONS {
            return MethodMatch::Options;
        }
        MethodMatch::NotAllowed
    }

    /// The handler `lookup` found. Panics on an index it did not return (a bug).
    pub(crate) fn handler(&self, index: HandlerIndex) -> &RouteHandler {
        match index {
            HandlerIndex::Method(i) => &self.methods[i].1,
            HandlerIndex::Any => self
                .any
                .as_ref()
                .expect("lookup found an any-method handler"),
        }
    }

    /// The `Allow` value for 405 and OPTIONS answers.
    pub(crate) fn allow(&self) -> &HeaderValue {
        &self.allow
    }

    /// The methods this path answers, for `Allow`.
    fn compute_allow(&self) -> HeaderValue {
        let mut methods: Vec<&str> = self.methods.iter().map(|(m, _)| m.as_str()).collect();
        if methods.contains(&"GET") && !methods.contains(&"HEAD") {
            methods.push("HEAD");
        }
        if !methods.contains(&"OPTIONS") {
            methods.push("OPTIONS");
        }
        // Method names are tokens, so the joined list is a valid header value.
        HeaderValue::from_str(&methods.join(", ")).unwrap_or(HeaderValue::from_static("OPTIONS"))
    }
}

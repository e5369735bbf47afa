//! One path's method table: which handler serves which method, with HEAD falling back to GET
//! and the `Allow` value for 405 and OPTIONS answers (RFC 9110 §9.3.2, §15.5.6).

use std::sync::Arc;

use http::Method;

use crate::handler::Handler;
use crate::middleware::Middleware;
use crate::params::StateMap;

/// Middleware and state of the router a route was registered on, when that router was
/// nested or merged into another (a plugin's router, say). Routes registered directly on the
/// dispatching router have an empty scope.
#[derive(Default)]
pub(crate) struct Scope {
    pub(crate) middleware: Vec<Arc<dyn Middleware>>,
    pub(crate) state: Option<Arc<StateMap>>,
}

/// A registered handler.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) scope: Arc<Scope>,
    /// The plugin that registered it, if any.
    pub(crate) owner: Option<Arc<str>>,
    /// The named worker pool it runs on (a bulkhead), set when its router was nested or
    /// merged; `None`: the pool of the router that dispatches it.
    pub(crate) pool: Option<Arc<str>>,
    /// `Some(limit)`: the handler reads the body as it arrives; set like `pool`.
    pub(crate) stream_limit: Option<u64>,
}

/// What a path's table says about a method.
pub(crate) enum MethodMatch<'a> {
    Handler(&'a Endpoint),
    /// OPTIONS with no handler of its own: answer 204 with this `Allow` value.
    Options(String),
    /// 405 with this `Allow` value.
    NotAllowed(String),
}

/// The handlers of one path, by method.
#[derive(Clone, Default)]
pub(crate) struct MethodRouter {
    methods: Vec<(Method, Endpoint)>,
    any: Option<Endpoint>,
}

impl MethodRouter {
    /// Adds a handler; `None` method means any method. On a duplicate, returns the owner
    /// (plugin) of the handler already there.
    pub(crate) fn insert(
        &mut self,
        method: Option<Method>,
        endpoint: Endpoint,
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
        Ok(())
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = (Option<&Method>, &Endpoint)> {
        self.methods
            .iter()
            .map(|(m, e)| (Some(m), e))
            .chain(self.any.iter().map(|e| (None, e)))
    }

    pub(crate) fn lookup(&self, method: &Method) -> MethodMatch<'_> {
        let find = |wanted: &Method| {
            self.methods
                .iter()
                .find(|(m, _)| m == wanted)
                .map(|(_, e)| e)
        };
        if let Some(endpoint) = find(method) {
            return MethodMatch::Handler(endpoint);
        }
        if let Some(endpoint) = &self.any {
            return MethodMatch::Handler(endpoint);
        }
        // RFC 9110 §9.3.2: HEAD is GET without the content; the engine drops the body.
        if *method == Method::HEAD {
            if let Some(endpoint) = find(&Method::GET) {
                return MethodMatch::Handler(endpoint);
            }
        }
        if *method == Method::OPTIONS {
            return MethodMatch::Options(self.allow());
        }
        MethodMatch::NotAllowed(self.allow())
    }

    /// The methods this path answers, for `Allow`.
    fn allow(&self) -> String {
        let mut methods: Vec<&str> = self.methods.iter().map(|(m, _)| m.as_str()).collect();
        if methods.contains(&"GET") && !methods.contains(&"HEAD") {
            methods.push("HEAD");
        }
        if !methods.contains(&"OPTIONS") {
            methods.push("OPTIONS");
        }
        methods.join(", ")
    }
}

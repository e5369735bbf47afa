//! A planned request served: the serving router's middleware, then the middleware of the
//! scope the request falls in (the nested or merged router it belongs to), then what serves
//! it (a handler, a fallback, an `Allow` answer); panics become 500s on the way.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use http::StatusCode;
use http::header::{ALLOW, HeaderValue};

use super::scope::NestedFallback;
use super::{RoutePlan, Router};
use crate::body::RequestBody;
use crate::cancel::Cancellation;
use crate::error::Rejection;
use crate::handler::Handler;
use crate::head::RawHead;
use crate::method_router::{RouteHandler, Scope};
use crate::middleware::{self, Middleware, Next};
use crate::params::StateMap;
use crate::request::Request;
use crate::response::{IntoResponse, Response};

/// What the server tells the router of a request besides its head and body.
pub(crate) struct Arrival {
    /// The client's address.
    pub(crate) peer: Option<SocketAddr>,
    /// Shutdown was asked for (`Request::is_server_draining`).
    pub(crate) draining: bool,
    /// Whether the request is still wanted (`Request::cancelled`).
    pub(crate) cancellation: Cancellation,
}

impl Router {
    /// Routes and serves `request`.
    pub(crate) fn respond(&self, request: &mut Request) -> Response {
        let plan = self.plan(request.method(), request.target());
        self.respond_planned(request, plan, None)
    }

    /// Serves `request` as `plan` (from [`plan`](Self::plan) on this router) says: this
    /// router's middleware, then the middleware of the scope the request falls in (the
    /// nested or merged router it belongs to), then what serves it: the `refusal` instead,
    /// if there is one.
    fn respond_planned(
        &self,
        request: &mut Request,
        plan: RoutePlan,
        refusal: Option<Rejection>,
    ) -> Response {
        // A router without state lends the request none (no reference count to move).
        let root_state = (!self.state.is_empty()).then(|| Arc::clone(&self.state));
        let mut scoped = match plan {
            RoutePlan::Route {
                route,
                handler,
                params,
            } => {
                let route = &self.routes[route];
                let endpoint = route.methods.handler(handler);
                request.set_route(
                    Arc::clone(&route.pattern),
                    params,
                    [endpoint.scope.state.clone(), root_state],
                );
                Scoped::new(&endpoint.scope, Serves::Handler(&*endpoint.handler))
            }
            RoutePlan::NotFound => {
                let fallback = Serves::Fallback(self.fallback.as_ref(), &self.state);
                let path = request.path();
                match self.nested.iter().find(|nested| nested.covers(path)) {
                    Some(nested) => {
                        let endpoint = &nested.endpoint;
                        request.set_states([endpoint.scope.state.clone(), root_state]);
                        let serves = match nested.serves {
                            NestedFallback::Own => Serves::Handler(&*endpoint.handler),
                            NestedFallback::Serving => fallback,
                        };
                        Scoped::new(&endpoint.scope, serves)
                    }
                    None => Scoped::unscoped(fallback),
                }
            }
            RoutePlan::Allow { status, route } => {
                let methods = &self.routes[route].methods;
                let serves = Serves::Allow(status, methods.allow());
                // The path's first route decides whose middleware answers for the path.
                match methods.entries().next() {
                    Some((_, first)) => {
                        request.set_states([first.scope.state.clone(), root_state]);
                        Scoped::new(&first.scope, serves)
                    }
                    None => Scoped::unscoped(serves),
                }
            }
            RoutePlan::InvalidParam { route, handler } => {
                let endpoint = self.routes[route].methods.handler(handler);
                request.set_states([endpoint.scope.state.clone(), root_state]);
                let serves = Serves::Status(
                    StatusCode::BAD_REQUEST,
                    "path parameter is not valid UTF-8 once decoded",
                );
                Scoped::new(&endpoint.scope, serves)
            }
        };
        if let Some(refusal) = refusal {
            scoped.serves = Serves::Refused(refusal);
        }
        Next::new(&self.middleware, &scoped).run(request)
    }

    /// Serves one request as the engine hands it over (head and body), as the server and
    /// the in-process test client do. A panic anywhere costs the client a 500, never the
    /// worker: the router catches handler and middleware panics itself (and logs them with
    /// the route); this catches the rest.
    #[inline]
    pub(crate) fn serve_parts(
        &self,
        head: http::request::Parts,
        headers: RawHead,
        body: RequestBody,
        arrival: Arrival,
        plan: RoutePlan,
    ) -> Response {
        let request = Request::from_body(head, headers, body, arrival.peer, arrival.cancellation);
        self.serve_request(request, arrival.draining, plan, None)
    }

    /// Answers a request the server refuses once it is routed (its body too large or too
    /// slow, say) with `refusal`, through the middleware that would have run around its
    /// handler, [`map_rejection`](Router::map_rejection) included: a 413 carries the CORS
    /// headers, the request id and the JSON rendering any other answer of the route would,
    /// and an authentication middleware answers first.
    pub(crate) fn serve_refusal(
        &self,
        head: http::request::Parts,
        headers: RawHead,
        arrival: Arrival,
        plan: RoutePlan,
        refusal: Rejection,
    ) -> Response {
        let body = RequestBody::Full(Vec::new());
        let request = Request::from_body(head, headers, body, arrival.peer, arrival.cancellation);
        self.serve_request(request, arrival.draining, plan, Some(refusal))
    }

    #[inline]
    fn serve_request(
        &self,
        mut request: Request,
        draining: bool,
        plan: RoutePlan,
        refusal: Option<Rejection>,
    ) -> Response {
        request.set_server_draining(draining);
        let respond = AssertUnwindSafe(|| self.respond_planned(&mut request, plan, refusal));
        let responded = std::panic::catch_unwind(respond);
        crate::head::give_back(request.take_headers());
        match responded {
            Ok(response) => response,
            Err(_) => {
                crate::metrics::note_panic();
                Response::text("Internal Server Error\n")
                    .with_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

/// The middleware of the scope a request falls in (its nested or merged router), around
/// what serves it: the end of the serving router's own middleware chain.
struct Scoped<'a> {
    middleware: &'a [Arc<dyn Middleware>],
    serves: Serves<'a>,
}

impl<'a> Scoped<'a> {
    fn new(scope: &'a Scope, serves: Serves<'a>) -> Self {
        Self {
            middleware: &scope.middleware,
            serves,
        }
    }

    fn unscoped(serves: Serves<'a>) -> Self {
        Self {
            middleware: &[],
            serves,
        }
    }
}

impl middleware::Endpoint for Scoped<'_> {
    fn call(&self, request: &mut Request) -> Response {
        Next::new(self.middleware, &self.serves).run(request)
    }
}

/// What serves a request at the end of all its middleware.
enum Serves<'a> {
    Handler(&'a dyn Handler),
    /// The serving router's fallback (404 without one), inside the fallback's own scope,
    /// with the state of its router.
    Fallback(Option<&'a RouteHandler>, &'a Arc<StateMap>),
    /// An answer with `Allow` (405, or 204 to OPTIONS).
    Allow(StatusCode, &'a HeaderValue),
    Status(StatusCode, &'static str),
    /// What the server answers a request it refuses once routed.
    Refused(Rejection),
}

impl middleware::Endpoint for Serves<'_> {
    fn call(&self, request: &mut Request) -> Response {
        match self {
            Serves::Handler(handler) => HandlerCall(*handler).call(request),
            Serves::Fallback(Some(fallback), router_state) => {
                let router_state = (!router_state.is_empty()).then(|| Arc::clone(router_state));
                request.set_states([fallback.scope.state.clone(), router_state]);
                let handler = HandlerCall(&*fallback.handler);
                Next::new(&fallback.scope.middleware, &handler).run(request)
            }
            Serves::Fallback(None, _) => Response::new(StatusCode::NOT_FOUND),
            Serves::Allow(status, allow) => {
                let mut response = Response::new(*status);
                response.headers_mut().insert(ALLOW, (*allow).clone());
                response
            }
            Serves::Status(status, message) => Response::text(*message).with_status(*status),
            Serves::Refused(rejection) => rejection.clone().into_response(),
        }
    }
}

/// The middleware [`Router::map_rejection`] installs.
pub(super) struct RenderRejections<F>(pub(super) F);

/// Marks a response whose rejection was rendered, so that outer renderers leave it alone.
#[derive(Clone, Copy)]
struct RejectionRendered;

impl<F, R> Middleware for RenderRejections<F>
where
    F: Fn(&Rejection, &Request) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    fn handle(&self, request: &mut Request, next: Next<'_>) -> Response {
        let response = next.run(request);
        let extensions = response.extensions();
        if extensions.get::<RejectionRendered>().is_some() {
            return response;
        }
        let Some(rejection) = extensions.get::<Rejection>() else {
            return response;
        };
        let mut rendered = (self.0)(rejection, request).into_response();
        rendered.extensions_mut().insert(rejection.clone());
        rendered.extensions_mut().insert(RejectionRendered);
        rendered
    }
}

/// Calls a handler; a panic becomes a logged 500 and never reaches the worker.
struct HandlerCall<'a>(&'a dyn Handler);

impl middleware::Endpoint for HandlerCall<'_> {
    fn call(&self, request: &mut Request) -> Response {
        middleware::catch_panic("handler", request, |request| self.0.serve(request))
    }
}

/// A router serving as another's fallback ([`Router::fallback_router`]): it routes the
/// request again, with its own routes, middleware and fallback.
pub(super) struct FallbackRouter(pub(super) Router);

impl Handler for FallbackRouter {
    fn call(&self, request: &Request) -> Response {
        // Only reached when called outside a router: route a copy of the request.
        let mut copy = Request::from_parts(
            request.head().clone(),
            request.body().to_vec(),
            request.remote_addr(),
        );
        self.0.respond(&mut copy)
    }

    fn serve(&self, request: &mut Request) -> Response {
        self.0.respond(request)
    }
}

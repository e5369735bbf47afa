//! [`Middleware`]: code around handlers, and [`Next`], the rest of the chain.

use std::sync::Arc;

use crate::handler::Handler;
use crate::request::Request;
use crate::response::Response;

/// Code that runs around the handlers of the router it is added to.
///
/// It gets the request mutably (to add extensions, say) and [`Next`], the rest of the
/// chain. It may call `next.run(req)` and edit the response, or answer without calling it
/// (a 401, a cached response). Implemented for every
/// `Fn(&mut Request, Next<'_>) -> Response` closure that is `Send + Sync`.
///
/// **Order:** middleware runs in the order it was added: the first added sees the request
/// first and the response last. A router's middleware runs for every request it routes, its
/// 404 and 405 answers included; middleware of a nested or merged router (or of a plugin's
/// router) runs only for that router's routes, inside the outer router's middleware.
///
/// # Examples
///
/// ```
/// use http::{StatusCode, header};
/// use switchyard::{Next, Request, Response, Router};
///
/// let router = Router::new()
///     .get("/secret", |_: &Request| "the secret")
///     .middleware(|req: &mut Request, next: Next<'_>| {
///         if req.headers().get(header::AUTHORIZATION).is_none() {
///             return Response::new(StatusCode::UNAUTHORIZED); // the handler never runs
///         }
///         let mut res = next.run(req);
///         res.headers_mut().insert("x-checked", "yes".parse().unwrap());
///         res
///     });
/// let denied = router.handle(http::Request::get("/secret").body(())?);
/// assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
/// let allowed = router.handle(
///     http::Request::get("/secret").header("authorization", "Bearer x").body(())?,
/// );
/// assert_eq!(allowed.headers()["x-checked"], "yes");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Middleware: Send + Sync + 'static {
    /// Handles `request`, calling `next.run(request)` to continue the chain.
    fn handle(&self, request: &mut Request, next: Next<'_>) -> Response;
}

impl<F> Middleware for F
where
    F: Fn(&mut Request, Next<'_>) -> Response + Send + Sync + 'static,
{
    fn handle(&self, request: &mut Request, next: Next<'_>) -> Response {
        self(request, next)
    }
}

/// The rest of a middleware chain: further middleware, then the handler.
#[derive(Clone, Copy)]
pub struct Next<'a> {
    chain: &'a [Arc<dyn Middleware>],
    endpoint: &'a dyn Endpoint,
}

/// What a chain ends in: a handler, or the rest of an outer chain.
pub(crate) trait Endpoint {
    fn call(&self, request: &mut Request) -> Response;
}

impl<H: Handler + ?Sized> Endpoint for H {
    fn call(&self, request: &mut Request) -> Response {
        Handler::call(self, request)
    }
}

impl<'a> Next<'a> {
    pub(crate) fn new(chain: &'a [Arc<dyn Middleware>], endpoint: &'a dyn Endpoint) -> Self {
        Self { chain, endpoint }
    }

    /// Runs the rest of the chain.
    pub fn run(self, request: &mut Request) -> Response {
        match self.chain.split_first() {
            Some((first, rest)) => first.handle(request, Next::new(rest, self.endpoint)),
            None => self.endpoint.call(request),
        }
    }
}

impl std::fmt::Debug for Next<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Next")
            .field("remaining_middleware", &self.chain.len())
            .finish()
    }
}

//! [`Middleware`]: code around handlers, and [`Next`], the rest of the chain.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use http::StatusCode;

use crate::handler::Handler;
use crate::request::Request;
use crate::response::{IntoResponse, Response};

/// Code that runs around the handlers of the router it is added to.
///
/// It gets the request mutably (to add extensions, say) and [`Next`], the rest of the
/// chain. It may call `next.run(req)` and edit the response, or answer without calling it
/// (a 401, a cached response). Implemented for every
/// `Fn(&mut Request, Next<'_>) -> impl IntoResponse` closure that is `Send + Sync`, so a
/// middleware may return `Result<Response, E>` and leave early with `?` (any `E:
/// IntoResponse`: a `StatusCode`, a [`Rejection`](crate::Rejection)). [`from_fn`] names the
/// type of a configurable middleware for you.
///
/// **Order:** middleware runs in the order it was added: the first added sees the request
/// first and the response last. A router's middleware runs for every request it serves,
/// its 404, 405 and OPTIONS answers included. Middleware of a router nested under a prefix
/// runs, inside the outer router's middleware, for every request under the prefix (its
/// routes, their 405 and OPTIONS answers, and unmatched paths there); middleware of a merged
/// router (or of a plugin's router) runs for its routes and their 405 and OPTIONS answers.
/// When one path has routes from two routers, the router of its first route answers 405
/// and OPTIONS for it.
///
/// **Panics:** a panic in a middleware (or a handler) is caught where it happens, logged
/// with the route (feature `log`), and becomes a 500 returned to the middleware around it, which still sees
/// the response and may edit it; the same happens with or without a server
/// ([`Router::handle`](crate::Router::handle)).
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

impl<F, R> Middleware for F
where
    F: Fn(&mut Request, Next<'_>) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    fn handle(&self, request: &mut Request, next: Next<'_>) -> Response {
        self(request, next).into_response()
    }
}

/// Makes a middleware of a closure whose argument types are inferred, for functions that
/// build configurable middleware and return `impl Middleware`.
///
/// # Examples
///
/// ```
/// use http::StatusCode;
/// use switchyard::{Middleware, Request, Response, Router, from_fn};
///
/// /// Lets through only requests that carry `token`.
/// fn require_token(token: &'static str) -> impl Middleware {
///     from_fn(move |req, next| -> Result<Response, StatusCode> {
///         let given = req.bearer_token().ok_or(StatusCode::UNAUTHORIZED)?;
///         if given != token {
///             return Err(StatusCode::FORBIDDEN);
///         }
///         Ok(next.run(req))
///     })
/// }
///
/// let router = Router::new()
///     .get("/admin", |_: &Request| "welcome")
///     .middleware(require_token("s3cret"));
/// let get = |auth: &str| {
///     let req = http::Request::get("/admin").header("authorization", auth).body(()).unwrap();
///     router.handle(req).status()
/// };
/// assert_eq!(get("Bearer s3cret"), StatusCode::OK);
/// assert_eq!(get("Bearer guess"), StatusCode::FORBIDDEN);
/// assert_eq!(get("Basic YTpi"), StatusCode::UNAUTHORIZED);
/// ```
pub fn from_fn<F, R>(middleware: F) -> FromFn<F>
where
    F: Fn(&mut Request, Next<'_>) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    FromFn(middleware)
}

/// A middleware made by [`from_fn`].
#[derive(Clone, Copy)]
pub struct FromFn<F>(F);

impl<F, R> Middleware for FromFn<F>
where
    F: Fn(&mut Request, Next<'_>) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    fn handle(&self, request: &mut Request, next: Next<'_>) -> Response {
        (self.0)(request, next).into_response()
    }
}

impl<F> std::fmt::Debug for FromFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FromFn").finish_non_exhaustive()
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

    /// Runs the rest of the chain. A panic in it comes back as a 500 response.
    pub fn run(self, request: &mut Request) -> Response {
        match self.chain.split_first() {
            Some((first, rest)) => {
                let next = Next::new(rest, self.endpoint);
                catch_panic("middleware", request, |request| first.handle(request, next))
            }
            None => self.endpoint.call(request),
        }
    }
}

/// Runs one layer (`what`: a middleware or a handler) of a request; a panic in it becomes a
/// logged 500, returned to the layer around it, and never reaches the worker.
pub(crate) fn catch_panic(
    what: &str,
    request: &mut Request,
    layer: impl FnOnce(&mut Request) -> Response,
) -> Response {
    match panic::catch_unwind(AssertUnwindSafe(|| layer(&mut *request))) {
        Ok(response) => response,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            crate::metrics::note_panic();
            log_panic(what, request, &message);
            Response::text("Internal Server Error\n").with_status(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

fn log_panic(what: &str, request: &Request, message: &str) {
    crate::logging::log_error!(
        "{what} for {} {} (route {}) panicked: {message}",
        request.method(),
        request.path(),
        request.route().unwrap_or("fallback"),
    );
}

impl std::fmt::Debug for Next<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Next")
            .field("remaining_middleware", &self.chain.len())
            .finish()
    }
}

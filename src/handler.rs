//! [`Handler`]: what serves a request; [`Placed`]: a handler with where and how it runs.

use std::sync::Arc;

use crate::request::Request;
use crate::response::{IntoResponse, Response};

/// Serves a request. Implemented for every `Fn(&Request) -> impl IntoResponse` closure or
/// function that can be shared between worker threads.
///
/// Handlers take the request by reference: the body has already been read within the
/// server's limit, so there is nothing to consume, and middleware can look at the request
/// after the handler ran.
///
/// # Examples
///
/// ```
/// use switchyard::{Handler, Request};
///
/// let hello = |req: &Request| format!("hello {}", req.path());
/// let res = hello.call(&Request::from(http::Request::get("/x").body(())?));
/// assert_eq!(res.status(), 200);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Serves `request`.
    fn call(&self, request: &Request) -> Response;

    /// This handler, run on the server's worker pool `name` (declared with
    /// [`ServerBuilder::worker_pool`](crate::ServerBuilder::worker_pool)) for the one
    /// route it is registered for; [`Router::on_pool`](crate::Router::on_pool) does it for
    /// every route of a router.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::{Handler, Request, Router};
    ///
    /// fn report(_: &Request) -> &'static str {
    ///     "a report that takes seconds to build"
    /// }
    ///
    /// // The GET is a report, on the `slow` pool; the DELETE beside it stays on the main one.
    /// let app = Router::new()
    ///     .get("/reports/{id}", report.on_pool("slow"))
    ///     .delete("/reports/{id}", |_: &Request| "deleted");
    /// ```
    fn on_pool(self, name: &str) -> Placed<Self>
    where
        Self: Sized,
    {
        Placed::new(self).on_pool(name)
    }

    /// This handler, reading its request body as it arrives
    /// ([`Request::body_reader`](crate::Request::body_reader)), up to `max_bytes`, for the
    /// one route it is registered for; [`Router::stream_bodies`](crate::Router::stream_bodies)
    /// does it for every route of a router.
    fn stream_bodies(self, max_bytes: u64) -> Placed<Self>
    where
        Self: Sized,
    {
        Placed::new(self).stream_bodies(max_bytes)
    }

    /// This handler, taking request bodies of up to `max_bytes` (gathered in full before
    /// it runs; spooled to a file past [`Limits::spool_threshold`](crate::Limits::spool_threshold)),
    /// for the one route it is registered for, instead of the server's
    /// [`Limits::max_body_bytes`](crate::Limits::max_body_bytes);
    /// [`Router::max_body_bytes`](crate::Router::max_body_bytes) does it for every route of
    /// a router.
    fn max_body_bytes(self, max_bytes: u64) -> Placed<Self>
    where
        Self: Sized,
    {
        Placed::new(self).max_body_bytes(max_bytes)
    }

    /// Where it runs and how its body is read, if it says: the pool's name, the limit of
    /// a body it reads as it arrives, and the limit of a body gathered for it. Set through
    /// [`Placed`].
    #[doc(hidden)]
    fn placement(&self) -> (Option<&str>, Option<u64>, Option<u64>) {
        (None, None, None)
    }

    /// Serves `request` as the router calls it, with the request its own for the time of
    /// the call (a router serving as a fallback routes it again). `call` by default.
    #[doc(hidden)]
    fn serve(&self, request: &mut Request) -> Response {
        self.call(request)
    }
}

impl<F, R> Handler for F
where
    F: Fn(&Request) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    fn call(&self, request: &Request) -> Response {
        self(request).into_response()
    }
}

/// A handler with where it runs and how its body is read, for the route it is registered
/// for: made by [`Handler::on_pool`] and [`Handler::stream_bodies`], which chain.
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use switchyard::{Handler, Request, Router};
///
/// let upload = |req: &Request| {
///     let mut bytes = 0;
///     let mut buf = [0; 8192];
///     while let Ok(n @ 1..) = req.body_reader().read(&mut buf) {
///         bytes += n;
///     }
///     format!("{bytes} bytes")
/// };
/// // Only the POST streams its body, on its own pool; the GET beside it is ordinary.
/// let app = Router::new()
///     .post("/files", upload.stream_bodies(1 << 30).on_pool("uploads"))
///     .get("/files", |_: &Request| "a list of files");
/// ```
#[derive(Debug, Clone)]
pub struct Placed<H> {
    handler: H,
    pool: Option<Arc<str>>,
    stream_limit: Option<u64>,
    body_limit: Option<u64>,
}

impl<H: Handler> Placed<H> {
    fn new(handler: H) -> Self {
        Self {
            handler,
            pool: None,
            stream_limit: None,
            body_limit: None,
        }
    }

    /// Runs it on the worker pool `name`; see [`Handler::on_pool`].
    #[must_use]
    pub fn on_pool(mut self, name: &str) -> Self {
        self.pool = Some(Arc::from(name));
        self
    }

    /// Lets it read its body as it arrives, up to `max_bytes`; see
    /// [`Handler::stream_bodies`].
    #[must_use]
    pub fn stream_bodies(mut self, max_bytes: u64) -> Self {
        self.stream_limit = Some(max_bytes);
        self
    }

    /// Takes bodies of up to `max_bytes`, gathered in full first; see
    /// [`Handler::max_body_bytes`].
    #[must_use]
    pub fn max_body_bytes(mut self, max_bytes: u64) -> Self {
        self.body_limit = Some(max_bytes);
        self
    }
}

impl<H: Handler> Handler for Placed<H> {
    fn call(&self, request: &Request) -> Response {
        self.handler.call(request)
    }

    fn placement(&self) -> (Option<&str>, Option<u64>, Option<u64>) {
        (self.pool.as_deref(), self.stream_limit, self.body_limit)
    }

    fn serve(&self, request: &mut Request) -> Response {
        self.handler.serve(request)
    }
}

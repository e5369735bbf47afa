//! [`Handler`]: what serves a request.

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

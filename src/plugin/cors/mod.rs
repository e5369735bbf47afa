//! [`Cors`]: the CORS protocol of the Fetch standard, as middleware: answers to preflight
//! requests, and the `Access-Control-*` headers of the responses to the requests that
//! follow.
//!
//! ```text
//! OPTIONS + Origin + Access-Control-Request-Method ──► preflight: 204, the route never runs
//!     origin, method and headers allowed ──► Access-Control-Allow-* headers
//!     otherwise                           ──► no Access-Control-Allow-* header
//! any other request ──► the router answers (OPTIONS: 204 + Allow), then
//!     origin allowed ──► Access-Control-Allow-Origin (+ -Credentials, -Expose-Headers)
//! ```
//!
//! This file holds the middleware; `builder.rs` checks a configuration and builds the
//! `Policy` that `policy.rs` applies to requests, with the origin rules of `origin.rs`.

mod builder;
mod origin;
mod policy;

pub use builder::CorsBuilder;
#[cfg(feature = "__internals")]
pub(super) use origin::is_origin;

use std::fmt;
use std::sync::Arc;

use http::header::{ACCESS_CONTROL_REQUEST_METHOD, ORIGIN};
use http::{HeaderMap, Method};

use self::policy::Policy;
use super::Plugin;
use crate::middleware::{Middleware, Next};
use crate::request::Request;
use crate::response::Response;
use crate::router::Router;

/// The wildcard, in the lists of the builder and in the headers.
const WILDCARD: &str = "*";

/// Answers browsers' cross-origin requests (CORS), as middleware (or a [`Plugin`]) on a
/// router. Built with [`Cors::builder`]; a configuration browsers would reject is an
/// error there, never a panic.
///
/// **Preflight requests** are the `OPTIONS` requests that carry both `Origin` and
/// `Access-Control-Request-Method`, and only those. They are answered here with `204 No
/// Content`, and the route is never called:
///
/// - when the origin, the requested method and every requested header are allowed, with
///   `Access-Control-Allow-Origin`, `-Allow-Credentials` (when allowed), `-Allow-Methods`,
///   `-Allow-Headers` and `-Max-Age` (when set);
/// - otherwise without any `Access-Control-Allow-*` header. The browser then fails the
///   preflight and reports which header is missing, which is more helpful than the "not
///   an ok status" a 403 would earn; the status is the same as for an allowed preflight,
///   as with most CORS middleware.
///
/// GET, HEAD and POST are always allowed methods: browsers do not ask for them. Every
/// other `OPTIONS` request goes to the router as usual, which answers `204` with `Allow`
/// unless a route claims `OPTIONS`.
///
/// **Other requests** go to the router; when their `Origin` is allowed, the response gets
/// `Access-Control-Allow-Origin` (the request's origin, or `*` when any origin is allowed
/// without credentials), `Access-Control-Allow-Credentials: true` when credentials are
/// allowed, and `Access-Control-Expose-Headers` when set. With any origin allowed, every
/// response gets `Access-Control-Allow-Origin: *`, `Origin` or not, so caches can share it.
///
/// **`Vary`.** When the answer depends on the origin (a list or a predicate of origins),
/// every response gets `Vary: Origin`, added to any `Vary` it has; preflight answers also
/// vary on `Access-Control-Request-Method` (unless any method is allowed) and
/// `Access-Control-Request-Headers` (unless any header is allowed).
///
/// **Where to install it.** Middleware runs around the router's 404, 405 and `OPTIONS`
/// answers, so installed on the application's router it answers preflights for every path,
/// those without an `OPTIONS` route, without any route, and those of nested routers.
/// Installed on a router nested at a prefix, it answers for every path under the prefix.
/// Installed on a merged router, it covers only that router's routes.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use http::{Method, StatusCode};
/// use switchyard::{Cors, Request, Router};
///
/// let cors = Cors::builder()
///     .allow_origins(["https://app.example"])
///     .allow_methods([Method::PUT, Method::DELETE])
///     .allow_headers(["content-type"])
///     .max_age(Duration::from_secs(600))
///     .build()?;
/// let router = Router::new().put("/items/{id}", |_: &Request| "stored").plugin(cors);
///
/// // The browser asks first.
/// let preflight = http::Request::options("/items/7")
///     .header("origin", "https://app.example")
///     .header("access-control-request-method", "PUT")
///     .header("access-control-request-headers", "content-type")
///     .body(())?;
/// let res = router.handle(preflight);
/// assert_eq!(res.status(), StatusCode::NO_CONTENT);
/// assert_eq!(res.headers()["access-control-allow-origin"], "https://app.example");
/// assert_eq!(res.headers()["access-control-allow-methods"], "PUT, DELETE");
/// assert_eq!(res.headers()["access-control-allow-headers"], "content-type");
/// assert_eq!(res.headers()["access-control-max-age"], "600");
///
/// // Then sends the request, whose response it lets the page read.
/// let put = http::Request::put("/items/7").header("origin", "https://app.example").body(())?;
/// let res = router.handle(put);
/// assert_eq!(res.headers()["access-control-allow-origin"], "https://app.example");
/// assert_eq!(res.headers()["vary"], "origin");
///
/// // Another origin gets no permission.
/// let put = http::Request::put("/items/7").header("origin", "https://evil.example").body(())?;
/// assert!(router.handle(put).headers().get("access-control-allow-origin").is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Cors {
    policy: Arc<Policy>,
}

impl Cors {
    /// A builder that allows no origin yet; [`CorsBuilder::build`] needs one.
    pub fn builder() -> CorsBuilder {
        CorsBuilder::default()
    }
}

impl fmt::Debug for Cors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let policy = &*self.policy;
        f.debug_struct("Cors")
            .field("origins", &policy.origins)
            .field("credentials", &policy.credentials)
            .field("methods", &policy.methods)
            .field("request_headers", &policy.request_headers)
            .field("expose_headers", &policy.expose_headers)
            .field("max_age", &policy.max_age)
            .finish()
    }
}

impl Middleware for Cors {
    fn handle(&self, request: &mut Request, next: Next<'_>) -> Response {
        if is_preflight(request.method(), request.headers()) {
            return self.policy.preflight(request.headers());
        }
        let origin = request.headers().get(ORIGIN).cloned();
        let mut response = next.run(request);
        self.policy
            .decorate(origin.as_ref(), response.headers_mut());
        response
    }
}

impl Plugin for Cors {
    fn name(&self) -> &str {
        "cors"
    }

    fn install(self, router: Router) -> Router {
        router.middleware(self)
    }
}

/// Whether a request is a CORS preflight: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method` (Fetch, "CORS-preflight request"). An `OPTIONS` request
/// without them is an ordinary one.
fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(ORIGIN)
        && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;
    use crate::plugin::test_support::headers;

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap())
    }

    fn listed() -> CorsBuilder {
        Cors::builder().allow_origins(["https://app.example"])
    }

    const APP: (&str, &str) = ("origin", "https://app.example");

    #[test]
    fn preflight_needs_options_origin_and_request_method() {
        let full = headers(&[APP, ("access-control-request-method", "PUT")]);
        assert!(is_preflight(&Method::OPTIONS, &full));
        assert!(!is_preflight(&Method::GET, &full));
        assert!(!is_preflight(&Method::POST, &full));
        let no_method = headers(&[APP]);
        assert!(!is_preflight(&Method::OPTIONS, &no_method));
        let no_origin = headers(&[("access-control-request-method", "PUT")]);
        assert!(!is_preflight(&Method::OPTIONS, &no_origin));
        assert!(!is_preflight(&Method::OPTIONS, &HeaderMap::new()));
    }

    #[test]
    fn preflights_skip_the_route_and_other_options_reach_the_router() {
        let router = Router::new()
            .get("/items", |_: &Request| -> &'static str {
                panic!("a preflight must not reach the route")
            })
            .plugin(listed().allow_methods(["PUT"]).build().unwrap());
        let res = router.handle(
            http::Request::options("/items")
                .header("origin", "https://app.example")
                .header("access-control-request-method", "PUT")
                .body(())
                .unwrap(),
        );
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_eq!(header(&res, "access-control-allow-methods"), Some("PUT"));
        assert_eq!(header(&res, "allow"), None);

        let res = router.handle(
            http::Request::options("/items")
                .header("origin", "https://app.example")
                .body(())
                .unwrap(),
        );
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_eq!(header(&res, "allow"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(
            header(&res, "access-control-allow-origin"),
            Some("https://app.example")
        );
    }
}

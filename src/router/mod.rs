//! [`Router`]: maps `METHOD /path` to handlers, with middleware, state and plugins.
//!
//! - `table`: the route table (matchit's tree, one method table per pattern) and
//!   registration errors;
//! - `scope`: routers composed into one (`nest`, `merge`): their middleware, state and
//!   fallbacks scoped to their routes and prefixes;
//! - `plan`: a request routed once, from its head ([`RoutePlan`]), and where it runs;
//! - `serve`: a planned request served through the middleware of its router and scope.

mod plan;
mod scope;
mod serve;
mod table;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use http::Method;
use http::header::{CONTENT_LENGTH, HeaderValue};

pub(crate) use self::plan::RoutePlan;
use self::scope::{Fallback, NestedScope};
pub(crate) use self::serve::Arrival;
use self::serve::RenderRejections;
use self::table::PathRoute;
use crate::error::{Rejection, RouteError};
use crate::handler::Handler;
use crate::method_router::{RouteHandler, Scope};
use crate::metrics::MetricsSlot;
use crate::middleware::Middleware;
use crate::params::StateMap;
use crate::request::Request;
use crate::response::{IntoResponse, Response};

/// Routes requests to handlers by path and method.
///
/// Patterns use matchit's syntax: `/users/{id}` captures one segment, `/files/{*path}`
/// captures the rest of the path (at the end only), `{{` and `}}` are literal braces. A
/// static segment wins over a parameter, which wins over a catch-all. Captured values are
/// percent-decoded ([`Request::param`]); the query string never takes part in routing.
///
/// - a path with no route: 404 (or the [`fallback`](Self::fallback));
/// - a known path with an unregistered method: 405 with `Allow` listing its methods;
/// - HEAD is served by the GET handler, without the body;
/// - OPTIONS is answered 204 with `Allow`, unless a route claims it.
///
/// Registering the same method and pattern twice, or two patterns that match the same paths
/// (`/users/{id}` and `/users/{name}`), is a [`RouteError::Conflict`] naming both routes and
/// the plugins that registered them. The builder methods keep the first registration and
/// record the error; [`Router::check`], [`ServerBuilder::bind`](crate::ServerBuilder::bind)
/// report it. [`Router::try_route`] reports it at once.
///
/// # Examples
///
/// ```
/// use http::{Method, StatusCode};
/// use switchyard::{Request, Router};
///
/// let router = Router::new()
///     .get("/users/{id}", |req: &Request| format!("user {}", req.param("id").unwrap()))
///     .route(Method::DELETE, "/users/{id}", |_: &Request| StatusCode::NO_CONTENT);
///
/// let res = router.handle(http::Request::get("/users/42").body(())?);
/// assert_eq!(res.into_body_bytes()?, b"user 42");
///
/// let res = router.handle(http::Request::post("/users/42").body(())?);
/// assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
/// assert_eq!(res.headers()["allow"], "GET, DELETE, HEAD, OPTIONS");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a router does nothing until it handles requests"]
pub struct Router {
    matcher: matchit::Router<usize>,
    routes: Vec<PathRoute>,
    by_pattern: HashMap<String, usize>,
    middleware: Vec<Arc<dyn Middleware>>,
    /// `middleware[0]` is the [`map_rejection`](Router::map_rejection) renderer.
    renders_rejections: bool,
    state: Arc<StateMap>,
    /// With the middleware and state of the router it came from, if it came with `merge`.
    fallback: Option<RouteHandler>,
    errors: Vec<RouteError>,
    /// The plugin being installed, which owns the routes registered meanwhile.
    owner: Option<Arc<str>>,
    /// The named worker pool this router's routes run on; see [`Router::on_pool`].
    pool: Option<Arc<str>>,
    /// The body limit of this router's routes if they stream bodies; see
    /// [`Router::stream_bodies`].
    stream_limit: Option<u64>,
    /// The largest body gathered for this router's routes; see [`Router::max_body_bytes`].
    body_limit: Option<u64>,
    /// How long this router's handlers may run; see [`Router::handler_timeout`].
    handler_timeout: Option<std::time::Duration>,
    /// Nested under a non-empty prefix, this router's `/` route also answers `{prefix}/`:
    /// a directory's URL, which [`StaticFiles`](crate::StaticFiles) serves (a catch-all
    /// needs a non-empty segment, so nothing else would match it).
    root_with_slash: bool,
    empty_scope: Arc<Scope>,
    /// Nested routers' scopes for unmatched paths, longest prefix first.
    nested: Vec<NestedScope>,
    /// Where `Metrics` plugins installed in this router find the server that serves them.
    metrics_slots: Vec<MetricsSlot>,
}

impl Default for Router {
    fn default() -> Self {
        Self {
            matcher: matchit::Router::new(),
            routes: Vec::new(),
            by_pattern: HashMap::new(),
            middleware: Vec::new(),
            renders_rejections: false,
            state: Arc::new(StateMap::default()),
            fallback: None,
            errors: Vec::new(),
            owner: None,
            pool: None,
            stream_limit: None,
            body_limit: None,
            handler_timeout: None,
            root_with_slash: false,
            empty_scope: Arc::new(Scope::default()),
            nested: Vec::new(),
            metrics_slots: Vec::new(),
        }
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes: Vec<String> = self
            .routes
            .iter()
            .flat_map(|route| {
                route.methods.entries().map(move |(method, _)| {
                    format!("{} {}", method.map_or("*", Method::as_str), route.pattern)
                })
            })
            .collect();
        f.debug_struct("Router")
            .field("routes", &routes)
            .field("middleware", &self.middleware.len())
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

macro_rules! method_shorthands {
    ($($name:ident => $method:ident,)*) => {$(
        #[doc = concat!("Routes `", stringify!($method), " path` to `handler`; see [`route`](Self::route).")]
        pub fn $name<H: Handler>(self, path: &str, handler: H) -> Self {
            self.route(Method::$method, path, handler)
        }
    )*};
}

impl Router {
    /// An empty router: every request gets 404.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `method path` to `handler`. A conflict or an invalid pattern is recorded and
    /// reported by [`check`](Self::check) (and by the server's `bind`); the first
    /// registration stays.
    pub fn route<H: Handler>(mut self, method: Method, path: &str, handler: H) -> Self {
        let endpoint = self.endpoint(Arc::new(handler));
        if let Err(error) = self.insert(Some(method), path, endpoint) {
            self.errors.push(error);
        }
        self
    }

    /// Serves WebSocket connections at `path` (`GET`): each handshake is checked
    /// ([`WebSocketUpgrade`](crate::live::WebSocketUpgrade): 400/426 when it is wrong) and
    /// answered with 101, and `session` makes the new connection's
    /// [`WebSocketSession`](crate::live::WebSocketSession) from the request. For a
    /// subprotocol, limits of its own or a refusal (401...), route an ordinary handler that
    /// uses `WebSocketUpgrade` instead.
    ///
    /// ```
    /// use switchyard::live::{Message, WebSocket};
    /// use switchyard::{Request, Router};
    ///
    /// let app = Router::new().websocket("/ws", |_req: &Request| {
    ///     |ws: &WebSocket, message: Message| {
    ///         let _ = ws.send(message);
    ///     }
    /// });
    /// ```
    pub fn websocket<F, S>(self, path: &str, session: F) -> Self
    where
        F: Fn(&Request) -> S + Send + Sync + 'static,
        S: crate::live::WebSocketSession,
    {
        self.route(Method::GET, path, move |req: &Request| {
            match crate::live::WebSocketUpgrade::from_request(req) {
                Ok(upgrade) => upgrade.on_upgrade(session(req)),
                Err(refusal) => refusal,
            }
        })
    }

    /// Like [`route`](Self::route), but reports a conflict or an invalid pattern at once.
    ///
    /// # Errors
    ///
    /// [`RouteError::Conflict`] naming both routes, [`RouteError::Invalid`] for bad syntax.
    ///
    /// # Examples
    ///
    /// ```
    /// use http::Method;
    /// use switchyard::{Request, RouteError, Router};
    ///
    /// let router = Router::new().try_route(Method::GET, "/users/{id}", |_: &Request| "a")?;
    /// let err = router
    ///     .try_route(Method::GET, "/users/{name}", |_: &Request| "b")
    ///     .unwrap_err();
    /// assert!(matches!(err, RouteError::Conflict { .. }));
    /// assert_eq!(err.to_string(), "route GET /users/{name} conflicts with GET /users/{id}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_route<H: Handler>(
        mut self,
        method: Method,
        path: &str,
        handler: H,
    ) -> Result<Self, RouteError> {
        let endpoint = self.endpoint(Arc::new(handler));
        self.insert(Some(method), path, endpoint)?;
        Ok(self)
    }

    method_shorthands! {
        get => GET,
        post => POST,
        put => PUT,
        patch => PATCH,
        delete => DELETE,
    }

    /// Routes every method of `path` that has no handler of its own to `handler`.
    pub fn any<H: Handler>(mut self, path: &str, handler: H) -> Self {
        let endpoint = self.endpoint(Arc::new(handler));
        if let Err(error) = self.insert(None, path, endpoint) {
            self.errors.push(error);
        }
        self
    }

    /// Serves requests that match no route (default: an empty 404). Middleware runs for it,
    /// and it sees this router's state.
    pub fn fallback<H: Handler>(mut self, handler: H) -> Self {
        self.fallback = Some(self.endpoint(Arc::new(handler)));
        self
    }

    /// Serves requests that match no route with `router` (or anything that converts into
    /// one, such as [`StaticFiles`](crate::StaticFiles)): it routes them again, with its
    /// own routes, middleware, state and fallback, inside this router's middleware. Like
    /// axum's `fallback_service`: "anything else is the single-page app's files".
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::{Request, Router};
    ///
    /// let site = Router::new()
    ///     .get("/", |_: &Request| "home")
    ///     .fallback(|_: &Request| "the app's index.html");
    /// let app = Router::new()
    ///     .get("/api/version", |_: &Request| "1.0")
    ///     .fallback_router(site);
    /// let get = |path: &str| app.handle(http::Request::get(path).body(()).unwrap());
    /// assert_eq!(get("/api/version").into_body_bytes()?, b"1.0");
    /// assert_eq!(get("/").into_body_bytes()?, b"home");
    /// assert_eq!(get("/some/page").into_body_bytes()?, b"the app's index.html");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fallback_router(self, router: impl Into<Router>) -> Self {
        self.fallback(serve::FallbackRouter(router.into()))
    }

    /// Adds middleware around every request this router handles; see [`Middleware`] for
    /// the order.
    pub fn middleware<M: Middleware>(mut self, middleware: M) -> Self {
        self.middleware.push(Arc::new(middleware));
        self
    }

    /// Renders every [`Rejection`] of this router's handlers and middleware (and of the
    /// routers nested into it, unless they render their own) with `render`: a JSON API
    /// answers `{"error": ...}` instead of the default plain-text message. The status is
    /// whatever `render` returns; [`Rejection::status`] is the usual choice. A second call
    /// replaces the first.
    ///
    /// It runs outside all of this router's middleware, so they see the rejection's
    /// default response, with the [`Rejection`] in its extensions.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::{Rejection, Request, Response, Router};
    ///
    /// let router = Router::new()
    ///     .get("/items/{id}", |req: &Request| -> Result<String, Rejection> {
    ///         let id: u32 = req.param_as("id")?;
    ///         Ok(format!("item {id}"))
    ///     })
    ///     .map_rejection(|rejection: &Rejection, _: &Request| {
    ///         let body = format!(r#"{{"error":{:?}}}"#, rejection.message());
    ///         Response::with_content_type(body.into(), "application/json")
    ///             .with_status(rejection.status())
    ///     });
    /// let res = router.handle(http::Request::get("/items/x").body(())?);
    /// assert_eq!(res.status(), 400);
    /// assert_eq!(res.headers()["content-type"], "application/json");
    /// assert_eq!(
    ///     res.into_body_bytes()?,
    ///     br#"{"error":"path parameter \"id\" has an invalid value \"x\""}"#
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_rejection<F, R>(mut self, render: F) -> Self
    where
        F: Fn(&Rejection, &Request) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        let renderer: Arc<dyn Middleware> = Arc::new(RenderRejections(render));
        if self.renders_rejections {
            self.middleware[0] = renderer;
        } else {
            self.middleware.insert(0, renderer);
            self.renders_rejections = true;
        }
        self
    }

    /// Attaches a value that handlers read with [`Request::state`]. One value per type; a
    /// second value of the same type replaces the first.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use switchyard::{Request, Router};
    ///
    /// struct Hits(AtomicU64);
    /// let router = Router::new()
    ///     .state(Hits(AtomicU64::new(0)))
    ///     .get("/", |req: &Request| {
    ///         let hits = req.state::<Hits>().expect("state is attached");
    ///         format!("hit {}", hits.0.fetch_add(1, Ordering::Relaxed) + 1)
    ///     });
    /// router.handle(http::Request::get("/").body(())?);
    /// let res = router.handle(http::Request::get("/").body(())?);
    /// assert_eq!(res.into_body_bytes()?, b"hit 2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        Arc::make_mut(&mut self.state).insert(value);
        self
    }

    /// Mounts `router` under `prefix` (`"/api"`): its `/users` becomes `/api/users`, its `/`
    /// becomes `/api`. Anything that converts into a router mounts the same way, such as
    /// [`StaticFiles`](crate::StaticFiles) (`nest("/assets", StaticFiles::new("./public"))`),
    /// whose `/` also answers `/assets/`.
    ///
    /// Its middleware and state apply to every request under the prefix (`/api` and
    /// `/api/...`), and only there: its routes, the 405 and OPTIONS answers for their paths,
    /// and the paths under the prefix that match no route, which its fallback serves (or, if
    /// it has none, the fallback of the router it ends up in, inside its middleware). So an
    /// authentication middleware on the nested router answers every request under `/api`,
    /// and an unauthenticated client cannot tell which paths exist there. The longest nest
    /// prefix covering a path owns it: no catch-all of the outer router (`/{*path}`, or a
    /// merged [`StaticFiles`](crate::StaticFiles) with its single-page-app fallback) serves
    /// the unmatched paths under the prefix, whatever the order of `nest` and `merge`. A
    /// route of the outer router that names a path under the prefix without a catch-all
    /// (`/{tenant}/dashboard` for `/api/dashboard`) keeps serving it. At `"/"` there is no
    /// prefix to cover: nesting is merging, without taking the fallback.
    ///
    /// # Examples
    ///
    /// ```
    /// use http::StatusCode;
    /// use switchyard::{Next, Request, Response, Router};
    ///
    /// let api = Router::new()
    ///     .get("/users", |_: &Request| "users")
    ///     .middleware(|req: &mut Request, next: Next<'_>| match req.bearer_token() {
    ///         Some("s3cret") => next.run(req),
    ///         _ => Response::new(StatusCode::UNAUTHORIZED),
    ///     });
    /// let app = Router::new().get("/", |_: &Request| "home").nest("/api", api);
    /// let get = |path: &str| app.handle(http::Request::get(path).body(()).unwrap()).status();
    /// assert_eq!(get("/"), StatusCode::OK);
    /// assert_eq!(get("/api/users"), StatusCode::UNAUTHORIZED);
    /// assert_eq!(get("/api/no-such-path"), StatusCode::UNAUTHORIZED); // not 404
    /// assert_eq!(get("/elsewhere"), StatusCode::NOT_FOUND);
    /// ```
    pub fn nest(self, prefix: &str, router: impl Into<Router>) -> Self {
        let prefix = prefix.trim_end_matches('/');
        self.absorb(prefix, router.into(), Fallback::UnderPrefix)
    }

    /// Adds every route of `router` (or of anything that converts into one, such as
    /// [`StaticFiles`](crate::StaticFiles) served at the root), whose middleware and state
    /// apply to its routes (and their 405 and OPTIONS answers) only. Takes its fallback, with
    /// its middleware and state, if this router has none.
    pub fn merge(self, router: impl Into<Router>) -> Self {
        self.absorb("", router.into(), Fallback::TakeIfNone)
    }

    /// Makes this router's `/` route answer `{prefix}/` as well as `{prefix}` once nested.
    pub(crate) fn with_root_with_slash(mut self) -> Self {
        self.root_with_slash = true;
        self
    }

    /// Runs `install` on this router with the routes it registers attributed to `owner`
    /// (a plugin's name) in conflict errors.
    pub(crate) fn installing(mut self, owner: &str, install: impl FnOnce(Self) -> Self) -> Self {
        let previous = self.owner.replace(Arc::from(owner));
        let mut router = install(self);
        router.owner = previous;
        router
    }

    /// Runs this router's routes on the server's worker pool `name`, declared with
    /// [`ServerBuilder::worker_pool`](crate::ServerBuilder::worker_pool): a bulkhead, so that slow
    /// endpoints saturate their own workers and never starve the others. Nest or merge the
    /// router into the application; routes of routers nested into it keep their own pool, if
    /// they have one.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use switchyard::{Request, Router, Server};
    ///
    /// let reports = Router::new()
    ///     .get("/reports/{id}", |_: &Request| "a report that takes seconds to build")
    ///     .on_pool("slow");
    /// let server = Server::builder()
    ///     .threads(8)
    ///     .worker_pool("slow", 2) // at most 2 workers ever busy with reports
    ///     .app(Router::new().get("/ping", |_: &Request| "pong").merge(reports))
    ///     .bind("127.0.0.1:0")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_pool(mut self, name: &str) -> Self {
        self.pool = Some(Arc::from(name));
        self
    }

    /// Lets the handlers of this router's routes read request bodies as they arrive, with
    /// [`Request::body_reader`], up to `max_bytes` each (instead of the server's
    /// `max_body_bytes`, gathered in full first). For uploads larger than memory should hold.
    /// A body the handler does not read to its end closes the connection after the
    /// response. Nest or merge the router into the application, as with
    /// [`on_pool`](Self::on_pool).
    ///
    /// The handler reads with blocking reads (bounded by the body-read timeout), so a slow
    /// uploader holds its worker: put streaming routes on their own [`on_pool`](Self::on_pool), so
    /// slow uploads can never take the main pool's workers.
    pub fn stream_bodies(mut self, max_bytes: u64) -> Self {
        self.stream_limit = Some(max_bytes);
        self
    }

    /// Lets this router's routes take request bodies of up to `max_bytes` (instead of the
    /// server's [`Limits::max_body_bytes`](crate::Limits::max_body_bytes)); larger ones get
    /// 413 before they are read. The body is still gathered in full before the handler
    /// runs, with no worker waiting for it: past
    /// [`Limits::spool_threshold`](crate::Limits::spool_threshold) it goes to a temporary
    /// file as it arrives ([`Request::body_file`]), so an upload of gigabytes costs a file
    /// and a small buffer. Nest or merge the router into the application, as with
    /// [`on_pool`](Self::on_pool); a route's own
    /// [`Handler::max_body_bytes`](crate::Handler::max_body_bytes) wins.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use switchyard::{Request, Router};
    ///
    /// let uploads = Router::new()
    ///     .post("/uploads", |req: &Request| {
    ///         let bytes = req.body_reader().bytes().count(); // memory or file alike
    ///         format!("{bytes} bytes")
    ///     })
    ///     .max_body_bytes(1 << 30);
    /// let app = Router::new().merge(uploads);
    /// # let _ = app;
    /// ```
    pub fn max_body_bytes(mut self, max_bytes: u64) -> Self {
        self.body_limit = Some(max_bytes);
        self
    }

    /// Answers this router's requests with `503 Service Unavailable` (and `Retry-After`)
    /// once their handler has run for `timeout`, at that moment: the client does not wait
    /// for a handler that overruns, and the handler, told through
    /// [`Request::cancelled`], can stop early. Whatever it returns afterwards is dropped
    /// (and counted). Overrides the server's
    /// [`Limits::handler_timeout`](crate::Limits::handler_timeout) for these routes; nest or
    /// merge the router as with [`on_pool`](Self::on_pool). See
    /// [`Limits::handler_timeout`](crate::Limits::handler_timeout) for how the answer is
    /// given and why it is a 503.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use switchyard::{Request, Router, Server};
    ///
    /// let reports = Router::new()
    ///     .get("/reports/{id}", |req: &Request| {
    ///         while !req.cancelled() {
    ///             // ... a step of the report ...
    ///             # break;
    ///         }
    ///         "report"
    ///     })
    ///     .handler_timeout(Duration::from_secs(2));
    /// let server = Server::builder().app(Router::new().merge(reports)).bind("127.0.0.1:0")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handler_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.handler_timeout = Some(timeout);
        self
    }

    /// The first registration error, if any.
    ///
    /// # Errors
    ///
    /// The first [`RouteError`] recorded by [`route`](Self::route) and friends.
    pub fn check(mut self) -> Result<Self, RouteError> {
        if self.errors.is_empty() {
            Ok(self)
        } else {
            Err(self.errors.swap_remove(0))
        }
    }

    /// Every registration error recorded so far.
    pub fn errors(&self) -> &[RouteError] {
        &self.errors
    }

    /// Handles a request in-process, with no socket: the way to unit-test handlers. A HEAD
    /// response comes back without its body, as it would over the wire.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::{Request, Router};
    ///
    /// let router = Router::new().post("/echo", |req: &Request| req.body().to_vec());
    /// let res = router.handle(http::Request::post("/echo").body("ping")?);
    /// assert_eq!(res.status(), 200);
    /// assert_eq!(res.into_body_bytes()?, b"ping");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle(&self, request: impl Into<Request>) -> Response {
        let mut request = request.into();
        let is_head = request.method() == Method::HEAD;
        let response = self.respond(&mut request);
        if !is_head {
            return response;
        }
        let len = response.body().len();
        let mut response = response.with_body(());
        if let Some(len) = len {
            response
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(len));
        }
        response
    }

    /// Whether nothing was added to this router: no route, middleware, state, fallback.
    pub(crate) fn is_empty(&self) -> bool {
        self.routes.is_empty()
            && self.middleware.is_empty()
            && self.state.is_empty()
            && self.fallback.is_none()
            && self.errors.is_empty()
    }
}

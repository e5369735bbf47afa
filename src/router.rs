//! [`Router`]: maps `METHOD /path` to handlers, with middleware, state and plugins.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use http::header::{ALLOW, CONTENT_LENGTH, HeaderValue};
use http::{Method, StatusCode, Uri};

use crate::error::{Rejection, RouteError};
use crate::handler::Handler;
use crate::method_router::{HandlerIndex, MethodMatch, MethodRouter, RouteHandler, Scope};
use crate::metrics::{MetricsSlot, RouteLayout, SeriesOffset};
use crate::middleware::{self, Middleware, Next};
use crate::params::{PathParams, StateMap};
use crate::request::Request;
use crate::response::{IntoResponse, Response};

/// A path pattern and its method table.
#[derive(Clone)]
struct PathRoute {
    pattern: Arc<str>,
    /// Parameter names in pattern order, shared by every request that matches.
    param_names: Arc<[Arc<str>]>,
    methods: MethodRouter,
}

/// The requests under a nested router's prefix that match no route: they are served inside
/// that router's middleware and state (`endpoint`'s scope), by its fallback or by the
/// serving router's.
#[derive(Clone)]
struct NestedScope {
    /// `/api`: covers `/api` and `/api/...`.
    prefix: String,
    /// The nested router's middleware and state; its fallback as the handler, if `Own`.
    endpoint: RouteHandler,
    serves: NestedFallback,
}

/// What serves an unmatched request under a nested router's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NestedFallback {
    /// The nested router's own fallback: the endpoint's handler.
    Own,
    /// The fallback of the router that serves (404 if it has none).
    Serving,
}

impl NestedScope {
    fn covers(&self, path: &str) -> bool {
        path.strip_prefix(self.prefix.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

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
    /// The named worker pool this router's routes run on; see [`Router::pool`].
    pool: Option<Arc<str>>,
    /// The body limit of this router's routes if they stream bodies; see
    /// [`Router::stream_bodies`].
    stream_limit: Option<u64>,
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
    /// and an unauthenticated client cannot tell which paths exist there. A route of the
    /// outer router that matches a path under the prefix (`/{tenant}/dashboard` for
    /// `/api/dashboard`) keeps serving it. At `"/"` there is no prefix to cover: nesting is
    /// merging, without taking the fallback.
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
    /// [`ServerBuilder::pool`](crate::ServerBuilder::pool): a bulkhead, so that slow
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
    ///     .pool("slow");
    /// let server = Server::builder()
    ///     .threads(8)
    ///     .pool("slow", 2) // at most 2 workers ever busy with reports
    ///     .app(Router::new().get("/ping", |_: &Request| "pong").merge(reports))
    ///     .bind("127.0.0.1:0")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pool(mut self, name: &str) -> Self {
        self.pool = Some(Arc::from(name));
        self
    }

    /// Lets the handlers of this router's routes read request bodies as they arrive, with
    /// [`Request::body_reader`], up to `max_bytes` each (instead of the server's
    /// `max_body_bytes`, gathered in full first). For uploads larger than memory should hold.
    /// A body the handler does not read to its end closes the connection after the
    /// response. Nest or merge the router into the application, as with
    /// [`pool`](Self::pool).
    ///
    /// The handler reads with blocking reads (bounded by the body-read timeout), so a slow
    /// uploader holds its worker: put streaming routes on their own [`pool`](Self::pool), so
    /// slow uploads can never take the main pool's workers.
    pub fn stream_bodies(mut self, max_bytes: u64) -> Self {
        self.stream_limit = Some(max_bytes);
        self
    }

    /// Routes `method path` once: what serves it, owned, so that it can travel with the
    /// request (to another pool, across turns) and be served without routing again.
    pub(crate) fn plan(&self, method: &Method, uri: &Uri) -> RoutePlan {
        let Ok(matched) = self.matcher.at(uri.path()) else {
            return RoutePlan::NotFound;
        };
        let index = *matched.value;
        let route = &self.routes[index];
        let handler = match route.methods.lookup(method) {
            MethodMatch::Handler(handler) => handler,
            MethodMatch::Options => {
                return RoutePlan::Allow {
                    status: StatusCode::NO_CONTENT,
                    route: index,
                };
            }
            MethodMatch::NotAllowed => {
                return RoutePlan::Allow {
                    status: StatusCode::METHOD_NOT_ALLOWED,
                    route: index,
                };
            }
        };
        // matchit gives the parameters in pattern order, the order of the route's names.
        debug_assert!(
            matched
                .params
                .iter()
                .map(|(key, _)| key)
                .eq(route.param_names.iter().map(|name| &**name))
        );
        let mut params = PathParams::new(&route.param_names, uri.path_and_query());
        for (_, raw) in matched.params.iter() {
            if params.push_raw(raw).is_none() {
                return RoutePlan::InvalidParam {
                    route: index,
                    handler,
                };
            }
        }
        RoutePlan::Route {
            route: index,
            handler,
            params,
        }
    }

    fn planned_handler(&self, plan: &RoutePlan) -> Option<&RouteHandler> {
        match plan {
            RoutePlan::Route { route, handler, .. } => {
                Some(self.routes[*route].methods.handler(*handler))
            }
            _ => None,
        }
    }

    /// Where a planned request runs and how its body is read: the pool name (`None`: the
    /// default pool) and the body limit if its handler streams the body.
    pub(crate) fn placement(&self, plan: &RoutePlan) -> (Option<&str>, Option<u64>) {
        let handler = self.planned_handler(plan);
        let pool = handler
            .and_then(|handler| handler.pool.as_deref())
            .or(self.pool.as_deref());
        let stream_limit = handler
            .and_then(|handler| handler.stream_limit)
            .or(self.stream_limit);
        (pool, stream_limit)
    }

    /// Registers where a `Metrics` plugin finds the server's metrics once it binds.
    pub(crate) fn add_metrics_slot(&mut self, slot: MetricsSlot) {
        self.metrics_slots.push(slot);
    }

    /// Every `Metrics` plugin's slot, to be filled when the server binds.
    pub(crate) fn metrics_slots(&self) -> &[MetricsSlot] {
        &self.metrics_slots
    }

    /// One latency series per route template and method (a nest's fallback has none), in
    /// route order: methods in registration order, then the any-method handler.
    pub(crate) fn metrics_layout(&self) -> RouteLayout {
        let mut layout = RouteLayout::default();
        for route in &self.routes {
            let offset = layout.series.len();
            let mut methods = 0;
            for (method, _) in route.methods.entries() {
                let label = method.map_or("ANY", Method::as_str);
                layout
                    .series
                    .push((Arc::clone(&route.pattern), label.to_owned()));
                methods += usize::from(method.is_some());
            }
            layout.offsets.push(Some(SeriesOffset {
                offset,
                any: methods,
            }));
        }
        layout
    }

    /// Whether any route streams its request body.
    pub(crate) fn streams_bodies(&self) -> bool {
        self.stream_limit.is_some()
            || self.routes.iter().any(|route| {
                route
                    .methods
                    .entries()
                    .any(|(_, e)| e.stream_limit.is_some())
            })
    }

    /// Every pool name routes refer to.
    pub(crate) fn pool_names(&self) -> Vec<Arc<str>> {
        let mut names: Vec<Arc<str>> = self
            .routes
            .iter()
            .flat_map(|route| route.methods.entries().filter_map(|(_, e)| e.pool.clone()))
            .chain(self.pool.clone())
            .collect();
        names.sort();
        names.dedup();
        names
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

    /// Routes and serves `request`.
    pub(crate) fn respond(&self, request: &mut Request) -> Response {
        let plan = self.plan(request.method(), request.uri());
        self.respond_planned(request, plan)
    }

    /// Serves `request` as `plan` (from [`plan`](Self::plan) on this router) says: this
    /// router's middleware, then the middleware of the scope the request falls in (the
    /// nested or merged router it belongs to), then what serves it.
    fn respond_planned(&self, request: &mut Request, plan: RoutePlan) -> Response {
        let root_state = Some(Arc::clone(&self.state));
        let scoped = match plan {
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
        headers: crate::head::RawHeaders,
        body: crate::body::RequestBody,
        peer: Option<std::net::SocketAddr>,
        draining: bool,
        plan: RoutePlan,
    ) -> http::Response<crate::Body> {
        let mut request = Request::from_body(head, headers, body, peer);
        request.set_server_draining(draining);
        let respond = std::panic::AssertUnwindSafe(|| self.respond_planned(&mut request, plan));
        let responded = std::panic::catch_unwind(respond);
        crate::head::give_back(request.take_headers());
        match responded {
            Ok(response) => response.into_http(),
            Err(_) => {
                crate::metrics::note_panic();
                Response::text("Internal Server Error\n")
                    .with_status(StatusCode::INTERNAL_SERVER_ERROR)
                    .into_http()
            }
        }
    }

    /// Route lookup alone, for the router bench (feature `__internals`).
    #[cfg(feature = "__internals")]
    #[doc(hidden)]
    pub fn resolve_for_bench(&self, method: &Method, uri: &Uri) -> Option<PathParams> {
        match self.plan(method, uri) {
            RoutePlan::Route { params, .. } => Some(params),
            _ => None,
        }
    }

    /// Whether nothing was added to this router: no route, middleware, state, fallback.
    pub(crate) fn is_empty(&self) -> bool {
        self.routes.is_empty()
            && self.middleware.is_empty()
            && self.state.is_empty()
            && self.fallback.is_none()
            && self.errors.is_empty()
    }

    fn endpoint(&self, handler: Arc<dyn Handler>) -> RouteHandler {
        RouteHandler {
            handler,
            scope: Arc::clone(&self.empty_scope),
            owner: self.owner.clone(),
            pool: None,
            stream_limit: None,
        }
    }

    fn insert(
        &mut self,
        method: Option<Method>,
        pattern: &str,
        endpoint: RouteHandler,
    ) -> Result<(), RouteError> {
        let index = match self.by_pattern.get(pattern) {
            Some(&index) => index,
            None => {
                let index = self.routes.len();
                self.matcher
                    .insert(pattern, index)
                    .map_err(|error| self.insert_error(&method, pattern, &endpoint, error))?;
                self.routes.push(PathRoute::new(pattern));
                self.by_pattern.insert(pattern.to_owned(), index);
                index
            }
        };
        let new_owner = endpoint.owner.clone();
        self.routes[index]
            .methods
            .insert(method.clone(), endpoint)
            .map_err(|existing_owner| {
                let route = describe(method.as_ref(), pattern, new_owner.as_deref());
                RouteError::Conflict {
                    existing: describe(method.as_ref(), pattern, existing_owner.as_deref()),
                    existing_plugin: existing_owner.as_deref().map(str::to_owned),
                    route,
                    plugin: new_owner.as_deref().map(str::to_owned),
                }
            })
    }

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

    fn insert_error(
        &self,
        method: &Option<Method>,
        pattern: &str,
        endpoint: &RouteHandler,
        error: matchit::InsertError,
    ) -> RouteError {
        let route = describe(method.as_ref(), pattern, endpoint.owner.as_deref());
        match error {
            matchit::InsertError::Conflict { with } => {
                let existing = self
                    .by_pattern
                    .get(&with)
                    .and_then(|&i| self.routes[i].methods.entries().next());
                let (existing_method, existing_owner) = match existing {
                    Some((m, e)) => (m.cloned(), e.owner.clone()),
                    None => (None, None),
                };
                RouteError::Conflict {
                    existing: describe(existing_method.as_ref(), &with, existing_owner.as_deref()),
                    existing_plugin: existing_owner.as_deref().map(str::to_owned),
                    route,
                    plugin: endpoint.owner.as_deref().map(str::to_owned),
                }
            }
            other => RouteError::Invalid {
                pattern: pattern.to_owned(),
                source: Box::new(other),
            },
        }
    }

    /// Adds `other`'s routes under `prefix`, scoping its middleware and state to them.
    fn absorb(mut self, prefix: &str, other: Router, other_fallback: Fallback) -> Self {
        let Router {
            routes,
            middleware,
            state,
            fallback,
            errors,
            pool,
            stream_limit,
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
            Fallback::UnderPrefix => match &fallback {
                Some(fallback) => Some((scoped(fallback), NestedFallback::Own)),
                None if middleware.is_empty() && state.is_empty() => None,
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
        ..endpoint
    }
}

impl PathRoute {
    fn new(pattern: &str) -> Self {
        Self {
            pattern: Arc::from(pattern),
            param_names: param_names(pattern).into(),
            methods: MethodRouter::default(),
        }
    }
}

/// What `Router::absorb` does with the absorbed router's fallback.
#[derive(Clone, Copy)]
enum Fallback {
    /// `merge`: it becomes this router's fallback if this router has none.
    TakeIfNone,
    /// `nest`: it serves the unmatched paths under the prefix.
    UnderPrefix,
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

fn describe(method: Option<&Method>, pattern: &str, owner: Option<&str>) -> String {
    let method = method.map_or("ANY", Method::as_str);
    match owner {
        Some(owner) => format!("{method} {pattern} (plugin {owner:?})"),
        None => format!("{method} {pattern}"),
    }
}

/// The names of a pattern's parameters, in order (`/a/{x}/{*rest}` gives `x`, `rest`).
fn param_names(pattern: &str) -> Vec<Arc<str>> {
    let mut names = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        if rest[open..].starts_with("{{") {
            rest = &rest[open + 2..];
            continue;
        }
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        names.push(Arc::from(name.trim_start_matches('*')));
        rest = &rest[open + close + 1..];
    }
    names
}

/// What serves a request, decided before anything runs (see [`Router::plan`]).
#[derive(Debug)]
pub(crate) enum RoutePlan {
    /// A route's handler, with the decoded path parameters.
    Route {
        route: usize,
        handler: HandlerIndex,
        params: PathParams,
    },
    NotFound,
    /// 405, or 204 to OPTIONS, with the route's `Allow` value.
    Allow {
        status: StatusCode,
        route: usize,
    },
    /// A path parameter that is not UTF-8 once percent-decoded: 400.
    InvalidParam {
        route: usize,
        handler: HandlerIndex,
    },
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
}

impl middleware::Endpoint for Serves<'_> {
    fn call(&self, request: &mut Request) -> Response {
        match self {
            Serves::Handler(handler) => HandlerCall(*handler).call(request),
            Serves::Fallback(Some(fallback), router_state) => {
                request.set_states([fallback.scope.state.clone(), Some(Arc::clone(router_state))]);
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
        }
    }
}

/// The middleware [`Router::map_rejection`] installs.
struct RenderRejections<F>(F);

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
        middleware::catch_panic("handler", request, |request| self.0.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_names_follow_the_pattern() {
        let names = |p: &str| {
            param_names(p)
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("/users/{id}/posts/{post}"), ["id", "post"]);
        assert_eq!(names("/files/{*path}"), ["path"]);
        assert_eq!(names("/{{literal}}/{x}"), ["x"]);
        assert!(names("/static").is_empty());
    }
}

//! [`ServerBuilder`]: every setting of a server, then `bind`.

use std::fmt;
use std::net::{TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::{Server, Shared};
use http::Method;

use crate::error::{Error, Result};
use crate::handler::Handler;
use crate::http1::RouteTag;
use crate::limits::{
    DEFAULT_DRAIN_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_LIVE_CONNECTIONS,
    DEFAULT_QUEUE_CAPACITY, DEFAULT_THREADS, Limits, MAX_HEADERS_CAP, MAX_TIMEOUT,
};
use crate::metrics::Counters;
use crate::middleware::Middleware;
use crate::plugin::Plugin;
use crate::pool::{SYSTEM_POOL, ThreadPool};
use crate::router::Router;
use crate::spool::{ByteBudget, Spool};

/// The thread name prefix of a server's workers.
const WORKER_THREAD_PREFIX: &str = "switchyard-worker";

/// Configures a [`Server`]; start from [`Server::builder`].
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use http::Method;
/// use switchyard::{AccessLog, Health, Limits, Request, Server};
///
/// let server = Server::builder()
///     .threads(4)
///     .limits(Limits::default().max_body_bytes(64 * 1024).keep_alive_timeout(Duration::from_secs(30)))
///     .route(Method::GET, "/users/{id}", |req: &Request| {
///         format!("user {}", req.param("id").unwrap_or_default())
///     })
///     .plugin(Health::new())
///     .plugin(AccessLog::stdout())
///     .bind("127.0.0.1:0")?;
/// println!("listening on {}", server.local_addr());
/// server.run()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a builder does nothing until `bind` is called"]
pub struct ServerBuilder {
    threads: usize,
    queue_capacity: usize,
    max_connections: usize,
    drain_timeout: Duration,
    /// Named pools (bulkheads): name and thread count.
    pools: Vec<(String, usize)>,
    /// Queue waits of pools of their own (`"main"` or a named pool), over `limits`'.
    pool_queue_waits: Vec<(String, Duration)>,
    limits: Limits,
    /// Where long request bodies are spooled; `None`: the system's temporary directory.
    spool_dir: Option<std::path::PathBuf>,
    /// The app: what [`ServerBuilder::app`] gave, plus the builder's own routes.
    router: Router,
    /// `app` came after routes were added to the builder, and discarded them.
    app_after_routes: bool,
    /// Whether requests are counted and timed.
    metrics: bool,
    /// How long a shutdown keeps accepting and serving first.
    shutdown_delay: Duration,
    /// Bind with `SO_REUSEPORT`.
    reuse_port: bool,
    max_live_connections: usize,
    /// Serve HTTPS with this configuration.
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConfig>,
    /// Serve HTTP/2 with prior knowledge beside HTTP/1.1 on plain connections.
    #[cfg(feature = "http2")]
    h2c: bool,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("threads", &self.threads)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_connections", &self.max_connections)
            .field("drain_timeout", &self.drain_timeout)
            .field("pools", &self.pools)
            .field("limits", &self.limits)
            .field("router", &self.router)
            .finish()
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self {
            threads: DEFAULT_THREADS,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            pools: Vec::new(),
            pool_queue_waits: Vec::new(),
            limits: Limits::default(),
            spool_dir: None,
            router: Router::new(),
            app_after_routes: false,
            metrics: true,
            shutdown_delay: Duration::ZERO,
            reuse_port: false,
            max_live_connections: DEFAULT_MAX_LIVE_CONNECTIONS,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "http2")]
            h2c: false,
        }
    }
}

impl ServerBuilder {
    /// Worker threads that run handlers (default [`DEFAULT_THREADS`]).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Readable connections that may wait for a worker; beyond it the server answers 503 with
    /// `Retry-After` (default [`DEFAULT_QUEUE_CAPACITY`]).
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Open connections allowed; the next is answered 503 and closed at accept time
    /// (default [`DEFAULT_MAX_CONNECTIONS`]).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Live connections (WebSocket, event streams) allowed at once; a handshake or event
    /// stream beyond them is answered 503 with `Retry-After` (default
    /// [`DEFAULT_MAX_LIVE_CONNECTIONS`]). They count in
    /// [`max_connections`](Self::max_connections) too.
    pub fn max_live_connections(mut self, max: usize) -> Self {
        self.max_live_connections = max;
        self
    }

    /// How long a graceful shutdown waits for requests in flight; then their connections
    /// are cut and counted in the [`ShutdownReport`](crate::ShutdownReport) (default
    /// [`DEFAULT_DRAIN_TIMEOUT`]). Saturates at [`MAX_TIMEOUT`].
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout.min(MAX_TIMEOUT);
        self
    }

    /// How long a graceful shutdown keeps accepting and serving before it stops accepting
    /// (default: not at all). Meanwhile [`Health`](crate::Health) answers 503, so a load
    /// balancer's health check takes the server out of rotation while requests still
    /// succeed. Then the server takes what the kernel has queued, closes its listener,
    /// answers requests in flight with `Connection: close`, and gives idle connections as
    /// long again to send a last request (a proxy may be reusing one that very moment)
    /// before closing them; all within [`drain_timeout`](Self::drain_timeout) from then.
    /// Match it to the balancer: e.g. nginx with `max_fails`/`fail_timeout`, or a
    /// Kubernetes readiness probe's period times its failure threshold.
    pub fn shutdown_delay(mut self, delay: Duration) -> Self {
        self.shutdown_delay = delay.min(MAX_TIMEOUT);
        self
    }

    /// Binds with `SO_REUSEPORT` (Unix), so that a second process (the next version,
    /// during a restart) can bind the same address while this one still serves; the kernel
    /// spreads new connections over both. Each socket has its own accept queue: what is
    /// queued on a listener that closes is lost, so a shutdown with a
    /// [`shutdown_delay`](Self::shutdown_delay) first accepts everything queued (a
    /// connection arriving in the instant between that and the close is still reset: where
    /// every request counts, prefer socket activation or a balancer that retries). The
    /// listen backlog is 1024. Only [`bind`](Self::bind) applies it.
    pub fn reuse_port(mut self, enabled: bool) -> Self {
        self.reuse_port = enabled;
        self
    }

    /// Serves HTTPS (feature `tls`): every connection is TLS, with `config`, either an
    /// `Arc<rustls::ServerConfig>` or a [`TlsConfig`](crate::tls::TlsConfig) handle
    /// (clone it first to swap certificates while the server runs).
    ///
    /// The handshake must be done within the
    /// [header read timeout](Limits::header_read_timeout), counted from accept; it runs in
    /// short non-blocking turns, like requests, so a client that never finishes it costs no
    /// worker. See the [`tls`](crate::tls) module.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use switchyard::{Request, Server, tls};
    ///
    /// let config = tls::server_config_from_pem_files("cert.pem", "key.pem")?;
    /// let server = Server::builder()
    ///     .tls(config)
    ///     .handler(|_: &Request| "hello over TLS")
    ///     .bind("127.0.0.1:8443")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: impl Into<crate::tls::TlsConfig>) -> Self {
        self.tls = Some(config.into());
        self
    }

    /// Also serves HTTP/2 with prior knowledge ("h2c", RFC 9113 §3.3) on plain connections
    /// (feature `http2`; off by default): a connection that opens with the HTTP/2
    /// connection preface speaks HTTP/2, any other HTTP/1.1, on the same port. Over TLS,
    /// HTTP/2 is agreed with ALPN whenever the feature is on, whatever this says. See the
    /// README's HTTP/2 section for what it serves and its limits.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use switchyard::{Request, Server};
    ///
    /// let server = Server::builder()
    ///     .h2c(true)
    ///     .handler(|req: &Request| format!("{:?}", req.version()))
    ///     .bind("127.0.0.1:8080")?;
    /// // curl --http2-prior-knowledge http://127.0.0.1:8080/ says "HTTP/2.0"
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "http2")]
    pub fn h2c(mut self, enabled: bool) -> Self {
        self.h2c = enabled;
        self
    }

    /// Declares a named worker pool of `threads` workers (threads `switchyard-{name}-{i}`),
    /// for the routes of routers marked with [`Router::on_pool`]: a bulkhead, so that slow
    /// endpoints saturate their own workers and the rest keep theirs. Its queue has the
    /// same capacity as the main pool's.
    pub fn worker_pool(mut self, name: &str, threads: usize) -> Self {
        self.pools.push((name.to_owned(), threads));
        self
    }

    /// Sheds the requests of pool `name` (`"main"`, or a pool declared with
    /// [`worker_pool`](Self::worker_pool)) that waited longer than `wait` for one of its
    /// workers: answered 503 with `Retry-After` without running. Overrides
    /// [`Limits::max_queue_wait`] for that pool: a pool of slow reports may let requests
    /// wait seconds, the main pool only milliseconds.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use switchyard::{Request, Router, Server};
    ///
    /// let reports = Router::new().get("/report", |_: &Request| "report").on_pool("reports");
    /// let server = Server::builder()
    ///     .worker_pool("reports", 2)
    ///     .pool_max_queue_wait("main", Duration::from_millis(50))
    ///     .pool_max_queue_wait("reports", Duration::from_secs(2))
    ///     .app(Router::new().merge(reports))
    ///     .bind("127.0.0.1:0")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pool_max_queue_wait(mut self, name: &str, wait: Duration) -> Self {
        self.pool_queue_waits.push((name.to_owned(), wait));
        self
    }

    /// Whether the server counts responses by status class and route and times each route
    /// (default: yes; see [`MetricsHandle`](crate::metrics::MetricsHandle)). Off, only connection
    /// and pool gauges and accept counters move, and a request costs two clock reads and a
    /// few atomic increments less.
    pub fn metrics(mut self, enabled: bool) -> Self {
        self.metrics = enabled;
        self
    }

    /// The limits on what a client may send and how slowly (default
    /// `Limits::default()`): head, header, target and body sizes, and the header-read,
    /// body-read, keep-alive and write timeouts. Timeouts saturate at [`MAX_TIMEOUT`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use switchyard::{Limits, Request, Server};
    ///
    /// let server = Server::builder()
    ///     .limits(Limits::default().max_body_bytes(64 << 20).keep_alive_timeout(Duration::from_secs(30)))
    ///     .handler(|req: &Request| format!("{} bytes", req.body().len()))
    ///     .bind("127.0.0.1:0")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits.saturated();
        self
    }

    /// The directory that request bodies longer than
    /// [`Limits::spool_threshold`](crate::Limits::spool_threshold) are spooled to while
    /// they arrive (default: [`std::env::temp_dir`]). Each file is removed when its request
    /// ends; see [`BodyFile`](crate::BodyFile). A directory the server cannot write to
    /// costs such requests a 500.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use switchyard::{Handler, Limits, Request, Server};
    ///
    /// let server = Server::builder()
    ///     .spool_dir("/var/spool/myapp")
    ///     .limits(Limits::default().spool_threshold(256 << 10))
    ///     .route(
    ///         http::Method::POST,
    ///         "/upload",
    ///         (|req: &Request| format!("{} bytes on disk", req.body_file().map_or(0, |f| f.len())))
    ///             .max_body_bytes(1 << 30),
    ///     )
    ///     .bind("127.0.0.1:0")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spool_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.spool_dir = Some(dir.into());
        self
    }

    /// Serves `app`: the server answers every request exactly as `app.handle(request)`
    /// would (its middleware around every answer, 404, 405 and OPTIONS included, its state
    /// visible to its fallback), so the router your tests call is the router you serve.
    ///
    /// The builder's [`route`](Self::route), [`middleware`](Self::middleware),
    /// [`state`](Self::state), [`plugin`](Self::plugin) and [`handler`](Self::handler) add
    /// to the app, as the same calls on the router would; call them after `app`. Called
    /// after them, `app` would discard what they added: `bind` reports
    /// [`Error::Config`] instead. Middleware added this way runs inside the app's own (it
    /// comes later): a request the app's middleware answers early (a 401) does not reach
    /// it. To log or time every request, add such middleware to the app first.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use switchyard::{AccessLog, Request, Router, Server};
    ///
    /// fn app() -> Router {
    ///     Router::new().get("/", |_: &Request| "hello")
    /// }
    ///
    /// // In a test: `app().handle(request)`. In main:
    /// Server::builder()
    ///     .threads(4)
    ///     .app(app())
    ///     .plugin(AccessLog::stdout()) // added to the app, inside its own middleware
    ///     .bind("127.0.0.1:3000")?
    ///     .run()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn app(mut self, app: Router) -> Self {
        if !self.router.is_empty() {
            self.app_after_routes = true;
        }
        self.router = app;
        self
    }

    /// Routes `method path` to `handler` in the app; see [`Router::route`].
    pub fn route<H: Handler>(mut self, method: Method, path: &str, handler: H) -> Self {
        self.router = self.router.route(method, path, handler);
        self
    }

    /// Serves WebSocket connections at `path` in the app; see [`Router::websocket`].
    pub fn websocket<F, S>(mut self, path: &str, session: F) -> Self
    where
        F: Fn(&crate::Request) -> S + Send + Sync + 'static,
        S: crate::live::WebSocketSession,
    {
        self.router = self.router.websocket(path, session);
        self
    }

    /// Installs a plugin in the app; see [`Router::plugin`].
    pub fn plugin<P: Plugin>(mut self, plugin: P) -> Self {
        self.router = self.router.plugin(plugin);
        self
    }

    /// Adds middleware around every request of the app; see [`Router::middleware`].
    pub fn middleware<M: Middleware>(mut self, middleware: M) -> Self {
        self.router = self.router.middleware(middleware);
        self
    }

    /// Attaches typed state to the app; see [`Router::state`].
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.router = self.router.state(value);
        self
    }

    /// Serves every request no route of the app matches (default: 404); with no routes at
    /// all, this is the handler for everything. See [`Router::fallback`].
    pub fn handler<H: Handler>(mut self, handler: H) -> Self {
        self.router = self.router.fallback(handler);
        self
    }

    /// Binds a listener to `addr` (port 0 picks a free port) and starts the workers.
    ///
    /// # Errors
    ///
    /// [`Error::Route`] for a route conflict or an invalid pattern, [`Error::Bind`] when the
    /// address cannot be bound, [`Error::Config`] for a setting out of range,
    /// [`Error::Pool`] when worker threads cannot be started.
    pub fn bind<A: ToSocketAddrs + fmt::Debug>(mut self, addr: A) -> Result<Server> {
        self = self.with_system_pool();
        self.validate()?;
        self.router = self.router.check()?;
        let bind_error = |source| Error::Bind {
            addr: format!("{addr:?}"),
            source,
        };
        let listener = if self.reuse_port {
            bind_reusing_port(&addr).map_err(bind_error)?
        } else {
            TcpListener::bind(&addr).map_err(bind_error)?
        };
        self.listener(listener)
    }

    /// Serves on the listening socket systemd (or `systemfd`, `systemd-socket-activate`)
    /// passed to this process (socket activation: `LISTEN_FDS`, `LISTEN_PID`), so that the
    /// socket, and the kernel's queue of connections on it, outlive a restart: nobody is
    /// refused while the process is replaced. `deploy/` has a systemd socket and service
    /// pair. The first passed socket (fd 3) is used; it must be a listening TCP socket.
    /// Call it before starting other threads: it clears the `LISTEN_*` variables, and
    /// changing the environment races with threads reading it.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when no socket was passed (or it is not a TCP listener), then as
    /// [`listener`](Self::listener).
    pub fn listener_from_env(self) -> Result<Server> {
        let mut passed = listenfd::ListenFd::from_env();
        let listener = passed.take_tcp_listener(0)?.ok_or(Error::Config(
            "no socket passed (LISTEN_FDS and LISTEN_PID)",
        ))?;
        self.listener(listener)
    }

    /// Serves on an already bound listener (from a test, or systemd socket activation).
    ///
    /// # Errors
    ///
    /// As [`bind`](Self::bind), and [`Error::Io`] when the listener cannot be made
    /// non-blocking. On Linux the server also sets `TCP_NODELAY` on the listener (best
    /// effort), for the connections it accepts to inherit.
    pub fn listener(mut self, listener: TcpListener) -> Result<Server> {
        self = self.with_system_pool();
        self.validate()?;
        listener.set_nonblocking(true)?;
        let threads = self.threads;
        let mut pools = vec![
            ThreadPool::builder()
                .size(self.threads)
                .thread_name_prefix(WORKER_THREAD_PREFIX)
                .build()?,
        ];
        for (name, threads) in &self.pools {
            pools.push(
                ThreadPool::builder()
                    .size(*threads)
                    .thread_name_prefix(format!("switchyard-{name}"))
                    .build()?,
            );
        }
        let shared = Arc::new(self.into_shared()?);
        let shared_tls = shared.serves_tls();
        let server = Server::new(listener, pools, shared)?;
        crate::logging::log_info!(
            "listening on {}://{} with {} workers",
            if shared_tls { "https" } else { "http" },
            server.local_addr(),
            threads
        );
        Ok(server)
    }

    /// What the poller and the workers of a server with these settings share. The pools'
    /// tags follow their order: the main pool's is the default, the named ones' their
    /// position after it.
    pub(super) fn into_shared(mut self) -> Result<Shared> {
        let router = std::mem::take(&mut self.router).check()?;
        Ok(self.shared_with(router))
    }

    /// [`into_shared`](Self::into_shared) serving `router` as it is (registration errors
    /// not checked: the first registration of a conflict serves).
    pub(super) fn shared_with(self, router: Router) -> Shared {
        let places_bodies = router.places_bodies();
        let handler_timeouts =
            self.limits.handler_timeout.is_some() || router.has_handler_timeouts();
        let pool_tags = self
            .pools
            .iter()
            .enumerate()
            .map(|(index, (name, _))| (Box::from(name.as_str()), RouteTag(index + 1)))
            .collect();
        let mut pool_names = vec!["main".to_owned()];
        pool_names.extend(self.pools.iter().map(|(name, _)| name.clone()));
        let max_queue_waits = pool_names
            .iter()
            .map(|pool| {
                self.pool_queue_waits
                    .iter()
                    .rev()
                    .find(|(name, _)| name == pool)
                    .map(|(_, wait)| *wait)
                    .or(self.limits.max_queue_wait)
            })
            .collect();
        let counters = Arc::new(Counters::new(
            self.metrics,
            pool_names.len(),
            router.metrics_layout(),
        ));
        Shared {
            counters,
            pool_names,
            live_count: Arc::default(),
            max_live_connections: self.max_live_connections,
            live_closed_by_shutdown: std::sync::atomic::AtomicUsize::new(0),
            #[cfg(feature = "http2")]
            h2c: self.h2c,
            router,
            limits: self.limits,
            body_budget: Arc::new(ByteBudget::new(self.limits.max_parked_body_bytes)),
            spool: Spool::new(
                self.spool_dir.unwrap_or_else(std::env::temp_dir),
                self.limits.spool_threshold,
                self.limits.max_spooled_bytes,
            ),
            queue_capacity: self.queue_capacity,
            max_connections: self.max_connections,
            drain_timeout: self.drain_timeout,
            pool_tags,
            places_bodies,
            handler_timeouts,
            max_queue_waits,
            shutdown: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            shutdown_delay: self.shutdown_delay,
            #[cfg(feature = "tls")]
            tls: self.tls,
        }
    }

    /// Declares the server's own lane ([`SYSTEM_POOL`]) with one thread when a route is
    /// placed on it and it is not declared yet.
    fn with_system_pool(mut self) -> Self {
        let placed = self
            .router
            .pool_names()
            .iter()
            .any(|name| &**name == SYSTEM_POOL);
        let declared = self.pools.iter().any(|(name, _)| name == SYSTEM_POOL);
        if placed && !declared {
            self.pools.push((SYSTEM_POOL.to_owned(), 1));
        }
        self
    }

    fn validate(&self) -> Result<()> {
        if self.app_after_routes {
            return Err(Error::Config(
                "ServerBuilder::app must come before route, middleware, state, plugin and handler",
            ));
        }
        if self.threads == 0 {
            return Err(Error::Config("threads must be at least 1"));
        }
        if self.queue_capacity == 0 {
            return Err(Error::Config("queue_capacity must be at least 1"));
        }
        if self.max_connections == 0 {
            return Err(Error::Config("max_connections must be at least 1"));
        }
        for (name, threads) in &self.pools {
            if *threads == 0 {
                return Err(Error::Config("a named pool needs at least 1 thread"));
            }
            if self.pools.iter().filter(|(other, _)| other == name).count() > 1 {
                return Err(Error::Config("a pool name is declared twice"));
            }
        }
        for (name, _) in &self.pool_queue_waits {
            if name != "main" && !self.pools.iter().any(|(declared, _)| declared == name) {
                return Err(Error::UnknownPool { name: name.clone() });
            }
        }
        for name in self.router.pool_names() {
            if !self.pools.iter().any(|(declared, _)| **declared == *name) {
                return Err(Error::UnknownPool {
                    name: name.to_string(),
                });
            }
        }
        if self.limits.max_headers == 0 || self.limits.max_headers > MAX_HEADERS_CAP {
            return Err(Error::Config("max_headers must be between 1 and 256"));
        }
        Ok(())
    }
}

/// A listener bound with `SO_REUSEADDR` (as std does) and `SO_REUSEPORT`.
fn bind_reusing_port<A: ToSocketAddrs>(addr: &A) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let mut last_error = None;
    for addr in addr.to_socket_addrs()? {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        match socket.bind(&addr.into()).and_then(|()| socket.listen(1024)) {
            Ok(()) => return Ok(socket.into()),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::ErrorKind::AddrNotAvailable.into()))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn timeouts_past_max_timeout_saturate() {
        let unsaturated = Limits {
            keep_alive_timeout: Duration::MAX,
            header_read_timeout: Duration::MAX,
            body_read_timeout: Duration::MAX,
            write_timeout: Duration::MAX,
            ..Limits::default()
        };
        let builder = ServerBuilder::default()
            .limits(unsaturated)
            .drain_timeout(Duration::MAX);
        let limits = builder.limits;
        for timeout in [
            builder.drain_timeout,
            limits.keep_alive_timeout,
            limits.header_read_timeout,
            limits.body_read_timeout,
            limits.write_timeout,
        ] {
            assert_eq!(timeout, MAX_TIMEOUT);
        }
        let limits = Limits {
            keep_alive_timeout: Duration::MAX,
            write_timeout: Duration::MAX,
            ..Limits::default()
        };
        let limits = ServerBuilder::default().limits(limits).limits;
        assert_eq!(limits.keep_alive_timeout, MAX_TIMEOUT);
        assert_eq!(limits.write_timeout, MAX_TIMEOUT);
        assert_eq!(
            limits.body_read_timeout,
            Limits::default().body_read_timeout
        );
        // The point of the bound: a deadline this far out is still an `Instant`.
        assert!(Instant::now().checked_add(MAX_TIMEOUT).is_some());
    }

    #[test]
    fn timeouts_within_max_timeout_are_kept() {
        let builder = ServerBuilder::default()
            .limits(Limits::default().keep_alive_timeout(Duration::from_millis(1500)))
            .drain_timeout(MAX_TIMEOUT);
        assert_eq!(
            builder.limits.keep_alive_timeout,
            Duration::from_millis(1500)
        );
        assert_eq!(builder.drain_timeout, MAX_TIMEOUT);
    }
}

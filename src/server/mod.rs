//! The server: a poller thread that accepts, keeps timers and supervises, and a
//! [`ThreadPool`] whose workers serve connections that have something to do.
//!
//! ```text
//!   listener ──accept──► poller thread ──insert──► connection table (parked | busy)
//!                        timers, 503s,                   │ readiness polled by the runners;
//!                        supervision, moves              ▼ by the poller only while none is
//!                         ready queue (FIFO lanes) ──► runner: a main-pool worker
//!                                                  ▲                 │ one turn, then parks it
//!                                                  └─ ready again, ──┘ (readable, writable)
//!                                                     or budget spent
//! ```
//!
//! A connection is a socket, a transport and a protocol; its turn returns one
//! [`Outcome`](outcome::Outcome) that the worker acts on. Modules, each one concept; each
//! imports only modules listed below it:
//!
//! - `poller`: accept, timers, supervision, moves between pools, the drain sequence.
//!   Imported by nothing but this module.
//! - `turn`: the worker side: one connection's turn, then park / requeue / move / close as
//!   its outcome says; the runner loop of the main pool.
//! - `scheduler`: the ready queue (connections' turns, and HTTP/2 streams' handlers), the
//!   readiness poll and the runner count.
//! - `table`: the connection table, sole owner of every connection's state and counters.
//! - `in_process`: the same connection code over an in-memory socket, with no thread
//!   (`testing::TestClient`, fuzz targets).
//! - `connection`: a connection = socket × transport (`transport`: plain, or `tls`: a
//!   rustls session) × protocol; the transport is driven once for every protocol.
//! - `protocol`: what a connection speaks: `http1` (the engine in `crate::http1`), the
//!   live protocols a response switches to, `websocket` and `events`, and `http2`
//!   (feature `http2`: h2c after the preface, or ALPN `h2`; its streams' handlers run as
//!   jobs on their pools).
//! - `service`: the router as the HTTP/1.1 engine's service (pools, metrics, admission of
//!   live connections).
//! - `outcome`: how a turn ends, what a parked connection waits for.
//! - `waker`: waking the poller; `builder`, `handle`: the public API.

mod builder;
mod connection;
mod deadlines;
/// Entry points for fuzz targets (feature `__internals`).
#[cfg(feature = "__internals")]
#[allow(unreachable_pub, missing_docs)] // reachable only through `__private`, not semver
pub mod fuzzing;
mod handle;
mod in_process;
mod outcome;
mod poller;
mod protocol;
mod scheduler;
mod service;
mod table;
mod turn;
mod waker;

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread::{self, JoinHandle};

use mio::unix::SourceFd;
use mio::{Interest, Poll, Waker};

pub use builder::ServerBuilder;
pub use handle::ShutdownHandle;
pub(crate) use in_process::{InProcessConnection, InProcessServer};

use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::metrics::{Counters, MetricsHandle, MetricsSnapshot};
use crate::pool::ThreadPool;
use crate::router::Router;
use poller::Poller;
use waker::PollerWaker;

/// The name of the thread [`Server::spawn`] starts.
const ACCEPT_THREAD_NAME: &str = "switchyard-accept";

/// What the poller and the workers share.
pub(crate) struct Shared {
    router: Router,
    limits: Limits,
    queue_capacity: usize,
    max_connections: usize,
    drain_timeout: std::time::Duration,
    /// Named pools (bulkheads) by name, with the tag the engine uses for them (their index
    /// in the poller's pools; the main pool's tag is the default); empty when there are none.
    pool_tags: std::collections::HashMap<Box<str>, crate::http1::RouteTag>,
    /// Some route streams its request body or limits it itself (spares a route lookup
    /// per request otherwise).
    places_bodies: bool,
    /// Some handler has a deadline (`Limits::handler_timeout`, `Router::handler_timeout`).
    handler_timeouts: bool,
    /// Each pool's `max_queue_wait`, in `RouteTag` order.
    max_queue_waits: Vec<Option<std::time::Duration>>,
    /// What parked connections' request bodies may hold together in memory.
    body_budget: Arc<crate::spool::ByteBudget>,
    /// Where long request bodies go as they arrive.
    spool: crate::spool::Spool,
    /// Shutdown was requested.
    shutdown: AtomicBool,
    /// The listener is closed: responses close their connections.
    draining: AtomicBool,
    /// How long a shutdown keeps accepting and serving first (`Health` answers 503).
    shutdown_delay: std::time::Duration,
    /// What the server counts (see `crate::metrics`).
    counters: Arc<Counters>,
    /// The pools' names in `RouteTag` order (`"main"` first).
    pool_names: Vec<String>,
    /// Live connections (WebSocket, event streams) open or switching, and their cap.
    live_count: Arc<std::sync::atomic::AtomicUsize>,
    max_live_connections: usize,
    /// Live connections closed because the server shut down.
    live_closed_by_shutdown: std::sync::atomic::AtomicUsize,
    /// Connections are TLS, with the configuration this handle holds when they are accepted.
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConfig>,
    /// Plain connections that open with the HTTP/2 preface speak HTTP/2.
    #[cfg(feature = "http2")]
    h2c: bool,
}

impl Shared {
    /// Whether connections are TLS: then nothing is said before a handshake.
    fn serves_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }
}

/// What a graceful shutdown had to cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Connections whose request was still in flight at the drain deadline; their sockets
    /// were shut down.
    pub connections_cut: usize,
    /// Workers still running a handler when the server gave up waiting; their threads were
    /// detached and finish on their own.
    pub stuck_workers: usize,
    /// Live connections the shutdown closed: WebSockets closed with 1001 (going away),
    /// event streams ended. Not a failure: clients reconnect elsewhere.
    pub live_connections_closed: usize,
}

impl ShutdownReport {
    /// Whether every request in flight finished before the drain deadline.
    pub fn is_clean(&self) -> bool {
        self.connections_cut == 0 && self.stuck_workers == 0
    }
}

/// A bound HTTP/1.1 server, ready to [`run`](Server::run) or [`spawn`](Server::spawn).
///
/// # Examples
///
/// ```no_run
/// use switchyard::{Request, Server};
///
/// let server = Server::builder()
///     .handler(|_: &Request| "hello")
///     .bind("127.0.0.1:0")?;
/// let running = server.spawn()?;
/// // ... talk to running.local_addr() ...
/// running.shutdown_handle().shutdown();
/// running.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Server {
    poller: Poller,
    local_addr: SocketAddr,
    handle: ShutdownHandle,
    metrics: MetricsHandle,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Starts configuring a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    fn new(listener: TcpListener, pools: Vec<ThreadPool>, shared: Arc<Shared>) -> Result<Self> {
        let local_addr = listener.local_addr()?;
        let poll = Poll::new()?;
        let waker = Arc::new(PollerWaker::new(Waker::new(
            poll.registry(),
            poller::WAKER,
        )?));
        let fd = listener.as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&fd), poller::LISTENER, Interest::READABLE)?;
        let handle = ShutdownHandle {
            shared: Arc::clone(&shared),
            waker: Arc::clone(&waker),
        };
        let poller = Poller::new(poll, listener, waker, Arc::clone(&shared), pools)?;
        let metrics = poller.metrics_handle();
        for slot in shared.router.metrics_slots() {
            let _ = slot.set(metrics.clone());
        }
        Ok(Self {
            poller,
            local_addr,
            handle,
            metrics,
        })
    }

    /// The address the server listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that reads this server's metrics from any thread; see [`MetricsHandle`].
    pub fn metrics_handle(&self) -> MetricsHandle {
        self.metrics.clone()
    }

    /// A handle that stops the server from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.handle.clone()
    }

    /// Serves on the current thread until shut down, in-flight requests finished (or cut at
    /// the drain deadline) and every worker joined.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when polling fails.
    pub fn run(self) -> Result<ShutdownReport> {
        self.poller.run().map_err(Error::Io)
    }

    /// Serves on a background thread named `switchyard-accept`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the thread cannot be started.
    pub fn spawn(self) -> Result<RunningServer> {
        let local_addr = self.local_addr;
        let handle = self.handle.clone();
        let metrics = self.metrics.clone();
        let thread = thread::Builder::new()
            .name(ACCEPT_THREAD_NAME.to_owned())
            .spawn(move || self.poller.run())?;
        Ok(RunningServer {
            metrics,
            local_addr,
            handle,
            thread: Some(thread),
        })
    }
}

/// A server running on its own thread, from [`Server::spawn`].
///
/// Stop it with [`shutdown`](Self::shutdown), or with a [`ShutdownHandle`] and then
/// [`join`](Self::join). **Dropping it shuts the server down** as `shutdown` does, and waits
/// for that to finish: requests in flight finish, or are cut at the
/// [drain timeout](ServerBuilder::drain_timeout). A server therefore never outlives its
/// `RunningServer`: keep it for as long as the server should run.
#[derive(Debug)]
#[must_use = "dropping a RunningServer shuts the server down; keep it, or call `join` to serve until a ShutdownHandle stops it"]
pub struct RunningServer {
    local_addr: SocketAddr,
    handle: ShutdownHandle,
    metrics: MetricsHandle,
    /// `None` once joined (by `join`, `shutdown` or drop).
    thread: Option<JoinHandle<io::Result<ShutdownReport>>>,
}

impl RunningServer {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that stops the server from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.handle.clone()
    }

    /// A handle that reads this server's metrics from any thread; see [`MetricsHandle`].
    pub fn metrics_handle(&self) -> MetricsHandle {
        self.metrics.clone()
    }

    /// The server's metrics now; see [`MetricsSnapshot`].
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    /// Starts a graceful shutdown and waits for it to finish.
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join).
    pub fn shutdown(self) -> Result<ShutdownReport> {
        self.handle.shutdown();
        self.join()
    }

    /// Waits until the server has stopped, after a shutdown from some [`ShutdownHandle`]
    /// (without one, it waits for ever).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when polling failed, [`Error::ServerPanicked`] on a bug in the server.
    pub fn join(mut self) -> Result<ShutdownReport> {
        let thread = self
            .thread
            .take()
            .expect("only join and drop take the thread, and both consume the server");
        match thread.join() {
            Ok(result) => result.map_err(Error::Io),
            Err(_) => Err(Error::ServerPanicked),
        }
    }
}

impl Drop for RunningServer {
    /// Shuts the server down gracefully and waits for it (bounded by the shutdown delay,
    /// twice, and the drain timeout),
    /// unless [`join`](Self::join) or [`shutdown`](Self::shutdown) already did.
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.handle.shutdown();
            // Nobody is left to hear how it ended.
            let _ = thread.join();
        }
    }
}

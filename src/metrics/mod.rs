//! Server metrics: counters updated where events happen, read as a [`MetricsSnapshot`]
//! through a [`MetricsHandle`], and rendered in the Prometheus text format by the
//! [`Metrics`](crate::Metrics) plugin ([`MetricsPage`]).
//!
//! Every counter is an atomic that the event's own thread bumps (relaxed: a snapshot is a
//! consistent-enough view, not a transaction). Reading a snapshot takes no lock that a
//! request holds. Per-route series are laid out once, when the server binds, one per route
//! template and method, so their number is bounded by the routes, never by the paths
//! clients invent.

pub(crate) mod page;

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use http::StatusCode;

use crate::error::ParseError;

pub use page::MetricsPage;

/// Upper bounds of the latency histogram buckets, in seconds: the Go and Prometheus client
/// defaults (5 ms to 10 s), plus the implicit `+Inf`.
pub const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Upper bounds of the queue-wait histogram buckets, in seconds (0.5 ms to 1 s), plus the
/// implicit `+Inf`: how long requests waited in their pool's queue for a worker.
pub const QUEUE_WAIT_BUCKETS: [f64; 11] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// [`QUEUE_WAIT_BUCKETS`] in nanoseconds: no float on the request path.
const QUEUE_WAIT_NANOS: [u64; QUEUE_WAIT_BUCKETS.len()] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
];

/// What the server gave up on, by kind (`Counters::cancellations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GaveUpOn {
    /// A handler ran past its deadline; its client was answered 503.
    Deadline,
    /// What a handler returned after its deadline, dropped.
    LateResponse,
    /// A handler's client hung up while it ran.
    ClientInFlight,
    /// A request whose client hung up while it was queued: it never ran.
    ClientBeforeStart,
    /// A request that waited in its queue past `max_queue_wait`: answered 503, never ran.
    QueueWait,
}

/// Statuses the HTTP/1.1 engine answers malformed or refused requests with, counted in
/// [`MetricsSnapshot::rejected`].
const REJECTED_STATUSES: [StatusCode; 9] = [
    StatusCode::BAD_REQUEST,
    StatusCode::REQUEST_TIMEOUT,
    StatusCode::PAYLOAD_TOO_LARGE,
    StatusCode::URI_TOO_LONG,
    StatusCode::EXPECTATION_FAILED,
    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
    StatusCode::NOT_IMPLEMENTED,
    StatusCode::SERVICE_UNAVAILABLE,
    StatusCode::HTTP_VERSION_NOT_SUPPORTED,
];

/// What a timeout cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeoutKind {
    /// The rest of a request head (`header_read_timeout`, 408).
    Head,
    /// The rest of a request body (`body_read_timeout`, 408).
    Body,
    /// An idle keep-alive connection (`keep_alive_timeout`).
    Idle,
    /// A client that took no more of its response (`write_timeout`).
    Write,
}

/// One route template and method: its requests' latency histogram.
struct RouteSeries {
    route: Arc<str>,
    method: Box<str>,
    /// Per bucket of [`LATENCY_BUCKETS`], not cumulative; the last one is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

/// Where a route's series start: `offset` for its first method, `any` (relative) for its
/// any-method handler.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeriesOffset {
    pub(crate) offset: usize,
    pub(crate) any: usize,
}

/// The layout of the per-route series, from the router (see `Router::metrics_layout`).
#[derive(Debug, Default)]
pub(crate) struct RouteLayout {
    /// By route index; `None` for routes that are not counted (a nest's fallback).
    pub(crate) offsets: Vec<Option<SeriesOffset>>,
    /// Route template and method label of each series, in order.
    pub(crate) series: Vec<(Arc<str>, String)>,
}

/// The server's counters; see the module docs.
pub(crate) struct Counters {
    enabled: bool,
    accepted: AtomicU64,
    refused_max_connections: AtomicU64,
    refused_queue_full: AtomicU64,
    /// By status class, 1xx to 5xx.
    responses: [AtomicU64; 5],
    /// By [`TimeoutKind`], in declaration order.
    timeouts: [AtomicU64; 4],
    /// By [`REJECTED_STATUSES`].
    rejected: [AtomicU64; REJECTED_STATUSES.len()],
    panics: AtomicU64,
    /// Requests served, by pool (`RouteTag` order: the main pool first).
    pool_requests: Box<[AtomicU64]>,
    /// How long turns waited in each pool's queue (`RouteTag` order).
    queue_waits: Box<[Histogram<{ QUEUE_WAIT_BUCKETS.len() + 1 }>]>,
    /// By [`GaveUpOn`], in declaration order.
    gave_up: [AtomicU64; 5],
    /// HTTP/2: connections, streams, streams reset by clients, GOAWAYs sent.
    http2: [AtomicU64; 4],
    offsets: Box<[Option<SeriesOffset>]>,
    routes: Box<[RouteSeries]>,
}

impl Counters {
    pub(crate) fn new(enabled: bool, pools: usize, layout: RouteLayout) -> Self {
        let routes = layout
            .series
            .into_iter()
            .map(|(route, method)| RouteSeries {
                route,
                method: method.into_boxed_str(),
                buckets: Default::default(),
                sum_nanos: AtomicU64::new(0),
            })
            .collect();
        Self {
            enabled,
            accepted: AtomicU64::new(0),
            refused_max_connections: AtomicU64::new(0),
            refused_queue_full: AtomicU64::new(0),
            responses: Default::default(),
            timeouts: Default::default(),
            rejected: Default::default(),
            panics: AtomicU64::new(0),
            pool_requests: (0..pools).map(|_| AtomicU64::new(0)).collect(),
            queue_waits: (0..pools).map(|_| Histogram::default()).collect(),
            gave_up: Default::default(),
            http2: Default::default(),
            offsets: layout.offsets.into_boxed_slice(),
            routes,
        }
    }

    /// Whether requests are timed and counted (`ServerBuilder::metrics`).
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    pub(crate) fn accepted(&self) {
        bump(&self.accepted);
    }

    pub(crate) fn refused_max_connections(&self) {
        bump(&self.refused_max_connections);
    }

    pub(crate) fn refused_queue_full(&self) {
        bump(&self.refused_queue_full);
    }

    /// A connection began to speak HTTP/2.
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    pub(crate) fn http2_connection(&self) {
        bump(&self.http2[0]);
    }

    /// An HTTP/2 stream (a request) began.
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    pub(crate) fn http2_stream(&self) {
        bump(&self.http2[1]);
    }

    /// A client reset an HTTP/2 stream before its response was complete.
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    pub(crate) fn http2_reset(&self) {
        bump(&self.http2[2]);
    }

    /// The server said GOAWAY (shutting down, idle, or a connection error).
    #[cfg_attr(not(feature = "http2"), allow(dead_code))]
    pub(crate) fn http2_goaway(&self) {
        bump(&self.http2[3]);
    }

    /// `n` of what the server gave up on, of kind `on`.
    pub(crate) fn gave_up(&self, on: GaveUpOn, n: usize) {
        self.gave_up[on as usize].fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A turn of pool `pool` waited `wait` in its queue.
    pub(crate) fn queued_for(&self, pool: usize, wait: Duration) {
        if let Some(histogram) = self.queue_waits.get(pool) {
            let nanos = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
            let bucket = QUEUE_WAIT_NANOS.partition_point(|bound| *bound < nanos);
            bump(&histogram.buckets[bucket]);
            histogram.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        }
    }

    /// The queue waits of pool `index` (for the live gauges).
    pub(crate) fn pool_queue_wait(&self, index: usize) -> QueueWait {
        self.queue_waits
            .get(index)
            .map(|histogram| {
                let (buckets, count, sum) = histogram.read(&QUEUE_WAIT_BUCKETS);
                QueueWait {
                    count,
                    sum,
                    buckets: buckets.into_iter().map(|(_, n)| n).collect(),
                }
            })
            .unwrap_or_default()
    }

    pub(crate) fn timed_out(&self, kind: TimeoutKind) {
        bump(&self.timeouts[kind as usize]);
    }

    /// A request answered 408 when its head or body did not arrive in time (while its
    /// connection waited parked).
    pub(crate) fn timed_out_with_408(&self, kind: TimeoutKind) {
        self.timed_out(kind);
        self.rejected_status(StatusCode::REQUEST_TIMEOUT);
    }

    fn rejected_status(&self, status: StatusCode) {
        if let Some(i) = REJECTED_STATUSES.iter().position(|s| *s == status) {
            bump(&self.rejected[i]);
        }
    }

    /// A request the engine refused (or gave up on) before any handler saw it.
    pub(crate) fn rejected(&self, error: &ParseError) {
        if *error == ParseError::Incomplete {
            return; // the client left: nothing was answered
        }
        if *error == ParseError::Timeout {
            self.timed_out(TimeoutKind::Body);
        }
        self.rejected_status(error.status());
    }

    /// The series of route `route`'s handler at `position` (its index among the route's
    /// methods, or `None` for its any-method handler).
    pub(crate) fn series(&self, route: usize, position: Option<usize>) -> Option<usize> {
        let offset = (*self.offsets.get(route)?)?;
        Some(offset.offset + position.unwrap_or(offset.any))
    }

    /// A response the router produced: its status class and its pool's count go to
    /// `tally` (see [`publish`](Self::publish)), its route's latency to the route's series.
    pub(crate) fn responded(
        &self,
        tally: &Tally,
        status: StatusCode,
        series: Option<usize>,
        took: Duration,
    ) {
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        let counted = &tally.by_class[class];
        counted.set(counted.get() + 1);
        if let Some(series) = series.and_then(|i| self.routes.get(i)) {
            let seconds = took.as_secs_f64();
            let bucket = LATENCY_BUCKETS
                .iter()
                .position(|bound| seconds <= *bound)
                .unwrap_or(LATENCY_BUCKETS.len());
            bump(&series.buckets[bucket]);
            let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
            series.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        }
    }

    /// Adds what `tally` counted (and the panics caught on this thread since) to the
    /// shared counters, and empties it: one atomic add per class seen, not per response.
    /// Called before the responses counted are written, so that a client that has a
    /// response finds it counted.
    pub(crate) fn publish(&self, tally: &Tally, pool: usize) {
        let mut responses = 0;
        for (counted, shared) in tally.by_class.iter().zip(&self.responses) {
            let count = counted.replace(0);
            if count > 0 {
                shared.fetch_add(count, Ordering::Relaxed);
                responses += count;
            }
        }
        if responses > 0 {
            if let Some(requests) = self.pool_requests.get(pool) {
                requests.fetch_add(responses, Ordering::Relaxed);
            }
        }
        let panics = take_panics();
        if panics > 0 {
            self.panics.fetch_add(panics, Ordering::Relaxed);
        }
    }

    fn snapshot_into(&self, snapshot: &mut MetricsSnapshot) {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        snapshot.connections_accepted = load(&self.accepted);
        snapshot.refused_max_connections = load(&self.refused_max_connections);
        snapshot.refused_queue_full = load(&self.refused_queue_full);
        let [
            informational,
            success,
            redirection,
            client_error,
            server_error,
        ] = self.responses.each_ref().map(load);
        snapshot.responses = ResponsesByClass {
            informational,
            success,
            redirection,
            client_error,
            server_error,
        };
        let [connections, streams, resets_received, goaways_sent] = self.http2.each_ref().map(load);
        snapshot.http2 = Http2Metrics {
            connections,
            streams,
            resets_received,
            goaways_sent,
        };
        let [head, body, idle, write] = self.timeouts.each_ref().map(load);
        snapshot.timeouts = Timeouts {
            head,
            body,
            idle,
            write,
        };
        snapshot.rejected = REJECTED_STATUSES
            .iter()
            .zip(&self.rejected)
            .map(|(status, count)| (*status, load(count)))
            .collect();
        snapshot.handler_panics = load(&self.panics);
        let [deadline, late, in_flight, before_start, queue_wait] =
            self.gave_up.each_ref().map(load);
        snapshot.gave_up = GaveUp {
            handler_timeouts: deadline,
            late_responses_dropped: late,
            client_gone_in_flight: in_flight,
            client_gone_before_start: before_start,
            shed_for_queue_wait: queue_wait,
        };
        snapshot.routes = self
            .routes
            .iter()
            .map(|series| {
                let mut cumulative = 0;
                let mut buckets = Vec::with_capacity(LATENCY_BUCKETS.len());
                for (bound, count) in LATENCY_BUCKETS.iter().zip(&series.buckets) {
                    cumulative += load(count);
                    buckets.push((*bound, cumulative));
                }
                let count = cumulative + load(&series.buckets[LATENCY_BUCKETS.len()]);
                RouteMetrics {
                    route: series.route.to_string(),
                    method: series.method.to_string(),
                    count,
                    sum: Duration::from_nanos(load(&series.sum_nanos)),
                    buckets,
                }
            })
            .collect();
    }
}

impl fmt::Debug for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counters")
            .field("enabled", &self.enabled)
            .field("routes", &self.routes.len())
            .finish_non_exhaustive()
    }
}

/// A histogram of durations with `N - 1` bounds and `+Inf`; each bucket counts on its own
/// (cumulative counts are made when read).
struct Histogram<const N: usize> {
    buckets: [AtomicU64; N],
    sum_nanos: AtomicU64,
}

impl<const N: usize> Default for Histogram<N> {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

impl<const N: usize> Histogram<N> {
    /// Cumulative counts per bound, the count, the sum.
    fn read(&self, bounds: &[f64]) -> (Vec<(f64, u64)>, u64, Duration) {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(bounds.len());
        for (bound, count) in bounds.iter().zip(&self.buckets) {
            cumulative += count.load(Ordering::Relaxed);
            buckets.push((*bound, cumulative));
        }
        let count = cumulative + self.buckets[bounds.len()].load(Ordering::Relaxed);
        let sum = Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed));
        (buckets, count, sum)
    }
}

/// Responses counted by one thread and not yet published (see [`Counters::publish`]): a
/// turn serves many requests, and shared counters cost an atomic add each.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    by_class: [Cell<u64>; 5],
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

thread_local! {
    /// Panics caught on this thread since the last response was counted.
    static PANICS: Cell<u64> = const { Cell::new(0) };
}

/// Notes a caught handler or middleware panic on this thread; the response it became
/// counts it when published (see [`Counters::publish`]).
pub(crate) fn note_panic() {
    PANICS.with(|panics| panics.set(panics.get() + 1));
}

fn take_panics() -> u64 {
    PANICS.with(|panics| panics.replace(0))
}

/// What the server's live parts report for a snapshot (connections, pools).
pub(crate) trait LiveGauges: Send + Sync {
    fn fill(&self, snapshot: &mut MetricsSnapshot);
}

/// A cheap, cloneable handle to a server's metrics: [`snapshot`](Self::snapshot) reads
/// them at any time, from any thread, also after the server stopped (its connection and
/// pool gauges then read 0).
///
/// # Examples
///
/// ```
/// use switchyard::{Request, Server};
///
/// let server = Server::builder()
///     .route(http::Method::GET, "/", |_: &Request| "hi")
///     .bind("127.0.0.1:0")?
///     .spawn()?;
/// let metrics = server.metrics_handle();
/// // ... requests arrive ...
/// let snapshot = metrics.snapshot();
/// assert_eq!(snapshot.responses.success, 0);
/// assert_eq!(snapshot.pools[0].name, "main");
/// server.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct MetricsHandle {
    counters: Arc<Counters>,
    live: Weak<dyn LiveGauges>,
}

impl MetricsHandle {
    pub(crate) fn new(counters: Arc<Counters>, live: Weak<dyn LiveGauges>) -> Self {
        Self { counters, live }
    }

    /// The metrics as they are now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let mut snapshot = MetricsSnapshot {
            enabled: self.counters.enabled,
            ..MetricsSnapshot::default()
        };
        self.counters.snapshot_into(&mut snapshot);
        if let Some(live) = self.live.upgrade() {
            live.fill(&mut snapshot);
        }
        snapshot
    }
}

impl fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsHandle").finish_non_exhaustive()
    }
}

/// Where the [`Metrics`](crate::Metrics) plugin finds the server it is served by: filled in
/// when the server binds.
pub(crate) type MetricsSlot = Arc<OnceLock<MetricsHandle>>;

/// HTTP/2's own counters, since the server started; see [`MetricsSnapshot::http2`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Http2Metrics {
    /// Connections that spoke HTTP/2 (h2c, or ALPN `h2`); the rest of
    /// `connections_accepted` spoke HTTP/1.x.
    pub connections: u64,
    /// Streams opened by clients (each a request).
    pub streams: u64,
    /// Streams a client reset before their response was complete.
    pub resets_received: u64,
    /// GOAWAY frames sent: at shutdown, to idle connections, and on connection errors.
    pub goaways_sent: u64,
}

/// A server's metrics at one moment; see [`MetricsHandle`]. Counters (`u64`) count since
/// the server started; gauges (`usize`) are current values.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Whether requests are counted and timed (`ServerBuilder::metrics`); when not, only
    /// the connection and pool gauges and the accept counters move.
    pub enabled: bool,
    /// Connections accepted and served (not those refused at accept).
    pub connections_accepted: u64,
    /// Connections open now.
    pub connections_open: usize,
    /// Open connections waiting, parked, for their next request (keep-alive).
    pub connections_idle: usize,
    /// Open connections waiting, parked, for the rest of a request head or body.
    pub connections_reading: usize,
    /// Open connections waiting, parked, for a client to take more of its response.
    pub connections_writing: usize,
    /// Live connections (WebSocket, event streams over HTTP/1.1, and HTTP/2 connections,
    /// which multiplex their streams), parked between their turns.
    pub connections_live: usize,
    /// Connections answered 503 at accept because `max_connections` were open.
    pub refused_max_connections: u64,
    /// Requests answered 503 because their pool's queue was full.
    pub refused_queue_full: u64,
    /// Responses from the router (handlers, middleware, 404s, 405s), by status class.
    pub responses: ResponsesByClass,
    /// Connections cut by a timeout, by kind.
    pub timeouts: Timeouts,
    /// Requests the server refused instead of serving them (malformed, too large, timed
    /// out...), by the status answered: before routing (the engine's own answer), or once
    /// routed (answered through the route's middleware, and not counted in `responses` or
    /// the route's latency).
    pub rejected: Vec<(StatusCode, u64)>,
    /// Handler and middleware panics caught (each cost its client a 500).
    pub handler_panics: u64,
    /// What the server gave up on: handlers past their deadline, requests whose client
    /// left, requests shed for waiting too long.
    pub gave_up: GaveUp,
    /// The worker pools, the main pool (`"main"`) first.
    pub pools: Vec<PoolMetrics>,
    /// HTTP/2 connections and streams (feature `http2`; all zero without it). Requests
    /// over HTTP/2 are also counted in `responses`, `pools` and `routes`, as all are.
    pub http2: Http2Metrics,
    /// One entry per route template and method, in registration order.
    pub routes: Vec<RouteMetrics>,
}

impl MetricsSnapshot {
    /// Requests refused with `status` (see [`rejected`](Self::rejected)).
    pub fn rejected_with(&self, status: StatusCode) -> u64 {
        self.rejected
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    }

    /// The entry of `method route` (`"GET"`, `"/users/{id}"`), if it is a route.
    pub fn route(&self, method: &str, route: &str) -> Option<&RouteMetrics> {
        self.routes
            .iter()
            .find(|r| r.method == method && r.route == route)
    }
}

/// Responses by status class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResponsesByClass {
    /// 1xx.
    pub informational: u64,
    /// 2xx.
    pub success: u64,
    /// 3xx.
    pub redirection: u64,
    /// 4xx.
    pub client_error: u64,
    /// 5xx.
    pub server_error: u64,
}

/// Connections cut by a timeout, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// A request head that did not arrive within `header_read_timeout` (408).
    pub head: u64,
    /// A request body that did not arrive within `body_read_timeout` (408).
    pub body: u64,
    /// An idle keep-alive connection closed after `keep_alive_timeout`.
    pub idle: u64,
    /// A client that took no more of its response within `write_timeout`.
    pub write: u64,
}

/// What the server gave up on (see [`Limits::handler_timeout`](crate::Limits::handler_timeout),
/// [`Limits::max_queue_wait`](crate::Limits::max_queue_wait), [`crate::Cancellation`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GaveUp {
    /// Handlers that ran past their deadline: their clients were answered 503.
    pub handler_timeouts: u64,
    /// Responses handlers returned after their deadline, dropped.
    pub late_responses_dropped: u64,
    /// Requests whose client hung up while their handler ran (the handler was told).
    pub client_gone_in_flight: u64,
    /// Requests whose client hung up before they ran: never run.
    pub client_gone_before_start: u64,
    /// Requests that waited in their pool's queue longer than `max_queue_wait`: answered
    /// 503 without running.
    pub shed_for_queue_wait: u64,
}

/// How long work waited in a pool's queue for a worker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueWait {
    /// Waits observed (turns of connections with a request, on this pool).
    pub count: u64,
    /// Their total.
    pub sum: Duration,
    /// Cumulative counts, one per upper bound of [`QUEUE_WAIT_BUCKETS`] (in that order);
    /// `count` is the `+Inf` bucket.
    pub buckets: Vec<u64>,
}

/// One worker pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolMetrics {
    /// `"main"`, or the name given to `ServerBuilder::worker_pool`.
    pub name: String,
    /// Worker threads.
    pub size: usize,
    /// Workers serving a connection now.
    pub busy: usize,
    /// Connections or requests waiting for a worker.
    pub queued: usize,
    /// Requests served on this pool.
    pub completed: u64,
    /// How long work waited in its queue.
    pub queue_wait: QueueWait,
}

/// One route template and method: how many requests it served and how long each took on
/// its worker, up to the response head: its handler and middleware and, for a request that
/// follows another on the same connection in one worker turn (pipelined), its own parsing
/// and routing (it is timed from the end of the one before: one clock reading a request).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct RouteMetrics {
    /// The route template (`/users/{id}`).
    pub route: String,
    /// The method (`GET`), or `ANY` for a handler of every method.
    pub method: String,
    /// Requests served.
    pub count: u64,
    /// Their total latency.
    pub sum: Duration,
    /// Cumulative counts per upper bound of [`LATENCY_BUCKETS`], in seconds; `count` is the
    /// `+Inf` bucket.
    pub buckets: Vec<(f64, u64)>,
}

impl PoolMetrics {
    pub(crate) fn new(
        name: String,
        size: usize,
        busy: usize,
        queued: usize,
        completed: u64,
        queue_wait: QueueWait,
    ) -> Self {
        Self {
            name,
            size,
            busy,
            queued,
            completed,
            queue_wait,
        }
    }
}

impl Counters {
    /// The count of requests served by pool `index` (for the live gauges).
    pub(crate) fn pool_requests(&self, index: usize) -> u64 {
        self.pool_requests
            .get(index)
            .map_or(0, |n| n.load(Ordering::Relaxed))
    }
}

/// What a served request costs in metrics, for the metrics bench (feature `__internals`).
#[cfg(feature = "__internals")]
pub(crate) mod bench {
    use std::sync::Arc;
    use std::time::Instant;

    use http::StatusCode;

    use super::{Counters, RouteLayout, SeriesOffset, Tally};

    /// The counters of a server with one route, recording as a served request does.
    #[derive(Debug)]
    pub struct MetricsRecorder(Counters);

    impl MetricsRecorder {
        /// Counters for one pool and one route (`GET /users/{id}`).
        pub fn new() -> Self {
            let layout = RouteLayout {
                offsets: vec![Some(SeriesOffset { offset: 0, any: 1 })],
                series: vec![(Arc::from("/users/{id}"), "GET".to_owned())],
            };
            Self(Counters::new(true, 1, layout))
        }

        /// What `HandlerService::call` adds to a request: two clock reads, the series
        /// look-up and the counting.
        pub fn record(&self) {
            let series = self.0.series(0, Some(0));
            let started = Instant::now();
            let tally = Tally::default();
            self.0
                .responded(&tally, StatusCode::OK, series, started.elapsed());
            self.0.publish(&tally, 0);
        }
    }

    impl Default for MetricsRecorder {
        fn default() -> Self {
            Self::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_waits_fall_in_the_bucket_their_bound_covers() {
        for (nanos, seconds) in QUEUE_WAIT_NANOS.iter().zip(QUEUE_WAIT_BUCKETS) {
            assert_eq!(
                Duration::from_nanos(*nanos),
                Duration::from_secs_f64(seconds)
            );
        }
        let counters = Counters::new(true, 1, RouteLayout::default());
        counters.queued_for(0, Duration::from_micros(500)); // le 0.0005
        counters.queued_for(0, Duration::from_micros(501)); // le 0.001
        counters.queued_for(0, Duration::from_secs(2)); // +Inf
        let wait = counters.pool_queue_wait(0);
        assert_eq!(wait.count, 3);
        assert_eq!(&wait.buckets[..2], &[1, 2]);
        assert_eq!(wait.buckets[QUEUE_WAIT_BUCKETS.len() - 1], 2);
    }
}

//! switchyard: an embeddable HTTP/1.1 (and, with the `http2` feature, HTTP/2) server that
//! runs handlers on a thread pool, with no async runtime.
//!
//! The workers of a [`ThreadPool`] poll connection readiness (mio) themselves: a worker takes
//! a connection with a request ready, serves every request already received (pipelining
//! included) and parks the connection again, costing no worker while it is idle. A poller
//! thread accepts, keeps the timers, and steps in when the workers are stuck in blocking
//! handlers, so a handler that blocks only blocks its own worker. It is not an async
//! framework or an HTTP client.
//!
//! # Examples
//!
//! ```no_run
//! use switchyard::{Request, Response, Server};
//!
//! let server = Server::builder()
//!     .threads(8)
//!     .handler(|req: &Request| Response::text(format!("hello from {}", req.path())))
//!     .bind("127.0.0.1:3000")?;
//! let shutdown = server.shutdown_handle(); // Clone + Send: stop it from any thread
//! server.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Handlers and responses
//!
//! A [`Handler`] is any `Fn(&Request) -> impl IntoResponse` that is `Send + Sync`. The
//! request body is gathered in full (within [`Limits::max_body_bytes`], or a route's own
//! [`Handler::max_body_bytes`]) before the handler runs, while the connection is parked: a
//! slow client holds no worker. A body longer than [`Limits::spool_threshold`] goes to a
//! temporary file as it arrives ([`BodyFile`]), so an upload of gigabytes costs no memory.
//! Routes marked [`Router::stream_bodies`] read their bodies as they arrive instead.
//! [`IntoResponse`] covers strings, bytes, status codes, `(StatusCode, T)`, headers with a
//! body (`(StatusCode, [(name, value); N], T)`), [`Response`] and `Result`. A
//! [`Body::stream`] is sent chunked, as are [`Body::from_chunks`] (an iterator) and
//! [`Body::writer`] (a closure writing on a thread of its own, so that a slow client holds
//! no worker). A panicking handler costs its client a 500; the worker keeps serving.
//!
//! # Static files
//!
//! [`StaticFiles`] serves a directory: `Router::new().nest("/assets",
//! StaticFiles::new("./public"))`. Paths are confined to the directory (`..`, encoded or
//! not, absolute paths, `\`, NUL, drive prefixes, dot-files and symlinks out of it are
//! 404), with `ETag`/`Last-Modified` and conditional requests (304/412), single byte ranges
//! (206/416), index files, an optional single-page-app fallback and precompressed `.br`/`.gz`
//! siblings. Files stream as the socket drains, so a slow download holds no worker.
//!
//! # Limits and untrusted input
//!
//! Malformed or hostile input gets a precise status and a closed connection, never a
//! handler call:
//!
//! | limit | default | over the limit |
//! |---|---|---|
//! | request head ([`Limits::max_head_bytes`]) | 64 KiB | 431 |
//! | header fields ([`Limits::max_headers`]) | 100 | 431 |
//! | request target ([`Limits::max_uri_bytes`]) | 8 KiB | 414 |
//! | request body ([`Limits::max_body_bytes`]) | 2 MiB | 413 (before the body is read) |
//! | bodies of parked connections together ([`Limits::max_parked_body_bytes`]) | 256 MiB | 503 |
//! | spooled bodies together ([`Limits::max_spooled_bytes`]) | 16 GiB | 503 |
//! | head read ([`Limits::header_read_timeout`]) | 30 s from the first byte | 408 |
//! | body read ([`Limits::body_read_timeout`]) | 30 s from the first wait, +1 s per 500 bytes received ([`Limits::min_body_rate`]) | 408 |
//! | idle keep-alive ([`Limits::keep_alive_timeout`]) | 75 s | closed |
//! | slow reader ([`Limits::write_timeout`]) | 30 s without progress | closed |
//! | queued connections ([`ServerBuilder::queue_capacity`]) | 1024 | 503 + `Retry-After` |
//! | open connections ([`ServerBuilder::max_connections`]) | 65,536 | 503 at accept |
//!
//! No client holds a worker while it is the one to wait for: a request body still
//! arriving, a response the client does not read (the connection parks until its socket
//! drains, and is not read meanwhile), or a client that pipelines without pause (a turn
//! serves at most 16 requests, then the connection goes to the back of the queue).
//!
//! Timeouts saturate at [`MAX_TIMEOUT`](limits::MAX_TIMEOUT) (100 years): `Duration::MAX` means "never".
//!
//! Framing follows RFC 9112 §6 strictly: `Content-Length` must be digits (identical repeats
//! fold), `Transfer-Encoding` must end in `chunked`, both together are refused (400), lines
//! end in CRLF, an HTTP/1.1 request needs exactly one valid `Host`. Other versions get 505.
//!
//! # The thread pool
//!
//! [`ThreadPool`] is usable on its own: the Rust Book's (chapter 20) pool made production
//! grade: named workers, a bounded queue with back-pressure ([`ThreadPool::try_execute`]),
//! panic isolation, counters ([`ThreadPool::stats`]) and a graceful shutdown that joins
//! every worker, with or without a deadline.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use switchyard::ThreadPool;
//!
//! let pool = ThreadPool::builder().size(4).queue_capacity(1024).build()?;
//! let hits = Arc::new(AtomicUsize::new(0));
//! for _ in 0..100 {
//!     let hits = Arc::clone(&hits);
//!     pool.execute(move || {
//!         hits.fetch_add(1, Ordering::Relaxed);
//!     })?;
//! }
//! pool.shutdown(); // runs every queued job, then joins the workers
//! assert_eq!(hits.load(Ordering::Relaxed), 100);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Panics
//!
//! Handlers, middleware and pool jobs run under `catch_unwind`. A panicking handler or
//! middleware is logged (feature `log`) and becomes a 500 at the layer that panicked, so
//! the middleware around it still sees that response, in a server and through
//! [`Router::handle`] alike.
//! The library panics only where a caller passes a value that can never be valid, and says
//! so under `# Panics`: [`ThreadPool::new`] with a zero size, [`Response::with_header`]
//! and the [`SetCookie`] constructors with a name or value that is not valid on the wire,
//! [`StaticFiles::cache_control`] with an invalid header value. Each has a fallible twin
//! or a checked form ([`ThreadPool::build`](pool::ThreadPoolBuilder::build),
//! [`Response::try_with_header`], [`SetCookie::try_new`]); the server itself never panics
//! on what a client sends.
//!
//! # Cargo features
//!
//! Only `multipart` (no dependency) is on by default; each one only adds.
//!
//! | feature | adds |
//! |---|---|
//! | `multipart` | `Request::multipart`: `multipart/form-data` bodies part by part (on by default; no dependency) |
//! | `json` | `Json<T>` responses and `Request::json` (serde, serde_json) |
//! | `log` | server events through the `log` facade; `AccessLog::log` (log) |
//! | `form` | `Request::query_as` and `Request::form`: urlencoded queries and bodies (serde, serde_urlencoded) |
//! | `signal` | `signal::shutdown_on_signals`: graceful shutdown on SIGINT/SIGTERM, Unix only (signal-hook) |
//! | `compression` | `Compression`: gzip responses negotiated with `Accept-Encoding`, streams included (flate2, pure-Rust backend) |
//! | `tls` | HTTPS: `ServerBuilder::tls` and the `tls` module: rustls with the ring provider, certificate reload, SNI and ALPN in `Request::tls`, an HTTP to HTTPS redirect (rustls) |
//! | `http2` | HTTP/2: ALPN `h2` over TLS, `ServerBuilder::h2c` on plain ports; each stream's handler on its route's pool (h2; tokio's I/O traits only, no runtime) |
//!
//! # Minimum supported Rust version
//!
//! Rust 1.85 (edition 2024). Raising it is a breaking change noted in the changelog.

mod body;
mod cancel;
mod cookie;
mod error;
#[cfg(feature = "form")]
mod form;
mod handler;
mod head;
mod http1;
mod io;
#[cfg(feature = "json")]
mod json;
pub mod limits;
pub mod live;
mod logging;
mod method_router;
pub mod metrics;
mod middleware;
#[cfg(feature = "multipart")]
pub mod multipart;
mod params;
pub mod plugin;
pub mod pool;
mod request;
mod response;
mod router;
mod server;
#[cfg(feature = "signal")]
pub mod signal;
mod spool;
pub mod testing;
#[cfg(feature = "tls")]
pub mod tls;

pub use body::{Body, BodyWriter};
pub use cancel::{CancelReason, Cancellation};
pub use cookie::{SameSite, SetCookie};
pub use error::{
    Error, InvalidCookie, InvalidHeader, Rejection, RejectionKind, Result, RouteError,
};
pub use handler::{Handler, Placed};
#[cfg(feature = "json")]
pub use json::Json;
pub use limits::Limits;
pub use middleware::{FromFn, Middleware, Next, from_fn};
pub use params::PathParams;
#[cfg(feature = "compression")]
pub use plugin::Compression;
pub use plugin::{
    AccessLog, Cors, Health, HttpsRedirect, Metrics, Plugin, StaticFile, StaticFiles,
};
pub use pool::ThreadPool;
pub use request::{BodyReader, Request};
pub use response::{IntoResponse, Response};
pub use router::Router;
pub use server::{RunningServer, Server, ServerBuilder, ShutdownHandle, ShutdownReport};
pub use spool::BodyFile;

/// Internals for benches and fuzz targets, behind the `__internals` feature. Not covered by
/// semver: do not use.
#[cfg(feature = "__internals")]
#[doc(hidden)]
pub mod __private {
    pub use crate::http1::fuzzing::*;
    pub use crate::metrics::bench::MetricsRecorder;
    pub use crate::plugin::fuzzing::*;
    pub use crate::server::fuzzing::*;
}

/// Re-exported so that users need no direct dependency for status codes, methods and headers.
pub use http;

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

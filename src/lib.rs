//! switchyard: an embeddable HTTP/1.1 request router and server that runs on a thread pool,
//! with no async runtime.
//!
//! This release contains the foundation: [`ThreadPool`], the Rust Book's (chapter 20) worker
//! pool made production grade: named workers, a bounded queue with back-pressure
//! ([`ThreadPool::try_execute`]), panic isolation, counters ([`ThreadPool::stats`]) and a
//! graceful shutdown that joins every worker, with or without a deadline.
//!
//! # Examples
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
//! A job that panics is caught on its worker; the worker keeps serving the queue. Only
//! [`ThreadPool::new`] panics, on a zero size, and [`ThreadPool::build`] is its fallible twin.
//!
//! # Minimum supported Rust version
//!
//! Rust 1.85 (edition 2024). Raising it is a breaking change noted in the changelog.

mod error;
mod pool;

pub use error::{Error, ExecuteError, PoolError, Result, ShutdownTimedOut, TryExecuteError};
pub use pool::{
    DEFAULT_THREAD_NAME_PREFIX, Job, PanicReport, PoolStats, ThreadPool, ThreadPoolBuilder,
};

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

//! Every error type of the crate.
//!
//! This module imports no other module of the crate, which keeps the dependency graph acyclic:
//! every layer may name these types. Error sources of foreign crates are reachable through
//! [`std::error::Error::source`] only, and their concrete types can not be depended on.

use std::io;
use std::time::Duration;

/// The result type of fallible operations that report an [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error the embedding application sees.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The thread pool could not be built.
    #[error("thread pool could not be built")]
    Pool(#[from] PoolError),
    /// An I/O operation failed.
    #[error("i/o error")]
    Io(#[from] io::Error),
}

/// Building a [`ThreadPool`](crate::ThreadPool) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// A pool needs at least one worker.
    #[error("thread pool size must be at least 1")]
    ZeroSize,
    /// The operating system refused to start a worker thread.
    ///
    /// The workers started before it have been shut down and joined.
    #[error("failed to spawn worker thread {id}")]
    Spawn {
        /// The id of the worker that could not be started.
        id: usize,
        /// What the operating system reported.
        #[source]
        source: io::Error,
    },
}

/// [`ThreadPool::execute`](crate::ThreadPool::execute) refused a job because the pool no longer
/// accepts work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("thread pool is shutting down")]
pub struct ExecuteError;

/// [`ThreadPool::try_execute`](crate::ThreadPool::try_execute) refused a job; the job is handed
/// back unrun.
#[derive(thiserror::Error)]
pub enum TryExecuteError<J> {
    /// The queue is at its capacity. Retry later, or answer the client with 503.
    #[error("thread pool queue is full")]
    Full(J),
    /// The pool no longer accepts work.
    #[error("thread pool is shutting down")]
    ShuttingDown(J),
}

impl<J> TryExecuteError<J> {
    /// The job that was not run.
    pub fn into_job(self) -> J {
        match self {
            Self::Full(job) | Self::ShuttingDown(job) => job,
        }
    }

    /// Whether the job was refused because the queue was full.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }
}

impl<J> std::fmt::Debug for TryExecuteError<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::ShuttingDown(_) => f.write_str("ShuttingDown(..)"),
        }
    }
}

/// [`ThreadPool::shutdown_timeout`](crate::ThreadPool::shutdown_timeout) reached its deadline
/// while some workers were still running a job.
///
/// Those workers are detached: they finish their current job in the background and exit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("thread pool shutdown timed out after {timeout:?} with {} busy workers", busy_workers.len())]
pub struct ShutdownTimedOut {
    /// The deadline that was given.
    pub timeout: Duration,
    /// Ids of the workers still running a job at the deadline, in ascending order.
    pub busy_workers: Vec<usize>,
    /// Jobs still queued at the deadline; they were dropped without being run.
    pub dropped_jobs: usize,
}

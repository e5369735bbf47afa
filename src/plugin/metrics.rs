//! [`Metrics`]: `GET /metrics` in the Prometheus text format.

use std::fmt;
use std::sync::Arc;

use super::Plugin;
use crate::body::Body;
use crate::handler::Handler;
use crate::metrics::{MetricsPage, MetricsSlot, page::CONTENT_TYPE};
use crate::pool::SYSTEM_POOL;
use crate::request::Request;
use crate::response::Response;
use crate::router::Router;

/// The path [`Metrics::new`] serves.
pub const DEFAULT_METRICS_PATH: &str = "/metrics";

type Families = Arc<dyn Fn(&mut MetricsPage) + Send + Sync>;

/// Serves the server's metrics ([`MetricsSnapshot`](crate::metrics::MetricsSnapshot)) at
/// `GET /metrics` in the Prometheus text exposition format 0.0.4, then the application's
/// own families ([`families`](Self::families)).
///
/// Served by a server, the page has every `switchyard_*` family: connections by state,
/// accepted and refused connections, responses by status class, requests refused before
/// routing by status, timeouts by kind, handler panics, per-pool threads, busy workers,
/// queue and requests, and one `switchyard_request_duration_seconds` histogram per route
/// template and method. Through [`Router::handle`](crate::Router::handle) (no server) it
/// has the application's families only.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use switchyard::{Metrics, Request, Router};
///
/// let signups = Arc::new(AtomicU64::new(0));
/// let counted = Arc::clone(&signups);
/// let app = Router::new()
///     .post("/signup", move |_: &Request| {
///         counted.fetch_add(1, Ordering::Relaxed);
///         "welcome"
///     })
///     .plugin(Metrics::new().families(move |page| {
///         let n = signups.load(Ordering::Relaxed);
///         page.counter("app_signups_total", "Accounts created.", &[], n);
///     }));
/// app.handle(http::Request::post("/signup").body(())?);
/// let res = app.handle(http::Request::get("/metrics").body(())?);
/// assert_eq!(res.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
/// let page = String::from_utf8(res.into_body_bytes()?)?;
/// assert!(page.contains("\napp_signups_total 1\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Metrics {
    path: String,
    families: Vec<Families>,
}

impl Metrics {
    /// Serves the page at [`DEFAULT_METRICS_PATH`].
    pub fn new() -> Self {
        Self::at(DEFAULT_METRICS_PATH)
    }

    /// Serves the page at `path`.
    pub fn at(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            families: Vec::new(),
        }
    }

    /// Appends the application's own families to every page: `write` runs at each scrape,
    /// after the server's families.
    #[must_use]
    pub fn families<F>(mut self, write: F) -> Self
    where
        F: Fn(&mut MetricsPage) + Send + Sync + 'static,
    {
        self.families.push(Arc::new(write));
        self
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("path", &self.path)
            .field("families", &self.families.len())
            .finish()
    }
}

impl Plugin for Metrics {
    fn name(&self) -> &str {
        "metrics"
    }

    fn install(self, mut router: Router) -> Router {
        let slot = MetricsSlot::default();
        router.add_metrics_slot(Arc::clone(&slot));
        let families = self.families;
        let page = move |_: &Request| {
            let mut page = MetricsPage::default();
            if let Some(server) = slot.get() {
                page.server(&server.snapshot());
            }
            for write in &families {
                write(&mut page);
            }
            Response::with_content_type(Body::from(page.into_string()), CONTENT_TYPE)
        };
        // On the server's own lane: scraped even while every main worker is busy.
        router.get(&self.path, page.on_pool(SYSTEM_POOL))
    }
}

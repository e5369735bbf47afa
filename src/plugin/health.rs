//! [`Health`]: a liveness endpoint that tells load balancers when the server drains.

use http::StatusCode;

use super::Plugin;
use crate::handler::Handler;
use crate::pool::SYSTEM_POOL;
use crate::request::Request;
use crate::response::Response;
use crate::router::Router;

/// The path [`Health::new`] serves.
pub const DEFAULT_HEALTH_PATH: &str = "/healthz";

/// `GET /healthz`: `200 ok` while serving, `503 draining` once a graceful shutdown has begun,
/// so a load balancer stops sending traffic while requests in flight finish.
///
/// # Examples
///
/// ```
/// use switchyard::{Health, Router};
///
/// let router = Router::new().plugin(Health::new());
/// let res = router.handle(http::Request::get("/healthz").body(())?);
/// assert_eq!(res.status(), 200);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Health {
    path: String,
}

impl Health {
    /// Serves [`DEFAULT_HEALTH_PATH`].
    pub fn new() -> Self {
        Self::at(DEFAULT_HEALTH_PATH)
    }

    /// Serves another path.
    pub fn at(path: impl Into<String>) -> Self {
        Self { path: path.into() }
    }
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Plugin for Health {
    fn name(&self) -> &str {
        "health"
    }

    fn install(self, router: Router) -> Router {
        let health = |req: &Request| {
            if req.is_server_draining() {
                Response::text("draining\n").with_status(StatusCode::SERVICE_UNAVAILABLE)
            } else {
                Response::text("ok\n")
            }
        };
        // On the server's own lane: answered even while every main worker is busy.
        router.get(&self.path, health.on_pool(SYSTEM_POOL))
    }
}

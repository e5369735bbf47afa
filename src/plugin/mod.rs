//! [`Plugin`]: a named bundle of routes, middleware and state, and the two that ship:
//! [`Health`] and [`AccessLog`]; and [`StaticFiles`], a router of files to nest.

mod access_log;
mod health;
mod metrics;
mod static_files;

pub use access_log::AccessLog;
pub use health::{DEFAULT_HEALTH_PATH, Health};
pub use metrics::{DEFAULT_METRICS_PATH, Metrics};
pub use static_files::StaticFiles;

use crate::router::Router;

/// A named bundle of routes, middleware and state that installs into a [`Router`] (or a
/// server, through [`ServerBuilder::plugin`](crate::ServerBuilder::plugin)).
///
/// `install` gets the application's router and returns it with its additions. Routes it
/// registers are attributed to the plugin's [`name`](Self::name) in conflict errors, so a
/// collision between two plugins names both. Middleware it adds to the router it receives
/// applies to every route; to scope middleware or state to its own routes, build a router of
/// its own and [`merge`](Router::merge) or [`nest`](Router::nest) it.
///
/// # Examples
///
/// ```
/// use switchyard::{Plugin, Request, Router};
///
/// /// Serves the application's version.
/// struct Version(&'static str);
///
/// impl Plugin for Version {
///     fn name(&self) -> &str {
///         "version"
///     }
///     fn install(self, router: Router) -> Router {
///         let version = self.0;
///         router.get("/version", move |_: &Request| version)
///     }
/// }
///
/// let router = Router::new().plugin(Version("1.2.3"));
/// let res = router.handle(http::Request::get("/version").body(())?);
/// assert_eq!(res.into_body_bytes()?, b"1.2.3");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Plugin {
    /// The plugin's name, used in conflict errors.
    fn name(&self) -> &str;

    /// Adds the plugin's routes, middleware and state to `router`.
    fn install(self, router: Router) -> Router;
}

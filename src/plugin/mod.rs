//! [`Plugin`]: a named bundle of routes, middleware and state, and the ones that ship:
//! [`Health`], [`AccessLog`], [`Metrics`], [`Cors`], [`HttpsRedirect`] and (feature
//! `compression`) `Compression`; the limiters [`ConcurrencyLimit`] and [`RateLimit`]; and
//! [`StaticFiles`], a router of files to nest. The
//! plugins are also at the crate root; their builders, errors and defaults are here.

mod access_log;
#[cfg(feature = "compression")]
mod compression;
mod concurrency_limit;
mod cors;
/// Entry points for benches and fuzz targets (feature `__internals`).
#[cfg(feature = "__internals")]
#[doc(hidden)]
#[allow(unreachable_pub, missing_docs)] // reachable only through `__private`, not semver
pub mod fuzzing;
mod health;
mod https_redirect;
mod metrics;
mod negotiate;
mod rate_limit;
mod static_files;

pub use crate::error::CorsError;
pub use access_log::AccessLog;
#[cfg(feature = "compression")]
pub use compression::{Compression, DEFAULT_COMPRESSION_LEVEL, DEFAULT_MIN_COMPRESS_BYTES};
pub use concurrency_limit::ConcurrencyLimit;
pub use cors::{Cors, CorsBuilder};
pub use health::{DEFAULT_HEALTH_PATH, Health};
pub use https_redirect::HttpsRedirect;
pub use metrics::{DEFAULT_METRICS_PATH, Metrics};
pub use rate_limit::RateLimit;
pub use static_files::{StaticFile, StaticFiles};

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue, VARY};

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

impl Router {
    /// Installs a plugin: its routes, middleware and state. Routes it registers are
    /// attributed to it in conflict errors.
    pub fn plugin<P: Plugin>(self, plugin: P) -> Self {
        let name = plugin.name().to_owned();
        self.installing(&name, |router| plugin.install(router))
    }
}

/// Adds `names` to the response's `Vary` (RFC 9110 §12.5.5), keeping what it lists: the
/// names it lacks go in one more `Vary` line; nothing is added when it is `*` already.
fn append_vary(headers: &mut HeaderMap, names: &[HeaderName]) {
    let listed: Vec<String> = headers
        .get_all(VARY)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    if listed.iter().any(|name| name == "*") {
        return;
    }
    let missing: Vec<&str> = names
        .iter()
        .map(HeaderName::as_str)
        .filter(|name| !listed.iter().any(|listed| listed == name))
        .collect();
    if missing.is_empty() {
        return;
    }
    let value = HeaderValue::try_from(missing.join(", "))
        .expect("header names joined with commas are a valid header value");
    headers.append(VARY, value);
}

/// Helpers the plugins' unit tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use http::HeaderMap;
    use http::header::{HeaderName, HeaderValue};

    /// A header map of `pairs`, in order (repeated names append).
    pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{ACCEPT_ENCODING, ORIGIN};

    fn vary(headers: &HeaderMap) -> Vec<&str> {
        headers
            .get_all(VARY)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn append_vary_keeps_existing_names_and_adds_only_missing_ones() {
        let mut headers = HeaderMap::new();
        headers.append(VARY, HeaderValue::from_static("Cookie, Accept-Encoding"));
        append_vary(&mut headers, &[ACCEPT_ENCODING, ORIGIN]);
        assert_eq!(vary(&headers), ["Cookie, Accept-Encoding", "origin"]);
        append_vary(&mut headers, &[ORIGIN]);
        assert_eq!(vary(&headers), ["Cookie, Accept-Encoding", "origin"]);
    }

    #[test]
    fn append_vary_adds_nothing_to_a_star() {
        let mut headers = HeaderMap::new();
        headers.append(VARY, HeaderValue::from_static("*"));
        append_vary(&mut headers, &[ORIGIN]);
        assert_eq!(vary(&headers), ["*"]);
    }
}

//! [`HttpsRedirect`]: the app of a plain-HTTP listener that sends every client to HTTPS.

use http::StatusCode;

use super::Plugin;
use crate::request::Request;
use crate::response::Response;
use crate::router::Router;

/// Answers every request with `308 Permanent Redirect` to the same target over HTTPS on a
/// port: `https://HOST[:port]/path?query`, where HOST is the request's `Host` without its
/// port (`:port` is left out for 443). A request without a host, or whose target is not a
/// path (`OPTIONS *`), gets `400`.
///
/// Serve it on a second, plain listener beside the TLS one: as a whole app
/// (`Router::from`), or as a plugin, which makes it the app's fallback (routes the app
/// registers, such as a health check, are still served over HTTP).
///
/// # Examples
///
/// ```
/// use switchyard::{HttpsRedirect, Router};
///
/// let app = Router::from(HttpsRedirect::to_port(8443));
/// let res = app.handle(http::Request::get("/a?b=1").header("host", "example.com:8080").body(())?);
/// assert_eq!(res.status(), 308);
/// assert_eq!(res.headers()["location"], "https://example.com:8443/a?b=1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpsRedirect {
    port: u16,
}

impl HttpsRedirect {
    /// Redirects to HTTPS on `port`.
    pub fn to_port(port: u16) -> Self {
        Self { port }
    }

    fn redirect(self, req: &Request) -> Response {
        if req
            .uri()
            .path_and_query()
            .is_none_or(|target| !target.as_str().starts_with('/'))
        {
            // `OPTIONS *` and the like: nothing to redirect to.
            return Response::new(StatusCode::BAD_REQUEST);
        }
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|value| value.to_str().ok())
            .or_else(|| req.uri().authority().map(http::uri::Authority::as_str));
        let Some(host) = host.map(strip_port).filter(|host| !host.is_empty()) else {
            return Response::new(StatusCode::BAD_REQUEST);
        };
        let target = req
            .uri()
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        let location = if self.port == 443 {
            format!("https://{host}{target}")
        } else {
            format!("https://{host}:{}{target}", self.port)
        };
        Response::permanent_redirect(&location)
    }
}

impl Plugin for HttpsRedirect {
    fn name(&self) -> &str {
        "https-redirect"
    }

    fn install(self, router: Router) -> Router {
        router.fallback(move |req: &Request| self.redirect(req))
    }
}

impl From<HttpsRedirect> for Router {
    fn from(redirect: HttpsRedirect) -> Router {
        Router::new().plugin(redirect)
    }
}

/// `host[:port]` without its port; an IPv6 literal keeps its brackets.
fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_port_keeps_ipv6_brackets() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }

    #[test]
    fn the_default_https_port_is_left_out_and_targets_that_are_not_paths_are_refused() {
        let app = Router::from(HttpsRedirect::to_port(443));
        let get = |target: &str, host: &str| {
            let request = http::Request::get(target).header("host", host).body(());
            app.handle(request.unwrap())
        };
        let res = get("/x", "[::1]:80");
        assert_eq!(res.headers()["location"], "https://[::1]/x");
        assert_eq!(get("/x", "").status(), StatusCode::BAD_REQUEST);
        let star = http::Request::options("*").header("host", "h").body(());
        assert_eq!(app.handle(star.unwrap()).status(), StatusCode::BAD_REQUEST);
    }
}

//! [`Cors`]: the CORS protocol of the Fetch standard, as middleware: answers to preflight
//! requests, and the `Access-Control-*` headers of the responses to the requests that
//! follow.
//!
//! ```text
//! OPTIONS + Origin + Access-Control-Request-Method ──► preflight: 204, the route never runs
//!     origin, method and headers allowed ──► Access-Control-Allow-* headers
//!     otherwise                           ──► no Access-Control-Allow-* header
//! any other request ──► the router answers (OPTIONS: 204 + Allow), then
//!     origin allowed ──► Access-Control-Allow-Origin (+ -Credentials, -Expose-Headers)
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, HeaderName, HeaderValue, ORIGIN,
};
use http::{HeaderMap, Method, StatusCode};

use super::{Plugin, append_vary};
use crate::error::CorsError;
use crate::middleware::{Middleware, Next};
use crate::request::Request;
use crate::response::Response;
use crate::router::Router;

/// The status of every answer to a preflight request, allowed or not.
const PREFLIGHT_STATUS: StatusCode = StatusCode::NO_CONTENT;

/// Methods a browser sends cross-origin without asking for them (Fetch, "CORS-safelisted
/// method"): a preflight for one of them is about its headers, never about the method.
const SAFELISTED_METHODS: [Method; 3] = [Method::GET, Method::HEAD, Method::POST];

/// The wildcard, in the lists of the builder and in the headers.
const WILDCARD: &str = "*";

/// Answers browsers' cross-origin requests (CORS), as middleware (or a [`Plugin`]) on a
/// router. Built with [`Cors::builder`]; a configuration browsers would reject is an
/// error there, never a panic.
///
/// **Preflight requests** are the `OPTIONS` requests that carry both `Origin` and
/// `Access-Control-Request-Method`, and only those. They are answered here with `204 No
/// Content`, and the route is never called:
///
/// - when the origin, the requested method and every requested header are allowed, with
///   `Access-Control-Allow-Origin`, `-Allow-Credentials` (when allowed), `-Allow-Methods`,
///   `-Allow-Headers` and `-Max-Age` (when set);
/// - otherwise without any `Access-Control-Allow-*` header. The browser then fails the
///   preflight and reports which header is missing, which is more helpful than the "not
///   an ok status" a 403 would earn; the status is the same as for an allowed preflight,
///   as with most CORS middleware.
///
/// GET, HEAD and POST are always allowed methods: browsers do not ask for them. Every
/// other `OPTIONS` request goes to the router as usual, which answers `204` with `Allow`
/// unless a route claims `OPTIONS`.
///
/// **Other requests** go to the router; when their `Origin` is allowed, the response gets
/// `Access-Control-Allow-Origin` (the request's origin, or `*` when any origin is allowed
/// without credentials), `Access-Control-Allow-Credentials: true` when credentials are
/// allowed, and `Access-Control-Expose-Headers` when set. With any origin allowed, every
/// response gets `Access-Control-Allow-Origin: *`, `Origin` or not, so caches can share it.
///
/// **`Vary`.** When the answer depends on the origin (a list or a predicate of origins),
/// every response gets `Vary: Origin`, added to any `Vary` it has; preflight answers also
/// vary on `Access-Control-Request-Method` (unless any method is allowed) and
/// `Access-Control-Request-Headers` (unless any header is allowed).
///
/// **Where to install it.** Middleware runs around the router's 404, 405 and `OPTIONS`
/// answers, so installed on the application's router it answers preflights for every path,
/// those without an `OPTIONS` route, without any route, and those of nested routers.
/// Installed on a router nested at a prefix, it answers for every path under the prefix.
/// Installed on a merged router, it covers only that router's routes.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use http::{Method, StatusCode};
/// use switchyard::{Cors, Request, Router};
///
/// let cors = Cors::builder()
///     .allow_origins(["https://app.example"])
///     .allow_methods([Method::PUT, Method::DELETE])
///     .allow_headers(["content-type"])
///     .max_age(Duration::from_secs(600))
///     .build()?;
/// let router = Router::new().put("/items/{id}", |_: &Request| "stored").plugin(cors);
///
/// // The browser asks first.
/// let preflight = http::Request::options("/items/7")
///     .header("origin", "https://app.example")
///     .header("access-control-request-method", "PUT")
///     .header("access-control-request-headers", "content-type")
///     .body(())?;
/// let res = router.handle(preflight);
/// assert_eq!(res.status(), StatusCode::NO_CONTENT);
/// assert_eq!(res.headers()["access-control-allow-origin"], "https://app.example");
/// assert_eq!(res.headers()["access-control-allow-methods"], "PUT, DELETE");
/// assert_eq!(res.headers()["access-control-allow-headers"], "content-type");
/// assert_eq!(res.headers()["access-control-max-age"], "600");
///
/// // Then sends the request, whose response it lets the page read.
/// let put = http::Request::put("/items/7").header("origin", "https://app.example").body(())?;
/// let res = router.handle(put);
/// assert_eq!(res.headers()["access-control-allow-origin"], "https://app.example");
/// assert_eq!(res.headers()["vary"], "origin");
///
/// // Another origin gets no permission.
/// let put = http::Request::put("/items/7").header("origin", "https://evil.example").body(())?;
/// assert!(router.handle(put).headers().get("access-control-allow-origin").is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Cors {
    policy: Arc<Policy>,
}

impl Cors {
    /// A builder that allows no origin yet; [`CorsBuilder::build`] needs one.
    pub fn builder() -> CorsBuilder {
        CorsBuilder::default()
    }
}

impl fmt::Debug for Cors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let policy = &*self.policy;
        f.debug_struct("Cors")
            .field("origins", &policy.origins)
            .field("credentials", &policy.credentials)
            .field("methods", &policy.methods)
            .field("request_headers", &policy.request_headers)
            .field("expose_headers", &policy.expose_headers)
            .field("max_age", &policy.max_age)
            .finish()
    }
}

impl Middleware for Cors {
    fn handle(&self, request: &mut Request, next: Next<'_>) -> Response {
        if is_preflight(request.method(), request.headers()) {
            return self.policy.preflight(request.headers());
        }
        let origin = request.headers().get(ORIGIN).cloned();
        let mut response = next.run(request);
        self.policy
            .decorate(origin.as_ref(), response.headers_mut());
        response
    }
}

impl Plugin for Cors {
    fn name(&self) -> &str {
        "cors"
    }

    fn install(self, router: Router) -> Router {
        router.middleware(self)
    }
}

/// Whether a request is a CORS preflight: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method` (Fetch, "CORS-preflight request"). An `OPTIONS` request
/// without them is an ordinary one.
fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(ORIGIN)
        && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

type OriginPredicate = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Which origins may read responses.
#[derive(Clone)]
enum Origins {
    Any,
    /// Lowercase; compared without regard to case.
    List(Vec<String>),
    Predicate(OriginPredicate),
}

impl fmt::Debug for Origins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origins::Any => f.write_str("Any"),
            Origins::List(origins) => f.debug_tuple("List").field(origins).finish(),
            Origins::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

/// Which methods a preflight may ask for, beyond the safelisted ones.
#[derive(Debug, Clone)]
enum Methods {
    Any,
    List {
        methods: Vec<Method>,
        /// `Access-Control-Allow-Methods`; `None` for an empty list.
        value: Option<HeaderValue>,
    },
}

/// Which request headers a preflight may ask for.
#[derive(Debug, Clone)]
enum RequestHeaders {
    Any,
    /// Whatever the preflight asks for.
    Mirror,
    List {
        names: Vec<HeaderName>,
        /// `Access-Control-Allow-Headers`; `None` for an empty list.
        value: Option<HeaderValue>,
    },
}

/// A built configuration, with its header values computed once.
#[derive(Debug)]
struct Policy {
    origins: Origins,
    credentials: bool,
    methods: Methods,
    request_headers: RequestHeaders,
    expose_headers: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
}

impl Policy {
    /// Whether the answer depends on the request's `Origin`.
    fn varies_by_origin(&self) -> bool {
        !matches!(self.origins, Origins::Any)
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if allowed.
    fn allow_origin(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        let origin = match &self.origins {
            // Credentials with any origin are refused at build time.
            Origins::Any => return Some(HeaderValue::from_static(WILDCARD)),
            _ => origin?,
        };
        let text = origin.to_str().ok()?;
        let allowed = match &self.origins {
            Origins::Any => true,
            Origins::List(origins) => origins.iter().any(|o| o.eq_ignore_ascii_case(text)),
            Origins::Predicate(allows) => allows(text),
        };
        allowed.then(|| origin.clone())
    }

    /// Whether a preflight may ask for the method in `value`.
    fn allows_method(&self, value: &HeaderValue) -> bool {
        let Ok(method) = Method::from_bytes(value.as_bytes()) else {
            return false;
        };
        match &self.methods {
            Methods::Any => true,
            Methods::List { methods, .. } => {
                SAFELISTED_METHODS.contains(&method) || methods.contains(&method)
            }
        }
    }

    /// The `Access-Control-Allow-Headers` value for a preflight asking for `requested`, or
    /// `Err(())` when one of them is not allowed (or not a header name).
    fn allow_headers(&self, requested: &HeaderMap) -> Result<Option<HeaderValue>, ()> {
        let mut names = Vec::new();
        for value in requested.get_all(ACCESS_CONTROL_REQUEST_HEADERS) {
            let text = value.to_str().map_err(|_| ())?;
            for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                names.push(HeaderName::from_bytes(name.as_bytes()).map_err(|_| ())?);
            }
        }
        match &self.request_headers {
            RequestHeaders::Any => Ok(Some(HeaderValue::from_static(WILDCARD))),
            RequestHeaders::Mirror => Ok(joined(&names)),
            RequestHeaders::List {
                names: allowed,
                value,
            } => {
                if names.iter().all(|name| allowed.contains(name)) {
                    Ok(value.clone())
                } else {
                    Err(())
                }
            }
        }
    }

    /// The answer to a preflight request with `headers`.
    fn preflight(&self, headers: &HeaderMap) -> Response {
        let mut response = Response::new(PREFLIGHT_STATUS);
        let out = response.headers_mut();
        let mut vary = Vec::new();
        if self.varies_by_origin() {
            vary.push(ORIGIN);
        }
        if !matches!(self.methods, Methods::Any) {
            vary.push(ACCESS_CONTROL_REQUEST_METHOD);
        }
        if !matches!(self.request_headers, RequestHeaders::Any) {
            vary.push(ACCESS_CONTROL_REQUEST_HEADERS);
        }
        append_vary(out, &vary);

        let Some(allow_origin) = self.allow_origin(headers.get(ORIGIN)) else {
            return response;
        };
        let method_allowed = headers
            .get(ACCESS_CONTROL_REQUEST_METHOD)
            .is_some_and(|method| self.allows_method(method));
        if !method_allowed {
            return response;
        }
        let Ok(allow_headers) = self.allow_headers(headers) else {
            return response;
        };
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if self.credentials {
            out.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        let allow_methods = match &self.methods {
            Methods::Any => Some(HeaderValue::from_static(WILDCARD)),
            Methods::List { value, .. } => value.clone(),
        };
        if let Some(allow_methods) = allow_methods {
            out.insert(ACCESS_CONTROL_ALLOW_METHODS, allow_methods);
        }
        if let Some(allow_headers) = allow_headers {
            out.insert(ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
        }
        if let Some(max_age) = &self.max_age {
            out.insert(ACCESS_CONTROL_MAX_AGE, max_age.clone());
        }
        response
    }

    /// Adds the headers of an actual (not preflight) response to a request from `origin`.
    fn decorate(&self, origin: Option<&HeaderValue>, out: &mut HeaderMap) {
        if self.varies_by_origin() {
            append_vary(out, &[ORIGIN]);
        }
        let Some(allow_origin) = self.allow_origin(origin) else {
            return;
        };
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if self.credentials {
            out.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(expose) = &self.expose_headers {
            out.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
    }
}

/// `names` as a header value (`a, b`); `None` when there are none.
fn joined<T: AsRef<str>>(names: &[T]) -> Option<HeaderValue> {
    if names.is_empty() {
        return None;
    }
    let text = names
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ");
    Some(HeaderValue::try_from(text).expect("tokens joined with commas are a valid header value"))
}

/// What the builder was told about origins.
#[derive(Clone, Default)]
enum OriginSpec {
    #[default]
    None,
    List(Vec<String>),
    Predicate(OriginPredicate),
    Any,
}

/// What the builder was told about methods or headers.
#[derive(Debug, Clone)]
enum ListSpec {
    List(Vec<String>),
    Any,
    /// Request headers only: echo what the preflight asks for.
    Mirror,
}

impl ListSpec {
    /// Adds `items` to the list (replacing a wildcard or mirror setting). `*` among them
    /// means any.
    fn extend<I>(self, items: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut list = match self {
            ListSpec::List(list) => list,
            ListSpec::Any | ListSpec::Mirror => Vec::new(),
        };
        list.extend(
            items
                .into_iter()
                .map(|item| item.as_ref().trim().to_owned()),
        );
        ListSpec::List(list)
    }

    fn is_wildcard(&self) -> bool {
        match self {
            ListSpec::Any => true,
            ListSpec::List(list) => list.iter().any(|item| item == WILDCARD),
            ListSpec::Mirror => false,
        }
    }
}

/// Configures a [`Cors`]; made by [`Cors::builder`].
///
/// The setters of one setting replace each other's choice (the last one called decides:
/// `allow_any_header` after `allow_headers` allows any header), while the list setters add
/// to their list when called again. `*` in a list means "any", as in the headers. Nothing
/// is checked until [`build`](Self::build).
///
/// Defaults: no origin (`build` requires one), no credentials, only the safelisted methods
/// (GET, HEAD, POST), no request headers beyond the safelisted ones (`Accept`,
/// `Accept-Language`, `Content-Language`, and `Content-Type` with a form or plain-text
/// type), no exposed headers, no `Access-Control-Max-Age` (browsers then cache a preflight
/// for 5 seconds).
///
/// # Examples
///
/// A public, read-only API, and a single-page application that sends cookies:
///
/// ```
/// use http::Method;
/// use switchyard::Cors;
///
/// let public = Cors::builder().allow_any_origin().allow_any_header().build()?;
///
/// let spa = Cors::builder()
///     .allow_origins(["https://app.example", "http://localhost:5173"])
///     .allow_credentials(true)
///     .allow_methods([Method::PUT, Method::PATCH, Method::DELETE])
///     .mirror_request_headers()
///     .expose_headers(["x-total-count"])
///     .build()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a builder does nothing until built"]
#[derive(Clone)]
pub struct CorsBuilder {
    origins: OriginSpec,
    credentials: bool,
    methods: ListSpec,
    request_headers: ListSpec,
    expose_headers: ListSpec,
    max_age: Option<Duration>,
}

impl Default for CorsBuilder {
    fn default() -> Self {
        Self {
            origins: OriginSpec::None,
            credentials: false,
            methods: ListSpec::List(Vec::new()),
            request_headers: ListSpec::List(Vec::new()),
            expose_headers: ListSpec::List(Vec::new()),
            max_age: None,
        }
    }
}

impl fmt::Debug for CorsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origins = match &self.origins {
            OriginSpec::None => "None".to_owned(),
            OriginSpec::List(list) => format!("List({list:?})"),
            OriginSpec::Predicate(_) => "Predicate(..)".to_owned(),
            OriginSpec::Any => "Any".to_owned(),
        };
        f.debug_struct("CorsBuilder")
            .field("origins", &format_args!("{origins}"))
            .field("credentials", &self.credentials)
            .field("methods", &self.methods)
            .field("request_headers", &self.request_headers)
            .field("expose_headers", &self.expose_headers)
            .field("max_age", &self.max_age)
            .finish()
    }
}

impl CorsBuilder {
    /// Allows these origins, each `scheme://host[:port]` exactly as browsers send it in
    /// `Origin` (no path, no trailing slash, the port only when it is not the scheme's
    /// default, an international name in its `xn--` form); compared without regard to
    /// case. `*` allows any origin. `null` is refused at [`build`](Self::build): sandboxed
    /// documents and `data:` URLs all send it, so allowing it allows them all (use
    /// [`allow_origin_fn`](Self::allow_origin_fn) if you must).
    pub fn allow_origins<I>(mut self, origins: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut list = match self.origins {
            OriginSpec::List(list) => list,
            _ => Vec::new(),
        };
        list.extend(origins.into_iter().map(|o| o.as_ref().trim().to_owned()));
        self.origins = OriginSpec::List(list);
        self
    }

    /// Allows the origins for which `allows` returns `true`, given the `Origin` value
    /// (which is never `*`, and may be `null`).
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::Cors;
    ///
    /// let cors = Cors::builder()
    ///     .allow_origin_fn(|origin| origin.ends_with(".example.com") && origin.starts_with("https://"))
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn allow_origin_fn<F>(mut self, allows: F) -> Self
    where
        F: Fn(&str) -> bool + Send + Sync + 'static,
    {
        self.origins = OriginSpec::Predicate(Arc::new(allows));
        self
    }

    /// Allows every origin: responses carry `Access-Control-Allow-Origin: *`. Cannot be
    /// combined with credentials.
    pub fn allow_any_origin(mut self) -> Self {
        self.origins = OriginSpec::Any;
        self
    }

    /// Allows preflights to ask for these methods (`Method`s or names; case matters, as
    /// in HTTP: browsers upper-case only the standard ones). GET, HEAD and POST need no
    /// listing. `*` allows any method.
    pub fn allow_methods<I>(mut self, methods: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.methods = self.methods.extend(methods);
        self
    }

    /// Allows preflights to ask for any method: `Access-Control-Allow-Methods: *`. Cannot
    /// be combined with credentials.
    pub fn allow_any_method(mut self) -> Self {
        self.methods = ListSpec::Any;
        self
    }

    /// Allows requests to send these headers (`HeaderName`s or names, compared without
    /// regard to case). `*` allows any header.
    pub fn allow_headers<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.request_headers = self.request_headers.extend(names);
        self
    }

    /// Allows requests to send any header: `Access-Control-Allow-Headers: *`. Browsers
    /// never take `Authorization` as covered by `*`: list it, or mirror. Cannot be
    /// combined with credentials.
    pub fn allow_any_header(mut self) -> Self {
        self.request_headers = ListSpec::Any;
        self
    }

    /// Allows whatever headers a preflight asks for, by repeating its
    /// `Access-Control-Request-Headers`: any header, `Authorization` included, and with
    /// credentials too.
    pub fn mirror_request_headers(mut self) -> Self {
        self.request_headers = ListSpec::Mirror;
        self
    }

    /// Lets pages read these response headers, beyond the safelisted ones
    /// (`Cache-Control`, `Content-Language`, `Content-Length`, `Content-Type`, `Expires`,
    /// `Last-Modified`, `Pragma`). `*` exposes every header, except without credentials
    /// only.
    pub fn expose_headers<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.expose_headers = self.expose_headers.extend(names);
        self
    }

    /// Lets browsers cache a preflight answer this long (`Access-Control-Max-Age`, in whole
    /// seconds). Browsers cap it: Chromium at 2 hours, Firefox at 24.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Lets requests carry credentials (cookies, TLS client certificates, `Authorization`)
    /// and pages read the responses: `Access-Control-Allow-Credentials: true`. Requires
    /// listed origins (or a predicate), and no wildcard for methods and headers.
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.credentials = allow;
        self
    }

    /// Checks the configuration and builds the middleware.
    ///
    /// # Errors
    ///
    /// - [`CorsError::NoOrigins`] when no origin is allowed;
    /// - [`CorsError::InvalidOrigin`], [`CorsError::InvalidMethod`] or
    ///   [`CorsError::InvalidHeaderName`] for the first entry of a list that is not one;
    /// - [`CorsError::WildcardWithCredentials`] when credentials are allowed along with
    ///   any origin, any method, any request header or every exposed header.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::{Cors, plugin::CorsError};
    ///
    /// let error = Cors::builder().allow_origins(["https://app.example/"]).build().unwrap_err();
    /// assert_eq!(error, CorsError::InvalidOrigin { origin: "https://app.example/".into() });
    ///
    /// let error = Cors::builder()
    ///     .allow_origins(["https://app.example"])
    ///     .allow_credentials(true)
    ///     .allow_any_header()
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(error, CorsError::WildcardWithCredentials { setting: "request headers" });
    /// ```
    pub fn build(self) -> Result<Cors, CorsError> {
        let origins = match self.origins {
            OriginSpec::None => return Err(CorsError::NoOrigins),
            OriginSpec::Any => Origins::Any,
            OriginSpec::Predicate(allows) => Origins::Predicate(allows),
            OriginSpec::List(list) if list.iter().any(|o| o == WILDCARD) => Origins::Any,
            OriginSpec::List(list) if list.is_empty() => return Err(CorsError::NoOrigins),
            OriginSpec::List(list) => {
                if let Some(bad) = list.iter().find(|origin| !is_origin(origin)) {
                    return Err(CorsError::InvalidOrigin {
                        origin: bad.clone(),
                    });
                }
                Origins::List(list.iter().map(|o| o.to_ascii_lowercase()).collect())
            }
        };
        let methods = match &self.methods {
            spec if spec.is_wildcard() => Methods::Any,
            ListSpec::List(list) => {
                let methods = list
                    .iter()
                    .map(|name| {
                        Method::from_bytes(name.as_bytes()).map_err(|_| CorsError::InvalidMethod {
                            method: name.clone(),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let value = joined(&methods);
                Methods::List { methods, value }
            }
            ListSpec::Any | ListSpec::Mirror => Methods::Any,
        };
        let request_headers = match &self.request_headers {
            spec if spec.is_wildcard() => RequestHeaders::Any,
            ListSpec::Mirror => RequestHeaders::Mirror,
            ListSpec::List(list) => {
                let names = header_names(list)?;
                let value = joined(&names);
                RequestHeaders::List { names, value }
            }
            ListSpec::Any => RequestHeaders::Any,
        };
        let expose_headers = match &self.expose_headers {
            spec if spec.is_wildcard() => Some(HeaderValue::from_static(WILDCARD)),
            ListSpec::List(list) => joined(&header_names(list)?),
            ListSpec::Any | ListSpec::Mirror => Some(HeaderValue::from_static(WILDCARD)),
        };
        if self.credentials {
            let wildcard = [
                ("origin", matches!(origins, Origins::Any)),
                ("methods", matches!(methods, Methods::Any)),
                (
                    "request headers",
                    matches!(request_headers, RequestHeaders::Any),
                ),
                ("exposed headers", self.expose_headers.is_wildcard()),
            ];
            if let Some((setting, _)) = wildcard.into_iter().find(|(_, any)| *any) {
                return Err(CorsError::WildcardWithCredentials { setting });
            }
        }
        let max_age = self
            .max_age
            .map(|max_age| HeaderValue::from(max_age.as_secs()));
        Ok(Cors {
            policy: Arc::new(Policy {
                origins,
                credentials: self.credentials,
                methods,
                request_headers,
                expose_headers,
                max_age,
            }),
        })
    }
}

/// The header names of `list`, or the error naming the first that is not one.
fn header_names(list: &[String]) -> Result<Vec<HeaderName>, CorsError> {
    list.iter()
        .map(|name| {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| CorsError::InvalidHeaderName { name: name.clone() })
        })
        .collect()
}

/// Whether `text` is a serialized origin: `scheme "://" host [ ":" port ]` (RFC 6454 §6.2),
/// in ASCII. `null` is not accepted.
fn is_origin(text: &str) -> bool {
    let Some((scheme, authority)) = text.split_once("://") else {
        return false;
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    let authority_ok = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%[]:".contains(&b));
    if !scheme_ok || !authority_ok {
        return false;
    }
    // After an IPv6 literal's `]` (or in the whole authority), an optional `:port`.
    let (host, rest) = match authority.strip_prefix('[') {
        Some(literal) => match literal.split_once(']') {
            Some((address, rest)) => (address, rest),
            None => return false,
        },
        None => authority.split_at(authority.find(':').unwrap_or(authority.len())),
    };
    let port_ok = match rest.strip_prefix(':') {
        Some(port) => !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()),
        None => rest.is_empty(),
    };
    !host.is_empty() && !host.contains(['[', ']']) && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn listed() -> CorsBuilder {
        Cors::builder().allow_origins(["https://app.example"])
    }

    fn preflight(cors: &Cors, pairs: &[(&str, &str)]) -> Response {
        cors.policy.preflight(&headers(pairs))
    }

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap())
    }

    const APP: (&str, &str) = ("origin", "https://app.example");

    #[test]
    fn preflight_needs_options_origin_and_request_method() {
        let full = headers(&[APP, ("access-control-request-method", "PUT")]);
        assert!(is_preflight(&Method::OPTIONS, &full));
        assert!(!is_preflight(&Method::GET, &full));
        assert!(!is_preflight(&Method::POST, &full));
        let no_method = headers(&[APP]);
        assert!(!is_preflight(&Method::OPTIONS, &no_method));
        let no_origin = headers(&[("access-control-request-method", "PUT")]);
        assert!(!is_preflight(&Method::OPTIONS, &no_origin));
        assert!(!is_preflight(&Method::OPTIONS, &HeaderMap::new()));
    }

    #[test]
    fn origins_must_be_serialized_origins() {
        for good in [
            "https://app.example",
            "http://localhost:8080",
            "HTTPS://App.Example",
            "http://127.0.0.1:3000",
            "http://[::1]:8080",
            "http://[::1]",
            "chrome-extension://abcdef",
            "https://xn--bcher-kva.example",
        ] {
            assert!(is_origin(good), "{good:?}");
        }
        for bad in [
            "null",
            "app.example",
            "https://app.example/",
            "https://app.example/path",
            "https://",
            "https://app.example:",
            "https://app.example:80x",
            "https://user@app.example",
            "https://app.example?x",
            "https://bücher.example",
            "https://[::1",
            "https://a.example:1:2",
            "1https://app.example",
            "",
        ] {
            assert!(!is_origin(bad), "{bad:?}");
        }
    }

    #[test]
    fn builder_errors() {
        assert_eq!(Cors::builder().build().unwrap_err(), CorsError::NoOrigins);
        let empty: [&str; 0] = [];
        assert_eq!(
            Cors::builder().allow_origins(empty).build().unwrap_err(),
            CorsError::NoOrigins
        );
        assert_eq!(
            Cors::builder()
                .allow_origins(["https://a.example", "null"])
                .build()
                .unwrap_err(),
            CorsError::InvalidOrigin {
                origin: "null".into()
            }
        );
        assert_eq!(
            listed()
                .allow_methods(["PUT", "BAD METHOD"])
                .build()
                .unwrap_err(),
            CorsError::InvalidMethod {
                method: "BAD METHOD".into()
            }
        );
        assert_eq!(
            listed()
                .allow_headers(["x-ok", "x bad"])
                .build()
                .unwrap_err(),
            CorsError::InvalidHeaderName {
                name: "x bad".into()
            }
        );
        assert_eq!(
            listed().expose_headers(["x:no"]).build().unwrap_err(),
            CorsError::InvalidHeaderName {
                name: "x:no".into()
            }
        );
        assert_eq!(
            listed().allow_headers([""]).build().unwrap_err(),
            CorsError::InvalidHeaderName { name: "".into() }
        );
    }

    #[test]
    fn credentials_refuse_every_wildcard() {
        let cases = [
            (Cors::builder().allow_any_origin(), "origin"),
            (Cors::builder().allow_origins(["*"]), "origin"),
            (listed().allow_any_method(), "methods"),
            (listed().allow_methods(["GET", "*"]), "methods"),
            (listed().allow_any_header(), "request headers"),
            (listed().allow_headers(["*"]), "request headers"),
            (listed().expose_headers(["*"]), "exposed headers"),
        ];
        for (builder, setting) in cases {
            let wildcard_alone = builder.clone().build();
            assert!(wildcard_alone.is_ok(), "{setting} without credentials");
            assert_eq!(
                builder.allow_credentials(true).build().unwrap_err(),
                CorsError::WildcardWithCredentials { setting },
            );
        }
        let fine = listed()
            .allow_credentials(true)
            .mirror_request_headers()
            .allow_methods(["PUT"])
            .expose_headers(["x-total"])
            .build();
        assert!(fine.is_ok());
        let predicate = Cors::builder()
            .allow_origin_fn(|_| true)
            .allow_credentials(true)
            .build();
        assert!(predicate.is_ok());
    }

    #[test]
    fn the_last_setter_of_a_setting_decides() {
        let cors = listed()
            .allow_any_header()
            .allow_headers(["x-a"])
            .allow_headers(["x-b"])
            .build()
            .unwrap();
        assert!(matches!(
            &cors.policy.request_headers,
            RequestHeaders::List { names, .. } if names == &["x-a", "x-b"]
        ));
        let cors = listed()
            .allow_headers(["x-a"])
            .mirror_request_headers()
            .build()
            .unwrap();
        assert!(matches!(
            cors.policy.request_headers,
            RequestHeaders::Mirror
        ));
        let cors = Cors::builder()
            .allow_origin_fn(|_| false)
            .allow_origins(["https://app.example"])
            .build()
            .unwrap();
        assert!(matches!(cors.policy.origins, Origins::List(_)));
    }

    #[test]
    fn allowed_preflight_gets_every_allow_header() {
        let cors = listed()
            .allow_methods([Method::PUT, Method::DELETE])
            .allow_headers(["Content-Type", "x-token"])
            .max_age(Duration::from_secs(600))
            .allow_credentials(true)
            .build()
            .unwrap();
        let res = preflight(
            &cors,
            &[
                ("origin", "https://APP.example"),
                ("access-control-request-method", "DELETE"),
                ("access-control-request-headers", "x-token,content-type"),
            ],
        );
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            header(&res, "access-control-allow-origin"),
            Some("https://APP.example"),
            "the origin is echoed as sent"
        );
        assert_eq!(
            header(&res, "access-control-allow-credentials"),
            Some("true")
        );
        assert_eq!(
            header(&res, "access-control-allow-methods"),
            Some("PUT, DELETE")
        );
        assert_eq!(
            header(&res, "access-control-allow-headers"),
            Some("content-type, x-token")
        );
        assert_eq!(header(&res, "access-control-max-age"), Some("600"));
        assert_eq!(
            header(&res, "vary"),
            Some("origin, access-control-request-method, access-control-request-headers")
        );
    }

    #[test]
    fn safelisted_methods_need_no_listing() {
        let cors = listed().build().unwrap();
        for method in ["GET", "HEAD", "POST"] {
            let res = preflight(&cors, &[APP, ("access-control-request-method", method)]);
            assert!(
                header(&res, "access-control-allow-origin").is_some(),
                "{method}"
            );
            assert_eq!(header(&res, "access-control-allow-methods"), None);
        }
        let res = preflight(&cors, &[APP, ("access-control-request-method", "PUT")]);
        assert_eq!(header(&res, "access-control-allow-origin"), None);
    }

    #[test]
    fn disallowed_preflight_gets_no_allow_header() {
        let cors = listed()
            .allow_methods(["PUT"])
            .allow_headers(["x-token"])
            .build()
            .unwrap();
        let cases: [&[(&str, &str)]; 5] = [
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "PUT"),
            ],
            &[APP, ("access-control-request-method", "PATCH")],
            &[APP, ("access-control-request-method", "put")],
            &[
                APP,
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "x-token, x-other"),
            ],
            &[APP, ("access-control-request-method", "NOT A METHOD")],
        ];
        for case in cases {
            let res = preflight(&cors, case);
            assert_eq!(res.status(), StatusCode::NO_CONTENT, "{case:?}");
            let allow = res
                .headers()
                .keys()
                .filter(|name| name.as_str().starts_with("access-control-allow"))
                .count();
            assert_eq!(allow, 0, "{case:?}");
            assert!(header(&res, "vary").unwrap().contains("origin"), "{case:?}");
        }
    }

    #[test]
    fn mirrored_headers_are_echoed_normalized() {
        let cors = listed().mirror_request_headers().build().unwrap();
        let res = preflight(
            &cors,
            &[
                APP,
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "X-Token , authorization"),
                ("access-control-request-headers", "x-more"),
            ],
        );
        assert_eq!(
            header(&res, "access-control-allow-headers"),
            Some("x-token, authorization, x-more")
        );
        let res = preflight(&cors, &[APP, ("access-control-request-method", "GET")]);
        assert_eq!(header(&res, "access-control-allow-headers"), None);
        assert!(
            header(&res, "vary")
                .unwrap()
                .contains("access-control-request-headers")
        );
    }

    #[test]
    fn wildcards_are_sent_as_stars_and_do_not_vary() {
        let cors = Cors::builder()
            .allow_any_origin()
            .allow_any_method()
            .allow_any_header()
            .expose_headers(["*"])
            .build()
            .unwrap();
        let res = preflight(
            &cors,
            &[
                ("origin", "https://anyone.example"),
                ("access-control-request-method", "PURGE"),
                ("access-control-request-headers", "x-anything"),
            ],
        );
        assert_eq!(header(&res, "access-control-allow-origin"), Some("*"));
        assert_eq!(header(&res, "access-control-allow-methods"), Some("*"));
        assert_eq!(header(&res, "access-control-allow-headers"), Some("*"));
        assert_eq!(header(&res, "vary"), None);

        let mut out = HeaderMap::new();
        cors.policy.decorate(None, &mut out);
        assert_eq!(
            out["access-control-allow-origin"], "*",
            "with or without Origin"
        );
        assert_eq!(out["access-control-expose-headers"], "*");
        assert!(out.get("vary").is_none());
    }

    #[test]
    fn actual_responses_get_origin_credentials_expose_and_vary() {
        let cors = listed()
            .allow_credentials(true)
            .expose_headers(["X-Total", "etag"])
            .build()
            .unwrap();
        let origin = HeaderValue::from_static("https://app.example");
        let mut out = headers(&[("vary", "accept-encoding")]);
        cors.policy.decorate(Some(&origin), &mut out);
        assert_eq!(out["access-control-allow-origin"], "https://app.example");
        assert_eq!(out["access-control-allow-credentials"], "true");
        assert_eq!(out["access-control-expose-headers"], "x-total, etag");
        let vary: Vec<_> = out.get_all("vary").iter().collect();
        assert_eq!(vary, ["accept-encoding", "origin"]);

        for other in [Some(HeaderValue::from_static("https://evil.example")), None] {
            let mut out = HeaderMap::new();
            cors.policy.decorate(other.as_ref(), &mut out);
            assert_eq!(out.len(), 1, "{other:?}: {out:?}");
            assert_eq!(out["vary"], "origin");
        }
    }

    #[test]
    fn predicate_sees_the_origin() {
        let cors = Cors::builder()
            .allow_origin_fn(|origin| origin.ends_with(".trusted.example"))
            .build()
            .unwrap();
        let allowed = HeaderValue::from_static("https://a.trusted.example");
        let mut out = HeaderMap::new();
        cors.policy.decorate(Some(&allowed), &mut out);
        assert_eq!(
            out["access-control-allow-origin"],
            "https://a.trusted.example"
        );
        let refused = HeaderValue::from_static("https://trusted.example.evil");
        let mut out = HeaderMap::new();
        cors.policy.decorate(Some(&refused), &mut out);
        assert!(out.get("access-control-allow-origin").is_none());
    }

    #[test]
    fn preflights_skip_the_route_and_other_options_reach_the_router() {
        let router = Router::new()
            .get("/items", |_: &Request| -> &'static str {
                panic!("a preflight must not reach the route")
            })
            .plugin(listed().allow_methods(["PUT"]).build().unwrap());
        let res = router.handle(
            http::Request::options("/items")
                .header("origin", "https://app.example")
                .header("access-control-request-method", "PUT")
                .body(())
                .unwrap(),
        );
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_eq!(header(&res, "access-control-allow-methods"), Some("PUT"));
        assert_eq!(header(&res, "allow"), None);

        let res = router.handle(
            http::Request::options("/items")
                .header("origin", "https://app.example")
                .body(())
                .unwrap(),
        );
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_eq!(header(&res, "allow"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(
            header(&res, "access-control-allow-origin"),
            Some("https://app.example")
        );
    }
}

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
    /// The listener could not be bound to the address.
    #[error("failed to bind {addr}")]
    Bind {
        /// The address, as given.
        addr: String,
        /// What the operating system reported.
        #[source]
        source: io::Error,
    },
    /// A server setting is out of its range.
    #[error("invalid server configuration: {0}")]
    Config(&'static str),
    /// A route runs on a worker pool that was not declared with
    /// [`ServerBuilder::worker_pool`](crate::ServerBuilder::worker_pool).
    #[error("routes use worker pool {name:?}, which the server does not declare")]
    UnknownPool {
        /// The pool's name.
        name: String,
    },
    /// A route could not be registered.
    #[error("route registration failed")]
    Route(#[from] RouteError),
    /// A CORS configuration was refused.
    #[error("invalid cors configuration")]
    Cors(#[from] CorsError),
    /// A TLS certificate, key or configuration was refused (feature `tls`).
    #[cfg(feature = "tls")]
    #[error("tls configuration failed")]
    Tls(#[from] TlsError),
    /// The server thread panicked (a bug in switchyard: handlers run under `catch_unwind`).
    #[error("server thread panicked")]
    ServerPanicked,
}

/// Why a request was rejected before it reached a handler.
///
/// The connection engine answers each with [`ParseError::status`] and closes the connection
/// afterwards: after a framing error the next request's start cannot be known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ParseError {
    /// The request line or a header line is not valid HTTP/1.1 syntax.
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// The HTTP version is not 1.0 or 1.1.
    #[error("unsupported http version")]
    Version,
    /// The request target is longer than the limit.
    #[error("request target exceeds {limit} bytes")]
    UriTooLong {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The request line and headers are longer than the limit.
    #[error("request head exceeds {limit} bytes")]
    HeadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The request has more header fields than the limit.
    #[error("request has more than {limit} header fields")]
    TooManyHeaders {
        /// The limit, in fields.
        limit: usize,
    },
    /// An HTTP/1.1 request has no `Host` header, or any request has several, or one whose
    /// value is not `uri-host [ ":" port ]` (RFC 9110 §7.2).
    #[error("request must carry exactly one valid host header")]
    Host,
    /// `Content-Length` is not a plain decimal number, or its copies disagree.
    #[error("invalid content-length")]
    ContentLength,
    /// `Transfer-Encoding` is not a valid list ending in `chunked`, or is combined with
    /// `Content-Length` (a request smuggling vector), or appears in an HTTP/1.0 request.
    #[error("invalid transfer-encoding")]
    TransferEncoding,
    /// `Transfer-Encoding` names a coding other than `chunked`.
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    /// The chunked body framing is invalid.
    #[error("invalid chunked body: {0}")]
    Chunked(&'static str),
    /// The body is longer than the limit.
    #[error("request body exceeds {limit} bytes")]
    BodyTooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The request has an `Expect` header other than `100-continue`.
    #[error("unsupported expectation")]
    ExpectationFailed,
    /// The request's method is one the server never implements: `CONNECT` (no tunnels).
    #[error("method not implemented")]
    MethodNotImplemented,
    /// The server holds as much of parked request bodies as it may
    /// ([`Limits::max_parked_body_bytes`](crate::Limits::max_parked_body_bytes)).
    #[error("too many request bodies in progress")]
    Overloaded,
    /// The client was too slow to send the request head or body.
    #[error("request timed out")]
    Timeout,
    /// The request body could not be spooled to a file (a missing spool directory, a full
    /// disk): the server's fault, not the client's.
    #[error("the request body could not be stored")]
    Storage,
    /// The connection ended in the middle of a request.
    #[error("connection closed before the request was complete")]
    Incomplete,
}

impl ParseError {
    /// The status the server answers with.
    pub(crate) fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::Malformed(_)
            | Self::Host
            | Self::ContentLength
            | Self::TransferEncoding
            | Self::Chunked(_)
            | Self::Incomplete => StatusCode::BAD_REQUEST,
            Self::Version => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            Self::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            Self::HeadTooLarge { .. } | Self::TooManyHeaders { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            Self::UnsupportedTransferCoding | Self::MethodNotImplemented => {
                StatusCode::NOT_IMPLEMENTED
            }
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ExpectationFailed => StatusCode::EXPECTATION_FAILED,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::Storage => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
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

/// A request a handler refuses, with the status and a message for the client, and a
/// [`RejectionKind`] to match on: a path parameter that does not parse (400), a query or form
/// that does not decode (400), JSON that is not JSON (400) or not of the expected shape (422),
/// a wrong content type (415). It is an [`IntoResponse`](crate::IntoResponse), so handlers
/// return it with `?`; [`Router::map_rejection`](crate::Router::map_rejection) renders every
/// rejection of a router in one place (as JSON, say).
///
/// # Examples
///
/// ```
/// use http::StatusCode;
/// use switchyard::{Rejection, RejectionKind, Request, Router};
///
/// let router = Router::new().get("/users/{id}", |req: &Request| -> Result<String, Rejection> {
///     let id: u32 = req.param_as("id")?;
///     if id == 0 {
///         return Err(Rejection::new(StatusCode::NOT_FOUND, "no user 0"));
///     }
///     Ok(format!("user {id}"))
/// });
/// let res = router.handle(http::Request::get("/users/x").body(())?);
/// assert_eq!(res.status(), 400);
/// let rejection = res.extensions().get::<Rejection>().unwrap();
/// assert_eq!(rejection.kind(), RejectionKind::InvalidParam);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    kind: RejectionKind,
    status: http::StatusCode,
    message: String,
    /// Named details for a renderer (`field` → `email`), in the order added.
    details: Vec<(String, String)>,
}

/// What a [`Rejection`] is about, for code that renders rejections ([`Rejection::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// The handler asked for a path parameter its route does not capture: a bug in the
    /// application (500).
    MissingParam,
    /// A path parameter does not parse as the type asked for (400).
    InvalidParam,
    /// The query string does not decode into the type asked for (400).
    InvalidQuery,
    /// The body is not syntactically valid JSON (400).
    JsonSyntax,
    /// The body is valid JSON of the wrong shape: a missing field, a wrong type (422).
    JsonData,
    /// The body is not a valid `application/x-www-form-urlencoded` form of the type asked
    /// for (400).
    InvalidForm,
    /// The body's `Content-Type` is not the one the handler reads (415).
    UnsupportedMediaType,
    /// The body is not valid `multipart/form-data` (400): a boundary missing or broken, a
    /// part without its headers, the body cut short (feature `multipart`).
    InvalidMultipart,
    /// The body is larger than accepted (413): over the route's limit
    /// ([`Limits::max_body_bytes`](crate::Limits::max_body_bytes), or its
    /// [`stream_bodies`](crate::Router::stream_bodies) limit), refused by the server before
    /// the body is read; or over a smaller limit of a handler's own.
    BodyTooLarge,
    /// The body did not arrive within the body-read timeout (408); refused by the server.
    BodyTimeout,
    /// The body's framing is invalid (a malformed chunk), so the request cannot be read
    /// (400); refused by the server.
    InvalidBody,
    /// The request asked for an expectation other than `100-continue` (417); refused by the
    /// server.
    UnsupportedExpectation,
    /// The server holds as much of parked request bodies as it may
    /// ([`Limits::max_parked_body_bytes`](crate::Limits::max_parked_body_bytes)) and cannot
    /// wait for this one (503); refused by the server.
    Overloaded,
    /// The handler asked for typed state the router does not carry: a bug in the
    /// application (500).
    MissingState,
    /// Made by the application with [`Rejection::new`].
    Custom,
}

impl RejectionKind {
    /// The status a rejection of this kind answers with ([`Custom`](Self::Custom): 400).
    pub fn status(self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::MissingParam | Self::MissingState => StatusCode::INTERNAL_SERVER_ERROR,
            Self::InvalidParam
            | Self::InvalidQuery
            | Self::JsonSyntax
            | Self::InvalidForm
            | Self::InvalidMultipart
            | Self::InvalidBody
            | Self::Custom => StatusCode::BAD_REQUEST,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedExpectation => StatusCode::EXPECTATION_FAILED,
            Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::JsonData => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

impl Rejection {
    /// A rejection with `status` and `message` (sent as the body), of kind
    /// [`RejectionKind::Custom`].
    pub fn new(status: http::StatusCode, message: impl Into<String>) -> Self {
        Self {
            kind: RejectionKind::Custom,
            status,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// A rejection of `kind`, with the kind's status ([`RejectionKind::status`]).
    pub fn of(kind: RejectionKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: kind.status(),
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// Adds a named detail, for a [`map_rejection`](crate::Router::map_rejection) renderer
    /// to show: the field a validation error is about, a limit, a code. Details are text,
    /// so that any format renders them (a JSON object, form error messages); the default
    /// plain-text answer leaves them out.
    ///
    /// # Examples
    ///
    /// ```
    /// use http::StatusCode;
    /// use switchyard::{Rejection, Request, Response, Router};
    ///
    /// let router = Router::new()
    ///     .post("/signup", |_: &Request| -> Result<&'static str, Rejection> {
    ///         Err(Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid email")
    ///             .with_detail("field", "email"))
    ///     })
    ///     .map_rejection(|rejection: &Rejection, _: &Request| {
    ///         let details: Vec<String> = rejection
    ///             .details()
    ///             .iter()
    ///             .map(|(name, value)| format!("{name:?}:{value:?}"))
    ///             .collect();
    ///         let body = format!(r#"{{"error":{:?},{}}}"#, rejection.message(), details.join(","));
    ///         Response::with_content_type(body.into(), "application/json")
    ///             .with_status(rejection.status())
    ///     });
    /// let res = router.handle(http::Request::post("/signup").body(())?);
    /// assert_eq!(res.status(), 422);
    /// assert_eq!(res.into_body_bytes()?, br#"{"error":"invalid email","field":"email"}"#);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_detail(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.details.push((name.into(), value.into()));
        self
    }

    /// The named details, in the order added ([`with_detail`](Self::with_detail)).
    pub fn details(&self) -> &[(String, String)] {
        &self.details
    }

    /// How the server answers a request it refuses once routed: as a rejection that goes
    /// through the route's middleware and `map_rejection` like a handler's.
    pub(crate) fn of_refusal(error: &ParseError) -> Self {
        let kind = match error {
            ParseError::BodyTooLarge { .. } => RejectionKind::BodyTooLarge,
            ParseError::Timeout => RejectionKind::BodyTimeout,
            ParseError::ExpectationFailed => RejectionKind::UnsupportedExpectation,
            ParseError::Overloaded => RejectionKind::Overloaded,
            error if error.status() == http::StatusCode::BAD_REQUEST => RejectionKind::InvalidBody,
            error => {
                return Self::new(error.status(), error.to_string());
            }
        };
        Self::of(kind, error.to_string())
    }

    /// What the rejection is about.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// The status it answers with.
    pub fn status(&self) -> http::StatusCode {
        self.status
    }

    /// The message sent to the client.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Registering a route failed: the pattern is invalid, or it collides with a route already
/// registered. Both routes are named, with the plugins that registered them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// Two registrations claim the same requests.
    #[error("route {route} conflicts with {existing}")]
    Conflict {
        /// The route being registered, as `METHOD /pattern` plus its plugin, if any.
        route: String,
        /// The route already registered, described the same way.
        existing: String,
        /// The plugin registering the new route, if any.
        plugin: Option<String>,
        /// The plugin that registered the existing route, if any.
        existing_plugin: Option<String>,
    },
    /// The pattern is not valid route syntax.
    #[error("invalid route pattern {pattern:?}")]
    Invalid {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it (the router's own error; its type can not be depended on).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A header name or value that is not valid HTTP, from
/// [`Response::try_with_header`](crate::Response::try_with_header) (and the message of the
/// panics of [`Response::with_header`](crate::Response::with_header)).
///
/// The source is the conversion's own error; its type can not be depended on.
///
/// # Examples
///
/// ```
/// use switchyard::{InvalidHeader, Response};
///
/// let error = Response::text("hi").try_with_header("x-trace", "a\r\nb").unwrap_err();
/// assert!(matches!(error, InvalidHeader::Value { .. }));
/// assert_eq!(error.to_string(), r#"invalid value for header "x-trace""#);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidHeader {
    /// The name is not a token (RFC 9110 §5.1, §5.6.2).
    #[error("invalid header name")]
    Name {
        /// Why the name was refused.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The value has a control character other than tab (RFC 9110 §5.5).
    #[error("invalid value for header {name:?}")]
    Value {
        /// The header's name.
        name: http::HeaderName,
        /// Why the value was refused.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A cookie name or value that may not appear in a `Set-Cookie` header (RFC 6265 §4.1.1),
/// from [`SetCookie::try_new`](crate::SetCookie::try_new).
///
/// # Examples
///
/// ```
/// use switchyard::{InvalidCookie, SetCookie};
///
/// let error = SetCookie::try_new("theme", "dark blue").unwrap_err();
/// assert_eq!(error, InvalidCookie::Value { name: "theme".into(), found: ' ' });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidCookie {
    /// The name is empty or has a character outside `token` (RFC 9110 §5.6.2): a space, a
    /// control character, or one of `()<>@,;:\"/[]?={}`.
    #[error("cookie name {name:?} is not a token")]
    Name {
        /// The name, as given.
        name: String,
    },
    /// The value has a character outside `cookie-octet`: a space, a control character,
    /// `"` (other than a pair around the whole value), `,`, `;`, `\` or a non-ASCII
    /// character.
    #[error("value of cookie {name:?} contains {found:?}, which is not a cookie-octet")]
    Value {
        /// The cookie's name.
        name: String,
        /// The first character that is not allowed (the value itself is not repeated
        /// here: it may be a secret).
        found: char,
    },
}

/// A CORS configuration that [`CorsBuilder::build`](crate::plugin::CorsBuilder::build) refuses,
/// rather than panicking or sending headers that browsers reject.
///
/// # Examples
///
/// ```
/// use switchyard::{Cors, plugin::CorsError};
///
/// let error = Cors::builder().allow_any_origin().allow_credentials(true).build().unwrap_err();
/// assert_eq!(error, CorsError::WildcardWithCredentials { setting: "origin" });
/// assert_eq!(error.to_string(), "cors credentials cannot be combined with a wildcard origin");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorsError {
    /// Credentials are allowed together with `*` for a setting. On a request with
    /// credentials, the Fetch standard takes `*` literally (as a method or header named `*`)
    /// or refuses the response (for the origin), so the combination never works.
    #[error("cors credentials cannot be combined with a wildcard {setting}")]
    WildcardWithCredentials {
        /// Which setting: `"origin"`, `"methods"`, `"request headers"` or
        /// `"exposed headers"`.
        setting: &'static str,
    },
    /// No origin is allowed: the policy would refuse every cross-origin request.
    #[error("cors allows no origin")]
    NoOrigins,
    /// An allowed origin is not `scheme://host[:port]` as browsers send it in `Origin`
    /// (no path, no trailing slash), or is `null`.
    #[error("invalid cors origin {origin:?}")]
    InvalidOrigin {
        /// The origin, as given.
        origin: String,
    },
    /// An allowed method is not a token (RFC 9110 §9.1).
    #[error("invalid cors method {method:?}")]
    InvalidMethod {
        /// The method, as given.
        method: String,
    },
    /// An allowed or exposed header name is not a token (RFC 9110 §5.1).
    #[error("invalid cors header name {name:?}")]
    InvalidHeaderName {
        /// The name, as given.
        name: String,
    },
}

/// Loading or checking a TLS certificate and key failed (feature `tls`). A failed
/// [`TlsConfig::reload_pem_files`](crate::tls::TlsConfig::reload_pem_files) keeps the
/// configuration in use.
#[cfg(feature = "tls")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate chain file could not be read or parsed as PEM.
    #[error("cannot read the certificate chain from {path}")]
    Certificates {
        /// The file, as given.
        path: std::path::PathBuf,
        /// What the PEM parser reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The certificate chain file holds no certificate.
    #[error("no certificate in {path}")]
    NoCertificate {
        /// The file, as given.
        path: std::path::PathBuf,
    },
    /// The private key file could not be read, or holds no PKCS#8, PKCS#1 or SEC1 key.
    #[error("cannot read a private key from {path}")]
    PrivateKey {
        /// The file, as given.
        path: std::path::PathBuf,
        /// What the PEM parser reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The private key does not belong to the first certificate of the chain.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    /// rustls refused the certificate, the key or the configuration.
    #[error("rustls refused the configuration")]
    Rustls(#[source] Box<dyn std::error::Error + Send + Sync>),
}

//! The request a handler sees: the parsed head, the body (read in full within the limit), the
//! path parameters the router captured, and the router's typed state.

use std::fmt;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use http::{Extensions, HeaderMap, Method, Uri, Version, request::Parts};

use crate::body::RequestBody;
use crate::cancel::Cancellation;
use crate::error::{Rejection, RejectionKind};
use crate::head::{RawHead, TargetRef};
use crate::params::{PathParams, StateMap};
use crate::spool::BodyFile;

/// An HTTP request as handlers see it.
///
/// The head is the `http` crate's [`Parts`]. The body has been read completely (up to the
/// server's body limit) before the handler runs, so a handler never blocks on a slow client;
/// [`body_reader`](Self::body_reader) offers it as an `io::Read`.
///
/// # Examples
///
/// ```
/// use switchyard::Request;
///
/// let req = Request::from(
///     http::Request::post("/echo?name=J%C3%BCrgen&tag=a&tag=b").body(b"hi".to_vec())?,
/// );
/// assert_eq!(req.method(), http::Method::POST);
/// assert_eq!(req.path(), "/echo");
/// assert_eq!(req.query("name").as_deref(), Some("Jürgen"));
/// assert_eq!(req.query_pairs().len(), 3);
/// assert_eq!(req.body(), b"hi");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Request {
    /// Method, target, version, extensions; and the headers, unless `raw_head` has them,
    /// and the target, unless `raw_head` keeps it as bytes (`head.uri` is `/` then).
    head: Parts,
    /// The header fields of a request the server read, parsed into `parsed_headers` the
    /// first time something asks for them (most handlers never do); its target too, when
    /// it keeps that as bytes, parsed into `parsed_uri` the same way.
    raw_head: Option<RawHead>,
    parsed_headers: OnceLock<HeaderMap>,
    parsed_uri: OnceLock<Box<Uri>>,
    /// What [`head`](Self::head) returns for a request with `raw_head`, built on demand.
    whole_head: OnceLock<Box<Parts>>,
    /// The body, unless `body_source` has it.
    body: Vec<u8>,
    body_source: Option<BodySource>,
    remote_addr: Option<SocketAddr>,
    params: PathParams,
    route: Option<Arc<str>>,
    /// The matched route's scoped state, then the router's own.
    states: [Option<Arc<StateMap>>; 2],
    server_draining: bool,
    /// Whether the request is still wanted (see [`cancelled`](Self::cancelled)).
    cancellation: Cancellation,
}

impl Request {
    pub(crate) fn from_parts(head: Parts, body: Vec<u8>, remote_addr: Option<SocketAddr>) -> Self {
        Self {
            head,
            raw_head: None,
            parsed_headers: OnceLock::new(),
            parsed_uri: OnceLock::new(),
            whole_head: OnceLock::new(),
            body,
            body_source: None,
            remote_addr,
            params: PathParams::default(),
            route: None,
            states: [None, None],
            server_draining: false,
            cancellation: Cancellation::never(),
        }
    }

    /// Takes the headers (for recycling, once the request is served).
    pub(crate) fn take_headers(&mut self) -> HeaderMap {
        match self.parsed_headers.take() {
            Some(headers) => headers,
            None => std::mem::take(&mut self.head.headers),
        }
    }

    /// Moves the headers and the target into `head`, parsing them if nothing has yet.
    fn settle_headers(&mut self) {
        if let Some(raw) = self.raw_head.take() {
            self.head.headers = self.parsed_headers.take().unwrap_or_else(|| raw.to_map());
            if let Some(uri) = self
                .parsed_uri
                .take()
                .map(|uri| *uri)
                .or_else(|| raw.target_uri())
            {
                self.head.uri = uri;
            }
            self.whole_head.take();
        }
    }

    /// The target, wherever it is kept.
    pub(crate) fn target(&self) -> TargetRef<'_> {
        TargetRef::new(&self.head.uri, self.raw_head.as_ref())
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.head.method
    }

    /// The request target, as sent (origin-form `/path?query`, or absolute-form).
    pub fn uri(&self) -> &Uri {
        let kept = self.raw_head.as_ref().and_then(|raw| {
            let parsed = || Box::new(raw.target_uri().unwrap_or_default());
            raw.keeps_target()
                .then(|| &**self.parsed_uri.get_or_init(parsed))
        });
        kept.unwrap_or(&self.head.uri)
    }

    /// The path of the target, still percent-encoded.
    pub fn path(&self) -> &str {
        self.target().path()
    }

    /// The query string after `?`, if any, still percent-encoded.
    pub fn query_string(&self) -> Option<&str> {
        self.target().query()
    }

    /// The first value of query parameter `name`, decoded (`+` is a space, as in HTML forms).
    pub fn query(&self, name: &str) -> Option<String> {
        let query = self.query_string()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// Every query parameter, decoded, in order (repeated names included).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query_string()
            .map(|query| {
                form_urlencoded::parse(query.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The HTTP version of the request.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        match &self.raw_head {
            None => &self.head.headers,
            Some(raw) => self.parsed_headers.get_or_init(|| raw.to_map()),
        }
    }

    /// The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1).
    ///
    /// The scheme is matched case-insensitively (RFC 9110 §11.1). `None` when the header is
    /// absent, names another scheme (`Basic`), carries an empty token or one that is not a
    /// `b64token` (letters, digits, `-._~+/`, then any `=`), or is sent more than once:
    /// ambiguous credentials are no credentials. Answer 401 with a `WWW-Authenticate: Bearer`
    /// header then.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::Request;
    ///
    /// let req = Request::from(
    ///     http::Request::get("/").header("authorization", "bearer mF_9.B5f-4.1JqM").body(())?,
    /// );
    /// assert_eq!(req.bearer_token(), Some("mF_9.B5f-4.1JqM"));
    ///
    /// let basic = Request::from(
    ///     http::Request::get("/").header("authorization", "Basic YWxhZGRpbjpvcGVu").body(())?,
    /// );
    /// assert_eq!(basic.bearer_token(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bearer_token(&self) -> Option<&str> {
        let mut values = self.headers().get_all(http::header::AUTHORIZATION).iter();
        let value = values.next()?;
        if values.next().is_some() {
            return None;
        }
        // credentials = "Bearer" 1*SP b64token
        let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let token = token.trim_matches(' ');
        // b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
        let head = token.trim_end_matches('=');
        let is_b64token = !head.is_empty()
            && head
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
        is_b64token.then_some(token)
    }

    /// The `Last-Event-ID` header: the id of the last event an
    /// [`EventStream`](crate::live::EventStream) client received before it reconnected.
    ///
    /// ```
    /// use switchyard::Request;
    ///
    /// let req = Request::from(http::Request::get("/events").header("last-event-id", "41").body(())?);
    /// assert_eq!(req.last_event_id(), Some("41"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn last_event_id(&self) -> Option<&str> {
        self.headers()
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
    }

    /// Typed values attached to the request by middleware.
    pub fn extensions(&self) -> &Extensions {
        &self.head.extensions
    }

    /// Mutable access to the extensions, for middleware.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        // A copy `head` made has the extensions as they were.
        self.whole_head.take();
        &mut self.head.extensions
    }

    /// The request body, read in full before the handler ran. Empty on routes that stream
    /// their bodies ([`Router::stream_bodies`](crate::Router::stream_bodies)): read those
    /// with [`body_reader`](Self::body_reader).
    ///
    /// A body the server spooled to a file ([`body_file`](Self::body_file)) is read into
    /// memory by the first call (empty if the file cannot be read): for large uploads,
    /// read with [`body_reader`](Self::body_reader) or keep the file instead.
    pub fn body(&self) -> &[u8] {
        match &self.body_source {
            Some(BodySource::File(file)) => file.contents(),
            _ => &self.body,
        }
    }

    /// The request body as a reader, whichever way it came: from memory, from its spool
    /// file ([`body_file`](Self::body_file)), or, on routes that stream their bodies, from
    /// the connection as the body arrives (blocking, bounded by the body timeout and the
    /// route's limit).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{self, Read};
    /// use switchyard::{Request, Router};
    ///
    /// let router = Router::new()
    ///     .post("/count", |req: &Request| {
    ///         let mut reader = req.body_reader();
    ///         let mut buf = [0u8; 4096];
    ///         let mut total = 0;
    ///         loop {
    ///             match reader.read(&mut buf) {
    ///                 Ok(0) => break,
    ///                 Ok(n) => total += n,
    ///                 Err(e) => return format!("body error: {e}"),
    ///             }
    ///         }
    ///         format!("{total} bytes")
    ///     })
    ///     .stream_bodies(1 << 30) // up to 1 GiB, never held in memory
    ///     // The handler blocks on the client's upload: its own pool, not the main one.
    ///     .on_pool("uploads");
    /// let res = router.handle(http::Request::post("/count").body("hello")?);
    /// assert_eq!(res.into_body_bytes()?, b"5 bytes");
    /// // Served with `Server::builder().worker_pool("uploads", 4).app(router)`.
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn body_reader(&self) -> BodyReader<'_> {
        BodyReader {
            request: self,
            position: 0,
        }
    }

    /// Whether the body is streamed (see [`body_reader`](Self::body_reader)).
    pub fn is_body_streamed(&self) -> bool {
        matches!(self.body_source, Some(BodySource::Stream(_)))
    }

    /// The body's file, when the server spooled it to disk as it arrived: a body longer
    /// than [`Limits::spool_threshold`](crate::Limits::spool_threshold) (1 MiB by
    /// default), on a route that takes such bodies
    /// ([`Router::max_body_bytes`](crate::Router::max_body_bytes)). `None` for a body in
    /// memory. Keep the upload without copying it with [`BodyFile::persist`]; the file is
    /// removed when the request ends.
    pub fn body_file(&self) -> Option<&BodyFile> {
        match &self.body_source {
            Some(BodySource::File(file)) => Some(file),
            _ => None,
        }
    }

    /// A request the engine read: `head` without its headers, which are in `raw_head`.
    #[inline]
    pub(crate) fn from_body(
        head: Parts,
        raw_head: RawHead,
        body: RequestBody,
        remote_addr: Option<SocketAddr>,
        cancellation: Cancellation,
    ) -> Self {
        let (body, body_source) = match body {
            RequestBody::Full(bytes) => (bytes, None),
            RequestBody::File(file) => (Vec::new(), Some(BodySource::File(Box::new(file)))),
            RequestBody::Stream(stream) => (Vec::new(), Some(BodySource::Stream(stream))),
        };
        // Built in place, in one piece: a request is large, and moves cost copies.
        Self {
            head,
            raw_head: Some(raw_head),
            parsed_headers: OnceLock::new(),
            parsed_uri: OnceLock::new(),
            whole_head: OnceLock::new(),
            body,
            body_source,
            remote_addr,
            params: PathParams::default(),
            route: None,
            states: [None, None],
            server_draining: false,
            cancellation,
        }
    }

    /// The client's address, when the request came over a socket.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// The TLS connection's parameters (SNI server name, ALPN protocol), when the request
    /// came over TLS (feature `tls`; see [`ServerBuilder::tls`](crate::ServerBuilder::tls)).
    /// Kept in the request's [extensions](Self::extensions).
    #[cfg(feature = "tls")]
    pub fn tls(&self) -> Option<&crate::tls::TlsInfo> {
        self.head.extensions.get()
    }

    /// The path parameter `name` captured by the route, percent-decoded.
    ///
    /// Decoded means a `{*path}` capture of `/files/..%2F..%2Fetc%2Fpasswd` is
    /// `../../etc/passwd`: never join a capture onto a filesystem path by hand; serve files
    /// with [`StaticFiles`](crate::StaticFiles) or check every component yourself.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name)
    }

    /// The path parameter `name`, parsed; a missing or unparsable value is a 400
    /// [`Rejection`] the handler can return with `?`.
    ///
    /// # Errors
    ///
    /// A 400 [`Rejection`] ([`RejectionKind::InvalidParam`]) naming the parameter when its
    /// value does not parse; a 500 one ([`RejectionKind::MissingParam`]) when the route
    /// captures no such parameter (a bug in the application).
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::{Rejection, Request, Router};
    ///
    /// let router = Router::new().get("/users/{id}", |req: &Request| -> Result<String, Rejection> {
    ///     let id: u64 = req.param_as("id")?;
    ///     Ok(format!("user {id}"))
    /// });
    /// let ok = router.handle(http::Request::get("/users/7").body(())?);
    /// assert_eq!(ok.status(), 200);
    /// let bad = router.handle(http::Request::get("/users/seven").body(())?);
    /// assert_eq!(bad.status(), 400);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn param_as<T: FromStr>(&self, name: &str) -> Result<T, Rejection> {
        let raw = self.param(name).ok_or_else(|| {
            Rejection::of(
                RejectionKind::MissingParam,
                format!("the route captures no path parameter {name:?}"),
            )
        })?;
        raw.parse().map_err(|_| {
            Rejection::of(
                RejectionKind::InvalidParam,
                format!("path parameter {name:?} has an invalid value {raw:?}"),
            )
        })
    }

    /// Every path parameter.
    pub fn params(&self) -> &PathParams {
        &self.params
    }

    /// The pattern of the route that matched (`/users/{id}`), if any.
    pub fn route(&self) -> Option<&str> {
        self.route.as_deref()
    }

    /// The state of type `T` attached to the router (or, first, to the nested router or
    /// plugin the route belongs to) with [`Router::state`](crate::Router::state).
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.states
            .iter()
            .flatten()
            .find_map(|states| states.get::<T>())
    }

    /// The router's state of type `T`, or a 500 [`Rejection`]
    /// ([`RejectionKind::MissingState`]) naming the type: for handlers that return
    /// `Result`, so a forgotten `.state(...)` is one `?` and not an `expect` per handler.
    ///
    /// # Errors
    ///
    /// When no router on the request's way carries a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::{Rejection, Request, Router};
    ///
    /// struct Greeting(&'static str);
    /// let hello = |req: &Request| -> Result<String, Rejection> {
    ///     Ok(format!("{} world", req.require_state::<Greeting>()?.0))
    /// };
    /// let with = Router::new().state(Greeting("hello")).get("/", hello);
    /// assert_eq!(with.handle(http::Request::get("/").body(())?).status(), 200);
    /// let without = Router::new().get("/", hello);
    /// assert_eq!(without.handle(http::Request::get("/").body(())?).status(), 500);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn require_state<T: Send + Sync + 'static>(&self) -> Result<&T, Rejection> {
        self.state::<T>().ok_or_else(|| {
            Rejection::of(
                RejectionKind::MissingState,
                format!("no state of type {}", std::any::type_name::<T>()),
            )
        })
    }

    /// Whether the server is shutting down: asked to stop, and either still serving during
    /// its [`shutdown_delay`](crate::ServerBuilder::shutdown_delay) or finishing the
    /// requests in flight. The [`Health`](crate::Health) plugin answers 503 then.
    pub fn is_server_draining(&self) -> bool {
        self.server_draining
    }

    /// The media type of the body, from `Content-Type`, without parameters
    /// (`"application/json"` for `application/json; charset=utf-8`); `""` when absent.
    #[cfg(any(feature = "json", feature = "form"))]
    pub(crate) fn media_type(&self) -> &str {
        let content_type = self
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        content_type.split(';').next().unwrap_or("").trim()
    }

    pub(crate) fn set_server_draining(&mut self, draining: bool) {
        self.server_draining = draining;
    }

    /// Whether nobody waits for this request's answer any more: its handler ran past its
    /// deadline ([`Limits::handler_timeout`](crate::Limits::handler_timeout),
    /// [`Router::handler_timeout`](crate::Router::handler_timeout)), or its client closed
    /// the connection. A blocking handler checks it between steps of long work and stops
    /// early; what it returns then is dropped (after a deadline) or unread (the client
    /// left). One atomic load. Always `false` for requests served outside a server.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchyard::{Request, Response};
    ///
    /// fn slow(req: &Request) -> Response {
    ///     for _ in 0..50 {
    ///         if req.cancelled() {
    ///             return Response::text("stopped early");
    ///         }
    ///         std::thread::sleep(Duration::from_millis(10));
    ///     }
    ///     Response::text("done")
    /// }
    /// # let _ = slow;
    /// ```
    pub fn cancelled(&self) -> bool {
        self.cancellation.is_cancelled()
    }

    /// The request's [`Cancellation`]: the same answer as [`cancelled`](Self::cancelled),
    /// with the reason, for work the handler hands to another thread or library, or to the
    /// closure of a [`Body::writer`](crate::Body::writer), which then sees the client leave
    /// while the response is sent. It turns cancelled with
    /// [`CancelReason::Finished`](crate::CancelReason::Finished) once the request is over
    /// (its connection went on to the next request, or closed).
    pub fn cancellation(&self) -> Cancellation {
        self.cancellation.clone()
    }

    /// Marks the request as arriving while the server drains, for in-process tests of
    /// handlers that react to a shutdown (the server sets this itself).
    #[must_use]
    pub fn with_server_draining(mut self, draining: bool) -> Self {
        self.server_draining = draining;
        self
    }

    pub(crate) fn set_route(
        &mut self,
        route: Arc<str>,
        params: PathParams,
        states: [Option<Arc<StateMap>>; 2],
    ) {
        self.route = Some(route);
        self.params = params;
        self.states = states;
    }

    pub(crate) fn set_states(&mut self, states: [Option<Arc<StateMap>>; 2]) {
        self.states = states;
    }

    /// The head, for code that works with `http` types directly.
    ///
    /// On a request the server read, this makes a copy of the head with its headers parsed
    /// (the server keeps them as bytes until asked): the first call, and the first after
    /// each [`extensions_mut`](Self::extensions_mut), clone the header map and the
    /// extensions. Prefer [`method`](Self::method), [`uri`](Self::uri),
    /// [`headers`](Self::headers) and [`extensions`](Self::extensions), which never copy.
    pub fn head(&self) -> &Parts {
        if self.raw_head.is_none() {
            return &self.head;
        }
        self.whole_head.get_or_init(|| {
            let mut head = self.head.clone();
            head.headers = self.headers().clone();
            head.uri = self.uri().clone();
            Box::new(head)
        })
    }

    /// Converts into an `http::Request`.
    pub fn into_http(mut self) -> http::Request<Vec<u8>> {
        self.settle_headers();
        let body = match self.body_source {
            Some(BodySource::File(file)) => file.into_contents(),
            _ => self.body,
        };
        http::Request::from_parts(self.head, body)
    }
}

/// Where a body that is not in `Request::body` comes from.
enum BodySource {
    /// Read as it arrives (routes with `Router::stream_bodies`).
    Stream(Arc<Mutex<dyn Read + Send>>),
    /// Spooled to a file while it arrived.
    File(Box<BodyFile>),
}

/// Reads a request's body; see [`Request::body_reader`].
pub struct BodyReader<'a> {
    request: &'a Request,
    /// A `u64`: a spooled body may be larger than memory.
    position: u64,
}

impl Read for BodyReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match &self.request.body_source {
            Some(BodySource::Stream(stream)) => stream
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .read(out),
            Some(BodySource::File(file)) => {
                let n = file.read_at(out, self.position)?;
                self.position += n as u64;
                Ok(n)
            }
            None => {
                let body = &self.request.body;
                let start =
                    usize::try_from(self.position).map_or(body.len(), |p| p.min(body.len()));
                let rest = &body[start..];
                let n = rest.len().min(out.len());
                out[..n].copy_from_slice(&rest[..n]);
                self.position += n as u64;
                Ok(n)
            }
        }
    }
}

impl fmt::Debug for BodyReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyReader")
            .field("streamed", &self.request.is_body_streamed())
            .finish_non_exhaustive()
    }
}

impl From<http::Request<Vec<u8>>> for Request {
    fn from(request: http::Request<Vec<u8>>) -> Self {
        let (head, body) = request.into_parts();
        Self::from_parts(head, body, None)
    }
}

impl From<http::Request<()>> for Request {
    fn from(request: http::Request<()>) -> Self {
        let (head, ()) = request.into_parts();
        Self::from_parts(head, Vec::new(), None)
    }
}

impl From<http::Request<&str>> for Request {
    fn from(request: http::Request<&str>) -> Self {
        let (head, body) = request.into_parts();
        Self::from_parts(head, body.as_bytes().to_vec(), None)
    }
}

impl From<http::Request<String>> for Request {
    fn from(request: http::Request<String>) -> Self {
        let (head, body) = request.into_parts();
        Self::from_parts(head, body.into_bytes(), None)
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.head.method)
            .field("uri", self.uri())
            .field("version", &self.head.version)
            .field("headers", self.headers())
            .field(
                "body_len",
                &self
                    .body_file()
                    .map_or(self.body.len() as u64, BodyFile::len),
            )
            .field("remote_addr", &self.remote_addr)
            .field("route", &self.route)
            .field("params", &self.params)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request as the server hands it over: headers and target still bytes.
    fn read_by_the_server() -> Request {
        let head = bytes::Bytes::from_static(
            b"GET /a?b=1 HTTP/1.1\r\nHost: h\r\nX-Id: 7\r\nx-id: 8\r\n\r\n",
        );
        let (parts, ()) = http::Request::get("/").body(()).unwrap().into_parts();
        Request::from_body(
            parts,
            RawHead::new(head, 3, crate::head::keep_target(b"/a?b=1", 4)),
            RequestBody::Full(Vec::new()),
            None,
            Cancellation::never(),
        )
    }

    #[test]
    fn headers_read_by_the_server_are_parsed_when_asked_for() {
        let mut req = read_by_the_server();
        assert_eq!(req.headers()["host"], "h");
        assert_eq!(req.headers().get_all("x-id").iter().count(), 2);
        assert_eq!(req.head().headers.len(), 3);
        assert_eq!(req.head().uri, "/a?b=1");
        // `head` is a copy: extensions added later show in the next one.
        req.extensions_mut().insert(5u8);
        assert_eq!(req.head().extensions.get::<u8>(), Some(&5));
        let http = req.into_http();
        assert_eq!(http.headers()["x-id"], "7");
        assert_eq!(http.headers().len(), 3);
    }

    #[test]
    fn a_target_kept_as_bytes_shows_everywhere_the_target_does() {
        let req = read_by_the_server();
        assert_eq!(req.path(), "/a");
        assert_eq!(req.query_string(), Some("b=1"));
        assert_eq!(req.query("b").as_deref(), Some("1"));
        assert_eq!(req.uri(), "/a?b=1");
        assert!(format!("{req:?}").contains("/a?b=1"), "{req:?}");
        assert_eq!(read_by_the_server().head().uri, "/a?b=1");
        assert_eq!(read_by_the_server().into_http().uri(), "/a?b=1");
    }

    #[test]
    fn a_request_can_be_shared_across_threads() {
        fn send_and_sync<T: Send + Sync>() {}
        send_and_sync::<Request>();
    }

    #[test]
    fn headers_never_asked_for_still_reach_into_http() {
        let http = read_by_the_server().into_http();
        assert_eq!(http.headers()["host"], "h");
        let mut req = read_by_the_server();
        assert!(
            req.take_headers().is_empty(),
            "nothing parsed, nothing to recycle"
        );
    }

    fn with_authorization(values: &[&str]) -> Request {
        let mut builder = http::Request::get("/");
        for value in values {
            builder = builder.header(http::header::AUTHORIZATION, *value);
        }
        Request::from(builder.body(()).expect("valid request"))
    }

    fn bearer(values: &[&str]) -> Option<String> {
        with_authorization(values).bearer_token().map(str::to_owned)
    }

    #[test]
    fn bearer_token_scheme_is_case_insensitive() {
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            assert_eq!(
                bearer(&[&format!("{scheme} abc.DEF-123")]).as_deref(),
                Some("abc.DEF-123"),
                "{scheme}"
            );
        }
    }

    #[test]
    fn bearer_token_allows_b64token_characters_and_padding() {
        assert_eq!(
            bearer(&["Bearer a-b.c_d~e+f/g=="]).as_deref(),
            Some("a-b.c_d~e+f/g==")
        );
        assert_eq!(bearer(&["Bearer   spaced  "]).as_deref(), Some("spaced"));
    }

    #[test]
    fn bearer_token_missing_empty_or_other_scheme_is_none() {
        assert_eq!(bearer(&[]), None);
        assert_eq!(bearer(&["Basic YWxhZGRpbjpvcGVuc2VzYW1l"]), None);
        assert_eq!(bearer(&["Bearer"]), None);
        assert_eq!(bearer(&["Bearer "]), None);
        assert_eq!(bearer(&["Bearer =="]), None);
        assert_eq!(bearer(&["Bearerabc"]), None);
        assert_eq!(bearer(&["Token abc"]), None);
    }

    #[test]
    fn bearer_token_with_invalid_characters_is_none() {
        assert_eq!(bearer(&["Bearer a b"]), None);
        assert_eq!(bearer(&["Bearer a,b"]), None);
        assert_eq!(bearer(&["Bearer a=b"]), None);
        assert_eq!(bearer(&["Bearer \"abc\""]), None);
    }

    #[test]
    fn bearer_token_sent_twice_is_none() {
        assert_eq!(bearer(&["Bearer one", "Bearer two"]), None);
    }
}

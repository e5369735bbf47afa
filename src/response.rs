//! Responses, and [`IntoResponse`]: what a handler may return.

use std::cell::Cell;
use std::fmt;
use std::sync::OnceLock;

use http::header::{CONTENT_TYPE, HeaderName, HeaderValue, LOCATION};
use http::{HeaderMap, StatusCode, response::Parts};

use crate::body::Body;
use crate::error::InvalidHeader;

/// An HTTP response: a status, headers and a [`Body`].
///
/// The server adds `Date`, the framing headers (`Content-Length` or
/// `Transfer-Encoding: chunked`) and `Connection` itself; values a handler sets for those
/// framing headers are replaced.
///
/// # Examples
///
/// ```
/// use http::StatusCode;
/// use switchyard::Response;
///
/// let res = Response::text("created").with_status(StatusCode::CREATED);
/// assert_eq!(res.status(), StatusCode::CREATED);
/// assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
/// ```
pub struct Response {
    /// Status, extensions, and the headers but for `content_type`.
    head: Parts,
    /// The `Content-Type` a constructor set, kept out of `head.headers` (which is empty
    /// meanwhile) until something changes the headers: most responses carry no other
    /// header, and the server writes this one without a map.
    content_type: Option<&'static str>,
    /// What [`headers`](Self::headers) shows while `content_type` is kept out, built on
    /// demand.
    shown_headers: OnceLock<Box<HeaderMap>>,
    body: Body,
}

thread_local! {
    /// Where the last `Content-Type` checked on this thread is, and its length.
    static LAST_CHECKED: Cell<(*const u8, usize)> = const { Cell::new((std::ptr::null(), 0)) };
}

/// Checks a `Content-Type` a caller gave, where a bad value is the caller's bug
/// (`from_static` panics). A route answers with the same `&'static str` on every request,
/// and a `'static` shared string cannot change: the last one checked on this thread is not
/// checked again (a byte-by-byte check was ~2 % of a simple request's instructions).
#[track_caller]
fn check_content_type(content_type: &'static str) {
    let at = (content_type.as_ptr(), content_type.len());
    if LAST_CHECKED.with(Cell::get) != at {
        let _ = HeaderValue::from_static(content_type);
        LAST_CHECKED.with(|last| last.set(at));
    }
}

/// The `Content-Type` values this crate's own constructors set.
pub(crate) mod content_types {
    pub(crate) const TEXT: &str = "text/plain; charset=utf-8";
    pub(crate) const HTML: &str = "text/html; charset=utf-8";
    pub(crate) const OCTET_STREAM: &str = "application/octet-stream";
    #[cfg(feature = "json")]
    pub(crate) const JSON: &str = "application/json";
}

impl Response {
    /// A response with this status and an empty body.
    pub fn new(status: StatusCode) -> Self {
        let (mut head, ()) = http::Response::new(()).into_parts();
        head.status = status;
        Self {
            head,
            content_type: None,
            shown_headers: OnceLock::new(),
            body: Body::empty(),
        }
    }

    /// 200 with a `text/plain; charset=utf-8` body.
    pub fn text(body: impl Into<String>) -> Self {
        Self::typed(body.into().into(), content_types::TEXT)
    }

    /// 200 with a `text/html; charset=utf-8` body.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::Response;
    ///
    /// let res = Response::html("<h1>Hello</h1>");
    /// assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    /// assert_eq!(res.into_body_bytes()?, b"<h1>Hello</h1>");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn html(body: impl Into<String>) -> Self {
        Self::typed(body.into().into(), content_types::HTML)
    }

    /// A redirect: `status` with `Location: location` and an empty body.
    ///
    /// `status` is one of 301, 302, 303, 307 and 308 ([`see_other`](Self::see_other),
    /// [`temporary_redirect`](Self::temporary_redirect) and
    /// [`permanent_redirect`](Self::permanent_redirect) name the usual three); it is not
    /// checked. `location` is a URI reference (RFC 9110 §10.2.2): a path such as `/login`, or
    /// an absolute URL. It is sent as given, never percent-encoded on a guess: non-ASCII
    /// characters go out as raw UTF-8 (which browsers follow), so percent-encode them
    /// yourself for strict clients.
    ///
    /// A `location` that is not a valid header value (it contains a line break or another
    /// control character, perhaps an attempt at header injection through a `?next=`
    /// parameter) is never sent: the response is an empty 500 instead, and the location is
    /// logged (feature `log`). No panic: the location may come from the client. axum's `Redirect`
    /// answers 500 the same way.
    ///
    /// # Examples
    ///
    /// ```
    /// use http::StatusCode;
    /// use switchyard::Response;
    ///
    /// let res = Response::redirect(StatusCode::FOUND, "/login?next=%2Fadmin");
    /// assert_eq!(res.status(), StatusCode::FOUND);
    /// assert_eq!(res.headers()["location"], "/login?next=%2Fadmin");
    ///
    /// let smuggled = Response::redirect(StatusCode::FOUND, "/\r\nset-cookie: a=b");
    /// assert_eq!(smuggled.status(), StatusCode::INTERNAL_SERVER_ERROR);
    /// assert!(smuggled.headers().get("location").is_none());
    /// ```
    pub fn redirect(status: StatusCode, location: &str) -> Self {
        Self::new(status).with_location(location)
    }

    /// 303 See Other to `location`: after a form `POST`, the client `GET`s `location`
    /// (RFC 9110 §15.4.4). Otherwise as [`redirect`](Self::redirect).
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::Response;
    ///
    /// let res = Response::see_other("/todos");
    /// assert_eq!(res.status(), 303);
    /// assert_eq!(res.headers()["location"], "/todos");
    /// ```
    pub fn see_other(location: &str) -> Self {
        Self::redirect(StatusCode::SEE_OTHER, location)
    }

    /// 307 Temporary Redirect to `location`: the client repeats the request, method and
    /// body unchanged, at `location` (RFC 9110 §15.4.8). Otherwise as
    /// [`redirect`](Self::redirect).
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::Response;
    ///
    /// let res = Response::temporary_redirect("/v2/upload");
    /// assert_eq!(res.status(), 307);
    /// assert_eq!(res.headers()["location"], "/v2/upload");
    /// ```
    pub fn temporary_redirect(location: &str) -> Self {
        Self::redirect(StatusCode::TEMPORARY_REDIRECT, location)
    }

    /// 308 Permanent Redirect to `location`: like 307, and clients may remember it
    /// (RFC 9110 §15.4.9). Otherwise as [`redirect`](Self::redirect).
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::Response;
    ///
    /// let res = Response::permanent_redirect("https://example.com/");
    /// assert_eq!(res.status(), 308);
    /// assert_eq!(res.headers()["location"], "https://example.com/");
    /// ```
    pub fn permanent_redirect(location: &str) -> Self {
        Self::redirect(StatusCode::PERMANENT_REDIRECT, location)
    }

    /// 201 Created: `body` as a response, with its status replaced by 201 and
    /// `Location: location`, the URI of the new resource (RFC 9110 §15.3.2).
    ///
    /// An invalid `location` makes an empty 500, logged, as in [`redirect`](Self::redirect).
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::Response;
    ///
    /// let res = Response::created("/todos/7", "made");
    /// assert_eq!(res.status(), 201);
    /// assert_eq!(res.headers()["location"], "/todos/7");
    /// assert_eq!(res.into_body_bytes()?, b"made");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn created(location: &str, body: impl IntoResponse) -> Self {
        body.into_response()
            .with_status(StatusCode::CREATED)
            .with_location(location)
    }

    /// Sets `Location`, or turns the response into a logged 500 when `location` is not a
    /// valid header value.
    fn with_location(mut self, location: &str) -> Self {
        match HeaderValue::try_from(location) {
            Ok(value) => {
                self.headers_mut().insert(LOCATION, value);
                self
            }
            Err(_) => invalid_header_response(&InvalidHeader::Value {
                name: LOCATION,
                source: format!("{location:?} contains a control character").into(),
            }),
        }
    }

    /// 200 with an `application/octet-stream` body.
    pub fn bytes(body: impl Into<Body>) -> Self {
        Self::typed(body.into(), content_types::OCTET_STREAM)
    }

    /// 200 with a body whose `Content-Type` is `content_type`.
    ///
    /// # Panics
    ///
    /// When `content_type` is not a valid header value (it contains a control character).
    #[track_caller]
    pub fn with_content_type(body: Body, content_type: &'static str) -> Self {
        check_content_type(content_type);
        Self::typed(body, content_type)
    }

    /// 200 with a body whose `Content-Type` is one of this crate's [`content_types`]
    /// (valid values: not checked again on every response).
    pub(crate) fn typed(body: Body, content_type: &'static str) -> Self {
        let mut response = Self::new(StatusCode::OK);
        response.content_type = Some(content_type);
        response.body = body;
        response
    }

    /// Replaces the status.
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.head.status = status;
        self
    }

    /// Sets a header, replacing any value it had.
    ///
    /// The name converts into a [`HeaderName`] and the value into a [`HeaderValue`]: those
    /// types themselves, `&str`, `String`, and (for the value) integers.
    ///
    /// # Panics
    ///
    /// When the name is not a valid header name, or the value not a valid header value (it
    /// contains a line break, say); the message names the header and the reason. Such a
    /// header is a bug in the code that builds it: a handler that panics is answered with a
    /// 500, and the panic is logged with the route. For values that come from the client or
    /// other untrusted sources, use [`try_with_header`](Self::try_with_header).
    ///
    /// # Examples
    ///
    /// ```
    /// use http::header;
    /// use switchyard::Response;
    ///
    /// let res = Response::text("hi")
    ///     .with_header(header::CACHE_CONTROL, "no-store")
    ///     .with_header("x-request-id", format!("req-{}", 7))
    ///     .with_header("x-retries", 3);
    /// assert_eq!(res.headers()["cache-control"], "no-store");
    /// assert_eq!(res.headers()["x-request-id"], "req-7");
    /// assert_eq!(res.headers()["x-retries"], "3");
    /// ```
    #[must_use]
    #[track_caller]
    pub fn with_header<K, V>(self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: fmt::Display,
        V: TryInto<HeaderValue>,
        V::Error: fmt::Display,
    {
        match self.try_with_header(name, value) {
            Ok(response) => response,
            Err(error) => panic!("{}", describe(&error)),
        }
    }

    /// Sets a header, replacing any value it had; the fallible twin of
    /// [`with_header`](Self::with_header).
    ///
    /// # Errors
    ///
    /// [`InvalidHeader`] when the name is not a valid header name or the value not a valid
    /// header value.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::Response;
    ///
    /// let tag = "v1\r\nx-injected: yes"; // say, from the request
    /// let res = Response::text("hi").try_with_header("x-tag", tag);
    /// assert!(res.is_err());
    /// ```
    pub fn try_with_header<K, V>(mut self, name: K, value: V) -> Result<Self, InvalidHeader>
    where
        K: TryInto<HeaderName>,
        K::Error: fmt::Display,
        V: TryInto<HeaderValue>,
        V::Error: fmt::Display,
    {
        let (name, value) = header_pair(name, value)?;
        self.headers_mut().insert(name, value);
        Ok(self)
    }

    /// Replaces the body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.head.status
    }

    /// Mutable access to the status.
    pub fn status_mut(&mut self) -> &mut StatusCode {
        &mut self.head.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        match &self.content_type {
            None => &self.head.headers,
            Some(content_type) => self.shown_headers.get_or_init(|| {
                let mut shown = self.head.headers.clone();
                shown.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
                Box::new(shown)
            }),
        }
    }

    /// One header's value, as `headers().get(name)` says, without building the map that
    /// shows a kept-out `Content-Type` when another header is asked for.
    pub(crate) fn header_value(&self, name: &HeaderName) -> Option<&HeaderValue> {
        if *name == CONTENT_TYPE {
            return self.headers().get(name);
        }
        self.head.headers.get(name)
    }

    /// Mutable access to the headers.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.settle_headers();
        &mut self.head.headers
    }

    /// Puts a kept-out `Content-Type` into the header map, which comes from this thread's
    /// recycled maps when it has no memory yet: before code that reads the headers and
    /// changes them (`headers` would build a copy to show meanwhile).
    pub(crate) fn settle_headers(&mut self) {
        if self.head.headers.capacity() == 0 {
            self.head.headers = crate::head::header_map(0);
        }
        if let Some(content_type) = self.content_type.take() {
            let value = HeaderValue::from_static(content_type);
            self.head.headers.insert(CONTENT_TYPE, value);
            self.shown_headers.take();
        }
    }

    /// The response's extensions: typed values for middleware (a [`Rejection`] that made
    /// this response, say).
    ///
    /// [`Rejection`]: crate::Rejection
    pub fn extensions(&self) -> &http::Extensions {
        &self.head.extensions
    }

    /// The response's extensions, mutably.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.head.extensions
    }

    /// The body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The whole body, read into memory (streams included): handy in tests.
    ///
    /// # Errors
    ///
    /// What a streamed body's reader reports.
    pub fn into_body_bytes(self) -> std::io::Result<Vec<u8>> {
        self.body.into_bytes()
    }

    /// Splits into the `http` head and the body.
    pub fn into_parts(mut self) -> (Parts, Body) {
        if self.content_type.is_some() {
            self.settle_headers();
        }
        (self.head, self.body)
    }

    /// Converts into an `http::Response`.
    pub fn into_http(self) -> http::Response<Body> {
        let (head, body) = self.into_parts();
        http::Response::from_parts(head, body)
    }

    /// Converts into an `http::Response` whose header map may lack the `Content-Type`,
    /// and that `Content-Type`: for an engine that writes it without a map.
    pub(crate) fn into_wire(self) -> (http::Response<Body>, Option<&'static str>) {
        (
            http::Response::from_parts(self.head, self.body),
            self.content_type,
        )
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.head.status)
            .field("headers", self.headers())
            .field("body", &self.body)
            .finish()
    }
}

impl<B: Into<Body>> From<http::Response<B>> for Response {
    fn from(response: http::Response<B>) -> Self {
        let (head, body) = response.into_parts();
        Self {
            head,
            content_type: None,
            shown_headers: OnceLock::new(),
            body: body.into(),
        }
    }
}

/// Anything a handler may return.
///
/// Implemented for [`Response`], `http::Response<B>`, strings (`text/plain`), byte vectors
/// (`application/octet-stream`), [`StatusCode`] (empty body), `(StatusCode, T)`, headers
/// with a body (`([(name, value); N], T)` and `(StatusCode, [(name, value); N], T)`), `()`
/// (an empty 200) and `Result<T, E>` where both sides convert, so handlers can use `?`.
///
/// # Examples
///
/// ```
/// use http::{StatusCode, header};
/// use switchyard::{IntoResponse, Response};
///
/// fn lookup(id: &str) -> Result<String, (StatusCode, &'static str)> {
///     let id: u32 = id.parse().map_err(|_| (StatusCode::BAD_REQUEST, "id must be a number"))?;
///     Ok(format!("user {id}"))
/// }
/// assert_eq!(lookup("7").into_response().status(), StatusCode::OK);
/// assert_eq!(lookup("x").into_response().status(), StatusCode::BAD_REQUEST);
///
/// let res = (StatusCode::CREATED, [(header::LOCATION, "/todos/1")], "made").into_response();
/// assert_eq!(res.status(), StatusCode::CREATED);
/// assert_eq!(res.headers()["location"], "/todos/1");
/// ```
pub trait IntoResponse {
    /// Performs the conversion.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl<B: Into<Body>> IntoResponse for http::Response<B> {
    fn into_response(self) -> Response {
        self.into()
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::typed(self.into(), content_types::TEXT)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        Response::bytes(self)
    }
}

impl IntoResponse for Body {
    fn into_response(self) -> Response {
        Response::bytes(self)
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(StatusCode::OK)
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        self.1.into_response().with_status(self.0)
    }
}

/// `T` with these headers. Each name in the array replaces that header of `T`'s response
/// (its `Content-Type`, say); a name repeated in the array is sent once per pair (several
/// `Set-Cookie`s).
///
/// An invalid name or value cannot panic here with a useful location, so the response is
/// an empty 500 instead and the header's name is logged with the `log` feature (use
/// [`Response::try_with_header`] to handle untrusted values).
///
/// # Examples
///
/// ```
/// use switchyard::{IntoResponse, Request, Router};
///
/// let router = Router::new().get("/", |_: &Request| ([("x-request-id", "7")], "ok"));
/// let res = router.handle(http::Request::get("/").body(())?);
/// assert_eq!(res.headers()["x-request-id"], "7");
/// assert_eq!(res.into_body_bytes()?, b"ok");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<K, V, T, const N: usize> IntoResponse for ([(K, V); N], T)
where
    K: TryInto<HeaderName>,
    K::Error: fmt::Display,
    V: TryInto<HeaderValue>,
    V::Error: fmt::Display,
    T: IntoResponse,
{
    fn into_response(self) -> Response {
        let (headers, body) = self;
        match set_headers(body.into_response(), headers) {
            Ok(response) => response,
            Err(error) => invalid_header_response(&error),
        }
    }
}

/// `T` with this status and these headers, as for `([(K, V); N], T)`: an invalid header
/// makes an empty 500, logged.
///
/// # Examples
///
/// ```
/// use http::{StatusCode, header};
/// use switchyard::{IntoResponse, Request, Router};
///
/// let router = Router::new().post("/todos", |_: &Request| {
///     (StatusCode::CREATED, [(header::LOCATION, "/todos/1")], "made")
/// });
/// let res = router.handle(http::Request::post("/todos").body(())?);
/// assert_eq!(res.status(), StatusCode::CREATED);
/// assert_eq!(res.headers()["location"], "/todos/1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<K, V, T, const N: usize> IntoResponse for (StatusCode, [(K, V); N], T)
where
    K: TryInto<HeaderName>,
    K::Error: fmt::Display,
    V: TryInto<HeaderValue>,
    V::Error: fmt::Display,
    T: IntoResponse,
{
    fn into_response(self) -> Response {
        let (status, headers, body) = self;
        match set_headers(body.into_response(), headers) {
            Ok(response) => response.with_status(status),
            Err(error) => invalid_header_response(&error),
        }
    }
}

/// Converts a header pair, keeping the conversion's message as the source.
fn header_pair<K, V>(name: K, value: V) -> Result<(HeaderName, HeaderValue), InvalidHeader>
where
    K: TryInto<HeaderName>,
    K::Error: fmt::Display,
    V: TryInto<HeaderValue>,
    V::Error: fmt::Display,
{
    let name = name.try_into().map_err(|error| InvalidHeader::Name {
        source: error.to_string().into(),
    })?;
    match value.try_into() {
        Ok(value) => Ok((name, value)),
        Err(error) => Err(InvalidHeader::Value {
            name,
            source: error.to_string().into(),
        }),
    }
}

/// Sets the headers of a tuple response: the first pair of each name replaces what the
/// response had, later pairs of that name are appended.
fn set_headers<K, V, const N: usize>(
    mut response: Response,
    headers: [(K, V); N],
) -> Result<Response, InvalidHeader>
where
    K: TryInto<HeaderName>,
    K::Error: fmt::Display,
    V: TryInto<HeaderValue>,
    V::Error: fmt::Display,
{
    let mut seen: Vec<HeaderName> = Vec::with_capacity(N);
    for (name, value) in headers {
        let (name, value) = header_pair(name, value)?;
        if seen.contains(&name) {
            response.headers_mut().append(name, value);
        } else {
            seen.push(name.clone());
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

/// The error and its sources, one after the other: `invalid value for header "x": why`.
fn describe(error: &InvalidHeader) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// The response for a header that could not be built: an empty 500, logged (feature `log`).
fn invalid_header_response(error: &InvalidHeader) -> Response {
    log_invalid_header(error);
    Response::new(StatusCode::INTERNAL_SERVER_ERROR)
}

fn log_invalid_header(error: &InvalidHeader) {
    crate::logging::log_error!(
        "a response header could not be built, answering 500: {}",
        describe(error)
    );
}

/// The message as plain text, with the rejection's status. The [`Rejection`] itself rides
/// along in the response's extensions, for middleware and
/// [`Router::map_rejection`](crate::Router::map_rejection) to render differently.
///
/// [`Rejection`]: crate::Rejection
impl IntoResponse for crate::error::Rejection {
    fn into_response(self) -> Response {
        let mut response =
            Response::text(format!("{}\n", self.message())).with_status(self.status());
        response.extensions_mut().insert(self);
        response
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(value) => value.into_response(),
            Err(error) => error.into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use http::header::{CACHE_CONTROL, SET_COOKIE};

    use super::*;

    #[test]
    fn a_content_type_is_checked_once_in_a_row_and_a_bad_one_always() {
        static GOOD: &str = "text/csv";
        let bad: &'static str = Box::leak(String::from("text/plain\n").into_boxed_str());
        for _ in 0..2 {
            let panicked =
                std::panic::catch_unwind(|| Response::with_content_type(Body::empty(), bad));
            assert!(panicked.is_err(), "a control character was accepted");
            let response = Response::with_content_type(Body::empty(), GOOD);
            assert_eq!(response.headers()[CONTENT_TYPE], GOOD);
        }
        // Remembered: the same string is not checked again, another one is.
        assert_eq!(LAST_CHECKED.with(Cell::get), (GOOD.as_ptr(), GOOD.len()));
        assert!(
            std::panic::catch_unwind(|| Response::with_content_type(Body::empty(), bad)).is_err()
        );
    }

    #[test]
    fn the_crates_own_content_types_are_valid_header_values() {
        use content_types::{HTML, OCTET_STREAM, TEXT};
        #[cfg(feature = "json")]
        assert!(HeaderValue::from_str(content_types::JSON).is_ok());
        for content_type in [TEXT, HTML, OCTET_STREAM] {
            assert!(
                HeaderValue::from_str(content_type).is_ok(),
                "{content_type:?}"
            );
        }
        assert_eq!(Response::text("hi").headers()[CONTENT_TYPE], TEXT);
    }

    #[test]
    fn one_header_is_read_without_showing_the_whole_map() {
        let request_id = HeaderName::from_static("x-request-id");
        let mut response = Response::text("ok");
        assert!(response.header_value(&request_id).is_none());
        response
            .head
            .headers
            .insert(request_id.clone(), HeaderValue::from_static("7"));
        assert!(
            response.content_type.is_some(),
            "Content-Type still kept out"
        );
        assert_eq!(response.header_value(&request_id).unwrap(), "7");
        assert!(response.header_value(&LOCATION).is_none());
        assert!(
            response.shown_headers.get().is_none(),
            "no copy of the map was built"
        );
        assert_eq!(
            response.header_value(&CONTENT_TYPE).unwrap(),
            "text/plain; charset=utf-8"
        );
        assert_eq!(response.headers()["x-request-id"], "7");
    }

    fn location(response: &Response) -> Option<&str> {
        response
            .headers()
            .get(LOCATION)
            .map(|value| value.to_str().unwrap())
    }

    #[test]
    fn redirect_helpers_set_status_and_location() {
        for (response, status) in [
            (Response::see_other("/a"), StatusCode::SEE_OTHER),
            (
                Response::temporary_redirect("/a"),
                StatusCode::TEMPORARY_REDIRECT,
            ),
            (
                Response::permanent_redirect("/a"),
                StatusCode::PERMANENT_REDIRECT,
            ),
            (
                Response::redirect(StatusCode::MOVED_PERMANENTLY, "/a"),
                StatusCode::MOVED_PERMANENTLY,
            ),
        ] {
            assert_eq!(response.status(), status);
            assert_eq!(location(&response), Some("/a"));
            assert!(response.into_body_bytes().unwrap().is_empty());
        }
    }

    #[test]
    fn redirect_to_invalid_location_is_empty_500_without_location() {
        for bad in ["/a\r\nSet-Cookie: x=1", "/a\nb", "/\0", "/\x7f"] {
            let response = Response::see_other(bad);
            assert_eq!(
                response.status(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "{bad:?}"
            );
            assert_eq!(location(&response), None);
            assert!(response.into_body_bytes().unwrap().is_empty());
        }
    }

    #[test]
    fn created_keeps_body_and_its_headers() {
        let response = Response::created("/todos/9", Response::html("<p>9</p>"));
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(location(&response), Some("/todos/9"));
        assert_eq!(response.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(response.into_body_bytes().unwrap(), b"<p>9</p>");
        let bad = Response::created("/todos/\n", "made");
        assert_eq!(bad.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn a_content_type_kept_out_of_the_map_shows_in_every_view_of_the_headers() {
        let res = Response::text("hi");
        assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
        assert_eq!(res.headers().len(), 1);
        assert!(format!("{res:?}").contains("text/plain"));
        let http = Response::text("hi").into_http();
        assert_eq!(http.headers()["content-type"], "text/plain; charset=utf-8");
        let (parts, _) = Response::html("hi").into_parts();
        assert_eq!(parts.headers["content-type"], "text/html; charset=utf-8");

        // Changed headers keep it; a replaced content type replaces it.
        let mut res = Response::text("hi").with_header("x-a", "1");
        assert_eq!(res.headers().len(), 2);
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/csv"));
        assert_eq!(res.headers()["content-type"], "text/csv");
        assert_eq!(res.headers().len(), 2);

        // The engine's view: the map without it, and it apart; or all in the map.
        let (wire, content_type) = Response::text("hi").into_wire();
        assert!(wire.headers().is_empty());
        assert_eq!(content_type.unwrap(), "text/plain; charset=utf-8");
        let (wire, content_type) = Response::text("hi").with_header("x-a", "1").into_wire();
        assert_eq!(wire.headers().len(), 2);
        assert!(content_type.is_none());
    }

    #[test]
    fn with_header_accepts_typed_and_string_pairs_and_replaces() {
        let response = Response::text("x")
            .with_header(CACHE_CONTROL, HeaderValue::from_static("no-cache"))
            .with_header("Cache-Control", String::from("no-store"))
            .with_header("x-count", 42u64);
        let values: Vec<_> = response.headers().get_all(CACHE_CONTROL).iter().collect();
        assert_eq!(values, ["no-store"]);
        assert_eq!(response.headers()["x-count"], "42");
    }

    #[test]
    #[should_panic(
        expected = r#"invalid value for header "x-trace": failed to parse header value"#
    )]
    fn with_header_invalid_value_panics_naming_header() {
        let _ = Response::text("x").with_header("x-trace", "a\r\nb");
    }

    #[test]
    #[should_panic(expected = "invalid header name: invalid HTTP header name")]
    fn with_header_invalid_name_panics() {
        let _ = Response::text("x").with_header("x trace", "1");
    }

    #[test]
    fn try_with_header_reports_name_or_value() {
        let error = Response::text("x")
            .try_with_header("bad name", "1")
            .unwrap_err();
        assert!(matches!(error, InvalidHeader::Name { .. }));
        let error = Response::text("x")
            .try_with_header("x-a", "1\n")
            .unwrap_err();
        match &error {
            InvalidHeader::Value { name, .. } => assert_eq!(name, "x-a"),
            other => panic!("expected a value error, got {other:?}"),
        }
        assert_eq!(
            describe(&error),
            r#"invalid value for header "x-a": failed to parse header value"#
        );
    }

    #[test]
    fn tuple_with_one_header() {
        let response = ([("x-request-id", "7")], "ok").into_response();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-request-id"], "7");
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(response.into_body_bytes().unwrap(), b"ok");
    }

    #[test]
    fn tuple_with_status_and_two_headers() {
        let response = (
            StatusCode::CREATED,
            [(LOCATION, "/todos/1"), (CONTENT_TYPE, "text/html")],
            "made",
        )
            .into_response();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(location(&response), Some("/todos/1"));
        let types: Vec<_> = response.headers().get_all(CONTENT_TYPE).iter().collect();
        assert_eq!(types, ["text/html"]);
    }

    #[test]
    fn tuple_repeated_name_appends_but_replaces_body_header() {
        let body = Response::text("x").with_header(SET_COOKIE, "from-body=1");
        let response = ([(SET_COOKIE, "a=1"), (SET_COOKIE, "b=2")], body).into_response();
        let cookies: Vec<_> = response.headers().get_all(SET_COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
    }

    #[test]
    fn tuple_with_invalid_header_is_empty_500_even_with_status() {
        let response = (
            StatusCode::CREATED,
            [("x-ok", "1"), ("x-bad", "\r")],
            "made",
        )
            .into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().get("x-ok").is_none());
        assert!(response.into_body_bytes().unwrap().is_empty());
        let response = ([("bad name", "1")], "made").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}

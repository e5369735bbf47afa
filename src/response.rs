//! Responses, and [`IntoResponse`]: what a handler may return.

use std::fmt;

use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode, response::Parts};

use crate::body::Body;

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
    head: Parts,
    body: Body,
}

impl Response {
    /// A response with this status and an empty body.
    pub fn new(status: StatusCode) -> Self {
        let (mut head, ()) = http::Response::new(()).into_parts();
        head.status = status;
        Self {
            head,
            body: Body::empty(),
        }
    }

    /// 200 with a `text/plain; charset=utf-8` body.
    pub fn text(body: impl Into<String>) -> Self {
        Self::with_content_type(body.into().into(), "text/plain; charset=utf-8")
    }

    /// 200 with an `application/octet-stream` body.
    pub fn bytes(body: impl Into<Body>) -> Self {
        Self::with_content_type(body.into(), "application/octet-stream")
    }

    /// 200 with a body whose `Content-Type` is `content_type`.
    ///
    /// # Panics
    ///
    /// When `content_type` is not a valid header value (it contains a control character).
    #[track_caller]
    pub fn with_content_type(body: Body, content_type: &'static str) -> Self {
        let mut response = Self::new(StatusCode::OK);
        response
            .head
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
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
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.head.headers.insert(name, value);
        self
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
        &self.head.headers
    }

    /// Mutable access to the headers.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.head.headers
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
    pub fn into_parts(self) -> (Parts, Body) {
        (self.head, self.body)
    }

    /// Converts into an `http::Response`.
    pub fn into_http(self) -> http::Response<Body> {
        http::Response::from_parts(self.head, self.body)
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.head.status)
            .field("headers", &self.head.headers)
            .field("body", &self.body)
            .finish()
    }
}

impl<B: Into<Body>> From<http::Response<B>> for Response {
    fn from(response: http::Response<B>) -> Self {
        let (head, body) = response.into_parts();
        Self {
            head,
            body: body.into(),
        }
    }
}

/// Anything a handler may return.
///
/// Implemented for [`Response`], `http::Response<B>`, strings (`text/plain`), byte vectors
/// (`application/octet-stream`), [`StatusCode`] (empty body), `(StatusCode, T)`, `()` (an
/// empty 200) and `Result<T, E>` where both sides convert, so handlers can use `?`.
///
/// # Examples
///
/// ```
/// use http::StatusCode;
/// use switchyard::{IntoResponse, Response};
///
/// fn lookup(id: &str) -> Result<String, (StatusCode, &'static str)> {
///     let id: u32 = id.parse().map_err(|_| (StatusCode::BAD_REQUEST, "id must be a number"))?;
///     Ok(format!("user {id}"))
/// }
/// assert_eq!(lookup("7").into_response().status(), StatusCode::OK);
/// assert_eq!(lookup("x").into_response().status(), StatusCode::BAD_REQUEST);
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
        Response::with_content_type(self.into(), "text/plain; charset=utf-8")
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

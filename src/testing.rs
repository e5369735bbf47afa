//! Testing handlers against the code that serves them: [`TestClient`] sends requests through
//! the real HTTP/1.1 engine (parser, limits, framing, router, middleware, encoder) over an
//! in-memory connection, with no socket and no thread.
//!
//! [`Router::handle`] calls the router directly and is the quickest check of a handler's
//! logic; [`TestClient`] also exercises what a client on the wire would meet: 400s for
//! malformed requests, 413s, `Content-Length` and chunked framing, HEAD, keep-alive and
//! pipelining.

use std::fmt;

use crate::limits::Limits;
use crate::router::Router;
use crate::server::InProcessServer;

/// An in-process client for a [`Router`]; see the module docs.
///
/// # Examples
///
/// ```
/// use switchyard::testing::TestClient;
/// use switchyard::{Request, Router};
///
/// let app = Router::new().get("/users/{id}", |req: &Request| {
///     format!("user {}", req.param("id").unwrap())
/// });
/// let client = TestClient::new(app);
/// let res = client.get("/users/7")?;
/// assert_eq!(res.status(), 200);
/// assert_eq!(res.body(), b"user 7");
///
/// // Raw bytes meet the same parser as on the wire.
/// let raw = client.send_raw(b"GET /users/7 HTTP/1.1\r\n\r\n");
/// assert!(raw.starts_with(b"HTTP/1.1 400 Bad Request\r\n")); // no Host
/// # Ok::<(), switchyard::testing::TestError>(())
/// ```
pub struct TestClient {
    server: InProcessServer,
}

impl fmt::Debug for TestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestClient")
            .field("limits", self.server.limits())
            .finish_non_exhaustive()
    }
}

/// Why [`TestClient::request`] could not produce a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TestError {
    /// The server closed the connection, or waits for more, without a whole response.
    #[error("no complete response: {0}")]
    NoResponse(String),
    /// The server's bytes are not a valid HTTP/1.1 response (a bug worth reporting).
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// The body is not JSON of the expected shape (`TestResponse::json`, feature `json`).
    #[error("unexpected JSON body: {0}")]
    Json(String),
}

impl TestClient {
    /// A client for `router`, with the server's default [`Limits`].
    pub fn new(router: Router) -> Self {
        Self {
            server: InProcessServer::new(router, Limits::default()),
        }
    }

    /// Uses `limits` instead of the defaults (as `ServerBuilder::limits` would).
    #[must_use]
    pub fn limits(self, limits: Limits) -> Self {
        Self {
            server: self.server.with_limits(limits),
        }
    }

    /// Sends `bytes` on one connection, as a client that then waits; returns every byte
    /// the server wrote until it closed the connection or waited for more input.
    pub fn send_raw(&self, bytes: &[u8]) -> Vec<u8> {
        self.server.exchange(bytes, &[], &[])
    }

    /// Sends one request and returns the response. A `Host` header is added when missing,
    /// and `Content-Length` when the body is not empty.
    ///
    /// # Errors
    ///
    /// [`TestError`] when the server sends no complete response.
    pub fn request<B: Into<Vec<u8>>>(
        &self,
        request: http::Request<B>,
    ) -> Result<TestResponse, TestError> {
        let request = request.map(Into::into);
        let bytes = encode_request(&request);
        let output = self.send_raw(&bytes);
        parse_response(&output, request.method() == http::Method::HEAD).map(TestResponse)
    }

    /// `GET path`.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub fn get(&self, path: &str) -> Result<TestResponse, TestError> {
        self.send(http::Method::GET, path, None, Vec::new())
    }

    /// `POST path` with a body of `content_type`.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub fn post(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> Result<TestResponse, TestError> {
        self.send(http::Method::POST, path, Some(content_type), body.into())
    }

    /// `DELETE path`.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub fn delete(&self, path: &str) -> Result<TestResponse, TestError> {
        self.send(http::Method::DELETE, path, None, Vec::new())
    }

    fn send(
        &self,
        method: http::Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<TestResponse, TestError> {
        let mut request = http::Request::builder().method(method).uri(path);
        if let Some(content_type) = content_type {
            request = request.header(http::header::CONTENT_TYPE, content_type);
        }
        let request = request
            .body(body)
            .map_err(|e| TestError::NoResponse(format!("bad request: {e}")))?;
        self.request(request)
    }
}

/// A response as a [`TestClient`] received it, with the accessors tests want.
///
/// # Examples
///
/// ```
/// use switchyard::testing::TestClient;
/// use switchyard::{Request, Response, Router};
///
/// let client = TestClient::new(Router::new().get("/", |_: &Request| {
///     Response::html("<h1>hi</h1>")
/// }));
/// let res = client.get("/")?;
/// assert_eq!(res.status(), 200);
/// assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
/// assert_eq!(res.text(), "<h1>hi</h1>");
/// # Ok::<(), switchyard::testing::TestError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TestResponse(http::Response<Vec<u8>>);

impl TestResponse {
    /// The status.
    pub fn status(&self) -> http::StatusCode {
        self.0.status()
    }

    /// Every header, as received.
    pub fn headers(&self) -> &http::HeaderMap {
        self.0.headers()
    }

    /// The first value of header `name`, if it is present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.0.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The body bytes (decoded from chunks when chunked).
    pub fn body(&self) -> &[u8] {
        self.0.body()
    }

    /// The body as text; bytes that are not UTF-8 become U+FFFD.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.0.body()).into_owned()
    }

    /// The body decoded as JSON (feature `json`).
    ///
    /// # Errors
    ///
    /// [`TestError::Json`] when the body is not JSON of the shape of `T`.
    #[cfg(feature = "json")]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, TestError> {
        serde_json::from_slice(self.0.body()).map_err(|e| TestError::Json(e.to_string()))
    }

    /// The response as an `http::Response`.
    pub fn into_inner(self) -> http::Response<Vec<u8>> {
        self.0
    }
}

fn encode_request(request: &http::Request<Vec<u8>>) -> Vec<u8> {
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    let mut bytes = format!("{} {target} HTTP/1.1\r\n", request.method()).into_bytes();
    let headers = request.headers();
    if !headers.contains_key(http::header::HOST) {
        let host = request
            .uri()
            .authority()
            .map_or("localhost", |a| a.as_str());
        bytes.extend_from_slice(format!("host: {host}\r\n").as_bytes());
    }
    for (name, value) in headers {
        bytes.extend_from_slice(name.as_str().as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    let framed = headers.contains_key(http::header::CONTENT_LENGTH)
        || headers.contains_key(http::header::TRANSFER_ENCODING);
    if !framed && !request.body().is_empty() {
        bytes.extend_from_slice(format!("content-length: {}\r\n", request.body().len()).as_bytes());
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(request.body());
    bytes
}

/// Parses the first final response in `output` (interim `100 Continue`s are skipped).
fn parse_response(output: &[u8], to_head: bool) -> Result<http::Response<Vec<u8>>, TestError> {
    let mut rest = output;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut parsed = httparse::Response::new(&mut headers);
        let len = match parsed.parse(rest) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => {
                return Err(TestError::NoResponse(format!(
                    "{} bytes of a response head",
                    rest.len()
                )));
            }
            Err(e) => return Err(TestError::InvalidResponse(e.to_string())),
        };
        let code = parsed.code.unwrap_or(0);
        if (100..200).contains(&code) {
            rest = &rest[len..];
            continue;
        }
        let mut builder = http::Response::builder().status(code);
        let mut content_length = None;
        let mut chunked = false;
        for header in parsed.headers.iter() {
            builder = builder.header(header.name, header.value);
            if header.name.eq_ignore_ascii_case("content-length") {
                content_length = std::str::from_utf8(header.value)
                    .ok()
                    .and_then(|v| v.parse::<usize>().ok());
            }
            if header.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = header.value.eq_ignore_ascii_case(b"chunked");
            }
        }
        let body_bytes = &rest[len..];
        let bodiless = to_head || code == 204 || code == 304;
        let body = if bodiless {
            Vec::new()
        } else if chunked {
            let mut decoder = crate::http1::ChunkedDecoder::default();
            let mut body = Vec::new();
            decoder
                .decode(body_bytes, &mut body)
                .map_err(|e| TestError::InvalidResponse(e.to_string()))?;
            if !decoder.is_done() {
                return Err(TestError::NoResponse("a chunked body cut short".into()));
            }
            body
        } else if let Some(length) = content_length {
            if body_bytes.len() < length {
                return Err(TestError::NoResponse(format!(
                    "{} of {length} body bytes",
                    body_bytes.len()
                )));
            }
            body_bytes[..length].to_vec()
        } else {
            body_bytes.to_vec()
        };
        return builder
            .body(body)
            .map_err(|e| TestError::InvalidResponse(e.to_string()));
    }
}

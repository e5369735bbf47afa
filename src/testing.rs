//! Testing handlers against the code that serves them: [`TestClient`] sends requests through
//! the server's own connection code (parser, limits, framing, pools, router, middleware,
//! encoder; bodies streamed to the routes that stream them) over an in-memory connection,
//! with no socket and no thread; [`TestWebSocket`] and [`TestEvents`] talk to live routes
//! the same way, through the real WebSocket codec and event-stream framing.
//!
//! [`Router::handle`] calls the router directly and is the quickest check of a handler's
//! logic; [`TestClient`] also exercises what a client on the wire would meet: 400s for
//! malformed requests, 413s, `Content-Length` and chunked framing, HEAD, keep-alive and
//! pipelining.

use std::fmt;
use std::io::{Read, Write};

use tungstenite::protocol::{CloseFrame, Role, WebSocketContext};

use crate::live::Message;

use crate::limits::Limits;
use crate::router::Router;
use crate::server::{InProcessConnection, InProcessServer};

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

    /// `PUT path` with a body of `content_type`.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub fn put(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> Result<TestResponse, TestError> {
        self.send(http::Method::PUT, path, Some(content_type), body.into())
    }

    /// `PATCH path` with a body of `content_type`.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub fn patch(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> Result<TestResponse, TestError> {
        self.send(http::Method::PATCH, path, Some(content_type), body.into())
    }

    /// `DELETE path`.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub fn delete(&self, path: &str) -> Result<TestResponse, TestError> {
        self.send(http::Method::DELETE, path, None, Vec::new())
    }

    /// `HEAD path`: the headers a GET would get, no body.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub fn head(&self, path: &str) -> Result<TestResponse, TestError> {
        self.send(http::Method::HEAD, path, None, Vec::new())
    }

    /// `OPTIONS path`.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub fn options(&self, path: &str) -> Result<TestResponse, TestError> {
        self.send(http::Method::OPTIONS, path, None, Vec::new())
    }

    /// A request to build with headers and a body, sent with
    /// [`TestRequest::send`].
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::testing::TestClient;
    /// use switchyard::{Request, Router};
    ///
    /// let app = Router::new().put("/notes/{id}", |req: &Request| {
    ///     format!("{} {}", req.bearer_token().unwrap_or("-"), String::from_utf8_lossy(req.body()))
    /// });
    /// let res = TestClient::new(app)
    ///     .build(http::Method::PUT, "/notes/1")
    ///     .header("authorization", "Bearer t0ken")
    ///     .body("buy milk")
    ///     .send()?;
    /// assert_eq!(res.text(), "t0ken buy milk");
    /// # Ok::<(), switchyard::testing::TestError>(())
    /// ```
    pub fn build(&self, method: http::Method, path: &str) -> TestRequest<'_> {
        TestRequest {
            client: self,
            request: http::Request::builder().method(method).uri(path),
            body: Vec::new(),
        }
    }

    /// Opens a WebSocket to `path`: the handshake goes through the router like any request
    /// (its middleware, its refusals), then messages go both ways through the real codec,
    /// with no socket and no thread.
    ///
    /// # Errors
    ///
    /// [`TestError::NoResponse`] or [`TestError::InvalidResponse`] when the handshake is
    /// not answered with `101 Switching Protocols` (the response is in the message).
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::live::{Message, WebSocket};
    /// use switchyard::testing::TestClient;
    /// use switchyard::{Request, Router};
    ///
    /// let app = Router::new().websocket("/ws", |_: &Request| {
    ///     |ws: &WebSocket, message: Message| {
    ///         let _ = ws.send(message);
    ///     }
    /// });
    /// let client = TestClient::new(app);
    /// let mut ws = client.websocket("/ws")?;
    /// ws.send(Message::text("ping"))?;
    /// assert_eq!(ws.receive(), Some(Message::text("ping")));
    /// # Ok::<(), switchyard::testing::TestError>(())
    /// ```
    pub fn websocket(&self, path: &str) -> Result<TestWebSocket<'_>, TestError> {
        let handshake = format!(
            "GET {path} HTTP/1.1\r\nhost: localhost\r\nupgrade: websocket\r\n\
             connection: Upgrade\r\nsec-websocket-version: 13\r\n\
             sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        let mut connection = self.connect()?;
        let output = connection.send(handshake.as_bytes());
        let head_end = switched(&output, 101)?;
        Ok(TestWebSocket::new(connection, output[head_end..].to_vec()))
    }

    /// Opens an event stream at `path` (`GET`, `Accept: text/event-stream`) and reads its
    /// events as the server writes them.
    ///
    /// # Errors
    ///
    /// As [`websocket`](Self::websocket), for a response that is not an event stream
    /// (`200` with chunks).
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::live::Event;
    /// use switchyard::testing::TestClient;
    /// use switchyard::{Request, Response, Router};
    ///
    /// let app = Router::new().get("/events", |_: &Request| {
    ///     let (response, events) = Response::events();
    ///     let _ = events.send(&Event::new().event("tick").data("1"));
    ///     response
    /// });
    /// let client = TestClient::new(app);
    /// let mut events = client.events("/events")?;
    /// assert_eq!(events.receive(), "event: tick\ndata: 1\n\n");
    /// # Ok::<(), switchyard::testing::TestError>(())
    /// ```
    pub fn events(&self, path: &str) -> Result<TestEvents<'_>, TestError> {
        let request =
            format!("GET {path} HTTP/1.1\r\nhost: localhost\r\naccept: text/event-stream\r\n\r\n");
        let mut connection = self.connect()?;
        let output = connection.send(request.as_bytes());
        let head_end = switched(&output, 200)?;
        Ok(TestEvents::new(connection, output[head_end..].to_vec()))
    }

    fn connect(&self) -> Result<InProcessConnection<'_>, TestError> {
        self.server
            .connect()
            .ok_or_else(|| TestError::NoResponse("the connection was refused".into()))
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

/// A request being built by [`TestClient::build`].
#[derive(Debug)]
#[must_use = "a request does nothing until `send` is called"]
pub struct TestRequest<'a> {
    client: &'a TestClient,
    request: http::request::Builder,
    body: Vec<u8>,
}

impl TestRequest<'_> {
    /// Adds a header.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        http::HeaderName: TryFrom<K>,
        <http::HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        http::HeaderValue: TryFrom<V>,
        <http::HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.request = self.request.header(name, value);
        self
    }

    /// Sets the body (`Content-Length` is added when it is not empty).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends it; see [`TestClient::request`].
    ///
    /// # Errors
    ///
    /// As [`TestClient::request`], and [`TestError::NoResponse`] for a header that is not
    /// valid.
    pub fn send(self) -> Result<TestResponse, TestError> {
        let request = self
            .request
            .body(self.body)
            .map_err(|e| TestError::NoResponse(format!("bad request: {e}")))?;
        self.client.request(request)
    }
}

/// Where the head of a response with status `expected` ends in `output`, or why there is
/// none.
fn switched(output: &[u8], expected: u16) -> Result<usize, TestError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(output) {
        Ok(httparse::Status::Complete(len)) if response.code == Some(expected) => Ok(len),
        Ok(httparse::Status::Complete(_)) => Err(TestError::InvalidResponse(format!(
            "expected {expected}, got {}",
            String::from_utf8_lossy(output)
        ))),
        Ok(httparse::Status::Partial) => Err(TestError::NoResponse(
            String::from_utf8_lossy(output).into_owned(),
        )),
        Err(e) => Err(TestError::InvalidResponse(e.to_string())),
    }
}

/// The client's end of an in-process WebSocket, from [`TestClient::websocket`]: messages
/// are framed and masked by the real codec (tungstenite), and the server's turns run as the
/// client sends and receives.
pub struct TestWebSocket<'a> {
    connection: InProcessConnection<'a>,
    codec: WebSocketContext,
    /// What the server wrote and the codec has not read yet; what the codec writes.
    wire: Wire,
}

impl fmt::Debug for TestWebSocket<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestWebSocket")
            .field("closed", &self.connection.is_closed())
            .finish_non_exhaustive()
    }
}

impl<'a> TestWebSocket<'a> {
    fn new(connection: InProcessConnection<'a>, received: Vec<u8>) -> Self {
        Self {
            connection,
            codec: WebSocketContext::new(Role::Client, None),
            wire: Wire {
                input: received,
                read: 0,
                output: Vec::new(),
            },
        }
    }

    /// Sends `message` (masked, as a client must); the server reads it and answers at once.
    ///
    /// # Errors
    ///
    /// [`TestError::NoResponse`] when the connection is closed.
    pub fn send(&mut self, message: Message) -> Result<(), TestError> {
        self.codec
            .write(&mut self.wire, message)
            .map_err(|e| TestError::NoResponse(e.to_string()))?;
        self.exchange();
        Ok(())
    }

    /// The next message the server sent (sent from anywhere: a handler, another thread, a
    /// `Topic`), or `None` when there is none now. Pings are answered and pongs skipped by
    /// the codec; a close frame comes back as `Message::Close`.
    pub fn receive(&mut self) -> Option<Message> {
        self.exchange();
        loop {
            match self.codec.read(&mut self.wire) {
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Ok(message) => {
                    // A pong or a close answer the codec queued goes to the server.
                    self.exchange();
                    return Some(message);
                }
                Err(_) => return None,
            }
        }
    }

    /// Starts the closing handshake with `code` (1000: normal).
    pub fn close(&mut self, code: u16) {
        let frame = CloseFrame {
            code: code.into(),
            reason: "".into(),
        };
        let _ = self.codec.close(&mut self.wire, Some(frame));
        let _ = self.codec.flush(&mut self.wire);
        self.exchange();
    }

    /// Whether the server closed the connection.
    pub fn is_closed(&self) -> bool {
        self.connection.is_closed()
    }

    /// Hands what the codec wrote to the server, and what the server wrote to the codec.
    fn exchange(&mut self) {
        let _ = self.codec.flush(&mut self.wire);
        let sent = std::mem::take(&mut self.wire.output);
        let received = self.connection.send(&sent);
        self.wire.input.extend_from_slice(&received);
    }
}

/// The client's end of an in-process event stream, from [`TestClient::events`].
pub struct TestEvents<'a> {
    connection: InProcessConnection<'a>,
    /// The chunked body as received, not yet decoded.
    received: Vec<u8>,
    decoder: crate::http1::ChunkedDecoder,
}

impl fmt::Debug for TestEvents<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestEvents")
            .field("closed", &self.connection.is_closed())
            .finish_non_exhaustive()
    }
}

impl<'a> TestEvents<'a> {
    fn new(connection: InProcessConnection<'a>, received: Vec<u8>) -> Self {
        Self {
            connection,
            received,
            decoder: crate::http1::ChunkedDecoder::default(),
        }
    }

    /// What the stream carried since the last call (events as the server encoded them,
    /// `event:`, `id:`, `data:` lines and the blank line after each); empty when nothing
    /// was sent.
    pub fn receive(&mut self) -> String {
        let more = self.connection.send(b"");
        self.received.extend_from_slice(&more);
        let mut text = Vec::new();
        if let Ok(used) = self.decoder.decode(&self.received, &mut text) {
            self.received.drain(..used);
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    /// Whether the stream ended (the server closed it).
    pub fn is_closed(&self) -> bool {
        self.connection.is_closed()
    }
}

/// The bytes between a test peer's codec and the in-process connection.
struct Wire {
    input: Vec<u8>,
    read: usize,
    output: Vec<u8>,
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read == self.input.len() {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.input.len() - self.read);
        buf[..n].copy_from_slice(&self.input[self.read..self.read + n]);
        self.read += n;
        if self.read == self.input.len() {
            self.input.clear();
            self.read = 0;
        }
        Ok(n)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

//! WebSocket (RFC 6455): the handshake, the handle that sends, and the session that hears.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, StatusCode, Version, header};
use tungstenite::Message;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

use super::outbox::{CloseRequest, Outbox, Refused, Weighed};
use super::{LiveUpgrade, SendError, Upgrade};
use crate::request::Request;
use crate::response::Response;

/// The default largest message and frame a client may send: 16 MiB (tungstenite's own
/// defaults, which axum and tokio-tungstenite users get, are 64 MiB and 16 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;

/// Limits and timers of WebSocket connections: all on by default.
///
/// ```
/// use std::time::Duration;
/// use switchyard::live::WebSocketConfig;
///
/// let config = WebSocketConfig::default()
///     .max_message_size(64 * 1024)
///     .ping_interval(Some(Duration::from_secs(10)));
/// ```
#[derive(Debug, Clone)]
pub struct WebSocketConfig {
    pub(crate) max_message_size: usize,
    pub(crate) max_frame_size: usize,
    pub(crate) max_queued_bytes: usize,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) pong_timeout: Duration,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) close_timeout: Duration,
    pub(crate) read_buffer_size: usize,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_frame_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_queued_bytes: 1 << 20,
            ping_interval: Some(Duration::from_secs(30)),
            pong_timeout: Duration::from_secs(30),
            idle_timeout: Some(Duration::from_secs(600)),
            close_timeout: Duration::from_secs(3),
            read_buffer_size: 1024,
        }
    }
}

impl WebSocketConfig {
    /// The largest message a client may send, fragments together (default
    /// [`DEFAULT_MAX_MESSAGE_SIZE`], 16 MiB). A larger one closes the connection with 1009
    /// (message too big).
    ///
    /// Memory per connection follows what the client actually sent: a frame's length is
    /// reserved as its header arrives, but only as address space; pages become resident as
    /// its bytes are read (1 KiB at a time, [`read_buffer_size`](Self::read_buffer_size)).
    /// So a connection holds at most the message being received (up to this limit), plus
    /// its send queue ([`max_queued_bytes`](Self::max_queued_bytes), or one larger
    /// message), plus about 2 KiB; a client that announces a large frame and sends nothing
    /// costs its 2 KiB. Lower it where many clients may each send large messages at once:
    /// [`max_live_connections`](crate::ServerBuilder::max_live_connections) times this
    /// bounds the worst case.
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The largest frame a client may send (default [`DEFAULT_MAX_MESSAGE_SIZE`], 16 MiB);
    /// larger: 1009. Browsers send a message as one frame: keep it at least
    /// `max_message_size`.
    #[must_use]
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// How many bytes of messages may wait to be sent to one client (default 1 MiB). A
    /// client that reads slower than it is sent to fills it: the send that overflows it
    /// fails with [`SendError::Full`], and the connection is closed with 1008 (policy
    /// violation). Senders never block.
    #[must_use]
    pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.max_queued_bytes = bytes;
        self
    }

    /// How often the server pings a client (default 30 s; `None`: never; at least 10 ms).
    #[must_use]
    pub fn ping_interval(mut self, interval: Option<Duration>) -> Self {
        self.ping_interval = interval.map(|every| every.max(MIN_INTERVAL));
        self
    }

    /// How long a client has to answer a ping before the connection is dropped as dead
    /// (default 30 s).
    #[must_use]
    pub fn pong_timeout(mut self, timeout: Duration) -> Self {
        self.pong_timeout = timeout;
        self
    }

    /// How long a connection may go without a text or binary message either way before it
    /// is closed with 1001 (default 10 minutes; `None`: never). Pings do not count.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Bytes read from the socket per read call (default 1 KiB). The buffer is kept while
    /// the connection lives, so it is most of what an idle connection costs (about 2 KiB
    /// in all by default); raise it for connections that receive large messages, which
    /// then take fewer reads.
    #[must_use]
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes;
        self
    }

    /// How long the server waits for the client's answer to its close frame before it
    /// closes the socket anyway (default 3 s).
    #[must_use]
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }
}

/// The shortest interval between pings (or keep-alives): shorter ones are this.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(10);

impl Weighed for Message {
    fn size(&self) -> usize {
        self.len()
    }
}

/// A WebSocket connection's sending side: cheap to clone, usable from any thread at any
/// time (a handler, a background thread, a [`Topic`](super::Topic)). Sending queues the
/// message and returns at once; a worker writes it in a short turn.
#[derive(Clone)]
pub struct WebSocket {
    outbox: Arc<Outbox<Message>>,
    protocol: Option<Arc<str>>,
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("id", &self.id())
            .field("protocol", &self.protocol)
            .finish()
    }
}

impl WebSocket {
    /// Queues a message (`Message::text("hi")`, `Message::binary(bytes)`, or anything
    /// `Into<Message>` such as a `String`).
    ///
    /// # Errors
    /// [`SendError::Closed`] once the connection is closed or closing;
    /// [`SendError::Full`] when the client does not read fast enough (see
    /// [`WebSocketConfig::max_queued_bytes`]): the connection is then closed with 1008.
    ///
    /// A `Message::Close` starts the closing handshake, as [`close`](Self::close) does.
    pub fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        match message.into() {
            Message::Close(frame) => {
                let (code, reason) = frame.map_or((CloseCode::Normal, String::new()), |f| {
                    (f.code, f.reason.as_str().to_owned())
                });
                if self.close(code, &reason) {
                    Ok(())
                } else {
                    Err(SendError::Closed)
                }
            }
            message => self.outbox.push(message).map_err(SendError::from),
        }
    }

    /// Starts the closing handshake with `code` and `reason` (at most 123 bytes; longer is
    /// cut), once what was sent before is written. A code that may not be sent (1005, 1006,
    /// 1015, reserved ones) is sent as 1000. Returns false if the connection was closed or
    /// closing already.
    pub fn close(&self, code: CloseCode, reason: &str) -> bool {
        let code = if code.is_allowed() {
            code
        } else {
            CloseCode::Normal
        };
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        self.outbox.request_close(CloseRequest::Asked(
            u16::from(code),
            reason[..end].to_owned(),
        ))
    }

    /// Whether sending would fail with [`SendError::Closed`].
    pub fn is_closed(&self) -> bool {
        self.outbox.is_closed()
    }

    /// A number unique to this connection in the process, e.g. to key a map of sessions.
    pub fn id(&self) -> u64 {
        self.outbox.id()
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    pub(crate) fn outbox(&self) -> &Arc<Outbox<Message>> {
        &self.outbox
    }
}

impl From<Refused> for SendError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::Closed => SendError::Closed,
            Refused::Full => SendError::Full,
        }
    }
}

/// What happens on one WebSocket connection: called on a worker for each event, one event
/// at a time (so `&mut self` is the connection's own state), never while it waits.
///
/// Any `FnMut(&WebSocket, Message)` is a session that handles messages only:
///
/// ```
/// use switchyard::live::{Message, WebSocket};
/// use switchyard::{Request, Router};
///
/// let app = Router::new().websocket("/echo", |_req: &Request| {
///     |ws: &WebSocket, message: Message| {
///         let _ = ws.send(message);
///     }
/// });
/// ```
///
/// A panic in a callback closes the connection with 1011 (internal error) and costs no
/// worker.
pub trait WebSocketSession: Send + 'static {
    /// The connection is open: called before the 101 response is written (so a client that
    /// sees it knows this ran, e.g. that it is subscribed to a [`Topic`](super::Topic));
    /// `ws` may be kept and cloned to send later, and what it sends follows the 101.
    fn on_open(&mut self, _ws: &WebSocket) {}

    /// A complete text or binary message arrived (pings and pongs are answered and
    /// counted by the server, not passed here).
    fn on_message(&mut self, ws: &WebSocket, message: Message);

    /// The connection is closing or gone: with the client's close frame if the client
    /// closed (the server answers it with the same code), `None` if the server started
    /// the close ([`WebSocket::close`], a limit, the idle timeout, shutdown) or the
    /// connection was lost. Called once, and nothing after it; sends fail from here on.
    /// Not called after a callback panicked (the session's state may be broken), nor for
    /// connections still open when a shutdown's drain time runs out.
    fn on_close(&mut self, _ws: &WebSocket, _frame: Option<CloseFrame>) {}
}

impl<F> WebSocketSession for F
where
    F: FnMut(&WebSocket, Message) + Send + 'static,
{
    fn on_message(&mut self, ws: &WebSocket, message: Message) {
        self(ws, message);
    }
}

/// A session made of closures: `on_message`, with [`on_open`](Session::on_open) and
/// [`on_close`](Session::on_close) when they are wanted (to subscribe to a
/// [`Topic`](super::Topic) on open, say), without a type of its own.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use switchyard::live::{self, Message, Topic, WebSocket};
/// use switchyard::{Request, Router};
///
/// let room = Arc::new(Topic::new());
/// let app = Router::new().websocket("/room", move |_: &Request| {
///     let (joining, speaking) = (Arc::clone(&room), Arc::clone(&room));
///     live::session(move |_: &WebSocket, message: Message| {
///         speaking.send(message);
///     })
///     .on_open(move |ws: &WebSocket| joining.subscribe(ws.clone()))
///     .on_close(|_: &WebSocket, _| {})
/// });
/// ```
pub fn session<M>(on_message: M) -> Session<M, NoOpen, NoClose>
where
    M: FnMut(&WebSocket, Message) + Send + 'static,
{
    Session {
        on_message,
        on_open: |_| {},
        on_close: |_, _| {},
    }
}

/// What a [`session`] does on open until [`Session::on_open`] says: nothing.
pub type NoOpen = fn(&WebSocket);
/// What a [`session`] does on close until [`Session::on_close`] says: nothing.
pub type NoClose = fn(&WebSocket, Option<CloseFrame>);

/// A [`WebSocketSession`] made of closures, by [`session`].
#[derive(Debug, Clone, Copy)]
#[must_use = "a session does nothing until a handler returns it"]
pub struct Session<M, O, C> {
    on_message: M,
    on_open: O,
    on_close: C,
}

impl<M, O, C> Session<M, O, C> {
    /// Calls `on_open` when the connection opens; see [`WebSocketSession::on_open`].
    pub fn on_open<O2>(self, on_open: O2) -> Session<M, O2, C>
    where
        O2: FnMut(&WebSocket) + Send + 'static,
    {
        Session {
            on_message: self.on_message,
            on_open,
            on_close: self.on_close,
        }
    }

    /// Calls `on_close` when the connection closes; see [`WebSocketSession::on_close`].
    pub fn on_close<C2>(self, on_close: C2) -> Session<M, O, C2>
    where
        C2: FnMut(&WebSocket, Option<CloseFrame>) + Send + 'static,
    {
        Session {
            on_message: self.on_message,
            on_open: self.on_open,
            on_close,
        }
    }
}

impl<M, O, C> WebSocketSession for Session<M, O, C>
where
    M: FnMut(&WebSocket, Message) + Send + 'static,
    O: FnMut(&WebSocket) + Send + 'static,
    C: FnMut(&WebSocket, Option<CloseFrame>) + Send + 'static,
{
    fn on_open(&mut self, ws: &WebSocket) {
        (self.on_open)(ws);
    }

    fn on_message(&mut self, ws: &WebSocket, message: Message) {
        (self.on_message)(ws, message);
    }

    fn on_close(&mut self, ws: &WebSocket, frame: Option<CloseFrame>) {
        (self.on_close)(ws, frame);
    }
}

/// A client's request to open a WebSocket, checked (RFC 6455 §4.2.1). Turn it into the
/// `101 Switching Protocols` response with [`on_upgrade`](Self::on_upgrade), from any
/// handler: behind middleware (authentication, say), with its own configuration.
///
/// ```
/// use switchyard::live::{Message, WebSocket, WebSocketUpgrade};
/// use switchyard::http::Method;
/// use switchyard::{Request, Response, Router};
///
/// let app = Router::new().route(Method::GET, "/chat", |req: &Request| {
///     let upgrade = match WebSocketUpgrade::from_request(req) {
///         Ok(upgrade) => upgrade.protocols(["chat.v2", "chat.v1"]),
///         Err(refusal) => return refusal,
///     };
///     upgrade.on_upgrade(|ws: &WebSocket, message: Message| {
///         let _ = ws.send(message);
///     })
/// });
/// ```
#[derive(Debug)]
pub struct WebSocketUpgrade {
    accept: String,
    offered: Vec<String>,
    protocol: Option<String>,
    config: WebSocketConfig,
}

impl WebSocketUpgrade {
    /// Checks the handshake: `GET`, HTTP/1.1 or later, no body, `Connection: upgrade`,
    /// `Upgrade: websocket`, a 16-byte base64 `Sec-WebSocket-Key` and
    /// `Sec-WebSocket-Version: 13`.
    ///
    /// The `Origin` header is not checked: a browser on any site may open a WebSocket to
    /// your server, with the user's cookies. If the session trusts cookies, compare
    /// `req.headers()["origin"]` with your own origins first (cross-site WebSocket
    /// hijacking).
    ///
    /// # Errors
    /// The response to send instead: 405 for a method other than `GET` or `HEAD`, 426
    /// with `Sec-WebSocket-Version: 13` for another version, 400 otherwise.
    #[allow(clippy::result_large_err)] // the refusal is the response to send
    pub fn from_request(req: &Request) -> Result<Self, Response> {
        let bad = |why: &str| {
            Response::text(format!("WebSocket handshake refused: {why}\n"))
                .with_status(StatusCode::BAD_REQUEST)
        };
        if req.method() == Method::HEAD {
            // The route answers HEAD as it does GET; a HEAD cannot switch protocols.
            return Err(bad("HEAD cannot open a WebSocket"));
        }
        if req.method() != Method::GET {
            return Err(Response::new(StatusCode::METHOD_NOT_ALLOWED)
                .with_header(header::ALLOW, "GET, HEAD"));
        }
        if req.version() < Version::HTTP_11 {
            return Err(bad("HTTP/1.1 required"));
        }
        let headers = req.headers();
        let has_body = headers.contains_key(header::TRANSFER_ENCODING)
            || headers
                .get(header::CONTENT_LENGTH)
                .is_some_and(|len| len.as_bytes() != b"0");
        if has_body {
            // What follows the head must be frames.
            return Err(bad("a handshake has no body"));
        }
        if !has_token(headers, header::CONNECTION, "upgrade") {
            return Err(bad("no `Connection: upgrade`"));
        }
        if !has_token(headers, header::UPGRADE, "websocket") {
            return Err(bad("no `Upgrade: websocket`"));
        }
        if headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|v| v.as_bytes() != b"13")
        {
            return Err(Response::text("WebSocket version 13 required\n")
                .with_status(StatusCode::UPGRADE_REQUIRED)
                .with_header(header::SEC_WEBSOCKET_VERSION, "13"));
        }
        let key = match headers
            .get_all(header::SEC_WEBSOCKET_KEY)
            .iter()
            .collect::<Vec<_>>()[..]
        {
            [key] if is_valid_key(key.as_bytes()) => key,
            _ => return Err(bad("missing or malformed Sec-WebSocket-Key")),
        };
        let offered = headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        Ok(Self {
            accept: tungstenite::handshake::derive_accept_key(key.as_bytes()),
            offered,
            protocol: None,
            config: WebSocketConfig::default(),
        })
    }

    /// The subprotocols this endpoint speaks, preferred first: the first of them that the
    /// client offered is agreed (`Sec-WebSocket-Protocol`). None in common: none is
    /// agreed, and the client decides whether to go on.
    #[must_use]
    pub fn protocols<I, S>(mut self, supported: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.protocol = supported
            .into_iter()
            .find(|p| self.offered.iter().any(|o| o == p.as_ref()))
            .map(|p| p.as_ref().to_owned());
        self
    }

    /// The subprotocols the client offered, in its order.
    pub fn offered_protocols(&self) -> &[String] {
        &self.offered
    }

    /// The subprotocol agreed by [`protocols`](Self::protocols), if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Limits and timers for this connection (default: [`WebSocketConfig::default`]).
    #[must_use]
    pub fn config(mut self, config: WebSocketConfig) -> Self {
        self.config = config;
        self
    }

    /// The `101 Switching Protocols` response: once written, the connection is served by
    /// `session`. Middleware may add headers; a response rebuilt without this one's
    /// extensions does not switch (the client gets a 500).
    pub fn on_upgrade<S: WebSocketSession>(self, session: S) -> Response {
        let protocol: Option<Arc<str>> = self.protocol.as_deref().map(Arc::from);
        let handle = WebSocket {
            outbox: Arc::new(Outbox::new(self.config.max_queued_bytes)),
            protocol,
        };
        let mut response = Response::new(StatusCode::SWITCHING_PROTOCOLS)
            .with_header(header::UPGRADE, HeaderValue::from_static("websocket"))
            .with_header(header::SEC_WEBSOCKET_ACCEPT, self.accept);
        if let Some(protocol) = self.protocol {
            response = response.with_header(header::SEC_WEBSOCKET_PROTOCOL, protocol);
        }
        let accepted = Accepted {
            session: Box::new(session),
            handle,
            config: self.config,
            ticket: None,
        };
        response
            .extensions_mut()
            .insert(LiveUpgrade::new(Upgrade::WebSocket(Box::new(accepted))));
        response
    }
}

/// An accepted WebSocket, on its way to its connection, then its state there. Dropping
/// it (the connection ended, or never switched) closes the handle.
pub(crate) struct Accepted {
    pub(crate) session: Box<dyn WebSocketSession>,
    pub(crate) handle: WebSocket,
    pub(crate) config: WebSocketConfig,
    pub(crate) ticket: Option<super::LiveTicket>,
}

impl Drop for Accepted {
    fn drop(&mut self) {
        // The place among live connections first: whoever sees the handle closed may
        // open another at once.
        drop(self.ticket.take());
        self.handle.outbox.close();
    }
}

/// Whether a comma-separated header has `token` (case-insensitive).
fn has_token(headers: &http::HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// A key is 16 bytes in base64: 22 characters and `==`.
fn is_valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut builder = http::Request::builder().method("GET").uri("/ws");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        Request::from(builder.body(Vec::new()).unwrap())
    }

    const GOOD: [(&str, &str); 4] = [
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "WebSocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[test]
    fn a_valid_handshake_gets_the_rfc_accept_key() {
        let upgrade = WebSocketUpgrade::from_request(&request(&GOOD)).unwrap();
        let response = upgrade.on_upgrade(|_: &WebSocket, _: Message| {});
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        // RFC 6455 §1.3's example.
        assert_eq!(
            response.headers()["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(response.extensions().get::<LiveUpgrade>().is_some());
    }

    #[test]
    fn bad_handshakes_are_refused_with_a_precise_status() {
        let without = |name: &str| {
            let headers: Vec<_> = GOOD.iter().copied().filter(|(n, _)| *n != name).collect();
            WebSocketUpgrade::from_request(&request(&headers))
                .unwrap_err()
                .status()
        };
        assert_eq!(without("connection"), StatusCode::BAD_REQUEST);
        assert_eq!(without("upgrade"), StatusCode::BAD_REQUEST);
        assert_eq!(without("sec-websocket-key"), StatusCode::BAD_REQUEST);
        assert_eq!(
            without("sec-websocket-version"),
            StatusCode::UPGRADE_REQUIRED
        );
        let mut short = GOOD.to_vec();
        short[3] = ("sec-websocket-key", "c2hvcnQ=");
        assert_eq!(
            WebSocketUpgrade::from_request(&request(&short))
                .unwrap_err()
                .status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn the_first_supported_protocol_the_client_offered_is_agreed() {
        let mut headers = GOOD.to_vec();
        headers.push(("sec-websocket-protocol", "chat.v1, chat.v2"));
        let upgrade = WebSocketUpgrade::from_request(&request(&headers))
            .unwrap()
            .protocols(["chat.v2", "chat.v1"]);
        assert_eq!(upgrade.protocol(), Some("chat.v2"));
        let response = upgrade.on_upgrade(|_: &WebSocket, _: Message| {});
        assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v2");
        let none = WebSocketUpgrade::from_request(&request(&GOOD))
            .unwrap()
            .protocols(["chat.v2"]);
        assert_eq!(none.protocol(), None);
    }
}

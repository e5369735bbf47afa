//! Live connections over real sockets: WebSocket with tungstenite's client and with raw
//! frames, Server-Sent Events with raw HTTP.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use http::Method;
use switchyard::live::{
    CloseCode, CloseFrame, Event, EventStream, Message, SendError, Topic, WebSocket,
    WebSocketConfig, WebSocketSession, WebSocketUpgrade,
};
use switchyard::{Request, Response, Router, Server, ServerBuilder};
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;

use support::{IO_TIMEOUT, connect, spawn};

type Client = tungstenite::WebSocket<MaybeTlsStream<TcpStream>>;

fn echo(_req: &Request) -> impl WebSocketSession + use<> {
    |ws: &WebSocket, message: Message| {
        let _ = ws.send(message);
    }
}

fn echo_server() -> ServerBuilder {
    Server::builder().threads(2).websocket("/ws", echo).route(
        Method::GET,
        "/plaintext",
        |_: &Request| "Hello, World!",
    )
}

/// A tungstenite client connected to `path`, every read bounded.
fn ws_client(addr: SocketAddr, path: &str) -> Client {
    ws_client_with(addr, path, &[])
}

fn ws_client_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Client {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let (client, response) = tungstenite::connect(request).expect("handshake");
    assert_eq!(response.status(), 101);
    if let MaybeTlsStream::Plain(stream) = client.get_ref() {
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    }
    client
}

/// Reads the next text, binary or close message (pings are answered by tungstenite).
fn next(client: &mut Client) -> Message {
    loop {
        match client.read().expect("read a message") {
            Message::Ping(_) | Message::Pong(_) => {}
            message => return message,
        }
    }
}

fn close_code(message: Message) -> CloseCode {
    match message {
        Message::Close(Some(frame)) => frame.code,
        other => panic!("expected a close frame, got {other:?}"),
    }
}

const HANDSHAKE: &str = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
    Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// A client frame (masked, as clients must).
fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![opcode | if fin { 0x80 } else { 0 }];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A server frame: (fin, opcode, payload).
fn read_frame(stream: &mut TcpStream) -> (bool, u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).expect("frame head");
    assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut n = [0u8; 2];
            stream.read_exact(&mut n).unwrap();
            u64::from(u16::from_be_bytes(n))
        }
        127 => {
            let mut n = [0u8; 8];
            stream.read_exact(&mut n).unwrap();
            u64::from_be_bytes(n)
        }
        n => u64::from(n),
    };
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload).unwrap();
    (head[0] & 0x80 != 0, head[0] & 0x0f, payload)
}

/// A raw connection after a handshake sent with `extra` bytes in the same write.
fn raw_ws(addr: SocketAddr, extra: &[u8]) -> TcpStream {
    let mut stream = connect(addr);
    let mut bytes = HANDSHAKE.as_bytes().to_vec();
    bytes.extend_from_slice(extra);
    stream.write_all(&bytes).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("101 head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    assert!(head.contains("connection: upgrade"));
    stream
}

fn close_frame_code(payload: &[u8]) -> u16 {
    u16::from_be_bytes([payload[0], payload[1]])
}

#[test]
fn echoes_text_and_binary_messages() {
    let server = spawn(echo_server());
    let mut client = ws_client(server.local_addr(), "/ws");
    client.send(Message::text("hello")).unwrap();
    assert_eq!(next(&mut client), Message::text("hello"));
    client.send(Message::binary(vec![0u8, 1, 2, 255])).unwrap();
    assert_eq!(next(&mut client), Message::binary(vec![0u8, 1, 2, 255]));
    // Over the read buffer, under the 64 KiB default limit.
    let big = "x".repeat(60_000);
    client.send(Message::text(big.clone())).unwrap();
    assert_eq!(next(&mut client), Message::text(big));
}

#[test]
fn frames_sent_with_the_handshake_are_not_lost() {
    let server = spawn(echo_server());
    let mut stream = raw_ws(server.local_addr(), &frame(0x1, true, b"early"));
    assert_eq!(read_frame(&mut stream), (true, 0x1, b"early".to_vec()));
}

#[test]
fn fragmented_messages_are_reassembled() {
    let server = spawn(echo_server());
    let mut stream = raw_ws(server.local_addr(), &[]);
    let mut bytes = frame(0x1, false, b"frag");
    // A ping between fragments is allowed (and answered).
    bytes.extend(frame(0x9, true, b"p"));
    bytes.extend(frame(0x0, false, b"men"));
    bytes.extend(frame(0x0, true, b"ted"));
    stream.write_all(&bytes).unwrap();
    assert_eq!(read_frame(&mut stream), (true, 0xA, b"p".to_vec()));
    assert_eq!(read_frame(&mut stream), (true, 0x1, b"fragmented".to_vec()));
}

#[test]
fn pings_get_pongs_with_the_same_payload() {
    let server = spawn(echo_server());
    let mut stream = raw_ws(server.local_addr(), &frame(0x9, true, b"are you there"));
    assert_eq!(
        read_frame(&mut stream),
        (true, 0xA, b"are you there".to_vec())
    );
}

#[test]
fn the_server_pings_and_drops_a_client_that_never_answers() {
    let config = WebSocketConfig::default()
        .ping_interval(Some(Duration::from_millis(100)))
        .pong_timeout(Duration::from_millis(200));
    let server = spawn(Server::builder().threads(1).route(
        Method::GET,
        "/ws",
        move |req: &Request| match WebSocketUpgrade::from_request(req) {
            Ok(upgrade) => upgrade.config(config.clone()).on_upgrade(echo(req)),
            Err(refusal) => refusal,
        },
    ));
    let mut stream = raw_ws(server.local_addr(), &[]);
    let started = Instant::now();
    assert_eq!(read_frame(&mut stream).1, 0x9, "a ping");
    // No pong: the connection is dropped after the pong timeout.
    assert!(support::is_closed(&mut stream));
    assert!(started.elapsed() < IO_TIMEOUT);
    // One that answers stays.
    let mut client = ws_client(server.local_addr(), "/ws");
    let mut pings = 0;
    while pings < 3 {
        match client.read().unwrap() {
            Message::Ping(_) => pings += 1,
            other => panic!("{other:?}"),
        }
    }
    client.send(Message::text("still here")).unwrap();
    assert_eq!(next(&mut client), Message::text("still here"));
}

fn limited_server(config: WebSocketConfig) -> ServerBuilder {
    Server::builder()
        .threads(2)
        .route(
            Method::GET,
            "/ws",
            move |req: &Request| match WebSocketUpgrade::from_request(req) {
                Ok(upgrade) => upgrade.config(config.clone()).on_upgrade(echo(req)),
                Err(refusal) => refusal,
            },
        )
}

#[test]
fn an_oversize_message_closes_with_1009() {
    let server = spawn(limited_server(
        WebSocketConfig::default().max_message_size(1024),
    ));
    let mut client = ws_client(server.local_addr(), "/ws");
    client.send(Message::text("small")).unwrap();
    assert_eq!(next(&mut client), Message::text("small"));
    client.send(Message::binary(vec![7u8; 4096])).unwrap();
    assert_eq!(close_code(next(&mut client)), CloseCode::Size);
}

#[test]
fn an_oversize_fragmented_message_closes_with_1009() {
    let server = spawn(limited_server(
        WebSocketConfig::default().max_message_size(1024),
    ));
    let mut stream = raw_ws(server.local_addr(), &[]);
    // Frames of 500 bytes, within the frame limit, make a message over the limit.
    let mut bytes = frame(0x2, false, &[1u8; 500]);
    bytes.extend(frame(0x0, false, &[1u8; 500]));
    bytes.extend(frame(0x0, true, &[1u8; 500]));
    stream.write_all(&bytes).unwrap();
    let (_, opcode, payload) = read_frame(&mut stream);
    assert_eq!((opcode, close_frame_code(&payload)), (0x8, 1009));
}

#[test]
fn invalid_utf8_closes_with_1007_and_bad_frames_with_1002() {
    let server = spawn(echo_server());
    let mut stream = raw_ws(server.local_addr(), &frame(0x1, true, &[0xff, 0xfe, 0x41]));
    let (_, opcode, payload) = read_frame(&mut stream);
    assert_eq!((opcode, close_frame_code(&payload)), (0x8, 1007));
    assert!(support::is_closed(&mut stream));

    // An unmasked client frame is a protocol error.
    let mut stream = raw_ws(server.local_addr(), &[0x81, 0x02, b'h', b'i']);
    let (_, opcode, payload) = read_frame(&mut stream);
    assert_eq!((opcode, close_frame_code(&payload)), (0x8, 1002));
    // And so is a reserved opcode.
    let mut stream = raw_ws(server.local_addr(), &frame(0x3, true, b""));
    let (_, opcode, payload) = read_frame(&mut stream);
    assert_eq!((opcode, close_frame_code(&payload)), (0x8, 1002));
}

/// A session that gives its handle to the test thread when it opens, and ignores messages.
struct Share(mpsc::Sender<WebSocket>);

impl WebSocketSession for Share {
    fn on_open(&mut self, ws: &WebSocket) {
        let _ = self.0.send(ws.clone());
    }
    fn on_message(&mut self, _: &WebSocket, _: Message) {}
}

/// Records a session's events.
struct Recorder(mpsc::Sender<String>);

impl WebSocketSession for Recorder {
    fn on_open(&mut self, ws: &WebSocket) {
        let _ = self
            .0
            .send(format!("open {}", ws.protocol().unwrap_or("-")));
    }
    fn on_message(&mut self, ws: &WebSocket, message: Message) {
        let _ = self
            .0
            .send(format!("message {}", message.to_text().unwrap_or("?")));
        let _ = ws.send(message);
    }
    fn on_close(&mut self, _ws: &WebSocket, frame: Option<CloseFrame>) {
        let code = frame.map_or("none".to_owned(), |f| u16::from(f.code).to_string());
        let _ = self.0.send(format!("close {code}"));
    }
}

fn recorded(events: &mpsc::Receiver<String>) -> String {
    events.recv_timeout(IO_TIMEOUT).expect("a session event")
}

#[test]
fn a_client_close_is_answered_with_its_code_and_reported_once() {
    let (sender, events) = mpsc::channel();
    let server = spawn(
        Server::builder()
            .threads(2)
            .websocket("/ws", move |_: &Request| Recorder(sender.clone())),
    );
    let mut client = ws_client(server.local_addr(), "/ws");
    assert_eq!(recorded(&events), "open -");
    client.send(Message::text("hi")).unwrap();
    assert_eq!(next(&mut client), Message::text("hi"));
    assert_eq!(recorded(&events), "message hi");
    client
        .close(Some(CloseFrame {
            code: CloseCode::Library(4000),
            reason: "bye".into(),
        }))
        .unwrap();
    assert_eq!(close_code(next(&mut client)), CloseCode::Library(4000));
    assert_eq!(recorded(&events), "close 4000");
    // The server closes the TCP connection after the handshake.
    match client.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("{other:?}"),
    }
    assert!(events.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn a_handle_sends_and_closes_from_another_thread() {
    let (sender, handles) = mpsc::channel::<WebSocket>();
    let server = spawn(
        Server::builder()
            .threads(1)
            .websocket("/ws", move |_: &Request| Share(sender.clone())),
    );
    let mut client = ws_client(server.local_addr(), "/ws");
    let ws = handles.recv_timeout(IO_TIMEOUT).unwrap();
    let worker = std::thread::spawn(move || {
        for i in 0..100 {
            ws.send(format!("push {i}")).unwrap();
        }
        ws
    });
    for i in 0..100 {
        assert_eq!(next(&mut client), Message::text(format!("push {i}")));
    }
    let ws = worker.join().unwrap();
    assert!(ws.close(CloseCode::Normal, "done"));
    assert!(!ws.close(CloseCode::Normal, "again"));
    assert_eq!(close_code(next(&mut client)), CloseCode::Normal);
    // tungstenite answers the close; the server then ends the connection.
    assert!(matches!(
        client.read(),
        Err(tungstenite::Error::ConnectionClosed)
    ));
    assert_eq!(ws.send("late"), Err(SendError::Closed));
}

#[test]
fn live_connections_hold_no_worker() {
    // One worker, many open WebSockets: plain requests and every socket are still served.
    let server = spawn(echo_server().threads(1));
    let addr = server.local_addr();
    let mut clients: Vec<Client> = (0..50).map(|_| ws_client(addr, "/ws")).collect();
    assert_eq!(support::get(addr, "/plaintext").text(), "Hello, World!");
    for (i, client) in clients.iter_mut().enumerate() {
        client.send(Message::text(format!("{i}"))).unwrap();
    }
    for (i, client) in clients.iter_mut().enumerate().rev() {
        assert_eq!(next(client), Message::text(format!("{i}")));
    }
}

#[test]
fn a_panicking_session_closes_with_1011_and_the_server_goes_on() {
    let server = spawn(echo_server().websocket("/boom", |_: &Request| {
        |_: &WebSocket, message: Message| {
            if message.to_text().unwrap_or("") == "boom" {
                panic!("session bug");
            }
        }
    }));
    let addr = server.local_addr();
    let mut client = ws_client(addr, "/boom");
    client.send(Message::text("boom")).unwrap();
    assert_eq!(close_code(next(&mut client)), CloseCode::Error);
    let mut other = ws_client(addr, "/ws");
    other.send(Message::text("ok")).unwrap();
    assert_eq!(next(&mut other), Message::text("ok"));
}

#[test]
fn a_client_that_does_not_read_is_closed_when_its_queue_overflows() {
    let (sender, handles) = mpsc::channel::<WebSocket>();
    let config = WebSocketConfig::default().max_queued_bytes(64 * 1024);
    let server = spawn(Server::builder().threads(1).route(
        Method::GET,
        "/ws",
        move |req: &Request| {
            match WebSocketUpgrade::from_request(req) {
                Ok(upgrade) => upgrade
                    .config(config.clone())
                    .on_upgrade(Share(sender.clone())),
                Err(refusal) => refusal,
            }
        },
    ));
    let _client = raw_ws(server.local_addr(), &[]);
    let ws = handles.recv_timeout(IO_TIMEOUT).unwrap();
    let chunk = vec![0u8; 16 * 1024];
    let deadline = Instant::now() + IO_TIMEOUT;
    let error = loop {
        // The socket's buffers take a few MiB first; then the queue fills.
        match ws.send(Message::binary(chunk.clone())) {
            Ok(()) => assert!(Instant::now() < deadline, "never overflowed"),
            Err(error) => break error,
        }
    };
    assert_eq!(error, SendError::Full);
    assert!(ws.is_closed());
    assert_eq!(ws.send("more"), Err(SendError::Closed));
}

#[test]
fn shutdown_closes_websockets_with_1001_and_counts_them() {
    let server = spawn(echo_server());
    let addr = server.local_addr();
    let mut clients: Vec<Client> = (0..3).map(|_| ws_client(addr, "/ws")).collect();
    for client in &mut clients {
        client.send(Message::text("x")).unwrap();
        assert_eq!(next(client), Message::text("x"));
    }
    let (done_sender, done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_sender.send(server.shutdown());
    });
    for client in &mut clients {
        assert_eq!(close_code(next(client)), CloseCode::Away);
    }
    let report = done.recv_timeout(IO_TIMEOUT).unwrap().unwrap();
    assert_eq!(report.live_connections_closed, 3);
    assert!(report.is_clean(), "{report:?}");
}

#[test]
fn live_connections_over_the_cap_get_503() {
    let server = spawn(echo_server().max_live_connections(2));
    let addr = server.local_addr();
    let first = ws_client(addr, "/ws");
    let _second = ws_client(addr, "/ws");
    let refused = support::raw(addr, HANDSHAKE.as_bytes());
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    drop(first);
    // The first one's place frees once the server sees it gone.
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let reply = support::raw(addr, HANDSHAKE.as_bytes());
        if reply.starts_with("HTTP/1.1 101") {
            break;
        }
        assert!(Instant::now() < deadline, "the place never freed: {reply}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_handshakes_get_a_precise_status() {
    let server = spawn(echo_server());
    let addr = server.local_addr();
    let old_version = HANDSHAKE.replace("Version: 13", "Version: 8");
    let reply = support::raw(addr, old_version.as_bytes());
    assert!(reply.starts_with("HTTP/1.1 426"), "{reply}");
    assert!(reply.contains("sec-websocket-version: 13"));
    let no_key = HANDSHAKE.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
    assert!(support::raw(addr, no_key.as_bytes()).starts_with("HTTP/1.1 400"));
    let post = HANDSHAKE.replace("GET", "POST");
    assert!(support::raw(addr, post.as_bytes()).starts_with("HTTP/1.1 405"));
    let head = HANDSHAKE.replace("GET", "HEAD");
    assert!(support::raw(addr, head.as_bytes()).starts_with("HTTP/1.1 400"));
    let with_body = HANDSHAKE.replace("\r\n\r\n", "\r\nContent-Length: 2\r\n\r\nhi");
    assert!(support::raw(addr, with_body.as_bytes()).starts_with("HTTP/1.1 400"));
    // A plain GET of the route is a bad handshake, not a hang.
    assert_eq!(support::get(addr, "/ws").status, 400);
}

#[test]
fn subprotocols_are_negotiated() {
    let (sender, events) = mpsc::channel();
    let server = spawn(Server::builder().threads(1).route(
        Method::GET,
        "/chat",
        move |req: &Request| {
            match WebSocketUpgrade::from_request(req) {
                Ok(upgrade) => upgrade
                    .protocols(["chat.v2", "chat.v1"])
                    .on_upgrade(Recorder(sender.clone())),
                Err(refusal) => refusal,
            }
        },
    ));
    let (_client, response) = tungstenite::connect({
        let mut request = format!("ws://{}/chat", server.local_addr())
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "chat.v1, chat.v2".parse().unwrap(),
        );
        request
    })
    .unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v2");
    assert_eq!(recorded(&events), "open chat.v2");
}

#[test]
fn a_topic_broadcasts_to_every_subscriber() {
    struct Member(Topic<WebSocket>);
    impl WebSocketSession for Member {
        fn on_open(&mut self, ws: &WebSocket) {
            self.0.subscribe(ws.clone());
            let _ = ws.send("joined");
        }
        fn on_message(&mut self, _: &WebSocket, message: Message) {
            self.0.send(message);
        }
        fn on_close(&mut self, ws: &WebSocket, _: Option<CloseFrame>) {
            self.0.unsubscribe(ws);
        }
    }
    let room = Topic::new();
    let members = room.clone();
    let server = spawn(
        Server::builder()
            .threads(2)
            .websocket("/room", move |_: &Request| Member(members.clone())),
    );
    let mut clients: Vec<Client> = (0..20)
        .map(|_| ws_client(server.local_addr(), "/room"))
        .collect();
    for client in &mut clients {
        assert_eq!(next(client), Message::text("joined"));
    }
    assert_eq!(room.len(), 20);
    clients[3].send(Message::text("hello all")).unwrap();
    for client in &mut clients {
        assert_eq!(next(client), Message::text("hello all"));
    }
    // One leaves; the next broadcast reaches the rest.
    let mut gone = clients.pop().unwrap();
    gone.close(None).unwrap();
    let _ = next(&mut gone);
    let deadline = Instant::now() + IO_TIMEOUT;
    while room.len() != 19 {
        assert!(Instant::now() < deadline, "never unsubscribed");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(room.send(Message::text("from outside")), 19);
    for client in &mut clients {
        assert_eq!(next(client), Message::text("from outside"));
    }
}

// ---- Server-Sent Events ----

/// Reads an event stream's head, then its chunks as they come.
struct EventReader {
    reader: BufReader<TcpStream>,
    head: String,
}

impl EventReader {
    fn open(addr: SocketAddr, path: &str, headers: &str) -> Self {
        let mut stream = connect(addr);
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n").unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            head.push_str(&line);
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        Self { reader, head }
    }

    /// The next chunk's data; `None` at the last chunk.
    fn chunk(&mut self) -> Option<String> {
        let mut size = String::new();
        self.reader.read_line(&mut size).expect("a chunk size");
        let size = usize::from_str_radix(size.trim(), 16).expect("hex size");
        let mut data = vec![0u8; size + 2];
        self.reader.read_exact(&mut data).unwrap();
        assert!(data.ends_with(b"\r\n"));
        data.truncate(size);
        (size > 0).then(|| String::from_utf8(data).unwrap())
    }
}

fn ticks(start: u64) -> impl Fn(&Request) -> Response + Send + Sync + 'static {
    move |req: &Request| {
        let first = req
            .last_event_id()
            .and_then(|id| id.parse::<u64>().ok())
            .map_or(start, |id| id + 1);
        let (response, events) = Response::events();
        std::thread::spawn(move || {
            for i in first..first + 3 {
                if events
                    .send(&Event::new().id(i.to_string()).data(format!("tick {i}")))
                    .is_err()
                {
                    return;
                }
            }
        });
        response
    }
}

#[test]
fn an_event_stream_frames_events_and_ends_when_its_senders_go() {
    let server = spawn(
        Server::builder()
            .threads(1)
            .route(Method::GET, "/events", ticks(1)),
    );
    let mut events = EventReader::open(server.local_addr(), "/events", "");
    assert!(events.head.starts_with("HTTP/1.1 200"), "{}", events.head);
    let head = events.head.to_ascii_lowercase();
    assert!(head.contains("content-type: text/event-stream"));
    assert!(head.contains("transfer-encoding: chunked"));
    assert!(head.contains("cache-control: no-cache"));
    for i in 1..=3 {
        assert_eq!(
            events.chunk().unwrap(),
            format!("id: {i}\ndata: tick {i}\n\n")
        );
    }
    // The sender thread ended: the last chunk, then the connection closes.
    assert_eq!(events.chunk(), None);
    assert!(support::is_closed(events.reader.get_mut()));
}

#[test]
fn a_reconnecting_client_resumes_after_its_last_event_id() {
    let server = spawn(
        Server::builder()
            .threads(1)
            .route(Method::GET, "/events", ticks(1)),
    );
    let mut events = EventReader::open(server.local_addr(), "/events", "Last-Event-ID: 41\r\n");
    assert_eq!(events.chunk().unwrap(), "id: 42\ndata: tick 42\n\n");
}

#[test]
fn an_idle_event_stream_gets_keep_alive_comments_and_a_gone_client_fails_sends() {
    let (sender, streams) = mpsc::channel::<EventStream>();
    let server = spawn(Server::builder().threads(1).route(
        Method::GET,
        "/events",
        move |_: &Request| {
            let (response, events) =
                Response::events_with_keep_alive(Some(Duration::from_millis(50)));
            let _ = sender.send(events);
            response
        },
    ));
    let mut events = EventReader::open(server.local_addr(), "/events", "");
    let stream = streams.recv_timeout(IO_TIMEOUT).unwrap();
    assert_eq!(events.chunk().unwrap(), ":\n\n");
    assert_eq!(events.chunk().unwrap(), ":\n\n");
    stream
        .send(&Event::new().event("note").data("a\nb"))
        .unwrap();
    // Keep-alives may come first.
    let event = loop {
        let chunk = events.chunk().unwrap();
        if chunk != ":\n\n" {
            break chunk;
        }
    };
    assert_eq!(event, "event: note\ndata: a\ndata: b\n\n");
    drop(events);
    let deadline = Instant::now() + IO_TIMEOUT;
    while stream.send(&Event::new().data("anyone?")).is_ok() {
        assert!(Instant::now() < deadline, "sends never failed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(stream.is_closed());
}

#[test]
fn shutdown_ends_event_streams_and_counts_them() {
    let (sender, streams) = mpsc::channel::<EventStream>();
    let server = spawn(Server::builder().threads(1).route(
        Method::GET,
        "/events",
        move |_: &Request| {
            let (response, events) = Response::events();
            let _ = sender.send(events);
            response
        },
    ));
    let mut events = EventReader::open(server.local_addr(), "/events", "");
    let _stream = streams.recv_timeout(IO_TIMEOUT).unwrap();
    let report = server.shutdown().unwrap();
    assert_eq!(events.chunk(), None);
    assert_eq!(report.live_connections_closed, 1);
}

#[test]
fn head_of_an_event_stream_is_just_the_head() {
    let server = spawn(
        Server::builder()
            .threads(1)
            .route(Method::GET, "/events", ticks(1)),
    );
    let reply = support::raw(
        server.local_addr(),
        b"HEAD /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("\r\n\r\n"), "{reply}");
}

#[test]
fn an_event_stream_can_be_part_of_a_nested_app() {
    let app = Router::new().nest(
        "/api",
        Router::new().route(Method::GET, "/events", ticks(5)),
    );
    let server = spawn(Server::builder().threads(1).app(app));
    let mut events = EventReader::open(server.local_addr(), "/api/events", "");
    assert_eq!(events.chunk().unwrap(), "id: 5\ndata: tick 5\n\n");
}

#[test]
fn event_streams_free_their_place_among_live_connections_when_clients_leave() {
    let (sender, streams) = mpsc::channel::<EventStream>();
    let server = spawn(Server::builder().threads(1).max_live_connections(2).route(
        Method::GET,
        "/events",
        move |_: &Request| {
            let (response, events) = Response::events();
            let _ = sender.send(events);
            response
        },
    ));
    let addr = server.local_addr();
    let request = b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut kept = Vec::new();
    for _ in 0..5 {
        let first = EventReader::open(addr, "/events", "");
        let second = EventReader::open(addr, "/events", "");
        assert!(first.head.starts_with("HTTP/1.1 200"), "{}", first.head);
        assert!(second.head.starts_with("HTTP/1.1 200"), "{}", second.head);
        kept.push(streams.recv_timeout(IO_TIMEOUT).unwrap());
        kept.push(streams.recv_timeout(IO_TIMEOUT).unwrap());
        let refused = support::raw(addr, request);
        assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
        // The refused one's handler ran too: its stream is closed from the start.
        assert!(streams.recv_timeout(IO_TIMEOUT).unwrap().is_closed());
        drop((first, second));
        // Both places free once the server sees the clients gone.
        let deadline = Instant::now() + IO_TIMEOUT;
        while kept.iter().any(|s| !s.is_closed()) {
            assert!(Instant::now() < deadline, "the streams never closed");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Waits long enough for an idle server's runners to retire (they lead for 50 ms), so
/// that what follows must start one.
fn let_the_server_go_idle() {
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn an_idle_server_still_delivers_what_a_background_thread_sends() {
    let (sender, handles) = mpsc::channel::<WebSocket>();
    let server = spawn(
        Server::builder()
            .threads(2)
            .websocket("/ws", move |_: &Request| Share(sender.clone())),
    );
    let mut client = ws_client(server.local_addr(), "/ws");
    let ws = handles.recv_timeout(IO_TIMEOUT).unwrap();
    for i in 0..3 {
        let_the_server_go_idle();
        let sent = Instant::now();
        ws.send(format!("tick {i}")).unwrap();
        assert_eq!(next(&mut client), Message::text(format!("tick {i}")));
        assert!(
            sent.elapsed() < Duration::from_secs(1),
            "{:?}",
            sent.elapsed()
        );
    }
}

#[test]
fn shutdown_of_an_idle_server_still_says_goodbye() {
    let server = spawn(echo_server());
    let mut client = ws_client(server.local_addr(), "/ws");
    client.send(Message::text("x")).unwrap();
    assert_eq!(next(&mut client), Message::text("x"));
    let_the_server_go_idle();
    let (done_sender, done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_sender.send(server.shutdown());
    });
    assert_eq!(close_code(next(&mut client)), CloseCode::Away);
    let report = done.recv_timeout(IO_TIMEOUT).unwrap().unwrap();
    assert_eq!(report.live_connections_closed, 1);
    assert!(report.is_clean(), "{report:?}");
}

#[test]
fn what_was_sent_before_a_close_is_delivered_first() {
    struct Burst;
    impl WebSocketSession for Burst {
        fn on_message(&mut self, ws: &WebSocket, _: Message) {
            // More than one turn's worth, then the close.
            for i in 0..200 {
                ws.send(format!("{i}")).unwrap();
            }
            assert!(ws.close(CloseCode::Normal, "done"));
        }
    }
    let server = spawn(
        Server::builder()
            .threads(1)
            .websocket("/ws", |_: &Request| Burst),
    );
    let mut client = ws_client(server.local_addr(), "/ws");
    client.send(Message::text("go")).unwrap();
    for i in 0..200 {
        assert_eq!(next(&mut client), Message::text(format!("{i}")));
    }
    assert_eq!(close_code(next(&mut client)), CloseCode::Normal);
}

#[test]
fn events_sent_before_the_stream_ends_are_all_delivered() {
    let server = spawn(Server::builder().threads(1).route(
        Method::GET,
        "/events",
        |_: &Request| {
            let (response, events) = Response::events();
            for i in 0..300 {
                events.send(&Event::new().data(format!("{i}"))).unwrap();
            }
            // Dropped here: the stream ends once the 300 are out.
            response
        },
    ));
    let mut events = EventReader::open(server.local_addr(), "/events", "");
    for i in 0..300 {
        assert_eq!(events.chunk().unwrap(), format!("data: {i}\n\n"));
    }
    assert_eq!(events.chunk(), None);
}

#[test]
fn a_16_mib_message_is_echoed_by_default_and_one_byte_more_closes_with_1009() {
    let server = spawn(echo_server());
    let mut client = ws_client(server.local_addr(), "/ws");
    let limit = switchyard::live::DEFAULT_MAX_MESSAGE_SIZE;
    assert_eq!(limit, 16 << 20);
    let big: Vec<u8> = (0..limit).map(|i| (i % 251) as u8).collect();
    client.send(Message::binary(big.clone())).unwrap();
    assert_eq!(next(&mut client), Message::binary(big));
    // A frame that announces one byte more is refused from its header alone.
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(limit as u64 + 1).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    let mut stream = raw_ws(server.local_addr(), &header);
    let (_, opcode, payload) = read_frame(&mut stream);
    assert_eq!((opcode, close_frame_code(&payload)), (0x8, 1009));
}

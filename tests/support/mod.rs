//! Shared helpers for the integration tests: a server on 127.0.0.1:0, raw TCP exchanges and a
//! small HTTP/1.1 response reader. Every socket has a 5 s timeout, so no test can hang.

#![allow(dead_code)] // each test binary uses a different subset
#![allow(unreachable_pub)] // `pub` here means "shared by the test binaries", which include it as a module

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use switchyard::{Next, Request, Response, Router, RunningServer, ServerBuilder};

/// Bounds every blocking socket operation in the tests.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `builder` to a free loopback port and runs it in the background.
pub fn spawn(builder: ServerBuilder) -> RunningServer {
    builder
        .bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .spawn()
        .expect("spawn server")
}

/// A connected client socket with read and write timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// Sends `bytes` on a new connection and returns everything the server sends until it
/// closes the connection (or the timeout passes).
pub fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = connect(addr);
    stream.write_all(bytes).expect("write request");
    read_to_close(&mut stream)
}

/// Reads until EOF, an error (a reset after the answer), or the timeout.
pub fn read_to_close(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut piece = [0u8; 4096];
    loop {
        match stream.read(&mut piece) {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&piece[..n]),
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}

/// Whether the server closed the connection: a read sees EOF (or a reset) before the
/// timeout, with nothing else received.
pub fn is_closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// One parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The sizes of the chunks, when the body was chunked.
    pub chunks: Option<Vec<usize>>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response from `reader`; `head_request` says the response to HEAD has no body.
pub fn read_reply<R: BufRead>(reader: &mut R, head_request: bool) -> Reply {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status: u16 = line
        .split(' ')
        .nth(1)
        .unwrap_or_else(|| panic!("bad status line {line:?}"))
        .parse()
        .expect("status code");
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header line");
        let line = line.trim_end_matches("\r\n");
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("header colon");
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut reply = Reply {
        status,
        headers,
        body: Vec::new(),
        chunks: None,
    };
    if head_request || status < 200 || status == 204 || status == 304 {
        return reply;
    }
    if reply.header("transfer-encoding") == Some("chunked") {
        let mut chunks = Vec::new();
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).expect("chunk size");
            let size = usize::from_str_radix(size.trim_end(), 16).expect("hex chunk size");
            let mut data = vec![0; size + 2];
            reader.read_exact(&mut data).expect("chunk data");
            if size == 0 {
                break;
            }
            chunks.push(size);
            reply.body.extend_from_slice(&data[..size]);
        }
        reply.chunks = Some(chunks);
    } else if let Some(len) = reply.header("content-length") {
        let mut body = vec![0; len.parse().expect("content-length")];
        reader.read_exact(&mut body).expect("body");
        reply.body = body;
    } else {
        reader
            .read_to_end(&mut reply.body)
            .expect("close-delimited body");
    }
    reply
}

/// A keep-alive client on one connection.
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            reader: BufReader::new(connect(addr)),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).expect("write");
    }

    pub fn reply(&mut self) -> Reply {
        read_reply(&mut self.reader, false)
    }

    /// Sends `bytes` (a whole request) and reads its reply.
    pub fn send_and_reply(&mut self, bytes: &[u8]) -> Reply {
        self.send(bytes);
        self.reply()
    }

    pub fn get(&mut self, path: &str) -> Reply {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        self.reply()
    }

    pub fn stream(&mut self) -> &mut TcpStream {
        self.reader.get_mut()
    }
}

/// `body` in chunked framing (RFC 9112 §7.1), `piece` bytes a chunk, with the last chunk.
pub fn chunked(body: &[u8], piece: usize) -> Vec<u8> {
    let mut encoded = Vec::with_capacity(body.len() + body.len() / piece.max(1) * 8 + 5);
    for piece in body.chunks(piece) {
        encoded.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        encoded.extend_from_slice(piece);
        encoded.extend_from_slice(b"\r\n");
    }
    encoded.extend_from_slice(b"0\r\n\r\n");
    encoded
}

/// One request on a fresh connection.
pub fn get(addr: SocketAddr, path: &str) -> Reply {
    Client::new(addr).get(path)
}

/// A router whose middleware and handlers panic on purpose, by path, under an outer
/// middleware that stamps every response with `x-request-id: 7`:
///
/// - `/ok`: 200 `ok`;
/// - `/mw-before`, `/mw-after`: a middleware panics before or after calling the rest;
/// - `/handler`: the handler panics;
/// - `/nested/x`: the middleware of a nested router panics;
/// - `/outermost`: the outermost middleware (outside the stamp) panics.
pub fn panicking_app() -> Router {
    let nested = Router::new()
        .get("/x", |_: &Request| "unreachable")
        .middleware(|_: &mut Request, _: Next<'_>| -> Response {
            panic!("nested middleware panics on purpose")
        });
    Router::new()
        .get("/ok", |_: &Request| "ok")
        .get("/mw-before", |_: &Request| "unreachable")
        .get("/mw-after", |_: &Request| "handled")
        .get("/handler", |_: &Request| -> &'static str {
            panic!("handler panics on purpose")
        })
        .get("/outermost", |_: &Request| "unreachable")
        .nest("/nested", nested)
        .middleware(|req: &mut Request, next: Next<'_>| {
            if req.path() == "/outermost" {
                panic!("outermost middleware panics on purpose");
            }
            next.run(req)
        })
        .middleware(|req: &mut Request, next: Next<'_>| {
            let mut response = next.run(req);
            response
                .headers_mut()
                .insert("x-request-id", "7".parse().unwrap());
            response
        })
        .middleware(|req: &mut Request, next: Next<'_>| {
            if req.path() == "/mw-before" {
                panic!("middleware panics on purpose before the handler");
            }
            let response = next.run(req);
            if req.path() == "/mw-after" {
                panic!("middleware panics on purpose after the handler");
            }
            response
        })
}

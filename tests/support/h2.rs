//! An HTTP/2 client for the tests: the `h2` library's client over a non-blocking socket,
//! driven on the test's thread: its futures are polled, and when none can go on the thread
//! waits for the socket (mio). Every exchange is bounded by `EXCHANGE_TIMEOUT`, so no test
//! can hang.

#![allow(dead_code)] // each test binary uses a different subset
#![allow(unreachable_pub)]

use std::future::{Future, poll_fn};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::RecvStream;
use h2::client::{Connection, ResponseFuture, SendRequest};
use switchyard::http::{self, HeaderMap, Request, StatusCode};

/// The longest wait for the socket before the futures are polled again (a future may wait
/// for something else than the socket).
const POLL_WAIT: Duration = Duration::from_millis(50);
/// Bounds every exchange.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// A non-blocking stream (a socket, or TLS over one) as tokio's I/O traits.
pub struct BlockingIo<S>(pub S);

impl<S: Read + Unpin> tokio::io::AsyncRead for BlockingIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.0.read(buf.initialize_unfilled()) {
            Ok(n) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl<S: Write + Unpin> tokio::io::AsyncWrite for BlockingIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.0.write(data) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
            result => Poll::Ready(result),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.0.flush() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
            result => Poll::Ready(result),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A response, read in full.
#[derive(Debug)]
pub struct H2Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl H2Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An HTTP/2 connection from the test's thread.
pub struct H2Client<S: Read + Write + Unpin> {
    pub send: SendRequest<Bytes>,
    connection: Connection<BlockingIo<S>, Bytes>,
    /// The connection ended (GOAWAY, or closed).
    pub ended: bool,
    /// Tells when the socket has something to read (or room to write).
    readiness: mio::Poll,
    events: mio::Events,
}

/// Connects with prior knowledge (h2c).
pub fn connect(addr: SocketAddr) -> H2Client<TcpStream> {
    H2Client::handshake(blocking_socket(addr))
}

/// A non-blocking socket, as `H2Client` needs.
pub fn blocking_socket(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).unwrap();
    stream.set_nonblocking(true).unwrap();
    stream
}

impl<S: Read + Write + Unpin + AsRawFd> H2Client<S> {
    /// Starts HTTP/2 over a non-blocking socket.
    pub fn handshake(io: S) -> Self {
        let fd = io.as_raw_fd();
        Self::handshake_with(io, fd, &h2::client::Builder::new())
    }
}

impl<S: Read + Write + Unpin> H2Client<S> {
    /// Starts HTTP/2 over `io`, non-blocking, whose socket is `fd`.
    pub fn handshake_with(io: S, fd: RawFd, builder: &h2::client::Builder) -> Self {
        let mut readiness = mio::Poll::new().unwrap();
        readiness
            .registry()
            .register(
                &mut mio::unix::SourceFd(&fd),
                mio::Token(0),
                mio::Interest::READABLE | mio::Interest::WRITABLE,
            )
            .unwrap();
        let mut events = mio::Events::with_capacity(4);
        let mut handshake = std::pin::pin!(builder.handshake::<_, Bytes>(BlockingIo(io)));
        let deadline = Instant::now() + EXCHANGE_TIMEOUT;
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            match handshake.as_mut().poll(&mut cx) {
                Poll::Ready(Ok((send, connection))) => {
                    return Self {
                        send,
                        connection,
                        ended: false,
                        readiness,
                        events,
                    };
                }
                Poll::Ready(Err(error)) => panic!("HTTP/2 handshake failed: {error}"),
                Poll::Pending => {
                    assert!(Instant::now() < deadline, "handshake timed out");
                    let _ = readiness.poll(&mut events, Some(POLL_WAIT));
                }
            }
        }
    }

    /// Waits for the socket to be ready, at most `POLL_WAIT`.
    fn wait(&mut self) {
        let _ = self.readiness.poll(&mut self.events, Some(POLL_WAIT));
    }

    /// Polls the connection and `future` until `future` is ready (panics after
    /// `EXCHANGE_TIMEOUT`).
    pub fn drive<F: Future>(&mut self, future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let deadline = Instant::now() + EXCHANGE_TIMEOUT;
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            if !self.ended && Pin::new(&mut self.connection).poll(&mut cx).is_ready() {
                self.ended = true;
            }
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            assert!(Instant::now() < deadline, "the exchange timed out");
            self.wait();
        }
    }

    /// Polls the connection and `future` until `future` is ready, or `timeout` passes
    /// (`None`).
    pub fn drive_for<F: Future + Unpin>(
        &mut self,
        future: &mut F,
        timeout: Duration,
    ) -> Option<F::Output> {
        let deadline = Instant::now() + timeout;
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(output) = Pin::new(&mut *future).poll(&mut cx) {
                return Some(output);
            }
            if !self.ended && Pin::new(&mut self.connection).poll(&mut cx).is_ready() {
                self.ended = true;
            }
            if let Poll::Ready(output) = Pin::new(&mut *future).poll(&mut cx) {
                return Some(output);
            }
            if Instant::now() >= deadline {
                return None;
            }
            self.wait();
        }
    }

    /// Polls the connection once (sends what is queued, reads what arrived), then waits for
    /// the socket at most `POLL_WAIT`.
    pub fn poll_connection(&mut self) {
        let mut cx = Context::from_waker(Waker::noop());
        if !self.ended && Pin::new(&mut self.connection).poll(&mut cx).is_ready() {
            self.ended = true;
        }
        self.wait();
    }

    /// Polls the connection until it ends (GOAWAY and close), or `timeout`; returns
    /// whether it ended.
    pub fn wait_for_end(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut cx = Context::from_waker(Waker::noop());
        while !self.ended && Instant::now() < deadline {
            if Pin::new(&mut self.connection).poll(&mut cx).is_ready() {
                self.ended = true;
            } else {
                self.wait();
            }
        }
        self.ended
    }

    /// Sends a request (with `body` if not empty) and returns its response future.
    pub fn start(&mut self, request: Request<()>, body: &[u8]) -> ResponseFuture {
        let body = Bytes::copy_from_slice(body);
        let mut send = self.send.clone();
        let ready = self.drive(poll_fn(|cx| send.poll_ready(cx)));
        ready.expect("the connection takes a new stream");
        let (response, mut stream) = send
            .send_request(request, body.is_empty())
            .expect("send request");
        if !body.is_empty() {
            let mut rest = body;
            // The server may answer (and reset the stream) before the body is all sent.
            while !rest.is_empty() {
                stream.reserve_capacity(rest.len());
                let Some(Ok(capacity)) = self.drive(poll_fn(|cx| stream.poll_capacity(cx))) else {
                    break;
                };
                let chunk = rest.split_to(capacity.min(rest.len()));
                if stream.send_data(chunk, rest.is_empty()).is_err() {
                    break;
                }
            }
        }
        response
    }

    /// One request, its response read in full.
    pub fn request(&mut self, request: Request<()>, body: &[u8]) -> H2Reply {
        let response = self.start(request, body);
        self.finish(response)
    }

    /// Waits for a response and reads its body.
    pub fn finish(&mut self, response: ResponseFuture) -> H2Reply {
        let response = self.drive(response).expect("a response");
        let (parts, body) = response.into_parts();
        let body = self.drive(read_body(body)).expect("the body");
        H2Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub fn get(&mut self, path: &str) -> H2Reply {
        self.request(get(path), b"")
    }
}

/// A GET request for `path` on authority `localhost`.
pub fn get(path: &str) -> Request<()> {
    request(http::Method::GET, path)
}

pub fn request(method: http::Method, path: &str) -> Request<()> {
    Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"))
        .body(())
        .unwrap()
}

/// Reads a body to its end, giving the window back as it goes.
pub async fn read_body(mut body: RecvStream) -> Result<Vec<u8>, h2::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = poll_fn(|cx| body.poll_data(cx)).await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            // "Stop sending, the answer is complete" (RFC 9113 §8.1).
            Err(error) if error.reason() == Some(h2::Reason::NO_ERROR) => break,
            Err(error) => return Err(error),
        };
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

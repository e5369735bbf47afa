//! A server without a socket or a thread: the server's own connection code (transport,
//! protocol, service, router) over an in-memory socket, turn by turn as a worker runs it,
//! with no poller. `testing::TestClient` sends requests through it, so that a test meets
//! exactly what a client on the wire would (streamed request bodies included), and the
//! fuzz targets of the live protocols drive it.

use std::net::SocketAddr;
use std::sync::Arc;

use super::connection::Connection;
use super::outcome::Outcome;
use super::protocol::TurnCx;
use super::{ServerBuilder, Shared};
use crate::cancel::CallWatch;
use crate::http1::RouteTag;
use crate::io::MemorySocket;
use crate::limits::Limits;
use crate::live::outbox::Wake;
use crate::router::Router;
use crate::spool::{ByteBudget, Spool};

/// The peer address requests served in-process carry.
const PEER: ([u8; 4], u16) = ([127, 0, 0, 1], 1);

/// See the module docs.
pub(crate) struct InProcessServer {
    shared: Shared,
}

/// Wakes nobody: nothing runs between an in-process exchange's turns.
struct NoWaker;

impl Wake for NoWaker {
    fn wake(&self) {}
}

impl InProcessServer {
    /// Serves `router` (its registration errors unchecked) with `limits`.
    pub(crate) fn new(router: Router, limits: Limits) -> Self {
        let shared = ServerBuilder::default().limits(limits).shared_with(router);
        Self { shared }
    }

    /// Serves with `limits` from now on.
    pub(crate) fn with_limits(mut self, limits: Limits) -> Self {
        let limits = limits.saturated();
        self.shared.body_budget = Arc::new(ByteBudget::new(limits.max_parked_body_bytes));
        self.shared.spool = Spool::new(
            std::env::temp_dir(),
            limits.spool_threshold,
            limits.max_spooled_bytes,
        );
        self.shared.limits = limits;
        self
    }

    /// The limits it serves with.
    pub(crate) fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// Sends `input` on one new connection, as a client that then waits (reads and writes
    /// follow `read_sizes` and `write_sizes`, cycled, 0 meaning "would block"; empty:
    /// unlimited). Returns every byte the server wrote until it closed the connection or
    /// waited for input that will not come.
    pub(crate) fn exchange(
        &self,
        input: &[u8],
        read_sizes: &[usize],
        write_sizes: &[usize],
    ) -> Vec<u8> {
        let Some(mut connection) = self.connect() else {
            return Vec::new();
        };
        {
            let mut stream = connection.connection.socket.lock();
            stream.read_sizes = read_sizes.to_vec();
            stream.write_sizes = write_sizes.to_vec();
        }
        connection.send(input)
    }

    /// A new connection, served as its client sends.
    pub(crate) fn connect(&self) -> Option<InProcessConnection<'_>> {
        let peer = SocketAddr::from(PEER);
        let connection = Connection::accepted(MemorySocket::new(b""), peer, &self.shared)?;
        Some(InProcessConnection {
            shared: &self.shared,
            connection,
            tag: RouteTag::default(),
            closed: false,
            watch: Arc::default(),
        })
    }
}

/// One connection to an [`InProcessServer`], kept open between what its client sends: a
/// WebSocket or an event stream in a test.
pub(crate) struct InProcessConnection<'a> {
    shared: &'a Shared,
    connection: Connection<MemorySocket>,
    /// The pool its next turn runs on.
    tag: RouteTag,
    closed: bool,
    /// The watch over its requests (`Request::cancelled`).
    watch: Arc<CallWatch>,
}

impl InProcessConnection<'_> {
    /// Hands `input` to the server as the client's next bytes, and serves the connection
    /// until it waits for more (or closes); returns what the server wrote meanwhile.
    pub(crate) fn send(&mut self, input: &[u8]) -> Vec<u8> {
        if self.closed {
            return Vec::new();
        }
        let (write_sizes, read_sizes) = {
            let mut stream = self.connection.socket.lock();
            stream.input.extend_from_slice(input);
            (stream.write_sizes.len(), stream.read_sizes.len())
        };
        let waker = || -> Arc<dyn Wake> { Arc::new(NoWaker) };
        // Every turn makes progress (a byte read or written) unless the schedule says
        // "would block", once per entry at most: bound the turns by the work there is.
        let schedule = 1 + read_sizes + write_sizes;
        let max_turns = 64 + 4 * (input.len() + 1) * schedule;
        for _ in 0..max_turns {
            let cx = TurnCx {
                shared: self.shared,
                tag: self.tag,
                peer: self.connection.peer,
                waker: &waker,
                queued_since: std::time::Instant::now(),
                watch: Some(&self.watch),
                client_closed: false,
                late_answers: None,
                deadlines: None,
                jobs: None,
            };
            match self.connection.serve(&cx) {
                Outcome::Close => {
                    self.closed = true;
                    break;
                }
                Outcome::Move(to) => self.tag = to,
                Outcome::Yield => {}
                Outcome::Park { wait, .. } => {
                    let input_left = self.connection.socket.lock().has_input();
                    if !wait.is_writable() && !input_left {
                        break;
                    }
                }
            }
        }
        self.connection.socket.take_output()
    }

    /// Whether the server closed the connection.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Request;

    /// Found by the `websocket` fuzz target: a read schedule of four would-blocks per byte
    /// ran out of turns before the request was read, and the exchange returned nothing.
    #[test]
    fn a_schedule_of_would_blocks_still_gets_the_whole_exchange() {
        let server = InProcessServer::new(
            Router::new().get("/", |_: &Request| "ok"),
            Limits::default(),
        );
        let input = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        let output = server.exchange(input, &[0, 0, 0, 0, 1], &[0, 3]);
        let text = String::from_utf8_lossy(&output);
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("ok"),
            "{text}"
        );
    }
}

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
use crate::http1::{BodyBudget, RouteTag};
use crate::io::MemorySocket;
use crate::limits::Limits;
use crate::live::outbox::Wake;
use crate::router::Router;

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
        self.shared.body_budget = Arc::new(BodyBudget::new(limits.max_parked_body_bytes));
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
        let socket = MemorySocket::new(input);
        socket.lock().read_sizes = read_sizes.to_vec();
        socket.lock().write_sizes = write_sizes.to_vec();
        let peer = SocketAddr::from(PEER);
        let Some(mut connection) = Connection::accepted(socket, peer, &self.shared) else {
            return Vec::new();
        };
        let waker = || -> Arc<dyn Wake> { Arc::new(NoWaker) };
        let mut tag = RouteTag::default();
        // Every turn makes progress (a byte read or written) unless the schedule says
        // "would block", once per entry at most: bound the turns by the work there is.
        let schedule = 1 + read_sizes.len() + write_sizes.len();
        let max_turns = 64 + 4 * (input.len() + 1) * schedule;
        for _ in 0..max_turns {
            let cx = TurnCx {
                shared: &self.shared,
                tag,
                peer,
                waker: &waker,
            };
            match connection.serve(&cx) {
                Outcome::Close => break,
                Outcome::Move(to) => tag = to,
                Outcome::Yield => {}
                Outcome::Park { wait, .. } => {
                    let input_left = connection.socket.lock().has_input();
                    if !wait.is_writable() && !input_left {
                        break;
                    }
                }
            }
        }
        let socket = Arc::clone(&connection.socket);
        drop(connection);
        socket.take_output()
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

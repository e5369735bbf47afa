//! A client connection: a socket, a transport over it (plain, or a TLS session) and the
//! protocol it speaks (HTTP/1.1, or a live protocol a response switched to).
//!
//! ```text
//!   Connection = socket × Transport (Plain | Tls) × Protocol (Http1 | WebSocket | Events)
//!   a turn:      transport: owed output, handshake ─► protocol's turn over the plaintext
//!                ─► transport: output still held ─► one Outcome for the worker
//! ```
//!
//! The transport is driven once for every protocol, and the protocol never knows which
//! transport carries it. A connection is generic over its [`Socket`] so that unit tests
//! drive the very same code over an in-memory one.

#[cfg(test)]
mod tests;
mod tls;
mod transport;

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use http::StatusCode;

use self::transport::Transport;
pub(super) use self::transport::answer_and_close;
use super::Shared;
use super::outcome::Outcome;
use super::protocol::{Protocol, TurnCx};
use crate::io::{ShareSocket, Socket};
use crate::limits::Limits;

/// An open client connection. Parked, it holds only what its transport and protocol carry
/// between turns (usually nothing); on a worker, it is served.
#[derive(Debug)]
pub(super) struct Connection<S: Socket = TcpStream> {
    /// Shared with the connection table while a worker has the connection, so that the
    /// drain deadline can shut the socket down under a stuck request.
    pub(super) socket: Arc<S>,
    pub(super) peer: SocketAddr,
    transport: Transport,
    protocol: Protocol,
    /// The socket is watched for writability (it owes output) rather than readability.
    pub(super) watching_writable: bool,
    /// The poller saw the client's end of the stream (or an error) as the connection
    /// became ready. Edge-triggered readiness reports that end once, with the data before
    /// it: turns then read until they meet it rather than stop at a short read.
    pub(super) client_closed: bool,
}

impl<S: Socket> Connection<S> {
    /// A plain HTTP/1.1 connection.
    #[cfg(test)]
    pub(super) fn new(socket: S, peer: SocketAddr) -> Self {
        Self::speaking(Protocol::http1(), Transport::Plain, socket, peer)
    }

    fn speaking(protocol: Protocol, transport: Transport, socket: S, peer: SocketAddr) -> Self {
        Self {
            socket: Arc::new(socket),
            peer,
            transport,
            protocol,
            watching_writable: false,
            client_closed: false,
        }
    }

    /// A connection just accepted: over TLS when the server serves TLS (with the
    /// configuration new connections get now). `None`: the TLS library refused to start a
    /// session.
    pub(super) fn accepted(socket: S, peer: SocketAddr, shared: &Shared) -> Option<Self> {
        let transport = Transport::accepted(shared, Instant::now())?;
        let protocol = match transport {
            Transport::Plain => Protocol::for_plain(shared),
            #[cfg(feature = "tls")]
            Transport::Tls(_) => Protocol::http1(),
        };
        Some(Self::speaking(protocol, transport, socket, peer))
    }

    /// When a connection just accepted is closed if it sends nothing: after the keep-alive
    /// timeout, or when its TLS handshake is not done within the header read timeout.
    pub(super) fn first_deadline(&self, now: Instant, limits: &Limits) -> Instant {
        self.transport.first_deadline(now, limits)
    }

    /// Whether a response to it is under way, it is live, or its transport owes output: it
    /// may not be answered with anything else (such as a 503).
    pub(super) fn owes_output(&self) -> bool {
        self.transport.owes_output() || self.protocol.owes_output()
    }

    /// Whether its next request is yet to be read: an HTTP/1.1 connection with no request
    /// parsed and waiting (for its body, or for its pool), and nothing owed.
    pub(super) fn is_unread(&self) -> bool {
        !self.owes_output() && self.protocol.is_unread()
    }

    /// Whether a request multiplexed on it (an HTTP/2 stream) is under way while it is
    /// parked (a shutdown's drain deadline counts it as cut).
    pub(super) fn has_requests_in_flight(&self) -> bool {
        self.protocol.has_requests_in_flight()
    }

    /// Whether it speaks a live protocol (WebSocket, event stream).
    pub(super) fn is_live(&self) -> bool {
        self.protocol.is_live()
    }

    /// Whether it is live and already knows the server is shutting down (or has nothing
    /// more to say: it is writing its last bytes).
    pub(super) fn live_told_to_go(&self) -> bool {
        self.transport.is_closing() || self.protocol.told_to_go()
    }

    /// Answers `status` and closes the connection for writing, for a connection the server
    /// will not serve (over capacity, timed out); through the transport.
    pub(super) fn reject(&mut self, status: StatusCode) {
        self.transport.reject(&*self.socket, status);
    }

    /// Serves what the connection has ready, on the current worker thread.
    pub(super) fn serve(&mut self, cx: &TurnCx<'_>) -> Outcome {
        // Only a plain connection can be answered from outside its turn: over TLS, only the
        // session on the worker can write.
        let late_answers: Option<&dyn ShareSocket> = match self.transport {
            Transport::Plain => Some(&self.socket),
            #[cfg(feature = "tls")]
            Transport::Tls(_) => None,
        };
        let cx = TurnCx {
            late_answers,
            client_closed: cx.client_closed || self.client_closed,
            ..*cx
        };
        self.transport.turn(&self.socket, &mut self.protocol, &cx)
    }
}

impl<S: Socket> Drop for Connection<S> {
    /// Over TLS, the connection says `close_notify` as it closes (unless a response was
    /// cut short).
    fn drop(&mut self) {
        let cut_short = self.protocol.is_cut_short();
        self.transport.close(&*self.socket, cut_short);
    }
}

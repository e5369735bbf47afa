//! What carries a connection's bytes: the socket itself, or a TLS session over it
//! (feature `tls`). The only place the connection code asks whether TLS is built in.

use std::net::Shutdown;
use std::sync::Arc;
use std::time::Instant;

use http::StatusCode;

#[cfg(feature = "tls")]
use super::tls::TlsSession;
use crate::http1::write_rejection;
use crate::io::{Socket, SocketStream, discard_input};
use crate::limits::{Limits, deadline_after};
use crate::server::Shared;
use crate::server::outcome::Outcome;
use crate::server::protocol::{Protocol, TurnCx};

/// Input read and dropped before answering a connection that is not served, so the close
/// does not reset the connection before the client reads the answer.
pub(super) const REJECT_DISCARD_BYTES: usize = 16 * 1024;

/// See the module docs.
#[derive(Debug)]
pub(super) enum Transport {
    Plain,
    #[cfg(feature = "tls")]
    Tls(Box<TlsSession>),
}

impl Transport {
    /// The transport of a connection accepted `now`: TLS when the server serves TLS.
    /// `None`: the TLS library refused to start a session.
    pub(super) fn accepted(shared: &Shared, now: Instant) -> Option<Self> {
        #[cfg(feature = "tls")]
        if let Some(config) = &shared.tls {
            let session = TlsSession::new(config, now, &shared.limits).ok()?;
            return Some(Self::Tls(Box::new(session)));
        }
        let _ = (shared, now);
        Some(Self::Plain)
    }

    /// When a connection just accepted is closed if it sends nothing: after the keep-alive
    /// timeout, or when its TLS handshake is not done within the header read timeout.
    pub(super) fn first_deadline(&self, now: Instant, limits: &Limits) -> Instant {
        match self {
            Self::Plain => deadline_after(now, limits.keep_alive_timeout),
            #[cfg(feature = "tls")]
            Self::Tls(tls) => tls.handshake_deadline(),
        }
    }

    /// Whether it holds output the socket has not taken yet.
    pub(super) fn owes_output(&self) -> bool {
        match self {
            Self::Plain => false,
            #[cfg(feature = "tls")]
            Self::Tls(tls) => tls.owes_output(),
        }
    }

    /// Whether the connection is only writing its last bytes before it closes.
    pub(super) fn is_closing(&self) -> bool {
        match self {
            Self::Plain => false,
            #[cfg(feature = "tls")]
            Self::Tls(tls) => tls.is_closing(),
        }
    }

    /// One turn: `protocol`'s over the socket, or over the TLS session's plaintext.
    pub(super) fn turn<S: Socket>(
        &mut self,
        socket: &Arc<S>,
        protocol: &mut Protocol,
        cx: &TurnCx<'_>,
    ) -> Outcome {
        match self {
            Self::Plain => protocol.turn(&mut SocketStream(Arc::clone(socket)), cx, None),
            #[cfg(feature = "tls")]
            Self::Tls(tls) => tls.turn(socket, protocol, cx),
        }
    }

    /// Answers `status` and closes the connection for writing; see [`answer_and_close`].
    /// Over TLS the answer is encrypted, and before the handshake is done nothing can be
    /// said: the connection just closes.
    pub(super) fn reject<S: Socket>(&mut self, socket: &S, status: StatusCode) {
        match self {
            Self::Plain => answer_and_close(socket, status),
            #[cfg(feature = "tls")]
            Self::Tls(tls) => tls.reject(socket, status),
        }
    }

    /// The connection closes: over TLS, with `close_notify` unless the response was
    /// `cut_short`.
    pub(super) fn close<S: Socket>(&mut self, socket: &S, cut_short: bool) {
        match self {
            Self::Plain => {}
            #[cfg(feature = "tls")]
            Self::Tls(tls) => tls.close(socket, cut_short),
        }
        let _ = (socket, cut_short);
    }
}

/// Answers `status` on a plain connection the server will not serve (over capacity, timed
/// out) and closes it for writing. Best effort: the socket is non-blocking and the answer
/// small.
pub(in crate::server) fn answer_and_close<S: Socket>(socket: &S, status: StatusCode) {
    let _ = socket.set_blocking(None);
    discard_input(|buf| socket.read(buf), REJECT_DISCARD_BYTES);
    let _ = socket.write(&rejection(status));
    let _ = socket.shutdown(Shutdown::Write);
}

/// The answer to a connection that is not served (`Connection: close`; a 503 says when to
/// retry).
pub(super) fn rejection(status: StatusCode) -> Vec<u8> {
    let mut answer = Vec::with_capacity(256);
    let extra: &[(&str, &str)] = if status == StatusCode::SERVICE_UNAVAILABLE {
        &[("retry-after", "1")]
    } else {
        &[]
    };
    write_rejection(&mut answer, status, extra, true);
    answer
}

//! What a connection's turn ends with ([`AfterTurn`], [`WaitFor`]), and what a connection
//! carries from one turn to the next ([`ConnState`]): usually nothing, so that a parked
//! connection costs a few words.

use std::time::Instant;

use http::request::Parts;

use super::parse::BodyFraming;
use super::request_body::BufferedBody;
use super::service::{Decision, RouteTag};
use super::write::OutgoingBody;
use crate::error::ParseError;
use crate::head::RawHead;

/// What a parked connection waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitFor {
    /// A next request, between requests (the keep-alive timeout).
    NextRequest,
    /// The rest of a request head (the header-read timeout; then 408).
    RestOfHead,
    /// The rest of a request body (the body-read timeout; then 408).
    Body,
    /// Room in the socket for owed output (the write timeout; then the connection closes).
    Writable,
}

/// What the connection should do after its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterTurn {
    /// Park it until the socket is ready as `wait_for` says, or `until` passes.
    Wait { wait_for: WaitFor, until: Instant },
    /// The turn's budget is spent with input left: queue it again, at the back.
    Yield,
    /// Its current request (parsed, its body gathered) belongs on another pool.
    Reroute { tag: RouteTag },
    /// It switched protocols: what the new protocol starts from is in
    /// [`ConnState::take_upgraded`].
    Upgrade,
    /// Close it.
    Close,
}

/// Everything a connection carries from one turn to the next besides its socket. Usually
/// empty: a parked connection costs a few words. `P` is the service's plan, `U` its
/// upgrade.
pub(crate) struct ConnState<P = (), U = ()> {
    /// Unconsumed input: the start of the next request.
    pub(super) leftover: Vec<u8>,
    /// When the first byte of the head in `leftover` arrived (as seen at the end of a turn):
    /// the header-read timeout counts from here, however slowly the rest trickles in.
    pub(super) head_started: Option<Instant>,
    /// A request whose head was read and whose body is still arriving, or complete and on
    /// its way to another pool.
    pub(super) request: Option<Box<PendingRequest<P>>>,
    /// Output the socket could not take yet.
    pub(super) output: Option<Box<OwedOutput>>,
    /// After `AfterTurn::Upgrade`: what the new protocol starts from.
    pub(super) upgraded: Option<Box<Upgraded<U>>>,
    /// A response could not be completed (its body failed midway): the connection closes
    /// without anything that would present it as complete (TLS `close_notify`).
    pub(super) cut_short: bool,
}

/// A connection that switched from HTTP/1.1 to another protocol.
pub(crate) struct Upgraded<U> {
    /// What the service handed over with the response.
    pub(crate) upgrade: U,
    /// Input read past the request that switched: the new protocol's first bytes.
    pub(crate) leftover: Vec<u8>,
    /// Output not written yet: responses up to and including the switching one.
    pub(crate) unwritten: Vec<u8>,
    /// A `Switch::Stream` body is sent as chunks (HTTP/1.1), or close-delimited (HTTP/1.0).
    pub(crate) chunked: bool,
}

impl<P, U> Default for ConnState<P, U> {
    fn default() -> Self {
        Self {
            leftover: Vec::new(),
            head_started: None,
            request: None,
            output: None,
            upgraded: None,
            cut_short: false,
        }
    }
}

impl<P, U> ConnState<P, U> {
    /// A connection whose first bytes, `input`, were read already (to tell its protocol).
    #[cfg(feature = "http2")]
    pub(crate) fn with_input(input: Vec<u8>) -> Self {
        Self {
            leftover: input,
            ..Self::default()
        }
    }

    /// Whether part of a response has been written or is owed: the connection may no longer
    /// be answered with anything else (such as a 503).
    pub(crate) fn owes_output(&self) -> bool {
        self.output.is_some()
    }

    /// Whether a request was parsed and waits (for its body, or for its pool).
    pub(crate) fn has_request(&self) -> bool {
        self.request.is_some()
    }

    /// Whether a response was cut short (see `cut_short`).
    pub(crate) fn response_cut_short(&self) -> bool {
        self.cut_short
    }

    /// The protocol a turn that ended with `AfterTurn::Upgrade` switched to.
    pub(crate) fn take_upgraded(&mut self) -> Option<Box<Upgraded<U>>> {
        self.upgraded.take()
    }
}

impl<P, U> std::fmt::Debug for ConnState<P, U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnState")
            .field("leftover", &self.leftover.len())
            .field("head_started", &self.head_started)
            .field("request", &self.request.is_some())
            .field("output", &self.output.is_some())
            .finish()
    }
}

/// A request whose head was read: its body still arriving, or on its way to its pool.
pub(super) struct PendingRequest<P> {
    pub(super) parts: Parts,
    pub(super) raw_head: RawHead,
    pub(super) keep_alive: bool,
    pub(super) decision: Decision,
    pub(super) plan: P,
    pub(super) body: PendingBody,
    /// Why the engine refuses it (a body too large, too slow or malformed, an unsupported
    /// expectation): it is answered through the service's `refuse`, on its own pool.
    pub(super) refusal: Option<ParseError>,
}

/// How a pending request's body is read.
pub(super) enum PendingBody {
    /// Gathered in full by the engine, across turns.
    Buffered(BufferedBody),
    /// Read by the handler as it arrives.
    Streamed {
        framing: BodyFraming,
        expect_continue: bool,
        limit: u64,
    },
}

/// Output owed to a slow reader: bytes, then the rest of a streamed body.
pub(super) struct OwedOutput {
    pub(super) bytes: Vec<u8>,
    pub(super) body: Option<OutgoingBody>,
    pub(super) after: AfterOutput,
    /// The pool whose handler made the body: its stream is read there only.
    pub(super) tag: RouteTag,
}

/// What happens once the owed output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterOutput {
    /// Serve the next request.
    Continue,
    /// Close the connection.
    Close,
    /// Drop what the client sent already (after an error), then close.
    DiscardAndClose,
}

//! HTTP/1.1 as a connection's protocol: one turn of the engine (`crate::http1`) over the
//! connection's stream, with the router as its service (`server::service`) and the
//! worker's buffers.

use std::cell::RefCell;

use super::{TransportFacts, TurnCx};
use crate::http1::{AfterTurn, Conn, ConnConfig, ConnState, ReadBuf, TurnClock, Upgraded};
use crate::io::Stream;
use crate::live::Upgrade;
use crate::metrics::Tally;
use crate::router::RoutePlan;
use crate::server::outcome::Outcome;
use crate::server::service::HandlerService;

/// Beyond this capacity a worker's output buffer is freed after use rather than kept.
const MAX_RETAINED_OUTPUT_BYTES: usize = 256 * 1024;

thread_local! {
    /// Each worker reuses one read buffer and one output buffer for every connection it
    /// serves, so a parked connection costs no buffer at all.
    static BUFFERS: RefCell<(ReadBuf, Vec<u8>)> = RefCell::new((ReadBuf::default(), Vec::new()));
}

/// An HTTP/1.1 connection: what the engine carries between turns.
#[derive(Debug, Default)]
pub(in crate::server) struct Http1 {
    state: ConnState<RoutePlan, Upgrade>,
}

/// How an HTTP/1.1 turn ended.
pub(super) enum Http1Turn {
    Done(Outcome),
    /// A response switched the connection to a live protocol.
    Switched(Box<Upgraded<Upgrade>>),
}

impl Http1 {
    /// A connection whose first bytes, `input`, were read already.
    #[cfg(feature = "http2")]
    pub(super) fn with_input(input: Vec<u8>) -> Self {
        Self {
            state: ConnState::with_input(input),
        }
    }

    /// One turn of the engine over `io`.
    pub(super) fn turn<S: Stream>(
        &mut self,
        io: &mut S,
        cx: &TurnCx<'_>,
        facts: Option<&dyn TransportFacts>,
    ) -> Http1Turn {
        let shared = cx.shared;
        let next = BUFFERS.with(|buffers| {
            let mut buffers = buffers.borrow_mut();
            let (buf, out) = &mut *buffers;
            let clock = TurnClock::default();
            let config = ConnConfig {
                limits: &shared.limits,
                draining: &shared.draining,
                tag: cx.tag,
                body_budget: &shared.body_budget,
                spool: &shared.spool,
                clock: &clock,
                client_closed: cx.client_closed,
            };
            let service = HandlerService {
                shared,
                peer: cx.peer,
                tag: cx.tag,
                facts,
                clock: &clock,
                queued_since: cx.queued_since,
                watch: cx.watch,
                late_answers: cx.late_answers,
                deadlines: cx.deadlines,
                calls: std::cell::Cell::new(0),
                tally: Tally::default(),
            };
            let next = Conn::new(io, buf, out, &mut self.state, config, &service).serve();
            if out.capacity() > MAX_RETAINED_OUTPUT_BYTES {
                *out = Vec::new();
            }
            next
        });
        let outcome = match next {
            AfterTurn::Wait { wait_for, until } => Outcome::Park {
                wait: wait_for.into(),
                until,
            },
            AfterTurn::Yield => Outcome::Yield,
            AfterTurn::Reroute { tag } => Outcome::Move(tag),
            AfterTurn::Close => Outcome::Close,
            AfterTurn::Upgrade => match self.state.take_upgraded() {
                Some(upgraded) => return Http1Turn::Switched(upgraded),
                None => Outcome::Close,
            },
        };
        Http1Turn::Done(outcome)
    }

    /// Whether a request was parsed and waits (for its body, or for its pool).
    pub(super) fn has_request(&self) -> bool {
        self.state.has_request()
    }

    /// Whether part of a response is written or owed.
    pub(super) fn owes_output(&self) -> bool {
        self.state.owes_output()
    }

    /// Whether a response is owed or was cut short.
    pub(super) fn is_cut_short(&self) -> bool {
        self.state.owes_output() || self.state.response_cut_short()
    }
}

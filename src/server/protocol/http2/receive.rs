//! A stream's request body as it arrives: kept in memory within the parked bodies' budget
//! while it is short, in its spool file once it is longer than the spool threshold, and
//! refused past the route's limit or its deadline (`body_read_timeout` and
//! `min_body_rate`, as over HTTP/1.1). The window is given back as the body is taken, so a
//! client sends at the speed the server stores.

use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use h2::RecvStream;
use h2::server::SendResponse;
use http::HeaderMap;
use http::request::Parts;

use crate::body::RequestBody;
use crate::error::ParseError;
use crate::http1::RouteTag;
use crate::limits::{Limits, body_deadline};
use crate::router::RoutePlan;
use crate::server::Shared;
use crate::spool::{Held, SpoolError, SpoolWriter};

/// A routed request whose body is arriving.
pub(super) struct Incoming {
    pub(super) head: Parts,
    pub(super) headers: HeaderMap,
    pub(super) plan: RoutePlan,
    pub(super) tag: RouteTag,
    pub(super) respond: SendResponse<Bytes>,
    recv: RecvStream,
    /// The body in memory (while no longer than the spool threshold).
    body: Vec<u8>,
    /// What `body` holds of the parked bodies' memory budget.
    held: Held,
    /// The body's file, once it is longer than the spool threshold.
    spooled: Option<SpoolWriter>,
    received: u64,
    /// The route's limit.
    limit: u64,
    /// When the body began to be waited for, and when it last grew.
    started: Instant,
    last_growth: Instant,
}

/// How far a body got in one look.
pub(super) enum Received {
    /// All of it: the request goes to its handler.
    Complete(RequestBody),
    /// More is to come.
    Waiting,
    /// Too long, or it could not be kept: the request is answered with this error.
    Refused(ParseError),
    /// The client reset the stream (or the connection failed).
    Reset,
}

impl Incoming {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        head: Parts,
        headers: HeaderMap,
        plan: RoutePlan,
        tag: RouteTag,
        respond: SendResponse<Bytes>,
        recv: RecvStream,
        limit: u64,
        shared: &Shared,
    ) -> Self {
        Self {
            head,
            headers,
            plan,
            tag,
            respond,
            recv,
            body: Vec::new(),
            held: Held::new(&shared.body_budget),
            spooled: None,
            received: 0,
            limit,
            started: Instant::now(),
            last_growth: Instant::now(),
        }
    }

    /// When the body must be complete (408 past it).
    pub(super) fn deadline(&self, limits: &Limits) -> Instant {
        body_deadline(
            self.started,
            self.last_growth,
            self.received,
            limits.body_read_timeout,
            limits.min_body_rate,
        )
    }

    /// Takes what arrived; `progressed` is set when anything did.
    pub(super) fn receive(
        &mut self,
        task: &mut Context<'_>,
        now: Instant,
        shared: &Shared,
        progressed: &mut bool,
    ) -> Received {
        loop {
            match self.recv.poll_data(task) {
                Poll::Ready(Some(Ok(data))) => {
                    *progressed = true;
                    if !data.is_empty() {
                        self.last_growth = now;
                    }
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    self.received += data.len() as u64;
                    if self.received > self.limit {
                        let limit = self.limit;
                        return Received::Refused(ParseError::BodyTooLarge { limit });
                    }
                    if let Err(error) = self.store(&data, shared) {
                        return Received::Refused(error);
                    }
                }
                Poll::Ready(Some(Err(_))) => return Received::Reset,
                Poll::Ready(None) => {
                    let body = match self.spooled.take() {
                        Some(file) => RequestBody::File(file.finish()),
                        None => RequestBody::Full(std::mem::take(&mut self.body)),
                    };
                    return Received::Complete(body);
                }
                Poll::Pending if now >= self.deadline(&shared.limits) => {
                    return Received::Refused(ParseError::Timeout);
                }
                Poll::Pending => return Received::Waiting,
            }
        }
    }

    /// Keeps `data`: in memory while the body is short, in its spool file once it is longer
    /// than the threshold.
    fn store(&mut self, data: &[u8], shared: &Shared) -> Result<(), ParseError> {
        if self.spooled.is_none() && self.received > shared.spool.threshold() {
            let mut file = shared.spool.create().map_err(refusal)?;
            file.write(&self.body).map_err(refusal)?;
            self.body = Vec::new();
            let _ = self.held.hold(0);
            self.spooled = Some(file);
        }
        match &mut self.spooled {
            Some(file) => file.write(data).map_err(refusal),
            None => {
                let length = (self.body.len() + data.len()) as u64;
                self.held.hold(length).map_err(|_| ParseError::Overloaded)?;
                self.body.extend_from_slice(data);
                Ok(())
            }
        }
    }
}

/// A spool that is full is the server's load (503); one that cannot be written, its fault
/// (500).
fn refusal(error: SpoolError) -> ParseError {
    match error {
        SpoolError::Full => ParseError::Overloaded,
        SpoolError::Io(_) => ParseError::Storage,
    }
}

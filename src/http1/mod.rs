//! HTTP/1.1 wire protocol (RFC 9112): request heads in, responses out, body framing both ways.
//!
//! This layer sees only `http` types, bytes and a [`Stream`](crate::io::Stream): it knows
//! nothing of routing, handlers, worker pools (a request's pool is an opaque [`RouteTag`]
//! the service picks), sockets, TLS or the protocols a response may switch to (an opaque
//! upgrade it hands back, see [`Switch`]).
//!
//! - `parse`: request heads; `decode`: the chunked coding; `request_body`: request bodies.
//! - `encode`: response heads and chunks; `write`: response framing and streamed bodies;
//!   `output`: a turn's output, written as the socket takes it.
//! - `service`: what the engine serves requests with; `state`: what a connection carries
//!   between turns and how a turn ends; `conn`: the engine that runs one connection's turn.
//! - `read_buf`: unconsumed input; `clock`: one clock reading per request; `date`: the
//!   `Date` header.

mod clock;
mod conn;
mod date;
mod decode;
mod encode;
mod output;
mod parse;
mod read_buf;
mod request_body;
mod service;
mod state;
mod write;

pub(crate) use clock::TurnClock;
pub(crate) use conn::{Conn, ConnConfig};
#[cfg(feature = "http2")]
pub(crate) use date::header_value_now as date_header_value;
pub(crate) use decode::ChunkedDecoder;
pub(crate) use encode::{encode_chunk, write_rejection};
pub(crate) use read_buf::ReadBuf;
pub(crate) use service::{Decision, Reply, RouteTag, Service, Switch};
pub(crate) use state::{AfterTurn, ConnState, Upgraded, WaitFor};

use crate::limits::Limits;

/// Entry points for benches and fuzz targets (feature `__internals`).
#[cfg(feature = "__internals")]
#[allow(unreachable_pub, missing_docs)] // reachable only through `__private`, not semver
pub mod fuzzing {
    use super::*;

    /// Parses one request head; `Ok(Some(len))` when complete.
    pub fn parse_request_head(buf: &[u8], limits: &Limits) -> Result<Option<usize>, String> {
        parse::parse_head(buf, limits)
            .map(|parsed| parsed.map(|(_, len)| len))
            .map_err(|error| error.to_string())
    }

    /// Decodes a chunked body from `input` fed in pieces split at `splits`. Returns the data,
    /// whether the body ended, and the bytes used.
    pub fn decode_chunked(
        input: &[u8],
        splits: &[usize],
    ) -> Result<(Vec<u8>, bool, usize), String> {
        let mut decoder = decode::ChunkedDecoder::default();
        let mut out = Vec::new();
        let mut start = 0;
        let mut ends: Vec<usize> = splits.iter().map(|&s| s.min(input.len())).collect();
        ends.push(input.len());
        ends.sort_unstable();
        for end in ends {
            if end <= start && end != input.len() {
                continue;
            }
            start += decoder
                .decode(&input[start..end.max(start)], &mut out)
                .map_err(|error| error.to_string())?;
            if decoder.is_done() {
                break;
            }
        }
        Ok((out, decoder.is_done(), start))
    }

    /// Encodes a `200` response with `body` into `out`, as the server would.
    pub fn encode_response(out: &mut Vec<u8>, headers: &http::HeaderMap, body: &[u8]) {
        let head = encode::Head {
            status: http::StatusCode::OK,
            content_type: None,
            headers,
        };
        encode::encode_head(
            out,
            &head,
            encode::Framing::Length(body.len() as u64),
            encode::ConnectionHeader::Omit,
            std::time::Instant::now(),
        );
        out.extend_from_slice(body);
    }

    /// Runs the connection engine over `input` with an echo service, turn after turn as a
    /// poller would, on an in-memory stream whose reads and writes follow `read_sizes` and
    /// `write_sizes` (cycled; 0 means "would block"); returns what it wrote.
    pub fn serve_bytes(
        input: &[u8],
        read_sizes: &[usize],
        write_sizes: &[usize],
        limits: &Limits,
    ) -> Vec<u8> {
        let mut stream = crate::io::MemoryStream::new(input);
        stream.read_sizes = read_sizes.to_vec();
        stream.write_sizes = write_sizes.to_vec();
        let echo = |head: http::request::Parts, body: Vec<u8>| {
            let mut text = format!("{} {} ", head.method, head.uri).into_bytes();
            text.extend_from_slice(&body);
            http::Response::new(crate::body::Body::from(text))
        };
        let mut buf = ReadBuf::default();
        let mut state = ConnState::default();
        // Every turn makes progress unless it waits for input that is not there: bound the
        // turns by the work there is.
        let max_turns = 64 + 4 * (input.len() + 1) * (1 + write_sizes.len());
        for _ in 0..max_turns {
            let next =
                conn::turn_in_memory(&mut stream, &mut buf, &mut state, limits, false, &echo);
            match next {
                AfterTurn::Close | AfterTurn::Upgrade => break,
                AfterTurn::Wait { wait_for, .. }
                    if wait_for != WaitFor::Writable && !stream.has_input() =>
                {
                    break;
                }
                AfterTurn::Wait { .. } | AfterTurn::Yield | AfterTurn::Reroute { .. } => {}
            }
        }
        stream.output
    }
}

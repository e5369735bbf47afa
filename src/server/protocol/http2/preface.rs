//! h2c with prior knowledge (RFC 9113 §3.3): a plain connection whose first bytes are the
//! HTTP/2 connection preface speaks HTTP/2; any other speaks HTTP/1.1. Whatever was read to
//! tell goes on to the protocol chosen.

use std::time::{Duration, Instant};

use crate::io::{Stream, is_timeout};

/// The client connection preface (RFC 9113 §3.4).
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A new plain connection whose protocol is not known yet.
#[derive(Debug, Default)]
pub(in crate::server) struct Preface {
    seen: Vec<u8>,
    /// When the first turn looked.
    since: Option<Instant>,
}

/// What the first bytes said.
#[derive(Debug)]
pub(in crate::server) enum Sniffed {
    /// The preface: HTTP/2, starting from these bytes.
    Http2(Vec<u8>),
    /// Anything else: HTTP/1.1, starting from these bytes.
    Http1(Vec<u8>),
    /// A start of the preface and no more yet: wait for the rest until this time.
    Wait(Instant),
    /// The client left (or the socket failed) before a byte.
    Closed,
}

impl Preface {
    /// Reads what arrived and tells the protocol apart once it can. `wait` bounds how long
    /// a client may take to send its first bytes.
    pub(in crate::server) fn sniff<S: Stream>(&mut self, io: &mut S, wait: Duration) -> Sniffed {
        let since = *self.since.get_or_insert_with(Instant::now);
        let mut chunk = [0u8; 4096];
        loop {
            let known = self.seen.len().min(PREFACE.len());
            if self.seen[..known] != PREFACE[..known] {
                return Sniffed::Http1(std::mem::take(&mut self.seen));
            }
            if known == PREFACE.len() {
                return Sniffed::Http2(std::mem::take(&mut self.seen));
            }
            match io.read(&mut chunk) {
                Ok(0) if self.seen.is_empty() => return Sniffed::Closed,
                // Cut short: HTTP/1.1 reads the end and closes.
                Ok(0) => return Sniffed::Http1(std::mem::take(&mut self.seen)),
                Ok(n) => self.seen.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => {
                    return Sniffed::Wait(crate::limits::deadline_after(since, wait));
                }
                Err(_) => return Sniffed::Closed,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemoryStream;

    fn sniff(input: &[u8]) -> Sniffed {
        let mut stream = MemoryStream::new(input);
        Preface::default().sniff(&mut stream, Duration::from_secs(5))
    }

    #[test]
    fn the_preface_is_http2_and_keeps_what_follows() {
        let input = [PREFACE, b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"].concat();
        assert!(matches!(sniff(&input), Sniffed::Http2(bytes) if bytes == input));
    }

    #[test]
    fn an_http1_request_is_http1_from_its_first_differing_byte() {
        let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        assert!(matches!(sniff(input), Sniffed::Http1(bytes) if bytes == input));
        // "P" could start the preface; "POST" cannot.
        assert!(matches!(sniff(b"POST"), Sniffed::Http1(bytes) if bytes == b"POST"));
    }

    #[test]
    fn half_a_preface_waits_for_the_rest() {
        let mut stream = MemoryStream::new(&PREFACE[..10]);
        let mut preface = Preface::default();
        assert!(matches!(
            preface.sniff(&mut stream, Duration::from_secs(5)),
            Sniffed::Wait(_)
        ));
        stream.input.extend_from_slice(&PREFACE[10..]);
        assert!(matches!(
            preface.sniff(&mut stream, Duration::from_secs(5)),
            Sniffed::Http2(bytes) if bytes == PREFACE
        ));
    }
}

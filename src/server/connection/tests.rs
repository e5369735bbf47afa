//! The connection code driven turn by turn over an in-memory socket, as the workers drive
//! it: short reads and would-blocks anywhere, partial writes, protocol switches, and TLS
//! records split at any byte.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;

use super::Connection;
use crate::http1::RouteTag;
use crate::io::{MemorySocket, Socket};
use crate::live::outbox::Wake;
use crate::live::{Message, WebSocket};
use crate::request::Request;
use crate::response::Response;
use crate::router::Router;
use crate::server::outcome::{Outcome, Wait};
use crate::server::protocol::TurnCx;
use crate::server::{ServerBuilder, Shared};

/// Wakes nobody: a test drives the turns itself.
struct NoWaker;

impl Wake for NoWaker {
    fn wake(&self) {}
}

fn app() -> Router {
    Router::new()
        .get("/a", |_: &Request| "hello")
        .get("/big", |_: &Request| vec![b'b'; 200_000])
        .post("/echo", |req: &Request| req.body().to_vec())
        .websocket("/ws", |_: &Request| {
            |ws: &WebSocket, message: Message| {
                let _ = ws.send(message);
            }
        })
        .get("/events", |_: &Request| {
            let (response, events) = Response::events();
            let _ = events.send(&crate::live::Event::new().data("first"));
            // Kept open: the stream ends when its last sender is dropped.
            std::mem::forget(events);
            response
        })
}

/// A connection to `app` over an in-memory socket, and the server state its turns see.
struct Harness {
    shared: Shared,
    connection: Connection<MemorySocket>,
}

impl Harness {
    fn new(builder: ServerBuilder) -> Self {
        let shared = builder.app(app()).into_shared().expect("valid settings");
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let connection = Connection::accepted(MemorySocket::new(b""), peer, &shared)
            .expect("a transport for the connection");
        Self { shared, connection }
    }

    fn plain() -> Self {
        Self::new(ServerBuilder::default())
    }

    fn socket(&self) -> &MemorySocket {
        &self.connection.socket
    }

    /// One turn on the main pool, as a worker runs it.
    fn turn(&mut self) -> Outcome {
        let waker = || -> Arc<dyn Wake> { Arc::new(NoWaker) };
        let cx = TurnCx {
            shared: &self.shared,
            tag: RouteTag::default(),
            peer: self.connection.peer,
            waker: &waker,
            queued_since: std::time::Instant::now(),
            watch: None,
            client_closed: false,
            late_answers: None,
            deadlines: None,
            jobs: None,
        };
        self.connection.serve(&cx)
    }

    /// The text the server wrote, without `date:` lines.
    fn output(&self) -> String {
        let text = String::from_utf8_lossy(&self.socket().output()).into_owned();
        text.split("\r\n")
            .filter(|line| !line.starts_with("date: "))
            .collect::<Vec<_>>()
            .join("\r\n")
    }
}

fn wait_of(outcome: Outcome) -> Option<Wait> {
    match outcome {
        Outcome::Park { wait, .. } => Some(wait),
        _ => None,
    }
}

const GET_A: &[u8] = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
/// A WebSocket handshake for `/ws` (RFC 6455 §1.3's sample key).
const WS_HANDSHAKE: &[u8] = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

#[test]
fn a_request_arriving_a_byte_at_a_time_is_served_once_complete() {
    let mut harness = Harness::plain();
    for (i, byte) in GET_A.iter().enumerate() {
        harness.socket().send(&[*byte]);
        let wait = wait_of(harness.turn());
        if i + 1 < GET_A.len() {
            assert_eq!(wait, Some(Wait::RestOfHead), "byte {i}");
            assert!(harness.socket().output().is_empty(), "answered at byte {i}");
        } else {
            assert_eq!(wait, Some(Wait::NextRequest));
        }
    }
    assert_eq!(
        harness.output(),
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 5\r\n\r\nhello"
    );
}

/// A request and the end of the stream behind it, reported in one readiness event: a
/// short read stops the turn's reading only when the client had not closed.
#[test]
fn a_request_with_the_end_behind_it_is_answered_and_closed_when_the_client_closed() {
    for client_closed in [false, true] {
        let mut harness = Harness::plain();
        harness.socket().send(GET_A);
        harness.socket().lock().eof = true;
        harness.connection.client_closed = client_closed;
        let outcome = harness.turn();
        let reads = harness.socket().lock().reads;
        if client_closed {
            assert_eq!(outcome, Outcome::Close);
            assert_eq!(reads, 2, "the request, then the end");
        } else {
            // The poller hears of what comes after a short read: no read to learn nothing.
            assert_eq!(wait_of(outcome), Some(Wait::NextRequest));
            assert_eq!(reads, 1);
        }
        assert!(harness.output().ends_with("\r\n\r\nhello"));
    }
}

#[test]
fn a_response_to_a_full_socket_is_owed_and_finished_on_later_turns() {
    let mut harness = Harness::plain();
    harness
        .socket()
        .send(b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n");
    harness.socket().send(GET_A);
    harness.socket().lock().write_sizes = vec![1000, 0];
    let mut turns = 0;
    loop {
        let outcome = harness.turn();
        turns += 1;
        assert!(turns < 1000, "no progress");
        match wait_of(outcome) {
            Some(Wait::Writable) => {
                assert!(harness.connection.owes_output(), "owes nothing while full");
            }
            Some(Wait::NextRequest) => break,
            _ => panic!("{outcome:?}"),
        }
    }
    assert!(turns > 100, "the writes were not partial ({turns} turns)");
    let output = harness.output();
    assert_eq!(output.matches("HTTP/1.1 200 OK").count(), 2);
    assert!(output.ends_with("hello"), "the pipelined request was lost");
}

#[test]
fn a_websocket_switch_serves_the_frames_that_came_with_the_handshake() {
    let mut harness = Harness::plain();
    harness.socket().send(WS_HANDSHAKE);
    // A masked text frame "hi" (RFC 6455 §5.7), right behind the handshake.
    harness
        .socket()
        .send(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]);
    assert_eq!(wait_of(harness.turn()), Some(Wait::Live));
    assert!(harness.connection.is_live());
    let output = harness.socket().output();
    let text = String::from_utf8_lossy(&output);
    assert!(
        text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{text}"
    );
    assert!(
        output.ends_with(&[0x81, 0x02, b'h', b'i']),
        "no echo: {output:?}"
    );
    // The client leaves without a close frame: the connection ends.
    harness.socket().lock().eof = true;
    assert_eq!(harness.turn(), Outcome::Close);
}

#[test]
fn an_event_stream_switch_writes_its_head_and_queued_events_as_chunks() {
    let mut harness = Harness::plain();
    harness
        .socket()
        .send(b"GET /events HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(wait_of(harness.turn()), Some(Wait::Live));
    let output = harness.output();
    assert!(
        output.starts_with("HTTP/1.1 200 OK\r\n") && output.contains("transfer-encoding: chunked"),
        "{output}"
    );
    assert!(output.ends_with("d\r\ndata: first\n\n\r\n"), "{output:?}");
}

#[test]
fn a_body_streamed_to_its_handler_is_read_through_a_second_handle() {
    let upload = Router::new()
        .post("/upload", |req: &Request| {
            let mut body = String::new();
            let streamed = req.is_body_streamed();
            req.body_reader().read_to_string(&mut body).unwrap();
            format!("{streamed} {body}")
        })
        .stream_bodies(1024);
    let builder = ServerBuilder::default().app(upload);
    let shared = builder.into_shared().unwrap();
    let peer = "127.0.0.1:1".parse().unwrap();
    let mut harness = Harness {
        connection: Connection::accepted(MemorySocket::new(b""), peer, &shared).unwrap(),
        shared,
    };
    harness
        .socket()
        .send(b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(wait_of(harness.turn()), Some(Wait::NextRequest));
    assert!(
        harness.output().ends_with("true hello"),
        "{}",
        harness.output()
    );
}

#[test]
fn a_refused_plain_connection_gets_its_status_and_is_shut_for_writing() {
    let mut harness = Harness::plain();
    harness
        .connection
        .reject(http::StatusCode::SERVICE_UNAVAILABLE);
    let output = harness.output();
    assert!(output.starts_with("HTTP/1.1 503 "), "{output}");
    assert!(output.contains("retry-after: 1"), "{output}");
    assert!(harness.socket().write(b"x").is_err(), "not shut down");
}

#[cfg(feature = "tls")]
mod tls {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    use rustls::{ClientConfig, ClientConnection, RootCertStore};

    use std::io::Write;
    use std::time::Duration;

    use super::*;
    use crate::limits::Limits;

    /// A server certificate for `localhost` and a client that trusts it.
    fn configs() -> (crate::tls::TlsConfig, Arc<ClientConfig>) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = certified.cert.der().clone();
        let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
        let server = crate::tls::server_config(vec![cert.clone()], PrivateKeyDer::Pkcs8(key));
        let mut roots = RootCertStore::empty();
        roots.add(cert).unwrap();
        let client = ClientConfig::builder_with_provider(crate::tls::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (server.unwrap().into(), Arc::new(client))
    }

    struct TlsHarness {
        harness: Harness,
        client: ClientConnection,
        /// Plaintext the client received.
        received: Vec<u8>,
    }

    impl TlsHarness {
        fn new(limits: Limits) -> Self {
            let (server, client) = configs();
            let builder = ServerBuilder::default().tls(server).limits(limits);
            let name = ServerName::try_from("localhost").unwrap();
            Self {
                harness: Harness::new(builder),
                client: ClientConnection::new(client, name).unwrap(),
                received: Vec::new(),
            }
        }

        /// Moves what the client has to send onto the server's socket.
        fn client_sends(&mut self) {
            let mut bytes = Vec::new();
            while self.client.wants_write() {
                self.client.write_tls(&mut bytes).unwrap();
            }
            self.harness.socket().send(&bytes);
        }

        /// Hands what the server wrote to the client, and reads the plaintext.
        fn client_receives(&mut self) {
            let output = self.harness.socket().take_output();
            let mut rest = &output[..];
            loop {
                let mut plain = [0; 16 * 1024];
                loop {
                    match self.client.reader().read(&mut plain) {
                        Ok(0) => break,
                        Ok(n) => self.received.extend_from_slice(&plain[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => panic!("{e}"),
                    }
                }
                if rest.is_empty() {
                    return;
                }
                self.client.read_tls(&mut rest).unwrap();
                self.client.process_new_packets().unwrap();
            }
        }

        /// Turns until the server parks waiting for the client to say more (or closes),
        /// exchanging bytes after each; returns the last outcome.
        fn exchange(&mut self) -> Outcome {
            for _ in 0..10_000 {
                self.client_sends();
                let outcome = self.harness.turn();
                self.client_receives();
                let server_waits_for_input = matches!(
                    wait_of(outcome),
                    Some(Wait::NextRequest | Wait::RestOfHead | Wait::Body | Wait::Live)
                );
                let input_left = self.harness.socket().lock().has_input();
                if outcome == Outcome::Close
                    || (server_waits_for_input && !input_left && !self.client.wants_write())
                {
                    return outcome;
                }
            }
            panic!("no progress");
        }
    }

    #[test]
    fn tls_records_split_anywhere_are_served_alike() {
        let mut expected = None;
        for read_size in [1, 2, 5, 13, 100, 517, 4096, usize::MAX] {
            let mut tls = TlsHarness::new(Limits::default());
            tls.harness.socket().lock().read_sizes = vec![read_size, 0];
            tls.client.writer().write_all(GET_A).unwrap();
            tls.client.writer().write_all(GET_A).unwrap();
            let outcome = tls.exchange();
            assert_eq!(wait_of(outcome), Some(Wait::NextRequest), "{read_size}");
            let text = String::from_utf8_lossy(&tls.received).into_owned();
            // Without `date:` lines, which change with the second.
            let text: String = text
                .split_inclusive("\r\n")
                .filter(|line| !line.starts_with("date: "))
                .collect();
            let answers = text.matches("HTTP/1.1 200 OK\r\n").count();
            assert_eq!(answers, 2, "read size {read_size}: {text}");
            let bodies: Vec<&str> = text.split("\r\n\r\n").skip(1).collect();
            expected.get_or_insert_with(|| bodies.join("|"));
            assert_eq!(Some(bodies.join("|")), expected, "read size {read_size}");
        }
    }

    #[test]
    fn tls_output_to_a_full_socket_is_owed_then_written() {
        for write_sizes in [vec![0], vec![7, 0], vec![1000, 0, 0]] {
            let mut tls = TlsHarness::new(Limits::default());
            tls.client
                .writer()
                .write_all(b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
                .unwrap();
            tls.harness.socket().lock().write_sizes = write_sizes.clone();
            let mut writable_parks = 0;
            let outcome = loop {
                tls.client_sends();
                let outcome = tls.harness.turn();
                tls.client_receives();
                match wait_of(outcome) {
                    Some(Wait::Writable) => {
                        writable_parks += 1;
                        assert!(tls.harness.connection.owes_output());
                        if writable_parks == 50 {
                            // The client reads again.
                            tls.harness.socket().lock().write_sizes.clear();
                        }
                        assert!(writable_parks < 1000, "no progress");
                    }
                    // The handshake waits for the client's next flight.
                    Some(Wait::NextRequest) if tls.received.len() < 200_000 => {}
                    _ => break outcome,
                }
            };
            assert_eq!(wait_of(outcome), Some(Wait::NextRequest), "{write_sizes:?}");
            assert!(writable_parks > 0, "{write_sizes:?}: never full");
            let text = String::from_utf8_lossy(&tls.received);
            assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{write_sizes:?}");
            assert_eq!(
                tls.received.len() - text.find("\r\n\r\n").unwrap() - 4,
                200_000
            );
        }
    }

    #[test]
    fn a_connection_close_response_over_tls_ends_with_close_notify() {
        let mut tls = TlsHarness::new(Limits::default());
        tls.client
            .writer()
            .write_all(b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .unwrap();
        assert_eq!(tls.exchange(), Outcome::Close);
        let socket = Arc::clone(&tls.harness.connection.socket);
        drop(tls.harness.connection);
        let mut rest = &socket.take_output()[..];
        while !rest.is_empty() {
            tls.client.read_tls(&mut rest).unwrap();
        }
        let state = tls.client.process_new_packets().unwrap();
        assert!(state.peer_has_closed(), "no close_notify");
        assert!(String::from_utf8_lossy(&tls.received).ends_with("hello"));
    }

    #[test]
    fn a_tls_handshake_unfinished_by_its_deadline_closes_without_a_word() {
        let limits = Limits::default().header_read_timeout(Duration::ZERO);
        let mut tls = TlsHarness::new(limits);
        // Half a ClientHello.
        let mut hello = Vec::new();
        tls.client.write_tls(&mut hello).unwrap();
        tls.harness.socket().send(&hello[..hello.len() / 2]);
        assert_eq!(tls.harness.turn(), Outcome::Close);
        assert!(tls.harness.socket().output().is_empty());
    }

    #[test]
    fn a_refused_tls_connection_before_its_handshake_is_closed_unanswered() {
        let mut tls = TlsHarness::new(Limits::default());
        tls.harness
            .connection
            .reject(http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(tls.harness.socket().output().is_empty());
        assert!(tls.harness.socket().write(b"x").is_err(), "not shut down");
    }

    #[test]
    fn a_websocket_over_tls_echoes_through_the_session() {
        let mut tls = TlsHarness::new(Limits::default());
        tls.client.writer().write_all(WS_HANDSHAKE).unwrap();
        tls.client
            .writer()
            .write_all(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2])
            .unwrap();
        assert_eq!(wait_of(tls.exchange()), Some(Wait::Live));
        assert!(String::from_utf8_lossy(&tls.received).starts_with("HTTP/1.1 101 "));
        assert!(tls.received.ends_with(&[0x81, 0x02, b'h', b'i']));
    }

    /// A request that arrives whole costs one read of the socket: the read that came back
    /// short, with a request decrypted from it, is not followed by one that would only say
    /// `WouldBlock`.
    #[test]
    fn a_tls_request_that_arrived_whole_is_read_with_one_socket_read() {
        let mut tls = TlsHarness::new(Limits::default());
        tls.client.writer().write_all(GET_A).unwrap();
        assert_eq!(wait_of(tls.exchange()), Some(Wait::NextRequest));
        tls.client.writer().write_all(GET_A).unwrap();
        tls.client_sends();
        let before = tls.harness.socket().lock().reads;
        assert_eq!(wait_of(tls.harness.turn()), Some(Wait::NextRequest));
        assert_eq!(tls.harness.socket().lock().reads - before, 1);
        tls.client_receives();
        let received = String::from_utf8_lossy(&tls.received);
        assert_eq!(received.matches("\r\n\r\nhello").count(), 2, "{received}");
    }

    /// A handshake costs no read of the socket that would only say `WouldBlock`: a read
    /// that came back short ends the turn's reading, and the request decrypted from the
    /// read that finished the handshake is served without another. Unless the client
    /// closed: then the turn reads on to the end, and closes.
    #[test]
    fn a_tls_handshake_and_request_read_the_socket_once_a_flight() {
        for client_closed in [false, true] {
            let mut tls = TlsHarness::new(Limits::default());
            tls.harness.connection.client_closed = client_closed;
            tls.client_sends();
            let reads = |tls: &TlsHarness| tls.harness.socket().lock().reads;
            assert_eq!(wait_of(tls.harness.turn()), Some(Wait::NextRequest));
            assert_eq!(reads(&tls), if client_closed { 2 } else { 1 });
            tls.client_receives();
            tls.client.writer().write_all(GET_A).unwrap();
            tls.client_sends();
            assert!(tls.harness.socket().lock().has_input());
            let before = reads(&tls);
            if client_closed {
                tls.harness.socket().lock().eof = true;
                assert_eq!(tls.harness.turn(), Outcome::Close);
                assert_eq!(reads(&tls) - before, 2, "the request, then the end");
            } else {
                assert_eq!(wait_of(tls.harness.turn()), Some(Wait::NextRequest));
                assert_eq!(reads(&tls) - before, 1);
            }
            tls.client_receives();
            let received = String::from_utf8_lossy(&tls.received);
            assert!(received.ends_with("\r\n\r\nhello"), "{received}");
        }
    }

    /// Data and the end of the stream that arrive together (one readiness event) are both
    /// seen in the turn: a short read of the socket does not hide the end behind it.
    #[test]
    fn a_websocket_over_tls_sees_the_end_that_arrives_with_its_last_frame() {
        let mut tls = TlsHarness::new(Limits::default());
        tls.client.writer().write_all(WS_HANDSHAKE).unwrap();
        assert_eq!(wait_of(tls.exchange()), Some(Wait::Live));
        tls.client
            .writer()
            .write_all(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2])
            .unwrap();
        tls.client_sends();
        tls.harness.socket().lock().eof = true;
        // Read past the frame to the end: not parked live waiting for an event that came.
        assert_eq!(tls.harness.turn(), Outcome::Close);
    }

    /// A live connection whose TLS output is still owed when its next turn starts (a ping
    /// due, a message sent to it) takes its turn and stays live and blocked: parked as a
    /// plain write wait, senders could no longer wake it, and a shutdown would skip it.
    #[test]
    fn a_blocked_websocket_over_tls_stays_live_when_its_next_turn_finds_the_socket_full() {
        let mut tls = TlsHarness::new(Limits::default());
        tls.client.writer().write_all(WS_HANDSHAKE).unwrap();
        assert_eq!(wait_of(tls.exchange()), Some(Wait::Live));
        // The client stops reading; it sends a message whose echo cannot go out.
        tls.harness.socket().lock().write_sizes = vec![0];
        tls.client
            .writer()
            .write_all(&[0x82, 0x84, 1, 2, 3, 4, 1, 2, 3, 4])
            .unwrap();
        tls.client_sends();
        assert_eq!(wait_of(tls.harness.turn()), Some(Wait::LiveBlocked));
        // Its next turn (a timer, a wake) meets the same full socket.
        assert_eq!(wait_of(tls.harness.turn()), Some(Wait::LiveBlocked));
        assert!(tls.harness.connection.is_live());
        // The client reads again: the echo arrives.
        tls.harness.socket().lock().write_sizes.clear();
        assert_eq!(wait_of(tls.harness.turn()), Some(Wait::Live));
        tls.client_receives();
        assert!(
            tls.received.ends_with(&[0x82, 0x04, 0, 0, 0, 0]),
            "{:?}",
            tls.received
        );
    }
}

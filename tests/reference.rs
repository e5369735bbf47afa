//! The reference app (`examples/reference.rs`, the contract in `shared/reference-app.md`),
//! built exactly as the example builds it, over TCP. (It needs the `multipart` feature, on
//! by default, as the example does.)
#![cfg(feature = "multipart")]

mod support;

#[allow(dead_code)] // the example's `main` and argument parsing are not used here
#[path = "../examples/reference.rs"]
mod reference;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use support::{IO_TIMEOUT, connect, read_reply, spawn};

/// The contract: "bodies up to at least 64 MiB, Content-Length or chunked".
const ECHO_BODY_BYTES: usize = 64 * 1024 * 1024;

fn payload(len: usize) -> Vec<u8> {
    // Not a repeating pattern of any power-of-two period, so a misplaced chunk shows.
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Writes `bytes`; if the server stops reading (a 413, say), fails with what it answered.
fn send(stream: &mut TcpStream, reader: &mut BufReader<TcpStream>, bytes: &[u8]) {
    if let Err(error) = stream.write_all(bytes) {
        let mut status_line = String::new();
        let _ = reader.read_line(&mut status_line);
        panic!("the server stopped reading ({error}) and answered {status_line:?}");
    }
}

fn options(metrics_page: bool) -> reference::Options {
    reference::Options {
        threads: 2,
        metrics_page,
        ..reference::Options::default()
    }
}

/// `--noop-middleware` and `--extra-routes` (for the cost benchmarks) leave the contract's
/// routes as they were.
#[test]
fn the_cost_flags_add_middleware_and_routes_and_keep_the_contract() {
    let server = spawn(reference::builder_with(&reference::Options {
        noop_middleware: 3,
        extra_routes: 488,
        ..options(false)
    }));
    let addr = server.local_addr();
    assert_eq!(support::get(addr, "/users/7").text(), "user 7");
    assert_eq!(support::get(addr, "/plaintext").text(), "Hello, World!");
    assert_eq!(support::get(addr, "/api/v1/resource486/9").text(), "extra");
    assert_eq!(
        support::get(addr, "/api/v1/resource487/items").text(),
        "extra"
    );
    assert_eq!(support::get(addr, "/api/v1/resource488/items").status, 404);
}

/// `--metrics` serves the Prometheus page; without it, `/metrics` is a 404.
#[test]
fn metrics_page_only_with_the_flag() {
    let server = spawn(reference::builder_with(&options(true)));
    let _ = support::get(server.local_addr(), "/json");
    let reply = support::get(server.local_addr(), "/metrics");
    assert_eq!(reply.status, 200);
    assert!(
        reply.text().contains(
            "switchyard_request_duration_seconds_count{route=\"/json\",method=\"GET\"} 1\n"
        ),
        "{}",
        reply.text()
    );
    let server = spawn(reference::builder_with(&options(false)));
    assert_eq!(support::get(server.local_addr(), "/metrics").status, 404);
}

/// `--static DIR` serves DIR at `/static/`: index.html for the directory, ranges.
#[test]
fn static_flag_serves_a_directory() {
    let dir = std::env::temp_dir().join(format!(
        "switchyard-reference-static-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(dir.join("a.txt"), "0123456789").unwrap();
    let server = spawn(reference::builder_with(&reference::Options {
        static_dir: Some(dir.clone()),
        ..options(false)
    }));
    let addr = server.local_addr();
    assert_eq!(support::get(addr, "/static/").text(), "<h1>home</h1>");
    let mut client = support::Client::new(addr);
    client.send(b"GET /static/a.txt HTTP/1.1\r\nHost: h\r\nRange: bytes=2-4\r\n\r\n");
    let reply = client.reply();
    assert_eq!(reply.status, 206);
    assert_eq!(reply.text(), "234");
    assert_eq!(support::get(addr, "/static/../Cargo.toml").status, 404);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--cors ORIGIN` answers preflights and marks responses; `--compress` gzips what is
/// worth it (feature `compression`).
#[test]
fn cors_and_compress_flags() {
    let server = spawn(reference::builder_with(&reference::Options {
        cors: Some("http://app.test".into()),
        compress: cfg!(feature = "compression"),
        ..options(false)
    }));
    let mut client = support::Client::new(server.local_addr());
    client.send(
        b"OPTIONS /json HTTP/1.1\r\nHost: h\r\nOrigin: http://app.test\r\n\
          Access-Control-Request-Method: PUT\r\n\r\n",
    );
    let reply = client.reply();
    assert_eq!(reply.status, 204);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("http://app.test")
    );
    client.send(b"GET /json HTTP/1.1\r\nHost: h\r\nOrigin: http://app.test\r\n\r\n");
    let reply = client.reply();
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("http://app.test")
    );
    assert_eq!(reply.text(), r#"{"message":"Hello, World!"}"#); // under the minimum size
    if cfg!(feature = "compression") {
        client.send(b"GET /stream/200 HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n\r\n");
        let reply = client.reply();
        assert_eq!(reply.header("content-encoding"), Some("gzip"));
    }
}

/// `POST /echo` sends back a 64 MiB body byte for byte, framed by Content-Length or
/// chunked (it was 413 past the 2 MiB default body limit).
#[test]
fn echo_returns_64_mib_bodies_byte_for_byte() {
    let server = spawn(reference::builder_with(&options(false)));
    let body = payload(ECHO_BODY_BYTES);
    let mut stream = connect(server.local_addr());
    stream.set_read_timeout(Some(IO_TIMEOUT * 4)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT * 4)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());

    write!(
        stream,
        "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-test\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    send(&mut stream, &mut reader, &body);
    let reply = read_reply(&mut reader, false);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/x-test"));
    assert_eq!(reply.body.len(), body.len());
    assert!(reply.body == body, "the Content-Length echo differs");

    // The same connection, chunked, in uneven chunks.
    send(
        &mut stream,
        &mut reader,
        b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for chunk in body.chunks(1024 * 1024 - 7) {
        send(
            &mut stream,
            &mut reader,
            format!("{:x}\r\n", chunk.len()).as_bytes(),
        );
        send(&mut stream, &mut reader, chunk);
        send(&mut stream, &mut reader, b"\r\n");
    }
    send(&mut stream, &mut reader, b"0\r\n\r\n");
    let reply = read_reply(&mut reader, false);
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(reply.body.len(), body.len());
    assert!(reply.body == body, "the chunked echo differs");
}

fn ws_client(addr: std::net::SocketAddr, path: &str) -> tungstenite::WebSocket<TcpStream> {
    let stream = connect(addr);
    let (client, response) =
        tungstenite::client(format!("ws://{addr}{path}").as_str(), stream).expect("handshake");
    assert_eq!(response.status(), 101);
    client
}

fn next_message(client: &mut tungstenite::WebSocket<TcpStream>) -> tungstenite::Message {
    loop {
        match client.read().expect("a message") {
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => {}
            message => return message,
        }
    }
}

/// `/ws` echoes text and binary, and answers a close with the same code.
#[test]
fn ws_echoes_and_answers_a_close_with_its_code() {
    use tungstenite::Message;
    use tungstenite::protocol::CloseFrame;
    use tungstenite::protocol::frame::coding::CloseCode;
    let server = spawn(reference::builder_with(&options(false)));
    let mut client = ws_client(server.local_addr(), "/ws");
    client.send(Message::text("hello")).unwrap();
    assert_eq!(next_message(&mut client), Message::text("hello"));
    client.send(Message::binary(vec![1u8, 2, 3])).unwrap();
    assert_eq!(next_message(&mut client), Message::binary(vec![1u8, 2, 3]));
    let frame = CloseFrame {
        code: CloseCode::Library(4321),
        reason: "".into(),
    };
    client.close(Some(frame)).unwrap();
    match next_message(&mut client) {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Library(4321)),
        other => panic!("{other:?}"),
    }
}

/// `/broadcast` sends every message to every /broadcast connection.
#[test]
fn broadcast_reaches_every_connection() {
    use tungstenite::Message;
    let server = spawn(reference::builder_with(&options(false)));
    let addr = server.local_addr();
    let mut clients: Vec<_> = (0..3).map(|_| ws_client(addr, "/broadcast")).collect();
    // Every client is subscribed once it got a message of its own back.
    for (i, client) in clients.iter_mut().enumerate() {
        let hello = format!("hello from {i}");
        client.send(Message::text(hello.clone())).unwrap();
        loop {
            if next_message(client) == Message::text(hello.clone()) {
                break;
            }
        }
    }
    clients[0].send(Message::text("to all")).unwrap();
    for client in &mut clients {
        loop {
            if next_message(client) == Message::text("to all") {
                break;
            }
        }
    }
}

/// `/events` ticks every 100 ms from 1, or from `Last-Event-ID` + 1.
#[test]
fn events_tick_and_resume_after_the_last_event_id() {
    let server = spawn(reference::builder_with(&options(false)));
    for (header, first) in [("", 1), ("Last-Event-ID: 9\r\n", 10)] {
        let mut stream = connect(server.local_addr());
        write!(stream, "GET /events HTTP/1.1\r\nHost: x\r\n{header}\r\n").unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while line != "\r\n" {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line.to_ascii_lowercase().starts_with("content-type") {
                assert_eq!(line.trim(), "content-type: text/event-stream");
            }
        }
        let mut seen = Vec::new();
        while seen.len() < 4 {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line.starts_with("id: ") || line.starts_with("data: ") {
                seen.push(line.trim().to_owned());
            }
        }
        assert_eq!(
            seen,
            [
                format!("id: {first}"),
                format!("data: tick {first}"),
                format!("id: {}", first + 1),
                format!("data: tick {}", first + 1),
            ]
        );
    }
}

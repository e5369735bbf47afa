//! Request bodies streamed to handlers (`Router::stream_bodies`): larger than the buffered
//! limit, read as they arrive, with the connection reusable afterwards.

mod support;

use std::io::{BufReader, Read, Write};

use support::{Client, connect, read_reply, spawn};
use switchyard::http::StatusCode;
use switchyard::{Request, Response, Router, RunningServer, Server};

const STREAM_LIMIT: u64 = 8 * 1024 * 1024;

/// Reads the whole body in pieces, answering its length and a checksum; an error from the
/// body becomes 413 or 400.
fn count(req: &Request) -> Response {
    let mut reader = req.body_reader();
    let mut piece = [0u8; 8192];
    let (mut total, mut sum) = (0u64, 0u64);
    loop {
        match reader.read(&mut piece) {
            Ok(0) => break,
            Ok(n) => {
                total += n as u64;
                sum = piece[..n].iter().fold(sum, |acc, &b| {
                    acc.wrapping_mul(31).wrapping_add(u64::from(b))
                });
            }
            Err(e) if e.to_string().contains("limit") => {
                return Response::text("too large").with_status(StatusCode::PAYLOAD_TOO_LARGE);
            }
            Err(e) => {
                return Response::text(format!("bad body: {e}"))
                    .with_status(StatusCode::BAD_REQUEST);
            }
        }
    }
    Response::text(format!("{total} {sum} streamed={}", req.is_body_streamed()))
}

fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0u64, |acc, &b| {
        acc.wrapping_mul(31).wrapping_add(u64::from(b))
    })
}

fn server() -> RunningServer {
    let uploads = Router::new()
        .post("/upload", count)
        .post("/ignore", |_: &Request| "not reading it")
        .stream_bodies(STREAM_LIMIT);
    spawn(
        Server::builder()
            .threads(2)
            .app(Router::new().merge(uploads))
            .route(http::Method::POST, "/buffered", count)
            .route(http::Method::GET, "/next", |_: &Request| "next"),
    )
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn body_larger_than_the_buffered_limit_streams_and_the_connection_is_reused() {
    let server = server();
    let body = payload(5 * 1024 * 1024); // over the 2 MiB buffered default
    let mut client = Client::new(server.local_addr());
    client.send(
        format!(
            "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    client.send(&body);
    let reply = client.reply();
    assert_eq!(
        reply.text(),
        format!("{} {} streamed=true", body.len(), checksum(&body))
    );
    assert_eq!(reply.header("connection"), None);
    assert_eq!(client.get("/next").text(), "next");
    // The same body on a buffered route is refused before it is read.
    let mut client = Client::new(server.local_addr());
    client.send(
        format!(
            "POST /buffered HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(client.reply().status, 413);
    server.shutdown().unwrap();
}

#[test]
fn chunked_body_streams_and_a_pipelined_request_after_it_is_served() {
    let server = server();
    let body = payload(300_000);
    let mut request =
        b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in body.chunks(70_000) {
        request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        request.extend_from_slice(piece);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n");
    let mut client = Client::new(server.local_addr());
    client.send(&request);
    assert_eq!(
        client.reply().text(),
        format!("{} {} streamed=true", body.len(), checksum(&body))
    );
    assert_eq!(client.reply().text(), "next");
    server.shutdown().unwrap();
}

#[test]
fn streamed_body_over_its_limit_fails_the_read() {
    let server = server();
    let mut client = Client::new(server.local_addr());
    client.send(
        format!(
            "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
            STREAM_LIMIT + 1
        )
        .as_bytes(),
    );
    // Announced too large: refused before the body is sent.
    let reply = client.reply();
    assert_eq!(reply.status, 413);
    // Chunked, no length announced: the handler's read fails at the limit.
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let piece = payload(1 << 20);
    let mut sent = 0u64;
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    while sent <= STREAM_LIMIT {
        let mut chunk = format!("{:x}\r\n", piece.len()).into_bytes();
        chunk.extend_from_slice(&piece);
        chunk.extend_from_slice(b"\r\n");
        if stream.write_all(&chunk).is_err() {
            break;
        }
        sent += piece.len() as u64;
    }
    let reply = read_reply(&mut reader, false);
    assert_eq!(
        (reply.status, reply.header("connection")),
        (413, Some("close"))
    );
    server.shutdown().unwrap();
}

#[test]
fn a_body_the_handler_does_not_read_closes_the_connection() {
    let server = server();
    let mut client = Client::new(server.local_addr());
    client.send(b"POST /ignore HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789");
    let reply = client.reply();
    assert_eq!(
        (reply.text().as_str(), reply.header("connection")),
        ("not reading it", Some("close"))
    );
    assert!(support::is_closed(client.stream()));
    server.shutdown().unwrap();
}

#[test]
fn expect_continue_is_sent_only_when_the_handler_reads() {
    let server = server();
    let mut client = Client::new(server.local_addr());
    client.send(
        b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    assert_eq!(client.reply().status, 100);
    client.send(b"hello");
    assert_eq!(
        client.reply().text(),
        format!("5 {} streamed=true", checksum(b"hello"))
    );
    // A handler that never reads answers without 100 Continue.
    let mut client = Client::new(server.local_addr());
    client.send(
        b"POST /ignore HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    let reply = client.reply();
    assert_eq!(reply.status, 200);
    server.shutdown().unwrap();
}

//! Streamed response bodies built from an iterator (`Body::from_chunks`) and from a closure
//! that writes (`Body::writer`), served over TCP: the decoded chunked body is exactly what
//! was produced, and the chunks have the documented sizes.

mod support;

use std::io::{self, Write};
use std::sync::mpsc;
use std::time::Duration;

use support::{Client, connect, read_reply, read_to_close, spawn};
use switchyard::http::Method;
use switchyard::{Body, Request, Response, RunningServer, Server};

/// Bounds every wait for something a writer thread reports.
const WAIT: Duration = Duration::from_secs(10);

/// Size of the `/writer/large` body.
const LARGE_BODY_BYTES: usize = 1024 * 1024;

/// The server reads a streamed body 16 KiB at a time; each read is one chunk.
const CHUNK_BYTES: usize = 16 * 1024;

fn pattern(len: usize) -> Vec<u8> {
    // Not a repeating pattern of any power-of-two period, so a misplaced chunk shows.
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// `/writer/head-or-get` reports the method of each request whose writer ran on `ran`;
/// `/writer/endless` reports how its writes ended on `ended`.
fn server(ran: mpsc::Sender<Method>, ended: mpsc::Sender<io::ErrorKind>) -> RunningServer {
    spawn(
        Server::builder()
            .threads(2)
            .route(Method::GET, "/chunks/tiny", |_: &Request| {
                let items = (0..1000u32).map(|i| [b'a' + (i % 26) as u8]);
                Response::bytes(Body::from_chunks(items))
            })
            .route(Method::GET, "/chunks/large", |_: &Request| {
                let items = vec![b"ab".to_vec(), pattern(40_000), b"cd".to_vec()];
                Response::bytes(Body::from_chunks(items))
            })
            .route(Method::GET, "/chunks/lines", |_: &Request| {
                let lines = (1..=3).map(|n| format!("line {n}\n"));
                Response::bytes(Body::from_chunks(lines))
            })
            .route(Method::GET, "/writer/large", |_: &Request| {
                Response::bytes(Body::writer(|out| {
                    // Uneven writes, so the buffering is what makes the chunk sizes.
                    for piece in pattern(LARGE_BODY_BYTES).chunks(1000) {
                        let (a, b) = piece.split_at(piece.len() / 3);
                        out.write_all(a)?;
                        out.write_all(b)?;
                    }
                    Ok(())
                }))
            })
            .route(Method::GET, "/writer/events", |_: &Request| {
                Response::bytes(Body::writer(|out| {
                    for n in 1..=3 {
                        writeln!(out, "event {n}")?;
                        out.flush()?;
                    }
                    Ok(())
                }))
            })
            .route(Method::GET, "/writer/fails", |_: &Request| {
                Response::bytes(Body::writer(|out| {
                    out.write_all(b"partial")?;
                    out.flush()?;
                    Err(io::Error::other("the data source failed"))
                }))
            })
            .route(Method::GET, "/writer/endless", move |_: &Request| {
                let ended = ended.clone();
                Response::bytes(Body::writer(move |out| {
                    let error = loop {
                        if let Err(error) = out.write_all(&[b'x'; 4096]) {
                            break error;
                        }
                    };
                    let _ = ended.send(error.kind());
                    Err(error)
                }))
            })
            .route(Method::GET, "/writer/head-or-get", move |req: &Request| {
                let (ran, method) = (ran.clone(), req.method().clone());
                Response::bytes(Body::writer(move |out| {
                    let _ = ran.send(method);
                    out.write_all(b"written")
                }))
            }),
    )
}

fn start() -> (
    RunningServer,
    mpsc::Receiver<Method>,
    mpsc::Receiver<io::ErrorKind>,
) {
    let (ran, runs) = mpsc::channel();
    let (ended, ends) = mpsc::channel();
    (server(ran, ended), runs, ends)
}

#[test]
fn from_chunks_gathers_tiny_items_into_one_chunk() {
    let (server, _, _) = start();
    let reply = Client::new(server.local_addr()).get("/chunks/tiny");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    let expected: Vec<u8> = (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect();
    assert_eq!(reply.body, expected);
    assert_eq!(reply.chunks, Some(vec![1000]));
    server.shutdown().unwrap();
}

#[test]
fn from_chunks_splits_a_large_item_into_16_kib_chunks_and_keeps_the_connection() {
    let (server, _, _) = start();
    let mut client = Client::new(server.local_addr());
    let reply = client.get("/chunks/large");
    assert_eq!(reply.body, [&b"ab"[..], &pattern(40_000), b"cd"].concat());
    assert_eq!(
        reply.chunks,
        Some(vec![CHUNK_BYTES, CHUNK_BYTES, 40_004 - 2 * CHUNK_BYTES])
    );
    // The body ended with its last chunk: the connection serves the next request.
    assert_eq!(
        client.get("/chunks/lines").text(),
        "line 1\nline 2\nline 3\n"
    );
    server.shutdown().unwrap();
}

#[test]
fn writer_streams_a_1_mib_body_exactly_in_16_kib_chunks() {
    let (server, _, _) = start();
    let mut client = Client::new(server.local_addr());
    let reply = client.get("/writer/large");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    assert_eq!(reply.body.len(), LARGE_BODY_BYTES);
    assert!(reply.body == pattern(LARGE_BODY_BYTES), "the body differs");
    assert_eq!(
        reply.chunks,
        Some(vec![CHUNK_BYTES; LARGE_BODY_BYTES / CHUNK_BYTES])
    );
    assert_eq!(
        client.get("/writer/events").text(),
        "event 1\nevent 2\nevent 3\n"
    );
    server.shutdown().unwrap();
}

#[test]
fn writer_flush_sends_each_event_as_one_chunk() {
    let (server, _, _) = start();
    let reply = Client::new(server.local_addr()).get("/writer/events");
    assert_eq!(reply.text(), "event 1\nevent 2\nevent 3\n");
    assert_eq!(reply.chunks, Some(vec![8, 8, 8]));
    server.shutdown().unwrap();
}

#[test]
fn writer_error_closes_the_connection_without_the_last_chunk() {
    let (server, _, _) = start();
    let answer = support::raw(
        server.local_addr(),
        b"GET /writer/fails HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
    assert!(
        answer.contains("transfer-encoding: chunked\r\n"),
        "{answer:?}"
    );
    assert!(answer.ends_with("\r\n\r\n7\r\npartial\r\n"), "{answer:?}");
    server.shutdown().unwrap();
}

#[test]
fn writer_of_a_client_that_goes_away_gets_broken_pipe() {
    let (server, _, ends) = start();
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET /writer/endless HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut reader = io::BufReader::new(stream.try_clone().unwrap());
    let mut status_line = String::new();
    io::BufRead::read_line(&mut reader, &mut status_line).unwrap();
    assert_eq!(status_line, "HTTP/1.1 200 OK\r\n");
    drop(reader);
    drop(stream); // unread data makes this a reset
    assert_eq!(ends.recv_timeout(WAIT), Ok(io::ErrorKind::BrokenPipe));
    server.shutdown().unwrap();
}

#[test]
fn writer_of_a_head_response_never_runs() {
    let (server, runs, _) = start();
    let mut client = Client::new(server.local_addr());
    client.send(b"HEAD /writer/head-or-get HTTP/1.1\r\nHost: h\r\n\r\n");
    let head = read_reply(&mut io::BufReader::new(client.stream()), true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    assert_eq!(client.get("/writer/head-or-get").text(), "written");
    // Only the GET's writer ran.
    assert_eq!(runs.recv_timeout(WAIT), Ok(Method::GET));
    assert_eq!(runs.try_recv(), Err(mpsc::TryRecvError::Empty));
    server.shutdown().unwrap();
}

#[test]
fn writer_body_over_http_1_0_ends_with_the_connection() {
    let (server, _, _) = start();
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET /writer/events HTTP/1.0\r\nHost: h\r\n\r\n")
        .unwrap();
    let answer = read_to_close(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
    assert!(!answer.contains("transfer-encoding"), "{answer:?}");
    assert!(
        answer.ends_with("\r\n\r\nevent 1\nevent 2\nevent 3\n"),
        "{answer:?}"
    );
    server.shutdown().unwrap();
}

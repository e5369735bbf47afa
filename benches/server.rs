//! Keep-alive round trips through the real server over loopback: one request written, one
//! response read, on one connection, so regressions anywhere on the path show here. (Peer
//! comparisons belong to the load harness in `shared/bench`, not to this crate.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchyard::http::Method;
use switchyard::{Body, Request, Response, Server};

fn plaintext(_: &Request) -> Response {
    Response::with_content_type(Body::from("Hello, World!"), "text/plain")
}

fn json(_: &Request) -> Response {
    Response::with_content_type(
        Body::from(r#"{"message":"Hello, World!"}"#),
        "application/json",
    )
}

/// Reads one response with a `content-length` body; returns the body length.
fn read_response(reader: &mut BufReader<TcpStream>, line: &mut String) -> usize {
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(line).expect("response line");
        if line == "\r\n" {
            break;
        }
        if let Some(value) = line.strip_prefix("content-length: ") {
            length = value.trim_end().parse().expect("length");
        }
    }
    let mut body = [0u8; 64];
    reader.read_exact(&mut body[..length]).expect("body");
    length
}

fn round_trips(c: &mut Criterion) {
    let server = Server::builder()
        .threads(2)
        .route(Method::GET, "/plaintext", plaintext)
        .route(Method::GET, "/json", json)
        .bind("127.0.0.1:0")
        .expect("bind")
        .spawn()
        .expect("spawn");
    let mut group = c.benchmark_group("server/keep_alive_round_trip");
    group.throughput(Throughput::Elements(1));
    for (path, expected_len) in [("/plaintext", 13), ("/json", 27)] {
        let stream = TcpStream::connect(server.local_addr()).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let mut writer = stream.try_clone().expect("clone");
        let mut reader = BufReader::new(stream);
        let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
        let mut line = String::new();
        group.bench_function(path.trim_start_matches('/'), |b| {
            b.iter(|| {
                writer.write_all(request.as_bytes()).expect("write");
                assert_eq!(read_response(&mut reader, &mut line), expected_len);
            });
        });
    }
    group.finish();
    server.shutdown().expect("shutdown");
}

criterion_group!(benches, round_trips);
criterion_main!(benches);

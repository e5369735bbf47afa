//! Request bodies spooled to disk while they arrive: what the handler sees, route limits,
//! the spool's budget, that no file outlives its request (a handler that panics, a client
//! that leaves mid-upload), and that slow uploads hold no worker.

mod support;

use std::io::{BufReader, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use support::{Client, connect, read_reply};
use switchyard::{Handler, Limits, Request, Router, Server, ServerBuilder};

/// Bodies over 64 KiB are spooled in these tests.
const THRESHOLD: u64 = 64 * 1024;

/// What the handler saw: where the body was, its length, a checksum of
/// `body_reader`'s bytes, and whether `body()` agrees.
fn describe(req: &Request) -> String {
    let mut read = Vec::new();
    req.body_reader().read_to_end(&mut read).unwrap();
    let place = match req.body_file() {
        Some(file) => {
            assert!(file.path().exists());
            assert_eq!(file.len(), read.len() as u64);
            "file"
        }
        None => "memory",
    };
    let agrees = req.body() == &read[..];
    format!("{place} {} {} {agrees}", read.len(), checksum(&read))
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |sum, &b| {
        sum.wrapping_mul(31).wrapping_add(u64::from(b))
    })
}

fn builder(spool: &Path, limits: Limits) -> ServerBuilder {
    Server::builder().spool_dir(spool).limits(limits).app(
        Router::new()
            .post("/upload", describe.max_body_bytes(64 << 20))
            .post("/small", describe.max_body_bytes(100))
            .post("/default", describe)
            .post(
                "/panic",
                (|req: &Request| -> String {
                    assert!(req.body_file().is_some());
                    panic!("the handler fails after the upload")
                })
                .max_body_bytes(64 << 20),
            ),
    )
}

fn limits() -> Limits {
    Limits::default().spool_threshold(THRESHOLD)
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// Waits, at most 10 s, until `dir` holds `count` files: the server removes or creates
/// them on its own threads, after events the client cannot observe otherwise.
fn await_files(dir: &Path, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while files_in(dir) != count {
        assert!(
            Instant::now() < deadline,
            "{} files in the spool, expected {count}",
            files_in(dir)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

fn chunked_post(path: &str, body: &[u8], piece: usize) -> Vec<u8> {
    let mut request =
        format!("POST {path} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
            .into_bytes();
    request.extend_from_slice(&support::chunked(body, piece));
    request
}

fn bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn a_long_body_is_spooled_and_read_whole_and_its_file_goes_with_the_request() {
    let spool = tempfile::tempdir().unwrap();
    let server = support::spawn(builder(spool.path(), limits()));
    let mut client = Client::new(server.local_addr());
    let body = bytes(5 << 20);

    // Over the server's 2 MiB on a route that takes 64 MiB; then chunked; then short.
    client.send(&post("/upload", &body));
    let reply = client.reply();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.text(),
        format!("file {} {} true", body.len(), checksum(&body))
    );
    assert_eq!(
        files_in(spool.path()),
        0,
        "removed before the response was sent"
    );

    client.send(&chunked_post("/upload", &body[..3 << 20], 100_000));
    let reply = client.reply();
    let expected = format!("file {} {} true", 3 << 20, checksum(&body[..3 << 20]));
    assert_eq!(reply.text(), expected);

    client.send(&post("/upload", &body[..1000]));
    let reply = client.reply();
    assert_eq!(
        reply.text(),
        format!("memory 1000 {} true", checksum(&body[..1000]))
    );
    assert_eq!(files_in(spool.path()), 0);
}

#[test]
fn each_route_has_its_own_body_limit() {
    let spool = tempfile::tempdir().unwrap();
    let server = support::spawn(builder(spool.path(), limits()));
    let addr = server.local_addr();
    let reply = Client::new(addr).send_and_reply(&post("/small", &[b'x'; 101]));
    assert_eq!(reply.status, 413);
    let reply = Client::new(addr).send_and_reply(&post("/small", &[b'x'; 100]));
    assert_eq!(reply.status, 200);
    // The server's own limit (2 MiB) still holds elsewhere.
    let body = bytes(2 << 20);
    let reply = Client::new(addr).send_and_reply(&post("/default", &body));
    assert_eq!(reply.status, 200, "{}", reply.text());
    // Refused on its announced length, before the body is sent.
    let head = format!(
        "POST /default HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
        (2 << 20) + 1
    );
    let reply = Client::new(addr).send_and_reply(head.as_bytes());
    assert_eq!(reply.status, 413);
    // A chunked body over the route's limit is cut off as it goes over.
    let reply = Client::new(addr).send_and_reply(&chunked_post("/small", &[b'y'; 300], 50));
    assert_eq!(reply.status, 413);
    assert_eq!(files_in(spool.path()), 0);
}

#[test]
fn a_handler_that_panics_leaves_no_file_behind() {
    let spool = tempfile::tempdir().unwrap();
    let server = support::spawn(builder(spool.path(), limits()));
    let reply = Client::new(server.local_addr()).send_and_reply(&post("/panic", &bytes(1 << 20)));
    assert_eq!(reply.status, 500);
    assert_eq!(files_in(spool.path()), 0);
    // The worker lived on.
    let reply = Client::new(server.local_addr()).send_and_reply(&post("/upload", &bytes(100)));
    assert_eq!(reply.status, 200);
}

#[test]
fn a_client_that_leaves_mid_upload_leaves_no_file_behind() {
    let spool = tempfile::tempdir().unwrap();
    let server = support::spawn(builder(spool.path(), limits()));
    let body = bytes(4 << 20);
    let request = post("/upload", &body);
    let mut stream = connect(server.local_addr());
    stream.write_all(&request[..1 << 20]).unwrap();
    await_files(spool.path(), 1);
    drop(stream);
    await_files(spool.path(), 0);
}

#[test]
fn a_body_over_the_spool_budget_is_503_and_an_unwritable_spool_500() {
    let spool = tempfile::tempdir().unwrap();
    let tight = limits().max_spooled_bytes(1 << 20);
    let server = support::spawn(builder(spool.path(), tight));
    // A `Content-Length` body takes its whole length of the spool at once: refused before
    // its bytes are sent (the client sends none, so the close after the answer is clean).
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
        (1 << 20) + 1
    );
    let reply = Client::new(server.local_addr()).send_and_reply(head.as_bytes());
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(files_in(spool.path()), 0);
    // A chunked one as it goes over: the client stops just past the budget.
    let body = bytes((1 << 20) + 1);
    let mut request =
        b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    request.extend_from_slice(format!("{:x}\r\n", body.len() + 1000).as_bytes());
    request.extend_from_slice(&body);
    let reply = Client::new(server.local_addr()).send_and_reply(&request);
    assert_eq!(reply.status, 503, "{}", reply.text());
    await_files(spool.path(), 0);
    // Under the threshold, a body needs no spool.
    let reply = Client::new(server.local_addr()).send_and_reply(&post("/upload", &bytes(1000)));
    assert_eq!(reply.status, 200);

    // A spool that cannot be written: refused once the body is known to need it, before
    // its bytes are sent.
    let missing = spool.path().join("missing");
    let server = support::spawn(builder(&missing, limits()));
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
        1 << 20
    );
    let reply = Client::new(server.local_addr()).send_and_reply(head.as_bytes());
    assert_eq!(reply.status, 500, "{}", reply.text());
}

/// The scenario in small: one worker, uploads trickling in on many connections,
/// and other requests answered meanwhile; then every upload completes.
#[test]
fn slow_uploads_hold_no_worker() {
    let spool = tempfile::tempdir().unwrap();
    let server = support::spawn(builder(spool.path(), limits()).threads(1));
    let addr = server.local_addr();
    let body = bytes(1 << 20);
    let request = post("/upload", &body);
    let mut uploads: Vec<_> = (0..10).map(|_| connect(addr)).collect();
    let mut sent = 0;
    for step in [100, 200_000, 400_000, 800_000] {
        for upload in &mut uploads {
            upload.write_all(&request[sent..step]).unwrap();
        }
        sent = step;
        // Every upload is mid-body: the only worker must still answer this.
        let reply = Client::new(addr).send_and_reply(&post("/upload", b"ping"));
        assert_eq!(reply.status, 200);
        assert_eq!(reply.text(), format!("memory 4 {} true", checksum(b"ping")));
    }
    for upload in uploads {
        let mut upload = upload;
        upload.write_all(&request[sent..]).unwrap();
        let reply = read_reply(&mut BufReader::new(upload), false);
        assert_eq!(
            reply.text(),
            format!("file {} {} true", body.len(), checksum(&body))
        );
    }
    assert_eq!(files_in(spool.path()), 0);
}

/// The body timeout counts from the first wait, and what arrives earns more time at
/// `min_body_rate`: a steady upload outlives the timeout, a trickle does not.
#[test]
fn a_steady_upload_outlives_the_body_timeout_and_a_trickle_does_not() {
    let spool = tempfile::tempdir().unwrap();
    let limits = limits()
        .body_read_timeout(Duration::from_millis(300))
        .min_body_rate(10_000);
    let server = support::spawn(builder(spool.path(), limits));
    let body = bytes(200_000);
    let request = post("/upload", &body);
    let (head, rest) = request.split_at(request.len() - body.len());
    // 200 kB in 20 pieces, 100 ms apart: 2 s, earning 20 s at 10 kB/s.
    let mut steady = connect(server.local_addr());
    steady.write_all(head).unwrap();
    for piece in rest.chunks(10_000) {
        steady.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let reply = read_reply(&mut BufReader::new(steady), false);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(files_in(spool.path()), 0);

    // 100 bytes every 50 ms (2 kB/s) earns 10 ms a piece: cut off well before its end.
    let trickle = connect(server.local_addr());
    let mut writer = trickle.try_clone().unwrap();
    writer.write_all(head).unwrap();
    let started = Instant::now();
    let rest = rest.to_vec();
    let trickling = std::thread::spawn(move || {
        for piece in rest.chunks(100) {
            if writer.write_all(piece).is_err() || started.elapsed() > Duration::from_secs(3) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let reply = read_reply(&mut BufReader::new(trickle), false);
    assert_eq!(reply.status, 408);
    assert!(started.elapsed() < Duration::from_secs(3));
    trickling.join().unwrap();
    await_files(spool.path(), 0);
}

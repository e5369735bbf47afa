//! HTTP/2 (feature `http2`) with a real client (the `h2` library's, over blocking sockets;
//! `support/h2.rs`), curl and h2load when installed: h2c beside HTTP/1.1 on one port,
//! requests with their headers and bodies (spooled when long, refused when too long),
//! streams served in parallel on their pools, flow control holding back only its stream,
//! streamed and file bodies, panics, graceful shutdown, and ALPN `h2` over TLS.
//! Frame-level limits and attacks are in `http2_attacks.rs`.

#![cfg(feature = "http2")]

#[path = "support/h2.rs"]
mod h2_client;
mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use h2_client::{H2Client, get, request};
use support::spawn;
use switchyard::http::{Method, StatusCode, Version, header};
use switchyard::live::{Event, EventStream};
use switchyard::{Body, CancelReason, Limits, Request, Response, Router, Server};

/// An access log's lines, shared with the test.
#[derive(Clone, Default)]
struct SharedLog(Arc<Mutex<Vec<u8>>>);

impl SharedLog {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for SharedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn h2c_server(router: Router) -> switchyard::RunningServer {
    spawn(Server::builder().threads(4).h2c(true).app(router))
}

fn version_name(version: Version) -> &'static str {
    match version {
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_10 => "HTTP/1.0",
        _ => "other",
    }
}

#[test]
fn h2c_with_prior_knowledge_and_http1_share_a_port() {
    let log = SharedLog::default();
    let server = spawn(
        Server::builder()
            .threads(4)
            .h2c(true)
            .plugin(switchyard::AccessLog::new(log.clone()))
            .route(Method::GET, "/version", |req: &Request| {
                format!("{} {}", version_name(req.version()), req.uri())
            }),
    );
    let mut client = h2_client::connect(server.local_addr());
    let reply = client.get("/version?x=1");
    assert_eq!(reply.status, StatusCode::OK);
    // The target in origin form, as over HTTP/1.1; the access log says HTTP/2.0.
    assert_eq!(reply.text(), "HTTP/2.0 /version?x=1");
    assert_eq!(reply.headers[header::CONTENT_LENGTH], "21");
    assert!(reply.headers.contains_key(header::DATE));
    assert!(
        log.text().contains("\"GET /version?x=1 HTTP/2.0\" 200"),
        "{}",
        log.text()
    );
    // Many requests on the one connection.
    for _ in 0..20 {
        assert_eq!(client.get("/version").text(), "HTTP/2.0 /version");
    }
    assert_eq!(client.get("/nope").status, StatusCode::NOT_FOUND);
    let http1 = support::get(server.local_addr(), "/version");
    assert_eq!(
        (http1.status, http1.text().as_str()),
        (200, "HTTP/1.1 /version")
    );
}

#[test]
fn without_h2c_the_preface_is_an_unsupported_version() {
    let server = spawn(Server::builder().threads(1).handler(|_: &Request| "hello"));
    let answer = support::raw(server.local_addr(), b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 505"), "{answer}");
}

#[test]
fn a_request_brings_its_method_path_headers_host_and_body() {
    let server = h2c_server(Router::new().post("/echo/{name}", |req: &Request| {
        format!(
            "{} {} name={} host={} x-tag={} body={}",
            req.method(),
            req.uri().path(),
            req.param("name").unwrap_or("-"),
            req.headers()
                .get(header::HOST)
                .map_or("-", |v| v.to_str().unwrap()),
            req.headers()
                .get("x-tag")
                .map_or("-", |v| v.to_str().unwrap()),
            String::from_utf8_lossy(req.body()),
        )
    }));
    let mut client = h2_client::connect(server.local_addr());
    let mut post = request(Method::POST, "/echo/a%20b");
    post.headers_mut()
        .insert("x-tag", header::HeaderValue::from_static("seven"));
    let reply = client.request(post, b"hello over h2");
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.text(),
        "POST /echo/a%20b name=a b host=localhost x-tag=seven body=hello over h2"
    );
}

#[test]
fn a_long_body_is_spooled_and_one_over_the_limit_is_refused_with_413() {
    let limits = Limits::default()
        .spool_threshold(64 * 1024)
        .max_body_bytes(2 * 1024 * 1024);
    let router = Router::new().post("/upload", |req: &Request| {
        let spooled = req.body_file().is_some();
        let body = req.body();
        let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
        format!("len={} spooled={spooled} sum={sum}", body.len())
    });
    let server = spawn(
        Server::builder()
            .threads(2)
            .h2c(true)
            .limits(limits)
            .app(router),
    );
    let mut client = h2_client::connect(server.local_addr());
    let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
    let reply = client.request(request(Method::POST, "/upload"), &body);
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.text(), format!("len=1000000 spooled=true sum={sum}"));
    let reply = client.request(request(Method::POST, "/upload"), b"short");
    assert_eq!(reply.text(), "len=5 spooled=false sum=560");

    // Over the limit, announced or not: 413, and the connection goes on serving.
    let too_long = vec![b'x'; 3 * 1024 * 1024];
    let mut announced = request(Method::POST, "/upload");
    announced
        .headers_mut()
        .insert(header::CONTENT_LENGTH, too_long.len().into());
    // Refused from its head: the whole answer comes before a byte of the body is sent, then
    // a reset with NO_ERROR (RFC 9113 §8.1) tells the client to stop sending.
    let (response, _body_never_sent) = client.send.send_request(announced, false).unwrap();
    let reply = client.finish(response);
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.text(), "request body exceeds 2097152 bytes\n");
    let reply = client.request(request(Method::POST, "/upload"), &too_long);
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.text(), "request body exceeds 2097152 bytes\n");
    let reply = client.request(request(Method::POST, "/upload"), b"again");
    assert_eq!(reply.status, StatusCode::OK);
}

/// A meeting point for `parties` handlers: each waits until all have arrived, or 5 s.
#[derive(Default)]
struct Meeting {
    arrived: Mutex<usize>,
    all_here: Condvar,
}

impl Meeting {
    fn meet(&self, parties: usize) -> bool {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.all_here.notify_all();
        let deadline = Instant::now() + Duration::from_secs(5);
        while *arrived < parties {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            arrived = self.all_here.wait_timeout(arrived, left).unwrap().0;
        }
        true
    }
}

#[test]
fn the_streams_of_one_connection_run_in_parallel_on_the_workers() {
    let meeting = Arc::new(Meeting::default());
    let router = Router::new().get(
        "/meet",
        move |_: &Request| {
            if meeting.meet(4) { "together" } else { "alone" }
        },
    );
    let server = spawn(Server::builder().threads(4).h2c(true).app(router));
    let mut client = h2_client::connect(server.local_addr());
    let started = Instant::now();
    let pending: Vec<_> = (0..4).map(|_| client.start(get("/meet"), b"")).collect();
    for response in pending {
        let reply = client.finish(response);
        assert_eq!(reply.text(), "together");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_stream_runs_on_its_routes_pool() {
    let router = Router::new()
        .get("/where", |_: &Request| {
            std::thread::current().name().unwrap_or("-").to_owned()
        })
        .merge(
            Router::new()
                .get("/slow/where", |_: &Request| {
                    std::thread::current().name().unwrap_or("-").to_owned()
                })
                .on_pool("slow"),
        );
    let server = spawn(
        Server::builder()
            .threads(2)
            .worker_pool("slow", 1)
            .h2c(true)
            .app(router),
    );
    let mut client = h2_client::connect(server.local_addr());
    let slow = client.get("/slow/where").text();
    assert!(slow.starts_with("switchyard-slow"), "{slow}");
    let main = client.get("/where").text();
    assert!(!main.starts_with("switchyard-slow"), "{main}");
}

#[test]
fn a_panicking_handler_costs_one_500_and_the_connection_goes_on() {
    let server = h2c_server(support::panicking_app().get("/fine", |_: &Request| "fine"));
    let mut client = h2_client::connect(server.local_addr());
    assert_eq!(
        client.get("/handler").status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(client.get("/fine").text(), "fine");
}

#[test]
fn a_stream_whose_window_is_closed_holds_back_no_other() {
    let big = Arc::new(vec![b'b'; 4 * 1024 * 1024]);
    let router = Router::new()
        .get("/big", move |_: &Request| Response::bytes(big.to_vec()))
        .get("/small", |_: &Request| "small");
    let server = h2c_server(router);
    let stream = h2_client::blocking_socket(server.local_addr());
    let mut builder = h2::client::Builder::new();
    builder
        .initial_window_size(64 * 1024)
        .initial_connection_window_size(8 * 1024 * 1024);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
    let mut client = H2Client::handshake_with(stream, fd, &builder);
    // The big body is never read: its stream's window stays closed after 64 KiB.
    let big = client.start(get("/big"), b"");
    let big = client.drive(big).unwrap();
    for _ in 0..5 {
        assert_eq!(client.get("/small").text(), "small");
    }
    // Reading it now opens the window: all of it arrives.
    let body = client.drive(h2_client::read_body(big.into_body())).unwrap();
    assert_eq!(body.len(), 4 * 1024 * 1024);
}

#[test]
fn streamed_and_file_bodies_and_head_requests() {
    let dir = std::env::temp_dir().join(format!("switchyard-h2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("file.bin");
    let contents: Vec<u8> = (0..300_000u32).map(|i| (i % 7) as u8).collect();
    std::fs::write(&path, &contents).unwrap();
    let file_path = path.clone();
    let router = Router::new()
        .get("/chunks", |_: &Request| {
            Response::bytes(Body::from_chunks((0..100).map(|i| format!("chunk {i}\n"))))
        })
        .get("/file", move |_: &Request| {
            Response::bytes(Body::file(std::fs::File::open(&file_path).unwrap()).unwrap())
        })
        .get("/plain", |_: &Request| "Hello, World!")
        .get("/longer", |_: &Request| {
            // A source with more than its announced length: only the length is sent.
            Response::bytes(Body::sized_stream(std::io::repeat(b'r'), 20_000))
        });
    let server = h2c_server(router);
    let mut client = h2_client::connect(server.local_addr());
    let expected: String = (0..100).map(|i| format!("chunk {i}\n")).collect();
    let chunks = client.get("/chunks");
    assert_eq!(chunks.text(), expected);
    assert!(!chunks.headers.contains_key(header::TRANSFER_ENCODING));
    let file = client.get("/file");
    assert_eq!(file.body, contents);
    assert_eq!(file.headers[header::CONTENT_LENGTH], "300000");
    let longer = client.get("/longer");
    assert_eq!(longer.body, vec![b'r'; 20_000]);
    assert_eq!(longer.headers[header::CONTENT_LENGTH], "20000");
    let head = client.request(request(Method::HEAD, "/plain"), b"");
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.headers[header::CONTENT_LENGTH], "13");
    assert!(head.body.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_hundred_concurrent_streams_on_ten_connections() {
    let served = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&served);
    let server = h2c_server(Router::new().get("/n/{i}", move |req: &Request| {
        counter.fetch_add(1, Ordering::Relaxed);
        format!("n={}", req.param("i").unwrap())
    }));
    for _ in 0..10 {
        let mut client = h2_client::connect(server.local_addr());
        let pending: Vec<_> = (0..100)
            .map(|i| client.start(get(&format!("/n/{i}")), b""))
            .collect();
        for (i, response) in pending.into_iter().enumerate() {
            assert_eq!(client.finish(response).text(), format!("n={i}"));
        }
    }
    assert_eq!(served.load(Ordering::Relaxed), 1000);
}

#[test]
fn graceful_shutdown_says_goaway_and_finishes_the_streams_in_flight() {
    let (entered_tx, entered) = mpsc::channel::<()>();
    let (release, released) = mpsc::channel::<()>();
    let entered_tx = Mutex::new(entered_tx);
    let released = Mutex::new(released);
    let router = Router::new().get("/slow", move |_: &Request| {
        entered_tx.lock().unwrap().send(()).unwrap();
        let _ = released
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(5));
        "finished"
    });
    let server = h2c_server(router);
    let addr = server.local_addr();
    let mut client = h2_client::connect(addr);
    let slow = client.start(get("/slow"), b"");
    // Drive the connection until the handler runs.
    let response = {
        let mut response = Some(slow);
        let deadline = Instant::now() + Duration::from_secs(5);
        while entered.try_recv().is_err() {
            assert!(Instant::now() < deadline, "the handler never started");
            client.poll_connection();
        }
        response.take().unwrap()
    };
    let shutdown = std::thread::spawn(move || server.shutdown().unwrap());
    // The listener closes as the drain starts.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "the listener stayed open");
        std::thread::yield_now();
    }
    release.send(()).unwrap();
    let reply = client.finish(response);
    assert_eq!(reply.text(), "finished");
    assert!(
        client.wait_for_end(Duration::from_secs(5)),
        "the connection ends after its last stream"
    );
    let report = shutdown.join().unwrap();
    assert!(report.is_clean(), "{report:?}");
}

#[test]
fn metrics_count_http2_connections_streams_resets_and_goaways() {
    let limits = Limits::default().keep_alive_timeout(Duration::from_millis(300));
    let router = Router::new()
        .get("/ok", |_: &Request| "ok")
        .post("/upload", |req: &Request| req.body().len().to_string());
    let server = spawn(
        Server::builder()
            .threads(2)
            .h2c(true)
            .limits(limits)
            .app(router),
    );
    let mut client = h2_client::connect(server.local_addr());
    for _ in 0..3 {
        assert_eq!(client.get("/ok").text(), "ok");
    }
    // A body the client gives up on halfway: reset.
    let (_response, mut body) = client
        .send
        .send_request(request(Method::POST, "/upload"), false)
        .unwrap();
    body.send_data(bytes::Bytes::from_static(b"half"), false)
        .unwrap();
    body.send_reset(h2::Reason::CANCEL);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.metrics().http2.resets_received == 0 {
        assert!(Instant::now() < deadline, "the reset was not counted");
        client.poll_connection();
    }
    assert_eq!(support::get(server.local_addr(), "/ok").text(), "ok");
    // Idle for the keep-alive timeout: GOAWAY, and the connection ends.
    assert!(client.wait_for_end(Duration::from_secs(5)));
    let metrics = server.metrics();
    assert_eq!(metrics.http2.connections, 1);
    assert_eq!(metrics.http2.streams, 4);
    assert_eq!(metrics.http2.resets_received, 1);
    assert_eq!(metrics.http2.goaways_sent, 1);
    assert_eq!(metrics.connections_accepted, 2, "one HTTP/2, one HTTP/1.1");
    assert_eq!(metrics.responses.success, 4);
}

#[test]
fn an_event_stream_runs_on_a_stream_beside_requests_and_ends_with_its_sender() {
    let (streams, opened) = mpsc::channel::<EventStream>();
    let streams = Mutex::new(streams);
    let router = Router::new()
        .get("/events", move |_: &Request| {
            let (response, events) = Response::events_with_keep_alive(None);
            events.send(&Event::new().data("hello")).unwrap();
            streams.lock().unwrap().send(events).unwrap();
            response
        })
        .get("/ok", |_: &Request| "ok");
    let server = spawn(
        Server::builder()
            .threads(2)
            .h2c(true)
            .max_live_connections(1)
            .app(router),
    );
    let mut client = h2_client::connect(server.local_addr());
    let response = client.start(get("/events"), b"");
    let response = client.drive(response).unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    assert!(!response.headers().contains_key(header::CONTENT_LENGTH));
    let mut body = response.into_body();
    let sender = opened.recv_timeout(Duration::from_secs(5)).unwrap();
    let mut received = Vec::new();
    let mut read_until = |client: &mut H2Client<_>, received: &mut Vec<u8>, text: &str| {
        while !String::from_utf8_lossy(received).contains(text) {
            let chunk = client
                .drive(std::future::poll_fn(|cx| body.poll_data(cx)))
                .expect("the stream goes on")
                .unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            received.extend_from_slice(&chunk);
        }
    };
    read_until(&mut client, &mut received, "data: hello\n\n");
    // Requests go on beside the stream; events sent from another thread arrive.
    assert_eq!(client.get("/ok").text(), "ok");
    std::thread::spawn(move || {
        sender.send(&Event::new().id("2").data("later")).unwrap();
        // The sender dropped: the stream ends.
    })
    .join()
    .unwrap();
    read_until(&mut client, &mut received, "id: 2\ndata: later\n\n");
    // The end: an empty last DATA frame, then nothing.
    let rest = client.drive(h2_client::read_body(body)).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    // The stream's place among live connections is given back: another opens.
    let response = client.start(get("/events"), b"");
    assert_eq!(client.drive(response).unwrap().status(), StatusCode::OK);
}

/// A handler that waits (at most 5 s) for its request to be cancelled, and reports why.
fn waits_for_cancellation(
    entered: mpsc::Sender<()>,
    reasons: mpsc::Sender<Option<CancelReason>>,
) -> impl Fn(&Request) -> &'static str + Send + Sync {
    let entered = Mutex::new(entered);
    let reasons = Mutex::new(reasons);
    move |req: &Request| {
        entered.lock().unwrap().send(()).unwrap();
        let cancellation = req.cancellation();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cancellation.is_cancelled() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        reasons.lock().unwrap().send(cancellation.reason()).unwrap();
        "done"
    }
}

#[test]
fn a_stream_its_client_resets_cancels_its_handler() {
    let (entered_tx, entered) = mpsc::channel();
    let (reasons_tx, reasons) = mpsc::channel();
    let router = Router::new().get("/wait", waits_for_cancellation(entered_tx, reasons_tx));
    let server = h2c_server(router);
    let mut client = h2_client::connect(server.local_addr());
    let (_response, mut stream) = client.send.send_request(get("/wait"), true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while entered.try_recv().is_err() {
        assert!(Instant::now() < deadline, "the handler never started");
        client.poll_connection();
    }
    stream.send_reset(h2::Reason::CANCEL);
    client.poll_connection();
    let reason = reasons.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(reason, Some(CancelReason::ClientGone));
    assert_eq!(client.get("/nope").status, StatusCode::NOT_FOUND);
    assert_eq!(server.metrics().http2.resets_received, 1);
}

#[test]
fn a_handler_past_its_deadline_is_cancelled_and_answered_503() {
    let (entered_tx, _entered) = mpsc::channel();
    let (reasons_tx, reasons) = mpsc::channel();
    let limits = Limits::default().handler_timeout(Duration::from_millis(200));
    let router = Router::new().get("/wait", waits_for_cancellation(entered_tx, reasons_tx));
    let server = spawn(
        Server::builder()
            .threads(2)
            .h2c(true)
            .limits(limits)
            .app(router),
    );
    let mut client = h2_client::connect(server.local_addr());
    let started = Instant::now();
    let reply = client.get("/wait");
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.headers[header::RETRY_AFTER], "1");
    assert!(!reply.headers.contains_key(header::CONNECTION));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        reasons.recv_timeout(Duration::from_secs(5)).unwrap(),
        Some(CancelReason::Deadline)
    );
    // The connection goes on.
    assert_eq!(client.get("/nope").status, StatusCode::NOT_FOUND);
}

#[test]
fn a_handler_s_reply_goes_out_while_other_handlers_still_run() {
    // Ten handlers that each wait for a token, one quick one first, on two workers. The
    // quick one returns once the first blocked one runs on the other worker, so that its
    // reply must wait for a turn while both workers are taken.
    let (tokens, released) = mpsc::channel::<()>();
    let released = Arc::new(Mutex::new(released));
    let (started_tx, started) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let started = Mutex::new(started);
    let router = Router::new()
        .get("/quick", move |_: &Request| {
            let _ = started.lock().unwrap().recv_timeout(Duration::from_secs(5));
            "quick"
        })
        .get("/blocked", move |_: &Request| {
            let _ = started_tx.lock().unwrap().send(());
            let token = released.lock().unwrap();
            let _ = token.recv_timeout(Duration::from_secs(5));
            "released"
        });
    let server = spawn(Server::builder().threads(2).h2c(true).app(router));
    let mut client = h2_client::connect(server.local_addr());
    let mut quick = client.start(get("/quick"), b"");
    let blocked: Vec<_> = (0..10)
        .map(|_| client.start(get("/blocked"), b""))
        .collect();
    // The quick reply waits behind at most one more handler: a token or two release it,
    // not the ten it would take if handlers always went first.
    let mut sent = 0;
    let response = loop {
        if let Some(response) = client.drive_for(&mut quick, Duration::from_millis(500)) {
            break response;
        }
        assert!(sent < 3, "the quick reply waited for {sent} handlers");
        tokens.send(()).unwrap();
        sent += 1;
    };
    let body = client
        .drive(h2_client::read_body(response.unwrap().into_body()))
        .unwrap();
    assert_eq!(body, b"quick");
    for _ in sent..10 {
        tokens.send(()).unwrap();
    }
    for response in blocked {
        assert_eq!(client.finish(response).text(), "released");
    }
}

#[test]
fn a_body_that_stops_arriving_is_answered_408_and_a_streaming_route_takes_its_body() {
    let stalling = Limits::default()
        .body_read_timeout(Duration::from_millis(300))
        .min_body_rate(0);
    let router = Router::new().post("/upload", |req: &Request| req.body().len().to_string());
    let server = spawn(
        Server::builder()
            .threads(2)
            .h2c(true)
            .limits(stalling)
            .app(router),
    );
    let mut client = h2_client::connect(server.local_addr());
    let (response, mut body) = client
        .send
        .send_request(request(Method::POST, "/upload"), false)
        .unwrap();
    body.send_data(bytes::Bytes::from_static(b"half"), false)
        .unwrap();
    let started = Instant::now();
    let reply = client.finish(response);
    assert_eq!(reply.status, StatusCode::REQUEST_TIMEOUT);
    assert!(started.elapsed() >= Duration::from_millis(250));

    // A route that streams its bodies takes them up to its own limit, as over HTTP/1.1.
    let router = Router::new()
        .post("/upload", |req: &Request| req.body().len().to_string())
        .merge(
            Router::new()
                .post("/stream", |req: &Request| {
                    let mut body = Vec::new();
                    std::io::Read::read_to_end(&mut req.body_reader(), &mut body).unwrap();
                    body.len().to_string()
                })
                .stream_bodies(1 << 20),
        );
    let limits = Limits::default().max_body_bytes(1000);
    let server = spawn(
        Server::builder()
            .threads(2)
            .h2c(true)
            .limits(limits)
            .app(router),
    );
    let mut client = h2_client::connect(server.local_addr());
    let reply = client.request(request(Method::POST, "/stream"), &[b'x'; 100_000]);
    assert_eq!(reply.text(), "100000");
    let reply = client.request(request(Method::POST, "/upload"), &[b'x'; 100_000]);
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    let mut odd = request(Method::POST, "/upload");
    odd.headers_mut()
        .insert(header::EXPECT, header::HeaderValue::from_static("teapot"));
    assert_eq!(
        client.request(odd, b"x").status,
        StatusCode::EXPECTATION_FAILED
    );
}

/// Runs `command`; `None` when it is not installed.
fn run(command: &mut Command) -> Option<(bool, String)> {
    let output = command.output().ok()?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Some((output.status.success(), text))
}

fn curl_speaks_http2() -> bool {
    run(Command::new("curl").arg("--version")).is_some_and(|(_, text)| text.contains("HTTP2"))
}

#[test]
fn curl_and_h2load_with_prior_knowledge() {
    let server = h2c_server(
        Router::new()
            .get("/version", |req: &Request| version_name(req.version()))
            .post("/echo", |req: &Request| {
                Response::bytes(req.body().to_vec())
            }),
    );
    let url = |path: &str| format!("http://{}{path}", server.local_addr());
    if curl_speaks_http2() {
        let (ok, text) = run(Command::new("curl").args([
            "--silent",
            "--show-error",
            "--max-time",
            "5",
            "--http2-prior-knowledge",
            &url("/version"),
        ]))
        .unwrap();
        assert!(ok && text == "HTTP/2.0", "{text}");
        let (ok, text) = run(Command::new("curl").args([
            "--silent",
            "--show-error",
            "--max-time",
            "5",
            "--http2-prior-knowledge",
            "--data-binary",
            "posted by curl",
            &url("/echo"),
        ]))
        .unwrap();
        assert!(ok && text == "posted by curl", "{text}");
    } else {
        eprintln!("skipped curl: not installed, or without HTTP/2");
    }
    match run(Command::new("h2load").args(["-n", "2000", "-c", "4", "-m", "50", &url("/version")]))
    {
        None => eprintln!("skipped h2load: not installed (Debian package nghttp2-client)"),
        Some((ok, text)) => {
            assert!(ok, "{text}");
            assert!(text.contains("2000 succeeded, 0 failed"), "{text}");
            assert!(text.contains("2000 2xx"), "{text}");
        }
    }
}

#[test]
fn many_clients_at_once_each_get_their_answers() {
    let server = h2c_server(Router::new().get("/id/{i}", |req: &Request| {
        req.param("i").unwrap().to_owned()
    }));
    let addr: SocketAddr = server.local_addr();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut client = h2_client::connect(addr);
                for i in 0..50 {
                    let path = format!("/id/{t}-{i}");
                    assert_eq!(client.get(&path).text(), format!("{t}-{i}"));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let mut plain = support::connect(addr);
    plain
        .write_all(b"GET /id/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(support::read_to_close(&mut plain).ends_with("\r\n\r\nx"));
}

/// HTTP/2 over TLS, agreed with ALPN.
#[cfg(feature = "tls")]
mod over_tls {
    use std::net::TcpStream;
    use std::os::fd::AsRawFd;
    use std::path::PathBuf;
    use std::sync::Arc;

    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
    use switchyard::tls::{self, TlsConfig};

    use super::*;

    /// A self-signed certificate for `localhost`, its files, and a client that trusts it.
    struct Pki {
        dir: PathBuf,
        client: ClientConfig,
    }

    impl Pki {
        fn new() -> Self {
            let dir =
                std::env::temp_dir().join(format!("switchyard-h2-tls-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let key = rcgen::KeyPair::generate().unwrap();
            let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
            let cert = params.self_signed(&key).unwrap();
            std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
            std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
            let mut roots = RootCertStore::empty();
            roots.add(cert.der().clone()).unwrap();
            let client = ClientConfig::builder_with_provider(tls::crypto_provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            Self { dir, client }
        }

        fn server_config(&self) -> TlsConfig {
            TlsConfig::from_pem_files(self.dir.join("cert.pem"), self.dir.join("key.pem")).unwrap()
        }

        /// A TLS connection offering `protocols`, its handshake done; the protocol agreed.
        fn connect(
            &self,
            addr: SocketAddr,
            protocols: &[&[u8]],
        ) -> (StreamOwned<ClientConnection, TcpStream>, Option<Vec<u8>>) {
            let mut config = self.client.clone();
            config.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
            let name = ServerName::try_from("localhost").unwrap();
            let mut session = ClientConnection::new(Arc::new(config), name).unwrap();
            let mut socket = support::connect(addr);
            while session.is_handshaking() {
                session.complete_io(&mut socket).unwrap();
            }
            let agreed = session.alpn_protocol().map(<[u8]>::to_vec);
            (StreamOwned::new(session, socket), agreed)
        }
    }

    impl Drop for Pki {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn a_client_that_agrees_h2_and_says_nothing_is_closed_at_the_keep_alive_timeout() {
        let pki = Pki::new();
        let limits = Limits::default().keep_alive_timeout(Duration::from_millis(300));
        let server = spawn(
            Server::builder()
                .threads(1)
                .limits(limits)
                .tls(pki.server_config())
                .handler(|_: &Request| "hi"),
        );
        let (mut stream, agreed) = pki.connect(server.local_addr(), &[b"h2"]);
        assert_eq!(agreed.as_deref(), Some(&b"h2"[..]));
        let started = Instant::now();
        let mut buf = [0u8; 64];
        // The server's SETTINGS may come first; then the end.
        loop {
            match std::io::Read::read(&mut stream, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => assert!(started.elapsed() < Duration::from_secs(5)),
            }
        }
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(4),
            "{waited:?}"
        );
    }

    #[test]
    fn alpn_h2_speaks_http2_and_http1_clients_still_get_http1() {
        let pki = Pki::new();
        let router = Router::new().get("/version", |req: &Request| {
            let alpn = req
                .tls()
                .and_then(|tls| tls.alpn_protocol())
                .map(|p| String::from_utf8_lossy(p).into_owned());
            format!(
                "{} alpn={}",
                version_name(req.version()),
                alpn.unwrap_or_default()
            )
        });
        let server = spawn(
            Server::builder()
                .threads(2)
                .tls(pki.server_config())
                .app(router),
        );
        let addr = server.local_addr();

        let (stream, agreed) = pki.connect(addr, &[b"h2", b"http/1.1"]);
        assert_eq!(agreed.as_deref(), Some(&b"h2"[..]));
        stream.sock.set_nonblocking(true).unwrap();
        let fd = stream.sock.as_raw_fd();
        let mut client = H2Client::handshake_with(stream, fd, &h2::client::Builder::new());
        for _ in 0..3 {
            assert_eq!(client.get("/version").text(), "HTTP/2.0 alpn=h2");
        }
        let body = vec![b'z'; 300_000];
        let reply = client.request(request(Method::POST, "/version"), &body);
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);

        let (mut stream, agreed) = pki.connect(addr, &[b"http/1.1"]);
        assert_eq!(agreed.as_deref(), Some(&b"http/1.1"[..]));
        stream
            .write_all(b"GET /version HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stream, &mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.ends_with("HTTP/1.1 alpn=http/1.1"), "{answer}");

        if curl_speaks_http2() {
            let port = addr.port();
            let (ok, text) = run(Command::new("curl")
                .args([
                    "--silent",
                    "--show-error",
                    "--max-time",
                    "5",
                    "--http2",
                    "--insecure",
                ])
                .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
                .arg(format!("https://localhost:{port}/version")))
            .unwrap();
            assert!(ok && text == "HTTP/2.0 alpn=h2", "{text}");
        } else {
            eprintln!("skipped curl: not installed, or without HTTP/2");
        }
    }
}

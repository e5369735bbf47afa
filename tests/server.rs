//! The server's architecture: idle connections cost no worker, back-pressure is a 503, and
//! limits are enforced at accept time.

mod support;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Client, connect, get, read_to_close, spawn};
use switchyard::{Request, Response, Server};

/// A handler whose `/block` requests report that they started and then wait for a release
/// (bounded, so a failing test cannot hang).
fn blocking_app() -> (
    impl Fn(&Request) -> Response + Send + Sync + 'static,
    mpsc::Receiver<()>,
    mpsc::Sender<()>,
) {
    let (started_tx, started) = mpsc::channel::<()>();
    let (release, release_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let release_rx = Arc::new(Mutex::new(release_rx));
    let handler = move |req: &Request| {
        if req.path() == "/block" {
            started_tx.lock().unwrap().send(()).unwrap();
            // Longer than a client's read timeout: a request stuck behind this one fails its
            // test instead of waiting the block out.
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(support::IO_TIMEOUT * 2);
            return Response::text("released");
        }
        Response::text(format!("ok {}", req.path()))
    };
    (handler, started, release)
}

#[test]
fn idle_keep_alive_connections_cost_no_worker() {
    // Scaled down from 10,000 idle connections and 8 workers: 500 and 4.
    const IDLE: usize = 500;
    let server = spawn(
        Server::builder()
            .threads(4)
            .handler(|r: &Request| Response::text(r.path().to_owned())),
    );
    let addr = server.local_addr();
    let mut idle: Vec<Client> = (0..IDLE).map(|_| Client::new(addr)).collect();
    for (i, client) in idle.iter_mut().enumerate() {
        assert_eq!(client.get(&format!("/idle/{i}")).status, 200);
    }
    // Every idle connection is still open, and new clients are served: were a worker held
    // by each idle connection, these reads would time out (5 s) instead.
    for i in 0..20 {
        assert_eq!(get(addr, &format!("/new/{i}")).text(), format!("/new/{i}"));
    }
    // The idle connections were kept and still work.
    for (i, client) in idle.iter_mut().enumerate().step_by(50) {
        assert_eq!(
            client.get(&format!("/again/{i}")).text(),
            format!("/again/{i}")
        );
    }
    server.shutdown().unwrap();
}

#[test]
fn a_blocked_handler_blocks_only_its_own_worker() {
    let (handler, started, release) = blocking_app();
    let server = spawn(Server::builder().threads(2).handler(handler));
    let addr = server.local_addr();
    let mut blocked = Client::new(addr);
    blocked.send(b"GET /block HTTP/1.1\r\nHost: h\r\n\r\n");
    started.recv_timeout(support::IO_TIMEOUT).unwrap();
    for i in 0..50 {
        assert_eq!(get(addr, &format!("/{i}")).text(), format!("ok /{i}"));
    }
    release.send(()).unwrap();
    assert_eq!(blocked.reply().text(), "released");
    server.shutdown().unwrap();
}

#[test]
fn a_parked_connection_is_served_while_the_only_busy_worker_is_blocked() {
    // Both connections are parked first, so no new connection wakes the server: the next
    // request on `parked` arrives while the worker that took `/block` is stuck in it, and
    // must reach the other worker all the same.
    let (handler, started, release) = blocking_app();
    let server = spawn(Server::builder().threads(2).handler(handler));
    let addr = server.local_addr();
    let mut parked = Client::new(addr);
    let mut blocker = Client::new(addr);
    assert_eq!(parked.get("/first").text(), "ok /first");
    assert_eq!(blocker.get("/first").text(), "ok /first");
    // Not a synchronisation (the test passes either way when the server is right): a quiet
    // moment lets the server settle into its idle state, one worker waiting for readiness
    // and the poller no longer looking in, which is the path this test is about.
    std::thread::sleep(Duration::from_millis(20));
    blocker.send(b"GET /block HTTP/1.1\r\nHost: h\r\n\r\n");
    started.recv_timeout(support::IO_TIMEOUT).unwrap();
    for i in 0..5 {
        assert_eq!(parked.get(&format!("/{i}")).text(), format!("ok /{i}"));
    }
    release.send(()).unwrap();
    assert_eq!(blocker.reply().text(), "released");
    server.shutdown().unwrap();
}

#[test]
fn blocked_handlers_run_on_every_worker_at_once() {
    // Under light load one worker serves everything; once handlers block, the others must
    // join in: four blocked requests on four workers all start before any is released.
    let (handler, started, release) = blocking_app();
    let server = spawn(Server::builder().threads(4).handler(handler));
    let addr = server.local_addr();
    let mut blocked: Vec<Client> = (0..4).map(|_| Client::new(addr)).collect();
    for client in &mut blocked {
        client.send(b"GET /block HTTP/1.1\r\nHost: h\r\n\r\n");
    }
    for _ in 0..4 {
        started.recv_timeout(support::IO_TIMEOUT).unwrap();
    }
    for _ in 0..4 {
        release.send(()).unwrap();
    }
    for client in &mut blocked {
        assert_eq!(client.reply().text(), "released");
    }
    server.shutdown().unwrap();
}

#[test]
fn full_queue_answers_503_with_retry_after() {
    let (handler, started, release) = blocking_app();
    let server = spawn(
        Server::builder()
            .threads(1)
            .queue_capacity(1)
            .handler(handler),
    );
    let addr = server.local_addr();
    // The only worker is busy...
    let mut first = Client::new(addr);
    first.send(b"GET /block HTTP/1.1\r\nHost: h\r\n\r\n");
    started.recv_timeout(support::IO_TIMEOUT).unwrap();
    // ...so of two more requests one waits in the queue and the other is refused.
    let mut second = Client::new(addr);
    let mut third = Client::new(addr);
    second.send(b"GET /second HTTP/1.1\r\nHost: h\r\n\r\n");
    third.send(b"GET /third HTTP/1.1\r\nHost: h\r\n\r\n");
    // Whichever the poller saw second gets 503 at once; find it without waiting on the
    // queued one (which only answers after the release).
    let deadline = Instant::now() + support::IO_TIMEOUT;
    let third_refused = loop {
        let mut peek = [0u8; 1];
        second.stream().set_nonblocking(true).unwrap();
        third.stream().set_nonblocking(true).unwrap();
        if third.stream().peek(&mut peek).is_ok() {
            break true;
        }
        if second.stream().peek(&mut peek).is_ok() {
            break false;
        }
        assert!(Instant::now() < deadline, "neither request was refused");
        std::thread::yield_now();
    };
    second.stream().set_nonblocking(false).unwrap();
    third.stream().set_nonblocking(false).unwrap();
    let (mut refused, mut queued) = if third_refused {
        (third, second)
    } else {
        (second, third)
    };
    let reply = refused.reply();
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.header("connection"), Some("close"));
    release.send(()).unwrap();
    assert_eq!(first.reply().text(), "released");
    assert_eq!(queued.reply().status, 200);
    server.shutdown().unwrap();
}

#[test]
fn max_connections_is_enforced_at_accept() {
    let server = spawn(
        Server::builder()
            .threads(1)
            .max_connections(2)
            .handler(|_: &Request| "ok"),
    );
    let addr = server.local_addr();
    let mut kept: Vec<Client> = (0..2).map(|_| Client::new(addr)).collect();
    for client in &mut kept {
        assert_eq!(client.get("/").status, 200);
    }
    let mut over = connect(addr);
    let response = read_to_close(&mut over);
    assert!(response.starts_with("HTTP/1.1 503 "), "{response}");
    assert!(response.contains("retry-after: 1\r\n"));
    // Closing one makes room again.
    drop(kept.pop());
    let deadline = Instant::now() + support::IO_TIMEOUT;
    loop {
        let mut client = connect(addr);
        client
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        use std::io::Write;
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .unwrap();
        let response = read_to_close(&mut client);
        if response.starts_with("HTTP/1.1 200 ") {
            break;
        }
        // The server may not have seen the close yet; it is on its way.
        assert!(
            Instant::now() < deadline,
            "no room after a close: {response}"
        );
    }
    server.shutdown().unwrap();
}

#[test]
fn shutdown_finishes_in_flight_requests_and_refuses_new_connections() {
    let (handler, started, release) = blocking_app();
    let server = spawn(Server::builder().threads(2).handler(handler));
    let addr = server.local_addr();
    let mut in_flight = Client::new(addr);
    in_flight.send(b"GET /block HTTP/1.1\r\nHost: h\r\n\r\n");
    started.recv_timeout(support::IO_TIMEOUT).unwrap();
    let mut idle = Client::new(addr);
    assert_eq!(idle.get("/x").status, 200);
    let handle = server.shutdown_handle();
    handle.shutdown();
    handle.shutdown(); // harmless twice
    // The idle connection is closed at once...
    assert!(support::is_closed(idle.stream()));
    // ...the listener is gone...
    let deadline = Instant::now() + support::IO_TIMEOUT;
    while std::net::TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after shutdown");
        std::thread::yield_now();
    }
    // ...and the request in flight completes, told that the connection closes.
    release.send(()).unwrap();
    let reply = in_flight.reply();
    assert_eq!(
        (reply.status, reply.header("connection")),
        (200, Some("close"))
    );
    server.join().unwrap();
}

#[test]
fn a_saturated_bulkhead_pool_leaves_other_routes_fast() {
    let (started_tx, started) = mpsc::channel::<String>();
    let (release, gate) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let gate = Mutex::new(gate);
    let slow = switchyard::Router::new()
        .get("/slow", move |_: &Request| {
            let thread = std::thread::current().name().unwrap_or_default().to_owned();
            started_tx.lock().unwrap().send(thread).unwrap();
            let _ = gate.lock().unwrap().recv_timeout(support::IO_TIMEOUT);
            "slow done"
        })
        .on_pool("slow");
    // One main worker: if a slow request ran there, no fast request could be served.
    let server = spawn(
        Server::builder()
            .threads(1)
            .worker_pool("slow", 1)
            .app(switchyard::Router::new().merge(slow))
            .route(http::Method::GET, "/fast", |_: &Request| "fast"),
    );
    let addr = server.local_addr();
    let mut first = Client::new(addr);
    first.send(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        started.recv_timeout(support::IO_TIMEOUT).unwrap(),
        "switchyard-slow-0"
    );
    // A second slow request waits in the slow pool's queue.
    let mut second = Client::new(addr);
    second.send(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
    // Were the slow requests on the single main worker, these reads would time out (5 s)
    // until the release below; speed itself is the load harness's business.
    for _ in 0..50 {
        assert_eq!(get(addr, "/fast").text(), "fast");
    }
    release.send(()).unwrap();
    assert_eq!(first.reply().text(), "slow done");
    assert_eq!(
        started.recv_timeout(support::IO_TIMEOUT).unwrap(),
        "switchyard-slow-0"
    );
    release.send(()).unwrap();
    assert_eq!(second.reply().text(), "slow done");
    // The same connection goes back to the main pool for a fast request.
    assert_eq!(second.get("/fast").text(), "fast");
    server.shutdown().unwrap();
}

#[test]
fn an_undeclared_pool_is_an_error_at_bind() {
    let router = switchyard::Router::new()
        .get("/x", |_: &Request| "x")
        .on_pool("missing");
    let error = Server::builder()
        .app(router)
        .bind("127.0.0.1:0")
        .unwrap_err();
    assert!(
        matches!(error, switchyard::Error::UnknownPool { ref name } if name == "missing"),
        "{error}"
    );
}

/// A panic in a middleware, a nested router's middleware or a handler gets the same answer
/// over TCP as through `Router::handle`: a 500 that the middleware around it still saw (and
/// stamped), then the connection keeps serving.
#[test]
fn panics_in_middleware_get_the_same_500_over_tcp_as_in_process() {
    let router = support::panicking_app();
    let server = spawn(Server::builder().threads(2).app(support::panicking_app()));
    let mut client = Client::new(server.local_addr());
    let reply = client.get("/mw-after");
    assert_eq!(
        (reply.status, reply.header("x-request-id")),
        (500, Some("7"))
    );
    for path in [
        "/ok",
        "/mw-before",
        "/mw-after",
        "/handler",
        "/nested/x",
        "/outermost",
        "/ok",
    ] {
        let in_process = router.handle(http::Request::get(path).body(()).unwrap());
        let over_tcp = client.get(path);
        assert_eq!(over_tcp.status, in_process.status().as_u16(), "{path}");
        assert_eq!(
            over_tcp.header("x-request-id"),
            in_process
                .headers()
                .get("x-request-id")
                .map(|v| v.to_str().unwrap()),
            "{path}"
        );
        assert_eq!(
            over_tcp.body,
            in_process.into_body_bytes().unwrap(),
            "{path}"
        );
    }
    server.shutdown().unwrap();
}

/// Issue 28 (5): pool and body mode per route. The POST streams its body on the `uploads`
/// pool; the GET on the same path stays on the main pool, with a buffered body.
#[test]
fn a_single_route_runs_on_its_own_pool_and_streams_its_body() {
    use std::io::Read;
    use switchyard::Handler;

    let where_and_how = |req: &Request| {
        let thread = std::thread::current().name().unwrap_or_default().to_owned();
        let mut body = String::new();
        req.body_reader().read_to_string(&mut body).unwrap();
        format!("{thread} streamed={} {body}", req.is_body_streamed())
    };
    let app = switchyard::Router::new()
        .post(
            "/files",
            where_and_how.stream_bodies(1 << 20).on_pool("uploads"),
        )
        .get("/files", where_and_how);
    let server = spawn(
        Server::builder()
            .threads(1)
            .worker_pool("uploads", 1)
            .app(app),
    );
    let mut client = Client::new(server.local_addr());
    client.send(b"POST /files HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(
        client.reply().text(),
        "switchyard-uploads-0 streamed=true hello"
    );
    assert_eq!(
        client.get("/files").text(),
        "switchyard-worker-0 streamed=false "
    );
    server.shutdown().unwrap();
}

#[test]
fn a_route_on_an_undeclared_pool_is_an_error_at_bind() {
    use switchyard::Handler;

    let router = switchyard::Router::new().get("/x", (|_: &Request| "x").on_pool("missing"));
    let error = Server::builder()
        .app(router)
        .bind("127.0.0.1:0")
        .unwrap_err();
    assert!(
        matches!(error, switchyard::Error::UnknownPool { ref name } if name == "missing"),
        "{error}"
    );
}

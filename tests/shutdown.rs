//! Graceful shutdown: requests in flight finish, new connections are refused, a shutdown
//! from a handler works, and a drain deadline cuts what never ends. (`leaks.rs` checks that
//! nothing is left behind.)

mod support;

use std::net::TcpStream;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use support::{Client, IO_TIMEOUT, spawn};
use switchyard::{
    Health, Limits, Request, Response, Router, RunningServer, Server, ShutdownHandle,
    ShutdownReport,
};

/// Joins the server, failing the test if that takes longer than `IO_TIMEOUT`.
fn join_within_timeout(server: RunningServer) -> ShutdownReport {
    let (done, joined) = mpsc::channel();
    let joiner = std::thread::spawn(move || done.send(server.join()));
    let report = joined
        .recv_timeout(IO_TIMEOUT)
        .expect("join did not return in time")
        .expect("server ended with an error");
    joiner.join().unwrap().ok();
    report
}

/// `/sleep/{ms}`: reports the start, then sleeps (the work being drained), then answers.
fn sleeper(started: mpsc::Sender<()>) -> impl Fn(&Request) -> Response + Send + Sync + 'static {
    let started = Mutex::new(started);
    move |req: &Request| {
        let ms: u64 = req.param_as("ms").unwrap_or(0);
        let _ = started.lock().unwrap().send(());
        std::thread::sleep(Duration::from_millis(ms));
        Response::text(format!("slept {ms}"))
    }
}

#[test]
fn eight_requests_in_flight_complete_and_new_connections_are_refused() {
    let (started_tx, started) = mpsc::channel();
    let server = spawn(
        Server::builder()
            .threads(8)
            .route(http::Method::GET, "/sleep/{ms}", sleeper(started_tx))
            .plugin(Health::new()),
    );
    let addr = server.local_addr();
    let mut clients: Vec<Client> = (0..8).map(|_| Client::new(addr)).collect();
    for client in &mut clients {
        client.send(b"GET /sleep/300 HTTP/1.1\r\nHost: h\r\n\r\n");
    }
    for _ in 0..8 {
        started
            .recv_timeout(IO_TIMEOUT)
            .expect("all eight requests start");
    }
    let handle = server.shutdown_handle();
    handle.shutdown();
    // The listener closes at once: a new connection is refused.
    let deadline = Instant::now() + IO_TIMEOUT;
    while TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after shutdown");
        std::thread::yield_now();
    }
    for client in &mut clients {
        let reply = client.reply();
        assert_eq!((reply.status, reply.text().as_str()), (200, "slept 300"));
        assert_eq!(reply.header("connection"), Some("close"));
    }
    let report = join_within_timeout(server);
    assert!(report.is_clean(), "{report:?}");
}

#[test]
fn shutdown_from_inside_a_handler_does_not_deadlock() {
    let handle: Arc<OnceLock<ShutdownHandle>> = Arc::new(OnceLock::new());
    let in_handler = Arc::clone(&handle);
    let server = spawn(Server::builder().threads(1).route(
        http::Method::POST,
        "/stop",
        move |_: &Request| {
            in_handler.get().expect("handle is set").shutdown();
            "stopping"
        },
    ));
    handle.set(server.shutdown_handle()).unwrap();
    let mut client = Client::new(server.local_addr());
    client.send(b"POST /stop HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    let reply = client.reply();
    assert_eq!(
        (reply.status, reply.header("connection")),
        (200, Some("close"))
    );
    assert!(join_within_timeout(server).is_clean());
}

#[test]
fn drain_deadline_cuts_a_never_ending_request_and_reports_it() {
    let (started_tx, started) = mpsc::channel::<()>();
    let (release, gate) = mpsc::channel::<()>();
    let (finished_tx, finished) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let finished_tx = Mutex::new(finished_tx);
    let gate = Mutex::new(gate);
    let server = spawn(
        Server::builder()
            .threads(2)
            .drain_timeout(Duration::from_millis(200))
            .route(http::Method::GET, "/forever", move |_: &Request| {
                started_tx.lock().unwrap().send(()).unwrap();
                // "Forever", bounded so the test process cannot hang.
                let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(20));
                let _ = finished_tx.lock().unwrap().send(());
                "too late"
            }),
    );
    let mut client = Client::new(server.local_addr());
    client.send(b"GET /forever HTTP/1.1\r\nHost: h\r\n\r\n");
    started.recv_timeout(IO_TIMEOUT).unwrap();
    let begun = Instant::now();
    server.shutdown_handle().shutdown();
    let report = join_within_timeout(server);
    assert_eq!(report.connections_cut, 1, "{report:?}");
    assert_eq!(report.stuck_workers, 1, "{report:?}");
    assert!(begun.elapsed() >= Duration::from_millis(200));
    // The client sees the connection end without a response.
    assert!(support::is_closed(client.stream()));
    // Let the detached worker finish, so later tests do not count it.
    drop(release);
    finished.recv_timeout(IO_TIMEOUT).unwrap();
}

/// Regression: `Duration::MAX` timeouts overflowed `Instant + Duration` (on the poller
/// thread for the keep-alive and drain deadlines, so `join` reported `ServerPanicked`).
/// They now saturate at `MAX_TIMEOUT`.
#[test]
fn duration_max_timeouts_serve_and_shut_down_cleanly() {
    let uploads = Router::new()
        .post("/upload", |req: &Request| {
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut req.body_reader(), &mut body).unwrap();
            format!("got {}", body.len())
        })
        .stream_bodies(1024);
    let server = spawn(
        Server::builder()
            .threads(2)
            .limits(
                Limits::default()
                    .keep_alive_timeout(Duration::MAX)
                    .header_read_timeout(Duration::MAX)
                    .body_read_timeout(Duration::MAX)
                    .write_timeout(Duration::MAX),
            )
            .drain_timeout(Duration::MAX)
            .app(Router::new().merge(uploads))
            .route(http::Method::GET, "/", |_: &Request| "ok"),
    );
    let mut client = Client::new(server.local_addr());
    // Each response parks the connection with a keep-alive deadline.
    for _ in 0..3 {
        assert_eq!(client.get("/").text(), "ok");
    }
    // A streamed body sets its read deadline when the handler starts.
    client.send(b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(client.reply().text(), "got 5");
    assert_eq!(client.get("/").text(), "ok");
    // The connection is idle again: the shutdown closes it and sets the drain deadline.
    let (done, stopped) = mpsc::channel();
    std::thread::spawn(move || done.send(server.shutdown()));
    let report = stopped
        .recv_timeout(IO_TIMEOUT)
        .expect("shutdown did not return in time")
        .expect("server ended with an error");
    assert!(report.is_clean(), "{report:?}");
    assert!(support::is_closed(client.stream()));
}

/// Regression: dropping a `RunningServer` detached the server, which kept serving and could
/// no longer be stopped. Dropping it now shuts the server down gracefully and waits.
#[test]
fn dropping_a_running_server_shuts_it_down_gracefully() {
    let (started_tx, started) = mpsc::channel::<()>();
    let (release, gate) = mpsc::channel::<()>();
    let (started_tx, gate) = (Mutex::new(started_tx), Mutex::new(gate));
    let server = spawn(
        Server::builder()
            .threads(2)
            .route(http::Method::GET, "/gate", move |_: &Request| {
                started_tx.lock().unwrap().send(()).unwrap();
                let _ = gate.lock().unwrap().recv_timeout(IO_TIMEOUT);
                "released"
            })
            .route(http::Method::GET, "/", |_: &Request| "ok"),
    );
    let addr = server.local_addr();
    let mut idle = Client::new(addr);
    assert_eq!(idle.get("/").text(), "ok");
    let mut busy = Client::new(addr);
    busy.send(b"GET /gate HTTP/1.1\r\nHost: h\r\n\r\n");
    started.recv_timeout(IO_TIMEOUT).unwrap();

    let (dropped_tx, dropped) = mpsc::channel();
    std::thread::spawn(move || {
        drop(server);
        dropped_tx.send(()).unwrap();
    });
    // The drop stops the listener at once...
    let deadline = Instant::now() + IO_TIMEOUT;
    while TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after drop");
        std::thread::yield_now();
    }
    // ...but waits for the request in flight, which is told that the connection closes.
    assert!(
        dropped.try_recv().is_err(),
        "drop returned before the request finished"
    );
    release.send(()).unwrap();
    let reply = busy.reply();
    assert_eq!((reply.status, reply.text().as_str()), (200, "released"));
    assert_eq!(reply.header("connection"), Some("close"));
    dropped
        .recv_timeout(IO_TIMEOUT)
        .expect("drop did not return in time");
    assert!(support::is_closed(idle.stream()));
}

#[test]
fn a_body_still_arriving_at_shutdown_is_gathered_and_answered() {
    // The connection is parked mid-body (no worker holds it); a graceful shutdown must wait
    // for it like for a request on a worker, not close it as idle.
    let server = spawn(
        Server::builder()
            .threads(1)
            .drain_timeout(IO_TIMEOUT)
            .route(http::Method::POST, "/echo", |req: &Request| {
                req.body().to_vec()
            }),
    );
    let addr = server.local_addr();
    let mut client = Client::new(addr);
    client.send(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nExpect: 100-continue\r\n\r\nabc",
    );
    let interim = client.reply();
    assert_eq!(interim.status, 100);
    server.shutdown_handle().shutdown();
    // Draining: the listener is closed (bounded wait for a real event, no sleep).
    let deadline = Instant::now() + IO_TIMEOUT;
    while TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after shutdown");
        std::thread::yield_now();
    }
    client.send(b"def");
    let reply = client.reply();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "abcdef");
    assert_eq!(reply.header("connection"), Some("close"));
    let report = join_within_timeout(server);
    assert!(report.is_clean(), "{report:?}");
}

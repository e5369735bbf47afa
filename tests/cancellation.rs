//! Issue 26: blocking handlers done right. A handler past its deadline has its client
//! answered 503 by the poller at the deadline; a handler sees `Request::cancelled` turn
//! true when its deadline passes or its client leaves; a request whose client left while
//! it was queued never runs; a request that waited too long for a worker is shed with 503.

mod support;

use std::io::{BufReader, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use support::{Client, IO_TIMEOUT, connect, read_reply, read_to_close, spawn};
use switchyard::metrics::MetricsSnapshot;
use switchyard::{
    Body, CancelReason, Handler, Limits, Request, Response, Router, RunningServer, Server,
};

/// Polls `what` until it holds, for at most `IO_TIMEOUT`.
fn wait_for(server: &RunningServer, what: &str, holds: impl Fn(&MetricsSnapshot) -> bool) {
    let start = Instant::now();
    while !holds(&server.metrics()) {
        assert!(start.elapsed() < IO_TIMEOUT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A handler that works in 5 ms slices until its request is cancelled (or 10 s pass), and
/// reports why it stopped.
fn until_cancelled(reasons: mpsc::Sender<Option<CancelReason>>) -> Router {
    let reasons = Mutex::new(reasons);
    Router::new().get("/work", move |req: &Request| {
        let start = Instant::now();
        while !req.cancelled() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = reasons.lock().unwrap().send(req.cancellation().reason());
        "done"
    })
}

/// A handler that blocks until the test releases it (`release`), counting its runs.
fn gate(runs: Arc<AtomicUsize>) -> (Router, mpsc::Sender<()>, mpsc::Receiver<()>) {
    gate_with_counted_on(runs, None)
}

/// [`gate`], with `/counted` on the worker pool `pool` if given.
fn gate_with_counted_on(
    runs: Arc<AtomicUsize>,
    pool: Option<&str>,
) -> (Router, mpsc::Sender<()>, mpsc::Receiver<()>) {
    let (release, released) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let started_tx = Mutex::new(started_tx);
    let counted = Arc::clone(&runs);
    let router = Router::new().get("/gate", move |_: &Request| {
        let _ = started_tx.lock().unwrap().send(());
        let _ = released.lock().unwrap().recv_timeout(IO_TIMEOUT);
        "released"
    });
    let count = move |_: &Request| {
        counted.fetch_add(1, Ordering::SeqCst);
        "ran"
    };
    let router = match pool {
        Some(pool) => router.get("/counted", count.on_pool(pool)),
        None => router.get("/counted", count),
    };
    (router, release, started)
}

/// Holds the one worker `/gate` runs on, queues a `/counted` behind it, lets it wait 60 ms
/// (once `pools[pool].queued` shows it), then releases the gate: the waiter is shed with
/// 503 and never runs.
fn a_waiter_behind_the_gate_is_shed(
    server: &RunningServer,
    (release, started): (mpsc::Sender<()>, mpsc::Receiver<()>),
    runs: &AtomicUsize,
    pool: usize,
) {
    let mut holder = connect(server.local_addr());
    holder
        .write_all(b"GET /gate HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    started.recv_timeout(IO_TIMEOUT).unwrap();
    let mut waiter = Client::new(server.local_addr());
    waiter.send(b"GET /counted HTTP/1.1\r\nHost: h\r\n\r\n");
    wait_for(server, "the request to be queued", |m| {
        m.pools[pool].queued == 1
    });
    std::thread::sleep(Duration::from_millis(60));
    release.send(()).unwrap();
    assert_eq!(waiter.reply().status, 503);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert!(read_to_close(&mut holder).ends_with("released"));
}

#[test]
fn a_handler_past_its_deadline_is_answered_503_at_the_deadline_and_told() {
    let (tx, reasons) = mpsc::channel();
    let limits = Limits::default().handler_timeout(Duration::from_millis(100));
    let server = spawn(
        Server::builder()
            .threads(1)
            .limits(limits)
            .app(until_cancelled(tx)),
    );
    let mut stream = connect(server.local_addr());
    let sent = Instant::now();
    stream
        .write_all(b"GET /work HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let answer = read_to_close(&mut stream);
    let took = sent.elapsed();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.contains("retry-after: 1\r\n"), "{answer}");
    assert!(answer.contains("connection: close\r\n"), "{answer}");
    assert!(
        took >= Duration::from_millis(100),
        "answered early: {took:?}"
    );
    assert_eq!(
        reasons.recv_timeout(IO_TIMEOUT).unwrap(),
        Some(CancelReason::Deadline)
    );
    // The one worker is free again: the next request is served.
    let mut client = Client::new(server.local_addr());
    client.send(b"GET /nothing HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(client.reply().status, 404);
    let gave_up = server.metrics().gave_up;
    assert_eq!(gave_up.handler_timeouts, 1);
    assert_eq!(gave_up.late_responses_dropped, 1);
}

#[test]
fn the_deadline_answer_to_a_head_request_has_no_body() {
    let (tx, reasons) = mpsc::channel();
    let limits = Limits::default().handler_timeout(Duration::from_millis(50));
    let server = spawn(
        Server::builder()
            .threads(1)
            .limits(limits)
            .app(until_cancelled(tx)),
    );
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"HEAD /work HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let answer = read_to_close(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.contains("content-length: 45\r\n"), "{answer}");
    assert!(
        answer.ends_with("\r\n\r\n"),
        "a body after the head: {answer:?}"
    );
    assert_eq!(
        reasons.recv_timeout(IO_TIMEOUT).unwrap(),
        Some(CancelReason::Deadline)
    );
}

#[test]
fn a_handler_that_never_looks_does_not_keep_its_client_waiting() {
    let runs = Arc::new(AtomicUsize::new(0));
    let (app, release, started) = gate(Arc::clone(&runs));
    let app = Router::new()
        .merge(app.handler_timeout(Duration::from_millis(50)))
        .get("/free", |_: &Request| "no deadline here");
    let server = spawn(Server::builder().threads(2).app(app));
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET /gate HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    started.recv_timeout(IO_TIMEOUT).unwrap();
    // Answered while the handler is still blocked: by the poller, not the worker.
    let answer = read_to_close(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.ends_with("abandoned.\n"), "{answer}");
    release.send(()).unwrap();
    wait_for(&server, "the late response to be dropped", |m| {
        m.gave_up.late_responses_dropped == 1
    });
    // Routes of other routers have no deadline.
    let mut client = Client::new(server.local_addr());
    assert_eq!(client.get("/free").status, 200);
}

#[test]
fn a_handler_whose_client_leaves_is_told() {
    let (tx, reasons) = mpsc::channel();
    let (started_tx, started) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let reasons_tx = Mutex::new(tx);
    let app = Router::new().get("/work", move |req: &Request| {
        let _ = started_tx.lock().unwrap().send(());
        let start = Instant::now();
        while !req.cancelled() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = reasons_tx.lock().unwrap().send(req.cancellation().reason());
        "done"
    });
    let server = spawn(Server::builder().threads(1).app(app));
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET /work HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    started.recv_timeout(IO_TIMEOUT).unwrap();
    drop(stream);
    assert_eq!(
        reasons.recv_timeout(IO_TIMEOUT).unwrap(),
        Some(CancelReason::ClientGone)
    );
    wait_for(&server, "the cancellation to be counted", |m| {
        m.gave_up.client_gone_in_flight == 1
    });
}

#[test]
fn a_body_writer_holding_the_token_sees_its_client_leave() {
    let (tx, reasons) = mpsc::channel();
    let reasons_tx = Mutex::new(tx);
    let app = Router::new().get("/feed", move |req: &Request| {
        let cancellation = req.cancellation();
        let reasons = reasons_tx.lock().unwrap().clone();
        Response::bytes(Body::writer(move |out| {
            out.write_all(b"first")?;
            out.flush()?;
            let start = Instant::now();
            while !cancellation.is_cancelled() && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = reasons.send(cancellation.reason());
            Ok(())
        }))
    });
    let server = spawn(Server::builder().threads(1).app(app));
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET /feed HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    // The handler has returned and its response is on its way.
    let mut received = Vec::new();
    let mut buf = [0; 256];
    while !received.windows(5).any(|w| w == b"first") {
        let n = std::io::Read::read(&mut stream, &mut buf).unwrap();
        assert!(
            n > 0,
            "closed early: {:?}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buf[..n]);
    }
    drop(stream);
    assert_eq!(
        reasons.recv_timeout(IO_TIMEOUT).unwrap(),
        Some(CancelReason::ClientGone)
    );
}

#[test]
fn a_request_whose_client_left_while_it_was_queued_never_runs() {
    let runs = Arc::new(AtomicUsize::new(0));
    let (app, release, started) = gate(Arc::clone(&runs));
    let server = spawn(Server::builder().threads(1).app(app));
    let mut holder = connect(server.local_addr());
    holder
        .write_all(b"GET /gate HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    started.recv_timeout(IO_TIMEOUT).unwrap();
    let mut leaver = connect(server.local_addr());
    leaver
        .write_all(b"GET /counted HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    wait_for(&server, "the request to be queued", |m| {
        m.pools[0].queued == 1
    });
    drop(leaver);
    // A third client, queued behind it, is served once the worker is free.
    let mut stayer = connect(server.local_addr());
    stayer
        .write_all(b"GET /counted HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    wait_for(&server, "both to be queued", |m| m.pools[0].queued == 2);
    release.send(()).unwrap();
    let mut reader = BufReader::new(stayer);
    assert_eq!(read_reply(&mut reader, false).text(), "ran");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the leaver's request ran");
    assert_eq!(server.metrics().gave_up.client_gone_before_start, 1);
    assert!(read_to_close(&mut holder).starts_with("HTTP/1.1 200 "));
}

#[test]
fn a_request_that_waited_too_long_for_a_worker_is_shed_and_the_connection_stays() {
    let runs = Arc::new(AtomicUsize::new(0));
    let (app, release, started) = gate(Arc::clone(&runs));
    let limits = Limits::default().max_queue_wait(Duration::from_millis(50));
    let server = spawn(Server::builder().threads(1).limits(limits).app(app));
    let mut holder = connect(server.local_addr());
    holder
        .write_all(b"GET /gate HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    started.recv_timeout(IO_TIMEOUT).unwrap();
    let mut waiter = Client::new(server.local_addr());
    waiter.send(b"GET /counted HTTP/1.1\r\nHost: h\r\n\r\n");
    wait_for(&server, "the request to be queued", |m| {
        m.pools[0].queued == 1
    });
    // The queue wait must pass the limit: that is what is tested, not a race.
    std::thread::sleep(Duration::from_millis(80));
    release.send(()).unwrap();
    let shed = waiter.reply();
    assert_eq!(shed.status, 503);
    assert_eq!(shed.header("retry-after"), Some("1"));
    assert_eq!(runs.load(Ordering::SeqCst), 0, "a shed request ran");
    // Keep-alive: the next request on the same connection is served at once.
    assert_eq!(waiter.get("/counted").text(), "ran");
    let metrics = server.metrics();
    assert_eq!(metrics.gave_up.shed_for_queue_wait, 1);
    let main = &metrics.pools[0];
    assert!(main.queue_wait.count >= 3, "{:?}", main.queue_wait);
    assert!(
        main.queue_wait.buckets[5] < main.queue_wait.count,
        "no wait over 25 ms counted: {:?}",
        main.queue_wait
    );
}

#[test]
fn the_metrics_page_counts_what_the_server_gave_up_on() {
    let (tx, _reasons) = mpsc::channel();
    let app = until_cancelled(tx)
        .handler_timeout(Duration::from_millis(20))
        .plugin(switchyard::Metrics::new());
    let server = spawn(Server::builder().threads(2).app(app));
    let answer = support::raw(
        server.local_addr(),
        b"GET /work HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    let page = support::get(server.local_addr(), "/metrics").text();
    assert!(
        page.contains("switchyard_requests_cancelled_total{reason=\"deadline\"} 1\n"),
        "{page}"
    );
    for family in [
        "switchyard_requests_dropped_total{reason=\"queue_wait\"} 0\n",
        "switchyard_requests_dropped_total{reason=\"client_gone\"} 0\n",
        "switchyard_pool_queue_wait_seconds_bucket{pool=\"main\",le=\"0.001\"}",
        "switchyard_late_responses_dropped_total",
    ] {
        assert!(page.contains(family), "{family} missing: {page}");
    }
}

#[test]
fn health_and_metrics_answer_while_every_main_worker_is_stuck() {
    let (release, released) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let started_tx = Mutex::new(started_tx);
    let app = Router::new()
        .get("/report", move |_: &Request| {
            let _ = started_tx.lock().unwrap().send(());
            let _ = released.lock().unwrap().recv_timeout(IO_TIMEOUT);
            "report"
        })
        .get("/plain", |_: &Request| "plain")
        .plugin(switchyard::Health::new())
        .plugin(switchyard::Metrics::new());
    let server = spawn(Server::builder().threads(4).app(app));
    let addr = server.local_addr();
    // 20 slow reports: 4 hold the main pool's workers, 16 wait for them.
    let reports: Vec<_> = (0..20)
        .map(|_| {
            let mut stream = connect(addr);
            stream
                .write_all(b"GET /report HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
                .unwrap();
            stream
        })
        .collect();
    for _ in 0..4 {
        started.recv_timeout(IO_TIMEOUT).unwrap();
    }
    // A user route waits for the main pool; health and metrics do not.
    let mut plain = connect(addr);
    plain
        .write_all(b"GET /plain HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    let health = support::get(addr, "/healthz");
    assert_eq!(health.text(), "ok\n");
    let metrics = support::get(addr, "/metrics").text();
    assert!(
        metrics.contains("switchyard_pool_busy{pool=\"main\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchyard_pool_threads{pool=\"system\"} 1"),
        "{metrics}"
    );
    assert!(
        started.try_recv().is_err(),
        "a fifth report started: the main workers were not all held"
    );
    for _ in 0..20 {
        release.send(()).unwrap();
    }
    for mut report in reports {
        assert!(read_to_close(&mut report).ends_with("report"));
    }
    assert!(read_to_close(&mut plain).ends_with("plain"));
}

#[test]
fn a_client_over_its_rate_gets_429_and_others_keep_theirs() {
    let app = Router::new()
        .get("/search", |_: &Request| "results")
        .middleware(switchyard::plugin::RateLimit::per(
            2,
            Duration::from_secs(60),
        ));
    let server = spawn(Server::builder().threads(2).app(app));
    let mut client = Client::new(server.local_addr());
    assert_eq!(client.get("/search").status, 200);
    assert_eq!(client.get("/search").status, 200);
    let limited = client.get("/search");
    assert_eq!(limited.status, 429);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
}

#[test]
fn a_late_answer_never_overtakes_an_earlier_pipelined_response() {
    let (tx, reasons) = mpsc::channel();
    let app = until_cancelled(tx)
        .get("/fast", |_: &Request| "fast")
        .handler_timeout(Duration::from_millis(50));
    let server = spawn(Server::builder().threads(1).app(app));
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET /fast HTTP/1.1\r\nHost: h\r\n\r\nGET /work HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    assert_eq!(read_reply(&mut reader, false).text(), "fast");
    let late = read_reply(&mut reader, false);
    assert_eq!(late.status, 503);
    assert_eq!(
        reasons.recv_timeout(IO_TIMEOUT).unwrap(),
        Some(CancelReason::Deadline)
    );
}

#[test]
fn a_pool_sheds_by_its_own_queue_wait() {
    let runs = Arc::new(AtomicUsize::new(0));
    let (app, release, started) = gate(Arc::clone(&runs));
    let server = spawn(
        Server::builder()
            .threads(2)
            .worker_pool("slow", 1)
            .pool_max_queue_wait("slow", Duration::from_millis(30))
            .app(Router::new().merge(app.on_pool("slow"))),
    );
    a_waiter_behind_the_gate_is_shed(&server, (release, started), &runs, 1);
    let unknown = Server::builder()
        .pool_max_queue_wait("nope", Duration::from_millis(1))
        .bind("127.0.0.1:0");
    assert!(matches!(
        unknown,
        Err(switchyard::Error::UnknownPool { .. })
    ));
}

#[test]
fn the_wait_before_a_request_is_read_counts_toward_its_pools_queue_wait() {
    let runs = Arc::new(AtomicUsize::new(0));
    let (app, release, started) = gate_with_counted_on(Arc::clone(&runs), Some("slow"));
    let server = spawn(
        Server::builder()
            .threads(1)
            .worker_pool("slow", 1)
            .pool_max_queue_wait("slow", Duration::from_millis(30))
            .app(app),
    );
    // The one main worker is held: `/counted` waits there to be read and routed; its own
    // pool is idle when it gets there, but it has waited 60 ms already.
    a_waiter_behind_the_gate_is_shed(&server, (release, started), &runs, 0);
}

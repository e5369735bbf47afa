//! A server that was shut down leaves no thread and no file descriptor behind. The only
//! test of its binary, so nothing else runs in the process while it counts.

mod support;

use std::sync::mpsc;

use support::{Client, IO_TIMEOUT, spawn};
use switchyard::{Request, RunningServer, Server, ShutdownReport};

fn count_entries(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Joins the server on this thread. A watchdog thread (itself joined, so not counted)
/// aborts the test process if that takes longer than `IO_TIMEOUT`.
fn join_within_timeout(server: RunningServer) -> ShutdownReport {
    let (done, joined) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if joined.recv_timeout(IO_TIMEOUT).is_err() {
            eprintln!("join did not return within {IO_TIMEOUT:?}");
            std::process::abort();
        }
    });
    let report = server.join().expect("server ended with an error");
    done.send(()).unwrap();
    watchdog.join().unwrap();
    report
}

#[test]
fn no_threads_or_file_descriptors_leak() {
    let threads_before = count_entries("/proc/self/task");
    let fds_before = count_entries("/proc/self/fd");
    for _ in 0..2 {
        let server = spawn(Server::builder().threads(4).route(
            http::Method::GET,
            "/",
            |_: &Request| "ok",
        ));
        let addr = server.local_addr();
        let mut keep_alive = Client::new(addr);
        assert_eq!(keep_alive.get("/").status, 200);
        for _ in 0..5 {
            assert_eq!(support::get(addr, "/").status, 200);
        }
        server.shutdown_handle().shutdown();
        assert!(support::is_closed(keep_alive.stream()));
        drop(keep_alive);
        assert!(join_within_timeout(server).is_clean());
    }
    assert_eq!(
        count_entries("/proc/self/task"),
        threads_before,
        "threads leaked"
    );
    assert_eq!(
        count_entries("/proc/self/fd"),
        fds_before,
        "file descriptors leaked"
    );
}

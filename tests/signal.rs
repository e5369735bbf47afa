//! `signal::shutdown_on_signals` (feature `signal`): a SIGTERM shuts the server down
//! gracefully. One test only: signal handlers belong to the whole process, and a second
//! signal would end it.

#![cfg(all(unix, feature = "signal"))]

use std::sync::mpsc;
use std::time::Duration;

use switchyard::{Request, Server};

/// Bounds the wait for the server to stop.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn sigterm_shuts_the_server_down_gracefully() {
    let server = Server::builder()
        .threads(1)
        .handler(|_: &Request| "ok")
        .bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .spawn()
        .expect("spawn server");
    let handle = server.shutdown_handle();
    switchyard::signal::shutdown_on_signals(server.shutdown_handle()).expect("install handlers");
    assert!(!handle.is_shutdown());

    signal_hook::low_level::raise(signal_hook::consts::SIGTERM).expect("raise SIGTERM");

    let (done, joined) = mpsc::channel();
    let joiner = std::thread::spawn(move || done.send(server.join()));
    let report = joined
        .recv_timeout(JOIN_TIMEOUT)
        .expect("the server did not stop after SIGTERM")
        .expect("the server ended with an error");
    assert!(report.is_clean(), "{report:?}");
    assert!(handle.is_shutdown());
    joiner.join().unwrap().unwrap();
}

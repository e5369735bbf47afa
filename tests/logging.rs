//! Feature `log`: the server's events reach the `log` facade (one test: a logger is
//! process-wide).
#![cfg(feature = "log")]

mod support;

use std::sync::Mutex;

use switchyard::{AccessLog, Request, Server};

struct Capture(Mutex<Vec<(log::Level, String, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = (
            record.level(),
            record.target().to_owned(),
            record.args().to_string(),
        );
        self.0.lock().unwrap().push(line);
    }

    fn flush(&self) {}
}

static LOGGER: Capture = Capture(Mutex::new(Vec::new()));

fn logged(level: log::Level, target: &str, needle: &str) -> bool {
    LOGGER
        .0
        .lock()
        .unwrap()
        .iter()
        .any(|(l, t, text)| *l == level && t == target && text.contains(needle))
}

#[test]
fn the_server_logs_its_life_panics_rejections_and_access_lines() {
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Debug);
    let server = support::spawn(
        Server::builder()
            .threads(1)
            .route(http::Method::GET, "/boom", |_: &Request| -> &'static str {
                panic!("kaboom")
            })
            .plugin(AccessLog::log().json()),
    );
    let addr = server.local_addr();
    assert!(logged(
        log::Level::Info,
        "switchyard",
        &format!("listening on http://{addr}")
    ));
    assert_eq!(support::get(addr, "/boom").status, 500);
    assert!(logged(
        log::Level::Error,
        "switchyard",
        "handler for GET /boom (route /boom) panicked: kaboom"
    ));
    assert!(logged(
        log::Level::Info,
        "switchyard::access",
        r#""route":"/boom","status":500"#
    ));
    let reply = support::raw(addr, b"GET / HTTP/1.1\r\n\r\n");
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(logged(
        log::Level::Debug,
        "switchyard",
        "refused a request from 127.0.0.1"
    ));
    server.shutdown().unwrap();
    assert!(logged(log::Level::Info, "switchyard", "shut down"));
}

//! Issue 28 (3): what the server refuses once a request is routed (a body over the limit,
//! a body too slow, an unsupported expectation) is answered through the route's middleware
//! and rejection rendering, like any other answer of the route, and the connection closes.

mod support;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{Client, connect, read_to_close, spawn};
use switchyard::http::StatusCode;
use switchyard::{Limits, Next, Rejection, RejectionKind, Request, Response, Router, Server};

/// An API with a request-id middleware, an auth middleware on `/private`, and JSON
/// rejections (rendered outside all middleware, so the request id is not on them); `seen`
/// counts the requests the request-id middleware saw.
fn api(seen: Arc<AtomicUsize>) -> Router {
    plain_api(seen).map_rejection(|rejection: &Rejection, _: &Request| {
        let kind = format!("{:?}", rejection.kind());
        Response::with_content_type(
            format!(r#"{{"error":"{kind}"}}"#).into(),
            "application/json",
        )
        .with_status(rejection.status())
    })
}

/// [`api`] without the JSON rendering: the request-id middleware's header shows.
fn plain_api(seen: Arc<AtomicUsize>) -> Router {
    let private = Router::new()
        .post("/upload", |req: &Request| {
            format!("{} bytes", req.body().len())
        })
        .middleware(
            |req: &mut Request, next: Next<'_>| match req.bearer_token() {
                Some("s3cret") => next.run(req),
                _ => Response::new(StatusCode::UNAUTHORIZED),
            },
        );
    Router::new()
        .post("/upload", |req: &Request| {
            format!("{} bytes", req.body().len())
        })
        .nest("/private", private)
        .middleware(move |req: &mut Request, next: Next<'_>| {
            seen.fetch_add(1, Ordering::Relaxed);
            next.run(req).with_header("x-request-id", "r-1")
        })
}

fn server(app: Router) -> switchyard::RunningServer {
    let limits = Limits::default()
        .max_body_bytes(16)
        .body_read_timeout(Duration::from_millis(200));
    spawn(Server::builder().threads(2).limits(limits).app(app))
}

#[test]
fn a_body_over_the_limit_gets_its_413_through_the_route_s_middleware() {
    let seen = Arc::new(AtomicUsize::new(0));
    let server = server(api(Arc::clone(&seen)));
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n")
        .unwrap();
    let answer = read_to_close(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.ends_with(r#"{"error":"BodyTooLarge"}"#), "{answer}");
    assert_eq!(
        seen.load(Ordering::Relaxed),
        1,
        "the middleware did not see it"
    );
    assert_eq!(
        server
            .metrics()
            .rejected_with(StatusCode::PAYLOAD_TOO_LARGE),
        1
    );
    // Chunked: refused once the body is known to go over, mid-body.
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n")
        .unwrap();
    let answer = read_to_close(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(answer.ends_with(r#"{"error":"BodyTooLarge"}"#), "{answer}");
}

#[test]
fn an_unauthenticated_client_gets_its_401_before_learning_the_limit() {
    let seen = Arc::new(AtomicUsize::new(0));
    let server = server(api(Arc::clone(&seen)));
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"POST /private/upload HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n")
        .unwrap();
    let answer = read_to_close(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 401 "), "{answer}");
    assert!(answer.contains("x-request-id: r-1"), "{answer}");
    // With the token, the limit answers.
    let mut stream = connect(server.local_addr());
    stream
        .write_all(
            b"POST /private/upload HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cret\r\n\
              Content-Length: 100\r\n\r\n",
        )
        .unwrap();
    assert!(read_to_close(&mut stream).starts_with("HTTP/1.1 413 "));
}

#[test]
fn a_body_too_slow_gets_its_408_through_the_route_s_middleware() {
    let seen = Arc::new(AtomicUsize::new(0));
    let server = server(api(Arc::clone(&seen)));
    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    // Nothing more is sent: the body-read deadline passes (200 ms), and a worker answers.
    let answer = read_to_close(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(answer.ends_with(r#"{"error":"BodyTimeout"}"#), "{answer}");
    assert_eq!(
        seen.load(Ordering::Relaxed),
        1,
        "the middleware did not see it"
    );
    assert_eq!(server.metrics().timeouts.body, 1);
    assert_eq!(
        server.metrics().rejected_with(StatusCode::REQUEST_TIMEOUT),
        1
    );
}

#[test]
fn an_unsupported_expectation_gets_its_417_through_the_route_s_middleware() {
    let seen = Arc::new(AtomicUsize::new(0));
    let server = server(api(Arc::clone(&seen)));
    let mut client = Client::new(server.local_addr());
    client.send(b"POST /upload HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\nContent-Length: 0\r\n\r\n");
    let reply = client.reply();
    assert_eq!(reply.status, 417);
    assert_eq!(reply.text(), r#"{"error":"UnsupportedExpectation"}"#);
    assert_eq!(
        seen.load(Ordering::Relaxed),
        1,
        "the middleware did not see it"
    );
}

#[test]
fn refusals_carry_the_headers_the_route_s_middleware_adds() {
    let seen = Arc::new(AtomicUsize::new(0));
    let server = server(plain_api(Arc::clone(&seen)));
    for request in [
        &b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n"[..],
        b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nab",
        b"POST /upload HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\n\r\n",
    ] {
        let mut stream = connect(server.local_addr());
        stream.write_all(request).unwrap();
        let answer = read_to_close(&mut stream);
        assert!(answer.contains("x-request-id: r-1"), "{answer}");
        let rejection = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        assert!(!rejection.is_empty(), "{answer}");
    }
    assert_eq!(seen.load(Ordering::Relaxed), 3);
    let _ = RejectionKind::UnsupportedExpectation;
}

#[test]
fn the_in_process_client_refuses_the_same_way() {
    let seen = Arc::new(AtomicUsize::new(0));
    let client = switchyard::testing::TestClient::new(api(Arc::clone(&seen)))
        .limits(Limits::default().max_body_bytes(16));
    let response = client
        .post("/upload", "text/plain", vec![b'x'; 100])
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.text(), r#"{"error":"BodyTooLarge"}"#);
    assert_eq!(
        seen.load(Ordering::Relaxed),
        1,
        "the middleware did not see it"
    );
}

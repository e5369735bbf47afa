//! Allocations per request in steady state, counted by a global allocator: a bound that
//! fails if an allocation comes back (issue "Performance, round 2").
//!
//! The server runs in this process; the client here allocates nothing while counting
//! (fixed request bytes, a fixed read buffer), so every allocation counted is the server's.

mod support;

use std::alloc::System;
use std::io::{Read, Write};

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use switchyard::{Body, Request, Response, Router, Server};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn app() -> Router {
    Router::new()
        .get("/plaintext", |_: &Request| {
            Response::with_content_type(Body::from("Hello, World!"), "text/plain")
        })
        .get("/users/{id}", |req: &Request| {
            Response::with_content_type(
                Body::from(format!("user {}", req.param("id").unwrap_or_default())),
                "text/plain",
            )
        })
}

/// Allocations per request over `rounds` rounds of `batch` pipelined requests on one
/// keep-alive connection, after a warm-up.
fn allocations_per_request(path: &str, response_len: usize) -> f64 {
    let server = support::spawn(Server::builder().threads(1).metrics(false).app(app()));
    let mut stream = support::connect(server.local_addr());
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let batch = 16;
    let requests = request.repeat(batch).into_bytes();
    let mut response = vec![0u8; response_len * batch];
    let mut round = |stream: &mut std::net::TcpStream| {
        stream.write_all(&requests).unwrap();
        stream.read_exact(&mut response).unwrap();
    };
    for _ in 0..200 {
        round(&mut stream);
    }
    let rounds = 500;
    let region = Region::new(GLOBAL);
    for _ in 0..rounds {
        round(&mut stream);
    }
    let stats = region.change();
    let counted = stats.allocations + stats.reallocations;
    assert!(
        String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200 OK"),
        "{}",
        String::from_utf8_lossy(&response)
    );
    counted as f64 / (rounds * batch) as f64
}

/// The length of one response, learnt once (the date header has a fixed width).
fn response_len(path: &str) -> usize {
    let server = support::spawn(Server::builder().threads(1).app(app()));
    let reply = support::raw(
        server.local_addr(),
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    // Without `connection: close` (19 bytes + CRLF) in the keep-alive case.
    reply.len() - "connection: close\r\n".len()
}

/// One test, so that no other test's allocations are counted (the counter is global).
#[test]
fn allocations_per_request_in_steady_state() {
    let plaintext = allocations_per_request("/plaintext", response_len("/plaintext"));
    let users = allocations_per_request("/users/42", response_len("/users/42"));
    eprintln!("allocations per request: /plaintext {plaintext:.2}, /users/{{id}} {users:.2}");
    // None: the head is copied into a per-thread buffer that is reused once its requests
    // are served (the target and the header values are slices of it), header maps are
    // recycled per thread, parameters without escapes are read from the target.
    // Half an allocation of slack: rare events (a runner retiring and another starting
    // on a loaded machine) are averaged in; one allocation more per request is not.
    assert!(plaintext < 0.5, "/plaintext: {plaintext}");
    // The handler's own `format!`, and nothing else.
    assert!(users < 1.5, "/users/{{id}}: {users}");
}

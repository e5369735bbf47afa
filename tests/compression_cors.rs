//! `Cors` over a real socket: preflights answered by the middleware around the router's own
//! OPTIONS answers, and the headers of actual responses.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::{Client, Reply, spawn};
use switchyard::http::Method;
use switchyard::{Cors, Request, Router, RunningServer, Server};

const APP_ORIGIN: &str = "https://app.example";

/// Sends `method path` with `headers` on a fresh connection and reads the reply.
fn send(server: &RunningServer, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut client = Client::new(server.local_addr());
    client.send(request.as_bytes());
    if method == "HEAD" {
        support::read_reply(&mut std::io::BufReader::new(client.stream()), true)
    } else {
        client.reply()
    }
}

/// Every value of `name`, comma-separated lists split, lower-cased.
fn list(reply: &Reply, name: &str) -> Vec<String> {
    reply
        .headers
        .iter()
        .filter(|(n, _)| n == name)
        .flat_map(|(_, v)| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect()
}

fn allow_headers(reply: &Reply) -> Vec<&str> {
    reply
        .headers
        .iter()
        .filter(|(n, _)| n.starts_with("access-control-allow"))
        .map(|(n, _)| n.as_str())
        .collect()
}

/// Counts the handler calls of the CORS apps, to show that preflights never reach them.
#[derive(Clone, Default)]
struct Calls(Arc<AtomicUsize>);

impl Calls {
    fn handler(&self, text: &'static str) -> impl Fn(&Request) -> &'static str + use<> {
        let calls = Arc::clone(&self.0);
        move |_: &Request| {
            calls.fetch_add(1, Ordering::SeqCst);
            text
        }
    }

    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// `GET /items` and `GET /api/things` (nested), with `Cors` on the application's router.
fn cors_app(cors: Cors, calls: &Calls) -> RunningServer {
    let api = Router::new().get("/things", calls.handler("things"));
    let app = Router::new()
        .get("/items", calls.handler("items"))
        .nest("/api", api)
        .plugin(cors);
    spawn(Server::builder().threads(2).app(app))
}

fn listed_cors() -> Cors {
    Cors::builder()
        .allow_origins([APP_ORIGIN])
        .allow_methods([Method::PUT, Method::DELETE])
        .allow_headers(["content-type", "x-request-id"])
        .expose_headers(["x-total-count"])
        .max_age(std::time::Duration::from_secs(300))
        .build()
        .expect("a valid CORS configuration")
}

fn preflight_headers(origin: &str) -> [(&str, &str); 3] {
    [
        ("Origin", origin),
        ("Access-Control-Request-Method", "PUT"),
        ("Access-Control-Request-Headers", "content-type"),
    ]
}

#[test]
fn preflight_from_an_allowed_origin_is_answered_without_calling_the_route() {
    let calls = Calls::default();
    let server = cors_app(listed_cors(), &calls);
    // A path with a GET route only, a nested route, and a path with no route at all.
    for path in ["/items", "/api/things", "/nowhere"] {
        let reply = send(&server, "OPTIONS", path, &preflight_headers(APP_ORIGIN));
        assert_eq!(reply.status, 204, "{path}");
        assert_eq!(
            reply.header("access-control-allow-origin"),
            Some(APP_ORIGIN),
            "{path}"
        );
        assert_eq!(
            reply.header("access-control-allow-methods"),
            Some("PUT, DELETE"),
            "{path}"
        );
        assert_eq!(
            reply.header("access-control-allow-headers"),
            Some("content-type, x-request-id"),
            "{path}"
        );
        assert_eq!(
            reply.header("access-control-max-age"),
            Some("300"),
            "{path}"
        );
        assert_eq!(
            reply.header("allow"),
            None,
            "{path}: not the router's answer"
        );
        assert!(
            list(&reply, "vary").contains(&"origin".to_owned()),
            "{path}"
        );
    }
    assert_eq!(calls.count(), 0, "no route ran");
    server.shutdown().unwrap();
}

#[test]
fn preflight_from_a_disallowed_origin_or_for_a_disallowed_method_gets_no_allow_headers() {
    let calls = Calls::default();
    let server = cors_app(listed_cors(), &calls);
    let evil = send(
        &server,
        "OPTIONS",
        "/items",
        &preflight_headers("https://evil.example"),
    );
    let patch = send(
        &server,
        "OPTIONS",
        "/items",
        &[
            ("Origin", APP_ORIGIN),
            ("Access-Control-Request-Method", "PATCH"),
        ],
    );
    let header = send(
        &server,
        "OPTIONS",
        "/items",
        &[
            ("Origin", APP_ORIGIN),
            ("Access-Control-Request-Method", "PUT"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
    );
    for reply in [evil, patch, header] {
        assert_eq!(reply.status, 204);
        assert_eq!(allow_headers(&reply), Vec::<&str>::new(), "{reply:?}");
        assert_eq!(reply.header("allow"), None);
    }
    assert_eq!(calls.count(), 0);
    server.shutdown().unwrap();
}

#[test]
fn options_that_is_not_a_preflight_gets_the_routers_allow() {
    let calls = Calls::default();
    let server = cors_app(listed_cors(), &calls);
    // No Access-Control-Request-Method: an ordinary OPTIONS request, with or without Origin.
    for headers in [&[("Origin", APP_ORIGIN)][..], &[]] {
        let reply = send(&server, "OPTIONS", "/items", headers);
        assert_eq!(reply.status, 204);
        assert_eq!(reply.header("allow"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(reply.header("access-control-allow-methods"), None);
    }
    let reply = send(&server, "OPTIONS", "/api/things", &[]);
    assert_eq!(reply.header("allow"), Some("GET, HEAD, OPTIONS"));
    server.shutdown().unwrap();
}

#[test]
fn simple_get_gets_allow_origin_expose_headers_and_vary_origin() {
    let calls = Calls::default();
    let server = cors_app(listed_cors(), &calls);
    let reply = send(&server, "GET", "/api/things", &[("Origin", APP_ORIGIN)]);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "things");
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some(APP_ORIGIN)
    );
    assert_eq!(
        reply.header("access-control-expose-headers"),
        Some("x-total-count")
    );
    assert_eq!(reply.header("access-control-allow-credentials"), None);
    assert_eq!(list(&reply, "vary"), ["origin"]);

    // Another origin, or none: the response, without permission, still varies by origin.
    for headers in [&[("Origin", "https://evil.example")][..], &[]] {
        let reply = send(&server, "GET", "/items", headers);
        assert_eq!(reply.text(), "items");
        assert_eq!(allow_headers(&reply), Vec::<&str>::new());
        assert_eq!(list(&reply, "vary"), ["origin"]);
    }
    assert_eq!(calls.count(), 3);
    server.shutdown().unwrap();
}

#[test]
fn credentials_echo_the_origin() {
    let cors = Cors::builder()
        .allow_origins([APP_ORIGIN, "http://localhost:5173"])
        .allow_credentials(true)
        .mirror_request_headers()
        .build()
        .unwrap();
    let calls = Calls::default();
    let server = cors_app(cors, &calls);
    let reply = send(
        &server,
        "GET",
        "/items",
        &[("Origin", "http://localhost:5173")],
    );
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert_eq!(
        reply.header("access-control-allow-credentials"),
        Some("true")
    );

    let reply = send(
        &server,
        "OPTIONS",
        "/items",
        &[
            ("Origin", APP_ORIGIN),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization, x-csrf"),
        ],
    );
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some(APP_ORIGIN)
    );
    assert_eq!(
        reply.header("access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        reply.header("access-control-allow-headers"),
        Some("authorization, x-csrf")
    );
    assert_eq!(
        list(&reply, "vary"),
        [
            "origin",
            "access-control-request-method",
            "access-control-request-headers"
        ]
    );
    server.shutdown().unwrap();
}

#[test]
fn any_origin_without_credentials_is_a_star() {
    let cors = Cors::builder().allow_any_origin().build().unwrap();
    let calls = Calls::default();
    let server = cors_app(cors, &calls);
    let reply = send(
        &server,
        "GET",
        "/items",
        &[("Origin", "https://anyone.example")],
    );
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert_eq!(reply.header("vary"), None);
    server.shutdown().unwrap();
}

#[test]
fn cors_on_a_nested_router_answers_preflights_under_its_prefix_only() {
    let calls = Calls::default();
    let api = Router::new()
        .get("/things", calls.handler("things"))
        .plugin(listed_cors());
    let app = Router::new()
        .get("/items", calls.handler("items"))
        .nest("/api", api);
    let server = spawn(Server::builder().threads(2).app(app));
    for path in ["/api/things", "/api/unknown"] {
        let reply = send(&server, "OPTIONS", path, &preflight_headers(APP_ORIGIN));
        assert_eq!(reply.status, 204, "{path}");
        assert_eq!(
            reply.header("access-control-allow-origin"),
            Some(APP_ORIGIN),
            "{path}"
        );
    }
    // Outside the prefix, the router answers as it would without CORS.
    let reply = send(&server, "OPTIONS", "/items", &preflight_headers(APP_ORIGIN));
    assert_eq!(reply.header("allow"), Some("GET, HEAD, OPTIONS"));
    assert_eq!(reply.header("access-control-allow-origin"), None);
    assert_eq!(calls.count(), 0);
    server.shutdown().unwrap();
}

//! `Compression` and `Cors` over a real socket: gzip negotiated with `Accept-Encoding`
//! (in-memory and streamed bodies, each streamed piece decodable as it arrives), and CORS
//! preflights answered by the middleware around the router's own OPTIONS answers.

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

#[cfg(feature = "compression")]
mod compression {
    use std::io::{self, BufRead, BufReader, Read, Write};
    use std::sync::{Mutex, mpsc};
    use std::time::Duration;

    use super::*;
    use switchyard::http::header::CONTENT_TYPE;
    use switchyard::{Body, Compression, Response};

    /// Bounds every wait for the other side of a channel.
    const WAIT: Duration = Duration::from_secs(10);

    const FIRST_EVENT: &str = "event: first\ndata: the writer waits after this one\n\n";
    const SECOND_EVENT: &str = "event: second\ndata: sent once the client has the first\n\n";

    fn page() -> String {
        (0..200).map(|i| format!("<li>item {i}</li>\n")).collect()
    }

    fn csv_rows() -> Vec<String> {
        (0..2000)
            .map(|i| format!("{i},row {i},{}\n", i * 7))
            .collect()
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("a valid gzip body");
        out
    }

    /// `/page` (HTML in memory), `/csv` (`Body::from_chunks`), `/live` (`Body::writer` that
    /// waits on `go` between its two events), `/logo.png`.
    fn server(go: mpsc::Receiver<()>) -> RunningServer {
        let go = Arc::new(Mutex::new(go));
        let app = Router::new()
            .plugin(Compression::new())
            .get("/page", |_: &Request| Response::html(page()))
            .get("/csv", |_: &Request| {
                Response::bytes(Body::from_chunks(csv_rows())).with_header(CONTENT_TYPE, "text/csv")
            })
            .get("/logo.png", |_: &Request| {
                Response::with_content_type(Body::from(vec![7u8; 4096]), "image/png")
            })
            .get("/live", move |_: &Request| {
                let go = Arc::clone(&go);
                let body = Body::writer(move |out| {
                    out.write_all(FIRST_EVENT.as_bytes())?;
                    out.flush()?;
                    let go = go.lock().unwrap().recv_timeout(WAIT);
                    go.map_err(|_| io::Error::other("the test never said go"))?;
                    out.write_all(SECOND_EVENT.as_bytes())?;
                    out.flush()
                });
                Response::with_content_type(body, "text/plain; charset=utf-8")
            });
        spawn(Server::builder().threads(2).app(app))
    }

    #[test]
    fn gzip_when_accepted_and_the_bytes_round_trip() {
        let (_, go) = mpsc::channel();
        let server = server(go);
        let reply = send(
            &server,
            "GET",
            "/page",
            &[("Accept-Encoding", "br, gzip;q=0.8")],
        );
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-encoding"), Some("gzip"));
        assert_eq!(list(&reply, "vary"), ["accept-encoding"]);
        // In memory: compressed at once, sent with its new length.
        let len: usize = reply.header("content-length").unwrap().parse().unwrap();
        assert_eq!(len, reply.body.len());
        assert!(len < page().len() / 4, "{len} bytes");
        assert_eq!(gunzip(&reply.body), page().as_bytes());
        server.shutdown().unwrap();
    }

    #[test]
    fn identity_when_gzip_is_not_accepted() {
        let (_, go) = mpsc::channel();
        let server = server(go);
        for accept in [None, Some("br"), Some("gzip;q=0"), Some("")] {
            let headers: Vec<_> = accept.map(|a| ("Accept-Encoding", a)).into_iter().collect();
            let reply = send(&server, "GET", "/page", &headers);
            assert_eq!(reply.header("content-encoding"), None, "{accept:?}");
            assert_eq!(list(&reply, "vary"), ["accept-encoding"], "{accept:?}");
            assert_eq!(reply.body, page().as_bytes(), "{accept:?}");
        }
        // An image is sent as it is, without Vary.
        let reply = send(&server, "GET", "/logo.png", &[("Accept-Encoding", "gzip")]);
        assert_eq!(reply.header("content-encoding"), None);
        assert_eq!(reply.header("vary"), None);
        assert_eq!(reply.body, vec![7u8; 4096]);
        server.shutdown().unwrap();
    }

    #[test]
    fn nothing_acceptable_is_406() {
        let (_, go) = mpsc::channel();
        let server = server(go);
        for accept in ["identity;q=0", "br, *;q=0"] {
            let reply = send(&server, "GET", "/page", &[("Accept-Encoding", accept)]);
            assert_eq!(reply.status, 406, "{accept}");
            assert_eq!(list(&reply, "vary"), ["accept-encoding"], "{accept}");
        }
        // Excluding identity is fine when gzip is accepted.
        let reply = send(
            &server,
            "GET",
            "/page",
            &[("Accept-Encoding", "identity;q=0, gzip")],
        );
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-encoding"), Some("gzip"));
        server.shutdown().unwrap();
    }

    #[test]
    fn head_gets_the_headers_of_get() {
        let (_, go) = mpsc::channel();
        let server = server(go);
        let accept = [("Accept-Encoding", "gzip")];
        let get = send(&server, "GET", "/page", &accept);
        let head = send(&server, "HEAD", "/page", &accept);
        assert_eq!(head.status, 200);
        assert!(head.body.is_empty());
        for name in ["content-encoding", "content-length", "vary", "content-type"] {
            assert_eq!(head.header(name), get.header(name), "{name}");
        }
        server.shutdown().unwrap();
    }

    #[test]
    fn from_chunks_body_is_gzipped_read_by_read_and_each_chunk_decodes_as_it_arrives() {
        let (_, go) = mpsc::channel();
        let server = server(go);
        let reply = send(&server, "GET", "/csv", &[("Accept-Encoding", "gzip")]);
        assert_eq!(reply.header("content-encoding"), Some("gzip"));
        assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
        assert_eq!(reply.header("content-length"), None);
        let expected = csv_rows().concat();
        // The server reads 16 KiB of rows at a time; each read is one compressed chunk,
        // and the gzip trailer comes last.
        let reads = expected.len().div_ceil(16 * 1024);
        let chunks = reply.chunks.clone().unwrap();
        assert_eq!(chunks.len(), reads + 1, "{chunks:?}");
        let mut decoder = flate2::write::GzDecoder::new(Vec::new());
        let mut at = 0;
        for (i, size) in chunks.iter().enumerate().take(reads) {
            decoder.write_all(&reply.body[at..at + size]).unwrap();
            decoder.flush().unwrap();
            at += size;
            let decoded = (16 * 1024 * (i + 1)).min(expected.len());
            assert_eq!(
                decoder.get_ref(),
                &expected.as_bytes()[..decoded],
                "chunk {i}"
            );
        }
        decoder.write_all(&reply.body[at..]).unwrap();
        assert_eq!(decoder.finish().unwrap(), expected.as_bytes());
        server.shutdown().unwrap();
    }

    /// Reads one chunk of a chunked body: `None` for the last, empty one.
    fn read_chunk(reader: &mut impl BufRead) -> Option<Vec<u8>> {
        let mut size = String::new();
        reader.read_line(&mut size).expect("chunk size line");
        let size = usize::from_str_radix(size.trim_end(), 16).expect("hex chunk size");
        let mut data = vec![0; size + 2];
        reader.read_exact(&mut data).expect("chunk data and CRLF");
        assert_eq!(&data[size..], b"\r\n");
        data.truncate(size);
        (size > 0).then_some(data)
    }

    #[test]
    fn writer_body_arrives_compressed_piece_by_piece_while_the_writer_waits() {
        let (go_tx, go) = mpsc::channel();
        let server = server(go);
        let mut stream = support::connect(server.local_addr());
        stream
            .write_all(b"GET /live HTTP/1.1\r\nHost: test\r\nAccept-Encoding: gzip\r\n\r\n")
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("head line");
            if line == "\r\n" {
                break;
            }
            head.push(line.to_ascii_lowercase());
        }
        assert!(
            head.contains(&"content-encoding: gzip\r\n".to_owned()),
            "{head:?}"
        );
        assert!(
            head.contains(&"transfer-encoding: chunked\r\n".to_owned()),
            "{head:?}"
        );

        // The writer flushed the first event and now waits for `go`: what arrived must
        // decode to that event on its own.
        let mut decoder = flate2::write::GzDecoder::new(Vec::new());
        let first = read_chunk(&mut reader).expect("the first piece");
        decoder.write_all(&first).unwrap();
        decoder.flush().unwrap();
        assert_eq!(decoder.get_ref(), FIRST_EVENT.as_bytes());

        go_tx.send(()).unwrap();
        let second = read_chunk(&mut reader).expect("the second piece");
        decoder.write_all(&second).unwrap();
        decoder.flush().unwrap();
        assert_eq!(
            decoder.get_ref(),
            [FIRST_EVENT, SECOND_EVENT].concat().as_bytes()
        );

        let trailer = read_chunk(&mut reader).expect("the gzip trailer");
        decoder.write_all(&trailer).unwrap();
        assert_eq!(read_chunk(&mut reader), None, "the last chunk");
        let body = decoder.finish().unwrap();
        assert_eq!(body, [FIRST_EVENT, SECOND_EVENT].concat().as_bytes());
        server.shutdown().unwrap();
    }

    #[test]
    fn compression_and_cors_each_add_their_vary() {
        let cors = Cors::builder().allow_origins([APP_ORIGIN]).build().unwrap();
        let app = Router::new()
            .plugin(Compression::new())
            .plugin(cors)
            .get("/page", |_: &Request| Response::html(page()));
        let server = spawn(Server::builder().threads(2).app(app));
        let reply = send(
            &server,
            "GET",
            "/page",
            &[("Origin", APP_ORIGIN), ("Accept-Encoding", "gzip")],
        );
        assert_eq!(reply.header("content-encoding"), Some("gzip"));
        assert_eq!(
            reply.header("access-control-allow-origin"),
            Some(APP_ORIGIN)
        );
        let mut vary = list(&reply, "vary");
        vary.sort();
        assert_eq!(vary, ["accept-encoding", "origin"]);
        assert_eq!(gunzip(&reply.body), page().as_bytes());
        server.shutdown().unwrap();
    }
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

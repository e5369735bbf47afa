//! `testing::TestClient`: requests go through the same engine as on the wire.

use switchyard::testing::TestClient;
use switchyard::{Request, Response, Router};

fn app() -> Router {
    Router::new()
        .get("/users/{id}", |req: &Request| {
            format!("user {}", req.param("id").unwrap_or("?"))
        })
        .post("/echo", |req: &Request| req.body().to_vec())
        .get("/stream", |_: &Request| {
            Response::bytes(switchyard::Body::stream(&b"streamed"[..]))
        })
}

#[test]
fn a_request_gets_the_routed_response() {
    let client = TestClient::new(app());
    let res = client.get("/users/42").unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.body(), b"user 42");
    assert!(res.headers().contains_key("date"));
}

#[test]
fn bodies_are_framed_as_on_the_wire() {
    let client = TestClient::new(app());
    let post = http::Request::post("/echo").body(b"ping".to_vec()).unwrap();
    assert_eq!(client.request(post).unwrap().body(), b"ping");
    let res = client.get("/stream").unwrap();
    assert_eq!(res.headers()["transfer-encoding"], "chunked");
    assert_eq!(res.body(), b"streamed");
}

#[test]
fn not_found_wrong_method_and_head_answer_as_the_server_does() {
    let client = TestClient::new(app());
    assert_eq!(client.get("/nope").unwrap().status(), 404);
    let res = client.get("/echo").unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "POST, OPTIONS");
    let head = http::Request::head("/users/1").body(Vec::new()).unwrap();
    let res = client.request(head).unwrap();
    assert_eq!(res.headers()["content-length"], "6");
    assert!(res.body().is_empty());
}

#[test]
fn malformed_and_oversized_requests_get_the_engine_s_answers() {
    let mut limits = switchyard::Limits::default();
    limits.max_body_bytes = 3;
    let client = TestClient::new(app()).limits(limits);
    let raw = client.send_raw(b"GET /users/1 HTTP/1.1\r\nHost: a b\r\n\r\n");
    assert!(
        raw.starts_with(b"HTTP/1.1 400 "),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    let post = http::Request::post("/echo")
        .body(b"toolong".to_vec())
        .unwrap();
    assert_eq!(client.request(post).unwrap().status(), 413);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let client = TestClient::new(app());
    let raw = client.send_raw(
        b"GET /users/1 HTTP/1.1\r\nHost: h\r\n\r\nGET /users/2 HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&raw);
    let first = text.find("user 1").expect("first answer");
    let second = text.find("user 2").expect("second answer");
    assert!(first < second, "{text}");
}

#[test]
fn streamed_body_routes_keep_their_own_limit() {
    use std::io::Read;
    let uploads = Router::new()
        .post("/count", |req: &Request| {
            let mut total = 0;
            let mut reader = req.body_reader();
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                total += n;
            }
            total.to_string()
        })
        .stream_bodies(8 << 20);
    let client = TestClient::new(uploads);
    // Past the server-wide 2 MiB, within the route's 8 MiB.
    let post = http::Request::post("/count")
        .body(vec![7u8; 3 << 20])
        .unwrap();
    let res = client.request(post).unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.body(), (3usize << 20).to_string().as_bytes());
}

#[test]
fn test_responses_have_the_accessors_tests_want() {
    let client = TestClient::new(app());
    let res = client.post("/echo", "text/plain", "hello").unwrap();
    assert_eq!(res.text(), "hello");
    assert_eq!(res.header("content-length"), Some("5"));
    assert_eq!(res.header("x-missing"), None);
    let res = client.delete("/echo").unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.header("allow"), Some("POST, OPTIONS"));
    assert_eq!(res.into_inner().status(), 405);
}

#[cfg(feature = "json")]
#[test]
fn a_test_response_decodes_json() {
    use switchyard::Json;
    let client = TestClient::new(Router::new().get("/n", |_: &Request| Json(vec![1, 2, 3])));
    let res = client.get("/n").unwrap();
    assert_eq!(res.json::<Vec<u32>>().unwrap(), [1, 2, 3]);
    let error = res.json::<String>().unwrap_err();
    assert!(
        matches!(error, switchyard::testing::TestError::Json(_)),
        "{error}"
    );
}

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

/// Issue 28 (6): a `stream_bodies` route sees a streamed body under the test client, as on
/// a server (it saw a buffered one).
#[test]
fn a_streaming_route_streams_under_the_test_client_as_on_a_server() {
    use std::io::Read;
    let app = Router::new()
        .post("/upload", |req: &Request| {
            let mut body = Vec::new();
            req.body_reader().read_to_end(&mut body).unwrap();
            format!("streamed={} {}", req.is_body_streamed(), body.len())
        })
        .stream_bodies(1 << 20);
    let client = TestClient::new(app);
    let response = client
        .post("/upload", "application/octet-stream", vec![7; 100_000])
        .unwrap();
    assert_eq!(response.text(), "streamed=true 100000");
}

#[test]
fn every_method_has_a_shorthand_and_requests_can_be_built() {
    let app = Router::new()
        .put("/n", |req: &Request| {
            format!("put {}", String::from_utf8_lossy(req.body()))
        })
        .patch("/n", |req: &Request| {
            format!("patch {}", String::from_utf8_lossy(req.body()))
        })
        .get("/n", |req: &Request| {
            format!(
                "get {}",
                req.headers()
                    .get("x-tag")
                    .map_or("-", |v| v.to_str().unwrap())
            )
        });
    let client = TestClient::new(app);
    assert_eq!(client.put("/n", "text/plain", "a").unwrap().text(), "put a");
    assert_eq!(
        client.patch("/n", "text/plain", "b").unwrap().text(),
        "patch b"
    );
    let head = client.head("/n").unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.body().is_empty());
    assert_eq!(head.header("content-length"), Some("5"));
    let options = client.options("/n").unwrap();
    assert_eq!(
        options.header("allow"),
        Some("PUT, PATCH, GET, HEAD, OPTIONS")
    );
    let built = client
        .build(switchyard::http::Method::GET, "/n")
        .header("x-tag", "t1")
        .send()
        .unwrap();
    assert_eq!(built.text(), "get t1");
}

#[test]
fn websocket_routes_are_tested_in_process_through_the_real_codec() {
    use std::sync::Arc;
    use switchyard::live::{CloseFrame, Message, Topic, WebSocket, WebSocketSession};

    struct Room(Arc<Topic<WebSocket>>);
    impl WebSocketSession for Room {
        fn on_open(&mut self, ws: &WebSocket) {
            let _ = ws.send(Message::text("welcome"));
            self.0.subscribe(ws.clone());
        }
        fn on_message(&mut self, _: &WebSocket, message: Message) {
            self.0.send(message);
        }
        fn on_close(&mut self, _: &WebSocket, _: Option<CloseFrame>) {}
    }
    let topic = Arc::new(Topic::new());
    let room = Arc::clone(&topic);
    let app = Router::new().websocket("/room", move |_: &Request| Room(Arc::clone(&room)));
    let client = TestClient::new(app);
    let mut alice = client.websocket("/room").unwrap();
    let mut bob = client.websocket("/room").unwrap();
    assert_eq!(alice.receive(), Some(Message::text("welcome")));
    assert_eq!(bob.receive(), Some(Message::text("welcome")));
    alice.send(Message::text("hi all")).unwrap();
    assert_eq!(alice.receive(), Some(Message::text("hi all")));
    assert_eq!(bob.receive(), Some(Message::text("hi all")));
    assert_eq!(bob.receive(), None);
    // Sent from outside any connection: delivered on the next look.
    topic.send(Message::binary(vec![1, 2, 3]));
    assert_eq!(bob.receive(), Some(Message::binary(vec![1, 2, 3])));
    bob.close(1000);
    assert!(matches!(bob.receive(), Some(Message::Close(_)) | None));
    // A refused handshake is an error, with the answer in it.
    let error = client.websocket("/nope").unwrap_err();
    assert!(error.to_string().contains("404"), "{error}");
}

#[test]
fn event_streams_are_read_in_process() {
    use std::sync::{Arc, Mutex};
    use switchyard::live::{Event, EventStream};

    let streams: Arc<Mutex<Vec<EventStream>>> = Arc::default();
    let kept = Arc::clone(&streams);
    let app = Router::new().get("/events", move |req: &Request| {
        let (response, events) = switchyard::Response::events();
        let from = req.last_event_id().unwrap_or("0").to_owned();
        let _ = events.send(&Event::new().id("1").data(format!("after {from}")));
        kept.lock().unwrap().push(events);
        response
    });
    let client = TestClient::new(app);
    let mut events = client.events("/events").unwrap();
    assert_eq!(events.receive(), "id: 1\ndata: after 0\n\n");
    assert_eq!(events.receive(), "");
    let _ = streams.lock().unwrap()[0].send(&Event::new().data("two\nlines"));
    assert_eq!(events.receive(), "data: two\ndata: lines\n\n");
    streams.lock().unwrap().clear();
    assert_eq!(events.receive(), "");
    assert!(events.is_closed());
}

/// Issue 28 (7): a closure session with `on_open` and `on_close`.
#[test]
fn a_closure_session_hears_open_and_close() {
    use std::sync::{Arc, Mutex};
    use switchyard::live::{self, Message, WebSocket};

    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&log);
    let app = Router::new().websocket("/ws", move |_: &Request| {
        let (opened, closed) = (Arc::clone(&seen), Arc::clone(&seen));
        live::session(|ws: &WebSocket, message: Message| {
            let _ = ws.send(message);
        })
        .on_open(move |ws: &WebSocket| {
            opened.lock().unwrap().push("open".into());
            let _ = ws.send(Message::text("hello"));
        })
        .on_close(move |_: &WebSocket, frame| {
            let code = frame.map_or(0, |frame| u16::from(frame.code));
            closed.lock().unwrap().push(format!("close {code}"));
        })
    });
    let client = TestClient::new(app);
    let mut ws = client.websocket("/ws").unwrap();
    assert_eq!(ws.receive(), Some(Message::text("hello")));
    ws.send(Message::text("echo")).unwrap();
    assert_eq!(ws.receive(), Some(Message::text("echo")));
    ws.close(1000);
    assert!(matches!(ws.receive(), Some(Message::Close(_)) | None));
    assert_eq!(*log.lock().unwrap(), ["open", "close 1000"]);
}

#[test]
fn a_handler_past_its_deadline_gets_the_server_s_503_in_process_too() {
    let app = Router::new()
        .get("/slow", |_: &Request| {
            std::thread::sleep(std::time::Duration::from_millis(30));
            "too late"
        })
        .handler_timeout(std::time::Duration::from_millis(10));
    let client = TestClient::new(app);
    let res = client.get("/slow").unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
}

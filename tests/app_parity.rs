//! What you test is what you serve: the same app answers the same requests identically
//! through `Router::handle` and through a server on a socket (`ServerBuilder::app`).

mod support;

use std::io::BufReader;
use std::io::Write;

use http::{Method, StatusCode};
use switchyard::{Error, Next, Rejection, Request, Response, Router, Server};

use support::{connect, read_reply, spawn};

struct Greeting(&'static str);

/// Request ids, an auth middleware on `/api`, state read by the fallback, panics in a
/// handler and in a middleware.
fn app() -> Router {
    let api = Router::new()
        .get("/users", |_: &Request| "users")
        .post("/users", |_: &Request| (StatusCode::CREATED, "made"))
        .middleware(|req: &mut Request, next: Next<'_>| {
            if req.headers().contains_key("authorization") {
                next.run(req)
            } else {
                Response::new(StatusCode::UNAUTHORIZED)
            }
        });
    Router::new()
        .state(Greeting("hi"))
        .get("/", |req: &Request| -> Result<String, Rejection> {
            Ok(format!("{} from /", req.require_state::<Greeting>()?.0))
        })
        .get("/handler-panics", |_: &Request| -> &'static str {
            panic!("handler panics on purpose")
        })
        .get("/mw-panics", |_: &Request| "unreachable")
        .nest("/api", api)
        .fallback(|req: &Request| {
            let greeting = req.state::<Greeting>().map_or("no state", |g| g.0);
            format!("fallback for {} ({greeting})", req.path())
        })
        .middleware(|req: &mut Request, next: Next<'_>| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("generated")
                .to_owned();
            let mut res = next.run(req);
            res.headers_mut()
                .insert("x-request-id", id.parse().unwrap());
            res
        })
        .middleware(|req: &mut Request, next: Next<'_>| {
            if req.path() == "/mw-panics" {
                panic!("middleware panics on purpose");
            }
            next.run(req)
        })
}

struct Scenario {
    method: Method,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    status: StatusCode,
    /// A piece of the body that shows who answered.
    body_has: &'static str,
}

const fn scenario(
    method: Method,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    status: StatusCode,
    body_has: &'static str,
) -> Scenario {
    Scenario {
        method,
        path,
        headers,
        status,
        body_has,
    }
}

const AUTH: &[(&str, &str)] = &[("authorization", "Bearer t")];
const ID: &[(&str, &str)] = &[("x-request-id", "abc")];

fn scenarios() -> Vec<Scenario> {
    vec![
        scenario(Method::GET, "/", ID, StatusCode::OK, "hi from /"),
        scenario(Method::HEAD, "/", &[], StatusCode::OK, ""),
        scenario(
            Method::GET,
            "/nope",
            ID,
            StatusCode::OK,
            "fallback for /nope (hi)",
        ),
        scenario(Method::POST, "/", &[], StatusCode::METHOD_NOT_ALLOWED, ""),
        scenario(Method::OPTIONS, "/", &[], StatusCode::NO_CONTENT, ""),
        scenario(
            Method::GET,
            "/handler-panics",
            ID,
            StatusCode::INTERNAL_SERVER_ERROR,
            "",
        ),
        scenario(
            Method::GET,
            "/mw-panics",
            ID,
            StatusCode::INTERNAL_SERVER_ERROR,
            "",
        ),
        scenario(Method::GET, "/api/users", &[], StatusCode::UNAUTHORIZED, ""),
        scenario(Method::GET, "/api/users", AUTH, StatusCode::OK, "users"),
        // The method list and the unknown paths of /api are behind its middleware too.
        scenario(
            Method::DELETE,
            "/api/users",
            &[],
            StatusCode::UNAUTHORIZED,
            "",
        ),
        scenario(
            Method::OPTIONS,
            "/api/users",
            &[],
            StatusCode::UNAUTHORIZED,
            "",
        ),
        scenario(Method::GET, "/api/nope", &[], StatusCode::UNAUTHORIZED, ""),
        scenario(
            Method::DELETE,
            "/api/users",
            AUTH,
            StatusCode::METHOD_NOT_ALLOWED,
            "",
        ),
        scenario(
            Method::GET,
            "/api/nope",
            AUTH,
            StatusCode::OK,
            "fallback for /api/nope (hi)",
        ),
    ]
}

/// Headers only the wire adds (framing and date).
const WIRE_ONLY: [&str; 4] = ["date", "content-length", "transfer-encoding", "connection"];

#[test]
fn handle_and_the_server_answer_alike() {
    let router = app();
    let server = spawn(Server::builder().threads(2).app(app()));
    let mut stream = BufReader::new(connect(server.local_addr()));
    for s in scenarios() {
        let what = format!("{} {} {:?}", s.method, s.path, s.headers);
        let mut request = http::Request::builder()
            .method(s.method.clone())
            .uri(s.path);
        let mut raw = format!("{} {} HTTP/1.1\r\nHost: test\r\n", s.method, s.path);
        for (name, value) in s.headers {
            request = request.header(*name, *value);
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
        raw.push_str("\r\n");
        let in_process = router.handle(request.body(()).unwrap());
        stream.get_mut().write_all(raw.as_bytes()).unwrap();
        let wire = read_reply(&mut stream, s.method == Method::HEAD);

        assert_eq!(in_process.status(), s.status, "handle: {what}");
        assert_eq!(wire.status, s.status.as_u16(), "wire: {what}");
        let expected_id = if s.headers == ID { "abc" } else { "generated" };
        assert_eq!(
            in_process.headers()["x-request-id"],
            expected_id,
            "handle: {what}"
        );
        for (name, value) in in_process.headers() {
            assert_eq!(
                wire.header(name.as_str()),
                Some(value.to_str().unwrap()),
                "wire header {name}: {what}"
            );
        }
        for (name, _) in &wire.headers {
            assert!(
                in_process.headers().contains_key(name.as_str())
                    || WIRE_ONLY.contains(&name.as_str()),
                "the wire adds {name}: {what}"
            );
        }
        let body = in_process.into_body_bytes().unwrap();
        assert_eq!(wire.body, body, "body: {what}");
        assert!(
            String::from_utf8_lossy(&body).contains(s.body_has),
            "{what}: {:?}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[test]
fn the_builders_own_calls_add_to_the_app() {
    let server = spawn(
        Server::builder()
            .app(app())
            .route(Method::GET, "/extra", |req: &Request| {
                req.state::<Greeting>().map_or("none", |g| g.0)
            })
            .middleware(|req: &mut Request, next: Next<'_>| {
                let mut res = next.run(req);
                res.headers_mut().insert("x-outer", "1".parse().unwrap());
                res
            }),
    );
    let reply = support::get(server.local_addr(), "/extra");
    assert_eq!((reply.status, reply.text().as_str()), (200, "hi"));
    let reply = support::get(server.local_addr(), "/nope");
    assert_eq!(reply.header("x-outer"), Some("1"));
    assert_eq!(reply.header("x-request-id"), Some("generated"));
}

#[test]
fn app_after_routes_is_a_configuration_error() {
    let error = Server::builder()
        .route(Method::GET, "/lost", |_: &Request| "lost")
        .app(app())
        .bind("127.0.0.1:0")
        .unwrap_err();
    assert!(matches!(error, Error::Config(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("ServerBuilder::app must come before")
    );
}

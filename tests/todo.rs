//! `examples/todo.rs`, tested as its users would test it: `Router::handle` for handler
//! logic, `TestClient` for the wire format, a socket for the real thing.
#![cfg(all(feature = "json", feature = "form"))]

mod support;

#[allow(dead_code)] // the example's `main` is not used here
#[path = "../examples/todo.rs"]
mod todo;

use http::StatusCode;
use serde::Deserialize;
use switchyard::testing::TestClient;
use switchyard::{Request, Response, Router, Server};

use todo::{API_TOKEN, Todo, app};

fn call(app: &Router, request: http::Request<String>) -> Response {
    app.handle(request)
}

fn api(method: &str, path: &str, body: &str) -> http::Request<String> {
    http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {API_TOKEN}"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .unwrap()
}

#[derive(Deserialize)]
struct ApiError {
    error: String,
}

fn json<T: for<'de> Deserialize<'de>>(res: Response) -> T {
    serde_json::from_slice(&res.into_body_bytes().unwrap()).unwrap()
}

#[test]
fn the_api_creates_reads_updates_and_deletes() {
    let app = app();
    let res = call(
        &app,
        api("POST", "/api/todos", r#"{"title":"write tests"}"#),
    );
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["location"], "/api/todos/1");
    let created: Todo = json(res);
    assert_eq!(
        (created.id, created.title.as_str(), created.done),
        (1, "write tests", false)
    );

    let res = call(
        &app,
        api(
            "PUT",
            "/api/todos/1",
            r#"{"title":"write tests","done":true}"#,
        ),
    );
    assert!(json::<Todo>(res).done);
    let all: Vec<Todo> = json(call(&app, api("GET", "/api/todos", "")));
    assert_eq!(all.len(), 1);
    assert_eq!(
        call(&app, api("DELETE", "/api/todos/1", "")).status(),
        StatusCode::NO_CONTENT
    );
    let res = call(&app, api("GET", "/api/todos/1", ""));
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(json::<ApiError>(res).error, "no to-do 1");
}

#[test]
fn the_api_renders_every_rejection_as_json() {
    let app = app();
    let cases = [
        (
            api("POST", "/api/todos", r#"{"title":"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            api("POST", "/api/todos", r#"{"name":"x"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (api("GET", "/api/todos/x", ""), StatusCode::BAD_REQUEST),
        (
            http::Request::get("/api/todos")
                .body(String::new())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        // Behind the token even where no route is: nothing to learn without it.
        (
            http::Request::get("/api/secret-admin")
                .body(String::new())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (request, status) in cases {
        let what = format!("{} {}", request.method(), request.uri());
        let res = call(&app, request);
        assert_eq!(res.status(), status, "{what}");
        assert_eq!(res.headers()["content-type"], "application/json", "{what}");
        assert!(!json::<ApiError>(res).error.is_empty(), "{what}");
    }
}

#[test]
fn the_form_adds_and_redirects_and_the_page_escapes() {
    let client = TestClient::new(app());
    let form = "title=%3Cb%3Ebold%3C%2Fb%3E+move";
    let res = client
        .post("/todos", "application/x-www-form-urlencoded", form)
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.header("location"), Some("/"));
    let page = client.get("/").unwrap();
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        page.text()
            .contains("<li>[ ] &lt;b&gt;bold&lt;/b&gt; move</li>"),
        "{}",
        page.text()
    );
    let res = client.post("/todos", "text/plain", "title=x").unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[test]
fn the_name_is_remembered_in_a_cookie() {
    let app = app();
    // A space, a non-ASCII letter and a `;`: none of them may appear in a cookie value.
    let form = http::Request::post("/name")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=Ada+Lovel%C3%A4ce%3B".to_owned())
        .unwrap();
    let res = call(&app, form);
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    let value = cookie
        .strip_prefix("name=")
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    assert!(value.bytes().all(|b| b.is_ascii_hexdigit()), "{cookie}");
    let page = http::Request::get("/")
        .header("cookie", format!("theme=dark; name={value}"))
        .body(String::new());
    let page = call(&app, page.unwrap()).into_body_bytes().unwrap();
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("Hello, Ada Loveläce;"), "{page}");
}

#[test]
fn over_a_socket_the_csv_streams_and_every_answer_has_a_request_id() {
    let app = app().get("/whoami", |req: &Request| req.path().to_owned());
    let server = support::spawn(Server::builder().threads(2).app(app));
    let addr = server.local_addr();
    let mut client = support::Client::new(addr);
    let add = |client: &mut support::Client, title: &str| {
        let body = format!(r#"{{"title":"{title}"}}"#);
        client.send(
            format!(
                "POST /api/todos HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {API_TOKEN}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        assert_eq!(client.reply().status, 201);
    };
    add(&mut client, "one");
    add(&mut client, "say \\\"two\\\"");
    let csv = client.get("/todos.csv");
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(csv.header("transfer-encoding"), Some("chunked"));
    assert_eq!(
        csv.text(),
        "id,title,done\n1,\"one\",false\n2,\"say \"\"two\"\"\",false\n"
    );
    let missing = client.get("/nope");
    assert_eq!(missing.status, 404);
    assert!(
        missing
            .header("x-request-id")
            .is_some_and(|id| id.starts_with("todo-"))
    );
}

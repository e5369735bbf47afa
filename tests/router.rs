//! The router in-process, through `Router::handle`: no sockets.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use switchyard::http::{self, Method, StatusCode, header};
use switchyard::{
    AccessLog, Health, Next, Plugin, Rejection, Request, Response, RouteError, Router,
};

fn get(router: &Router, path: &str) -> Response {
    router.handle(http::Request::get(path).body(()).unwrap())
}

fn send(router: &Router, method: Method, path: &str) -> Response {
    router.handle(
        http::Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap(),
    )
}

fn text(response: Response) -> String {
    String::from_utf8(response.into_body_bytes().unwrap()).unwrap()
}

fn echo_route(req: &Request) -> String {
    format!(
        "{} {:?}",
        req.route().unwrap_or("-"),
        req.params().iter().collect::<Vec<_>>()
    )
}

#[test]
fn static_param_and_catch_all_routes() {
    let router = Router::new()
        .get("/", |_: &Request| "root")
        .get("/users/{id}", echo_route)
        .get("/users/{id}/posts/{post}", echo_route)
        .get("/files/{*path}", echo_route);
    assert_eq!(text(get(&router, "/")), "root");
    assert_eq!(
        text(get(&router, "/users/7")),
        r#"/users/{id} [("id", "7")]"#
    );
    assert_eq!(
        text(get(&router, "/users/7/posts/9")),
        r#"/users/{id}/posts/{post} [("id", "7"), ("post", "9")]"#
    );
    assert_eq!(
        text(get(&router, "/files/a/b/c.txt")),
        r#"/files/{*path} [("path", "a/b/c.txt")]"#
    );
}

#[test]
fn params_are_percent_decoded_and_the_query_is_not_routed() {
    let router = Router::new().get("/users/{id}", |req: &Request| {
        format!(
            "{}|{}",
            req.param("id").unwrap(),
            req.query("q").unwrap_or_default()
        )
    });
    assert_eq!(
        text(get(&router, "/users/J%C3%BCrgen%20K?q=a+b%21")),
        "Jürgen K|a b!"
    );
    assert_eq!(text(get(&router, "/users/a%2Fb")), "a/b|");
    // Not valid UTF-8 once decoded: 400 before the handler.
    assert_eq!(get(&router, "/users/%FF").status(), StatusCode::BAD_REQUEST);
}

/// Pins matchit's syntax, which our docs restate: a matchit upgrade that changes it fails here.
#[test]
fn route_syntax_is_pinned() {
    let router = Router::new()
        .get("/users/new", |_: &Request| "static")
        .get("/users/{id}", |_: &Request| "param")
        .get("/{{literal}}", |_: &Request| "escaped braces")
        .get("/assets/{*rest}", |_: &Request| "catch-all");
    assert_eq!(
        text(get(&router, "/users/new")),
        "static",
        "static beats param"
    );
    assert_eq!(text(get(&router, "/users/old")), "param");
    assert_eq!(text(get(&router, "/{literal}")), "escaped braces");
    assert_eq!(text(get(&router, "/assets/x/y")), "catch-all");
    assert_eq!(
        get(&router, "/assets/").status(),
        StatusCode::NOT_FOUND,
        "a catch-all needs a segment"
    );
    assert_eq!(get(&router, "/assets").status(), StatusCode::NOT_FOUND);
    assert_eq!(
        get(&router, "/users/new/").status(),
        StatusCode::NOT_FOUND,
        "no trailing-slash redirect"
    );
}

#[test]
fn unknown_path_is_404_and_fallback_replaces_it() {
    let router = Router::new().get("/a", |_: &Request| "a");
    assert_eq!(get(&router, "/b").status(), StatusCode::NOT_FOUND);
    let router =
        router.fallback(|req: &Request| (StatusCode::NOT_FOUND, format!("no {}", req.path())));
    let response = get(&router, "/b");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(text(response), "no /b");
}

#[test]
fn wrong_method_is_405_with_allow() {
    let router = Router::new()
        .get("/items", |_: &Request| "list")
        .post("/items", |_: &Request| StatusCode::CREATED)
        .delete("/items/{id}", |_: &Request| StatusCode::NO_CONTENT);
    let response = send(&router, Method::PUT, "/items");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        response.headers()[header::ALLOW],
        "GET, POST, HEAD, OPTIONS"
    );
    let response = send(&router, Method::GET, "/items/3");
    assert_eq!(response.headers()[header::ALLOW], "DELETE, OPTIONS");
    assert_eq!(
        send(&router, Method::POST, "/items").status(),
        StatusCode::CREATED
    );
}

#[test]
fn head_uses_get_handler_without_body() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let router = Router::new().get("/page", move |_: &Request| {
        counted.fetch_add(1, Ordering::SeqCst);
        "twelve bytes"
    });
    let response = send(&router, Method::HEAD, "/page");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_LENGTH], "12");
    assert_eq!(response.into_body_bytes().unwrap(), b"");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn options_is_answered_with_allow_unless_a_route_claims_it() {
    let router = Router::new().get("/a", |_: &Request| "a").route(
        Method::OPTIONS,
        "/b",
        |_: &Request| "custom",
    );
    let response = send(&router, Method::OPTIONS, "/a");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.headers()[header::ALLOW], "GET, HEAD, OPTIONS");
    assert_eq!(text(send(&router, Method::OPTIONS, "/b")), "custom");
}

#[test]
fn any_serves_every_method_without_its_own_handler() {
    let router = Router::new()
        .any("/x", |req: &Request| format!("any {}", req.method()))
        .get("/x", |_: &Request| "get");
    assert_eq!(text(get(&router, "/x")), "get");
    assert_eq!(text(send(&router, Method::PATCH, "/x")), "any PATCH");
}

#[test]
fn second_method_on_a_path_merges_into_its_table() {
    let router = Router::new()
        .get("/r", |_: &Request| "get")
        .put("/r", |_: &Request| "put");
    assert!(router.errors().is_empty());
    assert_eq!(text(send(&router, Method::PUT, "/r")), "put");
}

#[test]
fn same_route_twice_is_a_conflict_naming_both() {
    let result = Router::new()
        .get("/a", |_: &Request| "first")
        .get("/a", |_: &Request| "second")
        .check();
    let error = result.unwrap_err();
    assert_eq!(error.to_string(), "route GET /a conflicts with GET /a");
    // The builder keeps the first registration rather than silently replacing it.
    let router = Router::new()
        .get("/a", |_: &Request| "first")
        .get("/a", |_: &Request| "second");
    assert_eq!(text(get(&router, "/a")), "first");
}

#[test]
fn overlapping_patterns_conflict() {
    let error = Router::new()
        .get("/users/{id}", |_: &Request| "")
        .try_route(Method::POST, "/users/{name}", |_: &Request| "")
        .unwrap_err();
    match error {
        RouteError::Conflict {
            route, existing, ..
        } => {
            assert_eq!(route, "POST /users/{name}");
            assert_eq!(existing, "GET /users/{id}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_pattern_is_a_typed_error() {
    let error = Router::new()
        .try_route(Method::GET, "/a/{*rest}/b", |_: &Request| "")
        .unwrap_err();
    assert!(matches!(error, RouteError::Invalid { ref pattern, .. } if pattern == "/a/{*rest}/b"));
    assert!(std::error::Error::source(&error).is_some());
    let error = Router::new()
        .try_route(Method::GET, "/{unclosed", |_: &Request| "")
        .unwrap_err();
    assert!(matches!(error, RouteError::Invalid { .. }));
}

struct Status(&'static str);
impl Plugin for Status {
    fn name(&self) -> &str {
        self.0
    }
    fn install(self, router: Router) -> Router {
        router.get("/status", |_: &Request| "status")
    }
}

#[test]
fn plugin_collision_names_both_plugins() {
    let error = Router::new()
        .plugin(Status("metrics"))
        .plugin(Status("admin"))
        .check()
        .unwrap_err();
    match &error {
        RouteError::Conflict {
            plugin,
            existing_plugin,
            ..
        } => {
            assert_eq!(plugin.as_deref(), Some("admin"));
            assert_eq!(existing_plugin.as_deref(), Some("metrics"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error.to_string(),
        r#"route GET /status (plugin "admin") conflicts with GET /status (plugin "metrics")"#
    );
    // The application's own route colliding with a plugin's names the plugin.
    let error = Router::new()
        .get("/status", |_: &Request| "")
        .plugin(Status("metrics"))
        .check()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"route GET /status (plugin "metrics") conflicts with GET /status"#
    );
}

#[test]
fn nest_and_merge_compose_routers() {
    let users = Router::new()
        .get("/", |_: &Request| "all users")
        .get("/{id}", |req: &Request| {
            format!("user {}", req.param("id").unwrap())
        });
    let api = Router::new()
        .nest("/users", users)
        .get("/version", |_: &Request| "1");
    let router = Router::new()
        .nest("/api/", api)
        .merge(Router::new().get("/about", |_: &Request| "about"));
    assert_eq!(text(get(&router, "/api/users")), "all users");
    assert_eq!(text(get(&router, "/api/users/5")), "user 5");
    assert_eq!(text(get(&router, "/api/version")), "1");
    assert_eq!(text(get(&router, "/about")), "about");
    assert_eq!(get(&router, "/users/5").status(), StatusCode::NOT_FOUND);
}

/// Regression: `nest("/", r)` trimmed its prefix to "" and then took `r`'s fallback as a
/// merge does, although a nested router's fallback is documented as not used.
#[test]
fn only_paths_under_a_nest_prefix_reach_the_nested_fallback() {
    let nested = || {
        Router::new()
            .get("/inner", |_: &Request| "inner")
            .fallback(|_: &Request| "nested fallback")
    };
    for prefix in ["/", "", "/api"] {
        let router = Router::new().nest(prefix, nested());
        let inner = format!("{}/inner", prefix.trim_end_matches('/'));
        assert_eq!(text(get(&router, &inner)), "inner", "prefix {prefix:?}");
        let missed = get(&router, "/nowhere");
        assert_eq!(missed.status(), StatusCode::NOT_FOUND, "prefix {prefix:?}");
        assert_eq!(text(missed), "", "prefix {prefix:?}");
    }
    // Under a real prefix, the nested fallback serves that prefix's unmatched paths.
    let router = Router::new().nest("/api", nested());
    assert_eq!(text(get(&router, "/api/nowhere")), "nested fallback");
    // The outer router's own fallback still serves, and `merge` still takes one.
    let router = Router::new()
        .fallback(|_: &Request| "outer fallback")
        .nest("/", nested());
    assert_eq!(text(get(&router, "/nowhere")), "outer fallback");
    let router = Router::new().merge(nested());
    assert_eq!(text(get(&router, "/nowhere")), "nested fallback");
}

/// A middleware that appends `name` to a shared trace before and after the rest.
fn tracing(
    name: &'static str,
    trace: &Arc<Mutex<Vec<String>>>,
) -> impl Fn(&mut Request, Next<'_>) -> Response + Send + Sync + 'static {
    let trace = Arc::clone(trace);
    move |req: &mut Request, next: Next<'_>| {
        trace.lock().unwrap().push(format!("{name}>"));
        let response = next.run(req);
        trace.lock().unwrap().push(format!("<{name}"));
        response
    }
}

#[test]
fn middleware_runs_in_the_order_added_and_nested_middleware_is_scoped() {
    let trace = Arc::new(Mutex::new(Vec::new()));
    let admin = Router::new()
        .get("/panel", |_: &Request| "panel")
        .middleware(tracing("admin", &trace));
    let router = Router::new()
        .get("/public", |_: &Request| "public")
        .nest("/admin", admin)
        .middleware(tracing("outer", &trace))
        .middleware(tracing("inner", &trace));
    get(&router, "/admin/panel");
    assert_eq!(
        *trace.lock().unwrap(),
        ["outer>", "inner>", "admin>", "<admin", "<inner", "<outer"]
    );
    trace.lock().unwrap().clear();
    get(&router, "/public");
    assert_eq!(
        *trace.lock().unwrap(),
        ["outer>", "inner>", "<inner", "<outer"],
        "admin middleware leaked"
    );
    trace.lock().unwrap().clear();
    // The router's middleware also sees 404s.
    get(&router, "/missing");
    assert_eq!(
        *trace.lock().unwrap(),
        ["outer>", "inner>", "<inner", "<outer"]
    );
}

#[test]
fn middleware_can_short_circuit_and_edit_the_response() {
    let handler_calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&handler_calls);
    let router = Router::new()
        .get("/private", move |req: &Request| {
            counted.fetch_add(1, Ordering::SeqCst);
            format!("hello {}", req.extensions().get::<String>().unwrap())
        })
        .middleware(|req: &mut Request, next: Next<'_>| {
            let Some(user) = req.headers().get("x-user").and_then(|v| v.to_str().ok()) else {
                return Response::new(StatusCode::UNAUTHORIZED);
            };
            let user = user.to_owned();
            req.extensions_mut().insert(user);
            let mut response = next.run(req);
            response
                .headers_mut()
                .insert("x-served-by", "switchyard".parse().unwrap());
            response
        });
    assert_eq!(get(&router, "/private").status(), StatusCode::UNAUTHORIZED);
    assert_eq!(handler_calls.load(Ordering::SeqCst), 0);
    let response = router.handle(
        http::Request::get("/private")
            .header("x-user", "ada")
            .body(())
            .unwrap(),
    );
    assert_eq!(response.headers()["x-served-by"], "switchyard");
    assert_eq!(text(response), "hello ada");
}

#[test]
fn state_is_shared_and_scoped() {
    struct Greeting(&'static str);
    let nested = Router::new()
        .state(Greeting("nested"))
        .get("/n", |req: &Request| {
            format!(
                "{} {}",
                req.state::<Greeting>().unwrap().0,
                req.state::<u32>().unwrap()
            )
        });
    let router = Router::new()
        .state(Greeting("outer"))
        .state(7u32)
        .get("/o", |req: &Request| req.state::<Greeting>().unwrap().0)
        .nest("/x", nested);
    assert_eq!(text(get(&router, "/o")), "outer");
    assert_eq!(text(get(&router, "/x/n")), "nested 7");
}

#[test]
fn handlers_return_anything_into_response() {
    fn find(req: &Request) -> Result<String, Rejection> {
        let id: u32 = req.param_as("id")?;
        if id == 0 {
            return Err(Rejection::new(StatusCode::NOT_FOUND, "no user 0"));
        }
        Ok(format!("user {id}"))
    }
    let router = Router::new()
        .get("/users/{id}", find)
        .get("/bytes", |_: &Request| vec![1u8, 2, 3])
        .get("/status", |_: &Request| StatusCode::ACCEPTED)
        .get("/tuple", |_: &Request| (StatusCode::CREATED, "made"))
        .get("/unit", |_: &Request| ());
    assert_eq!(text(get(&router, "/users/3")), "user 3");
    let bad = get(&router, "/users/x");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(text(bad).contains("\"id\""));
    assert_eq!(get(&router, "/users/0").status(), StatusCode::NOT_FOUND);
    let bytes = get(&router, "/bytes");
    assert_eq!(
        bytes.headers()[header::CONTENT_TYPE],
        "application/octet-stream"
    );
    assert_eq!(bytes.into_body_bytes().unwrap(), [1, 2, 3]);
    assert_eq!(get(&router, "/status").status(), StatusCode::ACCEPTED);
    assert_eq!(get(&router, "/tuple").status(), StatusCode::CREATED);
    assert_eq!(get(&router, "/unit").status(), StatusCode::OK);
}

#[test]
fn panic_in_handler_answers_500() {
    let router = Router::new().get("/boom", |_: &Request| -> &'static str { panic!("boom") });
    assert_eq!(
        get(&router, "/boom").status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        get(&router, "/boom").status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

/// Regression: a panicking middleware escaped `Router::handle` (only the server caught it,
/// outside every middleware). Now it is a 500 at the layer that panicked, so the middleware
/// around it still sees the response and adds its headers.
#[test]
fn panic_in_middleware_answers_500_through_outer_middleware() {
    let router = support::panicking_app();
    assert_eq!(text(get(&router, "/ok")), "ok");
    for path in ["/mw-before", "/mw-after", "/handler", "/nested/x"] {
        let response = get(&router, path);
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}"
        );
        assert_eq!(response.headers()["x-request-id"], "7", "{path}");
        assert_eq!(text(response), "Internal Server Error\n", "{path}");
    }
    // The outermost layer has nobody around it: the 500 comes out of `handle` as it is.
    let response = get(&router, "/outermost");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.headers().get("x-request-id").is_none());
    // Nothing is left broken: the router keeps serving.
    assert_eq!(text(get(&router, "/ok")), "ok");
}

#[test]
fn health_plugin_answers_ok() {
    let router = Router::new().plugin(Health::new());
    let response = get(&router, "/healthz");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response), "ok\n");
    let draining =
        Request::from(http::Request::get("/healthz").body(()).unwrap()).with_server_draining(true);
    let response = router.handle(draining);
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(text(response), "draining\n");
}

#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn access_log_writes_one_common_log_line_per_request() {
    let buffer = SharedBuffer::default();
    let router = Router::new()
        .get("/users/{id}", |req: &Request| {
            format!("user {}", req.param("id").unwrap())
        })
        .plugin(AccessLog::new(buffer.clone()));
    get(&router, "/users/42?x=1");
    send(&router, Method::POST, "/users/42");
    let log = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    // host ident user [date] "request" status bytes micros
    let first: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(&first[..3], ["-", "-", "-"]);
    assert!(
        first[3].starts_with('[') && first[4] == "+0000]",
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains(r#""GET /users/42?x=1 HTTP/1.1" 200 7 "#),
        "{}",
        lines[0]
    );
    assert!(
        first.last().unwrap().parse::<u64>().is_ok(),
        "duration: {}",
        lines[0]
    );
    assert!(
        lines[1].contains(r#""POST /users/42 HTTP/1.1" 405 - "#),
        "{}",
        lines[1]
    );
}

/// Stamps `x-scope: name` on every response that passes through it.
fn stamp(
    name: &'static str,
) -> impl Fn(&mut Request, Next<'_>) -> Response + Send + Sync + 'static {
    move |req: &mut Request, next: Next<'_>| {
        let mut res = next.run(req);
        res.headers_mut().append("x-scope", name.parse().unwrap());
        res
    }
}

fn scopes(res: &Response) -> Vec<&str> {
    res.headers()
        .get_all("x-scope")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

#[test]
fn a_merged_fallback_keeps_its_routers_middleware_and_state() {
    struct Tag(&'static str);
    let app = Router::new()
        .state(Tag("app"))
        .get("/", |_: &Request| "home")
        .fallback(|req: &Request| req.state::<Tag>().map_or("none", |t| t.0))
        .middleware(stamp("app"));
    let root = Router::new().middleware(stamp("root")).merge(app);
    let res = get(&root, "/nope");
    assert_eq!(scopes(&res), ["app", "root"]);
    assert_eq!(res.into_body_bytes().unwrap(), b"app");
}

#[test]
fn unmatched_paths_under_a_nest_prefix_pass_its_middleware() {
    let api = Router::new()
        .get("/users", |_: &Request| "users")
        .middleware(stamp("api"));
    let with_fallback = Router::new()
        .get("/a", |_: &Request| "a")
        .fallback(|_: &Request| (StatusCode::NOT_FOUND, "v2 fallback"))
        .middleware(stamp("v2"));
    let root = Router::new()
        .nest("/api", api)
        .nest("/v2", with_fallback)
        .get("/api/extra", |_: &Request| "extra") // the app's route wins over the nest's
        .fallback(|_: &Request| (StatusCode::NOT_FOUND, "root fallback"))
        .middleware(stamp("root"));

    let res = get(&root, "/api/nope");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(scopes(&res), ["api", "root"]);
    assert_eq!(res.into_body_bytes().unwrap(), b"root fallback");
    assert_eq!(get(&root, "/api/nope").extensions().len(), 0);

    let res = get(&root, "/v2/nope");
    assert_eq!(scopes(&res), ["v2", "root"]);
    assert_eq!(res.into_body_bytes().unwrap(), b"v2 fallback");

    let res = get(&root, "/api/extra");
    assert_eq!(scopes(&res), ["root"]);
    assert_eq!(res.into_body_bytes().unwrap(), b"extra");

    let res = send(&root, Method::PUT, "/api/users");
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(scopes(&res), ["api", "root"]);

    let res = get(&root, "/elsewhere");
    assert_eq!(scopes(&res), ["root"]);
    assert_eq!(res.into_body_bytes().unwrap(), b"root fallback");
}

#[test]
fn a_nested_routers_own_catch_all_wins_over_its_prefix_fallback() {
    let files = Router::new()
        .get("/{*path}", |req: &Request| {
            format!("file {}", req.param("path").unwrap())
        })
        .middleware(stamp("files"));
    let root = Router::new().nest("/files", files).check().unwrap();
    let res = get(&root, "/files/a/b.txt");
    assert_eq!(scopes(&res), ["files"]);
    assert_eq!(res.into_body_bytes().unwrap(), b"file a/b.txt");

    // Declared after the nest, the app's own catch-all takes the prefix too.
    let api = Router::new()
        .get("/x", |_: &Request| "x")
        .middleware(stamp("api"));
    let root = Router::new()
        .nest("/api", api)
        .get("/api/{*rest}", |_: &Request| "app catch-all")
        .check()
        .unwrap();
    assert_eq!(
        get(&root, "/api/y").into_body_bytes().unwrap(),
        b"app catch-all"
    );
    assert_eq!(scopes(&get(&root, "/api/x")), ["api"]);
}

#[test]
fn map_rejection_renders_rejections_of_its_router_and_nested_ones() {
    let render = |tag: &'static str| {
        move |rejection: &Rejection, _: &Request| {
            (rejection.status(), format!("{tag}: {:?}", rejection.kind()))
        }
    };
    let inner = Router::new()
        .get("/n/{id}", |req: &Request| {
            req.param_as::<u8>("id").map(|_| "ok")
        })
        .map_rejection(render("inner"));
    let root = Router::new()
        .get("/r/{id}", |req: &Request| {
            req.param_as::<u8>("id").map(|_| "ok")
        })
        .nest("/inner", inner)
        .map_rejection(render("outer"));
    let res = get(&root, "/r/x");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.into_body_bytes().unwrap(), b"outer: InvalidParam");
    let res = get(&root, "/inner/n/999");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let rejection = res.extensions().get::<Rejection>().unwrap().clone();
    assert_eq!(rejection.kind(), switchyard::RejectionKind::InvalidParam);
    assert_eq!(res.into_body_bytes().unwrap(), b"inner: InvalidParam");
    assert_eq!(get(&root, "/r/7").into_body_bytes().unwrap(), b"ok");
}

#[test]
fn middleware_may_leave_early_with_question_mark() {
    let router = Router::new()
        .get("/", |_: &Request| "in")
        .middleware(switchyard::from_fn(
            |req, next| -> Result<Response, Rejection> {
                let n: u32 = req
                    .query("n")
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| Rejection::new(StatusCode::BAD_REQUEST, "n please"))?;
                let mut res = next.run(req);
                res.headers_mut().insert("x-n", n.into());
                Ok(res)
            },
        ));
    let res = get(&router, "/?n=3");
    assert_eq!(res.headers()["x-n"], "3");
    let res = get(&router, "/");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.into_body_bytes().unwrap(), b"n please\n");
}

#[test]
fn nested_scopes_cover_unmatched_paths_whatever_the_routes_look_like() {
    // A nested router whose paths start with a parameter (REST): its fallback and
    // middleware still cover the unmatched paths under its prefix.
    let users = Router::new()
        .get("/{id}", |_: &Request| "user")
        .fallback(|_: &Request| (StatusCode::NOT_FOUND, "users fallback"))
        .middleware(stamp("users"));
    let app = Router::new()
        .nest("/users", users)
        .get("/{tenant}/dashboard", |_: &Request| "dash")
        .middleware(stamp("root"));
    let res = get(&app, "/users/1/x");
    assert_eq!(scopes(&res), ["users", "root"]);
    assert_eq!(res.into_body_bytes().unwrap(), b"users fallback");
    // An undecodable path under the prefix is an unmatched path too, not a 400.
    assert_eq!(
        get(&app, "/users/1/%FF").into_body_bytes().unwrap(),
        b"users fallback"
    );
    // The app's own parameter routes keep the paths they match.
    assert_eq!(
        get(&app, "/api/dashboard").into_body_bytes().unwrap(),
        b"dash"
    );
    assert_eq!(
        get(&app, "/users/dashboard").into_body_bytes().unwrap(),
        b"user"
    );
}

#[test]
fn an_inner_nest_without_a_fallback_falls_back_to_its_parents() {
    let mid = Router::new()
        .nest(
            "/v1",
            Router::new()
                .get("/x", |_: &Request| "x")
                .middleware(stamp("v1")),
        )
        .fallback(|_: &Request| (StatusCode::NOT_FOUND, "mid fallback"));
    assert_eq!(
        get(&mid, "/v1/nope").into_body_bytes().unwrap(),
        b"mid fallback"
    );
    let app = Router::new().nest("/api", mid);
    let res = get(&app, "/api/v1/nope");
    assert_eq!(scopes(&res), ["v1"]);
    assert_eq!(res.into_body_bytes().unwrap(), b"mid fallback");
    assert_eq!(
        get(&app, "/api/other").into_body_bytes().unwrap(),
        b"mid fallback"
    );
    assert_eq!(get(&app, "/elsewhere").status(), StatusCode::NOT_FOUND);
}

/// An auth middleware on a nested router, for the shadowing tests: 401 without the token.
fn guarded_api() -> Router {
    Router::new()
        .get("/users", |_: &Request| "users")
        .middleware(
            |req: &mut Request, next: Next<'_>| match req.bearer_token() {
                Some("s3cret") => next.run(req),
                _ => Response::new(StatusCode::UNAUTHORIZED),
            },
        )
}

/// Issue 28 (1): a root catch-all shadowed the nested router's unmatched paths, so its
/// middleware and fallback never ran (and a POST learnt the catch-all's `Allow`).
#[test]
fn a_root_catch_all_does_not_shadow_a_nested_router() {
    let app = Router::new()
        .nest("/api", guarded_api())
        .get("/{*path}", |_: &Request| "catch-all");
    for method in [Method::GET, Method::POST, Method::OPTIONS, Method::DELETE] {
        let response = send(&app, method.clone(), "/api/nope");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method}");
        assert!(response.headers().get(header::ALLOW).is_none(), "{method}");
    }
    // Outside the prefix the catch-all serves, and the nest's own routes still answer.
    assert_eq!(text(get(&app, "/elsewhere")), "catch-all");
    assert_eq!(get(&app, "/api/users").status(), StatusCode::UNAUTHORIZED);
    // A parameter route of the parent (not a catch-all) keeps the paths it names.
    let app = Router::new()
        .nest("/api", guarded_api())
        .get("/{tenant}/dashboard", |_: &Request| "dashboard");
    assert_eq!(text(get(&app, "/api/dashboard")), "dashboard");
}

#[test]
fn a_merged_static_files_router_does_not_shadow_a_nested_router() {
    let dir = std::env::temp_dir().join(format!("switchyard-shadow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<p>home</p>").unwrap();
    let app = Router::new()
        .nest(
            "/api",
            guarded_api().fallback(|_: &Request| (StatusCode::NOT_FOUND, "no api")),
        )
        .merge(switchyard::StaticFiles::new(&dir).fallback_file("index.html"));
    let get_with_token = |path: &str, method: Method| {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, "Bearer s3cret")
            .body(())
            .unwrap();
        app.handle(request)
    };
    assert_eq!(get(&app, "/api/nope").status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(&app, Method::POST, "/api/nope").status(),
        StatusCode::UNAUTHORIZED
    );
    let response = get_with_token("/api/nope", Method::GET);
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(text(response), "no api");
    assert_eq!(
        get_with_token("/api/nope", Method::POST).status(),
        StatusCode::NOT_FOUND
    );
    // The files still serve everything else, the single-page-app fallback included.
    assert_eq!(text(get(&app, "/")), "<p>home</p>");
    assert_eq!(text(get(&app, "/some/client/route")), "<p>home</p>");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_longest_nest_owns_its_unmatched_paths_under_nested_nests() {
    let v1 = Router::new()
        .get("/ping", |_: &Request| "v1 pong")
        .fallback(|_: &Request| (StatusCode::NOT_FOUND, "no v1"));
    let api = Router::new()
        .nest("/v1", v1)
        .get("/{*rest}", |_: &Request| "api catch-all")
        .fallback(|_: &Request| (StatusCode::NOT_FOUND, "no api"));
    let app = Router::new()
        .nest("/api", api)
        .get("/{*path}", |_: &Request| "root catch-all");
    assert_eq!(text(get(&app, "/api/v1/ping")), "v1 pong");
    assert_eq!(text(get(&app, "/api/v1/nope")), "no v1");
    assert_eq!(text(get(&app, "/api/other")), "api catch-all");
    assert_eq!(text(get(&app, "/other")), "root catch-all");
    let response = send(&app, Method::POST, "/api/v1/nope");
    assert_eq!(
        (response.status(), text(response)),
        (StatusCode::NOT_FOUND, "no v1".into())
    );
}

#[test]
fn a_plain_nest_without_middleware_still_owns_its_prefix() {
    let app = Router::new()
        .nest("/api", Router::new().get("/users", |_: &Request| "users"))
        .get("/{*path}", |_: &Request| "catch-all")
        .fallback(|_: &Request| (StatusCode::NOT_FOUND, "app fallback"));
    let response = get(&app, "/api/nope");
    assert_eq!(
        (response.status(), text(response)),
        (StatusCode::NOT_FOUND, "app fallback".into())
    );
    assert_eq!(text(get(&app, "/api/users")), "users");
}

/// Issue 28 (2): a router as the fallback, as axum's `fallback_service`.
#[test]
fn a_router_serves_as_a_fallback_with_its_own_routes_state_and_middleware() {
    struct Site(&'static str);
    let site = Router::new()
        .get("/", |_: &Request| "home")
        .get("/about", |req: &Request| {
            req.state::<Site>().map_or("?", |site| site.0)
        })
        .state(Site("about the site"))
        .middleware(|req: &mut Request, next: Next<'_>| next.run(req).with_header("x-site", "1"))
        .fallback(|_: &Request| "index.html");
    let app = Router::new()
        .get("/api/version", |_: &Request| "1.0")
        .fallback_router(site)
        .middleware(|req: &mut Request, next: Next<'_>| next.run(req).with_header("x-app", "1"));
    assert_eq!(text(get(&app, "/api/version")), "1.0");
    let about = get(&app, "/about");
    assert_eq!(about.headers()["x-site"], "1");
    assert_eq!(about.headers()["x-app"], "1");
    assert_eq!(text(about), "about the site");
    assert_eq!(text(get(&app, "/")), "home");
    assert_eq!(text(get(&app, "/client/side/route")), "index.html");
    // The fallback router's own 405 for its paths.
    assert_eq!(
        send(&app, Method::DELETE, "/about").status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

//! Request and response helpers (cookies, bearer tokens, redirects, header tuples, forms)
//! through `Router::handle`, in-process.

use std::time::Duration;

use switchyard::http::{self, StatusCode, header};
use switchyard::{Request, Response, Router, SameSite, SetCookie};

fn send(router: &Router, request: http::Request<()>) -> Response {
    router.handle(request)
}

fn get(router: &Router, path: &str) -> Response {
    send(router, http::Request::get(path).body(()).unwrap())
}

fn text(response: Response) -> String {
    String::from_utf8(response.into_body_bytes().unwrap()).unwrap()
}

fn set_cookies(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

#[test]
fn handler_reads_cookies_from_several_headers() {
    let router = Router::new().get("/", |req: &Request| {
        let names: Vec<_> = req.cookies().map(|(name, _)| name).collect();
        format!(
            "{} {} {:?} {}",
            req.cookie("session").unwrap_or("-"),
            req.cookie("theme").unwrap_or("-"),
            req.cookie("missing"),
            names.join(",")
        )
    });
    let res = send(
        &router,
        http::Request::get("/")
            .header(header::COOKIE, "session=\"k7=Vq\"; junk")
            .header(header::COOKIE, "theme = dark ; session=second")
            .body(())
            .unwrap(),
    );
    assert_eq!(text(res), "k7=Vq dark None session,theme,session");
}

#[test]
fn handler_reads_bearer_token_or_answers_401() {
    let router = Router::new().get("/me", |req: &Request| match req.bearer_token() {
        Some(token) => Response::text(format!("token {token}")),
        None => {
            Response::new(StatusCode::UNAUTHORIZED).with_header(header::WWW_AUTHENTICATE, "Bearer")
        }
    });
    let with = |value: &str| {
        send(
            &router,
            http::Request::get("/me")
                .header(header::AUTHORIZATION, value)
                .body(())
                .unwrap(),
        )
    };
    assert_eq!(text(with("BEARER abc.def")), "token abc.def");
    let basic = with("Basic YWxhZGRpbjpvcGVuc2VzYW1l");
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(basic.headers()[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(get(&router, "/me").status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn login_sets_cookies_and_logout_removes_them() {
    let router = Router::new()
        .post("/login", |_: &Request| {
            Response::see_other("/")
                .with_cookie(
                    SetCookie::new("session", "k7Vq2")
                        .path("/")
                        .max_age(Duration::from_secs(3600))
                        .secure()
                        .http_only()
                        .same_site(SameSite::Lax),
                )
                .with_cookie(SetCookie::new("theme", "dark").path("/"))
        })
        .post("/logout", |_: &Request| {
            Response::see_other("/login").with_cookie(SetCookie::removal("session").path("/"))
        });
    let login = send(&router, http::Request::post("/login").body(()).unwrap());
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert_eq!(login.headers()[header::LOCATION], "/");
    assert_eq!(
        set_cookies(&login),
        [
            "session=k7Vq2; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Lax",
            "theme=dark; Path=/",
        ]
    );
    let logout = send(&router, http::Request::post("/logout").body(()).unwrap());
    assert_eq!(logout.headers()[header::LOCATION], "/login");
    assert_eq!(set_cookies(&logout), ["session=; Path=/; Max-Age=0"]);
}

#[test]
fn redirects_carry_status_and_location() {
    let router = Router::new()
        .get("/old", |_: &Request| Response::permanent_redirect("/new"))
        .get("/upload", |_: &Request| {
            Response::temporary_redirect("https://files.example/upload")
        })
        .get("/found", |_: &Request| {
            Response::redirect(StatusCode::FOUND, "/caf\u{e9}")
        });
    let old = get(&router, "/old");
    assert_eq!(old.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(old.headers()[header::LOCATION], "/new");
    assert!(text(old).is_empty());
    let upload = get(&router, "/upload");
    assert_eq!(upload.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        upload.headers()[header::LOCATION],
        "https://files.example/upload"
    );
    // Sent as given, not percent-encoded: obs-text is a valid header value.
    let found = get(&router, "/found");
    assert_eq!(found.status(), StatusCode::FOUND);
    assert_eq!(
        found.headers()[header::LOCATION].as_bytes(),
        "/caf\u{e9}".as_bytes()
    );
}

#[test]
fn redirect_to_location_from_query_with_line_break_is_500_not_injection() {
    let router = Router::new().get("/go", |req: &Request| {
        Response::see_other(&req.query("next").unwrap_or_default())
    });
    let ok = get(&router, "/go?next=%2Fhome");
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(ok.headers()[header::LOCATION], "/home");
    let bad = get(&router, "/go?next=%2F%0D%0ASet-Cookie:%20admin=1");
    assert_eq!(bad.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(bad.headers().get(header::LOCATION).is_none());
    assert!(bad.headers().get(header::SET_COOKIE).is_none());
}

#[test]
fn created_and_html_responses() {
    let router = Router::new()
        .post("/todos", |_: &Request| {
            Response::created("/todos/1", "made")
        })
        .get("/", |_: &Request| Response::html("<p>hi</p>"));
    let created = send(&router, http::Request::post("/todos").body(()).unwrap());
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()[header::LOCATION], "/todos/1");
    assert_eq!(
        created.headers()[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    assert_eq!(text(created), "made");
    let html = get(&router, "/");
    assert_eq!(
        html.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    assert_eq!(text(html), "<p>hi</p>");
}

#[test]
fn header_tuples_from_handlers() {
    let router = Router::new()
        .post("/todos", |_: &Request| {
            (
                StatusCode::CREATED,
                [(header::LOCATION, "/todos/1")],
                "made",
            )
        })
        .get("/page", |_: &Request| {
            (
                [
                    ("content-type", "text/html"),
                    ("x-request-id", "7"),
                    ("set-cookie", "a=1"),
                    ("set-cookie", "b=2"),
                ],
                "<p>page</p>",
            )
        })
        .get("/cookie", |_: &Request| {
            ([(header::SET_COOKIE, SetCookie::new("c", "3"))], "ok")
        });
    let created = send(&router, http::Request::post("/todos").body(()).unwrap());
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()[header::LOCATION], "/todos/1");
    assert_eq!(text(created), "made");

    let page = get(&router, "/page");
    assert_eq!(page.status(), StatusCode::OK);
    // The tuple's content-type replaces the body's text/plain.
    let types: Vec<_> = page
        .headers()
        .get_all(header::CONTENT_TYPE)
        .iter()
        .collect();
    assert_eq!(types, ["text/html"]);
    assert_eq!(page.headers()["x-request-id"], "7");
    assert_eq!(set_cookies(&page), ["a=1", "b=2"]);

    assert_eq!(set_cookies(&get(&router, "/cookie")), ["c=3"]);
}

#[test]
fn header_tuple_with_invalid_value_is_500() {
    let router = Router::new().get("/echo", |req: &Request| {
        (
            StatusCode::ACCEPTED,
            [("x-echo", req.query("v").unwrap_or_default())],
            "echoed",
        )
    });
    let ok = get(&router, "/echo?v=fine");
    assert_eq!(ok.status(), StatusCode::ACCEPTED);
    assert_eq!(ok.headers()["x-echo"], "fine");
    let bad = get(&router, "/echo?v=a%0Ab");
    assert_eq!(bad.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(bad.headers().get("x-echo").is_none());
    assert!(text(bad).is_empty());
}

#[test]
fn with_header_panic_in_handler_is_500() {
    let router = Router::new().get("/", |_: &Request| {
        Response::text("never").with_header("x-bad", "a\nb")
    });
    let res = get(&router, "/");
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(res.headers().get("x-bad").is_none());
}

#[test]
fn try_with_header_lets_the_handler_choose() {
    let router = Router::new().get("/tag", |req: &Request| {
        let tag = req.query("tag").unwrap_or_default();
        Response::text("tagged")
            .try_with_header("x-tag", tag)
            .unwrap_or_else(|error| {
                Response::text(format!("{error}")).with_status(StatusCode::BAD_REQUEST)
            })
    });
    let ok = get(&router, "/tag?tag=v1");
    assert_eq!(ok.headers()["x-tag"], "v1");
    let bad = get(&router, "/tag?tag=v1%0D%0Ax-admin:%201");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(text(bad), r#"invalid value for header "x-tag""#);
}

#[cfg(feature = "form")]
mod form {
    use serde::Deserialize;
    use switchyard::http::{self, StatusCode, header};
    use switchyard::{Rejection, RejectionKind, Request, Response, Router};

    use super::{get, text};

    #[derive(Deserialize)]
    struct Search {
        q: String,
        page: Option<u32>,
    }

    #[derive(Deserialize)]
    struct NewTodo {
        title: String,
        done: bool,
    }

    fn app() -> Router {
        Router::new()
            .get("/search", |req: &Request| -> Result<String, Rejection> {
                let search: Search = req.query_as()?;
                Ok(format!("{} {}", search.q, search.page.unwrap_or(1)))
            })
            .post("/todos", |req: &Request| -> Result<Response, Rejection> {
                let todo: NewTodo = req.form()?;
                Ok(Response::created(
                    "/todos/1",
                    format!("{} {}", todo.title, todo.done),
                ))
            })
    }

    fn post_form(router: &Router, content_type: &str, body: &'static str) -> Response {
        router.handle(
            http::Request::post("/todos")
                .header(header::CONTENT_TYPE, content_type)
                .body(body)
                .unwrap(),
        )
    }

    fn rejection_kind(response: &Response) -> RejectionKind {
        response.extensions().get::<Rejection>().unwrap().kind()
    }

    #[test]
    fn query_as_decodes_or_rejects_with_400() {
        let router = app();
        assert_eq!(text(get(&router, "/search?q=tea+pot&page=3")), "tea pot 3");
        assert_eq!(text(get(&router, "/search?q=%C3%A9")), "é 1");
        for bad in ["/search", "/search?page=1", "/search?q=x&page=-1"] {
            let res = get(&router, bad);
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(rejection_kind(&res), RejectionKind::InvalidQuery, "{bad}");
        }
    }

    #[test]
    fn form_decodes_urlencoded_body() {
        let res = post_form(
            &app(),
            "application/x-www-form-urlencoded",
            "title=buy+milk+%26+eggs&done=false",
        );
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(res.headers()[header::LOCATION], "/todos/1");
        assert_eq!(text(res), "buy milk & eggs false");
    }

    #[test]
    fn form_with_wrong_media_type_is_415() {
        let res = post_form(&app(), "application/json", r#"{"title":"x","done":true}"#);
        assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(rejection_kind(&res), RejectionKind::UnsupportedMediaType);
    }

    #[test]
    fn form_that_does_not_decode_is_400() {
        let res = post_form(
            &app(),
            "application/x-www-form-urlencoded",
            "title=x&done=maybe",
        );
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(rejection_kind(&res), RejectionKind::InvalidForm);
        assert!(text(res).starts_with("invalid form body: "));
    }
}

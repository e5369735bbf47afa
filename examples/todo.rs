//! A small JSON + HTML to-do app: what a real service on switchyard looks like.
//!
//! `cargo run --example todo --features json,form` serves http://127.0.0.1:3001/ (or
//! `--addr HOST:PORT`). The app is `app()`: `tests/todo.rs` tests exactly it, through
//! `Router::handle`, the in-process `TestClient` and a socket.
//!
//! - `GET /` an HTML page with a form; `POST /todos` (a urlencoded form) adds one and
//!   redirects back with 303 (POST/redirect/GET); `POST /name` remembers you in a cookie;
//! - `GET /todos.csv` every to-do as CSV, streamed as it is written;
//! - `/api/todos`: JSON CRUD behind a bearer token (`Authorization: Bearer let-me-in`),
//!   with 201 + `Location` on create and every rejection rendered as JSON.

#![allow(clippy::print_stdout)] // printing the URL is part of what this example does

#[path = "support/signals.rs"]
mod signals;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use switchyard::http::{StatusCode, header};
use switchyard::{
    AccessLog, Body, IntoResponse, Json, Middleware, Rejection, Request, Response, Router, Server,
    SetCookie, from_fn,
};

/// The token `/api` wants; a real app would read it from its configuration.
pub(crate) const API_TOKEN: &str = "let-me-in";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Todo {
    pub(crate) id: u64,
    pub(crate) title: String,
    pub(crate) done: bool,
}

/// What clients send to create or replace a to-do.
#[derive(Debug, Deserialize)]
pub(crate) struct NewTodo {
    pub(crate) title: String,
    #[serde(default)]
    pub(crate) done: bool,
}

/// The app's state: to-dos by id. A real app would use a database here.
#[derive(Debug, Default)]
pub(crate) struct Todos {
    items: Mutex<BTreeMap<u64, Todo>>,
    next_id: Mutex<u64>,
}

impl Todos {
    fn add(&self, new: NewTodo) -> Todo {
        let mut next_id = self.next_id.lock().unwrap();
        *next_id += 1;
        let todo = Todo {
            id: *next_id,
            title: new.title,
            done: new.done,
        };
        self.items.lock().unwrap().insert(todo.id, todo.clone());
        todo
    }

    fn all(&self) -> Vec<Todo> {
        self.items.lock().unwrap().values().cloned().collect()
    }
}

/// The whole app, as the server serves it and the tests test it.
pub(crate) fn app() -> Router {
    Router::new()
        .state(Arc::new(Todos::default()))
        .get("/", home)
        .post("/todos", add_from_form)
        .post("/name", remember_name)
        .get("/todos.csv", export_csv)
        .nest("/api", api())
        .middleware(request_id())
}

/// JSON CRUD behind a bearer token; every rejection in it answers JSON.
fn api() -> Router {
    Router::new()
        .get("/todos", |req: &Request| -> Result<_, Rejection> {
            Ok(Json(todos(req)?.all()))
        })
        .post("/todos", |req: &Request| -> Result<_, Rejection> {
            let todo = todos(req)?.add(req.json()?);
            Ok(Response::created(
                &format!("/api/todos/{}", todo.id),
                Json(todo),
            ))
        })
        .get("/todos/{id}", |req: &Request| -> Result<_, Rejection> {
            let id: u64 = req.param_as("id")?;
            let items = todos(req)?.items.lock().unwrap();
            items
                .get(&id)
                .cloned()
                .map(Json)
                .ok_or_else(|| not_found(id))
        })
        .put("/todos/{id}", |req: &Request| -> Result<_, Rejection> {
            let id: u64 = req.param_as("id")?;
            let new: NewTodo = req.json()?;
            let mut items = todos(req)?.items.lock().unwrap();
            let todo = items.get_mut(&id).ok_or_else(|| not_found(id))?;
            (todo.title, todo.done) = (new.title, new.done);
            Ok(Json(todo.clone()))
        })
        .delete("/todos/{id}", |req: &Request| -> Result<_, Rejection> {
            let id: u64 = req.param_as("id")?;
            let removed = todos(req)?.items.lock().unwrap().remove(&id);
            removed
                .map(|_| StatusCode::NO_CONTENT)
                .ok_or_else(|| not_found(id))
        })
        .middleware(require_token(API_TOKEN))
        .map_rejection(|rejection: &Rejection, _: &Request| {
            #[derive(Serialize)]
            struct ApiError {
                error: String,
            }
            let error = rejection.message().to_owned();
            (rejection.status(), Json(ApiError { error }))
        })
}

fn todos(req: &Request) -> Result<&Arc<Todos>, Rejection> {
    req.require_state::<Arc<Todos>>()
}

fn not_found(id: u64) -> Rejection {
    Rejection::new(StatusCode::NOT_FOUND, format!("no to-do {id}"))
}

/// Answers 401 unless the request carries `Authorization: Bearer {token}`.
fn require_token(token: &'static str) -> impl Middleware {
    from_fn(move |req, next| -> Result<Response, Rejection> {
        match req.bearer_token() {
            Some(given) if given == token => Ok(next.run(req)),
            _ => Err(Rejection::new(
                StatusCode::UNAUTHORIZED,
                "a valid bearer token, please",
            )),
        }
    })
}

/// Echoes the client's `x-request-id`, or makes one, on every response (404s included).
fn request_id() -> impl Middleware {
    let next_id = Arc::new(Mutex::new(0_u64));
    from_fn(move |req, next| {
        let id = match req.headers().get("x-request-id") {
            Some(id) => id.clone(),
            None => {
                let mut n = next_id.lock().unwrap();
                *n += 1;
                format!("todo-{n}").parse().expect("a valid header value")
            }
        };
        let mut res = next.run(req);
        res.headers_mut().insert("x-request-id", id);
        res
    })
}

fn home(req: &Request) -> Result<Response, Rejection> {
    let name = req.cookie("name").and_then(hex_decode);
    let name = name.as_deref().unwrap_or("stranger");
    let mut page = format!("<!doctype html><h1>Hello, {}</h1><ul>", escape(name));
    for todo in todos(req)?.all() {
        let mark = if todo.done { "x" } else { " " };
        page += &format!("<li>[{mark}] {}</li>", escape(&todo.title));
    }
    page += r#"</ul><form method="post" action="/todos"><input name="title"><button>Add</button></form>"#;
    Ok(Response::html(page))
}

fn add_from_form(req: &Request) -> Result<Response, Rejection> {
    todos(req)?.add(req.form()?);
    Ok(Response::see_other("/"))
}

fn remember_name(req: &Request) -> Result<Response, Rejection> {
    #[derive(Deserialize)]
    struct Name {
        name: String,
    }
    let Name { name } = req.form()?;
    // Cookie values allow no spaces, commas, quotes or non-ASCII: store the name encoded.
    let cookie = SetCookie::new("name", hex_encode(&name))
        .path("/")
        .http_only();
    Ok(Response::see_other("/").with_cookie(cookie))
}

fn hex_encode(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(hex: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// Streams the CSV as it is written: the response starts before the last row exists.
fn export_csv(req: &Request) -> Result<Response, Rejection> {
    let rows = todos(req)?.all();
    let body = Body::writer(move |out| {
        writeln!(out, "id,title,done")?;
        for todo in rows {
            let title = todo.title.replace('"', "\"\"");
            writeln!(out, "{},\"{title}\",{}", todo.id, todo.done)?;
        }
        Ok(())
    });
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [flag, addr] if flag == "--addr" => addr.clone(),
        _ => "127.0.0.1:3001".to_owned(),
    };
    let server = Server::builder()
        .threads(4)
        .app(app())
        .plugin(AccessLog::stdout())
        .bind(addr.as_str())?;
    println!(
        "serving on http://{}/ (Ctrl-C to stop)",
        server.local_addr()
    );
    signals::shutdown_on_signals(server.shutdown_handle())?;
    server.run()?;
    Ok(())
}

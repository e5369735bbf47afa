//! [`AccessLog`]: one line per request, in the Common Log Format or as JSON.

use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use http::header::HeaderName;

use super::Plugin;
use crate::middleware::Next;
use crate::request::Request;
use crate::response::Response;
use crate::router::Router;

/// Where the lines go.
#[derive(Clone)]
enum Sink {
    Writer(Arc<Mutex<Box<dyn Write + Send>>>),
    /// The `log` facade, at info level, target `switchyard::access`.
    #[cfg(feature = "log")]
    Log,
}

/// How a line looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Common,
    JsonLines,
}

/// Writes one line per request in the Common Log Format, plus the time taken in
/// microseconds:
///
/// ```text
/// 127.0.0.1 - - [25/Nov/2026:18:30:00 +0000] "GET /users/7 HTTP/1.1" 200 7 83
/// ```
///
/// The byte count is the response body's length (`-` when none is sent, or for a streamed
/// body). Write errors are ignored: logging never fails a request. [`json`](Self::json)
/// writes JSON lines instead, and `log` (feature `log`) sends the lines to the
/// `log` facade.
///
/// It logs what passes through it: install it before middleware that may answer early
/// (an authentication check) to log those answers too.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use switchyard::{AccessLog, Request, Router};
///
/// #[derive(Clone, Default)]
/// struct Lines(Arc<Mutex<Vec<u8>>>);
/// impl std::io::Write for Lines {
///     fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
///         self.0.lock().unwrap().write(buf)
///     }
///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
/// }
///
/// let lines = Lines::default();
/// let router = Router::new()
///     .get("/", |_: &Request| "hi")
///     .plugin(AccessLog::new(lines.clone()));
/// router.handle(http::Request::get("/").body(())?);
/// let log = String::from_utf8(lines.0.lock().unwrap().clone())?;
/// assert!(log.contains("\"GET / HTTP/1.1\" 200 2 "), "{log}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AccessLog {
    sink: Sink,
    format: Format,
}

impl fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessLog").finish_non_exhaustive()
    }
}

impl AccessLog {
    /// Logs to `writer` (a file, a buffer, a pipe).
    pub fn new<W: Write + Send + 'static>(writer: W) -> Self {
        Self {
            sink: Sink::Writer(Arc::new(Mutex::new(Box::new(writer)))),
            format: Format::Common,
        }
    }

    /// Logs to standard output.
    pub fn stdout() -> Self {
        Self::new(io::stdout())
    }

    /// Logs to standard error.
    pub fn stderr() -> Self {
        Self::new(io::stderr())
    }

    /// Sends each line to the `log` facade at info level, target `switchyard::access`
    /// (feature `log`).
    #[cfg(feature = "log")]
    pub fn log() -> Self {
        Self {
            sink: Sink::Log,
            format: Format::Common,
        }
    }

    /// Writes one JSON object per line instead: `time` (RFC 3339, UTC), `remote`,
    /// `method`, `target`, `route` (the template, `null` when no route matched), `status`,
    /// `bytes` (`null` when unknown), `duration_us`, and `request_id` (the response's, else
    /// the request's `x-request-id`; `null` without one).
    ///
    /// ```text
    /// {"time":"2026-11-29T10:00:00Z","remote":"127.0.0.1","method":"GET","target":"/users/7","route":"/users/{id}","status":200,"bytes":7,"duration_us":83,"request_id":"abc"}
    /// ```
    #[must_use]
    pub fn json(mut self) -> Self {
        self.format = Format::JsonLines;
        self
    }
}

impl Plugin for AccessLog {
    fn name(&self) -> &str {
        "access-log"
    }

    fn install(self, router: Router) -> Router {
        let (sink, format) = (self.sink, self.format);
        router.middleware(move |req: &mut Request, next: Next<'_>| {
            let started = Instant::now();
            let when = SystemTime::now();
            let response = next.run(req);
            let micros = started.elapsed().as_micros();
            let line = match format {
                Format::Common => common_log_line(req, &response, when, micros),
                Format::JsonLines => json_line(req, &response, when, micros),
            };
            match &sink {
                Sink::Writer(writer) => {
                    let mut writer = writer.lock().unwrap_or_else(PoisonError::into_inner);
                    let _ = writer.write_all(line.as_bytes());
                }
                #[cfg(feature = "log")]
                Sink::Log => log::info!(target: "switchyard::access", "{}", line.trim_end()),
            }
            response
        })
    }
}

/// The body bytes a response sends: `None` for none (HEAD, 204, 304, empty) or unknown (a
/// stream).
fn body_bytes(req: &Request, res: &Response) -> Option<u64> {
    let status = res.status();
    let sends_body = req.method() != http::Method::HEAD
        && !status.is_informational()
        && status != http::StatusCode::NO_CONTENT
        && status != http::StatusCode::NOT_MODIFIED;
    res.body().len().filter(|len| sends_body && *len > 0)
}

fn common_log_line(req: &Request, res: &Response, when: SystemTime, micros: u128) -> String {
    let host = req
        .remote_addr()
        .map_or_else(|| "-".to_owned(), |addr| addr.ip().to_string());
    // CLF's `%b`: `-` for no bytes or an unknown count.
    let bytes = body_bytes(req, res).map_or_else(|| "-".to_owned(), |len| len.to_string());
    format!(
        "{host} - - [{}] \"{} {} {:?}\" {} {bytes} {micros}\n",
        clf_date(when),
        req.method(),
        req.uri(),
        req.version(),
        res.status().as_str(),
    )
}

/// The header a request's id travels in.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// `10/Oct/2000:13:55:36 +0000`, rearranged from the IMF-fixdate `httpdate` formats
/// (`Tue, 10 Oct 2000 13:55:36 GMT`).
fn json_line(req: &Request, res: &Response, when: SystemTime, micros: u128) -> String {
    let text = |value: Option<&str>| value.map_or_else(|| "null".to_owned(), json_string);
    let request_id = res
        .header_value(&REQUEST_ID)
        .or_else(|| req.headers().get(&REQUEST_ID))
        .and_then(|v| v.to_str().ok());
    let remote = req.remote_addr().map(|addr| addr.ip().to_string());
    let bytes = body_bytes(req, res).map_or_else(|| "null".to_owned(), |n| n.to_string());
    format!(
        "{{\"time\":{},\"remote\":{},\"method\":{},\"target\":{},\"route\":{},\"status\":{},\"bytes\":{bytes},\"duration_us\":{micros},\"request_id\":{}}}\n",
        json_string(&rfc3339(when)),
        text(remote.as_deref()),
        json_string(req.method().as_str()),
        json_string(&req.uri().to_string()),
        text(req.route()),
        res.status().as_u16(),
        text(request_id),
    )
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `2026-11-29T10:00:00Z`, from the IMF-fixdate `httpdate` writes.
fn rfc3339(when: SystemTime) -> String {
    let imf = httpdate::fmt_http_date(when);
    let parts: Vec<&str> = imf.split(' ').collect();
    let month = |m: &str| {
        [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ]
        .iter()
        .position(|name| *name == m)
        .map_or(0, |i| i + 1)
    };
    match parts.as_slice() {
        [_, day, mon, year, time, _] => format!("{year}-{:02}-{day}T{time}Z", month(mon)),
        _ => imf,
    }
}

fn clf_date(when: SystemTime) -> String {
    let imf = httpdate::fmt_http_date(when);
    let parts: Vec<&str> = imf.split(' ').collect();
    match parts.as_slice() {
        [_, day, month, year, time, _] => format!("{day}/{month}/{year}:{time} +0000"),
        _ => imf,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn line_for(method: http::Method, res: Response) -> String {
        let req = Request::from(
            http::Request::builder()
                .method(method)
                .uri("/x")
                .body(())
                .unwrap(),
        );
        common_log_line(&req, &res, UNIX_EPOCH, 7)
    }

    #[test]
    fn the_byte_count_is_what_the_body_sends() {
        let line = line_for(http::Method::GET, Response::text("hello"));
        assert!(line.ends_with("\"GET /x HTTP/1.1\" 200 5 7\n"), "{line}");
        let line = line_for(http::Method::HEAD, Response::text("hello"));
        assert!(line.ends_with("\"HEAD /x HTTP/1.1\" 200 - 7\n"), "{line}");
        let not_modified = Response::text("hello").with_status(http::StatusCode::NOT_MODIFIED);
        let line = line_for(http::Method::GET, not_modified);
        assert!(line.ends_with(" 304 - 7\n"), "{line}");
        let line = line_for(
            http::Method::GET,
            Response::new(http::StatusCode::NOT_FOUND),
        );
        assert!(line.ends_with(" 404 - 7\n"), "{line}");
    }

    #[test]
    fn json_lines_are_json_with_the_route_and_request_id() {
        let req = Request::from(
            http::Request::get("/users/7?x=%22q%22")
                .header("x-request-id", "abc")
                .body(())
                .unwrap(),
        );
        let res = Response::text("user 7");
        let line = json_line(
            &req,
            &res,
            UNIX_EPOCH + Duration::from_secs(971_186_136),
            83,
        );
        assert_eq!(
            line,
            "{\"time\":\"2000-10-10T13:55:36Z\",\"remote\":null,\"method\":\"GET\",\
             \"target\":\"/users/7?x=%22q%22\",\"route\":null,\"status\":200,\"bytes\":6,\
             \"duration_us\":83,\"request_id\":\"abc\"}\n"
        );
        assert_eq!(json_string("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
    }

    #[test]
    fn clf_date_format() {
        let when = UNIX_EPOCH + Duration::from_secs(971_186_136);
        assert_eq!(clf_date(when), "10/Oct/2000:13:55:36 +0000");
    }
}

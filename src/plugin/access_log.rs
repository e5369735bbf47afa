//! [`AccessLog`]: one Common Log Format line per request.

use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use super::Plugin;
use crate::middleware::Next;
use crate::request::Request;
use crate::response::Response;
use crate::router::Router;

type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

/// Writes one line per request in the Common Log Format, plus the time taken in
/// microseconds:
///
/// ```text
/// 127.0.0.1 - - [25/Nov/2026:18:30:00 +0000] "GET /users/7 HTTP/1.1" 200 7 83
/// ```
///
/// The byte count is the response body's length (`-` for a streamed body). Write errors
/// are ignored: logging never fails a request.
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
            sink: Arc::new(Mutex::new(Box::new(writer))),
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
}

impl Plugin for AccessLog {
    fn name(&self) -> &str {
        "access-log"
    }

    fn install(self, router: Router) -> Router {
        let sink = self.sink;
        router.middleware(move |req: &mut Request, next: Next<'_>| {
            let started = Instant::now();
            let when = SystemTime::now();
            let response = next.run(req);
            let line = common_log_line(req, &response, when, started.elapsed().as_micros());
            let mut sink = sink.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = sink.write_all(line.as_bytes());
            response
        })
    }
}

fn common_log_line(req: &Request, res: &Response, when: SystemTime, micros: u128) -> String {
    let host = req
        .remote_addr()
        .map_or_else(|| "-".to_owned(), |addr| addr.ip().to_string());
    // CLF's `%b`: the body bytes sent, `-` for none (HEAD, 204, 304) or unknown (a stream).
    let status = res.status();
    let sends_body = req.method() != http::Method::HEAD
        && !status.is_informational()
        && status != http::StatusCode::NO_CONTENT
        && status != http::StatusCode::NOT_MODIFIED;
    let bytes = match res.body().len() {
        Some(len) if sends_body && len > 0 => len.to_string(),
        _ => "-".to_owned(),
    };
    format!(
        "{host} - - [{}] \"{} {} {:?}\" {} {bytes} {micros}\n",
        clf_date(when),
        req.method(),
        req.uri(),
        req.version(),
        res.status().as_str(),
    )
}

/// `10/Oct/2000:13:55:36 +0000`, rearranged from the IMF-fixdate `httpdate` formats
/// (`Tue, 10 Oct 2000 13:55:36 GMT`).
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
    fn clf_date_format() {
        let when = UNIX_EPOCH + Duration::from_secs(971_186_136);
        assert_eq!(clf_date(when), "10/Oct/2000:13:55:36 +0000");
    }
}

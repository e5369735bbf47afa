//! The answer for one open file: its validators, the preconditions (412, 304), a byte
//! range (206, 416) or the whole file (200), streamed as the socket drains. Shared by
//! [`StaticFiles`](super::StaticFiles) and [`StaticFile`], one file served on its own.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use super::conditional::{Precondition, Validators, if_range_holds, preconditions, single_value};
use super::content_type::content_type;
use super::range::{ByteRange, byte_range};
use super::{header_value, not_found, open_failed};
use crate::body::Body;
use crate::error::InvalidHeader;
use crate::handler::Handler;
use crate::plugin::negotiate::Coding;
use crate::request::Request;
use crate::response::Response;

/// The headers of a file's answer besides its validators.
pub(super) struct FileHeaders {
    pub(super) content_type: HeaderValue,
    /// The coding of a precompressed sibling sent instead of the file.
    pub(super) encoding: Option<Coding>,
    pub(super) cache_control: Option<HeaderValue>,
    pub(super) content_disposition: Option<HeaderValue>,
    /// Precompressed siblings may be sent: every answer says `Vary: Accept-Encoding`.
    pub(super) varies_by_encoding: bool,
}

/// Opens the file at `path` (a variant precompressed with `encoding`, if any) with its
/// validators, or the answer when it cannot be served: 404 when it is gone, may not be
/// read or is not a file, 500 for other errors.
pub(super) fn open_file(
    path: &Path,
    encoding: Option<Coding>,
) -> Result<(File, Validators), Box<Response>> {
    let file = File::open(path).map_err(|error| Box::new(open_failed(&error)))?;
    let metadata = match file.metadata() {
        Ok(metadata) if metadata.is_file() => metadata,
        Ok(_) => return Err(Box::new(not_found())),
        Err(error) => return Err(Box::new(open_failed(&error))),
    };
    let modified = metadata.modified().ok();
    let validators = Validators::new(metadata.len(), modified, encoding, SystemTime::now());
    Ok((file, validators))
}

/// The answer for an open file: 412, 304, 206, 416 or 200.
pub(super) fn file_response(
    req: &Request,
    file: File,
    validators: &Validators,
    extra: &FileHeaders,
) -> Response {
    let len = validators.len;
    match preconditions(req.headers(), validators) {
        Precondition::Failed => return Response::new(StatusCode::PRECONDITION_FAILED),
        Precondition::NotModified => {
            let mut response = Response::new(StatusCode::NOT_MODIFIED);
            validator_headers(response.headers_mut(), validators, extra);
            return response;
        }
        Precondition::Pass => {}
    }
    // RFC 9110 §14.2: ranges are defined for GET only. A precompressed variant is never
    // chosen with a `Range`, so `encoding` is `None` whenever one is honored.
    let range = match (
        req.method() == Method::GET,
        single_value(req.headers(), header::RANGE),
    ) {
        (true, Some(range)) if if_range_holds(req.headers(), validators, SystemTime::now()) => {
            byte_range(range, len)
        }
        _ => ByteRange::Whole,
    };
    let (status, body) = match range {
        ByteRange::Whole => (StatusCode::OK, Body::file_range(file, 0, len)),
        ByteRange::Part { first, last } => (
            StatusCode::PARTIAL_CONTENT,
            Body::file_range(file, first, last - first + 1),
        ),
        ByteRange::Unsatisfiable => {
            let mut response = Response::new(StatusCode::RANGE_NOT_SATISFIABLE);
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_RANGE,
                header_value(format!("bytes */{len}")),
            );
            headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return response;
        }
    };
    let mut response = Response::new(status).with_body(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, extra.content_type.clone());
    validator_headers(headers, validators, extra);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(disposition) = &extra.content_disposition {
        headers.insert(header::CONTENT_DISPOSITION, disposition.clone());
    }
    match extra.encoding {
        Some(encoding) => {
            headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(encoding.token()),
            );
        }
        None => {
            headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        }
    }
    if let ByteRange::Part { first, last } = range {
        headers.insert(
            header::CONTENT_RANGE,
            header_value(format!("bytes {first}-{last}/{len}")),
        );
    }
    response
}

/// The headers a 304 repeats from the 200 it stands for (RFC 9110 §15.4.5).
fn validator_headers(headers: &mut HeaderMap, validators: &Validators, extra: &FileHeaders) {
    headers.insert(header::ETAG, header_value(validators.etag.clone()));
    if let Some(last_modified) = validators.last_modified {
        let date = httpdate::fmt_http_date(last_modified);
        headers.insert(header::LAST_MODIFIED, header_value(date));
    }
    if let Some(cache_control) = &extra.cache_control {
        headers.insert(header::CACHE_CONTROL, cache_control.clone());
    }
    if extra.varies_by_encoding {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
}

/// One file served with everything [`StaticFiles`](super::StaticFiles) gives a file:
/// `ETag` and `Last-Modified`, conditional requests (304, 412), single byte ranges (206,
/// 416, `If-Range`), the body streamed as the socket drains; with a content type of your
/// choosing (by default from the extension) and, for a download, a `Content-Disposition`.
/// Like tower-http's `ServeFile`: for an upload kept under a name of its own, a report
/// written to disk.
///
/// Use it in a handler ([`respond`](Self::respond)), or as the handler of a route.
///
/// # Examples
///
/// ```
/// use switchyard::{Request, Router, StaticFile};
///
/// let path = std::env::temp_dir().join(format!("switchyard-file-{}", std::process::id()));
/// std::fs::write(&path, "0123456789")?;
///
/// let report = path.clone();
/// let app = Router::new().get("/reports/{id}", move |req: &Request| {
///     StaticFile::new(&report)
///         .content_type("text/csv")
///         .unwrap()
///         .attachment("report.csv")
///         .respond(req)
/// });
/// let res = app.handle(http::Request::get("/reports/7").header("range", "bytes=2-4").body(())?);
/// assert_eq!(res.status(), 206);
/// assert_eq!(res.headers()["content-type"], "text/csv");
/// assert_eq!(res.headers()["content-disposition"], r#"attachment; filename="report.csv""#);
/// assert_eq!(res.into_body_bytes()?, b"234");
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a file is served by `respond` or as a route's handler"]
pub struct StaticFile {
    path: PathBuf,
    content_type: Option<HeaderValue>,
    content_disposition: Option<HeaderValue>,
    cache_control: Option<HeaderValue>,
}

impl StaticFile {
    /// The file at `path`, which is opened for each request (a missing one answers 404).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            content_type: None,
            content_disposition: None,
            cache_control: None,
        }
    }

    /// Sends it with this `Content-Type` instead of the one its extension says.
    ///
    /// # Errors
    ///
    /// [`InvalidHeader::Value`] when `value` is not a valid header value.
    pub fn content_type(mut self, value: &str) -> Result<Self, InvalidHeader> {
        self.content_type = Some(checked(header::CONTENT_TYPE, value)?);
        Ok(self)
    }

    /// Sends it as a download named `filename`: `Content-Disposition: attachment;
    /// filename="..."` (RFC 6266), with the name's quotes, backslashes and control or
    /// non-ASCII characters replaced by `_` so that the header stays valid.
    pub fn attachment(mut self, filename: &str) -> Self {
        let safe: String = filename
            .chars()
            .map(|c| match c {
                ' ' | '!' | '#'..='[' | ']'..='~' => c,
                _ => '_',
            })
            .collect();
        self.content_disposition = Some(header_value(format!(r#"attachment; filename="{safe}""#)));
        self
    }

    /// Sends it with `Cache-Control: value`.
    ///
    /// # Errors
    ///
    /// [`InvalidHeader::Value`] when `value` is not a valid header value.
    pub fn cache_control(mut self, value: &str) -> Result<Self, InvalidHeader> {
        self.cache_control = Some(checked(header::CACHE_CONTROL, value)?);
        Ok(self)
    }

    /// The answer to `req` (`GET` or `HEAD`; its `Range` and conditional headers): 200,
    /// 206, 304, 412 or 416; 404 when the file cannot be opened (or is not a file).
    pub fn respond(&self, req: &Request) -> Response {
        let (file, validators) = match open_file(&self.path, None) {
            Ok(opened) => opened,
            Err(response) => return *response,
        };
        let content_type = self
            .content_type
            .clone()
            .unwrap_or_else(|| HeaderValue::from_static(content_type(&self.path)));
        let headers = FileHeaders {
            content_type,
            encoding: None,
            cache_control: self.cache_control.clone(),
            content_disposition: self.content_disposition.clone(),
            varies_by_encoding: false,
        };
        file_response(req, file, &validators, &headers)
    }
}

/// `value` as the value of header `name`, if it is a valid one.
fn checked(name: header::HeaderName, value: &str) -> Result<HeaderValue, InvalidHeader> {
    HeaderValue::try_from(value).map_err(|error| InvalidHeader::Value {
        name,
        source: Box::new(error),
    })
}

/// Serves the file for every request of the route it is registered for.
impl Handler for StaticFile {
    fn call(&self, request: &Request) -> Response {
        self.respond(request)
    }
}

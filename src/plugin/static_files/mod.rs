//! [`StaticFiles`]: a directory's files over HTTP, confined to the directory, with HTTP
//! caching, ranges and precompressed siblings.
//!
//! A request goes through these steps, one function each: the parsing and decisions have
//! unit tests in the files that hold them, the file-system steps are tested over a socket
//! in `tests/static_files.rs`.
//!
//! ```text
//! {*path} capture ─► relative_path: normal names only, else 404           (path.rs)
//!   ─► resolve: stay under the root (404; canonicalized past a symlink), directory ─► index file or 308
//!   ─► choose_variant: a .br / .gz sibling the client accepts (not with a Range)
//!   ─► open + fstat ─► Validators: ETag, Last-Modified                    (conditional.rs)
//!   ─► preconditions (RFC 9110 §13.2.2): 412 / 304
//!   ─► byte_range (RFC 9110 §14): 206 / 416 / 200, the body streamed as the socket drains
//!                                                                         (range.rs)
//! ```
//!
//! This file holds the builder and the serve flow; `file.rs` the answer for one open file
//! (and [`StaticFile`], one file served on its own); `content_type.rs` maps extensions to
//! media types.

mod conditional;
mod content_type;
mod file;
mod path;
mod range;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};

use self::content_type::content_type;
pub use self::file::StaticFile;
use self::file::{FileHeaders, file_response, open_file};
use self::path::{Target, relative_path};
#[cfg(feature = "__internals")]
pub(super) mod fuzzing {
    //! What `plugin::fuzzing` reaches of the private modules above.
    pub(crate) use super::content_type::content_type;
    pub(crate) use super::path::relative_path;
    pub(crate) use super::range::{ByteRange, byte_range};
}
use super::negotiate::{AcceptEncoding, Coding};
use crate::request::Request;
use crate::response::Response;
use crate::router::Router;

/// The file a directory request serves unless [`StaticFiles::index_file`] says otherwise.
const DEFAULT_INDEX_FILE: &str = "index.html";

/// Serves the files under a directory: mount it with [`Router::nest`] (or
/// [`Router::merge`] at the root), which take anything that converts into a [`Router`].
///
/// `GET` and `HEAD` are served; other methods get 405 with `Allow`, as for any route.
///
/// - **Paths.** The path under the mount point, percent-decoded, must be `/`-separated
///   normal names: a name that is empty (`a//b`, or a leading `//`), `.`, `..`, or holds
///   `\`, NUL or `:` (`c:`), is refused, as is a name starting with `.` (a dot-file or
///   dot-directory such as `.git` or `.well-known`) unless
///   [`show_dot_files`](Self::show_dot_files). On Windows, device names (`NUL`, `com1.txt`)
///   and names ending in `.` or a space are refused too. Every refusal is an empty 404,
///   like a missing file, so that nothing about the directory is revealed. `%2f` decodes
///   to `/` and separates names like `/` does.
/// - **Symlinks.** A path with a symlink below the root is canonicalized and must stay
///   under the canonicalized root, so a symlink that leads out of the root is a 404 (unless
///   [`follow_external_symlinks`](Self::follow_external_symlinks)). The root itself may
///   be a symlink. The check assumes that clients cannot write into the root.
/// - **Directories.** `/dir/` serves `dir/index.html` ([`index_file`](Self::index_file));
///   `/dir` answers 308 Permanent Redirect to `/dir/` (query kept), as nginx does, so that
///   the page's relative links resolve inside the directory. The mount point itself
///   (`/assets`) redirects to `/assets/` the same way. There are no directory listings.
/// - **Missing files.** 404, or the [`fallback_file`](Self::fallback_file) with 200, for a
///   single-page app's client-side routes. A refused path is a 404 even then.
/// - **Headers.** `Content-Type` from the extension of the name asked for (a small
///   built-in table, text types with `charset=utf-8`, otherwise
///   `application/octet-stream`), a strong `ETag` made of
///   the size and modification time, `Last-Modified`, `Accept-Ranges: bytes` (not for a
///   precompressed file: ranges are served uncompressed),
///   `X-Content-Type-Options: nosniff` (browsers must not guess another type than the one
///   sent), and [`cache_control`](Self::cache_control) when set.
/// - **Conditional requests** (RFC 9110 §13.2.2), in order: `If-Match` (412 unless a strong
///   match), else `If-Unmodified-Since` (412 if modified since); then `If-None-Match` (304
///   on a weak match), else `If-Modified-Since` (304 if not modified since). A 304 carries
///   `ETag`, `Last-Modified`, `Cache-Control` and `Vary`, and no body.
/// - **Ranges** (RFC 9110 §14), for `GET`: one range (`bytes=0-99`, `bytes=100-`,
///   `bytes=-100`) is a 206 with `Content-Range`; a range that starts past the end is a
///   416 with `Content-Range: bytes */LEN`. `If-Range` with the current `ETag` (strong) or
///   `Last-Modified` (exact) keeps the range, anything else gets the whole file. Several
///   ranges get a 200 with the whole file (no `multipart/byteranges`), as does a malformed
///   `Range`, a range of an empty file, or a `Range` on `HEAD` (§14.2).
/// - **Precompressed files**, opt-in ([`precompressed_br`](Self::precompressed_br),
///   [`precompressed_gzip`](Self::precompressed_gzip)): when `app.js.br` or `app.js.gz` sits
///   next to `app.js` and `Accept-Encoding` prefers that coding to `identity` (read as
///   `Compression` (feature `compression`) reads it: q-values honored, `q=0` excludes,
///   a coding listed twice gets its lower q-value, an unlisted `identity` ranks below
///   every listed coding; `br` first on a tie), it is sent instead, with `Content-Encoding`, the original's
///   `Content-Type` and an `ETag` of its own. Once either is enabled, every 200, 206 and 304
///   says `Vary: Accept-Encoding`. A request with `Range` always gets the uncompressed file, so
///   that a range never mixes two encodings.
/// - **Threads.** The handler opens and stats the file on the worker (fast); the body is a
///   [`Body::file`](crate::Body::file), sent as the socket drains, so a slow download parks
///   its connection and holds no worker. Over a plain connection on Linux the bytes go from
///   the page cache to the socket with `sendfile(2)` (never through the server's memory);
///   over TLS, or compressed, they are read and copied.
///
/// # Examples
///
/// ```
/// use switchyard::{Router, StaticFiles};
///
/// let dir = std::env::temp_dir().join(format!("switchyard-doc-{}", std::process::id()));
/// std::fs::create_dir_all(dir.join("css"))?;
/// std::fs::write(dir.join("index.html"), "<h1>Hello</h1>")?;
/// std::fs::write(dir.join("css/site.css"), "h1 { color: teal }")?;
///
/// let app = Router::new().nest(
///     "/assets",
///     StaticFiles::new(&dir).cache_control("public, max-age=3600"),
/// );
/// let get = |path: &str| app.handle(http::Request::get(path).body(()).unwrap());
///
/// let css = get("/assets/css/site.css");
/// assert_eq!(css.status(), 200);
/// assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
/// assert_eq!(css.headers()["cache-control"], "public, max-age=3600");
/// assert_eq!(css.into_body_bytes()?, b"h1 { color: teal }");
///
/// assert_eq!(get("/assets/").into_body_bytes()?, b"<h1>Hello</h1>");
/// assert_eq!(get("/assets").headers()["location"], "/assets/"); // 308
/// assert_eq!(get("/assets/../secret").status(), 404);
/// assert_eq!(get("/assets/%2e%2e/secret").status(), 404);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "static files are served once mounted in a router"]
pub struct StaticFiles {
    root: PathBuf,
    index_file: Option<String>,
    fallback_file: Option<PathBuf>,
    cache_control: Option<HeaderValue>,
    show_dot_files: bool,
    follow_external_symlinks: bool,
    precompressed_gzip: bool,
    precompressed_br: bool,
}

impl StaticFiles {
    /// Serves the files under `root` (resolved against the working directory when
    /// relative): `index.html` for directories, no fallback, no `Cache-Control`, dot-files
    /// and symlinks out of the root refused, no precompressed files.
    ///
    /// The root is looked at per request, not here: it may appear or change later.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            index_file: Some(DEFAULT_INDEX_FILE.to_owned()),
            fallback_file: None,
            cache_control: None,
            show_dot_files: false,
            follow_external_symlinks: false,
            precompressed_gzip: false,
            precompressed_br: false,
        }
    }

    /// The file served for a directory requested with its trailing slash (default
    /// `Some("index.html")`). `None`: directories are 404 (and are never redirected).
    pub fn index_file(mut self, name: Option<&str>) -> Self {
        self.index_file = name.map(str::to_owned);
        self
    }

    /// A file served with 200 when the path names nothing to serve (no such file, or a
    /// directory without an index file): the `index.html` of a single-page app, whose
    /// routes exist only on the client. A relative path is taken under the root. It goes
    /// through the same caching, range and precompression handling as any file; a path
    /// refused as unsafe is still a 404.
    ///
    /// # Examples
    ///
    /// ```
    /// use switchyard::{Router, StaticFiles};
    ///
    /// let dir = std::env::temp_dir().join(format!("switchyard-spa-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// std::fs::write(dir.join("index.html"), "<div id=app></div>")?;
    ///
    /// let app = Router::from(StaticFiles::new(&dir).fallback_file("index.html"));
    /// let res = app.handle(http::Request::get("/settings/profile").body(())?);
    /// assert_eq!(res.status(), 200);
    /// assert_eq!(res.into_body_bytes()?, b"<div id=app></div>");
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fallback_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.fallback_file = Some(path.into());
        self
    }

    /// Sends `Cache-Control: value` with every file (200, 206 and 304): `"no-cache"` to
    /// revalidate each time (cheap with the `ETag`), `"public, max-age=31536000,
    /// immutable"` for file names that carry a content hash.
    ///
    /// # Panics
    ///
    /// When `value` is not a valid header value (it contains a line break, say).
    #[track_caller]
    pub fn cache_control<V>(mut self, value: V) -> Self
    where
        V: TryInto<HeaderValue>,
        V::Error: fmt::Display,
    {
        match value.try_into() {
            Ok(value) => self.cache_control = Some(value),
            Err(error) => panic!("invalid Cache-Control value for StaticFiles: {error}"),
        }
        self
    }

    /// Whether names starting with `.` are served (default `false`: 404). Dot-directories
    /// count, so `.well-known/` needs this too.
    pub fn show_dot_files(mut self, show: bool) -> Self {
        self.show_dot_files = show;
        self
    }

    /// Whether symlinks leading out of the root are followed (default `false`: 404). With
    /// `true`, paths are not canonicalized at all: whatever a symlink under the root points
    /// to is served.
    pub fn follow_external_symlinks(mut self, follow: bool) -> Self {
        self.follow_external_symlinks = follow;
        self
    }

    /// Whether a `file.gz` next to `file` is sent, with `Content-Encoding: gzip`, to
    /// clients that accept gzip (default `false`).
    pub fn precompressed_gzip(mut self, enabled: bool) -> Self {
        self.precompressed_gzip = enabled;
        self
    }

    /// Whether a `file.br` next to `file` is sent, with `Content-Encoding: br`, to clients
    /// that accept Brotli (default `false`). Preferred over gzip when both are accepted
    /// equally.
    pub fn precompressed_br(mut self, enabled: bool) -> Self {
        self.precompressed_br = enabled;
        self
    }

    /// Answers `req`; `capture` is the decoded path under the mount point (`None` at the
    /// mount point itself).
    fn serve(&self, req: &Request, capture: Option<&str>) -> Response {
        // Whether the URL names a directory; `%2f` at the end does not.
        let trailing_slash = req.path().ends_with('/');
        let names = match capture {
            None => Vec::new(),
            Some(capture) => {
                let capture = match trailing_slash {
                    true => capture.strip_suffix('/').unwrap_or(capture),
                    false => capture,
                };
                match relative_path(capture, self.show_dot_files) {
                    Some(names) => names,
                    None => return not_found(),
                }
            }
        };
        let Some(root) = self.checked_root() else {
            return not_found();
        };
        let (path, content_type) = match self.resolve(&root, &names, trailing_slash) {
            Target::File { path, content_type } => (path, content_type),
            Target::Directory => return redirect_to_directory(req),
            Target::Refused => return not_found(),
            Target::Missing => match &self.fallback_file {
                Some(fallback) => (self.root.join(fallback), content_type(fallback)),
                None => return not_found(),
            },
        };
        let (path, encoding) = self.choose_variant(&root, path, req.headers());
        let (file, validators) = match open_file(&path, encoding) {
            Ok(opened) => opened,
            Err(response) => return *response,
        };
        let headers = FileHeaders {
            content_type: HeaderValue::from_static(content_type),
            encoding,
            cache_control: self.cache_control.clone(),
            content_disposition: None,
            varies_by_encoding: self.precompressed_br || self.precompressed_gzip,
        };
        file_response(req, file, &validators, &headers)
    }

    /// The root requests resolve against: canonicalized, unless symlinks are followed.
    /// `None` when it does not exist.
    fn checked_root(&self) -> Option<PathBuf> {
        match self.follow_external_symlinks {
            true => Some(self.root.clone()),
            false => self.root.canonicalize().ok(),
        }
    }

    /// The precompressed sibling of `path` to send, if one is enabled, accepted and there;
    /// otherwise `path` itself. Never for a request with `Range` (see the type's docs).
    fn choose_variant(
        &self,
        root: &Path,
        path: PathBuf,
        headers: &HeaderMap,
    ) -> (PathBuf, Option<Coding>) {
        let offered: Vec<Coding> = [
            (Coding::Br, self.precompressed_br),
            (Coding::Gzip, self.precompressed_gzip),
        ]
        .into_iter()
        .filter_map(|(encoding, enabled)| enabled.then_some(encoding))
        .collect();
        if offered.is_empty() || headers.contains_key(header::RANGE) {
            return (path, None);
        }
        for encoding in AcceptEncoding::from_headers(headers).preferred(&offered) {
            let mut name = path.clone().into_os_string();
            name.push(sibling_suffix(encoding));
            let Ok(sibling) = self.confine(root, PathBuf::from(name)) else {
                continue;
            };
            if fs::metadata(&sibling).is_ok_and(|metadata| metadata.is_file()) {
                return (sibling, Some(encoding));
            }
        }
        (path, None)
    }
}

/// Routes `GET /` and `GET /{*path}` to the files (HEAD comes with GET; other methods are
/// 405 with `Allow`). Nested under a prefix, `/prefix/` is served too (the root
/// directory's index), and `/prefix` redirects to it.
impl From<StaticFiles> for Router {
    fn from(files: StaticFiles) -> Router {
        let files = Arc::new(files);
        let at_root = Arc::clone(&files);
        Router::new()
            .get("/", move |req: &Request| at_root.serve(req, None))
            .get("/{*path}", move |req: &Request| {
                // The catch-all is the last parameter whatever the prefix captured before
                // it (`nest("/{path}/files", ..)` included).
                let capture = req.params().iter().last().map(|(_, value)| value);
                files.serve(req, capture)
            })
            .with_root_with_slash()
    }
}

/// 308 from `/dir` to `/dir/`, keeping the query. The path is the request's own, already
/// a valid URI path; one that starts with `//` would make a protocol-relative `Location`
/// (an open redirect), so it is refused, though checked names never lead here with one.
fn redirect_to_directory(req: &Request) -> Response {
    let path = req.path();
    if path.starts_with("//") {
        return not_found();
    }
    let location = match req.query_string() {
        Some(query) => format!("{path}/?{query}"),
        None => format!("{path}/"),
    };
    Response::permanent_redirect(&location)
}

fn not_found() -> Response {
    Response::new(StatusCode::NOT_FOUND)
}

/// A file that could not be opened or read after it was found: 404 if it went away or may
/// not be read (nothing to reveal), 500 otherwise.
fn open_failed(error: &io::Error) -> Response {
    match error.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => not_found(),
        _ => {
            crate::logging::log_error!("StaticFiles could not read a file, answering 500: {error}");
            Response::new(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// A header value built from a string this module formatted (digits, quotes, dates).
fn header_value(value: String) -> HeaderValue {
    HeaderValue::try_from(value).expect("formatted from digits, hex and dates: visible ASCII")
}

/// The suffix of a file's sibling precompressed with `coding`.
fn sibling_suffix(coding: Coding) -> &'static str {
    match coding {
        Coding::Br => ".br",
        Coding::Gzip => ".gz",
    }
}

//! [`StaticFiles`]: a directory's files over HTTP, confined to the directory, with HTTP
//! caching, ranges and precompressed siblings.
//!
//! A request goes through these steps, one function each: the parsing and decisions have
//! unit tests below, the file-system steps are tested over a socket in `tests/static_files.rs`.
//!
//! ```text
//! {*path} capture ─► relative_path: normal names only, else 404
//!   ─► resolve: canonicalize, stay under the root (404), directory ─► index file or 308
//!   ─► choose_variant: a .br / .gz sibling the client accepts (not with a Range)
//!   ─► open + fstat ─► Validators: ETag, Last-Modified
//!   ─► preconditions (RFC 9110 §13.2.2): 412 / 304
//!   ─► byte_range (RFC 9110 §14): 206 / 416 / 200, the body streamed as the socket drains
//! ```

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};

use crate::body::Body;
use crate::request::Request;
use crate::response::Response;
use crate::router::Router;

/// The file a directory request serves unless [`StaticFiles::index_file`] says otherwise.
const DEFAULT_INDEX_FILE: &str = "index.html";

/// The `Content-Type` of a file whose extension is not in [`CONTENT_TYPES`].
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// `Content-Type` by file extension (compared ASCII case-insensitively). Text types carry
/// `charset=utf-8`; JavaScript is `text/javascript` (RFC 9239).
const CONTENT_TYPES: &[(&str, &str)] = &[
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("map", "application/json"),
    ("webmanifest", "application/manifest+json"),
    ("txt", "text/plain; charset=utf-8"),
    ("md", "text/markdown; charset=utf-8"),
    ("csv", "text/csv; charset=utf-8"),
    ("xml", "application/xml"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
    ("ico", "image/x-icon"),
    ("bmp", "image/bmp"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("ttf", "font/ttf"),
    ("otf", "font/otf"),
    ("wasm", "application/wasm"),
    ("pdf", "application/pdf"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
    ("mp3", "audio/mpeg"),
    ("ogg", "audio/ogg"),
    ("wav", "audio/wav"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("tar", "application/x-tar"),
];

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
/// - **Symlinks.** The file's path is canonicalized and must stay under the canonicalized
///   root, so a symlink that leads out of the root is a 404 (unless
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
///   next to `app.js` and `Accept-Encoding` accepts that coding (q-values honored; `br`
///   first on a tie), it is sent instead, with `Content-Encoding`, the original's
///   `Content-Type` and an `ETag` of its own. Once either is enabled, every 200, 206 and 304
///   says `Vary: Accept-Encoding`. A request with `Range` always gets the uncompressed file, so
///   that a range never mixes two encodings.
/// - **Threads.** The handler opens and stats the file on the worker (fast); the body is a
///   [`Body::sized_stream`], copied to the socket as it drains, so a slow download parks
///   its connection and holds no worker.
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
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) => return open_failed(&error),
        };
        let metadata = match file.metadata() {
            Ok(metadata) if metadata.is_file() => metadata,
            Ok(_) => return not_found(),
            Err(error) => return open_failed(&error),
        };
        let validators = Validators::new(
            metadata.len(),
            metadata.modified().ok(),
            encoding,
            SystemTime::now(),
        );
        self.file_response(req, file, content_type, encoding, &validators)
    }

    /// The root requests resolve against: canonicalized, unless symlinks are followed.
    /// `None` when it does not exist.
    fn checked_root(&self) -> Option<PathBuf> {
        match self.follow_external_symlinks {
            true => Some(self.root.clone()),
            false => self.root.canonicalize().ok(),
        }
    }

    /// `path` if it may be served: canonicalized and under `root`, unless symlinks are
    /// followed.
    fn confine(&self, root: &Path, path: PathBuf) -> Result<PathBuf, Target> {
        if self.follow_external_symlinks {
            return Ok(path);
        }
        match path.canonicalize() {
            Ok(canonical) if canonical.starts_with(root) => Ok(canonical),
            Ok(_) => Err(Target::Refused),
            Err(_) => Err(Target::Missing),
        }
    }

    /// What the checked `names` lead to under `root`. The `Content-Type` comes from the
    /// name asked for (or the index file's), not from where a symlink leads.
    fn resolve(&self, root: &Path, names: &[&str], trailing_slash: bool) -> Target {
        let requested: PathBuf = names
            .iter()
            .fold(root.to_path_buf(), |path, name| path.join(name));
        let content_type = content_type(&requested);
        let path = match self.confine(root, requested) {
            Ok(path) => path,
            Err(target) => return target,
        };
        // Following symlinks: a FIFO or a device is never opened (opening a FIFO blocks).
        let Ok(metadata) = fs::metadata(&path) else {
            return Target::Missing;
        };
        if metadata.is_dir() {
            let Some(index) = &self.index_file else {
                return Target::Missing;
            };
            if !trailing_slash {
                return Target::Directory;
            }
            let content_type_of_index = self::content_type(Path::new(index));
            let index = match self.confine(root, path.join(index)) {
                Ok(index) => index,
                Err(target) => return target,
            };
            return match fs::metadata(&index) {
                Ok(metadata) if metadata.is_file() => Target::File {
                    path: index,
                    content_type: content_type_of_index,
                },
                _ => Target::Missing,
            };
        }
        // A file asked for as a directory (`/app.js/`) is not there.
        match metadata.is_file() && !trailing_slash {
            true => Target::File { path, content_type },
            false => Target::Missing,
        }
    }

    /// The precompressed sibling of `path` to send, if one is enabled, accepted and there;
    /// otherwise `path` itself. Never for a request with `Range` (see the type's docs).
    fn choose_variant(
        &self,
        root: &Path,
        path: PathBuf,
        headers: &HeaderMap,
    ) -> (PathBuf, Option<Encoding>) {
        let offered: Vec<Encoding> = [
            (Encoding::Br, self.precompressed_br),
            (Encoding::Gzip, self.precompressed_gzip),
        ]
        .into_iter()
        .filter_map(|(encoding, enabled)| enabled.then_some(encoding))
        .collect();
        if offered.is_empty() || headers.contains_key(header::RANGE) {
            return (path, None);
        }
        for encoding in accepted_encodings(headers, &offered) {
            let mut name = path.clone().into_os_string();
            name.push(encoding.extension());
            let Ok(sibling) = self.confine(root, PathBuf::from(name)) else {
                continue;
            };
            if fs::metadata(&sibling).is_ok_and(|metadata| metadata.is_file()) {
                return (sibling, Some(encoding));
            }
        }
        (path, None)
    }

    /// The answer for an open file: 412, 304, 206, 416 or 200.
    fn file_response(
        &self,
        req: &Request,
        mut file: File,
        content_type: &'static str,
        encoding: Option<Encoding>,
        validators: &Validators,
    ) -> Response {
        let len = validators.len;
        match preconditions(req.headers(), validators) {
            Precondition::Failed => return Response::new(StatusCode::PRECONDITION_FAILED),
            Precondition::NotModified => {
                let mut response = Response::new(StatusCode::NOT_MODIFIED);
                self.validator_headers(response.headers_mut(), validators);
                return response;
            }
            Precondition::Pass => {}
        }
        // RFC 9110 §14.2: ranges are defined for GET only. The variant is never chosen
        // with a `Range`, so `encoding` is `None` whenever one is honored.
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
            ByteRange::Whole => (StatusCode::OK, Body::sized_stream(file, len)),
            ByteRange::Part { first, last } => {
                if let Err(error) = file.seek(SeekFrom::Start(first)) {
                    return open_failed(&error);
                }
                let n = last - first + 1;
                (
                    StatusCode::PARTIAL_CONTENT,
                    Body::sized_stream(file.take(n), n),
                )
            }
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
        let mut response = Response::with_content_type(body, content_type).with_status(status);
        let headers = response.headers_mut();
        self.validator_headers(headers, validators);
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        match encoding {
            Some(encoding) => {
                headers.insert(
                    header::CONTENT_ENCODING,
                    HeaderValue::from_static(encoding.name()),
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
    fn validator_headers(&self, headers: &mut HeaderMap, validators: &Validators) {
        headers.insert(header::ETAG, header_value(validators.etag.clone()));
        if let Some(last_modified) = validators.last_modified {
            let date = httpdate::fmt_http_date(last_modified);
            headers.insert(header::LAST_MODIFIED, header_value(date));
        }
        if let Some(cache_control) = &self.cache_control {
            headers.insert(header::CACHE_CONTROL, cache_control.clone());
        }
        if self.precompressed_br || self.precompressed_gzip {
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
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

/// What a checked request path leads to.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// A regular file to serve (canonical, unless symlinks are followed), and its type.
    File {
        path: PathBuf,
        content_type: &'static str,
    },
    /// A directory asked for without its trailing slash: 308 to the slash form.
    Directory,
    /// Nothing to serve: the fallback file, or 404.
    Missing,
    /// A symlink out of the root: 404, never the fallback.
    Refused,
}

/// The names of the decoded `capture` (a trailing slash already removed), or `None` when
/// any of them is not a normal file name; see [`StaticFiles`].
fn relative_path(capture: &str, show_dot_files: bool) -> Option<Vec<&str>> {
    capture
        .split('/')
        .map(|name| is_normal_name(name, show_dot_files).then_some(name))
        .collect()
}

/// Whether `name` names an entry of a directory and nothing else on any platform: not
/// empty, `.` or `..`, no separator (`\` on Windows), no NUL, no `:` (a drive prefix such
/// as `c:`, or an NTFS stream), and not a dot-file unless they are shown.
fn is_normal_name(name: &str, show_dot_files: bool) -> bool {
    if name.is_empty() || name == "." || name == ".." {
        return false;
    }
    if name.starts_with('.') && !show_dot_files {
        return false;
    }
    if name.contains(['\\', '\0', ':']) {
        return false;
    }
    if cfg!(windows) && is_windows_device_or_alias(name) {
        return false;
    }
    // What the platform's path parser makes of it: exactly one normal component.
    let mut components = Path::new(name).components();
    matches!(
        (components.next(), components.next()),
        (Some(Component::Normal(_)), None)
    )
}

/// Whether Windows would open something else than the file `name`: a device, whatever the
/// directory and extension (`NUL`, `com1.txt`, `CONOUT$`), or the name without its
/// trailing dots and spaces (`secret.txt.` opens `secret.txt`).
fn is_windows_device_or_alias(name: &str) -> bool {
    if name.ends_with(['.', ' ']) {
        return true;
    }
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    if matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) {
        return true;
    }
    let port = upper
        .strip_prefix("COM")
        .or_else(|| upper.strip_prefix("LPT"));
    matches!(
        port,
        Some("0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³")
    )
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

/// The `Content-Type` for `path`'s extension.
fn content_type(path: &Path) -> &'static str {
    let Some(extension) = path.extension().and_then(|e| e.to_str()) else {
        return DEFAULT_CONTENT_TYPE;
    };
    CONTENT_TYPES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(extension))
        .map_or(DEFAULT_CONTENT_TYPE, |(_, content_type)| content_type)
}

/// A content coding of a precompressed sibling file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Br,
    Gzip,
}

impl Encoding {
    /// The `Content-Encoding` token.
    fn name(self) -> &'static str {
        match self {
            Encoding::Br => "br",
            Encoding::Gzip => "gzip",
        }
    }

    /// The suffix of the sibling file.
    fn extension(self) -> &'static str {
        match self {
            Encoding::Br => ".br",
            Encoding::Gzip => ".gz",
        }
    }

    /// Whether `coding`, a token of `Accept-Encoding`, names this coding.
    fn is_named(self, coding: &str) -> bool {
        match self {
            Encoding::Br => coding.eq_ignore_ascii_case("br"),
            // RFC 9110 §8.4.1.3: x-gzip is gzip.
            Encoding::Gzip => {
                coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip")
            }
        }
    }
}

/// The encodings of `offered` (in preference order) that `Accept-Encoding` accepts, best
/// first (RFC 9110 §12.5.3): a coding's own q-value, else that of `*`, else not accepted;
/// q=0 is "not acceptable". Ties keep `offered`'s order. Malformed members are skipped.
fn accepted_encodings(headers: &HeaderMap, offered: &[Encoding]) -> Vec<Encoding> {
    let mut members: Vec<(&str, u16)> = Vec::new();
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for member in value.split(',') {
            let mut parts = member.split(';');
            let coding = parts.next().unwrap_or("").trim();
            if coding.is_empty() {
                continue;
            }
            let mut q = Some(QVALUE_ONE);
            for parameter in parts {
                if let Some((name, value)) = parameter.split_once('=') {
                    if name.trim().eq_ignore_ascii_case("q") {
                        q = parse_qvalue(value.trim());
                    }
                }
            }
            if let Some(q) = q {
                members.push((coding, q));
            }
        }
    }
    let q_of = |encoding: Encoding| {
        let named = members.iter().find(|(coding, _)| encoding.is_named(coding));
        let any = || members.iter().find(|(coding, _)| *coding == "*");
        named.or_else(any).map_or(0, |&(_, q)| q)
    };
    let mut accepted: Vec<(Encoding, u16)> = offered
        .iter()
        .map(|&encoding| (encoding, q_of(encoding)))
        .filter(|&(_, q)| q > 0)
        .collect();
    accepted.sort_by_key(|&(_, q)| std::cmp::Reverse(q)); // stable: ties keep the offered order
    accepted.into_iter().map(|(encoding, _)| encoding).collect()
}

/// q=1 in thousandths.
const QVALUE_ONE: u16 = 1000;

/// A qvalue (RFC 9110 §12.4.2: `0`, `0.5`, `1.000`) in thousandths.
fn parse_qvalue(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = match whole {
        "0" => 0,
        "1" => QVALUE_ONE,
        _ => return None,
    };
    let fraction = fraction
        .bytes()
        .zip([100, 10, 1])
        .map(|(digit, weight)| u16::from(digit - b'0') * weight)
        .sum::<u16>();
    let q = whole + fraction;
    (q <= QVALUE_ONE).then_some(q)
}

/// The validators of the representation served (RFC 9110 §8.8).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Validators {
    len: u64,
    /// Strong, quoted: `"<len hex>-<mtime nanoseconds hex>"`, plus `-br` or `-gz` for a
    /// precompressed sibling.
    etag: String,
    /// The modification time, in whole seconds, never later than now (§8.8.2.1); `None`
    /// when the platform has none.
    last_modified: Option<SystemTime>,
}

impl Validators {
    fn new(
        len: u64,
        modified: Option<SystemTime>,
        encoding: Option<Encoding>,
        now: SystemTime,
    ) -> Self {
        let since_epoch = |time: SystemTime| time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let nanos = modified.map_or(0, |modified| since_epoch(modified).as_nanos());
        let suffix = match encoding {
            Some(Encoding::Br) => "-br",
            Some(Encoding::Gzip) => "-gz",
            None => "",
        };
        let last_modified = modified.map(|modified| {
            // §8.8.2.1: a modification time in the future is replaced by the present.
            let seconds = since_epoch(modified.min(now)).as_secs();
            UNIX_EPOCH + Duration::from_secs(seconds)
        });
        Self {
            len,
            etag: format!("\"{len:x}-{nanos:x}{suffix}\""),
            last_modified,
        }
    }

    /// The opaque part of the ETag, between the quotes.
    fn opaque_tag(&self) -> &str {
        self.etag.trim_matches('"')
    }

    /// Whether the representation was modified after `date` (second precision); `false`
    /// without a modification time.
    fn modified_after(&self, date: SystemTime) -> bool {
        self.last_modified.is_some_and(|modified| modified > date)
    }
}

/// The outcome of a request's preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precondition {
    Pass,
    /// 304: the client's copy is current.
    NotModified,
    /// 412.
    Failed,
}

/// Evaluates the preconditions of a GET or HEAD in the order of RFC 9110 §13.2.2.
fn preconditions(headers: &HeaderMap, validators: &Validators) -> Precondition {
    let current = validators.opaque_tag();
    // Steps 1 and 2: If-Match (strong comparison, §13.1.1), else If-Unmodified-Since.
    if let Some(tags) = entity_tags(headers, header::IF_MATCH) {
        if !tags.matches(current, Comparison::Strong) {
            return Precondition::Failed;
        }
    } else if let Some(date) = http_date(headers, header::IF_UNMODIFIED_SINCE) {
        if validators.modified_after(date) {
            return Precondition::Failed;
        }
    }
    // Steps 3 and 4: If-None-Match (weak comparison, §13.1.2), else If-Modified-Since
    // (§13.1.3). For GET and HEAD a false condition is 304.
    if let Some(tags) = entity_tags(headers, header::IF_NONE_MATCH) {
        if tags.matches(current, Comparison::Weak) {
            return Precondition::NotModified;
        }
    } else if let Some(date) = http_date(headers, header::IF_MODIFIED_SINCE) {
        if validators.last_modified.is_some() && !validators.modified_after(date) {
            return Precondition::NotModified;
        }
    }
    Precondition::Pass
}

/// Whether an `If-Range` (RFC 9110 §13.1.5) lets the `Range` apply: absent, or a strong
/// ETag equal to the current one, or a date equal to `Last-Modified`. Anything else (a
/// weak tag, another tag or date, a malformed value) means the whole file.
fn if_range_holds(headers: &HeaderMap, validators: &Validators, now: SystemTime) -> bool {
    let mut values = headers.get_all(header::IF_RANGE).iter();
    let Some(value) = values.next() else {
        return true;
    };
    let (Ok(value), None) = (value.to_str(), values.next()) else {
        return false;
    };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        return match parse_entity_tag(value) {
            Some((tag, "")) => tag.matches(validators.opaque_tag(), Comparison::Strong),
            _ => false,
        };
    }
    // A date is a strong validator only if the file did not change within the second it
    // names (RFC 9110 §13.1.5, §8.8.2.2): Last-Modified at least a second before now.
    match (httpdate::parse_http_date(value), validators.last_modified) {
        (Ok(date), Some(last_modified)) => {
            date == last_modified && last_modified + Duration::from_secs(1) <= now
        }
        _ => false,
    }
}

/// The value of a header that must appear once; `None` when absent, repeated or not text.
fn single_value(headers: &HeaderMap, name: HeaderName) -> Option<&str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    match values.next() {
        Some(_) => None,
        None => value.to_str().ok(),
    }
}

/// An HTTP-date header (RFC 9110 §5.6.7); `None` when absent, repeated or invalid, which
/// the conditional headers treat alike (§13.1.3, §13.1.4: the header is ignored).
fn http_date(headers: &HeaderMap, name: HeaderName) -> Option<SystemTime> {
    httpdate::parse_http_date(single_value(headers, name)?.trim()).ok()
}

/// How two entity tags are compared (RFC 9110 §8.8.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    /// Both strong and equal.
    Strong,
    /// Equal, weak or not.
    Weak,
}

/// One entity tag of a request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntityTag<'a> {
    weak: bool,
    /// Between the quotes.
    opaque: &'a str,
}

impl EntityTag<'_> {
    /// Whether this tag matches the current strong tag `current` (its opaque part).
    fn matches(self, current: &str, comparison: Comparison) -> bool {
        let strong_enough = comparison == Comparison::Weak || !self.weak;
        strong_enough && self.opaque == current
    }
}

/// The entity tags of an `If-Match` or `If-None-Match` (all its lines).
#[derive(Debug, Clone, PartialEq, Eq)]
enum EntityTags<'a> {
    /// `*`: any current representation (there is one: the file is open).
    Any,
    Tags(Vec<EntityTag<'a>>),
}

impl EntityTags<'_> {
    fn matches(&self, current: &str, comparison: Comparison) -> bool {
        match self {
            EntityTags::Any => true,
            EntityTags::Tags(tags) => tags.iter().any(|tag| tag.matches(current, comparison)),
        }
    }
}

/// The tags of header `name`, `None` when it is absent. Parsing stops at the first
/// malformed member, keeping the tags before it.
fn entity_tags(headers: &HeaderMap, name: HeaderName) -> Option<EntityTags<'_>> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let mut tags = Vec::new();
    for value in values {
        let Ok(mut rest) = value.to_str() else {
            continue;
        };
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                break;
            }
            if let Some(after) = rest.strip_prefix('*') {
                if after.trim_start_matches([' ', '\t']).is_empty()
                    || after.trim_start().starts_with(',')
                {
                    return Some(EntityTags::Any);
                }
                break;
            }
            match parse_entity_tag(rest) {
                Some((tag, after)) => {
                    tags.push(tag);
                    rest = after;
                }
                None => break,
            }
        }
    }
    Some(EntityTags::Tags(tags))
}

/// One `entity-tag` (`"xyz"` or `W/"xyz"`, RFC 9110 §8.8.3) at the start of `input`, and
/// what follows it.
fn parse_entity_tag(input: &str) -> Option<(EntityTag<'_>, &str)> {
    let (weak, quoted) = match input.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, input),
    };
    let inner = quoted.strip_prefix('"')?;
    let end = inner.find('"')?;
    let opaque = &inner[..end];
    // etagc: %x21 / %x23-7E / obs-text; no spaces or controls.
    if opaque.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return None;
    }
    Some((EntityTag { weak, opaque }, &inner[end + 1..]))
}

/// What a `Range` header asks of a representation of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ByteRange {
    /// The whole representation, 200: no usable range (malformed, several, other units).
    Whole,
    /// 206 with these bytes, `last` included.
    Part { first: u64, last: u64 },
    /// 416: the range starts at or past the end.
    Unsatisfiable,
}

/// Parses `Range: bytes=...` (RFC 9110 §14.1.2) against a length (§14.1.1):
/// `first-last` (`last` clamped to the end), `first-`, and `-suffix` (the last bytes).
/// Numbers too large for `u64` saturate: a huge `first` is past the end, a huge `last` or
/// suffix covers the rest.
fn byte_range(value: &str, len: u64) -> ByteRange {
    let Some((unit, set)) = value.trim().split_once('=') else {
        return ByteRange::Whole;
    };
    if !unit.eq_ignore_ascii_case("bytes") {
        return ByteRange::Whole;
    }
    // A list may have empty members (§5.6.1.2); more than one range: the whole file.
    let mut specs = set
        .split(',')
        .map(str::trim)
        .filter(|spec| !spec.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return ByteRange::Whole;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return ByteRange::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    match (first.is_empty(), last.is_empty()) {
        // `-suffix`
        (true, false) => {
            let Some(suffix) = saturating_digits(last) else {
                return ByteRange::Whole;
            };
            match (suffix, len) {
                (0, _) => ByteRange::Unsatisfiable,
                // The whole of nothing cannot be written as a Content-Range.
                (_, 0) => ByteRange::Whole,
                _ => ByteRange::Part {
                    first: len - suffix.min(len),
                    last: len - 1,
                },
            }
        }
        // `first-` and `first-last`
        (false, _) => {
            let Some(first) = saturating_digits(first) else {
                return ByteRange::Whole;
            };
            let last = match last.is_empty() {
                true => u64::MAX,
                false => match saturating_digits(last) {
                    Some(last) if last >= first => last,
                    // §14.1.1: last < first makes the range-spec invalid.
                    _ => return ByteRange::Whole,
                },
            };
            match first < len {
                true => ByteRange::Part {
                    first,
                    last: last.min(len - 1),
                },
                false => ByteRange::Unsatisfiable,
            }
        }
        (true, true) => ByteRange::Whole,
    }
}

/// A run of ASCII digits as a number, saturating at `u64::MAX`; `None` for anything else
/// (`+5`, `5a`, empty), which `str::parse` would partly accept.
fn saturating_digits(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.bytes().fold(0u64, |n, digit| {
        n.saturating_mul(10).saturating_add(u64::from(digit - b'0'))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    // --- paths ---------------------------------------------------------------------------

    #[test]
    fn normal_names_are_accepted() {
        assert_eq!(
            relative_path("css/site.css", false),
            Some(vec!["css", "site.css"])
        );
        assert_eq!(
            relative_path("a b/ü.txt", false),
            Some(vec!["a b", "ü.txt"])
        );
        assert_eq!(relative_path("x..y", false), Some(vec!["x..y"]));
        assert_eq!(relative_path("..x", true), Some(vec!["..x"]));
    }

    #[test]
    fn parent_and_current_directory_names_are_refused() {
        for capture in [
            "..",
            "../etc/passwd",
            "a/../../b",
            "a/..",
            ".",
            "./a",
            "a/./b",
        ] {
            assert_eq!(relative_path(capture, false), None, "{capture:?}");
            assert_eq!(
                relative_path(capture, true),
                None,
                "{capture:?} with dot-files"
            );
        }
    }

    #[test]
    fn empty_names_from_double_or_leading_slashes_are_refused() {
        for capture in ["", "/etc/passwd", "a//b", "a/", "//"] {
            assert_eq!(relative_path(capture, false), None, "{capture:?}");
        }
    }

    #[test]
    fn backslashes_nul_and_drive_prefixes_are_refused() {
        for capture in [
            "..\\secret",
            "a\\b",
            "\\\\server\\share",
            "a\0.txt",
            "\0",
            "c:",
            "c:/windows",
            "C:\\Windows",
            "file.txt:stream",
        ] {
            assert_eq!(relative_path(capture, true), None, "{capture:?}");
        }
    }

    #[test]
    fn dot_files_are_refused_unless_shown() {
        for capture in [".env", ".git/config", "a/.hidden/b", ".well-known/x"] {
            assert_eq!(relative_path(capture, false), None, "{capture:?}");
            assert!(relative_path(capture, true).is_some(), "{capture:?}");
        }
    }

    #[test]
    fn windows_devices_and_trailing_dots_are_recognised() {
        for name in [
            "NUL",
            "nul.txt",
            "Con",
            "aux.tar.gz",
            "COM1",
            "lpt9.log",
            "com¹",
            "CONOUT$",
            "prn .txt",
            "secret.txt.",
            "index.html ",
        ] {
            assert!(is_windows_device_or_alias(name), "{name:?}");
        }
        for name in [
            "null",
            "console.log",
            "com10",
            "lpt",
            "index.html",
            "comma.css",
        ] {
            assert!(!is_windows_device_or_alias(name), "{name:?}");
        }
    }

    // --- content types -------------------------------------------------------------------

    #[test]
    fn content_types_follow_the_extension() {
        let cases = [
            ("index.html", "text/html; charset=utf-8"),
            ("INDEX.HTM", "text/html; charset=utf-8"),
            ("site.css", "text/css; charset=utf-8"),
            ("app.js", "text/javascript; charset=utf-8"),
            ("mod.mjs", "text/javascript; charset=utf-8"),
            ("data.json", "application/json"),
            ("app.js.map", "application/json"),
            ("notes.txt", "text/plain; charset=utf-8"),
            ("README.md", "text/markdown; charset=utf-8"),
            ("table.csv", "text/csv; charset=utf-8"),
            ("logo.svg", "image/svg+xml"),
            ("a.png", "image/png"),
            ("a.JPG", "image/jpeg"),
            ("a.jpeg", "image/jpeg"),
            ("a.webp", "image/webp"),
            ("a.avif", "image/avif"),
            ("favicon.ico", "image/x-icon"),
            ("f.woff2", "font/woff2"),
            ("m.wasm", "application/wasm"),
            ("d.pdf", "application/pdf"),
            ("v.mp4", "video/mp4"),
            ("s.mp3", "audio/mpeg"),
            ("bundle.js.gz", "application/gzip"),
        ];
        for (name, expected) in cases {
            assert_eq!(content_type(Path::new(name)), expected, "{name}");
        }
        for name in ["Makefile", "data.bin", "archive.7z", "trailing."] {
            assert_eq!(
                content_type(Path::new(name)),
                DEFAULT_CONTENT_TYPE,
                "{name}"
            );
        }
    }

    #[test]
    fn every_content_type_is_a_valid_header_value() {
        for (extension, content_type) in CONTENT_TYPES {
            assert!(
                HeaderValue::from_str(content_type).is_ok(),
                "{extension}: {content_type}"
            );
            assert_eq!(*extension, extension.to_ascii_lowercase());
        }
    }

    // --- ranges --------------------------------------------------------------------------

    #[test]
    fn single_ranges_are_parsed_and_clamped() {
        let part = |first, last| ByteRange::Part { first, last };
        let cases = [
            ("bytes=0-99", part(0, 99)),
            ("bytes=0-0", part(0, 0)),
            ("bytes=10-", part(10, 999)),
            ("bytes=-100", part(900, 999)),
            ("bytes=-5000", part(0, 999)),
            ("bytes=990-5000", part(990, 999)),
            ("bytes=999-", part(999, 999)),
            ("BYTES=1-2", part(1, 2)),
            ("bytes= 1-2 ", part(1, 2)),
            ("bytes=1-2,", part(1, 2)),
            ("bytes=0-99999999999999999999999", part(0, 999)),
            ("bytes=-99999999999999999999999", part(0, 999)),
        ];
        for (value, expected) in cases {
            assert_eq!(byte_range(value, 1000), expected, "{value}");
        }
    }

    #[test]
    fn ranges_past_the_end_are_unsatisfiable() {
        for value in [
            "bytes=1000-",
            "bytes=1000-2000",
            "bytes=5000-5000",
            "bytes=-0",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(byte_range(value, 1000), ByteRange::Unsatisfiable, "{value}");
        }
        assert_eq!(byte_range("bytes=0-", 0), ByteRange::Unsatisfiable);
    }

    #[test]
    fn malformed_multiple_or_foreign_ranges_get_the_whole_file() {
        for value in [
            "bytes=0-1,5-6",
            "bytes=-1,-2",
            "bytes=5-1",
            "bytes=-",
            "bytes=",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=1-+2",
            "bytes=0x1-2",
            "bytes 0-1",
            "items=0-1",
            "0-1",
            "",
        ] {
            assert_eq!(byte_range(value, 1000), ByteRange::Whole, "{value}");
        }
        assert_eq!(byte_range("bytes=-5", 0), ByteRange::Whole, "empty file");
    }

    // --- validators and preconditions ----------------------------------------------------

    const MTIME_SECS: u64 = 1_700_000_000;
    const DATE_AT_MTIME: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
    const DATE_BEFORE: &str = "Tue, 14 Nov 2023 22:13:19 GMT";
    const DATE_AFTER: &str = "Tue, 14 Nov 2023 22:13:21 GMT";

    fn validators() -> Validators {
        let modified = UNIX_EPOCH + Duration::new(MTIME_SECS, 500);
        Validators::new(0x1234, Some(modified), None, SystemTime::now())
    }

    #[test]
    fn etag_is_strong_from_size_and_mtime_and_names_the_variant() {
        let v = validators();
        let nanos = u128::from(MTIME_SECS) * 1_000_000_000 + 500;
        assert_eq!(v.etag, format!("\"1234-{nanos:x}\""));
        assert_eq!(
            httpdate::fmt_http_date(v.last_modified.unwrap()),
            DATE_AT_MTIME
        );
        let modified = UNIX_EPOCH + Duration::from_secs(MTIME_SECS);
        let br = Validators::new(5, Some(modified), Some(Encoding::Br), SystemTime::now());
        assert!(br.etag.ends_with("-br\""), "{}", br.etag);
        let gz = Validators::new(5, Some(modified), Some(Encoding::Gzip), SystemTime::now());
        assert!(gz.etag.ends_with("-gz\""), "{}", gz.etag);
        let none = Validators::new(5, None, None, SystemTime::now());
        assert_eq!((none.etag.as_str(), none.last_modified), ("\"5-0\"", None));
    }

    #[test]
    fn last_modified_in_the_future_is_now() {
        let now = UNIX_EPOCH + Duration::from_secs(MTIME_SECS);
        let future = now + Duration::from_secs(3600);
        let v = Validators::new(1, Some(future), None, now);
        assert_eq!(v.last_modified, Some(now));
    }

    #[test]
    fn preconditions_follow_rfc_9110_order() {
        let v = validators();
        let etag = v.etag.clone();
        let weak = format!("W/{etag}");
        let other = "\"other\"";
        let check = |pairs: &[(&str, &str)]| preconditions(&headers(pairs), &v);
        use Precondition::*;
        // Nothing asked.
        assert_eq!(check(&[]), Pass);
        // If-Match: strong comparison, `*`, lists.
        assert_eq!(check(&[("if-match", &etag)]), Pass);
        assert_eq!(check(&[("if-match", "*")]), Pass);
        assert_eq!(check(&[("if-match", &format!("{other}, {etag}"))]), Pass);
        assert_eq!(check(&[("if-match", other)]), Failed);
        assert_eq!(check(&[("if-match", &weak)]), Failed);
        // If-Unmodified-Since, only without If-Match.
        assert_eq!(check(&[("if-unmodified-since", DATE_AT_MTIME)]), Pass);
        assert_eq!(check(&[("if-unmodified-since", DATE_AFTER)]), Pass);
        assert_eq!(check(&[("if-unmodified-since", DATE_BEFORE)]), Failed);
        assert_eq!(check(&[("if-unmodified-since", "yesterday")]), Pass);
        assert_eq!(
            check(&[("if-match", &etag), ("if-unmodified-since", DATE_BEFORE)]),
            Pass,
            "If-Match wins over If-Unmodified-Since"
        );
        // If-None-Match: weak comparison.
        assert_eq!(check(&[("if-none-match", &etag)]), NotModified);
        assert_eq!(check(&[("if-none-match", &weak)]), NotModified);
        assert_eq!(check(&[("if-none-match", "*")]), NotModified);
        assert_eq!(check(&[("if-none-match", other)]), Pass);
        // If-Modified-Since, only without If-None-Match.
        assert_eq!(check(&[("if-modified-since", DATE_AT_MTIME)]), NotModified);
        assert_eq!(check(&[("if-modified-since", DATE_AFTER)]), NotModified);
        assert_eq!(check(&[("if-modified-since", DATE_BEFORE)]), Pass);
        assert_eq!(check(&[("if-modified-since", "garbage")]), Pass);
        assert_eq!(
            check(&[("if-none-match", other), ("if-modified-since", DATE_AFTER)]),
            Pass,
            "If-None-Match wins over If-Modified-Since"
        );
        // A failed If-Match is 412 even when If-None-Match would be 304.
        assert_eq!(
            check(&[("if-match", other), ("if-none-match", &etag)]),
            Failed
        );
        assert_eq!(
            check(&[
                ("if-unmodified-since", DATE_BEFORE),
                ("if-none-match", &etag)
            ]),
            Failed
        );
    }

    #[test]
    fn dates_sent_twice_are_ignored() {
        let v = validators();
        let map = headers(&[
            ("if-modified-since", DATE_AFTER),
            ("if-modified-since", DATE_AFTER),
        ]);
        assert_eq!(preconditions(&map, &v), Precondition::Pass);
    }

    #[test]
    fn entity_tag_lists_are_parsed_across_lines() {
        let map = headers(&[
            ("if-none-match", "\"a\", W/\"b\""),
            ("if-none-match", " ,\"c,d\""),
        ]);
        let tags = entity_tags(&map, header::IF_NONE_MATCH).unwrap();
        let tag = |weak, opaque| EntityTag { weak, opaque };
        assert_eq!(
            tags,
            EntityTags::Tags(vec![tag(false, "a"), tag(true, "b"), tag(false, "c,d")])
        );
        assert!(entity_tags(&HeaderMap::new(), header::IF_NONE_MATCH).is_none());
        let junk = headers(&[("if-match", "\"a\" junk \"b\"")]);
        assert_eq!(
            entity_tags(&junk, header::IF_MATCH),
            Some(EntityTags::Tags(vec![tag(false, "a")]))
        );
        let unquoted = headers(&[("if-match", "abc")]);
        assert_eq!(
            entity_tags(&unquoted, header::IF_MATCH),
            Some(EntityTags::Tags(vec![]))
        );
    }

    #[test]
    fn if_range_needs_a_strong_tag_or_the_exact_date() {
        let v = validators();
        let later = SystemTime::now();
        let holds = |value: &str| if_range_holds(&headers(&[("if-range", value)]), &v, later);
        assert!(if_range_holds(&HeaderMap::new(), &v, later), "absent");
        assert!(holds(&v.etag));
        assert!(holds(DATE_AT_MTIME));
        assert!(!holds(&format!("W/{}", v.etag)), "weak");
        assert!(!holds("\"other\""));
        assert!(!holds(DATE_BEFORE));
        assert!(!holds(DATE_AFTER), "a later date is not an exact match");
        assert!(!holds("not a date"));
        assert!(!holds(&format!("{} trailing", v.etag)));
        // Within the second of the last change, the date is weak (RFC 9110 §13.1.5).
        let modified = v.last_modified.unwrap();
        let same_second = headers(&[("if-range", DATE_AT_MTIME)]);
        assert!(!if_range_holds(&same_second, &v, modified));
        assert!(!if_range_holds(
            &same_second,
            &v,
            modified + Duration::from_millis(999)
        ));
        assert!(if_range_holds(
            &same_second,
            &v,
            modified + Duration::from_secs(1)
        ));
    }

    // --- Accept-Encoding -----------------------------------------------------------------

    #[test]
    fn accepted_encodings_honor_q_values_and_the_offer_order() {
        use Encoding::*;
        let both = [Br, Gzip];
        let accepted =
            |value: &str| accepted_encodings(&headers(&[("accept-encoding", value)]), &both);
        assert_eq!(accepted("gzip, deflate, br"), [Br, Gzip]);
        assert_eq!(accepted("gzip"), [Gzip]);
        assert_eq!(accepted("x-gzip"), [Gzip]);
        assert_eq!(accepted("GZIP;Q=0.5, br;q=0.4"), [Gzip, Br]);
        assert_eq!(accepted("br;q=0, gzip"), [Gzip]);
        assert_eq!(accepted("*"), [Br, Gzip]);
        assert_eq!(accepted("*;q=0.1, gzip"), [Gzip, Br]);
        assert_eq!(accepted("*, br;q=0"), [Gzip]);
        assert_eq!(accepted("identity"), []);
        assert_eq!(
            accepted("gzip;q=2, br;q=abc"),
            [],
            "invalid q-values are skipped"
        );
        assert_eq!(accepted(""), []);
        assert_eq!(accepted_encodings(&HeaderMap::new(), &both), []);
        let gzip_only = accepted_encodings(&headers(&[("accept-encoding", "br, gzip")]), &[Gzip]);
        assert_eq!(gzip_only, [Gzip]);
    }

    #[test]
    fn qvalues_are_parsed_in_thousandths() {
        let cases = [
            ("1", Some(1000)),
            ("1.", Some(1000)),
            ("1.000", Some(1000)),
            ("0", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.001", Some(1)),
            ("1.001", None),
            ("0.0001", None),
            ("2", None),
            (".5", None),
            ("", None),
            ("0.-1", None),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_qvalue(value), expected, "{value:?}");
        }
    }
}

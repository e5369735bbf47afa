//! The reference app: the app every benchmark and acceptance run drives, to the contract
//! the load harness and its peer servers share (`reference-app.md`, kept beside the harness,
//! outside this repository): the core routes (`/plaintext`, `/json`, `/users/{id}`,
//! `/files/{*path}`, `POST /echo`, `/sleep/{ms}`, `/stream/{n}`, `/panic`) and the
//! capability routes and flags built so far (`/ws`, `/broadcast`, `/events`, `/upload`, `--static`,
//! `--metrics`, `--compress`, `--cors`, `--tls-cert`/`--tls-key`, `--shutdown-delay-ms`,
//! `--request-timeout-ms`, `--max-queue-wait-ms`, `--h2c`).
//!
//! `reference --addr 127.0.0.1:PORT --threads N`; SIGTERM or SIGINT shut it down gracefully
//! (stop accepting, finish in-flight requests, exit 0). With `--tls-cert FILE --tls-key FILE`
//! (a build with `--features tls`) it serves HTTPS instead of plain HTTP, and offers `h2`
//! with ALPN when built with `--features http2`; `--h2c` (`--features http2`) also serves
//! HTTP/2 with prior knowledge on `--addr`.

#[path = "support/signals.rs"]
mod signals;

use std::io::{self, Read};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, mpsc};
use std::time::{Duration, Instant};

use switchyard::http::{StatusCode, header};
use switchyard::live::{
    CloseFrame, Event, EventStream, Message, Topic, WebSocket, WebSocketSession,
};
use switchyard::multipart::MultipartError;
use switchyard::{
    Body, Cors, Handler, Health, Limits, Metrics, Rejection, Request, Response, Router, Server,
    ServerBuilder, StaticFiles,
};

/// Bounds the work one request may ask for, as the peers do.
const MAX_STREAM_CHUNKS: u64 = 1_000_000;
const MAX_SLEEP_MS: u64 = 60_000;
/// The contract has `POST /echo` take bodies "up to at least 64 MiB, Content-Length or
/// chunked": 64 MiB plus 1 MiB of margin, over the 2 MiB default.
const MAX_BODY_BYTES: u64 = 65 * 1024 * 1024;
/// The contract's `/events` interval.
const TICK: Duration = Duration::from_millis(100);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse_args()?;
    let builder = builder_with(&options);
    let server = if options.listen_from_env {
        builder.listener_from_env()?
    } else {
        builder.bind(options.addr.as_str())?
    };
    signals::shutdown_on_signals(server.shutdown_handle())?;
    server.run()?;
    Ok(())
}

/// The command line: the contract's flags, plus `--no-metrics` (not in the contract) to
/// measure what counting costs.
pub(crate) struct Options {
    pub(crate) addr: String,
    pub(crate) threads: usize,
    /// `--metrics`: serve `GET /metrics`.
    pub(crate) metrics_page: bool,
    /// `--no-metrics`: count nothing per request (`ServerBuilder::metrics(false)`).
    pub(crate) no_metrics: bool,
    /// `--static DIR`: serve DIR at `/static/`.
    pub(crate) static_dir: Option<std::path::PathBuf>,
    /// `--compress`: gzip on every route (feature `compression`).
    pub(crate) compress: bool,
    /// `--cors ORIGIN`: CORS for ORIGIN (`*`: any) on every route.
    pub(crate) cors: Option<String>,
    /// `--reuse-port`: bind with SO_REUSEPORT (not in the contract: for deploy/).
    pub(crate) reuse_port: bool,
    /// `--shutdown-delay-ms MS`: on SIGTERM keep serving MS with `/healthz` at 503 (not in
    /// the contract: for deploy/; also serves `GET /healthz`).
    pub(crate) shutdown_delay_ms: Option<u64>,
    /// `--request-timeout-ms N`: handlers still running after N ms are answered 503 (and
    /// cancelled: `/sleep` stops early).
    pub(crate) request_timeout_ms: Option<u64>,
    /// `--max-queue-wait-ms N`: requests that waited over N ms for a worker are answered
    /// 503 without running.
    pub(crate) max_queue_wait_ms: Option<u64>,
    /// `--listen-from-env`: serve the socket systemd passed (LISTEN_FDS), not `--addr`.
    pub(crate) listen_from_env: bool,
    /// `--tls-cert FILE --tls-key FILE`: serve HTTPS with this PEM chain and key (feature
    /// `tls`; not in the contract: for benches/tls-load.sh).
    pub(crate) tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// `--h2c`: also serve HTTP/2 with prior knowledge on `--addr` (feature `http2`).
    pub(crate) h2c: bool,
    /// `--noop-middleware N`: N middlewares that only call the next one (not in the
    /// contract: measures what a middleware chain costs).
    pub(crate) noop_middleware: usize,
    /// `--extra-routes N`: N more routes, half with a parameter (not in the contract:
    /// measures what a large router costs).
    pub(crate) extra_routes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            addr: String::from("127.0.0.1:8080"),
            threads: 8,
            metrics_page: false,
            no_metrics: false,
            static_dir: None,
            compress: false,
            cors: None,
            reuse_port: false,
            shutdown_delay_ms: None,
            request_timeout_ms: None,
            max_queue_wait_ms: None,
            listen_from_env: false,
            tls: None,
            h2c: false,
            noop_middleware: 0,
            extra_routes: 0,
        }
    }
}

/// The server as the flags in `options` ask, ready to bind (`tests/reference.rs` drives
/// this same setup).
///
/// # Panics
///
/// When `--cors` names an invalid origin, `--compress` or `--tls-cert` is asked of a build
/// without its feature, or the TLS files do not load: `parse_args` refuses them first.
pub(crate) fn builder_with(options: &Options) -> ServerBuilder {
    // Outermost first: CORS answers preflights before anything else runs.
    let mut app = match &options.cors {
        Some(origin) => Router::new().plugin(cors(origin).expect("parse_args checked it")),
        None => Router::new(),
    }
    .merge(app());
    for i in 0..options.extra_routes {
        let path = match i % 2 {
            0 => format!("/api/v1/resource{i}/{{id}}"),
            _ => format!("/api/v1/resource{i}/items"),
        };
        app = app.get(&path, |_: &Request| "extra");
    }
    for _ in 0..options.noop_middleware {
        app = app.middleware(|req: &mut Request, next: switchyard::Next<'_>| next.run(req));
    }
    if options.compress {
        #[cfg(feature = "compression")]
        {
            app = app.plugin(switchyard::Compression::new());
        }
        #[cfg(not(feature = "compression"))]
        panic!("--compress needs the compression feature");
    }
    if options.metrics_page {
        app = app.plugin(Metrics::new());
    }
    if let Some(dir) = &options.static_dir {
        app = app.nest("/static", StaticFiles::new(dir));
    }
    let mut builder = Server::builder();
    if let Some(ms) = options.shutdown_delay_ms {
        app = app.plugin(Health::new());
        builder = builder.shutdown_delay(std::time::Duration::from_millis(ms));
    }
    if let Some((cert, key)) = &options.tls {
        #[cfg(feature = "tls")]
        {
            let config = switchyard::tls::TlsConfig::from_pem_files(cert, key)
                .expect("parse_args checked the files");
            builder = builder.tls(config);
        }
        #[cfg(not(feature = "tls"))]
        panic!("--tls-cert {cert:?} --tls-key {key:?} need the tls feature");
    }
    if options.h2c {
        #[cfg(feature = "http2")]
        {
            builder = builder.h2c(true);
        }
        #[cfg(not(feature = "http2"))]
        panic!("--h2c needs the http2 feature");
    }
    let mut limits = Limits::default().max_body_bytes(MAX_BODY_BYTES);
    if let Some(ms) = options.request_timeout_ms {
        limits = limits.handler_timeout(std::time::Duration::from_millis(ms));
    }
    if let Some(ms) = options.max_queue_wait_ms {
        limits = limits.max_queue_wait(std::time::Duration::from_millis(ms));
    }
    builder
        .reuse_port(options.reuse_port)
        .threads(options.threads)
        .limits(limits)
        .metrics(!options.no_metrics)
        .app(app)
}

/// The contract's routes.
fn app() -> Router {
    Router::new()
        .get("/plaintext", |_: &Request| {
            Response::with_content_type(Body::from("Hello, World!"), "text/plain")
        })
        .get("/json", |_: &Request| {
            Response::with_content_type(
                Body::from(r#"{"message":"Hello, World!"}"#),
                "application/json",
            )
        })
        .get("/users/{id}", |req: &Request| {
            Response::with_content_type(
                Body::from(format!("user {}", req.param("id").unwrap_or_default())),
                "text/plain",
            )
        })
        .get("/files/{*path}", |req: &Request| {
            Response::with_content_type(
                Body::from(format!("file {}", req.param("path").unwrap_or_default())),
                "text/plain",
            )
        })
        .post("/echo", echo)
        .post("/upload", upload.max_body_bytes(MAX_UPLOAD_BYTES))
        .get("/sleep/{ms}", sleep)
        .get("/stream/{n}", stream)
        .get("/panic", |_: &Request| -> Response {
            panic!("the /panic route panics")
        })
        .websocket("/ws", |_: &Request| {
            |ws: &WebSocket, message: Message| {
                let _ = ws.send(message);
            }
        })
        .get("/events", events(Ticker::start()))
        .websocket("/broadcast", {
            let everyone = Topic::new();
            move |_: &Request| Broadcast(everyone.clone())
        })
}

/// `GET /events`: `id: {i}` / `data: tick {i}` every 100 ms, from `Last-Event-ID` + 1.
fn events(ticker: Ticker) -> impl Fn(&Request) -> Response + Send + Sync + 'static {
    move |req: &Request| {
        let first = req
            .last_event_id()
            .and_then(|id| id.parse::<u64>().ok())
            .map_or(1, |id| id.saturating_add(1));
        let (response, stream) = Response::events();
        ticker.add(stream, first);
        response
    }
}

/// One thread ticks every event stream (a thread per stream would defeat the point),
/// started by the first stream.
#[derive(Clone, Default)]
struct Ticker(Arc<OnceLock<Mutex<NewStreams>>>);

/// Where new streams go to the ticker thread, with the first tick each gets.
type NewStreams = mpsc::Sender<(EventStream, u64)>;

impl Ticker {
    fn start() -> Self {
        Self::default()
    }

    fn add(&self, stream: EventStream, first: u64) {
        let sender = self.0.get_or_init(|| Mutex::new(Self::spawn()));
        let _ = sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send((stream, first));
    }

    fn spawn() -> NewStreams {
        let (sender, new_streams) = mpsc::channel::<(EventStream, u64)>();
        std::thread::spawn(move || {
            let mut streams: Vec<(EventStream, u64)> = Vec::new();
            let mut next_tick = Instant::now() + TICK;
            loop {
                let incoming = if streams.is_empty() {
                    new_streams
                        .recv()
                        .map_err(|_| mpsc::RecvTimeoutError::Disconnected)
                } else {
                    new_streams.recv_timeout(next_tick.saturating_duration_since(Instant::now()))
                };
                match incoming {
                    Ok(stream) => {
                        if streams.is_empty() {
                            next_tick = Instant::now() + TICK;
                        }
                        streams.push(stream);
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
                streams.retain_mut(|(stream, i)| {
                    let event = Event::new().id(i.to_string()).data(format!("tick {i}"));
                    *i += 1;
                    stream.send(&event).is_ok()
                });
                next_tick += TICK;
            }
        });
        sender
    }
}

/// `GET /broadcast`: every message goes to every /broadcast connection.
struct Broadcast(Topic<WebSocket>);

impl WebSocketSession for Broadcast {
    fn on_open(&mut self, ws: &WebSocket) {
        self.0.subscribe(ws.clone());
    }

    fn on_message(&mut self, _ws: &WebSocket, message: Message) {
        self.0.send(message);
    }

    fn on_close(&mut self, ws: &WebSocket, _frame: Option<CloseFrame>) {
        self.0.unsubscribe(ws);
    }
}

fn echo(req: &Request) -> Response {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or(header::HeaderValue::from_static("application/octet-stream"));
    Response::new(StatusCode::OK)
        .with_header(header::CONTENT_TYPE, content_type)
        .with_body(req.body().to_vec())
}

/// The contract has `POST /upload` take bodies "up to at least 1 GiB": 4 GiB.
const MAX_UPLOAD_BYTES: u64 = 4 << 30;

/// `POST /upload`: a multipart/form-data body, gathered with no worker waiting for it (past
/// 1 MiB spooled to a temporary file as it arrives, so nothing large is held in memory)
/// and read part by part; a JSON array with each part's name, file name, size and SHA-256.
fn upload(req: &Request) -> Result<Response, Rejection> {
    let mut form = req.multipart()?.max_field_bytes(MAX_UPLOAD_BYTES);
    let mut entries = Vec::new();
    while let Some(mut part) = form.next_part()? {
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        let mut size = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = part.read(&mut buf).map_err(MultipartError::from)?;
            if n == 0 {
                break;
            }
            digest.update(&buf[..n]);
            size += n as u64;
        }
        let sha256: String = digest
            .finish()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let filename = part
            .filename()
            .map_or_else(|| "null".to_owned(), json_string);
        entries.push(format!(
            r#"{{"name":{},"filename":{filename},"size":{size},"sha256":"{sha256}"}}"#,
            json_string(part.name())
        ));
    }
    Ok(Response::with_content_type(
        Body::from(format!("[{}]", entries.join(","))),
        "application/json",
    ))
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn sleep(req: &Request) -> Result<Response, Rejection> {
    let ms: u64 = req.param_as("ms")?;
    if ms > MAX_SLEEP_MS {
        return Err(Rejection::new(StatusCode::BAD_REQUEST, "at most 60000 ms"));
    }
    // A request nobody waits for any more (its deadline passed, its client left) wakes
    // and stops at once.
    if let Err(reason) = req.cancellation().sleep(Duration::from_millis(ms)) {
        let body = Body::from(format!("cancelled: {reason}"));
        return Ok(Response::with_content_type(body, "text/plain"));
    }
    Ok(Response::with_content_type(
        Body::from(format!("slept {ms}")),
        "text/plain",
    ))
}

fn stream(req: &Request) -> Result<Response, Rejection> {
    let n: u64 = req.param_as("n")?;
    if n > MAX_STREAM_CHUNKS {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "at most 1000000 chunks",
        ));
    }
    Ok(Response::with_content_type(
        Body::stream(Chunks { next: 0, n }),
        "text/plain",
    ))
}

/// Yields `chunk {i}\n` for i in 0..n, one per read, so each is sent as its own chunk.
struct Chunks {
    next: u64,
    n: u64,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.next == self.n {
            return Ok(0);
        }
        let chunk = format!("chunk {}\n", self.next);
        if chunk.len() > buf.len() {
            return Err(io::Error::other("read buffer too small for a chunk"));
        }
        buf[..chunk.len()].copy_from_slice(chunk.as_bytes());
        self.next += 1;
        Ok(chunk.len())
    }
}

/// CORS for `origin` (`*`: any origin), any method and request header.
fn cors(origin: &str) -> Result<Cors, switchyard::plugin::CorsError> {
    let builder = Cors::builder().allow_any_method().allow_any_header();
    match origin {
        "*" => builder.allow_any_origin(),
        origin => builder.allow_origins([origin]),
    }
    .build()
}

fn parse_args() -> Result<Options, Box<dyn std::error::Error>> {
    let mut options = Options::default();
    let (mut tls_cert, mut tls_key) = (None::<String>, None::<String>);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => options.addr = args.next().ok_or("--addr needs HOST:PORT")?,
            "--threads" => options.threads = args.next().ok_or("--threads needs N")?.parse()?,
            "--metrics" => options.metrics_page = true,
            "--no-metrics" => options.no_metrics = true,
            "--compress" if cfg!(feature = "compression") => options.compress = true,
            "--compress" => {
                return Err("--compress needs: cargo build --features compression".into());
            }
            "--cors" => {
                let origin = args.next().ok_or("--cors needs ORIGIN")?;
                cors(&origin)?;
                options.cors = Some(origin);
            }
            "--reuse-port" => options.reuse_port = true,
            "--h2c" => {
                if !cfg!(feature = "http2") {
                    return Err("--h2c needs: cargo build --features http2".into());
                }
                options.h2c = true;
            }
            "--listen-from-env" => options.listen_from_env = true,
            "--shutdown-delay-ms" => {
                let ms = args.next().ok_or("--shutdown-delay-ms needs MS")?;
                options.shutdown_delay_ms = Some(ms.parse()?);
            }
            "--request-timeout-ms" => {
                let ms = args.next().ok_or("--request-timeout-ms needs N")?;
                options.request_timeout_ms = Some(ms.parse()?);
            }
            "--max-queue-wait-ms" => {
                let ms = args.next().ok_or("--max-queue-wait-ms needs N")?;
                options.max_queue_wait_ms = Some(ms.parse()?);
            }
            "--tls-cert" => tls_cert = Some(args.next().ok_or("--tls-cert needs FILE")?),
            "--tls-key" => tls_key = Some(args.next().ok_or("--tls-key needs FILE")?),
            "--static" => {
                options.static_dir = Some(args.next().ok_or("--static needs DIR")?.into())
            }
            "--noop-middleware" => {
                options.noop_middleware = args.next().ok_or("--noop-middleware needs N")?.parse()?
            }
            "--extra-routes" => {
                options.extra_routes = args.next().ok_or("--extra-routes needs N")?.parse()?
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: reference --addr HOST:PORT --threads N \
                     [--metrics] [--no-metrics] [--static DIR] \
                     [--compress] [--cors ORIGIN] \
                     [--reuse-port] [--shutdown-delay-ms MS] [--listen-from-env] \
                     [--tls-cert FILE --tls-key FILE] [--h2c] \
                     [--noop-middleware N] [--extra-routes N]"
                )
                .into());
            }
        }
    }
    options.tls = match (tls_cert, tls_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => {
            if !cfg!(feature = "tls") {
                return Err("--tls-cert and --tls-key need: cargo build --features tls".into());
            }
            #[cfg(feature = "tls")]
            switchyard::tls::TlsConfig::from_pem_files(&cert, &key)?;
            Some((cert.into(), key.into()))
        }
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    Ok(options)
}

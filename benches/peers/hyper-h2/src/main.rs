//! The reference app's `/plaintext` and `/json` on hyper 1.x's HTTP/2 server (h2c with prior
//! knowledge), on a tokio multi-thread runtime with `--threads` workers: the HTTP/2 peer of
//! benches/h2-load.sh.
//!
//! `peer-hyper-h2 --addr 127.0.0.1:PORT --threads N`; SIGTERM or SIGINT stop it.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

const PLAINTEXT: &str = "Hello, World!";
const JSON: &str = r#"{"message":"Hello, World!"}"#;

struct Args {
    addr: String,
    threads: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        addr: "127.0.0.1:8080".into(),
        threads: 8,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value,
            "--threads" => args.threads = value.parse().expect("--threads N"),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

fn response(status: StatusCode, content_type: &'static str, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

async fn route(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(match req.uri().path() {
        "/plaintext" => response(StatusCode::OK, "text/plain", PLAINTEXT),
        "/json" => response(StatusCode::OK, "application/json", JSON),
        _ => response(StatusCode::NOT_FOUND, "text/plain", "not found"),
    })
}

fn main() {
    let args = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(serve(args));
}

async fn serve(args: Args) {
    let listener = TcpListener::bind(&args.addr).await.expect("bind");
    let mut term = signal(SignalKind::terminate()).expect("sigterm");
    let mut int = signal(SignalKind::interrupt()).expect("sigint");
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let _ = http2::Builder::new(TokioExecutor::new())
                        .max_concurrent_streams(100)
                        .serve_connection(TokioIo::new(stream), service_fn(route))
                        .await;
                });
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
}

//! The reference app's `/plaintext` and `/json` on hyper 1.x (http1) over tokio-rustls, on a
//! tokio multi-thread runtime with `--threads` workers: the TLS peer of benches/tls-load.sh.
//!
//! `peer-hyper-tls --addr 127.0.0.1:PORT --threads N --cert CERT.pem --key KEY.pem`;
//! SIGTERM or SIGINT stop it.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio_rustls::TlsAcceptor;

const PLAINTEXT: &str = "Hello, World!";
const JSON: &str = r#"{"message":"Hello, World!"}"#;

struct Args {
    addr: String,
    threads: usize,
    cert: String,
    key: String,
}

fn parse_args() -> Args {
    let mut args = Args {
        addr: "127.0.0.1:8443".into(),
        threads: 8,
        cert: String::new(),
        key: String::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value,
            "--threads" => args.threads = value.parse().expect("--threads N"),
            "--cert" => args.cert = value,
            "--key" => args.key = value,
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(!args.cert.is_empty() && !args.key.is_empty(), "--cert and --key are required");
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

fn tls_config(args: &Args) -> Arc<rustls::ServerConfig> {
    let chain = CertificateDer::pem_file_iter(&args.cert)
        .expect("certificate file")
        .collect::<Result<Vec<_>, _>>()
        .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(&args.key).expect("key file");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("certificate and key");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // PEER_TICKETS=1: stateless resumption tickets, as switchyard's `tls::server_config`
    // issues (by default rustls resumes from its in-memory session cache).
    if std::env::var_os("PEER_TICKETS").is_some() {
        config.ticketer = rustls::crypto::ring::Ticketer::new().expect("ticketer");
    }
    Arc::new(config)
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
    let acceptor = TlsAcceptor::from(tls_config(&args));
    let listener = TcpListener::bind(&args.addr).await.expect("bind");
    let mut term = signal(SignalKind::terminate()).expect("sigterm");
    let mut int = signal(SignalKind::interrupt()).expect("sigint");
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else { return };
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(route))
                        .await;
                });
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
}

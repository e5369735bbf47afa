//! HTTPS (feature `tls`): requests over rustls, the handshake under the header read timeout
//! without holding a worker, plaintext on the TLS port, certificate reload, SNI and ALPN,
//! `close_notify`, graceful shutdown, streamed bodies, and real clients (curl, openssl,
//! Python requests) when they are installed. Certificates are made by rcgen in each test.

#![cfg(feature = "tls")]

mod support;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore, StreamOwned};
use support::{IO_TIMEOUT, Reply, connect, read_reply, read_to_close, spawn};
use switchyard::tls::{self, TlsConfig, TlsError};
use switchyard::{
    HttpsRedirect, Limits, Request, Response, Router, RunningServer, Server, ServerBuilder,
};

/// A CA and a server certificate it signed (for `localhost` and 127.0.0.1), as PEM files
/// in a directory of their own.
struct Pki {
    dir: PathBuf,
    ca: CertificateDer<'static>,
}

impl Pki {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("switchyard-tls-{}-{id}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("switchyard test CA {id}"),
        );
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        Self {
            dir,
            ca: ca_cert.der().clone(),
        }
    }

    fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn config(&self) -> TlsConfig {
        TlsConfig::from_pem_files(self.cert(), self.key()).unwrap()
    }

    /// A client that trusts this CA only and offers ALPN `http/1.1`.
    fn client(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let mut config = ClientConfig::builder_with_provider(tls::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Of `protocols`, those this build's server speaks: `h2` only with the `http2` feature.
fn spoken(protocols: &[&[u8]]) -> Vec<Vec<u8>> {
    protocols
        .iter()
        .filter(|protocol| cfg!(feature = "http2") || **protocol != b"h2")
        .map(|protocol| protocol.to_vec())
        .collect()
}

type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// A TLS client on one connection (socket timeouts bound every read and write).
struct TlsClient {
    reader: BufReader<TlsStream>,
}

impl TlsClient {
    fn connect(addr: SocketAddr, config: &Arc<ClientConfig>, name: &str) -> Self {
        let name = ServerName::try_from(name.to_owned()).unwrap();
        let session = ClientConnection::new(Arc::clone(config), name).unwrap();
        Self {
            reader: BufReader::new(StreamOwned::new(session, connect(addr))),
        }
    }

    /// Completes the handshake now (it otherwise happens on the first read or write).
    fn handshake(&mut self) -> std::io::Result<()> {
        let stream = self.reader.get_mut();
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(())
    }

    fn send(&mut self, bytes: &[u8]) {
        let stream = self.reader.get_mut();
        stream.write_all(bytes).expect("write");
        stream.flush().expect("flush");
    }

    fn reply(&mut self) -> Reply {
        read_reply(&mut self.reader, false)
    }

    fn get(&mut self, path: &str) -> Reply {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes());
        self.reply()
    }

    /// The next read: `Ok(0)` after the server's `close_notify`; an `UnexpectedEof` error
    /// when the TCP connection ended without one.
    fn read_end(&mut self) -> std::io::Result<usize> {
        let mut byte = [0u8; 1];
        self.reader.read(&mut byte)
    }
}

fn app() -> Router {
    Router::new()
        .get("/hello", |_: &Request| "hello over tls")
        .post("/echo", |req: &Request| {
            Response::text(format!(
                "{} bytes: {}",
                req.body().len(),
                String::from_utf8_lossy(req.body())
            ))
        })
        .get("/tls", |req: &Request| {
            let info = req.tls().expect("a TLS request");
            format!(
                "sni={} alpn={} version={:?}",
                info.server_name().unwrap_or("-"),
                info.alpn_protocol()
                    .map_or("-".into(), String::from_utf8_lossy),
                info.protocol_version()
            )
        })
        .get("/n/{n}", |req: &Request| {
            format!("n={}", req.param("n").unwrap_or_default())
        })
}

fn tls_server(pki: &Pki, builder: ServerBuilder) -> RunningServer {
    spawn(builder.tls(pki.config()).app(app()))
}

#[test]
fn get_and_post_over_tls() {
    let pki = Pki::new();
    let server = tls_server(&pki, Server::builder().threads(2));
    let mut client = TlsClient::connect(server.local_addr(), &pki.client(), "localhost");
    let reply = client.get("/hello");
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "hello over tls")
    );
    client.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\nhello world");
    assert_eq!(client.reply().text(), "11 bytes: hello world");
    assert!(server.shutdown().unwrap().is_clean());
}

#[test]
fn a_returning_client_resumes_its_session_over_tls_1_2_and_1_3() {
    let pki = Pki::new();
    // Stateless tickets, beside the cache of session ids rustls keeps by default.
    assert!(pki.config().current().ticketer.enabled());
    let server = tls_server(&pki, Server::builder().threads(2));
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let mut roots = RootCertStore::empty();
        roots.add(pki.ca.clone()).unwrap();
        let config = Arc::new(
            ClientConfig::builder_with_provider(tls::crypto_provider())
                .with_protocol_versions(&[version])
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        let mut kinds = Vec::new();
        for _ in 0..2 {
            let mut client = TlsClient::connect(server.local_addr(), &config, "localhost");
            // The response is read after TLS 1.3's tickets, which arrive after the handshake.
            assert_eq!(client.get("/hello").status, 200);
            kinds.push(client.reader.get_ref().conn.handshake_kind());
        }
        assert_eq!(
            kinds,
            [Some(HandshakeKind::Full), Some(HandshakeKind::Resumed)],
            "{version:?}"
        );
    }
}

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let pki = Pki::new();
    let server = tls_server(&pki, Server::builder().threads(1));
    let mut client = TlsClient::connect(server.local_addr(), &pki.client(), "localhost");
    assert_eq!(client.get("/n/1").text(), "n=1");
    let second = client.get("/n/2");
    assert_eq!(second.header("connection"), None, "kept alive");
    assert_eq!(second.text(), "n=2");
    assert_eq!(server.metrics().connections_open, 1);
    server.shutdown().unwrap();
}

#[test]
fn pipelined_requests_in_one_write_are_all_answered_in_order() {
    let pki = Pki::new();
    let server = tls_server(&pki, Server::builder().threads(1));
    let mut client = TlsClient::connect(server.local_addr(), &pki.client(), "localhost");
    // A few in one TLS record: the second is decrypted inside rustls with the first, and
    // nothing new reaches the socket to wake the connection for it.
    let few: String = (0..3)
        .map(|i| format!("GET /n/{i} HTTP/1.1\r\nHost: localhost\r\n\r\n"))
        .collect();
    client.send(few.as_bytes());
    for i in 0..3 {
        assert_eq!(client.reply().text(), format!("n={i}"));
    }
    // Many: several records, more than the engine's read buffer and its per-turn budget.
    let padding = "p".repeat(400);
    let many: String = (0..60)
        .map(|i| format!("GET /n/{i} HTTP/1.1\r\nHost: localhost\r\nX-Pad: {padding}\r\n\r\n"))
        .collect();
    assert!(many.len() > 16 * 1024);
    client.send(many.as_bytes());
    for i in 0..60 {
        assert_eq!(client.reply().text(), format!("n={i}"));
    }
    server.shutdown().unwrap();
}

#[test]
fn a_stalled_handshake_costs_no_worker_and_is_cut_at_the_header_read_timeout() {
    let pki = Pki::new();
    let timeout = Duration::from_millis(400);
    let server = tls_server(
        &pki,
        Server::builder()
            .threads(1)
            .limits(Limits::default().header_read_timeout(timeout)),
    );
    let addr = server.local_addr();
    let opened = Instant::now();
    // TCP only, no ClientHello.
    let mut silent = connect(addr);
    // Half a handshake: a ClientHello cut short.
    let mut half = connect(addr);
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    // The one worker is free for a real client meanwhile.
    let mut client = TlsClient::connect(addr, &pki.client(), "localhost");
    assert_eq!(client.get("/hello").status, 200);
    assert!(opened.elapsed() < timeout, "served before the deadline");
    // Both are closed at the deadline, with nothing sent in plain text.
    for stalled in [&mut silent, &mut half] {
        let received = read_to_close(stalled);
        assert_eq!(received, "", "nothing is said before a handshake");
    }
    let elapsed = opened.elapsed();
    assert!(
        elapsed >= timeout && elapsed < IO_TIMEOUT,
        "cut at the deadline: {elapsed:?}"
    );
    // The served connection is still open and usable.
    assert_eq!(client.get("/n/7").text(), "n=7");
    // Counted as idle timeouts: no 408 was sent.
    let timeouts = server.metrics().timeouts;
    assert_eq!((timeouts.idle, timeouts.head), (2, 0), "{timeouts:?}");
    server.shutdown().unwrap();
}

#[test]
fn over_max_connections_a_tls_connection_is_closed_without_an_answer() {
    let pki = Pki::new();
    let server = tls_server(&pki, Server::builder().threads(1).max_connections(1));
    let addr = server.local_addr();
    let mut first = TlsClient::connect(addr, &pki.client(), "localhost");
    assert_eq!(first.get("/hello").status, 200);
    // No 503 in plain text to a client that expects TLS: just the close.
    let mut refused = connect(addr);
    assert_eq!(read_to_close(&mut refused), "");
    assert_eq!(first.get("/n/1").text(), "n=1");
    let metrics = server.metrics();
    assert_eq!(metrics.refused_max_connections, 1, "{metrics:?}");
    server.shutdown().unwrap();
}

#[test]
fn plaintext_http_to_the_tls_port_is_closed_cleanly_and_tls_still_works() {
    let pki = Pki::new();
    let server = tls_server(&pki, Server::builder().threads(1));
    let addr = server.local_addr();
    for _ in 0..3 {
        let mut plain = connect(addr);
        plain
            .write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        // rustls may answer with an alert record; never with HTTP, and the connection closes.
        let received = read_to_close(&mut plain);
        assert!(!received.contains("HTTP/1.1"), "{received:?}");
        assert!(!received.contains("hello over tls"));
    }
    let mut client = TlsClient::connect(addr, &pki.client(), "localhost");
    assert_eq!(client.get("/hello").text(), "hello over tls");
    server.shutdown().unwrap();
}

#[test]
fn sni_and_alpn_are_visible_to_the_handler() {
    let pki = Pki::new();
    let server = tls_server(&pki, Server::builder().threads(1));
    let addr = server.local_addr();
    let mut client = TlsClient::connect(addr, &pki.client(), "localhost");
    assert_eq!(
        client.get("/tls").text(),
        "sni=localhost alpn=http/1.1 version=Some(TLSv1_3)"
    );
    // An IP address is never sent as SNI; a client without ALPN negotiates none.
    let mut config = (*pki.client()).clone();
    config.alpn_protocols.clear();
    let mut client = TlsClient::connect(addr, &Arc::new(config), "127.0.0.1");
    assert_eq!(
        client.get("/tls").text(),
        "sni=- alpn=- version=Some(TLSv1_3)"
    );
    server.shutdown().unwrap();
}

#[test]
fn plain_requests_have_no_tls_info() {
    let server = spawn(
        Server::builder()
            .threads(1)
            .handler(|req: &Request| format!("tls={}", req.tls().is_some())),
    );
    assert_eq!(support::get(server.local_addr(), "/").text(), "tls=false");
    server.shutdown().unwrap();
}

#[test]
fn connection_close_is_answered_then_close_notify() {
    let pki = Pki::new();
    let server = tls_server(&pki, Server::builder().threads(1));
    let mut client = TlsClient::connect(server.local_addr(), &pki.client(), "localhost");
    client.send(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let reply = client.reply();
    assert_eq!(
        (reply.status, reply.header("connection")),
        (200, Some("close"))
    );
    // A clean TLS end: Ok(0), not an UnexpectedEof error.
    assert_eq!(client.read_end().unwrap(), 0);
    server.shutdown().unwrap();
}

#[test]
fn graceful_shutdown_closes_an_idle_tls_connection_with_close_notify() {
    let pki = Pki::new();
    let server = tls_server(&pki, Server::builder().threads(1));
    let mut client = TlsClient::connect(server.local_addr(), &pki.client(), "localhost");
    assert_eq!(client.get("/hello").status, 200);
    let report = server.shutdown().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(client.read_end().unwrap(), 0);
}

#[test]
fn a_partial_head_over_tls_gets_an_encrypted_408() {
    let pki = Pki::new();
    let server = tls_server(
        &pki,
        Server::builder()
            .threads(1)
            .limits(Limits::default().header_read_timeout(Duration::from_millis(300))),
    );
    let mut client = TlsClient::connect(server.local_addr(), &pki.client(), "localhost");
    client.handshake().unwrap();
    client.send(b"GET /hello HTTP/1.1\r\nHost: loc");
    let reply = client.reply();
    assert_eq!(
        (reply.status, reply.header("connection")),
        (408, Some("close"))
    );
    assert_eq!(client.read_end().unwrap(), 0);
    server.shutdown().unwrap();
}

#[test]
fn a_certificate_reload_is_seen_by_new_connections_only() {
    let first = Pki::new();
    let second = Pki::new();
    let config = first.config();
    let reload = config.clone();
    let server = spawn(Server::builder().threads(2).tls(config).app(app()));
    let addr = server.local_addr();
    let mut before = TlsClient::connect(addr, &first.client(), "localhost");
    assert_eq!(before.get("/hello").status, 200);
    // A client that trusts only the second CA refuses the first certificate.
    let mut refused = TlsClient::connect(addr, &second.client(), "localhost");
    let error = refused.handshake().unwrap_err();
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");

    reload
        .reload_pem_files(second.cert(), second.key())
        .expect("reload");
    let mut after = TlsClient::connect(addr, &second.client(), "localhost");
    assert_eq!(after.get("/hello").text(), "hello over tls");
    // The connection opened before keeps its session.
    assert_eq!(before.get("/n/2").text(), "n=2");

    // A key that is not the certificate's is refused, and the configuration is kept.
    let error = reload
        .reload_pem_files(first.cert(), second.key())
        .unwrap_err();
    assert!(matches!(error, TlsError::KeyMismatch), "{error:?}");
    let error = reload
        .reload_pem_files(first.dir.join("missing.pem"), first.key())
        .unwrap_err();
    assert!(matches!(error, TlsError::Certificates { .. }), "{error:?}");
    let mut still = TlsClient::connect(addr, &second.client(), "localhost");
    assert_eq!(still.get("/hello").status, 200);
    server.shutdown().unwrap();
}

#[test]
fn pem_loading_errors_are_typed() {
    let pki = Pki::new();
    let other = Pki::new();
    assert!(matches!(
        tls::server_config_from_pem_files(pki.cert(), other.key()),
        Err(TlsError::KeyMismatch)
    ));
    assert!(matches!(
        tls::server_config_from_pem_files(pki.key(), pki.key()),
        Err(TlsError::NoCertificate { .. })
    ));
    assert!(matches!(
        tls::server_config_from_pem_files(pki.cert(), pki.cert()),
        Err(TlsError::PrivateKey { .. })
    ));
    let error = switchyard::Error::from(TlsError::KeyMismatch);
    assert_eq!(error.to_string(), "tls configuration failed");
    // A configuration of one's own is used as given.
    let config = tls::server_config_from_pem_files(pki.cert(), pki.key()).unwrap();
    assert_eq!(config.alpn_protocols, spoken(&[b"h2", b"http/1.1"]));
    let key = PrivateKeyDer::from_pem_file(pki.key()).unwrap();
    let chain = vec![pki.ca.clone()];
    assert!(matches!(
        tls::server_config(chain, key),
        Err(TlsError::KeyMismatch)
    ));
}

#[test]
fn a_streamed_request_body_is_read_over_tls() {
    let pki = Pki::new();
    let uploads = Router::new()
        .post("/upload", |req: &Request| {
            let mut body = Vec::new();
            match req.body_reader().read_to_end(&mut body) {
                Ok(_) => format!("{} streamed={}", body.len(), req.is_body_streamed()),
                Err(error) => format!("error {error}"),
            }
        })
        .stream_bodies(8 << 20)
        .on_pool("uploads");
    let server = spawn(
        Server::builder()
            .threads(1)
            .worker_pool("uploads", 1)
            .tls(pki.config())
            .app(app().merge(uploads)),
    );
    let mut client = TlsClient::connect(server.local_addr(), &pki.client(), "localhost");
    let body = vec![b'x'; 1 << 20];
    client.send(
        format!(
            "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    client.send(&body);
    assert_eq!(client.reply().text(), format!("{} streamed=true", 1 << 20));
    assert_eq!(client.get("/n/3").text(), "n=3");
    // Chunked, in pieces of odd sizes: the handler's reads return what has arrived rather
    // than wait for their buffer to fill (the client waits for the answer).
    let started = Instant::now();
    client.send(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
    for size in [1usize, 1000, 7, 20_000] {
        client.send(format!("{size:x}\r\n").as_bytes());
        client.send(&vec![b'y'; size]);
        client.send(b"\r\n");
    }
    client.send(b"0\r\n\r\n");
    assert_eq!(client.reply().text(), "21008 streamed=true");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(client.get("/n/4").text(), "n=4");
    server.shutdown().unwrap();
}

#[test]
fn a_large_response_crosses_many_records_and_a_slow_reader() {
    let pki = Pki::new();
    let big = vec![b'b'; 3 << 20];
    let served = big.clone();
    let server = spawn(Server::builder().threads(1).tls(pki.config()).route(
        http::Method::GET,
        "/big",
        move |_: &Request| Response::bytes(served.clone()),
    ));
    let mut client = TlsClient::connect(server.local_addr(), &pki.client(), "localhost");
    // Twice: the socket fills, the rest waits in rustls and the engine, then is written.
    for _ in 0..2 {
        let reply = client.get("/big");
        assert_eq!(reply.body.len(), big.len());
        assert!(reply.body == big);
    }
    server.shutdown().unwrap();
}

#[test]
fn redirect_to_https_answers_308_with_the_https_url() {
    let server = spawn(
        Server::builder()
            .threads(1)
            .app(Router::from(HttpsRedirect::to_port(8443))),
    );
    let addr = server.local_addr();
    let reply = support::raw(
        addr,
        b"GET /a/b?c=d HTTP/1.1\r\nHost: example.com:8080\r\nConnection: close\r\n\r\n",
    );
    assert!(reply.starts_with("HTTP/1.1 308"), "{reply}");
    assert!(
        reply.contains("location: https://example.com:8443/a/b?c=d\r\n"),
        "{reply}"
    );
    let server443 = spawn(
        Server::builder()
            .threads(1)
            .app(Router::from(HttpsRedirect::to_port(443))),
    );
    let reply = support::raw(
        server443.local_addr(),
        b"GET / HTTP/1.1\r\nHost: [::1]:80\r\nConnection: close\r\n\r\n",
    );
    assert!(reply.contains("location: https://[::1]/\r\n"), "{reply}");
    server.shutdown().unwrap();
    server443.shutdown().unwrap();
}

/// Runs `command` with a deadline; `None` when the tool is not installed.
fn run_tool(command: &mut Command, stdin: &[u8]) -> Option<(bool, String)> {
    let mut child = match command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => panic!("cannot run {command:?}: {error}"),
    };
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let deadline = Instant::now() + IO_TIMEOUT * 2;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some((output.status.success(), text))
}

#[test]
fn real_clients_curl_openssl_and_python_requests() {
    let pki = Pki::new();
    let server = tls_server(&pki, Server::builder().threads(2));
    let port = server.local_addr().port();
    let url = format!("https://localhost:{port}/tls");
    let ca = pki.ca_file();

    match run_tool(
        Command::new("curl")
            .args([
                "--silent",
                "--show-error",
                "--max-time",
                "5",
                "--http1.1",
                "--cacert",
            ])
            .arg(&ca)
            .args(["--resolve", &format!("localhost:{port}:127.0.0.1"), &url]),
        b"",
    ) {
        None => eprintln!("skipped curl: not installed"),
        Some((ok, text)) => {
            assert!(ok, "curl failed: {text}");
            assert!(text.starts_with("sni=localhost alpn=http/1.1"), "{text}");
        }
    }

    match run_tool(
        Command::new("openssl")
            .args(["s_client", "-quiet", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .args([
                "-servername",
                "localhost",
                "-alpn",
                "http/1.1",
                "-verify_return_error",
                "-CAfile",
            ])
            .arg(&ca),
        b"GET /tls HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    ) {
        None => eprintln!("skipped openssl s_client: not installed"),
        Some((_, text)) => {
            assert!(text.contains("HTTP/1.1 200 OK"), "{text}");
            assert!(text.contains("sni=localhost alpn=http/1.1"), "{text}");
        }
    }

    let script = "import sys, requests\n\
                  r = requests.get(sys.argv[1], verify=sys.argv[2], timeout=5)\n\
                  print(r.status_code, r.text)\n";
    let python = run_tool(Command::new("python3").args(["-c", "import requests"]), b"");
    match python {
        None => eprintln!("skipped python requests: python3 not installed"),
        Some((false, _)) => eprintln!("skipped python requests: `requests` not installed"),
        Some((true, _)) => {
            let (ok, text) = run_tool(
                Command::new("python3")
                    .args(["-c", script, &url])
                    .arg(&ca)
                    .env("NO_PROXY", "*"),
                b"",
            )
            .unwrap();
            assert!(ok, "python requests failed: {text}");
            assert!(
                text.starts_with("200 sni=localhost alpn=http/1.1"),
                "{text}"
            );
        }
    }
    server.shutdown().unwrap();
}

#[test]
fn a_websocket_echoes_over_tls_and_its_close_ends_with_close_notify() {
    use switchyard::live::{Message, WebSocket, WebSocketSession};
    fn echo(_req: &Request) -> impl WebSocketSession + use<> {
        |ws: &WebSocket, message: Message| {
            let _ = ws.send(message);
        }
    }
    let pki = Pki::new();
    let server = spawn(
        Server::builder()
            .threads(2)
            .tls(pki.config())
            .websocket("/ws", echo),
    );
    let client = TlsClient::connect(server.local_addr(), &pki.client(), "localhost");
    let stream = client.reader.into_inner();
    let (mut ws, response) =
        tungstenite::client::client("wss://localhost/ws", stream).expect("handshake over TLS");
    assert_eq!(response.status(), 101);
    // Several TLS records each way, under the default 64 KiB message limit.
    let big = "w".repeat(60_000);
    for text in ["hello", "over", "tls", big.as_str()] {
        ws.send(Message::text(text)).unwrap();
        let echoed = loop {
            match ws.read().expect("a message") {
                Message::Ping(_) | Message::Pong(_) => {}
                message => break message,
            }
        };
        assert_eq!(echoed, Message::text(text));
    }
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(error) => panic!("{error}"),
        }
    }
    let mut stream = ws.into_inner();
    let mut byte = [0u8; 1];
    assert_eq!(
        stream.read(&mut byte).unwrap(),
        0,
        "close_notify after the close"
    );
    server.shutdown().unwrap();
}

#[test]
fn an_event_stream_over_tls_ends_with_close_notify() {
    use switchyard::live::Event;
    let pki = Pki::new();
    let server = spawn(Server::builder().threads(1).tls(pki.config()).route(
        http::Method::GET,
        "/events",
        |_: &Request| {
            let (response, events) = Response::events();
            std::thread::spawn(move || {
                for i in 1..=3 {
                    let event = Event::new().id(i.to_string()).data(format!("tick {i}"));
                    if events.send(&event).is_err() {
                        return;
                    }
                }
            });
            response
        },
    ));
    let mut client = TlsClient::connect(server.local_addr(), &pki.client(), "localhost");
    let reply = client.get("/events");
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert_eq!(
        reply.text(),
        "id: 1\ndata: tick 1\n\nid: 2\ndata: tick 2\n\nid: 3\ndata: tick 3\n\n"
    );
    assert_eq!(client.read_end().unwrap(), 0);
    server.shutdown().unwrap();
}

#[test]
fn alpn_keeps_what_the_server_speaks_and_a_reload_keeps_the_rest_of_the_configuration() {
    let first = Pki::new();
    let second = Pki::new();
    let mut own =
        Arc::unwrap_or_clone(tls::server_config_from_pem_files(first.cert(), first.key()).unwrap());
    own.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec(), b"http/1.0".to_vec()];
    own.max_early_data_size = 0;
    own.send_half_rtt_data = true;
    own.alpn_protocols.insert(0, b"spdy/3".to_vec());
    let config = TlsConfig::from(own);
    // A client that agreed a protocol would speak it: only those the server speaks stay
    // (h2 with the http2 feature).
    assert_eq!(
        config.current().alpn_protocols,
        spoken(&[b"h2", b"http/1.1", b"http/1.0"])
    );
    config
        .reload_pem_files(second.cert(), second.key())
        .unwrap();
    let reloaded = config.current();
    assert_eq!(
        reloaded.alpn_protocols,
        spoken(&[b"h2", b"http/1.1", b"http/1.0"])
    );
    assert!(
        reloaded.send_half_rtt_data,
        "the configuration's own settings are kept"
    );
    // And the new certificate is the one served.
    let server = spawn(Server::builder().threads(1).tls(config).app(app()));
    let mut client = TlsClient::connect(server.local_addr(), &second.client(), "localhost");
    assert_eq!(client.get("/hello").status, 200);
}

#[test]
fn an_event_stream_whose_client_stops_reading_is_cut_and_shutdown_stays_clean() {
    use std::sync::mpsc;
    use switchyard::live::{Event, EventStream};
    let pki = Pki::new();
    let (sender, streams) = mpsc::channel::<EventStream>();
    let server = spawn(
        Server::builder()
            .threads(1)
            .limits(Limits::default().write_timeout(Duration::from_millis(100)))
            .tls(pki.config())
            .route(http::Method::GET, "/events", move |_: &Request| {
                let (response, events) = Response::events_with_keep_alive(None);
                let _ = sender.send(events);
                response
            }),
    );
    let mut client = TlsClient::connect(server.local_addr(), &pki.client(), "localhost");
    client.send(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let stream = streams.recv_timeout(IO_TIMEOUT).unwrap();
    // The client reads nothing more: events pile up in the socket, then in rustls, then the
    // server sees a client that does not read and cuts it at the write timeout (or as a
    // slow consumer).
    // 6.4 MB/s: the buffers fill in a second or two; the 1 MiB send queue does not fill
    // within the 100 ms write timeout after that.
    let event = Event::new().data("x".repeat(64 * 1024));
    let deadline = Instant::now() + 3 * IO_TIMEOUT;
    while stream.send(&event).is_ok() {
        assert!(Instant::now() < deadline, "the stream was never cut");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Gone from the server, not spinning there: the connection count drops to zero.
    let metrics = server.metrics_handle();
    while metrics.snapshot().connections_open > 0 {
        assert!(Instant::now() < deadline, "the connection stayed open");
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = Instant::now();
    let report = server.shutdown().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(client);
}

#[test]
fn a_response_cut_short_ends_without_close_notify() {
    /// A body whose source fails after three pieces.
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("the disk went away"));
            }
            self.0 -= 1;
            buf[..5].copy_from_slice(b"part\n");
            Ok(5)
        }
    }
    let pki = Pki::new();
    let server = spawn(Server::builder().threads(1).tls(pki.config()).route(
        http::Method::GET,
        "/cut",
        |_: &Request| Response::bytes(switchyard::Body::stream(Failing(3))),
    ));
    let mut client = TlsClient::connect(server.local_addr(), &pki.client(), "localhost");
    // HTTP/1.0: the body has no length, so only the end of the connection ends it, and
    // `close_notify` would present the cut body as complete.
    client.send(b"GET /cut HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let mut received = Vec::new();
    let error = client.reader.read_to_end(&mut received).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof, "{error}");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("part\npart\npart\n"), "{text}");
}

#[test]
fn a_streamed_body_trickled_inside_one_record_times_out_at_the_body_read_timeout() {
    let pki = Pki::new();
    let uploads = Router::new()
        .post("/upload", |req: &Request| {
            let mut body = Vec::new();
            match req.body_reader().read_to_end(&mut body) {
                Ok(_) => format!("{} bytes", body.len()),
                Err(error) => format!("error {:?}", error.kind()),
            }
        })
        .stream_bodies(8 << 20);
    let server = spawn(
        Server::builder()
            .threads(1)
            .limits(Limits::default().body_read_timeout(Duration::from_millis(300)))
            .tls(pki.config())
            .app(uploads),
    );
    let mut client = TlsClient::connect(server.local_addr(), &pki.client(), "localhost");
    client.send(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n");
    // One TLS record carrying the body, sent a byte at a time: no plaintext comes out of
    // it until its last byte, and each byte arrives well within the timeout.
    let stream = client.reader.get_mut();
    stream.conn.writer().write_all(b"0123456789").unwrap();
    let mut record = Vec::new();
    while stream.conn.wants_write() {
        stream.conn.write_tls(&mut record).unwrap();
    }
    let started = Instant::now();
    let mut socket = stream.sock.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for byte in record {
            if socket.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    // The server gives up at the body read timeout, not at the end of the trickle.
    let reply = client.reply();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_ne!(reply.text(), "10 bytes");
    drop(client);
    let _ = trickle.join();
}

#[test]
fn a_handler_past_its_deadline_over_tls_is_answered_503_by_its_worker() {
    // Over TLS only the session on the worker can write: the deadline cancels the request,
    // and the worker answers 503 once the handler returns.
    let pki = Pki::new();
    let app = Router::new().get("/slow", |req: &Request| {
        let start = std::time::Instant::now();
        while !req.cancelled() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        format!("{:?}", req.cancellation().reason())
    });
    let limits = switchyard::Limits::default().handler_timeout(Duration::from_millis(50));
    let server = spawn(
        Server::builder()
            .threads(1)
            .limits(limits)
            .tls(pki.config())
            .app(app),
    );
    let mut client = TlsClient::connect(server.local_addr(), &pki.client(), "localhost");
    let reply = client.get("/slow");
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.header("connection"), Some("close"));
    let gave_up = server.metrics().gave_up;
    assert_eq!(
        (gave_up.handler_timeouts, gave_up.late_responses_dropped),
        (1, 1)
    );
}

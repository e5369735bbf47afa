//! HTTPS (feature `tls`): TLS 1.2 and 1.3 with [rustls] and its `ring` crypto provider,
//! on the same poller and workers as plain HTTP.
//!
//! - [`ServerBuilder::tls`](crate::ServerBuilder::tls) takes an `Arc<rustls::ServerConfig>`
//!   or a [`TlsConfig`] handle; [`TlsConfig::from_pem_files`] builds one from a PEM
//!   certificate chain and key (ALPN `h2` with the `http2` feature, then `http/1.1`).
//! - [`TlsConfig::reload_pem_files`] swaps the certificate without a restart: new connections
//!   use the new one, open ones keep theirs; a certificate and key that do not match are
//!   refused with a [`TlsError`] and the old configuration stays.
//! - [`Request::tls`](crate::Request::tls) tells a handler the SNI server name and the
//!   negotiated ALPN protocol ([`TlsInfo`]).
//! - [`HttpsRedirect`](crate::HttpsRedirect) answers a plain-HTTP listener's requests with
//!   `308` to the HTTPS port.
//!
//! # How a TLS connection is served
//!
//! The handshake runs in the same short, non-blocking worker turns as requests do: a turn
//! takes what the socket has (`read_tls`, `process_new_packets`), writes what the socket takes,
//! and parks the connection. A client that opens a connection and sends nothing, or stops
//! mid-handshake, costs no worker, and is closed at the
//! [header read timeout](crate::Limits::header_read_timeout) counted from accept.
//! Decrypted requests go through the same HTTP/1.1 engine as plain ones (limits,
//! pipelining, the per-turn budget). A connection closes with a TLS `close_notify` alert after
//! a `Connection: close` response and when a graceful shutdown closes it idle.
//!
//! What cannot be encrypted is not sent: over-capacity connections refused at accept and
//! connections that time out before their handshake is done are closed without an answer;
//! the `503` and `408` answers of a connection past its handshake are encrypted.
//! Bodies streamed to a handler ([`Router::stream_bodies`](crate::Router::stream_bodies))
//! work over TLS as over TCP (the handler's blocking reads decrypt on its own worker), and so
//! do live connections (WebSocket, Server-Sent Events): `wss://` and event streams over
//! HTTPS, in the same turns.
//!
//! A plain-HTTP request sent to the TLS port fails the handshake: rustls answers with an
//! alert and the connection closes.
//!
//! # Examples
//!
//! ```no_run
//! use switchyard::{Request, Server, tls::TlsConfig};
//!
//! let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
//! let reload = tls.clone(); // e.g. on SIGHUP: reload.reload_pem_files("cert.pem", "key.pem")
//! let server = Server::builder()
//!     .tls(tls)
//!     .handler(|req: &Request| {
//!         let sni = req.tls().and_then(|tls| tls.server_name()).unwrap_or("-");
//!         format!("hello over TLS, {sni}")
//!     })
//!     .bind("127.0.0.1:8443")?;
//! server.run()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

pub use rustls;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub use crate::error::TlsError;

/// The ALPN protocol id of HTTP/1.1, which [`server_config`] advertises.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The ALPN protocol id of HTTP/2 over TLS, which [`server_config`] advertises first when
/// the `http2` feature is on.
pub const ALPN_H2: &[u8] = b"h2";

/// The crypto provider this crate uses: rustls's `ring` provider, passed explicitly (no
/// process-wide default provider is installed).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    // rustls 0.23.48 deprecates the ring provider because it has no post-quantum key
    // exchange, with no replacement but aws-lc-rs (which needs cmake and a C toolchain to
    // build); rustls itself builds it the same way. The warning would show in every app
    // that enables `tls`, with nothing for it to change.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    Arc::new(provider)
}

/// A server configuration for `cert_chain` (end-entity certificate first) and its `key`:
/// the `ring` provider, rustls's safe default protocol versions (TLS 1.2 and 1.3), no client
/// authentication, ALPN `h2` (feature `http2`) and `http/1.1`, and session resumption both ways: rustls's cache of
/// session ids and stateless tickets (`ring`'s ticketer, keys rotated every 6 hours).
///
/// # Errors
///
/// [`TlsError::KeyMismatch`] when the key is not the certificate's, [`TlsError::Rustls`]
/// when rustls refuses the key or chain.
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Rustls(Box::new(error)))?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)
        .map_err(|error| match error {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                TlsError::KeyMismatch
            }
            error => TlsError::Rustls(Box::new(error)),
        })?;
    config.alpn_protocols = offered_protocols();
    // Stateless resumption: tickets encrypted with keys that rotate every 6 hours (each
    // lives 12), beside rustls's default cache of session ids. A returning client resumes
    // without a certificate signature, whichever worker or process served it before.
    #[allow(deprecated)] // the ring provider's deprecation; see `crypto_provider`
    let ticketer = rustls::crypto::ring::Ticketer::new();
    config.ticketer = ticketer.map_err(|error| TlsError::Rustls(Box::new(error)))?;
    Ok(Arc::new(config))
}

/// [`server_config`] from PEM files: a certificate chain (end-entity certificate first) and
/// a PKCS#8, PKCS#1 or SEC1 private key.
///
/// # Errors
///
/// [`TlsError::Certificates`], [`TlsError::NoCertificate`] or [`TlsError::PrivateKey`] when a
/// file cannot be read or parsed; then as [`server_config`].
pub fn server_config_from_pem_files(
    cert_chain: impl AsRef<Path>,
    key: impl AsRef<Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let (cert_chain, key) = load_pem_files(cert_chain.as_ref(), key.as_ref())?;
    server_config(cert_chain, key)
}

fn load_pem_files(
    cert_path: &Path,
    key_path: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let certificates_error = |source: rustls::pki_types::pem::Error| TlsError::Certificates {
        path: cert_path.to_owned(),
        source: Box::new(source),
    };
    let chain = CertificateDer::pem_file_iter(cert_path)
        .map_err(certificates_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(certificates_error)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_path.to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|source| TlsError::PrivateKey {
        path: key_path.to_owned(),
        source: Box::new(source),
    })?;
    Ok((chain, key))
}

/// The server's TLS configuration, as a handle that can swap it while the server runs.
///
/// Clone it before giving it to [`ServerBuilder::tls`](crate::ServerBuilder::tls): every
/// clone reads and replaces the same configuration. Each accepted connection reads it once;
/// open connections keep the configuration they started with.
///
/// # Examples
///
/// ```no_run
/// use switchyard::{Server, tls::TlsConfig};
///
/// let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
/// let handle = tls.clone();
/// let server = Server::builder().tls(tls).handler(|_: &switchyard::Request| "hi").bind("0.0.0.0:443")?;
/// // Later, from any thread (a renewed certificate):
/// if let Err(error) = handle.reload_pem_files("cert.pem", "key.pem") {
///     eprintln!("kept the old certificate: {error}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    current: Arc<RwLock<Arc<ServerConfig>>>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = self.current();
        f.debug_struct("TlsConfig")
            .field("alpn_protocols", &config.alpn_protocols)
            .finish_non_exhaustive()
    }
}

impl From<Arc<ServerConfig>> for TlsConfig {
    fn from(config: Arc<ServerConfig>) -> Self {
        Self::new(config)
    }
}

impl From<ServerConfig> for TlsConfig {
    fn from(config: ServerConfig) -> Self {
        Self::new(Arc::new(config))
    }
}

impl TlsConfig {
    /// A handle on `config`, used as given, but for ALPN: protocols the server does not
    /// speak are removed: all but `http/1.1` and `http/1.0`, and `h2` with the `http2`
    /// feature (a browser that agreed a protocol would speak it).
    pub fn new(config: Arc<ServerConfig>) -> Self {
        Self {
            current: Arc::new(RwLock::new(spoken_only(config))),
        }
    }

    /// A handle on [`server_config_from_pem_files`].
    ///
    /// # Errors
    ///
    /// As [`server_config_from_pem_files`].
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        server_config_from_pem_files(cert_chain, key).map(Self::new)
    }

    /// The configuration new connections get.
    pub fn current(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Gives new connections `config` (ALPN as in [`new`](Self::new)); open ones keep
    /// theirs.
    pub fn replace(&self, config: Arc<ServerConfig>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = spoken_only(config);
    }

    /// Loads a certificate chain and key as [`server_config_from_pem_files`] does, checks
    /// that they belong together, and only then gives new connections the new certificate.
    /// Only the certificate changes: the rest of the configuration in use (client
    /// certificate verification, ALPN, session resumption and its cache) is kept.
    ///
    /// # Errors
    ///
    /// As [`server_config_from_pem_files`]; the configuration in use is kept.
    pub fn reload_pem_files(
        &self,
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<(), TlsError> {
        let fresh = server_config_from_pem_files(cert_chain, key)?;
        let mut config = ServerConfig::clone(&self.current());
        config.cert_resolver = Arc::clone(&fresh.cert_resolver);
        self.replace(Arc::new(config));
        Ok(())
    }
}

/// The ALPN protocols the server speaks, preferred first: `h2` (with the `http2` feature),
/// then `http/1.1`.
fn offered_protocols() -> Vec<Vec<u8>> {
    let mut protocols = Vec::new();
    if cfg!(feature = "http2") {
        protocols.push(ALPN_H2.to_vec());
    }
    protocols.push(ALPN_HTTP11.to_vec());
    protocols
}

/// `config` without ALPN protocols the server does not speak (HTTP/1.x, and `h2` with the
/// `http2` feature).
fn spoken_only(config: Arc<ServerConfig>) -> Arc<ServerConfig> {
    let spoken = |protocol: &Vec<u8>| {
        protocol == b"http/1.1"
            || protocol == b"http/1.0"
            || (cfg!(feature = "http2") && protocol == ALPN_H2)
    };
    if config.alpn_protocols.iter().all(spoken) {
        return config;
    }
    crate::logging::log_warn!("TLS: ALPN protocols this server does not speak removed");
    let mut config = ServerConfig::clone(&config);
    config.alpn_protocols.retain(spoken);
    Arc::new(config)
}

/// What a handler can know of a request's TLS connection: [`Request::tls`](crate::Request::tls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    server_name: Option<Arc<str>>,
    alpn_protocol: Option<Arc<[u8]>>,
    protocol_version: Option<rustls::ProtocolVersion>,
    cipher_suite: Option<rustls::CipherSuite>,
}

impl TlsInfo {
    pub(crate) fn from_connection(connection: &rustls::ServerConnection) -> Self {
        Self {
            server_name: connection.server_name().map(Arc::from),
            alpn_protocol: connection.alpn_protocol().map(Arc::from),
            protocol_version: connection.protocol_version(),
            cipher_suite: connection
                .negotiated_cipher_suite()
                .map(|suite| suite.suite()),
        }
    }

    /// The host name the client asked for with SNI, if it sent one.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// The protocol agreed with ALPN (`b"http/1.1"`), if the client offered one the server
    /// configuration lists.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.alpn_protocol.as_deref()
    }

    /// The TLS version negotiated.
    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.protocol_version
    }

    /// The cipher suite negotiated.
    pub fn cipher_suite(&self) -> Option<rustls::CipherSuite> {
        self.cipher_suite
    }
}

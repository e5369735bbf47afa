//! HTTPS with rustls (feature `tls`): answers every request with what TLS negotiated.
//!
//! `cargo run --example https --features tls` serves on https://127.0.0.1:3443 with a
//! self-signed certificate made at start (its CA is written to a temporary directory and the
//! curl command to trust it is printed); `--cert FILE --key FILE` serve your own PEM chain
//! and key instead, `--addr HOST:PORT` sets the address. SIGHUP reloads `--cert`/`--key`
//! without a restart; Ctrl-C (or SIGTERM) stops it gracefully.

#![allow(clippy::print_stdout)] // printing the URL is part of what this example does

#[path = "support/signals.rs"]
mod signals;

use std::path::PathBuf;

use switchyard::tls::TlsConfig;
use switchyard::{Request, Response, Server};

const DEFAULT_ADDR: &str = "127.0.0.1:3443";

struct Options {
    addr: String,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse_args()?;
    let (cert, key, ca) = match (options.cert, options.key) {
        (Some(cert), Some(key)) => (cert, key, None),
        (None, None) => {
            let (cert, key, ca) = self_signed()?;
            (cert, key, Some(ca))
        }
        _ => return Err("--cert and --key go together".into()),
    };
    let tls = TlsConfig::from_pem_files(&cert, &key)?;
    let reload = tls.clone();
    let server = Server::builder()
        .tls(tls)
        .handler(|req: &Request| {
            let tls = req.tls();
            Response::text(format!(
                "Hello over TLS! You asked for {} (server name {}, ALPN {}, {:?})\n",
                req.path(),
                tls.and_then(|t| t.server_name()).unwrap_or("-"),
                tls.and_then(|t| t.alpn_protocol())
                    .map_or("-".into(), String::from_utf8_lossy),
                tls.and_then(|t| t.protocol_version()),
            ))
        })
        .bind(options.addr.as_str())?;
    let port = server.local_addr().port();
    println!("serving on https://localhost:{port}/ (Ctrl-C to stop)");
    match &ca {
        Some(ca) => println!(
            "  curl --cacert {} --resolve localhost:{port}:{} https://localhost:{port}/",
            ca.display(),
            server.local_addr().ip()
        ),
        None => println!("  curl https://YOUR-HOST:{port}/"),
    }
    reload_on_sighup(reload, cert, key)?;
    signals::shutdown_on_signals(server.shutdown_handle())?;
    let report = server.run()?;
    println!("stopped ({report:?})");
    Ok(())
}

/// A CA and a certificate it signed for `localhost` and 127.0.0.1, written as PEM files to a
/// new temporary directory: (certificate, key, CA certificate).
fn self_signed() -> Result<(PathBuf, PathBuf, PathBuf), Box<dyn std::error::Error>> {
    // A directory of our own: `create` fails if someone planted one (or a symlink) at
    // this name, and only we may read the key in it.
    let dir = std::env::temp_dir().join(format!("switchyard-https-{}", std::process::id()));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir)?;
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "switchyard example CA");
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate()?;
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let cert = params.signed_by(&key, &issuer)?;
    let paths = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("ca.pem"),
    );
    std::fs::write(&paths.0, cert.pem())?;
    std::fs::write(&paths.1, key.serialize_pem())?;
    std::fs::write(&paths.2, ca.pem())?;
    Ok(paths)
}

/// Reloads the certificate and key on SIGHUP; a bad pair is refused and the old one kept.
fn reload_on_sighup(
    tls: TlsConfig,
    cert: PathBuf,
    key: PathBuf,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])?;
    std::thread::Builder::new()
        .name("reload-on-sighup".to_owned())
        .spawn(move || {
            for _ in signals.forever() {
                match tls.reload_pem_files(&cert, &key) {
                    Ok(()) => println!("reloaded {}", cert.display()),
                    Err(error) => println!("kept the old certificate: {error}"),
                }
            }
        })?;
    Ok(())
}

fn parse_args() -> Result<Options, Box<dyn std::error::Error>> {
    let mut options = Options {
        addr: DEFAULT_ADDR.to_owned(),
        cert: None,
        key: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => options.addr = args.next().ok_or("--addr needs HOST:PORT")?,
            "--cert" => options.cert = Some(args.next().ok_or("--cert needs FILE")?.into()),
            "--key" => options.key = Some(args.next().ok_or("--key needs FILE")?.into()),
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: https [--addr HOST:PORT] [--cert FILE --key FILE]"
                )
                .into());
            }
        }
    }
    Ok(options)
}

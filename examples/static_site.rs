//! A static web site: the files of a directory, served at `/`.
//!
//! `cargo run --release --example static_site -- --dir ./public` serves `./public` on
//! http://127.0.0.1:3002; without `--dir` it serves `./public` if there is one, or else a
//! small demo site it writes to a temporary directory. `--addr HOST:PORT` sets the address.
//! Ctrl-C (or SIGTERM) stops it gracefully.
//!
//! Try the HTTP caching and ranges with curl:
//!
//! ```text
//! curl -i http://127.0.0.1:3002/                        # index.html, ETag, Last-Modified
//! curl -i http://127.0.0.1:3002/style.css -H 'If-None-Match: "…"'   # 304
//! curl -i http://127.0.0.1:3002/style.css -H 'Range: bytes=0-9'     # 206
//! curl -i http://127.0.0.1:3002/../etc/passwd --path-as-is         # 404
//! ```

#![allow(clippy::print_stdout)] // printing the URL is part of what this example does

#[path = "support/signals.rs"]
mod signals;

use std::path::{Path, PathBuf};

use switchyard::{AccessLog, Router, Server, StaticFiles};

const DEFAULT_ADDR: &str = "127.0.0.1:3002";
const DEFAULT_DIR: &str = "./public";

const DEMO_INDEX: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>switchyard static site</title>
  <link rel="stylesheet" href="style.css">
</head>
<body>
  <h1>Served by switchyard</h1>
  <p>This page and its stylesheet come from <code>StaticFiles</code>.</p>
</body>
</html>
"#;

const DEMO_CSS: &str = "body { font-family: sans-serif; margin: 3rem; }\nh1 { color: teal; }\n";

struct Args {
    dir: Option<PathBuf>,
    addr: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let dir = match args.dir {
        Some(dir) => dir,
        None if Path::new(DEFAULT_DIR).is_dir() => PathBuf::from(DEFAULT_DIR),
        None => write_demo_site()?,
    };
    let files = StaticFiles::new(&dir)
        // Revalidate every time: cheap with the ETag, and edits show up at once.
        .cache_control("no-cache")
        .precompressed_br(true)
        .precompressed_gzip(true);
    let app = Router::from(files).plugin(AccessLog::stdout());
    let server = Server::builder().app(app).bind(args.addr.as_str())?;
    println!(
        "serving {} on http://{}/ (Ctrl-C to stop)",
        dir.display(),
        server.local_addr()
    );
    signals::shutdown_on_signals(server.shutdown_handle())?;
    let report = server.run()?;
    println!("stopped ({report:?})");
    Ok(())
}

fn parse_args() -> Result<Args, Box<dyn std::error::Error>> {
    const USAGE: &str = "usage: static_site [--dir DIR] [--addr HOST:PORT]";
    let mut args = Args {
        dir: None,
        addr: DEFAULT_ADDR.to_owned(),
    };
    let mut rest = std::env::args().skip(1);
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or(USAGE)?;
        match flag.as_str() {
            "--dir" => args.dir = Some(PathBuf::from(value)),
            "--addr" => args.addr = value,
            _ => return Err(USAGE.into()),
        }
    }
    Ok(args)
}

/// Writes `index.html` and `style.css` to a fresh temporary directory.
fn write_demo_site() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("switchyard-static-site-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("index.html"), DEMO_INDEX)?;
    std::fs::write(dir.join("style.css"), DEMO_CSS)?;
    Ok(dir)
}

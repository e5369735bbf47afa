//! The smallest useful server: answers every request with a greeting.
//!
//! `cargo run --release --example hello` serves on http://127.0.0.1:3000; set the address
//! with `--addr HOST:PORT` or `SWITCHYARD_ADDR`. Ctrl-C (or SIGTERM) stops it gracefully.

#![allow(clippy::print_stdout)] // printing the URL is part of what this example does

#[path = "support/signals.rs"]
mod signals;

use switchyard::{Request, Response, Server};

const DEFAULT_ADDR: &str = "127.0.0.1:3000";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = address_from_args()?;
    let server = Server::builder()
        .handler(|req: &Request| {
            Response::text(format!(
                "Hello from switchyard! You asked for {}\n",
                req.path()
            ))
        })
        .bind(addr.as_str())?;
    println!(
        "serving on http://{}/ (Ctrl-C to stop)",
        server.local_addr()
    );
    signals::shutdown_on_signals(server.shutdown_handle())?;
    let report = server.run()?;
    println!("stopped ({report:?})");
    Ok(())
}

fn address_from_args() -> Result<String, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(std::env::var("SWITCHYARD_ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_owned())),
        [flag, addr] if flag == "--addr" => Ok(addr.clone()),
        _ => Err("usage: hello [--addr HOST:PORT]".into()),
    }
}

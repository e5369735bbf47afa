//! The server inside another program: spawn it on a free port, talk to it, shut it down.
//!
//! `cargo run --example embed`

#![allow(clippy::print_stdout)] // printing the exchange is what this example shows

use std::io::{Read, Write};
use std::net::TcpStream;

use switchyard::{Request, Server};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::builder()
        .threads(2)
        .route(
            switchyard::http::Method::GET,
            "/greet/{name}",
            |req: &Request| format!("hello, {}", req.param("name").unwrap_or("stranger")),
        )
        .bind("127.0.0.1:0")?
        .spawn()?;
    let addr = server.local_addr();
    println!("embedded server on http://{addr}/");

    let mut stream = TcpStream::connect(addr)?;
    stream.write_all(
        b"GET /greet/embedder HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    println!("{response}");

    let report = server.shutdown()?;
    println!("stopped cleanly: {}", report.is_clean());
    Ok(())
}

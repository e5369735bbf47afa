//! The chat example (`examples/chat.rs`) over real sockets: the room and the clock.

mod support;

#[allow(dead_code)] // the example's `main` is not used here
#[path = "../examples/chat.rs"]
mod chat;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use switchyard::Server;
use tungstenite::Message;

use support::{connect, spawn};

fn join(addr: std::net::SocketAddr) -> tungstenite::WebSocket<TcpStream> {
    let (client, _) = tungstenite::client(format!("ws://{addr}/room").as_str(), connect(addr))
        .expect("handshake");
    client
}

fn next_text(client: &mut tungstenite::WebSocket<TcpStream>) -> String {
    loop {
        if let Message::Text(text) = client.read().expect("a message") {
            return text.to_string();
        }
    }
}

#[test]
fn the_room_hears_everyone_and_the_clock_ticks() {
    let server = spawn(Server::builder().threads(2).app(chat::app()));
    let addr = server.local_addr();
    let page = support::get(addr, "/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("new WebSocket"));

    let mut alice = join(addr);
    assert!(next_text(&mut alice).ends_with("joined (1 here)"));
    let mut bob = join(addr);
    assert!(next_text(&mut bob).ends_with("joined (2 here)"));
    assert!(next_text(&mut alice).ends_with("joined (2 here)"));
    alice.send(Message::text("hi bob")).unwrap();
    for client in [&mut alice, &mut bob] {
        assert!(next_text(client).ends_with(": hi bob"));
    }
    drop(alice);
    assert!(next_text(&mut bob).ends_with(" left"));

    // The clock: an event stream with a `tick` event every second.
    let mut stream = connect(addr);
    write!(stream, "GET /clock HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    while !line.starts_with("event: tick") {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the clock ended");
    }
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("data: ") && line.trim_end().ends_with(" UTC"),
        "{line}"
    );
}

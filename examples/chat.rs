//! A chat room in the browser: a page, a WebSocket room everybody's messages go to, and a
//! clock pushed over Server-Sent Events. Neither the open sockets nor the clock's streams
//! hold a worker or a thread of their own.
//!
//! ```text
//! cargo run --example chat          # then open http://127.0.0.1:3000/ in two tabs
//! ```

#![allow(clippy::print_stdout)] // the example says where it serves

#[path = "support/signals.rs"]
mod signals;

use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchyard::live::{
    CloseFrame, Event, EventStream, Message, Topic, WebSocket, WebSocketSession,
};
use switchyard::{Request, Response, Router, Server};

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>switchyard chat</title>
<style>
  body { font: 16px system-ui, sans-serif; max-width: 40em; margin: 2em auto; }
  #log { border: 1px solid #ccc; height: 20em; overflow-y: auto; padding: .5em; }
  #clock { color: #666; }
</style>
<h1>Chat <small id="clock"></small></h1>
<div id="log"></div>
<form id="form"><input id="text" autocomplete="off" autofocus size="50"> <button>Send</button></form>
<script>
  const log = document.getElementById("log");
  const show = (text) => {
    const line = document.createElement("div");
    line.textContent = text;
    log.appendChild(line);
    log.scrollTop = log.scrollHeight;
  };
  const ws = new WebSocket(`ws://${location.host}/room`);
  ws.onopen = () => show("(connected)");
  ws.onmessage = (event) => show(event.data);
  ws.onclose = (event) => show(`(closed: ${event.code} ${event.reason})`);
  document.getElementById("form").onsubmit = (event) => {
    event.preventDefault();
    const input = document.getElementById("text");
    if (input.value) ws.send(input.value);
    input.value = "";
  };
  const clock = new EventSource("/clock");
  clock.addEventListener("tick", (event) => {
    document.getElementById("clock").textContent = event.data;
  });
</script>
"#;

/// One member of the room: joins on open, speaks to everyone, leaves on close.
struct Member {
    room: Topic<WebSocket>,
    name: String,
}

impl WebSocketSession for Member {
    fn on_open(&mut self, ws: &WebSocket) {
        self.room.subscribe(ws.clone());
        self.room.send(Message::text(format!(
            "{} joined ({} here)",
            self.name,
            self.room.len()
        )));
    }

    fn on_message(&mut self, _ws: &WebSocket, message: Message) {
        if let Ok(text) = message.to_text() {
            self.room
                .send(Message::text(format!("{}: {text}", self.name)));
        }
    }

    fn on_close(&mut self, ws: &WebSocket, _frame: Option<CloseFrame>) {
        self.room.unsubscribe(ws);
        self.room.send(Message::text(format!("{} left", self.name)));
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::builder().app(app()).bind("127.0.0.1:3000")?;
    println!("chat on http://{}/ (Ctrl-C stops it)", server.local_addr());
    signals::shutdown_on_signals(server.shutdown_handle())?;
    let report = server.run()?;
    println!("stopped: {report:?}");
    Ok(())
}

/// The app: the page, the room, the clock.
fn app() -> Router {
    let room = Topic::new();
    let clocks = clock_ticker();
    Router::new()
        .get("/", |_: &Request| Response::html(PAGE))
        .websocket("/room", move |req: &Request| Member {
            room: room.clone(),
            name: match req.remote_addr() {
                Some(addr) => format!("guest-{}", addr.port()),
                None => "guest".to_owned(),
            },
        })
        .get("/clock", move |_: &Request| {
            let (response, stream) = Response::events();
            clocks.subscribe(stream);
            response
        })
}

/// One thread ticks every clock stream once a second.
fn clock_ticker() -> Topic<EventStream> {
    let clocks = Topic::new();
    let ticking = clocks.clone();
    let (_stop, stopped) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) =
            stopped.recv_timeout(Duration::from_secs(1))
        {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let time = format!(
                "{:02}:{:02}:{:02} UTC",
                secs / 3600 % 24,
                secs / 60 % 60,
                secs % 60
            );
            ticking.send(Event::new().event("tick").data(time));
        }
    });
    clocks
}

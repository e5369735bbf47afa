//! A load tool for live connections, against any server that implements the reference
//! app's `/ws` (echo), `/broadcast` and `/events` (the reference contract): one thread,
//! non-blocking sockets (mio), raw frames, so that it can hold 10,000 connections.
//!
//! ```text
//! live_load ADDR hold-ws N SECS      open N WebSockets to /ws, hold them SECS
//! live_load ADDR hold-sse N SECS     open N event streams to /events, hold them SECS
//! live_load ADDR broadcast N COUNT   N clients on /broadcast; COUNT 64-byte messages, each
//!                                    sent once every client got the previous one
//! live_load ADDR echo N SECS         N clients on /ws, each sending 64 bytes and waiting
//!                                    for the echo, for SECS
//! ```
//!
//! Prints one `key=value` line per result (for scripts), e.g. `open=10000 open_secs=1.2`.
//! Its output is its report (printing is the point: `print_stdout` is allowed in Cargo.toml).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

const PAYLOAD: [u8; 64] = *b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// Connections opening at once (a burst of SYNs overflows the listen backlog).
const OPEN_IN_FLIGHT: usize = 256;
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);

struct Client {
    stream: TcpStream,
    /// Bytes received and not parsed yet.
    input: Vec<u8>,
    /// Bytes to send.
    output: Vec<u8>,
    open: bool,
    /// Text messages received (or SSE `data:` lines).
    received: u64,
    /// When the last echo request was sent.
    sent_at: Option<Instant>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    WebSocket,
    Events,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, mode, n, last] = &args[..] else {
        return Err("usage: live_load ADDR (hold-ws|hold-sse|broadcast|echo) N SECS|COUNT".into());
    };
    let addr: SocketAddr = addr.parse()?;
    let n: usize = n.parse()?;
    let last: u64 = last.parse()?;
    let mut load = Load::new(addr)?;
    match mode.as_str() {
        "hold-ws" => {
            load.open(n, "/ws", Kind::WebSocket)?;
            load.hold(Duration::from_secs(last))?;
        }
        "hold-sse" => {
            load.open(n, "/events", Kind::Events)?;
            load.hold(Duration::from_secs(last))?;
        }
        "broadcast" => {
            load.open(n, "/broadcast", Kind::WebSocket)?;
            load.broadcast(last)?;
        }
        "echo" => {
            load.open(n, "/ws", Kind::WebSocket)?;
            load.echo(Duration::from_secs(last))?;
        }
        other => return Err(format!("unknown mode {other}").into()),
    }
    Ok(())
}

struct Load {
    addr: SocketAddr,
    poll: Poll,
    events: Events,
    clients: Vec<Client>,
    kind: Kind,
}

impl Load {
    fn new(addr: SocketAddr) -> io::Result<Self> {
        Ok(Self {
            addr,
            poll: Poll::new()?,
            events: Events::with_capacity(4096),
            clients: Vec::new(),
            kind: Kind::WebSocket,
        })
    }

    fn open(&mut self, n: usize, path: &str, kind: Kind) -> Result<(), Box<dyn std::error::Error>> {
        self.kind = kind;
        let request = match kind {
            Kind::WebSocket => format!(
                "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                self.addr
            ),
            Kind::Events => format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr),
        };
        let started = Instant::now();
        let mut opened = 0;
        while opened < n {
            assert!(started.elapsed() < OPEN_TIMEOUT, "opening took too long");
            let pending = self.clients.len() - opened;
            for _ in pending..OPEN_IN_FLIGHT.min(n - self.clients.len() + pending) {
                if self.clients.len() == n {
                    break;
                }
                let mut stream = TcpStream::connect(self.addr)?;
                let token = Token(self.clients.len());
                self.poll.registry().register(
                    &mut stream,
                    token,
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                self.clients.push(Client {
                    stream,
                    input: Vec::new(),
                    output: request.clone().into_bytes(),
                    open: false,
                    received: 0,
                    sent_at: None,
                });
            }
            self.turn(Duration::from_millis(100))?;
            opened = self.clients.iter().filter(|c| c.open).count();
        }
        println!("open={n} open_secs={:.2}", started.elapsed().as_secs_f64());
        Ok(())
    }

    fn hold(&mut self, secs: Duration) -> Result<(), Box<dyn std::error::Error>> {
        println!("holding=1");
        let until = Instant::now() + secs;
        while Instant::now() < until {
            self.turn(Duration::from_millis(100))?;
        }
        let still_open = self.clients.iter().filter(|c| c.open).count();
        let received: u64 = self.clients.iter().map(|c| c.received).sum();
        println!("still_open={still_open} messages_received={received}");
        Ok(())
    }

    fn broadcast(&mut self, count: u64) -> Result<(), Box<dyn std::error::Error>> {
        let n = self.clients.len() as u64;
        // Warm up until every client got a message: a server may subscribe a client only
        // after its 101 went out.
        let deadline = Instant::now() + Duration::from_secs(30);
        // One message every 50 ms (a turn ends at the first event, so not one per turn: that
        // flooded the server with thousands).
        let mut next_send = Instant::now();
        while self.clients.iter().any(|c| c.received == 0) {
            assert!(
                Instant::now() < deadline,
                "some clients never got a message"
            );
            if Instant::now() >= next_send {
                queue_frame(&mut self.clients[0].output, &PAYLOAD);
                self.flush(0)?;
                next_send = Instant::now() + Duration::from_millis(50);
            }
            self.turn(Duration::from_millis(50))?;
        }
        // Let the warm-up messages arrive everywhere (the server may still owe many: one was
        // sent every 50 ms until the last client had one), then count from there: the count
        // must stand still for 500 ms, or a slow server's backlog would answer the rounds.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let before: u64 = self.clients.iter().map(|c| c.received).sum();
            let quiet_until = Instant::now() + Duration::from_millis(500);
            while Instant::now() < quiet_until {
                self.turn(Duration::from_millis(50))?;
            }
            let after: u64 = self.clients.iter().map(|c| c.received).sum();
            if after == before {
                break;
            }
            assert!(Instant::now() < deadline, "the warm-up messages never stopped coming");
        }
        let mut latencies = Vec::with_capacity(count as usize);
        let started = Instant::now();
        for round in 0..count {
            let base: u64 = self.clients.iter().map(|c| c.received).sum();
            let sent = Instant::now();
            queue_frame(&mut self.clients[0].output, &PAYLOAD);
            self.flush(0)?;
            let target = base + n;
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let got: u64 = self.clients.iter().map(|c| c.received).sum();
                if got >= target {
                    break;
                }
                assert!(Instant::now() < deadline, "round {round}: {got}/{target}");
                self.turn(Duration::from_millis(100))?;
            }
            latencies.push(sent.elapsed());
        }
        let secs = started.elapsed().as_secs_f64();
        latencies.sort();
        let p =
            |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e3;
        println!(
            "clients={n} messages={count} delivered_per_sec={:.0} fanout_p50_ms={:.2} fanout_p99_ms={:.2}",
            (n * count) as f64 / secs,
            p(0.5),
            p(0.99)
        );
        Ok(())
    }

    fn echo(&mut self, secs: Duration) -> Result<(), Box<dyn std::error::Error>> {
        for index in 0..self.clients.len() {
            self.clients[index].sent_at = Some(Instant::now());
            queue_frame(&mut self.clients[index].output, &PAYLOAD);
            self.flush(index)?;
        }
        let started = Instant::now();
        let base: u64 = self.clients.iter().map(|c| c.received).sum();
        let mut latencies = Vec::new();
        while started.elapsed() < secs {
            let before: Vec<u64> = self.clients.iter().map(|c| c.received).collect();
            self.turn(Duration::from_millis(100))?;
            for (index, before) in before.into_iter().enumerate() {
                let got = self.clients[index].received - before;
                if got > 0 {
                    if let Some(at) = self.clients[index].sent_at {
                        latencies.push(at.elapsed());
                    }
                    self.clients[index].sent_at = Some(Instant::now());
                    queue_frame(&mut self.clients[index].output, &PAYLOAD);
                    self.flush(index)?;
                }
            }
        }
        let total: u64 = self.clients.iter().map(|c| c.received).sum::<u64>() - base;
        latencies.sort();
        let p99 = latencies
            .get(latencies.len().saturating_sub(1) * 99 / 100)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3);
        println!(
            "clients={} round_trips_per_sec={:.0} p99_ms={p99:.2}",
            self.clients.len(),
            total as f64 / started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Waits up to `timeout` for readiness and handles it.
    fn turn(&mut self, timeout: Duration) -> io::Result<()> {
        self.poll.poll(&mut self.events, Some(timeout))?;
        let ready: Vec<usize> = self.events.iter().map(|e| e.token().0).collect();
        for index in ready {
            self.flush(index)?;
            self.read(index)?;
        }
        Ok(())
    }

    fn flush(&mut self, index: usize) -> io::Result<()> {
        let client = &mut self.clients[index];
        while !client.output.is_empty() {
            match client.stream.write(&client.output) {
                Ok(n) => {
                    client.output.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn read(&mut self, index: usize) -> io::Result<()> {
        let kind = self.kind;
        let client = &mut self.clients[index];
        let mut buf = [0u8; 16 * 1024];
        loop {
            match client.stream.read(&mut buf) {
                Ok(0) => {
                    client.open = false;
                    break;
                }
                Ok(n) => client.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
                Err(e) => return Err(e),
            }
        }
        if !client.open {
            let Some(end) = find(&client.input, b"\r\n\r\n") else {
                return Ok(());
            };
            let head = String::from_utf8_lossy(&client.input[..end]).into_owned();
            let expected = match kind {
                Kind::WebSocket => "HTTP/1.1 101",
                Kind::Events => "HTTP/1.1 200",
            };
            if !head.starts_with(expected) {
                return Err(io::Error::other(format!("refused: {head}")));
            }
            client.input.drain(..end + 4);
            client.open = true;
        }
        match kind {
            Kind::WebSocket => {
                while let Some((opcode, len, payload_at)) = parse_frame(&client.input) {
                    match opcode {
                        0x1 | 0x2 => client.received += 1,
                        // A ping: answer it.
                        0x9 => {
                            let payload = client.input[payload_at..payload_at + len].to_vec();
                            queue_control(&mut client.output, 0xA, &payload);
                        }
                        _ => {}
                    }
                    client.input.drain(..payload_at + len);
                }
            }
            Kind::Events => {
                // Counted by `data:` lines; chunk framing is skipped over.
                while let Some(end) = find(&client.input, b"\n") {
                    if client.input.starts_with(b"data:") {
                        client.received += 1;
                    }
                    client.input.drain(..=end);
                }
            }
        }
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A complete server frame at the start of `input`: (opcode, payload length, payload start).
fn parse_frame(input: &[u8]) -> Option<(u8, usize, usize)> {
    if input.len() < 2 {
        return None;
    }
    let opcode = input[0] & 0x0f;
    let (len, at) = match input[1] & 0x7f {
        126 => (
            usize::from(u16::from_be_bytes([*input.get(2)?, *input.get(3)?])),
            4,
        ),
        127 => {
            let bytes: [u8; 8] = input.get(2..10)?.try_into().ok()?;
            (usize::try_from(u64::from_be_bytes(bytes)).ok()?, 10)
        }
        n => (usize::from(n), 2),
    };
    (input.len() >= at + len).then_some((opcode, len, at))
}

/// Queues a masked text frame.
fn queue_frame(out: &mut Vec<u8>, payload: &[u8]) {
    queue_control(out, 0x1, payload);
}

fn queue_control(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    let mask = [0x5a, 0x17, 0x3c, 0x81];
    out.push(0x80 | opcode);
    if payload.len() < 126 {
        out.push(0x80 | payload.len() as u8);
    } else {
        out.push(0x80 | 126);
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
}

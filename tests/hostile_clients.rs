//! Hostile clients: greedy and slow clients must not hold the server's workers.
//!
//! Each test starts a server with few workers, sets attackers on it over raw TCP, waits for
//! a real event showing the attack is in place, then sends one request from a *newcomer* on
//! a fresh connection. The newcomer must have its whole response within [`BOUND`] (5 s),
//! far less than the timeouts that would otherwise free a held worker (30 s).
//!
//! - (a) [`pipelining_flooders_do_not_starve_a_newcomer`]: `threads` flooders, each
//!   pipelining `GET /plaintext` in 64 KiB batches from one thread and reading the answers
//!   as fast as it can from another, so that its connection always has input buffered. In
//!   place once every flooder has had 1 MiB of answers. Proves that a connection with
//!   endless input gets turns, not a worker of its own.
//! - (b) [`clients_that_never_read_do_not_hold_the_workers`]: `threads + 2` clients ask for
//!   a 16 MB `/stream/2000` and never read. In place once `threads` streams have started.
//!   Proves that a response the client does not take pins no worker in a blocked write
//!   (until the 30 s write timeout).
//! - (c) [`a_slow_reader_of_a_large_file_does_not_hold_the_only_worker`]: one worker; one
//!   client downloads a 64 MiB `Body::file`, 4 KiB every 100 ms, so every write makes
//!   progress and no write timeout ever fires. In place once it has the `200` head. Proves
//!   that eight newcomers, all at once, are each answered in full while the file trickles
//!   out.
//! - (d) [`slow_request_bodies_do_not_hold_the_workers`]: `threads + 2` clients announce a
//!   1 MiB `POST /echo` body and send one byte every 500 ms. In place once `threads` of
//!   them have their `100 Continue`. Proves that a body that trickles in pins no worker in a
//!   blocked read (until the 30 s body timeout).
//!
//! The attacks in place are the least today's server could show: it starts only `threads`
//! of the `threads + 2` streams or bodies (the rest wait for a worker), so waiting for more
//! would turn the failure these tests exist for into a setup error.
//!
//! Every wait is bounded. A failure is an assertion naming the attack, never a hang: the
//! attackers are stopped (a stop signal, then their sockets shut down, which unblocks their
//! threads and, once closed, the server's reads and writes) and the server is shut down
//! with a 1 s drain timeout before anything is asserted; guards do the same when setup
//! panics. The tests measure latency on shared cores, so they run one at a time.

mod support;

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use switchyard::http::StatusCode;
use switchyard::{Body, Limits, Rejection, Request, Response, Router, RunningServer, Server};

/// Worker threads of the server under attack (one in the slow file reader test).
const THREADS: usize = 2;
/// How long a newcomer may wait for its whole response.
const BOUND: Duration = support::IO_TIMEOUT;
/// How long an attack may take to be in place.
const SETUP_BOUND: Duration = support::IO_TIMEOUT;
/// Requests in flight when the server shuts down are cut after this long.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the server may take to stop once the attackers are gone.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(10);
/// Every blocking call of an attacker returns this often, to look at the stop signal.
const ATTACKER_IO_TIMEOUT: Duration = Duration::from_millis(250);

/// The body of `/plaintext`.
const PLAINTEXT: &str = "Hello, World!";
/// A flooder writes this much of pipelined requests per `write`.
const FLOOD_BATCH_BYTES: usize = 64 * 1024;
/// A flooder is being served once it has read this much of answers (some 8000; time for
/// the connection's TCP windows to grow).
const FLOOD_ENGAGED_BYTES: u64 = 1024 * 1024;
/// Chunks of the `/stream/{n}` response the non-reading clients ask for.
const STREAM_CHUNKS: u64 = 2000;
/// Each chunk of `/stream/{n}` is padded to this size: 2000 chunks make 16 MB, more than
/// the socket buffers of a loopback connection hold (`tcp_wmem` allows the server at most
/// 4 MiB, and a receive buffer grows only as its application reads).
const STREAM_CHUNK_BYTES: usize = 8 * 1024;
/// `/stream/{n}` accepts at most this many chunks.
const MAX_STREAM_CHUNKS: u64 = 1_000_000;
/// The size of the file the slow reader downloads.
const FILE_BYTES: u64 = 64 * 1024 * 1024;
/// The slow reader takes this much at a time...
const SLOW_READ_BYTES: usize = 4 * 1024;
/// ... this often (40 KiB/s: the 64 MiB would take half an hour).
const SLOW_READ_INTERVAL: Duration = Duration::from_millis(100);
/// Concurrent newcomers served while the slow reader downloads.
const NEWCOMERS_BESIDE_THE_FILE: usize = 8;
/// The body length slow uploaders announce.
const SLOW_BODY_BYTES: usize = 1_048_576;
/// Slow uploaders send one byte this often.
const DRIP_INTERVAL: Duration = Duration::from_millis(500);

// ---------------------------------------------------------------------------------------
// The four attacks
// ---------------------------------------------------------------------------------------

/// (a) `threads` flooders keep their connections' input full: a server that serves a
/// connection until its input runs dry never gets back to the queue.
///
/// The engine this was written against passes: its turn ends as soon as a read returns
/// less than it asked for, and on loopback a flooder's writer does not stay that far ahead
/// for long (newcomers were answered in 4 to 30 ms). The test keeps it that way.
#[test]
fn pipelining_flooders_do_not_starve_a_newcomer() {
    let _one_at_a_time = one_at_a_time();
    let mut target = Target::start(THREADS, app());
    let mut attack = Attack::default();
    let (engaged, flooders_engaged) = mpsc::channel();
    for i in 0..THREADS {
        let stream = attack.connect(target.addr);
        let writer = stream.try_clone().expect("clone a flooder's socket");
        attack.spawn(&format!("flood-write-{i}"), move |stop| flood(writer, stop));
        let engaged = engaged.clone();
        attack.spawn(&format!("flood-read-{i}"), move |stop| {
            discard_answers(stream, stop, &engaged);
        });
    }
    await_events(
        &flooders_engaged,
        THREADS,
        "flooders served 1 MiB of answers",
    );

    let outcome = newcomer(target.addr);
    let ended = end(&mut attack, &mut target);
    assert_answered(
        &outcome,
        &format!(
            "{THREADS} pipelining flooders kept their input full (threads = {THREADS}, \
             batches of {FLOOD_BATCH_BYTES} bytes)"
        ),
    );
    ended.unwrap_or_else(|why| panic!("{why}"));
}

/// (b) `threads + 2` clients ask for a 16 MB streamed response and never read it: the
/// socket buffers fill, and a server that writes until the response is out blocks.
#[test]
fn clients_that_never_read_do_not_hold_the_workers() {
    let _one_at_a_time = one_at_a_time();
    let (started, streams_started) = mpsc::channel();
    let mut target = Target::start(THREADS, app().get("/stream/{n}", stream_route(started)));
    let mut attack = Attack::default();
    let request = format!("GET /stream/{STREAM_CHUNKS} HTTP/1.1\r\nHost: never-reads\r\n\r\n");
    for _ in 0..THREADS + 2 {
        // The attack keeps the socket open; this client never reads from it.
        attack
            .connect(target.addr)
            .write_all(request.as_bytes())
            .expect("send the stream request");
    }
    await_events(&streams_started, THREADS, "streamed responses started");

    let outcome = newcomer(target.addr);
    let ended = end(&mut attack, &mut target);
    assert_answered(
        &outcome,
        &format!(
            "{} clients that never read held /stream/{STREAM_CHUNKS} responses \
             ({STREAM_CHUNK_BYTES}-byte chunks, threads = {THREADS})",
            THREADS + 2,
        ),
    );
    ended.unwrap_or_else(|why| panic!("{why}"));
}

/// (c) One worker; one client downloads a 64 MiB file a little at a time, so every write
/// makes progress and no write timeout fires: a server that writes the whole file before
/// serving anyone else makes everyone wait half an hour.
#[test]
fn a_slow_reader_of_a_large_file_does_not_hold_the_only_worker() {
    let _one_at_a_time = one_at_a_time();
    let file = TempFile::new(FILE_BYTES);
    let mut target = Target::start(1, app().get("/file", file_route(file.path())));
    let mut attack = Attack::default();
    let (head_sender, head) = mpsc::channel();
    let stream = attack.connect(target.addr);
    attack.spawn("slow-reader", move |stop| {
        read_slowly(stream, stop, &head_sender)
    });
    let head = head
        .recv_timeout(SETUP_BOUND)
        .expect("the slow reader had no response head within 5 s");
    assert!(
        head.starts_with("HTTP/1.1 200 ")
            && head
                .to_ascii_lowercase()
                .contains(&format!("\r\ncontent-length: {FILE_BYTES}\r\n")),
        "unexpected head for the file: {head:?}"
    );

    let newcomers: Vec<_> = (0..NEWCOMERS_BESIDE_THE_FILE)
        .map(|_| {
            let addr = target.addr;
            thread::spawn(move || newcomer(addr))
        })
        .collect();
    let outcomes: Vec<_> = newcomers
        .into_iter()
        .map(|newcomer| newcomer.join().expect("newcomer thread"))
        .collect();
    let ended = end(&mut attack, &mut target);
    drop(file);
    let failed: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {NEWCOMERS_BESIDE_THE_FILE} newcomers not answered within {BOUND:?} while a slow \
         reader ({SLOW_READ_BYTES} bytes every {SLOW_READ_INTERVAL:?}) downloaded a \
         {} MiB file (threads = 1); first: {}",
        failed.len(),
        FILE_BYTES / (1024 * 1024),
        failed[0],
    );
    ended.unwrap_or_else(|why| panic!("{why}"));
}

/// (d) `threads + 2` clients announce a 1 MiB body and send a byte every 500 ms: a server
/// that reads the whole body before it moves on blocks until the body timeout (30 s).
#[test]
fn slow_request_bodies_do_not_hold_the_workers() {
    let _one_at_a_time = one_at_a_time();
    let mut target = Target::start(THREADS, app());
    let mut attack = Attack::default();
    let (continued, bodies_awaited) = mpsc::channel();
    for i in 0..THREADS + 2 {
        let stream = attack.connect(target.addr);
        let continued = continued.clone();
        attack.spawn(&format!("drip-{i}"), move |stop| {
            drip_body(stream, stop, &continued);
        });
    }
    await_events(
        &bodies_awaited,
        THREADS,
        "slow bodies awaited (100 Continue)",
    );

    let outcome = newcomer(target.addr);
    let ended = end(&mut attack, &mut target);
    assert_answered(
        &outcome,
        &format!(
            "{} clients sent their {SLOW_BODY_BYTES}-byte POST /echo bodies one byte every \
             {DRIP_INTERVAL:?} (threads = {THREADS})",
            THREADS + 2
        ),
    );
    ended.unwrap_or_else(|why| panic!("{why}"));
}

// ---------------------------------------------------------------------------------------
// The app
// ---------------------------------------------------------------------------------------

/// The reference app's `/plaintext` and `/echo` (see `examples/reference.rs`).
fn app() -> Router {
    Router::new()
        .get("/plaintext", |_: &Request| {
            Response::with_content_type(Body::from(PLAINTEXT), "text/plain")
        })
        .post("/echo", |req: &Request| {
            Response::bytes(req.body().to_vec())
        })
}

/// `/stream/{n}`: `n` chunks, each a `chunk {i}` line padded to [`STREAM_CHUNK_BYTES`];
/// reports on `started` that a stream began.
fn stream_route(
    started: Sender<()>,
) -> impl Fn(&Request) -> Result<Response, Rejection> + Send + Sync + 'static {
    move |req: &Request| {
        let n: u64 = req.param_as("n")?;
        if n > MAX_STREAM_CHUNKS {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                "at most 1000000 chunks",
            ));
        }
        let _ = started.send(());
        Ok(Response::with_content_type(
            Body::stream(PaddedChunks {
                next: 0,
                n,
                chunk: Vec::new(),
                pos: 0,
            }),
            "text/plain",
        ))
    }
}

/// The body of `/stream/{n}`: chunk `i` is `chunk {i}\n`, then dots and a newline up to
/// [`STREAM_CHUNK_BYTES`], handed out in as many reads as the caller's buffer needs.
struct PaddedChunks {
    next: u64,
    n: u64,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for PaddedChunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.chunk.len() {
            if self.next == self.n {
                return Ok(0);
            }
            self.chunk.clear();
            writeln!(self.chunk, "chunk {}", self.next)?;
            self.chunk.resize(STREAM_CHUNK_BYTES - 1, b'.');
            self.chunk.push(b'\n');
            self.pos = 0;
            self.next += 1;
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// `/file`: the file at `path`, as a `Body::file`.
fn file_route(path: &Path) -> impl Fn(&Request) -> Response + Send + Sync + 'static {
    let path = path.to_owned();
    move |_: &Request| match File::open(&path).and_then(Body::file) {
        Ok(body) => Response::with_content_type(body, "application/octet-stream"),
        Err(error) => Response::text(format!("cannot open the file: {error}"))
            .with_status(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

// ---------------------------------------------------------------------------------------
// The attackers
// ---------------------------------------------------------------------------------------

/// Writes pipelined `GET /plaintext` requests as fast as the server takes them, a batch
/// per `write`. A partial write resumes where it stopped, so the stream of requests stays
/// well formed.
fn flood(mut stream: TcpStream, stop: &StopSignal) {
    let request = b"GET /plaintext HTTP/1.1\r\nHost: flood\r\n\r\n";
    let batch = request.repeat(FLOOD_BATCH_BYTES.div_ceil(request.len()));
    let mut pos = 0;
    while !stop.is_set() {
        match stream.write(&batch[pos..]) {
            Ok(0) => return,
            Ok(n) => pos = (pos + n) % batch.len(),
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Reads and drops a flooder's answers as fast as they come; reports on `engaged` once
/// [`FLOOD_ENGAGED_BYTES`] have arrived.
fn discard_answers(mut stream: TcpStream, stop: &StopSignal, engaged: &Sender<()>) {
    let mut piece = vec![0u8; 64 * 1024];
    let mut received = 0u64;
    let mut reported = false;
    while !stop.is_set() {
        match stream.read(&mut piece) {
            Ok(0) => return,
            Ok(n) => received += n as u64,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
        if !reported && received >= FLOOD_ENGAGED_BYTES {
            reported = true;
            let _ = engaged.send(());
        }
    }
}

/// Asks for `/file`, sends its response head on `head` once it has arrived, then reads
/// [`SLOW_READ_BYTES`] every [`SLOW_READ_INTERVAL`] until stopped.
fn read_slowly(mut stream: TcpStream, stop: &StopSignal, head: &Sender<String>) {
    if stream
        .write_all(b"GET /file HTTP/1.1\r\nHost: slow-reader\r\n\r\n")
        .is_err()
    {
        return;
    }
    let mut piece = [0u8; SLOW_READ_BYTES];
    let mut start = Vec::new();
    let mut reported = false;
    loop {
        match stream.read(&mut piece) {
            Ok(0) => return,
            Ok(n) if !reported => {
                start.extend_from_slice(&piece[..n]);
                if let Some(end) = find(&start, b"\r\n\r\n") {
                    reported = true;
                    let _ = head.send(String::from_utf8_lossy(&start[..end + 4]).into_owned());
                }
            }
            Ok(_) => {}
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
        if stop.pause(SLOW_READ_INTERVAL) {
            return;
        }
    }
}

/// Announces a [`SLOW_BODY_BYTES`] body on `POST /echo` with `Expect: 100-continue`, then
/// sends one byte every [`DRIP_INTERVAL`] until stopped (without waiting for the `100
/// Continue`, as a client may). The `100 Continue` is the server saying it now waits for
/// the body: it is reported on `continued`, the event the test waits for.
fn drip_body(mut stream: TcpStream, stop: &StopSignal, continued: &Sender<()>) {
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: drip\r\nContent-Length: {SLOW_BODY_BYTES}\r\n\
         Expect: 100-continue\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let mut heard = Vec::new();
    let mut reported = false;
    for _ in 0..SLOW_BODY_BYTES {
        if stop.is_set() || stream.write_all(b"x").is_err() {
            return;
        }
        // The pause between two bytes is spent listening for the server's `100 Continue`.
        let next_byte = Instant::now() + DRIP_INTERVAL;
        loop {
            let left = next_byte.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if reported {
                if stop.pause(left) {
                    return;
                }
                continue;
            }
            let mut piece = [0u8; 256];
            if stream.set_read_timeout(Some(left)).is_err() {
                return;
            }
            match stream.read(&mut piece) {
                Ok(0) => return,
                Ok(n) => {
                    heard.extend_from_slice(&piece[..n]);
                    if heard.starts_with(b"HTTP/1.1 100 ") && find(&heard, b"\r\n\r\n").is_some() {
                        reported = true;
                        let _ = continued.send(());
                    }
                }
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

/// Sends `GET /plaintext` on a fresh connection: the time to its whole `200` answer, or
/// why there was none within [`BOUND`].
fn newcomer(addr: SocketAddr) -> Result<Duration, String> {
    let start = Instant::now();
    let deadline = start + BOUND;
    let mut stream =
        TcpStream::connect_timeout(&addr, BOUND).map_err(|e| format!("cannot connect: {e}"))?;
    stream
        .set_write_timeout(Some(BOUND))
        .and_then(|()| stream.write_all(b"GET /plaintext HTTP/1.1\r\nHost: newcomer\r\n\r\n"))
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut received = Vec::new();
    let mut piece = [0u8; 4096];
    loop {
        if let Some(answer) = plaintext_answer(&received) {
            return answer.map(|()| start.elapsed());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "no whole answer after {:.1?} ({} bytes received)",
                start.elapsed(),
                received.len()
            ));
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| format!("cannot set a read timeout: {e}"))?;
        match stream.read(&mut piece) {
            Ok(0) => {
                return Err(format!(
                    "connection closed after {:.1?} with {} bytes received: {:?}",
                    start.elapsed(),
                    received.len(),
                    String::from_utf8_lossy(&received)
                ));
            }
            Ok(n) => received.extend_from_slice(&piece[..n]),
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read failed after {:.1?}: {e}", start.elapsed())),
        }
    }
}

/// Whether `received` holds a whole answer (`None`: not yet), and whether it is the
/// expected `200` with [`PLAINTEXT`].
fn plaintext_answer(received: &[u8]) -> Option<Result<(), String>> {
    let head_end = find(received, b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&received[..head_end]);
    if !head.starts_with("HTTP/1.1 200 ") {
        return Some(Err(format!("unexpected answer {head:?}")));
    }
    let Some(length) = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name.eq_ignore_ascii_case("content-length") {
            value.trim().parse::<usize>().ok()
        } else {
            None
        }
    }) else {
        return Some(Err(format!("no Content-Length in {head:?}")));
    };
    let body = received.get(head_end..head_end + length)?;
    Some(if body == PLAINTEXT.as_bytes() {
        Ok(())
    } else {
        Err(format!(
            "unexpected body {:?}",
            String::from_utf8_lossy(body)
        ))
    })
}

/// Fails the test, naming the attack, unless the newcomer was answered.
fn assert_answered(outcome: &Result<Duration, String>, attack: &str) {
    if let Err(why) = outcome {
        panic!("newcomer not answered within {BOUND:?} while {attack}: {why}");
    }
}

// ---------------------------------------------------------------------------------------
// Harness: the server, the attackers, the file, and bounded waits
// ---------------------------------------------------------------------------------------

/// The server under attack. Dropped, it is shut down (bounded), so a test that panics
/// during setup leaves no server behind either.
struct Target {
    server: Option<RunningServer>,
    addr: SocketAddr,
}

impl Target {
    fn start(threads: usize, router: Router) -> Self {
        let server = support::spawn(
            Server::builder()
                .threads(threads)
                .drain_timeout(DRAIN_TIMEOUT)
                .app(router),
        );
        Self {
            addr: server.local_addr(),
            server: Some(server),
        }
    }

    /// Shuts the server down and waits up to [`SHUTDOWN_BOUND`] for it to stop (a server
    /// that does not is left behind, detached).
    fn shut_down(&mut self) -> Result<(), String> {
        let Some(server) = self.server.take() else {
            return Ok(());
        };
        let (done, stopped) = mpsc::channel();
        thread::spawn(move || done.send(server.shutdown()));
        match stopped.recv_timeout(SHUTDOWN_BOUND) {
            Ok(Ok(_report)) => Ok(()),
            Ok(Err(error)) => Err(format!("the server stopped with an error: {error}")),
            Err(_) => Err(format!(
                "the server had not stopped {SHUTDOWN_BOUND:?} after its shutdown"
            )),
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

/// Stops the attackers, then the server; the server's shutdown error, if any.
fn end(attack: &mut Attack, target: &mut Target) -> Result<(), String> {
    attack.stop();
    target.shut_down()
}

/// The attackers: their threads and sockets. [`stop`](Self::stop) (also on drop) signals
/// the threads, shuts every socket down (unblocking whatever a thread waits for), joins
/// the threads and closes the sockets, which frees whatever the server was doing for them.
#[derive(Default)]
struct Attack {
    stop: Arc<StopSignal>,
    sockets: Vec<TcpStream>,
    threads: Vec<JoinHandle<()>>,
}

impl Attack {
    /// A connection to the server, kept open (and shut down at the end) by the attack.
    fn connect(&mut self, addr: SocketAddr) -> TcpStream {
        let stream = TcpStream::connect(addr).expect("attacker connects");
        stream.set_read_timeout(Some(ATTACKER_IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(ATTACKER_IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        self.sockets
            .push(stream.try_clone().expect("clone an attacker's socket"));
        stream
    }

    /// Runs an attacker until it returns, which it must soon after the stop signal.
    fn spawn(&mut self, name: &str, attacker: impl FnOnce(&StopSignal) + Send + 'static) {
        let stop = Arc::clone(&self.stop);
        let thread = thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || attacker(&stop))
            .expect("spawn an attacker");
        self.threads.push(thread);
    }

    fn stop(&mut self) {
        self.stop.set();
        for socket in self.sockets.drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Attack {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The attack's stop flag; attackers pausing between two moves wake up when it is set.
#[derive(Debug, Default)]
struct StopSignal {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl StopSignal {
    fn set(&self) {
        *lock(&self.stopped) = true;
        self.changed.notify_all();
    }

    fn is_set(&self) -> bool {
        *lock(&self.stopped)
    }

    /// Waits `pause` unless the flag is set first; returns whether it is set.
    fn pause(&self, pause: Duration) -> bool {
        let stopped = lock(&self.stopped);
        let (stopped, _) = self
            .changed
            .wait_timeout_while(stopped, pause, |stopped| !*stopped)
            .unwrap_or_else(PoisonError::into_inner);
        *stopped
    }
}

/// A sparse file of `len` bytes in the temporary directory, deleted on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(len: u64) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "switchyard-hostile-{}-{nanos}.bin",
            std::process::id()
        ));
        let file = File::create_new(&path).expect("create the temporary file");
        let temp = Self(path);
        file.set_len(len).expect("size the temporary file");
        temp
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Waits for `count` events on `events`, all within [`SETUP_BOUND`]; panics naming `what`
/// otherwise.
fn await_events(events: &Receiver<()>, count: usize, what: &str) {
    let deadline = Instant::now() + SETUP_BOUND;
    for seen in 0..count {
        let left = deadline.saturating_duration_since(Instant::now());
        if events.recv_timeout(left).is_err() {
            panic!("attack not in place: {seen} of {count} {what} within {SETUP_BOUND:?}");
        }
    }
}

/// Serialises the tests of this file: they measure latency on shared cores.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    lock(&SERIAL)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A blocking socket call that timed out says `WouldBlock` on Unix, `TimedOut` on Windows.
fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A client that never reads is closed once the write timeout passes without progress,
/// and its connection is not left in flight: the shutdown that follows has nothing to cut.
#[test]
fn a_client_that_never_reads_is_closed_after_the_write_timeout() {
    let _serial = one_at_a_time();
    const TOTAL: usize = 32 * 1024 * 1024;
    const WRITE_TIMEOUT: Duration = Duration::from_millis(300);
    let server = support::spawn(
        Server::builder()
            .threads(THREADS)
            .limits(Limits::default().write_timeout(WRITE_TIMEOUT))
            .drain_timeout(BOUND)
            .route(switchyard::http::Method::GET, "/big", |_: &Request| {
                Response::bytes(vec![b'x'; TOTAL])
            }),
    );
    let mut client = support::connect(server.local_addr());
    client
        .write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // Waiting out the timeout is the test: the server must act on its own meanwhile.
    thread::sleep(WRITE_TIMEOUT * 5);
    let received = support::read_to_close(&mut client).len();
    assert!(
        received < TOTAL,
        "the whole response ({received} bytes) came after the write timeout: not closed"
    );
    let report = server.shutdown().expect("shutdown");
    assert!(report.is_clean(), "connection left in flight: {report:?}");
}

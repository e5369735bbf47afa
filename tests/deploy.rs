//! Past one process: SO_REUSEPORT, socket activation, and the drain sequence a load
//! balancer can see.
#![allow(clippy::print_stdout)] // the socket-activation child tells its parent where it serves

mod support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use switchyard::{Error, Health, Request, Server};

use support::{Client, IO_TIMEOUT, spawn};

fn hello() -> switchyard::ServerBuilder {
    Server::builder()
        .threads(2)
        .route(http::Method::GET, "/x", |_: &Request| "x")
        .plugin(Health::new())
}

#[test]
fn reuse_port_lets_two_servers_bind_one_address() {
    let first = spawn(hello().reuse_port(true));
    let addr = first.local_addr();
    let second = hello()
        .reuse_port(true)
        .bind(addr)
        .unwrap()
        .spawn()
        .unwrap();
    assert_eq!(second.local_addr(), addr);
    assert_eq!(support::get(addr, "/x").text(), "x");
    // Without it, the address is taken.
    let error = hello().bind(addr).unwrap_err();
    assert!(matches!(error, Error::Bind { .. }), "{error:?}");
}

/// Waits until `addr` refuses connections (bounded).
fn wait_until_refused(addr: SocketAddr) {
    let deadline = Instant::now() + IO_TIMEOUT;
    while TcpStream::connect(addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting after {IO_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_shutdown_delay_keeps_serving_while_health_says_503() {
    let delay = Duration::from_secs(2);
    let server = spawn(hello().shutdown_delay(delay));
    let addr = server.local_addr();
    let mut kept = Client::new(addr);
    assert_eq!(kept.get("/healthz").status, 200);
    let started = Instant::now();
    server.shutdown_handle().shutdown();
    // The balancer's health check sees 503 on its keep-alive connection...
    let health = kept.get("/healthz");
    assert_eq!(health.status, 503);
    assert_eq!(health.header("connection"), None, "still keep-alive");
    // ...while new connections are still accepted and served.
    let reply = support::get(addr, "/x");
    assert_eq!((reply.status, reply.text().as_str()), (200, "x"));
    assert!(started.elapsed() < delay, "checked within the delay");
    wait_until_refused(addr);
    assert!(started.elapsed() >= delay, "refused only after the delay");
    // An idle connection gets a last request, answered with `Connection: close`.
    let last = kept.get("/x");
    assert_eq!(
        (last.status, last.header("connection")),
        (200, Some("close"))
    );
    assert!(support::is_closed(kept.stream()));
    let report = server.join().unwrap();
    assert!(report.is_clean(), "{report:?}");
}

#[test]
fn without_a_delay_shutdown_stops_accepting_at_once() {
    let server = spawn(hello());
    let addr = server.local_addr();
    let mut idle = Client::new(addr);
    assert_eq!(idle.get("/x").status, 200);
    server.shutdown_handle().shutdown();
    wait_until_refused(addr);
    assert!(
        support::is_closed(idle.stream()),
        "idle connections close at once"
    );
    server.join().unwrap();
}

/// The child side of `a_socket_passed_by_the_environment_is_served`: runs only when that
/// test starts this binary with a socket on fd 3.
#[test]
fn socket_activation_child() {
    if std::env::var_os("SWITCHYARD_ACTIVATION_CHILD").is_none() {
        return;
    }
    let server = hello()
        .listener_from_env()
        .expect("a socket from LISTEN_FDS");
    let handle = server.shutdown_handle();
    let running = server.spawn().unwrap();
    println!("serving {}", running.local_addr());
    // The parent closes our stdin when it is done.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    handle.shutdown();
    running.join().unwrap();
}

#[test]
fn a_socket_passed_by_the_environment_is_served() {
    if Command::new("python3").arg("-V").output().is_err() {
        println!("SKIPPED: python3 is needed to pass a socket on fd 3");
        return;
    }
    // Binds, puts the socket on fd 3 with LISTEN_FDS=1 and LISTEN_PID=its own pid, prints the
    // port, then becomes this test binary (same pid) running the child test: what systemd
    // does.
    let script = r#"
import os, socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
os.dup2(s.fileno(), 3); os.set_inheritable(3, True)
env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), SWITCHYARD_ACTIVATION_CHILD="1")
os.execve(sys.argv[1], [sys.argv[1], "--exact", "socket_activation_child", "--nocapture", "--test-threads=1"], env)
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .arg(std::env::current_exe().unwrap())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // A child that hangs is killed, so every read below ends (EOF) within the bound.
    let (done, watchdog) = std::sync::mpsc::channel::<()>();
    let pid = child.id().to_string();
    std::thread::spawn(move || {
        if watchdog.recv_timeout(IO_TIMEOUT * 6).is_err() {
            let _ = Command::new("kill").args(["-9", &pid]).status();
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut port = String::new();
    stdout.read_line(&mut port).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", port.trim()).parse().unwrap();
    // The socket listens before the server starts: this connection waits in its queue.
    let reply = support::get(addr, "/x");
    assert_eq!((reply.status, reply.text().as_str()), (200, "x"));
    // The test harness prints its own lines around the child test's (and `test NAME ... `
    // before it, on the same line).
    let serving = (&mut stdout)
        .lines()
        .map(Result::unwrap)
        .find(|line| line.contains("serving "))
        .expect("the child says where it serves");
    assert!(serving.ends_with(&format!("serving {addr}")), "{serving:?}");
    drop(child.stdin.take()); // ends the child
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let _ = done.send(());
    assert!(status.success(), "{status}: {rest}");
}

#[test]
fn listener_from_env_without_a_socket_is_a_config_error() {
    if std::env::var_os("LISTEN_FDS").is_some() {
        return;
    }
    let error = hello().listener_from_env().unwrap_err();
    assert!(matches!(error, Error::Config(_)), "{error:?}");
}

/// A proxy must never reuse a connection we are closing: our idle timeout exceeds the
/// upstream keep-alive timeout of the nginx configuration we ship.
#[test]
fn our_idle_timeout_outlasts_the_shipped_nginx_upstream_keepalive() {
    let config =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf")).unwrap();
    let seconds: u64 = config
        .lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix("keepalive_timeout "))
        .and_then(|value| {
            value
                .trim_end_matches(';')
                .trim_end_matches('s')
                .parse()
                .ok()
        })
        .expect("deploy/nginx.conf sets keepalive_timeout in seconds");
    assert!(switchyard::limits::DEFAULT_KEEP_ALIVE_TIMEOUT > Duration::from_secs(seconds));
}

//! Taking connections from a listener, ready to serve: non-blocking, and with Nagle's
//! algorithm off (small responses must not wait for more to send).
//!
//! On Linux both come without a system call per connection: `accept4(2)` makes the socket
//! non-blocking as it accepts it, and a socket accepted from a listener with `TCP_NODELAY`
//! inherits the option. Elsewhere (or on a listener that refuses the option) each accepted
//! socket is set up on its own.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};

/// Sets `TCP_NODELAY` on `listener` where the sockets it accepts inherit it (Linux), best
/// effort. Returns whether they do: else [`accept`] sets it on each.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn listener_nodelay(listener: &TcpListener) -> bool {
    rustix::net::sockopt::set_tcp_nodelay(listener, true).is_ok()
}

/// Sets `TCP_NODELAY` on `listener` where the sockets it accepts inherit it (Linux), best
/// effort. Returns whether they do: else [`accept`] sets it on each.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn listener_nodelay(_listener: &TcpListener) -> bool {
    false
}

/// Accepts a connection from a non-blocking listener: non-blocking itself, with
/// `TCP_NODELAY` (set here unless `nodelay_inherited`, see [`listener_nodelay`]).
/// `WouldBlock` when none is waiting; `ConnectionAborted` for a connection that could not
/// be set up (dropped: the next one may be fine).
pub(crate) fn accept(
    listener: &TcpListener,
    nodelay_inherited: bool,
) -> io::Result<(TcpStream, SocketAddr)> {
    let (stream, peer) = accept_non_blocking(listener)?;
    if !nodelay_inherited {
        // Best effort: a connection with Nagle's algorithm is slower, not wrong.
        let _ = stream.set_nodelay(true);
    }
    Ok((stream, peer))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn accept_non_blocking(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    use rustix::net::SocketFlags;

    let (fd, peer) =
        rustix::net::acceptfrom_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC)?;
    let peer = peer
        .and_then(|peer| SocketAddr::try_from(peer).ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::ConnectionAborted, "no IP peer address"))?;
    Ok((TcpStream::from(fd), peer))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn accept_non_blocking(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let (stream, peer) = listener.accept()?;
    stream
        .set_nonblocking(true)
        .map_err(|error| io::Error::new(io::ErrorKind::ConnectionAborted, error))?;
    Ok((stream, peer))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    use super::*;

    fn accepted(listener: &TcpListener, nodelay_inherited: bool) -> (TcpStream, SocketAddr) {
        let started = Instant::now();
        loop {
            match accept(listener, nodelay_inherited) {
                Ok(accepted) => return accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(started.elapsed() < Duration::from_secs(10), "no connection");
                    std::thread::yield_now();
                }
                Err(e) => panic!("accept failed: {e}"),
            }
        }
    }

    #[test]
    fn accepted_sockets_are_non_blocking_without_nagle() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let inherited = listener_nodelay(&listener);
        assert_eq!(
            inherited,
            cfg!(any(target_os = "linux", target_os = "android"))
        );
        let would_block = accept(&listener, inherited).unwrap_err();
        assert_eq!(would_block.kind(), io::ErrorKind::WouldBlock);

        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, peer) = accepted(&listener, inherited);
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(server.nodelay().unwrap());
        let mut buf = [0; 4];
        let nothing_yet = server.read(&mut buf).unwrap_err();
        assert_eq!(nothing_yet.kind(), io::ErrorKind::WouldBlock);
        server.write_all(b"pong").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong");
    }

    /// A listener whose sockets do not inherit the option: each gets it set.
    #[test]
    fn nodelay_is_set_on_each_socket_when_not_inherited() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = accepted(&listener, false);
        assert!(server.nodelay().unwrap());
    }
}

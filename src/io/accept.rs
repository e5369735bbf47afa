//! Taking connections from a listener, ready to serve: non-blocking, and with Nagle's
//! algorithm off (small responses must not wait for more to send).
//!
//! On Linux both come without a system call per connection: `accept4(2)` makes the socket
//! non-blocking as it accepts it, and a socket accepted from a listener with `TCP_NODELAY`
//! inherits the option. Elsewhere each accepted socket is set up with two calls.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};

/// Makes `listener` non-blocking and, where accepted sockets inherit it, sets `TCP_NODELAY`
/// on it for them.
pub(crate) fn prepare_listener(listener: &TcpListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    rustix::net::sockopt::set_tcp_nodelay(listener, true)?;
    Ok(())
}

/// Accepts a connection from a listener [`prepare_listener`] set up: non-blocking, with
/// `TCP_NODELAY`. `WouldBlock` when none is waiting.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    use rustix::net::SocketFlags;

    let (fd, peer) =
        rustix::net::acceptfrom_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC)?;
    let peer = peer
        .and_then(|peer| SocketAddr::try_from(peer).ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "peer is not an IP address"))?;
    Ok((TcpStream::from(fd), peer))
}

/// Accepts a connection from a listener [`prepare_listener`] set up: non-blocking, with
/// `TCP_NODELAY`. `WouldBlock` when none is waiting.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let (stream, peer) = listener.accept()?;
    stream.set_nonblocking(true)?;
    stream.set_nodelay(true)?;
    Ok((stream, peer))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn accepted_sockets_are_non_blocking_without_nagle() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        prepare_listener(&listener).unwrap();
        let would_block = accept(&listener).unwrap_err();
        assert_eq!(would_block.kind(), io::ErrorKind::WouldBlock);

        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let started = Instant::now();
        let (mut server, peer) = loop {
            match accept(&listener) {
                Ok(accepted) => break accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(started.elapsed() < Duration::from_secs(10), "no connection");
                    std::thread::yield_now();
                }
                Err(e) => panic!("accept failed: {e}"),
            }
        };
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(server.nodelay().unwrap());
        let mut buf = [0; 4];
        let nothing_yet = server.read(&mut buf).unwrap_err();
        assert_eq!(nothing_yet.kind(), io::ErrorKind::WouldBlock);
        client.write_all(b"ping").unwrap();
        client.flush().unwrap();
        server.write_all(b"pong").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong");
    }
}

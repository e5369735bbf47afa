//! Bytes from a WebSocket client into the live protocol, through the server's own connection
//! code (HTTP/1.1 handshake, then the WebSocket turns over an in-memory socket): never a
//! panic, never a hang, and the answer always starts with the `101` of the handshake.
//!
//! An input that starts with `0xFF` chooses the socket's behaviour first, as in the `conn`
//! target: the next byte how many read sizes follow, the one after how many write sizes,
//! then one byte per size (0 = "would block"). The rest is what the client sends after the
//! handshake: frames (RFC 6455 §5.2), masked or not, valid or not.
#![no_main]

mod schedule;

use libfuzzer_sys::fuzz_target;
use schedule::split;
use switchyard::__private::serve_websocket_bytes;

fuzz_target!(|data: &[u8]| {
    let (read_sizes, write_sizes, frames) = split(data);
    let out = serve_websocket_bytes(frames, &read_sizes, &write_sizes);
    assert!(
        out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
});

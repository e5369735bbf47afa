//! Entry points for fuzz targets (feature `__internals`): the live protocols driven through
//! the server's own connection code.

use super::InProcessServer;
use crate::limits::Limits;
use crate::live::{Message, WebSocket, WebSocketConfig, WebSocketUpgrade};
use crate::request::Request;
use crate::response::Response;
use crate::router::Router;

/// The handshake every [`serve_websocket_bytes`] connection starts with.
pub const WEBSOCKET_HANDSHAKE: &[u8] = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// Serves a WebSocket echo endpoint (messages up to 4 KiB) on one in-memory connection:
/// the handshake, then `frames` as the client's bytes, read and written in the sizes given
/// (cycled; 0 means "would block"). Returns what the server wrote.
pub fn serve_websocket_bytes(
    frames: &[u8],
    read_sizes: &[usize],
    write_sizes: &[usize],
) -> Vec<u8> {
    let app = Router::new().get("/ws", |req: &Request| -> Response {
        let config = WebSocketConfig::default()
            .max_message_size(4096)
            .max_frame_size(4096);
        match WebSocketUpgrade::from_request(req) {
            Ok(upgrade) => upgrade
                .config(config)
                .on_upgrade(|ws: &WebSocket, message: Message| {
                    let _ = ws.send(message);
                }),
            Err(refusal) => refusal,
        }
    });
    let server = InProcessServer::new(app, Limits::default());
    let input = [WEBSOCKET_HANDSHAKE, frames].concat();
    server.exchange(&input, read_sizes, write_sizes)
}

//! Answers for connections the server will not serve (over capacity, timed out). A TLS
//! connection is answered through its session instead (`tls::TlsState::reject`).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

use http::StatusCode;

use crate::http1::{discard_input, write_rejection};

/// Input read and dropped before answering, so the close does not reset the connection
/// before the client reads the answer.
pub(super) const REJECT_DISCARD_BYTES: usize = 16 * 1024;

/// Answers `status` and closes the connection for writing. Best effort: the socket is
/// non-blocking and the answer is small.
pub(super) fn reject(mut stream: &TcpStream, status: StatusCode) {
    let _ = stream.set_nonblocking(true);
    discard_input(|buf| stream.read(buf), REJECT_DISCARD_BYTES);
    let _ = stream.write(&rejection(status));
    let _ = stream.shutdown(Shutdown::Write);
}

/// The answer `reject` sends (`Connection: close`; a 503 says when to retry).
pub(super) fn rejection(status: StatusCode) -> Vec<u8> {
    let mut answer = Vec::with_capacity(256);
    let extra: &[(&str, &str)] = if status == StatusCode::SERVICE_UNAVAILABLE {
        &[("retry-after", "1")]
    } else {
        &[]
    };
    write_rejection(&mut answer, status, extra, true);
    answer
}

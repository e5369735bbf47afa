//! Bytes into the connection engine over an in-memory stream, turn after turn as the poller
//! would run it: never a panic, and whatever it writes starts with a status line.
//!
//! An input that starts with `0xFF` chooses the stream's behaviour first: the next byte how
//! many read sizes follow, the one after how many write sizes, then one byte per size
//! (0 = "would block"), so short reads, a full socket and the write-parking resume path are
//! fuzzed too. The rest is the client's input. Any other input (the seeds in `seeds/conn`)
//! is the client's input alone, read and written without limits.
#![no_main]

mod schedule;

use libfuzzer_sys::fuzz_target;
use schedule::split;
use switchyard::__private::serve_bytes;
use switchyard::Limits;

fuzz_target!(|data: &[u8]| {
    let (read_sizes, write_sizes, input) = split(data);
    let out = serve_bytes(input, &read_sizes, &write_sizes, &Limits::default());
    assert!(
        out.is_empty() || out.starts_with(b"HTTP/1.1 "),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
});

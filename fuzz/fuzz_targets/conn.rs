//! Bytes into the connection engine over an in-memory stream: never a panic, and whatever it
//! writes starts with a status line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::Limits;
use switchyard::__private::serve_bytes;

fuzz_target!(|data: &[u8]| {
    let out = serve_bytes(data, &Limits::default());
    assert!(out.is_empty() || out.starts_with(b"HTTP/1.1 "), "{:?}", String::from_utf8_lossy(&out));
});

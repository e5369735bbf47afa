//! Bytes into the connection engine over an in-memory stream, turn after turn as the poller
//! would run it: never a panic, and whatever it writes starts with a status line.
//!
//! An input that starts with `0xFF` chooses the stream's behaviour first: the next byte how
//! many read sizes follow, the one after how many write sizes, then one byte per size
//! (0 = "would block"), so short reads, a full socket and the write-parking resume path are
//! fuzzed too. The rest is the client's input. Any other input (the seeds in `seeds/conn`)
//! is the client's input alone, read and written without limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::Limits;
use switchyard::__private::serve_bytes;

fuzz_target!(|data: &[u8]| {
    let (read_sizes, write_sizes, input) = split(data);
    let out = serve_bytes(input, &read_sizes, &write_sizes, &Limits::default());
    assert!(
        out.is_empty() || out.starts_with(b"HTTP/1.1 "),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
});

/// Splits the input into read sizes, write sizes and the bytes the client sends. At most 8
/// sizes each; a schedule of only zeros would never progress, so one non-zero size is added.
fn split(data: &[u8]) -> (Vec<usize>, Vec<usize>, &[u8]) {
    let [0xFF, reads, writes, rest @ ..] = data else {
        return (Vec::new(), Vec::new(), data);
    };
    let reads = usize::from(reads % 9);
    let writes = usize::from(writes % 9);
    if rest.len() < reads + writes {
        return (Vec::new(), Vec::new(), rest);
    }
    let sizes = |bytes: &[u8]| {
        let mut sizes: Vec<usize> = bytes.iter().map(|&b| usize::from(b)).collect();
        if !sizes.is_empty() && sizes.iter().all(|&s| s == 0) {
            sizes.push(1);
        }
        sizes
    };
    let read_sizes = sizes(&rest[..reads]);
    let write_sizes = sizes(&rest[reads..reads + writes]);
    (read_sizes, write_sizes, &rest[reads + writes..])
}

//! The chunked decoder gives the same result for any split of its input, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::__private::decode_chunked;

fuzz_target!(|input: (Vec<u8>, Vec<u16>)| {
    let (data, splits) = input;
    let splits: Vec<usize> = splits.into_iter().map(usize::from).collect();
    let whole = decode_chunked(&data, &[]);
    let split = decode_chunked(&data, &splits);
    assert_eq!(whole.is_ok(), split.is_ok(), "split changed the verdict");
    if let (Ok(whole), Ok(split)) = (whole, split) {
        assert_eq!(whole, split);
    }
});

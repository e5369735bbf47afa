//! `Range` values (RFC 9110 §14.1.2) against files of several lengths: never a panic; a
//! part lies within the file and, written back as `bytes=first-last`, parses to itself;
//! a 416 comes only from a `bytes=` range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::__private::{ByteRange, byte_range};

/// The file lengths each input is tried against: empty, one byte, small, past `u32`, the
/// largest.
const LENGTHS: [u64; 6] = [0, 1, 100, 1000, 1 << 32, u64::MAX];

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    for len in LENGTHS {
        match byte_range(value, len) {
            ByteRange::Part { first, last } => {
                assert!(
                    first <= last && last < len,
                    "{value:?} of {len}: {first}-{last}"
                );
                let again = byte_range(&format!("bytes={first}-{last}"), len);
                assert_eq!(again, ByteRange::Part { first, last }, "{value:?} of {len}");
            }
            ByteRange::Unsatisfiable => {
                let unit = value.trim().get(..6);
                assert!(
                    unit.is_some_and(|unit| unit.eq_ignore_ascii_case("bytes=")),
                    "{value:?} of {len}: 416 without a bytes range"
                );
            }
            ByteRange::Whole => {}
        }
    }
});

//! Byte ranges (RFC 9110 §14): what a `Range` header asks of a file.

/// What a `Range` header asks of a representation of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteRange {
    /// The whole representation, 200: no usable range (malformed, several, other units).
    Whole,
    /// 206 with these bytes, `last` included.
    Part { first: u64, last: u64 },
    /// 416: the range starts at or past the end.
    Unsatisfiable,
}

/// Parses `Range: bytes=...` (RFC 9110 §14.1.2) against a length (§14.1.1):
/// `first-last` (`last` clamped to the end), `first-`, and `-suffix` (the last bytes).
/// Numbers too large for `u64` saturate: a huge `first` is past the end, a huge `last` or
/// suffix covers the rest.
pub(crate) fn byte_range(value: &str, len: u64) -> ByteRange {
    let Some((unit, set)) = value.trim().split_once('=') else {
        return ByteRange::Whole;
    };
    if !unit.eq_ignore_ascii_case("bytes") {
        return ByteRange::Whole;
    }
    // A list may have empty members (§5.6.1.2); more than one range: the whole file.
    let mut specs = set
        .split(',')
        .map(str::trim)
        .filter(|spec| !spec.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return ByteRange::Whole;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return ByteRange::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    match (first.is_empty(), last.is_empty()) {
        // `-suffix`
        (true, false) => {
            let Some(suffix) = saturating_digits(last) else {
                return ByteRange::Whole;
            };
            match (suffix, len) {
                (0, _) => ByteRange::Unsatisfiable,
                // The whole of nothing cannot be written as a Content-Range.
                (_, 0) => ByteRange::Whole,
                _ => ByteRange::Part {
                    first: len - suffix.min(len),
                    last: len - 1,
                },
            }
        }
        // `first-` and `first-last`
        (false, _) => {
            let Some(first) = saturating_digits(first) else {
                return ByteRange::Whole;
            };
            let last = match last.is_empty() {
                true => u64::MAX,
                false => match saturating_digits(last) {
                    Some(last) if last >= first => last,
                    // §14.1.1: last < first makes the range-spec invalid.
                    _ => return ByteRange::Whole,
                },
            };
            match first < len {
                true => ByteRange::Part {
                    first,
                    last: last.min(len - 1),
                },
                false => ByteRange::Unsatisfiable,
            }
        }
        (true, true) => ByteRange::Whole,
    }
}

/// A run of ASCII digits as a number, saturating at `u64::MAX`; `None` for anything else
/// (`+5`, `5a`, empty), which `str::parse` would partly accept.
fn saturating_digits(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.bytes().fold(0u64, |n, digit| {
        n.saturating_mul(10).saturating_add(u64::from(digit - b'0'))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_are_parsed_and_clamped() {
        let part = |first, last| ByteRange::Part { first, last };
        let cases = [
            ("bytes=0-99", part(0, 99)),
            ("bytes=0-0", part(0, 0)),
            ("bytes=10-", part(10, 999)),
            ("bytes=-100", part(900, 999)),
            ("bytes=-5000", part(0, 999)),
            ("bytes=990-5000", part(990, 999)),
            ("bytes=999-", part(999, 999)),
            ("BYTES=1-2", part(1, 2)),
            ("bytes= 1-2 ", part(1, 2)),
            ("bytes=1-2,", part(1, 2)),
            ("bytes=0-99999999999999999999999", part(0, 999)),
            ("bytes=-99999999999999999999999", part(0, 999)),
        ];
        for (value, expected) in cases {
            assert_eq!(byte_range(value, 1000), expected, "{value}");
        }
    }

    #[test]
    fn ranges_past_the_end_are_unsatisfiable() {
        for value in [
            "bytes=1000-",
            "bytes=1000-2000",
            "bytes=5000-5000",
            "bytes=-0",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(byte_range(value, 1000), ByteRange::Unsatisfiable, "{value}");
        }
        assert_eq!(byte_range("bytes=0-", 0), ByteRange::Unsatisfiable);
    }

    #[test]
    fn malformed_multiple_or_foreign_ranges_get_the_whole_file() {
        for value in [
            "bytes=0-1,5-6",
            "bytes=-1,-2",
            "bytes=5-1",
            "bytes=-",
            "bytes=",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=1-+2",
            "bytes=0x1-2",
            "bytes 0-1",
            "items=0-1",
            "0-1",
            "",
        ] {
            assert_eq!(byte_range(value, 1000), ByteRange::Whole, "{value}");
        }
        assert_eq!(byte_range("bytes=-5", 0), ByteRange::Whole, "empty file");
    }
}

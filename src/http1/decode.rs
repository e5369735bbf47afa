//! The chunked transfer coding (RFC 9112 §7.1), decoded sans-IO: feed any slice of input,
//! get the data appended to an output buffer and the number of input bytes used.
//!
//! ```text
//! chunked-body = *chunk last-chunk trailer-section CRLF
//! chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! last-chunk   = 1*("0") [ chunk-ext ] CRLF
//! ```

use crate::error::ParseError;

/// At most this many hex digits in a chunk size: 16 digits fill a u64.
const MAX_CHUNK_SIZE_DIGITS: u8 = 16;
/// Total bytes of chunk extensions accepted over one body (hyper uses the same bound);
/// extensions are skipped, never stored.
const MAX_CHUNK_EXTENSIONS_BYTES: usize = 16 * 1024;
/// Total bytes of trailer fields accepted; trailers are skipped, never stored.
const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Where the decoder is in the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkedState {
    /// Reading the hex digits of a chunk size.
    Size,
    /// After the size: skipping `;ext=value` up to CR.
    Extension,
    /// Expecting the LF that ends the size line.
    SizeLf,
    /// Copying chunk data.
    Data,
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line, or of the final CRLF.
    TrailerStart,
    /// Inside a trailer field line.
    Trailer,
    /// Expecting the LF that ends a trailer line.
    TrailerLf,
    /// Expecting the LF of the final CRLF.
    EndLf,
    /// The body is complete.
    Done,
}

/// Decodes a chunked body incrementally.
#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    state: ChunkedState,
    /// Size of the chunk being read, then bytes of it still to copy.
    remaining: u64,
    size_digits: u8,
    extension_bytes: usize,
    trailer_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self {
            state: ChunkedState::Size,
            remaining: 0,
            size_digits: 0,
            extension_bytes: 0,
            trailer_bytes: 0,
        }
    }
}

impl ChunkedDecoder {
    /// Whether the last chunk, the trailers and the final CRLF have been read.
    pub(crate) fn is_done(&self) -> bool {
        self.state == ChunkedState::Done
    }

    /// Bytes of the current chunk announced by its size line and not yet decoded (0 between
    /// chunks), so that a chunk larger than the body limit is refused before it arrives.
    pub(crate) fn chunk_bytes_due(&self) -> u64 {
        match self.state {
            ChunkedState::Extension | ChunkedState::SizeLf | ChunkedState::Data => self.remaining,
            _ => 0,
        }
    }

    /// Decodes from `input`, appending chunk data to `out`. Returns how many input bytes
    /// were used; it stops early only when the body is done (the rest is the next request).
    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ParseError> {
        use ChunkedState as S;
        let mut used = 0;
        while used < input.len() && self.state != S::Done {
            if self.state == S::Data {
                let available = input.len() - used;
                let take = usize::try_from(self.remaining).map_or(available, |r| r.min(available));
                out.extend_from_slice(&input[used..used + take]);
                used += take;
                self.remaining -= take as u64;
                if self.remaining == 0 {
                    self.state = S::DataCr;
                }
                continue;
            }
            let byte = input[used];
            used += 1;
            self.state = match (self.state, byte) {
                (S::Size, b) if b.is_ascii_hexdigit() => {
                    if self.size_digits == MAX_CHUNK_SIZE_DIGITS {
                        return Err(ParseError::Chunked("chunk size too large"));
                    }
                    self.size_digits += 1;
                    let digit = (b as char).to_digit(16).expect("checked hex digit");
                    self.remaining = self.remaining * 16 + u64::from(digit);
                    S::Size
                }
                (S::Size, b';' | b' ' | b'\t') if self.size_digits > 0 => {
                    self.count_extension_byte()?;
                    S::Extension
                }
                (S::Size, b'\r') if self.size_digits > 0 => S::SizeLf,
                (S::Size, _) => return Err(ParseError::Chunked("invalid chunk size")),
                (S::Extension, b'\r') => S::SizeLf,
                (S::Extension, b'\t') => {
                    self.count_extension_byte()?;
                    S::Extension
                }
                (S::Extension, b) if b.is_ascii_control() => {
                    return Err(ParseError::Chunked("invalid chunk extension"));
                }
                (S::Extension, _) => {
                    self.count_extension_byte()?;
                    S::Extension
                }
                (S::SizeLf, b'\n') => {
                    self.size_digits = 0;
                    if self.remaining == 0 {
                        S::TrailerStart
                    } else {
                        S::Data
                    }
                }
                (S::SizeLf, _) => {
                    return Err(ParseError::Chunked("chunk size line not ended by CRLF"));
                }
                (S::DataCr, b'\r') => S::DataLf,
                (S::DataLf, b'\n') => S::Size,
                (S::DataCr | S::DataLf, _) => {
                    return Err(ParseError::Chunked("chunk data not followed by CRLF"));
                }
                (S::TrailerStart, b'\r') => S::EndLf,
                (S::TrailerStart | S::Trailer, b) if b == b'\t' || !b.is_ascii_control() => {
                    self.trailer_bytes += 1;
                    if self.trailer_bytes > MAX_TRAILER_BYTES {
                        return Err(ParseError::Chunked("trailers too large"));
                    }
                    S::Trailer
                }
                (S::Trailer, b'\r') => S::TrailerLf,
                (S::TrailerStart | S::Trailer, _) => {
                    return Err(ParseError::Chunked("invalid trailer field"));
                }
                (S::TrailerLf, b'\n') => S::TrailerStart,
                (S::EndLf, b'\n') => S::Done,
                (S::TrailerLf | S::EndLf, _) => {
                    return Err(ParseError::Chunked("trailer line not ended by CRLF"));
                }
                (S::Data | S::Done, _) => unreachable!("handled before the match"),
            };
        }
        Ok(used)
    }

    fn count_extension_byte(&mut self) -> Result<(), ParseError> {
        self.extension_bytes += 1;
        if self.extension_bytes > MAX_CHUNK_EXTENSIONS_BYTES {
            return Err(ParseError::Chunked("chunk extensions too large"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `input` fed in pieces split at `splits`; returns data and bytes used.
    fn decode_split(input: &[u8], splits: &[usize]) -> Result<(Vec<u8>, usize, bool), ParseError> {
        let mut decoder = ChunkedDecoder::default();
        let mut out = Vec::new();
        let mut start = 0;
        let mut used_total = 0;
        let mut bounds: Vec<usize> = splits
            .iter()
            .copied()
            .filter(|&s| s <= input.len())
            .collect();
        bounds.push(input.len());
        bounds.sort_unstable();
        for end in bounds {
            if end < start {
                continue;
            }
            let used = decoder.decode(&input[start..end], &mut out)?;
            used_total += used;
            if decoder.is_done() {
                return Ok((out, used_total, true));
            }
            assert_eq!(
                used,
                end - start,
                "an unfinished decoder uses all its input"
            );
            start = end;
        }
        Ok((out, used_total, decoder.is_done()))
    }

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize, bool), ParseError> {
        decode_split(input, &[])
    }

    /// Encodes `chunks` the way a client would.
    fn encode(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in chunks.iter().filter(|c| !c.is_empty()) {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    #[test]
    fn decodes_chunks_and_stops_at_the_end() {
        let input = b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\nGET /next";
        let (data, used, done) = decode_all(input).unwrap();
        assert_eq!(data, b"hello, world");
        assert!(done);
        assert_eq!(&input[used..], b"GET /next");
    }

    #[test]
    fn skips_extensions_and_trailers() {
        let input = b"5;name=value;flag\r\nhello\r\n0;last\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n";
        let (data, used, done) = decode_all(input).unwrap();
        assert_eq!(
            (data.as_slice(), used, done),
            (&b"hello"[..], input.len(), true)
        );
    }

    #[test]
    fn upper_case_hex_and_leading_zeros() {
        let (data, _, done) = decode_all(b"00A\r\n0123456789\r\n000\r\n\r\n").unwrap();
        assert_eq!((data.as_slice(), done), (&b"0123456789"[..], true));
    }

    #[test]
    fn every_split_point_gives_the_same_result() {
        // hyper's "shotgun" test: the input split at each byte offset, and at every pair.
        let input = b"3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n";
        let expected = decode_all(input).unwrap();
        for a in 0..=input.len() {
            assert_eq!(decode_split(input, &[a]).unwrap(), expected, "split at {a}");
            for b in a..=input.len() {
                assert_eq!(
                    decode_split(input, &[a, b]).unwrap(),
                    expected,
                    "split at {a},{b}"
                );
            }
        }
    }

    macro_rules! rejects {
        ($($name:ident: $input:expr;)*) => {$(
            #[test]
            fn $name() {
                let input: &[u8] = $input;
                assert!(decode_all(input).is_err(), "{:?} was accepted", String::from_utf8_lossy(input));
                // The same error whatever the split.
                for split in 0..input.len() {
                    assert!(decode_split(input, &[split]).is_err(), "split {split}");
                }
            }
        )*};
    }

    rejects! {
        rejects_missing_size: b"\r\nabc\r\n0\r\n\r\n";
        rejects_non_hex_size: b"g\r\nabc\r\n0\r\n\r\n";
        rejects_negative_size: b"-1\r\nabc\r\n0\r\n\r\n";
        rejects_size_overflow: b"10000000000000000\r\n";
        rejects_bare_lf_after_size: b"3\nabc\r\n0\r\n\r\n";
        rejects_data_longer_than_size: b"3\r\nabcd\r\n0\r\n\r\n";
        rejects_bare_lf_after_data: b"3\r\nabc\n0\r\n\r\n";
        rejects_control_char_in_extension: b"3;a\x00b\r\nabc\r\n0\r\n\r\n";
        rejects_bare_lf_in_trailer: b"0\r\nT: v\n\r\n";
        rejects_bare_lf_at_end: b"0\r\n\n";
    }

    #[test]
    fn size_of_sixteen_digits_is_accepted_as_a_size() {
        let mut decoder = ChunkedDecoder::default();
        let used = decoder
            .decode(b"ffffffffffffffff\r\nab", &mut Vec::new())
            .unwrap();
        assert_eq!(used, 20);
        assert_eq!(decoder.remaining, u64::MAX - 2);
    }

    #[test]
    fn extensions_are_bounded() {
        let mut input = b"1;".to_vec();
        input.extend(std::iter::repeat_n(b'a', MAX_CHUNK_EXTENSIONS_BYTES));
        assert_eq!(
            decode_all(&input),
            Err(ParseError::Chunked("chunk extensions too large"))
        );
    }

    #[test]
    fn trailers_are_bounded() {
        let mut input = b"0\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'a', MAX_TRAILER_BYTES + 1));
        assert_eq!(
            decode_all(&input),
            Err(ParseError::Chunked("trailers too large"))
        );
    }

    proptest! {
        #[test]
        fn encode_then_decode_round_trips(
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..8),
            splits in prop::collection::vec(0usize..3000, 0..4),
        ) {
            let encoded = encode(&chunks);
            let (data, used, done) = decode_split(&encoded, &splits).unwrap();
            prop_assert!(done);
            prop_assert_eq!(used, encoded.len());
            prop_assert_eq!(data, chunks.concat());
        }

        #[test]
        fn arbitrary_input_never_panics(input in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_all(&input);
        }
    }
}

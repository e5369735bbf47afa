//! `multipart/form-data` bodies read by `switchyard::multipart::Multipart`: never a panic or
//! a hang; the parts read the same whether the body arrives whole or a few bytes at a time
//! (the first input byte picks how many); and parts encoded from the input (split at 0xFF)
//! read back exactly.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use switchyard::multipart::Multipart;

const BOUNDARY: &str = "==fuzz==";

/// Hands out a body in the pieces `slice::chunks` cuts, one piece per read at most.
struct Pieces<'a> {
    current: &'a [u8],
    rest: std::slice::Chunks<'a, u8>,
}

impl Read for Pieces<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.current.is_empty() {
            self.current = self.rest.next().unwrap_or_default();
        }
        let n = self.current.len().min(out.len());
        let (now, later) = self.current.split_at(n);
        out[..n].copy_from_slice(now);
        self.current = later;
        Ok(n)
    }
}

type Parts = Vec<(String, Option<String>, Vec<u8>)>;

/// Every part, or the error's message.
fn read(body: &[u8], step: usize) -> Result<Parts, String> {
    let pieces = Pieces {
        current: &[],
        rest: body.chunks(step),
    };
    let mut form = Multipart::new(pieces, BOUNDARY)
        .max_parts(16)
        .max_part_header_bytes(512)
        .max_field_bytes(4096);
    let mut parts = Vec::new();
    while let Some(mut part) = form.next_part().map_err(|e| e.to_string())? {
        let bytes = part.read_all().map_err(|e| e.to_string())?;
        parts.push((part.name().to_owned(), part.filename().map(str::to_owned), bytes));
    }
    Ok(parts)
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, body)) = data.split_first() else {
        return;
    };
    let step = usize::from(step % 64) + 1;
    assert_eq!(read(body, step), read(body, usize::MAX), "step {step}");

    let contents: Vec<&[u8]> = body.split(|&b| b == 0xFF).take(16).collect();
    let delimiter = format!("\r\n--{BOUNDARY}");
    if contents
        .iter()
        .any(|c| c.windows(delimiter.len()).any(|w| w == delimiter.as_bytes()) || c.len() > 4096)
    {
        return;
    }
    let mut encoded = Vec::new();
    for (i, content) in contents.iter().enumerate() {
        encoded.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\n")
                .as_bytes(),
        );
        encoded.extend_from_slice(content);
        encoded.extend_from_slice(b"\r\n");
    }
    encoded.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    let parts = read(&encoded, step).expect("a well-formed body reads");
    assert_eq!(parts.len(), contents.len());
    for (i, (part, content)) in parts.iter().zip(&contents).enumerate() {
        assert_eq!(part, &(format!("f{i}"), None, content.to_vec()));
    }
});

//! The plugins' parsers of untrusted input, for benches and fuzz targets (feature
//! `__internals`, reached through `switchyard::__private`; not covered by semver).

use std::path::Path;

use super::cors;
use super::negotiate::{AcceptEncoding, Choice, Coding};
use super::static_files::fuzzing as static_files;

/// What a `Range` header asks of a file (RFC 9110 §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// 200 with the whole file: no usable range.
    Whole,
    /// 206 with bytes `first..=last`.
    Part { first: u64, last: u64 },
    /// 416.
    Unsatisfiable,
}

/// Parses `Range` value `value` against a file of `len` bytes, as `StaticFiles` does.
pub fn byte_range(value: &str, len: u64) -> ByteRange {
    match static_files::byte_range(value, len) {
        static_files::ByteRange::Whole => ByteRange::Whole,
        static_files::ByteRange::Part { first, last } => ByteRange::Part { first, last },
        static_files::ByteRange::Unsatisfiable => ByteRange::Unsatisfiable,
    }
}

/// The names `StaticFiles` joins under its root for the decoded path `capture`, or `None`
/// when it refuses the path (404).
pub fn relative_path(capture: &str, show_dot_files: bool) -> Option<Vec<&str>> {
    static_files::relative_path(capture, show_dot_files)
}

/// The `Content-Type` `StaticFiles` sends for a file named `name`.
pub fn content_type(name: &str) -> &'static str {
    static_files::content_type(Path::new(name))
}

/// What `Accept-Encoding` lines allow, as `StaticFiles` and `Compression` read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiation {
    /// q-values in thousandths: what `br`, `gzip` and `identity` end up with.
    pub br: u16,
    pub gzip: u16,
    pub identity: u16,
    /// `StaticFiles` with both siblings enabled: the codings it tries, best first.
    pub preferred: Vec<&'static str>,
    /// `Compression`: `Some("gzip")`, `Some("identity")`, or `None` for 406.
    pub gzip_choice: Option<&'static str>,
}

/// Reads the values of `Accept-Encoding` lines.
pub fn negotiate(lines: &[&[u8]]) -> Negotiation {
    let accept = AcceptEncoding::parse(lines.iter().copied());
    let gzip_choice = match accept.choose(&[Coding::Gzip]) {
        Choice::Coding(coding) => Some(coding.token()),
        Choice::Identity => Some("identity"),
        Choice::NotAcceptable => None,
    };
    Negotiation {
        br: accept.weight(Coding::Br),
        gzip: accept.weight(Coding::Gzip),
        identity: accept.identity_weight(),
        preferred: accept
            .preferred(&[Coding::Br, Coding::Gzip])
            .map(Coding::token)
            .collect(),
        gzip_choice,
    }
}

/// Whether `CorsBuilder::allow_origins` takes `text` as a serialized origin.
pub fn is_origin(text: &str) -> bool {
    cors::is_origin(text)
}

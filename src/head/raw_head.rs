//! A request's head as it arrived: its header fields, parsed into an `http::HeaderMap` only
//! when something asks for them, and its target, parsed into an `http::Uri` only when
//! something asks for that. Most handlers never read a header or the whole `Uri`, and
//! building them (a name lookup, a hash and an insert per field; a scan, reference counts
//! and a drop for the target) was a measurable part of every request.
//!
//! The engine reads the few fields it needs (framing, `Host`, `Connection`, `Expect`)
//! straight from `httparse`'s slices, and routes on the path read from the target's bytes;
//! this keeps the head's bytes for everything else.

use std::mem::MaybeUninit;
use std::ops::Range;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{HeaderMap, Uri};

use crate::limits::MAX_HEADERS_CAP;

/// The bytes of a complete request head that `parse_head` accepted (or, from a protocol
/// whose library decodes the fields itself, HTTP/2's HPACK, the map it made).
#[derive(Debug, Clone)]
pub(crate) struct RawHead {
    head: Bytes,
    /// How many header fields the head has.
    count: usize,
    /// Where the request target is in `head`, when it is kept as bytes (see
    /// [`keep_target`]). The request's `Uri` is not built then.
    target: Option<KeptTarget>,
    /// The fields already decoded, when there is no head to parse (boxed: HTTP/1.1
    /// requests, the common case, carry a pointer's worth of it).
    decoded: Option<Box<HeaderMap>>,
}

impl RawHead {
    /// `head` must be a complete head with `count` fields that `parse_head` accepted;
    /// `target`, the target in it as [`keep_target`] found it, if the request keeps it as
    /// bytes.
    pub(crate) fn new(head: Bytes, count: usize, target: Option<KeptTarget>) -> Self {
        debug_assert!(target.as_ref().is_none_or(|kept| {
            let bytes = &head[kept.range.clone()];
            keep_target(bytes, kept.range.start).is_some_and(|again| again == *kept)
        }));
        Self {
            head,
            count,
            target,
            decoded: None,
        }
    }

    /// The request target kept as bytes, split into its path and query, if it is kept.
    fn target(&self) -> Option<(&str, Option<&str>)> {
        let kept = self.target.as_ref()?;
        // ASCII: `keep_target` took nothing else.
        let target = std::str::from_utf8(&self.head[kept.range.clone()]).ok()?;
        let path = target.get(..kept.path_len)?;
        Some((path, target.get(kept.path_len + 1..)))
    }

    /// Whether the target is kept as bytes (and the request's `Uri` a placeholder).
    pub(crate) fn keeps_target(&self) -> bool {
        self.target.is_some()
    }

    /// The target kept as bytes, as a `Uri` sharing them.
    pub(crate) fn target_uri(&self) -> Option<Uri> {
        let range = self.target.as_ref()?.range.clone();
        let uri = Uri::from_maybe_shared(self.head.slice(range));
        debug_assert!(uri.is_ok(), "http refused a target we kept: {uri:?}");
        uri.ok()
    }

    /// Fields a protocol library decoded already.
    #[cfg(feature = "http2")]
    pub(crate) fn decoded(map: HeaderMap) -> Self {
        Self {
            head: Bytes::new(),
            count: 0,
            target: None,
            decoded: Some(Box::new(map)),
        }
    }

    /// The header fields as a map whose values share the head's bytes (no copy). The map
    /// comes from this thread's recycled ones.
    pub(crate) fn to_map(&self) -> HeaderMap {
        if let Some(map) = &self.decoded {
            return HeaderMap::clone(map);
        }
        let mut map = super::recycle::header_map(self.count);
        let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
        let mut request = httparse::Request::new(&mut []);
        // The head was parsed with the same rules before (and at most MAX_HEADERS_CAP
        // fields), so this cannot fail; if it somehow did, the map would be empty.
        if request
            .parse_with_uninit_headers(&self.head, &mut fields)
            .is_err()
        {
            debug_assert!(false, "a head that parsed once failed to parse again");
            return map;
        }
        for field in request.headers.iter() {
            // httparse admits exactly the tokens and the field-value bytes that `http`
            // does, so neither conversion fails on a head it accepted.
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(field.name.as_bytes()),
                HeaderValue::from_maybe_shared(self.head.slice_ref(field.value)),
            ) else {
                debug_assert!(false, "httparse admitted a field http does not: {field:?}");
                continue;
            };
            map.append(name, value);
        }
        map
    }
}

/// A request's target as routing and handlers read it: parsed in its `Uri`, or kept as
/// bytes in its [`RawHead`].
#[derive(Clone, Copy)]
pub(crate) struct TargetRef<'a> {
    uri: &'a Uri,
    /// The path and query of a target kept as bytes.
    raw: Option<(&'a str, Option<&'a str>)>,
    head: Option<&'a RawHead>,
}

impl<'a> TargetRef<'a> {
    /// The target of a request whose head is `uri` (a placeholder when `raw_head` keeps
    /// the target) and `raw_head`.
    pub(crate) fn new(uri: &'a Uri, raw_head: Option<&'a RawHead>) -> Self {
        let raw = raw_head.and_then(RawHead::target);
        Self {
            uri,
            raw,
            head: raw_head.filter(|_| raw.is_some()),
        }
    }

    /// The path, still percent-encoded.
    pub(crate) fn path(&self) -> &'a str {
        match self.raw {
            Some((path, _)) => path,
            None => self.uri.path(),
        }
    }

    /// The query after `?`, if any, still percent-encoded.
    pub(crate) fn query(&self) -> Option<&'a str> {
        match self.raw {
            Some((_, query)) => query,
            None => self.uri.query(),
        }
    }

    /// The path and query, shared rather than copied (for values read from it later).
    pub(crate) fn shared(&self) -> Option<SharedTarget> {
        if let Some(head) = self.head {
            if let Some(kept) = &head.target {
                return Some(SharedTarget::Raw(head.head.slice(kept.range.clone())));
            }
        }
        self.uri.path_and_query().cloned().map(SharedTarget::Parsed)
    }
}

/// A request's path and query, shared with the request (no copy).
#[derive(Debug, Clone)]
pub(crate) enum SharedTarget {
    Parsed(PathAndQuery),
    /// A target kept as bytes: ASCII.
    Raw(Bytes),
}

impl SharedTarget {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Parsed(target) => target.as_str().as_bytes(),
            Self::Raw(bytes) => bytes,
        }
    }

    /// Bytes `range` of the target as text (`None` off a character boundary).
    pub(crate) fn get(&self, range: std::ops::Range<usize>) -> Option<&str> {
        match self {
            Self::Parsed(target) => target.as_str().get(range),
            // ASCII: any slice is text.
            Self::Raw(bytes) => std::str::from_utf8(bytes.get(range)?).ok(),
        }
    }
}

/// A target a request keeps as bytes: where it is in the head, and where its path ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeptTarget {
    range: Range<usize>,
    path_len: usize,
}

/// `target` (found at `at` in its head) as a request keeps it, if it is an origin-form
/// request target (RFC 9112 §3.2.1: `absolute-path [ "?" query ]`) made only of bytes that
/// `http`'s `Uri` takes as they are: its path and query can then be read from the bytes,
/// and the `Uri` built later cannot fail. (A subset of what `Uri` takes: anything else, a
/// fragment or a byte above ASCII say, is parsed at once, with `http`'s rules.)
pub(crate) fn keep_target(target: &[u8], at: usize) -> Option<KeptTarget> {
    /// The longest target `http` takes.
    const MAX_TARGET_BYTES: usize = u16::MAX as usize - 1;
    if target.first() != Some(&b'/') || target.len() > MAX_TARGET_BYTES {
        return None;
    }
    // One pass: the path's bytes up to a `?`, then the query's.
    let mut path_len = target.len();
    for (i, &b) in target.iter().enumerate() {
        let admitted = if i < path_len {
            if b == b'?' {
                path_len = i;
                continue;
            }
            PATH_BYTE[usize::from(b)]
        } else {
            QUERY_BYTE[usize::from(b)]
        };
        if !admitted {
            return None;
        }
    }
    Some(KeptTarget {
        range: at..at + target.len(),
        path_len,
    })
}

/// A table of the bytes `admits` takes (a macro: a `const fn` cannot call a closure).
macro_rules! byte_table {
    (|$b:ident| $admits:expr) => {{
        let mut table = [false; 256];
        let mut at = 0;
        while at < 256 {
            let $b = at as u8;
            table[at] = $admits;
            at += 1;
        }
        table
    }};
}

/// Bytes a path keeps as they are (the WHATWG URL path set that `http` uses, no `?`).
const PATH_BYTE: [bool; 256] = byte_table!(|b| matches!(
    b,
    0x21 | 0x24..=0x3B | 0x3D | 0x40..=0x5F | 0x61..=0x7A | 0x7C | 0x7E
));
/// Bytes a query keeps as they are (`?` included, `#` not).
const QUERY_BYTE: [bool; 256] =
    byte_table!(|b| matches!(b, 0x21 | 0x24..=0x3B | 0x3D | 0x3F..=0x7E));

#[cfg(test)]
mod tests {
    use super::*;

    /// What the lazy `Uri` relies on: every target `keep_target` takes, `http` takes too,
    /// with the path and query read from its bytes.
    #[test]
    fn a_kept_target_parses_to_the_path_and_query_read_from_its_bytes() {
        let mut kept = 0;
        for b in 0..=255u8 {
            for target in [
                vec![b'/', b],
                vec![b'/', b'a', b, b'b'],
                vec![b'/', b'?', b],
                vec![b'/', b'p', b'?', b'q', b, b'='],
            ] {
                let Some(kept_target) = keep_target(&target, 0) else {
                    continue;
                };
                kept += 1;
                let text = std::str::from_utf8(&target).expect("kept targets are ASCII");
                let uri = Uri::try_from(text).expect("http takes a kept target");
                let raw = RawHead::new(Bytes::from(target.clone()), 0, Some(kept_target));
                let placeholder = Uri::default();
                let read = TargetRef::new(&placeholder, Some(&raw));
                assert_eq!(
                    (uri.path(), uri.query()),
                    (read.path(), read.query()),
                    "{text:?}"
                );
                assert_eq!(raw.target_uri().as_ref(), Some(&uri));
            }
        }
        assert!(kept > 300, "only {kept} targets kept");
        for refused in [
            &b"*"[..],
            b"http://a/",
            b"a",
            b"/#f",
            b"/\xc3\xa9",
            b"/ ",
            b"/a b",
            b"",
        ] {
            assert!(keep_target(refused, 0).is_none(), "{refused:?}");
        }
        let kept = keep_target(b"/users/7?x=1&y=%20?", 3).unwrap();
        assert_eq!(
            kept,
            KeptTarget {
                range: 3..22,
                path_len: 8
            }
        );
    }

    #[test]
    fn a_kept_target_reads_and_parses_from_the_head() {
        let head = Bytes::from_static(b"GET /a/b?c=d HTTP/1.1\r\nHost: x\r\n\r\n");
        let raw = RawHead::new(head, 1, keep_target(b"/a/b?c=d", 4));
        assert_eq!(raw.target(), Some(("/a/b", Some("c=d"))));
        let uri = raw.target_uri().unwrap();
        assert_eq!((uri.path(), uri.query()), ("/a/b", Some("c=d")));
    }

    /// What `to_map` relies on: httparse admits a byte in a header name, or in a value,
    /// exactly when `http` does. (Line breaks end the field, and `:` the name.)
    #[test]
    fn httparse_and_http_agree_on_every_byte() {
        let parses = |head: &[u8]| {
            let mut fields = [httparse::EMPTY_HEADER; 4];
            matches!(
                httparse::Request::new(&mut fields).parse(head),
                Ok(httparse::Status::Complete(_))
            )
        };
        let head = |before: &[u8], middle: &[u8], after: &[u8]| {
            [b"GET / HTTP/1.1\r\n", before, middle, after, b"\r\n\r\n"].concat()
        };
        for b in (0..=255u8).filter(|b| !matches!(b, b'\r' | b'\n' | b':')) {
            let name = [b'x', b];
            assert_eq!(
                parses(&head(b"", &name, b": v")),
                HeaderName::from_bytes(&name).is_ok(),
                "name byte {b:#04x}"
            );
            let value = [b'a', b, b'a'];
            assert_eq!(
                parses(&head(b"x: ", &value, b"")),
                HeaderValue::from_bytes(&value).is_ok(),
                "value byte {b:#04x}"
            );
        }
    }

    #[test]
    fn fields_come_back_in_order_sharing_the_head() {
        let head = Bytes::from_static(
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Tag: one\r\nx-tag: two\r\nAccept: */*\r\n\r\n",
        );
        let map = RawHead::new(head.clone(), 4, None).to_map();
        assert_eq!(map.len(), 4);
        assert_eq!(map["host"], "a");
        let tags: Vec<_> = map.get_all("x-tag").iter().collect();
        assert_eq!(tags, ["one", "two"]);
        let value = map["accept"].as_bytes();
        let start = value.as_ptr() as usize - head.as_ptr() as usize;
        assert!(
            start < head.len(),
            "the value is a slice of the head, not a copy"
        );
    }
}

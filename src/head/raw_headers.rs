//! A request's header fields as they arrived, parsed into an `http::HeaderMap` only when
//! something asks for them: most handlers never read a header, and building the map (a
//! name lookup, a hash and an insert per field) was a measurable part of every request.
//!
//! The engine reads the few fields it needs (framing, `Host`, `Connection`, `Expect`)
//! straight from `httparse`'s slices; this keeps the head's bytes for everything else.

use std::mem::MaybeUninit;

use bytes::Bytes;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

use crate::limits::MAX_HEADERS_CAP;

/// The bytes of a complete request head that `parse_head` accepted (or, from a protocol
/// whose library decodes the fields itself, HTTP/2's HPACK, the map it made).
#[derive(Debug, Clone)]
pub(crate) struct RawHeaders {
    head: Bytes,
    /// How many header fields the head has.
    count: usize,
    /// The fields already decoded, when there is no head to parse (boxed: HTTP/1.1
    /// requests, the common case, carry a pointer's worth of it).
    decoded: Option<Box<HeaderMap>>,
}

impl RawHeaders {
    /// `head` must be a complete head with `count` fields that `parse_head` accepted.
    pub(crate) fn new(head: Bytes, count: usize) -> Self {
        Self {
            head,
            count,
            decoded: None,
        }
    }

    /// Fields a protocol library decoded already.
    #[cfg(feature = "http2")]
    pub(crate) fn decoded(map: HeaderMap) -> Self {
        Self {
            head: Bytes::new(),
            count: 0,
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let map = RawHeaders::new(head.clone(), 4).to_map();
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

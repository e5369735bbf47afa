//! Memory recycled per worker thread, so that steady-state serving allocates nothing for a
//! request's head:
//!
//! - Header maps: a worker builds a request's map and a response's map for every request,
//!   and an `http::HeaderMap` allocates twice when it first holds anything. A map given
//!   back (cleared, its memory kept) serves the next request on the same thread.
//! - Head bytes: each request head is copied once into a shared `Bytes` that its target
//!   and header values slice. The heads of requests without a body are cut from one
//!   buffer per thread, which is reused from its start once no request holds a slice of
//!   it. Anything kept past its request (a header value, the target, path parameters)
//!   keeps the 8 KiB buffer it came from alive, and the next heads go to a new one; so
//!   does a request handed to another pool (a bulkhead) until it is served there: at most
//!   that pool's threads and queue, 8 KiB each. A request with a body, which may wait for
//!   it, gets a copy of its own.

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;

/// Maps kept per thread: a request's and a response's, with room to spare.
const MAX_POOLED: usize = 4;
/// A map that grew past this many entries is dropped rather than kept.
const MAX_POOLED_CAPACITY: usize = 64;

/// The size of a thread's head buffer: dozens of typical heads, one large one.
const HEAD_BUFFER_BYTES: usize = 8 * 1024;

thread_local! {
    static POOL: RefCell<Vec<HeaderMap>> = const { RefCell::new(Vec::new()) };
    static HEADS: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// A shared copy of `head`, cut from this thread's head buffer. A head larger than half the
/// buffer gets a buffer of its own.
pub(crate) fn copy_head(head: &[u8]) -> Bytes {
    if head.len() > HEAD_BUFFER_BYTES / 2 {
        return Bytes::copy_from_slice(head);
    }
    HEADS.with(|heads| {
        let mut heads = heads.borrow_mut();
        if heads.capacity() < head.len() {
            // Reuses the buffer from its start when no slice of it is alive (`BytesMut`
            // reclaims a unique buffer), else starts a new one.
            heads.reserve(HEAD_BUFFER_BYTES);
        }
        heads.extend_from_slice(head);
        heads.split().freeze()
    })
}

/// An empty map: a recycled one when this thread has one, else a new one with room for
/// `capacity` entries (which allocates only if `capacity` is not zero).
pub(crate) fn header_map(capacity: usize) -> HeaderMap {
    POOL.with(|pool| pool.borrow_mut().pop())
        .unwrap_or_else(|| HeaderMap::with_capacity(capacity))
}

/// Gives a map back for this thread's next request.
pub(crate) fn give_back(mut map: HeaderMap) {
    if map.capacity() == 0 || map.capacity() > MAX_POOLED_CAPACITY {
        return;
    }
    map.clear();
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < MAX_POOLED {
            pool.push(map);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_buffers_are_reused_once_no_slice_is_alive() {
        let first = copy_head(b"GET / HTTP/1.1\r\n\r\n");
        let start = first.as_ptr();
        assert_eq!(&first[..], b"GET / HTTP/1.1\r\n\r\n");
        drop(first);
        // Fill the buffer until it must be reclaimed: the copy lands at its start again.
        let head = [b'x'; 1000];
        let mut reused = false;
        for _ in 0..(2 * HEAD_BUFFER_BYTES / head.len()) {
            let copy = copy_head(&head);
            assert_eq!(&copy[..], &head[..]);
            reused |= copy.as_ptr() == start;
        }
        assert!(reused, "the buffer was not reused from its start");
    }

    #[test]
    fn a_kept_head_stays_intact_while_later_heads_are_copied() {
        let kept = copy_head(b"kept head");
        for i in 0..100u8 {
            let copy = copy_head(&[i; 500]);
            assert!(copy.iter().all(|&b| b == i));
        }
        assert_eq!(&kept[..], b"kept head");
    }

    #[test]
    fn a_given_back_map_comes_back_empty_with_its_memory() {
        let mut map = header_map(0);
        map.insert("x-a", "1".parse().unwrap());
        let capacity = map.capacity();
        give_back(map);
        let again = header_map(0);
        assert!(again.is_empty());
        assert_eq!(again.capacity(), capacity);
    }
}

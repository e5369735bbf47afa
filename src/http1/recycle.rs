//! Header maps, recycled per thread: a worker builds a request's map and a response's map
//! for every request, and an `http::HeaderMap` allocates twice when it first holds
//! anything. A map given back (cleared, its memory kept) serves the next request on the
//! same thread, so steady-state serving allocates no header map at all.

use std::cell::RefCell;

use http::HeaderMap;

/// Maps kept per thread: a request's and a response's, with room to spare.
const MAX_POOLED: usize = 4;
/// A map that grew past this many entries is dropped rather than kept.
const MAX_POOLED_CAPACITY: usize = 64;

thread_local! {
    static POOL: RefCell<Vec<HeaderMap>> = const { RefCell::new(Vec::new()) };
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

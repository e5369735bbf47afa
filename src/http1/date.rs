//! The `Date` header value (RFC 9110 §6.6.1), formatted at most once a second per thread.
//!
//! Callers pass the monotonic time they already read (one clock reading per request serves
//! the metrics and the date); the wall clock is read only when that time passes the end of
//! the cached second.

use std::cell::RefCell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// An IMF-fixdate is always 29 bytes: `Sun, 06 Nov 1994 08:49:37 GMT`.
const IMF_FIXDATE_LEN: usize = 29;

struct CachedDate {
    /// When the cached second ends (`None`: nothing cached yet).
    valid_until: Option<Instant>,
    text: [u8; IMF_FIXDATE_LEN],
    /// `text` as a header value, made on first use in its second.
    value: Option<http::HeaderValue>,
}

thread_local! {
    static CACHED: RefCell<CachedDate> = const {
        RefCell::new(CachedDate { valid_until: None, text: [0; IMF_FIXDATE_LEN], value: None })
    };
}

/// Appends the current date, as an IMF-fixdate, to `out`.
pub(crate) fn append_now(out: &mut Vec<u8>) {
    append_at(out, Instant::now());
}

/// Appends the date at `now` (a recent reading of the monotonic clock) to `out`.
pub(crate) fn append_at(out: &mut Vec<u8>, now: Instant) {
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        refresh(&mut cached, now);
        out.extend_from_slice(&cached.text);
    });
}

/// The current date as a header value, for a protocol whose library encodes the head
/// (HTTP/2): a clone of the cached second's value, no formatting or allocation.
#[cfg(feature = "http2")]
pub(crate) fn header_value_now() -> Option<http::HeaderValue> {
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        refresh(&mut cached, Instant::now());
        if cached.value.is_none() {
            cached.value = http::HeaderValue::from_bytes(&cached.text).ok();
        }
        cached.value.clone()
    })
}

/// Formats the date again once the cached second has passed `now`.
fn refresh(cached: &mut CachedDate, now: Instant) {
    if cached.valid_until.is_none_or(|until| now >= until) {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let second = Duration::from_secs(since_epoch.as_secs());
        let text = httpdate::fmt_http_date(UNIX_EPOCH + second);
        cached
            .text
            .copy_from_slice(&text.as_bytes()[..IMF_FIXDATE_LEN]);
        // `now` was read a moment before the wall clock, so the second may end a moment
        // early here: then the next call reads the wall clock again, and that is all.
        let rest_of_second = Duration::from_secs(1) - (since_epoch - second);
        cached.valid_until = now.checked_add(rest_of_second);
        cached.value = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date_at(now: Instant) -> SystemTime {
        let mut out = Vec::new();
        append_at(&mut out, now);
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.ends_with(" GMT"), "{text}");
        httpdate::parse_http_date(text).unwrap()
    }

    #[test]
    fn date_is_an_imf_fixdate_close_to_now() {
        let mut out = Vec::new();
        append_now(&mut out);
        let parsed = httpdate::parse_http_date(std::str::from_utf8(&out).unwrap()).unwrap();
        let drift = SystemTime::now().duration_since(parsed).unwrap();
        assert!(drift < Duration::from_secs(5), "{drift:?}");
    }

    #[cfg(feature = "http2")]
    #[test]
    fn the_header_value_is_the_cached_date() {
        let value = header_value_now().expect("an IMF-fixdate is a valid value");
        let mut text = Vec::new();
        append_now(&mut text);
        let parsed = httpdate::parse_http_date(value.to_str().unwrap()).unwrap();
        let appended = httpdate::parse_http_date(std::str::from_utf8(&text).unwrap()).unwrap();
        let apart = appended.duration_since(parsed).unwrap_or_default();
        assert!(apart <= Duration::from_secs(1), "{value:?} and {text:?}");
    }

    #[test]
    fn the_cached_second_serves_until_it_ends() {
        const OLD: &[u8; IMF_FIXDATE_LEN] = b"Sun, 06 Nov 1994 08:49:37 GMT";
        let now = Instant::now();
        CACHED.with(|cached| {
            *cached.borrow_mut() = CachedDate {
                valid_until: Some(now + Duration::from_secs(3600)),
                text: *OLD,
                value: None,
            };
        });
        let mut out = Vec::new();
        append_at(&mut out, now);
        assert_eq!(out, OLD);
        // Past the cached second: the wall clock is read again.
        let later = date_at(now + Duration::from_secs(7200));
        let drift = SystemTime::now().duration_since(later).unwrap();
        assert!(drift < Duration::from_secs(5), "{drift:?}");
    }
}

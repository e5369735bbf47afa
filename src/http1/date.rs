//! The `Date` header value (RFC 9110 §6.6.1), formatted at most once a second per thread.
//!
//! The date is read from the coarse wall clock where there is one (Linux: the kernel's
//! last tick, read from the vDSO without touching the hardware clock, a few nanoseconds):
//! the header has a resolution of a second, and a reading a few milliseconds old is as
//! good as a precise one. Elsewhere it is `SystemTime::now`.

use std::cell::RefCell;
use std::time::{Duration, UNIX_EPOCH};

/// An IMF-fixdate is always 29 bytes: `Sun, 06 Nov 1994 08:49:37 GMT`.
const IMF_FIXDATE_LEN: usize = 29;

struct CachedDate {
    /// The second since the epoch that `text` shows (`None`: nothing cached yet).
    second: Option<u64>,
    text: [u8; IMF_FIXDATE_LEN],
    /// `text` as a header value, made on first use in its second.
    value: Option<http::HeaderValue>,
}

thread_local! {
    static CACHED: RefCell<CachedDate> = const {
        RefCell::new(CachedDate { second: None, text: [0; IMF_FIXDATE_LEN], value: None })
    };
}

/// Appends the current date, as an IMF-fixdate, to `out`.
pub(crate) fn append_now(out: &mut Vec<u8>) {
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        refresh(&mut cached, wall_clock_second());
        out.extend_from_slice(&cached.text);
    });
}

/// The current date as a header value, for a protocol whose library encodes the head
/// (HTTP/2): a clone of the cached second's value, no formatting or allocation.
#[cfg(feature = "http2")]
pub(crate) fn header_value_now() -> Option<http::HeaderValue> {
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        refresh(&mut cached, wall_clock_second());
        if cached.value.is_none() {
            cached.value = http::HeaderValue::from_bytes(&cached.text).ok();
        }
        cached.value.clone()
    })
}

/// Seconds since the Unix epoch, from the coarse wall clock.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn wall_clock_second() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    u64::try_from(now.tv_sec).unwrap_or(0)
}

/// Seconds since the Unix epoch.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn wall_clock_second() -> u64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Formats the date again when the second has changed.
fn refresh(cached: &mut CachedDate, second: u64) {
    if cached.second != Some(second) {
        let text = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(second));
        cached
            .text
            .copy_from_slice(&text.as_bytes()[..IMF_FIXDATE_LEN]);
        cached.second = Some(second);
        cached.value = None;
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn appended() -> SystemTime {
        let mut out = Vec::new();
        append_now(&mut out);
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.ends_with(" GMT"), "{text}");
        httpdate::parse_http_date(text).unwrap()
    }

    #[test]
    fn date_is_an_imf_fixdate_close_to_now() {
        let before = SystemTime::now();
        let date = appended();
        let after = SystemTime::now();
        // The coarse clock may lag the precise one by a tick, across a second's boundary.
        let lag = before.duration_since(date).unwrap_or_default();
        assert!(lag < Duration::from_secs(2), "{lag:?}");
        assert!(date <= after, "{date:?} is after {after:?}");
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
    fn the_cached_second_serves_until_the_clock_leaves_it() {
        const OLD: &[u8; IMF_FIXDATE_LEN] = b"Sun, 06 Nov 1994 08:49:37 GMT";
        let now = wall_clock_second();
        CACHED.with(|cached| {
            *cached.borrow_mut() = CachedDate {
                second: Some(now),
                text: *OLD,
                value: None,
            };
        });
        // Still (most likely) the same second: the cached text, whatever it says.
        let mut out = Vec::new();
        append_now(&mut out);
        assert!(out == OLD || wall_clock_second() != now, "{out:?}");
        // Another second: formatted again.
        CACHED.with(|cached| cached.borrow_mut().second = Some(now - 3600));
        let date = appended();
        let lag = SystemTime::now().duration_since(date).unwrap_or_default();
        assert!(lag < Duration::from_secs(2), "{lag:?}");
    }
}

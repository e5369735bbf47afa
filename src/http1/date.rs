//! The `Date` header value (RFC 9110 §6.6.1), formatted at most once a second per thread.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An IMF-fixdate is always 29 bytes: `Sun, 06 Nov 1994 08:49:37 GMT`.
const IMF_FIXDATE_LEN: usize = 29;

struct CachedDate {
    second: u64,
    text: [u8; IMF_FIXDATE_LEN],
}

thread_local! {
    static CACHED: RefCell<CachedDate> = const {
        RefCell::new(CachedDate { second: u64::MAX, text: [0; IMF_FIXDATE_LEN] })
    };
}

/// Appends the current date, as an IMF-fixdate, to `out`.
pub(crate) fn append_now(out: &mut Vec<u8>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.second != now.as_secs() {
            let text = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(now.as_secs()));
            cached
                .text
                .copy_from_slice(&text.as_bytes()[..IMF_FIXDATE_LEN]);
            cached.second = now.as_secs();
        }
        out.extend_from_slice(&cached.text);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_is_an_imf_fixdate_close_to_now() {
        let mut out = Vec::new();
        append_now(&mut out);
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.ends_with(" GMT"), "{text}");
        let parsed = httpdate::parse_http_date(text).unwrap();
        let drift = SystemTime::now().duration_since(parsed).unwrap();
        assert!(drift < Duration::from_secs(5), "{drift:?}");
    }
}

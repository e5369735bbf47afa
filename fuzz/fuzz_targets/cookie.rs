//! `Cookie` headers (one per input line) read by `Request::cookies`: never a panic; every
//! pair has a name that is not empty, holds no `;` or `=` and is trimmed, and a value
//! without `;`; `Request::cookie` is the first pair of that name. A `SetCookie` made from
//! the first line's `name=value`, if valid, comes back from a `Cookie` header as the same
//! name and (unquoted) value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::http::{self, HeaderValue};
use switchyard::{Request, SetCookie};

fuzz_target!(|data: &[u8]| {
    let lines: Vec<&[u8]> = data.split(|&byte| byte == b'\n').collect();
    let mut builder = http::Request::get("/");
    for line in &lines {
        let Ok(value) = HeaderValue::from_bytes(line) else {
            return;
        };
        builder = builder.header("cookie", value);
    }
    let request = Request::from(builder.body(()).expect("valid"));
    let pairs: Vec<(&str, &str)> = request.cookies().collect();
    for &(name, value) in &pairs {
        assert!(!name.is_empty());
        assert!(!name.contains([';', '=']), "{name:?}");
        assert_eq!(name.trim_matches([' ', '\t']), name);
        assert!(!value.contains(';'), "{value:?}");
        let first = pairs.iter().find(|(candidate, _)| *candidate == name);
        assert_eq!(request.cookie(name), first.map(|&(_, value)| value));
    }

    let Some(Ok(first)) = lines.first().map(|line| std::str::from_utf8(line)) else {
        return;
    };
    let Some((name, value)) = first.split_once('=') else {
        return;
    };
    let Ok(set_cookie) = SetCookie::try_new(name, value) else {
        return;
    };
    let header = HeaderValue::from(&set_cookie);
    let text = header.to_str().expect("printable ASCII");
    let pair = text.split(';').next().expect("one part at least");
    let back = Request::from(
        http::Request::get("/")
            .header("cookie", pair)
            .body(())
            .expect("valid"),
    );
    let unquoted = value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(value);
    assert_eq!(back.cookies().collect::<Vec<_>>(), [(name, unquoted)]);
});

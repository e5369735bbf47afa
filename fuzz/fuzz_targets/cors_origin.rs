//! `Cors` origin checks. Line 1: the configured origins, separated by spaces; line 2: the
//! request's `Origin`; line 3: `Access-Control-Request-Method`; line 4:
//! `Access-Control-Request-Headers`.
//!
//! `build()` succeeds exactly when every configured origin is a serialized origin (or one
//! is `*`); a serialized origin has a scheme, `://` and a host, and no path, query,
//! fragment, user info or whitespace. A response allows the request's origin exactly
//! when the list holds it (ASCII case-insensitively), and echoes it byte for byte; a
//! preflight never allows what a plain request would not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::__private::is_origin;
use switchyard::http::{self, HeaderValue, Method};
use switchyard::{Cors, Request, Router};

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(4, |&byte| byte == b'\n');
    let Ok(configured) = std::str::from_utf8(lines.next().unwrap_or_default()) else {
        return;
    };
    let origin = lines.next().unwrap_or_default();
    let method = lines.next().unwrap_or_default();
    let request_headers = lines.next().unwrap_or_default();

    let list: Vec<&str> = configured.split(' ').filter(|o| !o.is_empty()).collect();
    for entry in &list {
        if is_origin(entry) {
            let (scheme, authority) = entry.split_once("://").expect("a scheme");
            assert!(!scheme.is_empty() && !authority.is_empty(), "{entry:?}");
            assert!(!authority.contains(['/', '?', '#', '@']), "{entry:?}");
            assert!(
                !entry.chars().any(|c| c.is_whitespace() || c.is_control()),
                "{entry:?}"
            );
            assert!(!entry.ends_with(':'), "{entry:?}");
        }
    }
    let wildcard = list.iter().any(|o| o.trim() == "*");
    let valid = !list.is_empty() && (wildcard || list.iter().all(|o| is_origin(o.trim())));
    let built = Cors::builder().allow_origins(&list).build();
    assert_eq!(built.is_ok(), valid, "{list:?}: {built:?}");
    let Ok(cors) = built else {
        return;
    };
    let Ok(origin) = HeaderValue::from_bytes(origin) else {
        return;
    };
    let router = Router::new().get("/", |_: &Request| "ok").plugin(cors);

    let get = http::Request::get("/")
        .header("origin", origin.clone())
        .body(())
        .expect("valid");
    let response = router.handle(get);
    let allowed = response
        .headers()
        .get("access-control-allow-origin")
        .cloned();
    let listed = origin
        .to_str()
        .is_ok_and(|text| list.iter().any(|o| o.trim().eq_ignore_ascii_case(text)));
    match (wildcard, &allowed) {
        (true, allowed) => assert_eq!(allowed.as_ref().map(HeaderValue::as_bytes), Some(&b"*"[..])),
        (false, Some(allowed)) => {
            assert!(listed, "{origin:?} allowed by {list:?}");
            assert_eq!(allowed, &origin);
        }
        (false, None) => assert!(!listed, "{origin:?} refused by {list:?}"),
    }

    let (Ok(method), Ok(request_headers)) = (
        HeaderValue::from_bytes(method),
        HeaderValue::from_bytes(request_headers),
    ) else {
        return;
    };
    let preflight = http::Request::options("/")
        .header("origin", origin.clone())
        .header("access-control-request-method", method.clone())
        .header("access-control-request-headers", request_headers)
        .body(())
        .expect("valid");
    let response = router.handle(preflight);
    if let Some(preflight_allowed) = response.headers().get("access-control-allow-origin") {
        assert_eq!(Some(preflight_allowed), allowed.as_ref());
        assert!(Method::from_bytes(method.as_bytes()).is_ok(), "{method:?}");
    }
});

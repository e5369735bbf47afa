//! Arbitrary bytes never panic the head parser, a complete head never claims more bytes than
//! it was given, and an accepted head has every line ended by CRLF (no bare LF).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::__private::parse_request_head;
use switchyard::Limits;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(len)) = parse_request_head(data, &Limits::default()) {
        assert!(len <= data.len());
        // The head alone parses to the same length.
        assert_eq!(
            parse_request_head(&data[..len], &Limits::default()),
            Ok(Some(len))
        );
        let head = &data[..len];
        let bare_lf = (0..head.len()).any(|i| head[i] == b'\n' && (i == 0 || head[i - 1] != b'\r'));
        assert!(!bare_lf, "accepted a head with a bare LF");
    }
});

//! `Accept-Encoding` lines (one per input line) as `Compression` and `StaticFiles` read
//! them: never a panic; no coding is picked with q=0 or below `identity`; the best comes
//! first; the order of the lines does not matter; and `gzip;q=0` on a line of its own
//! excludes gzip whatever else was sent (a coding listed twice gets its lowest q-value).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::__private::{Negotiation, negotiate};

fuzz_target!(|data: &[u8]| {
    let lines: Vec<&[u8]> = data.split(|&byte| byte == b'\n').collect();
    let negotiation = negotiate(&lines);
    check(&negotiation);

    let reversed: Vec<&[u8]> = lines.iter().rev().copied().collect();
    assert_eq!(
        negotiate(&reversed),
        negotiation,
        "line order changed the result"
    );

    let mut excluded = lines.clone();
    excluded.push(b"gzip;q=0");
    let excluded = negotiate(&excluded);
    check(&excluded);
    assert_eq!(excluded.gzip, 0);
    assert!(!excluded.preferred.contains(&"gzip"));
    assert_ne!(excluded.gzip_choice, Some("gzip"));
});

fn check(n: &Negotiation) {
    assert!(
        n.br <= 1000 && n.gzip <= 1000 && n.identity <= 1000,
        "{n:?}"
    );
    let weight = |coding: &str| match coding {
        "br" => n.br,
        "gzip" => n.gzip,
        other => panic!("unexpected coding {other}"),
    };
    for coding in &n.preferred {
        let q = weight(coding);
        assert!(q > 0, "{coding} picked with q=0: {n:?}");
        assert!(q >= n.identity, "{coding} picked below identity: {n:?}");
    }
    assert!(
        n.preferred
            .windows(2)
            .all(|pair| weight(pair[0]) >= weight(pair[1])),
        "{n:?}"
    );
    let gzip_wins = n.gzip > 0 && n.gzip >= n.identity;
    let expected = match (gzip_wins, n.identity > 0) {
        (true, _) => Some("gzip"),
        (false, true) => Some("identity"),
        (false, false) => None,
    };
    assert_eq!(n.gzip_choice, expected, "{n:?}");
}

//! What the plugins' parsers cost a request: `Request::cookie` on a browser-sized `Cookie`
//! header, `StaticFiles`' `Content-Type` lookup by extension, and the `Accept-Encoding`
//! negotiation `Compression` and `StaticFiles` share. Each is a small part of the few
//! microseconds a request costs; the numbers decide between our code and a crate.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard::__private::{content_type, negotiate};
use switchyard::Request;
use switchyard::http;

/// A `Cookie` header as a browser sends it to a site with analytics, a session and a CSRF
/// token: 7 pairs, 227 bytes.
const COOKIE: &str = "_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; \
     theme=dark; lang=en-US; _fbp=fb.1.1700000000000.1234567890; \
     session=k7Vq2Wc9xYzA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv; \
     csrftoken=\"Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa\"";

/// File names as a page and its assets ask for them, and two the table lacks.
const NAMES: [&str; 10] = [
    "index.html",
    "app.3f9a2c.js",
    "site.css",
    "logo.svg",
    "hero.webp",
    "inter.woff2",
    "manifest.webmanifest",
    "data.json",
    "archive.7z",
    "Makefile",
];

fn cookie(c: &mut Criterion) {
    let req = Request::from(
        http::Request::get("/")
            .header("cookie", COOKIE)
            .body(())
            .expect("a valid request"),
    );
    let mut group = c.benchmark_group("cookie");
    group.bench_function("lookup_6th_of_7", |b| {
        b.iter(|| {
            let value = black_box(&req).cookie(black_box("session"));
            assert_eq!(value.map(str::len), Some(43));
        })
    });
    group.bench_function("lookup_missing", |b| {
        b.iter(|| assert!(black_box(&req).cookie(black_box("absent")).is_none()))
    });
    group.bench_function("iterate_all", |b| {
        b.iter(|| assert_eq!(black_box(&req).cookies().count(), 7))
    });
    group.finish();
}

fn content_types(c: &mut Criterion) {
    c.bench_function("static_files/content_type_10_names", |b| {
        b.iter(|| {
            for name in NAMES {
                black_box(content_type(black_box(name)));
            }
        })
    });
}

fn accept_encoding(c: &mut Criterion) {
    let lines: [&[u8]; 1] = [b"gzip, deflate, br, zstd"];
    c.bench_function("negotiate/firefox_accept_encoding", |b| {
        b.iter(|| {
            let negotiation = negotiate(black_box(&lines));
            assert_eq!(negotiation.gzip_choice, Some("gzip"));
        })
    });
}

criterion_group!(benches, cookie, content_types, accept_encoding);
criterion_main!(benches);

//! The HTTP/1.1 layer alone: parsing request heads, decoding chunked bodies, encoding a
//! response, and one whole connection turn over an in-memory stream (httparse's
//! benches/parse.rs is the model).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchyard::__private::{decode_chunked, encode_response, parse_request_head, serve_bytes};
use switchyard::Limits;
use switchyard::http::{HeaderMap, HeaderValue, header};

const REQ_SHORT: &[u8] =
    b"GET / HTTP/1.1\r\nHost: example.com\r\nCookie: session=60; user_id=1\r\n\r\n";

const REQ: &[u8] = b"\
GET /wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg HTTP/1.1\r\n\
Host: www.kittyhell.com\r\n\
User-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; ja-JP-mac; rv:1.9.2.3) Gecko/20100401 Firefox/3.6.3 Pathtraq/0.9\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: ja,en-us;q=0.7,en;q=0.3\r\n\
Accept-Encoding: gzip,deflate\r\n\
Accept-Charset: Shift_JIS,utf-8;q=0.7,*;q=0.7\r\n\
Keep-Alive: 115\r\n\
Connection: keep-alive\r\n\
Cookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx; __utma=xxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.x; __utmz=xxxxxxxxx.xxxxxxxxxx.x.x.utmccn=(referral)|utmcsr=reader.livedoor.com|utmcct=/reader/|utmcmd=referral\r\n\r\n";

fn parse(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("http1/parse");
    for (name, input) in [("req_short", REQ_SHORT), ("req", REQ)] {
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let len = parse_request_head(black_box(input), &limits).expect("valid head");
                assert_eq!(len, Some(input.len()));
            });
        });
    }
    group.finish();
}

fn chunked_body(size: usize) -> Vec<u8> {
    let mut encoded = Vec::new();
    for piece in vec![b'x'; size].chunks(4096) {
        encoded.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        encoded.extend_from_slice(piece);
        encoded.extend_from_slice(b"\r\n");
    }
    encoded.extend_from_slice(b"0\r\n\r\n");
    encoded
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("http1/decode_chunked");
    for (name, size) in [("1KiB", 1024), ("64KiB", 64 * 1024)] {
        let encoded = chunked_body(size);
        group.throughput(Throughput::Bytes(encoded.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let (data, done, _) = decode_chunked(black_box(&encoded), &[]).expect("valid");
                assert!(done && data.len() == size);
            });
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    let body = b"Hello, World!";
    let mut out = Vec::with_capacity(256);
    c.bench_function("http1/encode_response", |b| {
        b.iter(|| {
            out.clear();
            encode_response(&mut out, black_box(&headers), black_box(body));
            assert!(out.ends_with(body));
        });
    });
}

fn serve(c: &mut Criterion) {
    let limits = Limits::default();
    let mut pipelined = Vec::new();
    for _ in 0..16 {
        pipelined.extend_from_slice(REQ_SHORT);
    }
    let mut group = c.benchmark_group("http1/serve");
    group.throughput(Throughput::Elements(16));
    group.bench_function("pipelined_x16", |b| {
        b.iter(|| {
            let out = serve_bytes(black_box(&pipelined), &[], &[], &limits);
            assert!(out.starts_with(b"HTTP/1.1 200 OK"));
        });
    });
    group.finish();
}

criterion_group!(benches, parse, decode, encode, serve);
criterion_main!(benches);

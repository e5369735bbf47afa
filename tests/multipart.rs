//! `multipart/form-data` uploads through a real server (feature `multipart`, on by
//! default): parts read as the body arrives on a streaming route, limits answered 413
//! through the route, other content types 415, and the chunked and pipelined cases.
#![cfg(feature = "multipart")]

mod support;

use std::io::{Read, Write};

use support::{Client, connect, read_reply};
use switchyard::multipart::MultipartError;
use switchyard::{Handler, Rejection, Request, Router, Server};

/// Lists each part as `name:filename:size:checksum` (a byte sum: the server's and the
/// test's agree only if every byte arrived in order).
fn summarize(req: &Request) -> Result<String, Rejection> {
    let mut form = req.multipart()?.max_field_bytes(16);
    let mut lines = Vec::new();
    while let Some(mut part) = form.next_part()? {
        let (mut size, mut sum) = (0u64, 0u64);
        let mut buf = [0u8; 1000];
        loop {
            let n = part.read(&mut buf).map_err(MultipartError::from)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            sum = buf[..n].iter().fold(sum, |sum, &b| {
                sum.wrapping_mul(31).wrapping_add(u64::from(b))
            });
        }
        let filename = part.filename().unwrap_or("-").to_owned();
        lines.push(format!("{}:{filename}:{size}:{sum}", part.name()));
    }
    Ok(lines.join("\n"))
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |sum, &b| {
        sum.wrapping_mul(31).wrapping_add(u64::from(b))
    })
}

fn server() -> switchyard::RunningServer {
    support::spawn(
        Server::builder().threads(2).app(
            Router::new()
                .post("/streamed", summarize.stream_bodies(64 << 20))
                .post("/gathered", summarize),
        ),
    )
}

fn body_with_file(file: &[u8]) -> Vec<u8> {
    let mut body = b"--XX\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nbig one\r\n\
--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"data.bin\"\r\n\
Content-Type: application/octet-stream\r\n\r\n"
        .to_vec();
    body.extend_from_slice(file);
    body.extend_from_slice(b"\r\n--XX--\r\n");
    body
}

fn post(path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let head = "HTTP/1.1\r\nHost: h\r\nContent-Type";
    let mut request = format!(
        "POST {path} {head}: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// A multipart POST of `body` in chunks of `piece` bytes.
fn chunked_post(path: &str, body: &[u8], piece: usize) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: h\r\n\
Content-Type: multipart/form-data; boundary=XX\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    request.extend_from_slice(&support::chunked(body, piece));
    request
}

#[test]
fn a_large_file_streams_through_part_by_part() {
    let server = server();
    // 8 MiB with every byte value, and a boundary look-alike inside.
    let mut file: Vec<u8> = (0..8u32 << 20).map(|i| (i % 253) as u8).collect();
    file[1000..1007].copy_from_slice(b"\r\n--X\r\n");
    let expected = format!(
        "title:-:7:{}\nfile:data.bin:{}:{}",
        checksum(b"big one"),
        file.len(),
        checksum(&file)
    );
    let mut client = Client::new(server.local_addr());
    client.send(&post(
        "/streamed",
        "multipart/form-data; boundary=XX",
        &body_with_file(&file),
    ));
    let reply = client.reply();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), expected);
    // A route that gathers its body first reads the same.
    let file = &file[..1 << 20];
    let mut client = Client::new(server.local_addr());
    client.send(&post(
        "/gathered",
        "multipart/form-data; boundary=XX",
        &body_with_file(file),
    ));
    let reply = client.reply();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply
            .text()
            .ends_with(&format!("file:data.bin:{}:{}", file.len(), checksum(file)))
    );
}

#[test]
fn a_chunked_upload_and_the_request_after_it_on_the_same_connection() {
    let server = server();
    let file = vec![b'z'; 100_000];
    let body = body_with_file(&file);
    let mut request = chunked_post("/streamed", &body, 7_777);
    let small = body_with_file(b"tiny");
    request.extend_from_slice(&post(
        "/streamed",
        "multipart/form-data; boundary=XX",
        &small,
    ));
    let mut stream = connect(server.local_addr());
    stream.write_all(&request).unwrap();
    let mut reader = std::io::BufReader::new(stream);
    let first = read_reply(&mut reader, false);
    assert_eq!(first.status, 200, "{}", first.text());
    assert!(
        first
            .text()
            .ends_with(&format!("file:data.bin:100000:{}", checksum(&file)))
    );
    let second = read_reply(&mut reader, false);
    assert_eq!(second.status, 200);
    assert!(
        second
            .text()
            .ends_with(&format!("file:data.bin:4:{}", checksum(b"tiny")))
    );
}

#[test]
fn limits_and_wrong_bodies_get_precise_statuses() {
    let server = server();
    let mut client = Client::new(server.local_addr());
    // A text field over the handler's 16-byte limit: 413, naming the field.
    let long = b"--XX\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n\
a note longer than sixteen bytes\r\n--XX--\r\n";
    client.send(&post("/streamed", "multipart/form-data; boundary=XX", long));
    let reply = client.reply();
    assert_eq!(reply.status, 413);
    assert!(reply.text().contains("\"note\""), "{}", reply.text());
    let mut client = Client::new(server.local_addr());
    client.send(&post("/streamed", "text/plain", b"hello"));
    assert_eq!(client.reply().status, 415);
    let mut client = Client::new(server.local_addr());
    client.send(&post("/streamed", "multipart/form-data", b"hello"));
    assert_eq!(client.reply().status, 400);
    // Cut before the close delimiter.
    let mut client = Client::new(server.local_addr());
    client.send(&post(
        "/gathered",
        "multipart/form-data; boundary=XX",
        b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue",
    ));
    let reply = client.reply();
    assert_eq!(reply.status, 400);
    assert!(
        reply.text().contains("closing boundary"),
        "{}",
        reply.text()
    );
}

#[test]
fn a_chunked_body_over_a_streaming_route_s_limit_is_413() {
    let server = support::spawn(
        Server::builder()
            .threads(1)
            .app(Router::new().post("/tight", summarize.stream_bodies(1000))),
    );
    let body = body_with_file(&[b'q'; 5000]);
    let request = chunked_post("/tight", &body, 500);
    let mut client = Client::new(server.local_addr());
    client.send(&request);
    let reply = client.reply();
    assert_eq!(reply.status, 413, "{}", reply.text());
}

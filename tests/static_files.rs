//! `StaticFiles` over a real socket: headers, HEAD, conditional requests, ranges,
//! directories, precompressed siblings, every path-traversal trick we know of (each its
//! own test), exact bytes of a large file, and a slow download that holds no worker.
//!
//! Each test serves a directory of its own under the system temporary directory, removed
//! when the test ends (pass or fail). Next to the served `public/` directory lies
//! `secret.txt`: the file every traversal test tries to reach.

mod support;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use support::{Reply, read_reply, spawn};
use switchyard::{Request, Router, RunningServer, Server, StaticFiles};

/// What `secret.txt`, outside the served root, holds.
const SECRET: &str = "top secret, outside the root";
const INDEX_HTML: &str = "<!doctype html><h1>index</h1>";
const STYLE_CSS: &str = "h1 { color: teal }";

// ---------------------------------------------------------------------------------------
// Fixture: a served directory, a server, a request helper
// ---------------------------------------------------------------------------------------

/// `<tmp>/switchyard-static-<pid>-<n>-<name>/` holding `public/` (the root, with
/// `index.html`, `style.css`, `sub/index.html`) and `secret.txt`. Removed on drop.
struct Site {
    dir: PathBuf,
    root: PathBuf,
}

impl Site {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "switchyard-static-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir); // left over from a killed run
        let root = dir.join("public");
        fs::create_dir_all(&root).expect("create the site's root");
        let site = Self { dir, root };
        fs::write(site.dir.join("secret.txt"), SECRET).expect("write the secret");
        site.write("index.html", INDEX_HTML);
        site.write("style.css", STYLE_CSS);
        site.write("sub/index.html", "sub index");
        site
    }

    /// Writes `contents` to `rel` under the root, creating directories.
    fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.root.join(rel);
        fs::create_dir_all(path.parent().expect("under the root")).expect("create dirs");
        fs::write(&path, contents).expect("write a site file");
        path
    }

    fn secret(&self) -> PathBuf {
        self.dir.join("secret.txt")
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Serves `files` at `/assets`.
fn serve(files: StaticFiles) -> RunningServer {
    spawn(Server::builder().app(Router::new().nest("/assets", files)))
}

/// Sends `method target` with `headers` on a fresh connection and reads the reply.
fn fetch(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: test\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut reader = BufReader::new(support::connect(addr));
    reader
        .get_mut()
        .write_all(request.as_bytes())
        .expect("send the request");
    read_reply(&mut reader, method == "HEAD")
}

fn get(addr: SocketAddr, target: &str) -> Reply {
    fetch(addr, "GET", target, &[])
}

fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply
        .header(name)
        .unwrap_or_else(|| panic!("no {name} in {reply:?}"))
}

/// Asserts that `target` is a bodiless 404 that says nothing of the secret.
fn assert_refused(addr: SocketAddr, target: &str) {
    let reply = get(addr, target);
    assert_eq!(reply.status, 404, "{target}: {reply:?}");
    assert!(reply.body.is_empty(), "{target}: {reply:?}");
}

// ---------------------------------------------------------------------------------------
// Files, HEAD, methods
// ---------------------------------------------------------------------------------------

#[test]
fn a_file_is_served_with_type_length_validators_and_accept_ranges() {
    let site = Site::new("headers");
    let server = serve(StaticFiles::new(&site.root).cache_control("public, max-age=60"));
    let reply = get(server.local_addr(), "/assets/style.css");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), STYLE_CSS);
    assert_eq!(header(&reply, "content-type"), "text/css; charset=utf-8");
    assert_eq!(
        header(&reply, "content-length"),
        STYLE_CSS.len().to_string()
    );
    assert_eq!(header(&reply, "accept-ranges"), "bytes");
    assert_eq!(header(&reply, "cache-control"), "public, max-age=60");
    assert_eq!(header(&reply, "x-content-type-options"), "nosniff");
    let etag = header(&reply, "etag");
    assert!(
        etag.starts_with(&format!("\"{:x}-", STYLE_CSS.len())) && etag.ends_with('"'),
        "{etag}"
    );
    let modified = fs::metadata(site.root.join("style.css"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        header(&reply, "last-modified"),
        httpdate::fmt_http_date(modified)
    );
    assert!(reply.header("vary").is_none(), "no precompression, no Vary");
    assert!(reply.header("content-encoding").is_none());
}

#[test]
fn unknown_extensions_are_octet_streams_and_missing_files_404() {
    let site = Site::new("types");
    site.write("data.bin", [0u8, 1, 2]);
    site.write("notes.TXT", "hi");
    let server = serve(StaticFiles::new(&site.root));
    let addr = server.local_addr();
    let reply = get(addr, "/assets/data.bin");
    assert_eq!(header(&reply, "content-type"), "application/octet-stream");
    assert_eq!(reply.body, [0, 1, 2]);
    let reply = get(addr, "/assets/notes.TXT");
    assert_eq!(header(&reply, "content-type"), "text/plain; charset=utf-8");
    assert_refused(addr, "/assets/missing.css");
    assert_refused(addr, "/assets/style.css/");
}

#[test]
fn head_has_the_headers_of_get_and_no_body() {
    let site = Site::new("head");
    let server = serve(StaticFiles::new(&site.root));
    let addr = server.local_addr();
    let got = get(addr, "/assets/style.css");
    let head = fetch(addr, "HEAD", "/assets/style.css", &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    for name in [
        "content-type",
        "content-length",
        "etag",
        "last-modified",
        "accept-ranges",
    ] {
        assert_eq!(head.header(name), got.header(name), "{name}");
    }
    // The connection is still usable: HEAD sent no body bytes to confuse the next reply.
    let mut client = support::Client::new(addr);
    client.send(b"HEAD /assets/style.css HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut reader = BufReader::new(client.stream().try_clone().unwrap());
    assert_eq!(read_reply(&mut reader, true).status, 200);
    client.send(b"GET /assets/style.css HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(read_reply(&mut reader, false).text(), STYLE_CSS);
}

#[test]
fn other_methods_are_405_with_allow() {
    let site = Site::new("methods");
    let server = serve(StaticFiles::new(&site.root));
    for method in ["POST", "PUT", "DELETE"] {
        let reply = fetch(server.local_addr(), method, "/assets/style.css", &[]);
        assert_eq!(reply.status, 405, "{method}");
        assert_eq!(header(&reply, "allow"), "GET, HEAD, OPTIONS", "{method}");
    }
}

#[test]
fn a_one_mib_file_arrives_byte_for_byte() {
    let site = Site::new("one-mib");
    // A pseudo-random pattern, so that a misplaced or repeated piece shows.
    let mut state = 0x2545_f491_u32;
    let bytes: Vec<u8> = (0..1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    site.write("blob.bin", &bytes);
    let server = serve(StaticFiles::new(&site.root));
    let reply = get(server.local_addr(), "/assets/blob.bin");
    assert_eq!(reply.status, 200);
    assert_eq!(header(&reply, "content-length"), "1048576");
    assert!(reply.body == bytes, "the 1 MiB body differs");
}

// ---------------------------------------------------------------------------------------
// Conditional requests
// ---------------------------------------------------------------------------------------

#[test]
fn if_none_match_with_the_etag_is_304_with_validators_and_no_body() {
    let site = Site::new("inm");
    let server = serve(StaticFiles::new(&site.root).cache_control("no-cache"));
    let addr = server.local_addr();
    let first = get(addr, "/assets/style.css");
    let etag = header(&first, "etag");
    for sent in [
        etag.to_owned(),
        format!("W/{etag}"),
        format!("\"x\", {etag}"),
    ] {
        let reply = fetch(
            addr,
            "GET",
            "/assets/style.css",
            &[("If-None-Match", &sent)],
        );
        assert_eq!(reply.status, 304, "{sent}");
        assert!(reply.body.is_empty());
        assert_eq!(reply.header("etag"), Some(etag));
        assert_eq!(reply.header("last-modified"), first.header("last-modified"));
        assert_eq!(reply.header("cache-control"), Some("no-cache"));
        assert!(reply.header("content-length").is_none(), "{reply:?}");
    }
    let head = fetch(
        addr,
        "HEAD",
        "/assets/style.css",
        &[("If-None-Match", etag)],
    );
    assert_eq!(head.status, 304);
    let changed = fetch(
        addr,
        "GET",
        "/assets/style.css",
        &[("If-None-Match", "\"old\"")],
    );
    assert_eq!(changed.status, 200);
    assert_eq!(changed.text(), STYLE_CSS);
}

#[test]
fn if_modified_since_the_last_modification_is_304() {
    let site = Site::new("ims");
    let server = serve(StaticFiles::new(&site.root));
    let addr = server.local_addr();
    let first = get(addr, "/assets/style.css");
    let last_modified = header(&first, "last-modified");
    let reply = fetch(
        addr,
        "GET",
        "/assets/style.css",
        &[("If-Modified-Since", last_modified)],
    );
    assert_eq!(reply.status, 304);
    assert_eq!(reply.header("etag"), first.header("etag"));
    let earlier = "Thu, 01 Jan 1970 00:00:01 GMT";
    let reply = fetch(
        addr,
        "GET",
        "/assets/style.css",
        &[("If-Modified-Since", earlier)],
    );
    assert_eq!(reply.status, 200);
    // If-None-Match, when present, decides instead of the date.
    let reply = fetch(
        addr,
        "GET",
        "/assets/style.css",
        &[
            ("If-None-Match", "\"other\""),
            ("If-Modified-Since", last_modified),
        ],
    );
    assert_eq!(reply.status, 200);
}

#[test]
fn if_match_mismatch_and_if_unmodified_since_an_earlier_date_are_412() {
    let site = Site::new("412");
    let server = serve(StaticFiles::new(&site.root));
    let addr = server.local_addr();
    let etag = get(addr, "/assets/style.css")
        .header("etag")
        .unwrap()
        .to_owned();
    let reply = fetch(
        addr,
        "GET",
        "/assets/style.css",
        &[("If-Match", "\"other\"")],
    );
    assert_eq!(reply.status, 412);
    assert!(reply.body.is_empty());
    let weak = format!("W/{etag}");
    let reply = fetch(addr, "GET", "/assets/style.css", &[("If-Match", &weak)]);
    assert_eq!(reply.status, 412, "If-Match compares strongly");
    let reply = fetch(addr, "GET", "/assets/style.css", &[("If-Match", &etag)]);
    assert_eq!(reply.status, 200);
    let reply = fetch(addr, "GET", "/assets/style.css", &[("If-Match", "*")]);
    assert_eq!(reply.status, 200);
    let earlier = "Thu, 01 Jan 1970 00:00:01 GMT";
    let reply = fetch(
        addr,
        "GET",
        "/assets/style.css",
        &[("If-Unmodified-Since", earlier)],
    );
    assert_eq!(reply.status, 412);
}

// ---------------------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------------------

/// `0123456789` repeated: byte `i` is `'0' + i % 10`.
const DIGITS_LEN: usize = 1000;

fn digits_site(name: &str) -> Site {
    let site = Site::new(name);
    let digits: String = (0..DIGITS_LEN)
        .map(|i| char::from(b'0' + (i % 10) as u8))
        .collect();
    site.write("digits.txt", digits);
    site
}

#[test]
fn a_single_range_is_206_with_content_range_and_the_slice() {
    let site = digits_site("206");
    let server = serve(StaticFiles::new(&site.root));
    let addr = server.local_addr();
    let cases = [
        ("bytes=0-9", 0, 9),
        ("bytes=995-", 995, 999),
        ("bytes=-3", 997, 999),
        ("bytes=990-5000", 990, 999),
        ("bytes=13-13", 13, 13),
    ];
    for (range, first, last) in cases {
        let reply = fetch(addr, "GET", "/assets/digits.txt", &[("Range", range)]);
        assert_eq!(reply.status, 206, "{range}");
        assert_eq!(
            header(&reply, "content-range"),
            format!("bytes {first}-{last}/{DIGITS_LEN}"),
            "{range}"
        );
        let expected: String = (first..=last)
            .map(|i| char::from(b'0' + (i % 10) as u8))
            .collect();
        assert_eq!(reply.text(), expected, "{range}");
        assert_eq!(
            header(&reply, "content-length"),
            (last - first + 1).to_string()
        );
        assert_eq!(header(&reply, "content-type"), "text/plain; charset=utf-8");
        assert!(reply.header("etag").is_some());
    }
}

#[test]
fn an_unsatisfiable_range_is_416_with_the_length() {
    let site = digits_site("416");
    let server = serve(StaticFiles::new(&site.root));
    for range in ["bytes=1000-", "bytes=5000-6000", "bytes=-0"] {
        let reply = fetch(
            server.local_addr(),
            "GET",
            "/assets/digits.txt",
            &[("Range", range)],
        );
        assert_eq!(reply.status, 416, "{range}");
        assert_eq!(header(&reply, "content-range"), "bytes */1000");
        assert!(reply.body.is_empty());
    }
}

#[test]
fn multiple_or_malformed_ranges_and_head_get_the_whole_file() {
    let site = digits_site("whole");
    let server = serve(StaticFiles::new(&site.root));
    let addr = server.local_addr();
    for range in ["bytes=0-1,5-6", "bytes=9-1", "lines=1-2"] {
        let reply = fetch(addr, "GET", "/assets/digits.txt", &[("Range", range)]);
        assert_eq!(reply.status, 200, "{range}");
        assert_eq!(reply.body.len(), DIGITS_LEN, "{range}");
        assert!(reply.header("content-range").is_none());
    }
    let head = fetch(
        addr,
        "HEAD",
        "/assets/digits.txt",
        &[("Range", "bytes=0-9")],
    );
    assert_eq!(head.status, 200);
    assert_eq!(header(&head, "content-length"), DIGITS_LEN.to_string());
}

#[test]
fn if_range_mismatch_serves_the_whole_file_and_a_match_the_range() {
    let site = digits_site("if-range");
    // A date validates a range only if the file did not change within its second (RFC
    // 9110 §13.1.5): a file written just now is not there yet.
    let file = std::fs::File::options()
        .write(true)
        .open(site.root.join("digits.txt"))
        .unwrap();
    file.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(60))
        .unwrap();
    let server = serve(StaticFiles::new(&site.root));
    let addr = server.local_addr();
    let first = get(addr, "/assets/digits.txt");
    let etag = header(&first, "etag");
    let last_modified = header(&first, "last-modified");
    let stale = "Thu, 01 Jan 1970 00:00:01 GMT";
    let weak = format!("W/{etag}");
    for validator in ["\"stale\"", stale, weak.as_str()] {
        let reply = fetch(
            addr,
            "GET",
            "/assets/digits.txt",
            &[("Range", "bytes=0-9"), ("If-Range", validator)],
        );
        assert_eq!(reply.status, 200, "If-Range {validator}");
        assert_eq!(reply.body.len(), DIGITS_LEN);
    }
    for validator in [etag, last_modified] {
        let reply = fetch(
            addr,
            "GET",
            "/assets/digits.txt",
            &[("Range", "bytes=0-9"), ("If-Range", validator)],
        );
        assert_eq!(reply.status, 206, "If-Range {validator}");
        assert_eq!(reply.text(), "0123456789");
    }
}

// ---------------------------------------------------------------------------------------
// Directories and fallback
// ---------------------------------------------------------------------------------------

#[test]
fn a_directory_with_its_slash_serves_its_index_file() {
    let site = Site::new("index");
    let server = serve(StaticFiles::new(&site.root));
    let addr = server.local_addr();
    let reply = get(addr, "/assets/");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), INDEX_HTML);
    assert_eq!(header(&reply, "content-type"), "text/html; charset=utf-8");
    assert_eq!(get(addr, "/assets/sub/").text(), "sub index");
    assert_eq!(get(addr, "/assets/index.html").text(), INDEX_HTML);
    fs::create_dir(site.root.join("empty")).unwrap();
    assert_refused(addr, "/assets/empty/");
}

#[test]
fn a_directory_without_its_slash_redirects_308_to_it() {
    let site = Site::new("redirect");
    let server = serve(StaticFiles::new(&site.root));
    let addr = server.local_addr();
    for (target, location) in [
        ("/assets", "/assets/"),
        ("/assets/sub", "/assets/sub/"),
        ("/assets/sub?v=2", "/assets/sub/?v=2"),
    ] {
        let reply = get(addr, target);
        assert_eq!(reply.status, 308, "{target}");
        assert_eq!(header(&reply, "location"), location, "{target}");
    }
    assert_refused(addr, "/assets/nothing-here");
}

#[test]
fn without_an_index_file_directories_are_404() {
    let site = Site::new("no-index");
    let server = serve(StaticFiles::new(&site.root).index_file(None));
    let addr = server.local_addr();
    assert_refused(addr, "/assets/");
    assert_refused(addr, "/assets/sub");
    assert_refused(addr, "/assets/sub/");
    assert_eq!(get(addr, "/assets/sub/index.html").text(), "sub index");
}

#[test]
fn mounted_at_the_root_it_serves_slash_and_files() {
    let site = Site::new("root-mount");
    let app = Router::from(StaticFiles::new(&site.root)).get("/api/ping", |_: &Request| "pong");
    let server = spawn(Server::builder().app(app));
    let addr = server.local_addr();
    assert_eq!(get(addr, "/").text(), INDEX_HTML);
    assert_eq!(get(addr, "/style.css").text(), STYLE_CSS);
    assert_eq!(get(addr, "/api/ping").text(), "pong");
    assert_eq!(header(&get(addr, "/sub"), "location"), "/sub/");
    assert_refused(addr, "/../secret.txt");
    assert_refused(addr, "//etc/passwd");
}

#[test]
fn the_fallback_file_serves_unknown_paths_but_not_refused_ones() {
    let site = Site::new("fallback");
    let server = serve(StaticFiles::new(&site.root).fallback_file("index.html"));
    let addr = server.local_addr();
    let reply = get(addr, "/assets/settings/profile");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), INDEX_HTML);
    assert_eq!(header(&reply, "content-type"), "text/html; charset=utf-8");
    assert_eq!(get(addr, "/assets/style.css").text(), STYLE_CSS);
    assert_refused(addr, "/assets/../secret.txt");
    assert_refused(addr, "/assets/.env");
}

// ---------------------------------------------------------------------------------------
// Path traversal: one test per trick. Each asks for a file that exists, so a 404 is the
// refusal and not an accident.
// ---------------------------------------------------------------------------------------

/// The same directory served twice: with the default checks, and with symlinks followed,
/// which turns the canonical-path check off, so that the name checks alone must refuse.
fn traversal_servers(site: &Site) -> [RunningServer; 2] {
    [
        serve(StaticFiles::new(&site.root)),
        serve(StaticFiles::new(&site.root).follow_external_symlinks(true)),
    ]
}

#[test]
fn dot_dot_is_404() {
    let site = Site::new("dotdot");
    for server in traversal_servers(&site) {
        assert_refused(server.local_addr(), "/assets/../secret.txt");
        assert_refused(server.local_addr(), "/assets/sub/../../secret.txt");
        assert_refused(server.local_addr(), "/assets/sub/../index.html");
    }
}

#[test]
fn percent_encoded_dot_dot_is_404() {
    let site = Site::new("enc-dotdot");
    for server in traversal_servers(&site) {
        assert_refused(server.local_addr(), "/assets/%2e%2e/secret.txt");
        assert_refused(server.local_addr(), "/assets/.%2e/secret.txt");
        assert_refused(server.local_addr(), "/assets/sub/%2e%2e/%2e%2e/secret.txt");
    }
}

#[test]
fn percent_encoded_dot_dot_slash_is_404() {
    let site = Site::new("enc-dotdot-slash");
    for server in traversal_servers(&site) {
        assert_refused(server.local_addr(), "/assets/%2E%2E%2fsecret.txt");
        assert_refused(server.local_addr(), "/assets/%2E%2E%2Fsecret.txt");
        assert_refused(
            server.local_addr(),
            "/assets/sub%2f%2e%2e%2f%2e%2e%2fsecret.txt",
        );
    }
}

#[test]
fn dot_dot_backslash_is_404() {
    let site = Site::new("backslash");
    // On Unix `\` is an ordinary character: make such names exist, so that only the
    // refusal can 404 (on Windows they are the traversal itself).
    if cfg!(unix) {
        site.write("..\\secret.txt", SECRET);
        site.write("sub\\index.html", "backslashed");
    }
    for server in traversal_servers(&site) {
        assert_refused(server.local_addr(), "/assets/..%5csecret.txt");
        assert_refused(server.local_addr(), "/assets/sub%5c..%5c..%5csecret.txt");
        assert_refused(server.local_addr(), "/assets/sub%5cindex.html");
    }
}

#[test]
fn nul_bytes_are_404() {
    // No file system allows NUL in a name, so the OS would refuse too (an error, which
    // must not become a 500); the names are refused before that.
    let site = Site::new("nul");
    for server in traversal_servers(&site) {
        assert_refused(server.local_addr(), "/assets/index.html%00");
        assert_refused(server.local_addr(), "/assets/index.html%00.png");
        assert_refused(server.local_addr(), "/assets/%00");
    }
}

#[test]
fn drive_prefixes_are_404() {
    let site = Site::new("drive");
    // On Unix `c:` is an ordinary name: make it exist, so that only the refusal can 404.
    if cfg!(unix) {
        site.write("c:/x.txt", "drive");
    }
    for server in traversal_servers(&site) {
        assert_refused(server.local_addr(), "/assets/c:/x.txt");
        assert_refused(server.local_addr(), "/assets/c%3a/x.txt");
        assert_refused(server.local_addr(), "/assets/c:%5cWindows%5cwin.ini");
        assert_refused(server.local_addr(), "/assets/sub/c:x.txt");
    }
}

#[test]
fn absolute_paths_through_a_double_slash_are_404() {
    let site = Site::new("absolute");
    for server in traversal_servers(&site) {
        let secret = site.secret();
        let secret = secret.to_str().expect("a UTF-8 temporary directory");
        assert_refused(server.local_addr(), &format!("/assets/{secret}"));
        assert_refused(server.local_addr(), "/assets//etc/passwd");
        assert_refused(server.local_addr(), "/assets/%2fetc/passwd");
        assert_refused(server.local_addr(), "/assets/sub//index.html");
    }
}

#[test]
fn symlinks_leaving_the_root_are_404_unless_followed() {
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        let site = Site::new("symlink");
        symlink(site.secret(), site.root.join("leak.txt")).unwrap();
        symlink(&site.dir, site.root.join("up")).unwrap();
        symlink(site.root.join("style.css"), site.root.join("inside.css")).unwrap();
        let server = serve(StaticFiles::new(&site.root));
        let addr = server.local_addr();
        assert_refused(addr, "/assets/leak.txt");
        assert_refused(addr, "/assets/up/secret.txt");
        assert_eq!(get(addr, "/assets/inside.css").text(), STYLE_CSS, "inside");

        let server = serve(StaticFiles::new(&site.root).follow_external_symlinks(true));
        assert_eq!(get(server.local_addr(), "/assets/leak.txt").text(), SECRET);
        assert_eq!(
            get(server.local_addr(), "/assets/up/secret.txt").text(),
            SECRET
        );

        // A root that is itself a symlink is fine: the check uses its canonical path.
        let alias = site.dir.join("alias");
        symlink(&site.root, &alias).unwrap();
        let server = serve(StaticFiles::new(&alias));
        assert_eq!(
            get(server.local_addr(), "/assets/style.css").text(),
            STYLE_CSS
        );
        assert_refused(server.local_addr(), "/assets/leak.txt");
    }
    #[cfg(not(unix))]
    eprintln!("skipped: creating symlinks needs Unix (Windows requires a privilege)");
}

#[test]
fn dot_files_are_404_unless_shown() {
    let site = Site::new("dotfiles");
    site.write(".env", "PASSWORD=hunter2");
    site.write(".git/config", "[core]");
    site.write(".well-known/security.txt", "Contact: x");
    let server = serve(StaticFiles::new(&site.root));
    let addr = server.local_addr();
    assert_refused(addr, "/assets/.env");
    assert_refused(addr, "/assets/%2eenv");
    assert_refused(addr, "/assets/.git/config");
    assert_refused(addr, "/assets/.well-known/security.txt");

    let server = serve(StaticFiles::new(&site.root).show_dot_files(true));
    let addr = server.local_addr();
    assert_eq!(get(addr, "/assets/.env").text(), "PASSWORD=hunter2");
    assert_eq!(
        get(addr, "/assets/.well-known/security.txt").text(),
        "Contact: x"
    );
    assert_refused(addr, "/assets/../secret.txt");
}

// ---------------------------------------------------------------------------------------
// Precompressed siblings
// ---------------------------------------------------------------------------------------

#[test]
fn a_precompressed_gzip_sibling_is_chosen_when_accepted() {
    let site = Site::new("gzip");
    site.write("app.js", "console.log('plain')");
    site.write("app.js.gz", "GZIP BYTES");
    site.write("app.js.br", "BROTLI BYTES");
    let server = serve(StaticFiles::new(&site.root).precompressed_gzip(true));
    let addr = server.local_addr();

    let gz = fetch(
        addr,
        "GET",
        "/assets/app.js",
        &[("Accept-Encoding", "gzip, br")],
    );
    assert_eq!(gz.status, 200);
    assert_eq!(gz.text(), "GZIP BYTES");
    assert_eq!(header(&gz, "content-encoding"), "gzip");
    assert_eq!(
        header(&gz, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(header(&gz, "vary"), "accept-encoding");
    assert_eq!(header(&gz, "content-length"), "10");
    assert!(
        gz.header("accept-ranges").is_none(),
        "ranges are served uncompressed"
    );

    let plain = fetch(addr, "GET", "/assets/app.js", &[("Accept-Encoding", "br")]);
    assert_eq!(plain.text(), "console.log('plain')");
    assert!(plain.header("content-encoding").is_none());
    assert_eq!(header(&plain, "vary"), "accept-encoding");
    assert_ne!(plain.header("etag"), gz.header("etag"));

    let refused = fetch(
        addr,
        "GET",
        "/assets/app.js",
        &[("Accept-Encoding", "gzip;q=0")],
    );
    assert_eq!(refused.text(), "console.log('plain')");

    // A 304 for the gzip variant names it, and Vary comes along.
    let etag = header(&gz, "etag");
    let cached = fetch(
        addr,
        "GET",
        "/assets/app.js",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", etag)],
    );
    assert_eq!(cached.status, 304);
    assert_eq!(header(&cached, "vary"), "accept-encoding");

    // A Range always gets the uncompressed file.
    let range = fetch(
        addr,
        "GET",
        "/assets/app.js",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-6")],
    );
    assert_eq!(range.status, 206);
    assert_eq!(range.text(), "console");
    assert!(range.header("content-encoding").is_none());

    // A file with no sibling is served as it is.
    let css = fetch(
        addr,
        "GET",
        "/assets/style.css",
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(css.text(), STYLE_CSS);
    assert!(css.header("content-encoding").is_none());
}

#[test]
fn brotli_is_preferred_over_gzip_when_both_are_enabled_and_accepted() {
    let site = Site::new("brotli");
    site.write("app.js", "console.log('plain')");
    site.write("app.js.gz", "GZIP BYTES");
    site.write("app.js.br", "BROTLI BYTES");
    let files = StaticFiles::new(&site.root)
        .precompressed_gzip(true)
        .precompressed_br(true);
    let server = serve(files);
    let addr = server.local_addr();
    let reply = fetch(
        addr,
        "GET",
        "/assets/app.js",
        &[("Accept-Encoding", "gzip, br")],
    );
    assert_eq!(
        (reply.text().as_str(), header(&reply, "content-encoding")),
        ("BROTLI BYTES", "br")
    );
    let reply = fetch(
        addr,
        "GET",
        "/assets/app.js",
        &[("Accept-Encoding", "gzip, br;q=0.5")],
    );
    assert_eq!(header(&reply, "content-encoding"), "gzip");
    let head = fetch(addr, "HEAD", "/assets/app.js", &[("Accept-Encoding", "br")]);
    assert_eq!(header(&head, "content-encoding"), "br");
    assert_eq!(header(&head, "content-length"), "12");
}

/// `Accept-Encoding` is read as `Compression` reads it (the `negotiate` module): a sibling is
/// sent only when its coding is preferred at least as much as `identity`, and `q=0` for a
/// coding excludes it wherever it stands.
#[test]
fn a_sibling_is_sent_only_when_preferred_to_identity_and_never_when_excluded() {
    let site = Site::new("negotiation");
    site.write("app.js", "console.log('plain')");
    site.write("app.js.gz", "GZIP BYTES");
    let server = serve(StaticFiles::new(&site.root).precompressed_gzip(true));
    let addr = server.local_addr();
    let cases = [
        ("gzip;q=0.5", "GZIP BYTES"),
        ("gzip, identity", "GZIP BYTES"),
        ("gzip;q=0.5, identity", "console.log('plain')"),
        ("gzip, gzip;q=0", "console.log('plain')"),
        ("gzip;q=0, x-gzip", "console.log('plain')"),
        ("*;q=0.5, identity;q=0.4", "GZIP BYTES"),
        ("identity;q=0", "console.log('plain')"),
    ];
    for (accept, body) in cases {
        let reply = fetch(
            addr,
            "GET",
            "/assets/app.js",
            &[("Accept-Encoding", accept)],
        );
        assert_eq!(reply.status, 200, "{accept}");
        assert_eq!(reply.text(), body, "{accept}");
        assert_eq!(header(&reply, "vary"), "accept-encoding", "{accept}");
    }
}

// ---------------------------------------------------------------------------------------
// A slow download holds no worker
// ---------------------------------------------------------------------------------------

/// The file the slow client downloads: sparse, so it costs no disk.
const LARGE_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// The slow client takes this much...
const SLOW_READ_BYTES: usize = 4 * 1024;
/// ... this often (200 KiB/s: the whole file would take five minutes).
const SLOW_READ_INTERVAL: Duration = Duration::from_millis(20);

/// One worker; a client downloads a 64 MiB file a little at a time, so every write makes
/// progress and no timeout fires. Were the worker copying the file until the client took
/// it all, nobody else would be answered for minutes: every request below would time out
/// (5 s) instead.
#[test]
fn a_slow_download_of_a_large_file_holds_no_worker() {
    let site = Site::new("slow");
    let big = fs::File::create(site.root.join("big.bin")).unwrap();
    big.set_len(LARGE_FILE_BYTES).unwrap();
    drop(big);
    let app = Router::new()
        .get("/ping", |_: &Request| "pong")
        .nest("/assets", StaticFiles::new(&site.root));
    let server = spawn(
        Server::builder()
            .threads(1)
            .drain_timeout(Duration::from_secs(1))
            .app(app),
    );
    let addr = server.local_addr();

    let mut slow = support::connect(addr);
    let slow_socket = slow.try_clone().unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let (head_sender, head) = mpsc::channel();
    let (stop, stopped) = mpsc::channel::<()>();
    let reader = {
        let received = Arc::clone(&received);
        thread::spawn(move || {
            slow.write_all(b"GET /assets/big.bin HTTP/1.1\r\nHost: slow\r\n\r\n")
                .unwrap();
            let mut start = Vec::new();
            let mut reported = false;
            let mut piece = [0u8; SLOW_READ_BYTES];
            loop {
                match slow.read(&mut piece) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        received.fetch_add(n as u64, Ordering::Relaxed);
                        if !reported {
                            start.extend_from_slice(&piece[..n]);
                            if let Some(end) = find(&start, b"\r\n\r\n") {
                                reported = true;
                                let head = String::from_utf8_lossy(&start[..end]).into_owned();
                                let _ = head_sender.send(head);
                            }
                        }
                    }
                }
                // The pacing of the slow client, which also waits for the stop.
                match stopped.recv_timeout(SLOW_READ_INTERVAL) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
            }
        })
    };
    let head = head
        .recv_timeout(support::IO_TIMEOUT)
        .expect("the slow client had its response head within 5 s");
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {LARGE_FILE_BYTES}")),
        "{head}"
    );

    // Each of these would time out (5 s, then panic) if the only worker were held.
    assert_eq!(get(addr, "/ping").text(), "pong");
    assert_eq!(get(addr, "/assets/style.css").text(), STYLE_CSS);
    let range = fetch(addr, "GET", "/assets/big.bin", &[("Range", "bytes=-16")]);
    assert_eq!((range.status, range.body.len()), (206, 16));
    let taken = received.load(Ordering::Relaxed);
    assert!(
        taken < LARGE_FILE_BYTES,
        "the slow client had the whole file ({taken} bytes): not slow enough to prove anything"
    );

    drop(stop);
    let _ = slow_socket.shutdown(Shutdown::Both);
    reader.join().expect("the slow client's thread");
    server.shutdown().expect("shutdown");
}

/// A file cut short while it is sent (here truncated to nothing once the response is under
/// way: over a plain socket the bytes go with `sendfile`, which then finds no more) ends the
/// response with a close: the client sees fewer bytes than `Content-Length` said, never a
/// hang or bytes that are not the file's; the server goes on serving.
#[test]
fn a_file_cut_short_while_sent_ends_the_connection() {
    let site = Site::new("cut-short");
    let path = site.root.join("shrinking.bin");
    fs::write(&path, vec![b'z'; LARGE_FILE_BYTES as usize]).unwrap();
    let server = serve(StaticFiles::new(&site.root));
    let addr = server.local_addr();
    let mut client = BufReader::new(support::connect(addr));
    client
        .get_mut()
        .write_all(b"GET /assets/shrinking.bin HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut line = String::new();
    let mut content_length = None;
    loop {
        line.clear();
        client.read_line(&mut line).expect("a head line");
        if line == "\r\n" {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length: ") {
            content_length = Some(value.trim().parse::<u64>().unwrap());
        }
    }
    assert_eq!(content_length, Some(LARGE_FILE_BYTES));
    // The head is here, so the body is on its way: 64 MiB cannot all fit in the sockets'
    // buffers before the client reads, so the server still owes most of it now.
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    let mut body = Vec::new();
    client
        .read_to_end(&mut body)
        .expect("the connection ends (a read timeout fails this test)");
    assert!(
        (body.len() as u64) < LARGE_FILE_BYTES,
        "the whole file arrived: it was sent before the cut, the test proves nothing"
    );
    assert!(
        body.iter().all(|&b| b == b'z'),
        "bytes that are not the file's"
    );
    assert_eq!(get(addr, "/assets/style.css").text(), STYLE_CSS);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Only a `StaticFiles` router answers `{prefix}/` with its `/` route: other nested routers
/// keep matching `{prefix}` alone.
#[test]
fn only_static_files_answer_the_nest_prefix_with_a_slash() {
    let site = Site::new("prefix-slash");
    let app = Router::new()
        .nest("/api", Router::new().get("/", |_: &Request| "api root"))
        .nest("/assets", StaticFiles::new(&site.root));
    let status = |path: &str| app.handle(http_get(path)).status().as_u16();
    assert_eq!(status("/api"), 200);
    assert_eq!(status("/api/"), 404);
    assert_eq!(status("/assets"), 308);
    assert_eq!(status("/assets/"), 200);
    // Nested one level deeper, the slash form moves with the prefix.
    let deeper = Router::new().nest(
        "/v1",
        Router::new().nest("/assets", StaticFiles::new(&site.root)),
    );
    let res = deeper.handle(http_get("/v1/assets/"));
    assert_eq!(res.into_body_bytes().unwrap(), INDEX_HTML.as_bytes());
    let res = deeper.handle(http_get("/v1/assets"));
    assert_eq!(res.headers()["location"], "/v1/assets/");
    // Merged into another router first, it keeps the slash form.
    let merged = Router::new().nest("/files", Router::new().merge(StaticFiles::new(&site.root)));
    let res = merged.handle(http_get("/files/"));
    assert_eq!(res.into_body_bytes().unwrap(), INDEX_HTML.as_bytes());
}

fn http_get(path: &str) -> switchyard::http::Request<()> {
    switchyard::http::Request::get(path).body(()).unwrap()
}

/// Issue 28 (4): one file, with ranges and conditional requests, outside any directory
/// router.
#[test]
fn a_single_file_gets_ranges_validators_and_a_chosen_type_and_name() {
    use switchyard::{Request, Router, StaticFile};

    let dir = std::env::temp_dir().join(format!("switchyard-one-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let upload = dir.join("upload-7f3a");
    std::fs::write(&upload, "0123456789").unwrap();
    let stored = upload.clone();
    let app = Router::new()
        .get("/uploads/{id}", move |req: &Request| {
            StaticFile::new(&stored)
                .content_type("application/pdf")
                .unwrap()
                .attachment("quarterly \"report\".pdf")
                .respond(req)
        })
        .get("/raw", StaticFile::new(dir.join("notes.txt")))
        .get("/missing", StaticFile::new(dir.join("nope")));
    std::fs::write(dir.join("notes.txt"), "plain").unwrap();
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut request = http::Request::get(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        app.handle(request.body(()).unwrap())
    };
    let whole = get("/uploads/1", &[]);
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-type"], "application/pdf");
    assert_eq!(
        whole.headers()["content-disposition"],
        r#"attachment; filename="quarterly _report_.pdf""#
    );
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    let etag = whole.headers()["etag"].to_str().unwrap().to_owned();
    let part = get("/uploads/1", &[("range", "bytes=-3")]);
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 7-9/10");
    assert_eq!(part.into_body_bytes().unwrap(), b"789");
    assert_eq!(get("/uploads/1", &[("if-none-match", &etag)]).status(), 304);
    assert_eq!(get("/uploads/1", &[("range", "bytes=20-")]).status(), 416);
    let stale_if_range = get(
        "/uploads/1",
        &[("range", "bytes=0-0"), ("if-range", "\"old\"")],
    );
    assert_eq!(stale_if_range.status(), 200);
    let raw = get("/raw", &[]);
    assert_eq!(raw.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(raw.into_body_bytes().unwrap(), b"plain");
    assert_eq!(get("/missing", &[]).status(), 404);
    std::fs::remove_dir_all(&dir).unwrap();
}

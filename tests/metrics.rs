//! Metrics: a scripted sequence of requests, rejections and timeouts moves the counters
//! exactly, and `GET /metrics` is valid Prometheus text (checked by a strict parser).

mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::time::Duration;

use http::StatusCode;
use switchyard::{Limits, Metrics, Request, Server};

use support::{IO_TIMEOUT, connect, read_to_close, spawn};

type Labels = Vec<(String, String)>;
type Samples = BTreeMap<(String, Labels), f64>;

/// A strict parser of the Prometheus text format 0.0.4: every sample belongs to a family
/// declared once with `# HELP` and `# TYPE` (in that order, before its samples, its samples
/// together), names and label names are valid, label values are escaped, counters end in
/// `_total`, histogram buckets are cumulative and end with `+Inf` equal to `_count`.
fn parse(page: &str) -> Samples {
    let mut samples = Samples::new();
    let mut types: HashMap<String, String> = HashMap::new();
    let mut current: Option<String> = None;
    let mut closed: Vec<String> = Vec::new();
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    assert!(page.ends_with('\n'), "the page ends with a newline");
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').expect("HELP has text");
            assert!(valid_name(name), "family name {name}");
            assert!(!types.contains_key(name), "family {name} declared twice");
            if let Some(previous) = current.replace(name.to_owned()) {
                closed.push(previous);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has a type");
            assert_eq!(current.as_deref(), Some(name), "TYPE right after HELP");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{kind}");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter {name} ends in _total");
            }
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment {line}");
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value {v:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, parse_labels(labels.strip_suffix('}').expect("}"))),
            None => (series, Vec::new()),
        };
        let family = current
            .as_deref()
            .expect("a sample after its family's HELP");
        let kind = &types[family];
        let ok = match kind.as_str() {
            "histogram" => [
                format!("{family}_bucket"),
                format!("{family}_sum"),
                format!("{family}_count"),
            ]
            .contains(&name.to_owned()),
            _ => name == family,
        };
        assert!(ok, "sample {name} in family {family} ({kind})");
        assert!(!closed.contains(&family.to_owned()));
        let key = (name.to_owned(), labels);
        assert!(
            samples.insert(key, value).is_none(),
            "duplicate sample {line}"
        );
    }
    check_histograms(&samples, &types);
    samples
}

fn parse_labels(text: &str) -> Labels {
    let mut labels = Vec::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{name}"
        );
        assert_eq!(chars.next(), Some('"'), "label value opens with a quote");
        let mut value = String::new();
        loop {
            match chars.next().expect("label value closes") {
                '\\' => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => panic!("bad escape {other:?}"),
                },
                '"' => break,
                '\n' => panic!("raw newline in a label value"),
                c => value.push(c),
            }
        }
        labels.push((name, value));
        match chars.next() {
            Some(',') | None => {}
            other => panic!("after a label: {other:?}"),
        }
    }
    labels
}

fn check_histograms(samples: &Samples, types: &HashMap<String, String>) {
    for (family, _) in types.iter().filter(|(_, k)| *k == "histogram") {
        let bucket = format!("{family}_bucket");
        let mut series: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
        for ((name, labels), value) in samples {
            if *name != bucket {
                continue;
            }
            let (le, rest): (Vec<_>, Vec<_>) = labels.iter().cloned().partition(|(n, _)| n == "le");
            let le = match le[0].1.as_str() {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap(),
            };
            series.entry(rest).or_default().push((le, *value));
        }
        for (labels, mut buckets) in series {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(
                buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                "cumulative {labels:?}"
            );
            let (last_le, last) = *buckets.last().unwrap();
            assert_eq!(last_le, f64::INFINITY, "ends with +Inf");
            let count = samples[&(format!("{family}_count"), labels.clone())];
            assert_eq!(last, count, "+Inf equals _count");
            assert!(samples.contains_key(&(format!("{family}_sum"), labels)));
        }
    }
}

fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let key = (
        name.to_owned(),
        labels
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
    );
    *samples
        .get(&key)
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
}

/// Sends `bytes` on a fresh connection and reads until the server closes it.
fn exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut stream = connect(addr);
    stream.write_all(bytes).unwrap();
    read_to_close(&mut stream)
}

#[test]
fn a_scripted_sequence_moves_every_counter_exactly() {
    let server = spawn(
        Server::builder()
            .threads(2)
            .limits(
                Limits::default()
                    .max_body_bytes(16)
                    .header_read_timeout(Duration::from_millis(300))
                    .keep_alive_timeout(Duration::from_millis(300)),
            )
            .route(http::Method::GET, "/users/{id}", |req: &Request| {
                format!("user {}", req.param("id").unwrap())
            })
            .route(http::Method::GET, "/panic", |_: &Request| -> &'static str {
                panic!("a handler panics on purpose")
            })
            .route(http::Method::POST, "/echo", |req: &Request| {
                req.body().to_vec()
            })
            .plugin(Metrics::new().families(|page| {
                page.gauge(
                    "app_label_escapes",
                    "Escaping.",
                    &[("v", "a\"b\\c\nd")],
                    1.0,
                );
            })),
    );
    let addr = server.local_addr();
    let close = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    for id in 1..=3 {
        let reply = exchange(addr, close(&format!("/users/{id}")).as_bytes());
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    }
    assert!(exchange(addr, close("/nope").as_bytes()).starts_with("HTTP/1.1 404"));
    assert!(exchange(addr, close("/panic").as_bytes()).starts_with("HTTP/1.1 500"));
    // Refused before routing: no Host (400), a body over max_body_bytes (413).
    assert!(exchange(addr, b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 400"));
    let big = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\r\n";
    assert!(exchange(addr, big).starts_with("HTTP/1.1 413"));
    // A head that never ends: 408 at the header-read deadline.
    assert!(exchange(addr, b"GET /users/1 HTTP/1.1\r\nHo").starts_with("HTTP/1.1 408"));
    // A connection that sends nothing: closed at the keep-alive deadline, silently.
    let mut idle = connect(addr);
    let mut byte = [0u8; 1];
    assert_eq!(idle.read(&mut byte).unwrap(), 0, "closed without an answer");

    let m = server.metrics();
    assert!(m.enabled);
    assert_eq!(m.connections_accepted, 9);
    assert_eq!(m.responses.success, 3);
    assert_eq!(m.responses.client_error, 1); // the 404; rejections are counted apart
    assert_eq!(m.responses.server_error, 1);
    assert_eq!(m.handler_panics, 1);
    assert_eq!(m.rejected_with(StatusCode::BAD_REQUEST), 1);
    assert_eq!(m.rejected_with(StatusCode::PAYLOAD_TOO_LARGE), 1);
    assert_eq!(m.rejected_with(StatusCode::REQUEST_TIMEOUT), 1);
    assert_eq!(
        (m.timeouts.head, m.timeouts.idle, m.timeouts.body),
        (1, 1, 0)
    );
    assert_eq!(m.pools[0].name, "main");
    assert_eq!(m.pools[0].size, 2);
    assert_eq!(m.pools[0].completed, 5);
    let users = m.route("GET", "/users/{id}").expect("a series per route");
    assert_eq!(users.count, 3);
    assert!(users.sum > Duration::ZERO);
    assert_eq!(m.route("GET", "/panic").unwrap().count, 1);
    assert_eq!(m.route("POST", "/echo").unwrap().count, 0);
    assert!(m.route("GET", "/nope").is_none());

    let mut client = support::Client::new(addr);
    let reply = client.get("/metrics");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let samples = parse(&reply.text());
    let v = |name: &str, labels: &[(&str, &str)]| value(&samples, name, labels);
    assert_eq!(v("switchyard_connections_accepted_total", &[]), 10.0);
    assert_eq!(v("switchyard_responses_total", &[("class", "2xx")]), 3.0);
    assert_eq!(v("switchyard_responses_total", &[("class", "5xx")]), 1.0);
    assert_eq!(v("switchyard_rejected_total", &[("status", "413")]), 1.0);
    assert_eq!(v("switchyard_timeouts_total", &[("kind", "head")]), 1.0);
    assert_eq!(v("switchyard_handler_panics_total", &[]), 1.0);
    assert_eq!(v("switchyard_pool_threads", &[("pool", "main")]), 2.0);
    // The scraping connection itself is on a worker.
    assert!(v("switchyard_connections", &[("state", "busy")]) >= 1.0);
    let users = [("route", "/users/{id}"), ("method", "GET")];
    assert_eq!(v("switchyard_request_duration_seconds_count", &users), 3.0);
    let inf = [("route", "/users/{id}"), ("method", "GET"), ("le", "+Inf")];
    assert_eq!(v("switchyard_request_duration_seconds_bucket", &inf), 3.0);
    assert_eq!(v("app_label_escapes", &[("v", "a\"b\\c\nd")]), 1.0);
    drop(client);
    let _ = IO_TIMEOUT;
}

#[test]
fn metrics_can_be_turned_off() {
    let server = spawn(Server::builder().metrics(false).route(
        http::Method::GET,
        "/",
        |_: &Request| "hi",
    ));
    let reply = support::get(server.local_addr(), "/");
    assert_eq!(reply.status, 200);
    let m = server.metrics();
    assert!(!m.enabled);
    assert_eq!(m.responses.success, 0);
    assert_eq!(m.connections_accepted, 1);
    assert_eq!(m.route("GET", "/").unwrap().count, 0);
}

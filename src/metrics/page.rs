//! [`MetricsPage`]: the Prometheus text exposition format, version 0.0.4, written by hand
//! (the format is small; the crates that write it pull in protobuf or an async runtime).

use std::fmt::Write;

use super::{LATENCY_BUCKETS, MetricsSnapshot, QUEUE_WAIT_BUCKETS};

/// A page in the Prometheus text format 0.0.4 (`Content-Type: text/plain; version=0.0.4`),
/// being written: the [`Metrics`](crate::Metrics) plugin writes the server's families, then
/// the application's own with [`counter`](Self::counter) and [`gauge`](Self::gauge).
///
/// Samples of one family must be written one after another: a call with the name of the
/// family just written adds a sample to it, any other name starts a new family with its
/// `# HELP` and `# TYPE` lines. Label values are escaped; names are the caller's to get
/// right (`[a-zA-Z_:][a-zA-Z0-9_:]*`; counters end in `_total`).
///
/// # Examples
///
/// ```
/// use switchyard::metrics::MetricsPage;
///
/// let mut page = MetricsPage::default();
/// page.counter("jobs_done_total", "Jobs finished.", &[("queue", "mail")], 3);
/// page.counter("jobs_done_total", "Jobs finished.", &[("queue", "sms \"fast\"")], 1);
/// page.gauge("jobs_waiting", "Jobs waiting.", &[], 2.5);
/// let lines: Vec<&str> = page.as_str().lines().collect();
/// assert_eq!(lines, [
///     "# HELP jobs_done_total Jobs finished.",
///     "# TYPE jobs_done_total counter",
///     r#"jobs_done_total{queue="mail"} 3"#,
///     r#"jobs_done_total{queue="sms \"fast\""} 1"#,
///     "# HELP jobs_waiting Jobs waiting.",
///     "# TYPE jobs_waiting gauge",
///     "jobs_waiting 2.5",
/// ]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct MetricsPage {
    text: String,
    family: String,
}

/// The media type of the page.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl MetricsPage {
    /// Adds a sample of counter family `name`.
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: u64) {
        self.family(name, "counter", help);
        self.sample(name, labels, None, &value.to_string());
    }

    /// Adds a sample of gauge family `name`.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.family(name, "gauge", help);
        self.sample(name, labels, None, &format_float(value));
    }

    /// The page so far.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The page.
    pub fn into_string(self) -> String {
        self.text
    }

    /// Adds a histogram sample set: cumulative `buckets` (upper bound, count), `count` for
    /// `+Inf`, and the `sum` of the observations.
    fn histogram(
        &mut self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        buckets: &[(f64, u64)],
        count: u64,
        sum: f64,
    ) {
        self.family(name, "histogram", help);
        let bucket_name = format!("{name}_bucket");
        for (bound, cumulative) in buckets {
            let le = format_float(*bound);
            self.sample(&bucket_name, labels, Some(&le), &cumulative.to_string());
        }
        self.sample(&bucket_name, labels, Some("+Inf"), &count.to_string());
        self.sample(&format!("{name}_sum"), labels, None, &format_float(sum));
        self.sample(&format!("{name}_count"), labels, None, &count.to_string());
    }

    fn family(&mut self, name: &str, kind: &str, help: &str) {
        if self.family == name {
            return;
        }
        self.family.clear();
        self.family.push_str(name);
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], le: Option<&str>, value: &str) {
        self.text.push_str(name);
        let mut pairs = labels
            .iter()
            .copied()
            .chain(le.map(|le| ("le", le)))
            .peekable();
        if pairs.peek().is_some() {
            self.text.push('{');
            for (i, (label, value)) in pairs.enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// Writes the server's families.
    pub(crate) fn server(&mut self, s: &MetricsSnapshot) {
        let f = |n: usize| n as f64;
        self.counter(
            "switchyard_connections_accepted_total",
            "Connections accepted.",
            &[],
            s.connections_accepted,
        );
        let open = "Open connections, by what they wait for (busy: on a worker or queued).";
        let parked =
            s.connections_idle + s.connections_reading + s.connections_writing + s.connections_live;
        for (state, n) in [
            ("idle", s.connections_idle),
            ("reading", s.connections_reading),
            ("writing", s.connections_writing),
            ("live", s.connections_live),
            ("busy", s.connections_open.saturating_sub(parked)),
        ] {
            self.gauge("switchyard_connections", open, &[("state", state)], f(n));
        }
        let refused = "Connections or requests answered 503 for lack of capacity.";
        for (reason, n) in [
            ("max_connections", s.refused_max_connections),
            ("queue_full", s.refused_queue_full),
        ] {
            self.counter(
                "switchyard_refused_total",
                refused,
                &[("reason", reason)],
                n,
            );
        }
        let responses = "Responses from the router, by status class.";
        let r = s.responses;
        for (class, n) in [
            ("1xx", r.informational),
            ("2xx", r.success),
            ("3xx", r.redirection),
            ("4xx", r.client_error),
            ("5xx", r.server_error),
        ] {
            self.counter(
                "switchyard_responses_total",
                responses,
                &[("class", class)],
                n,
            );
        }
        let rejected =
            "Requests the server refused instead of serving them, by the status answered.";
        for (status, n) in &s.rejected {
            let status = status.as_str();
            self.counter(
                "switchyard_rejected_total",
                rejected,
                &[("status", status)],
                *n,
            );
        }
        let timeouts = "Connections cut by a timeout, by kind.";
        let t = s.timeouts;
        for (kind, n) in [
            ("head", t.head),
            ("body", t.body),
            ("idle", t.idle),
            ("write", t.write),
        ] {
            self.counter("switchyard_timeouts_total", timeouts, &[("kind", kind)], n);
        }
        let h2 = s.http2;
        for (name, help, value) in [
            (
                "switchyard_http2_connections_total",
                "Connections that spoke HTTP/2.",
                h2.connections,
            ),
            (
                "switchyard_http2_streams_total",
                "HTTP/2 streams (requests) opened by clients.",
                h2.streams,
            ),
            (
                "switchyard_http2_resets_received_total",
                "HTTP/2 streams reset by clients before their response was complete.",
                h2.resets_received,
            ),
            (
                "switchyard_http2_goaways_sent_total",
                "HTTP/2 GOAWAY frames sent (shutdown, idle, connection errors).",
                h2.goaways_sent,
            ),
        ] {
            self.counter(name, help, &[], value);
        }
        self.counter(
            "switchyard_handler_panics_total",
            "Handler and middleware panics caught (each answered 500).",
            &[],
            s.handler_panics,
        );
        for (name, help, value) in [
            ("switchyard_pool_threads", "Worker threads per pool.", 0),
            ("switchyard_pool_busy", "Busy workers per pool.", 1),
            (
                "switchyard_pool_queued",
                "Work waiting for a worker, per pool.",
                2,
            ),
        ] {
            for pool in &s.pools {
                let n = [pool.size, pool.busy, pool.queued][value];
                self.gauge(name, help, &[("pool", &pool.name)], f(n));
            }
        }
        for pool in &s.pools {
            self.counter(
                "switchyard_pool_requests_total",
                "Requests served per pool.",
                &[("pool", &pool.name)],
                pool.completed,
            );
        }
        for pool in &s.pools {
            let wait = &pool.queue_wait;
            let buckets: Vec<(f64, u64)> = QUEUE_WAIT_BUCKETS
                .iter()
                .copied()
                .zip(wait.buckets.iter().copied())
                .collect();
            self.histogram(
                "switchyard_pool_queue_wait_seconds",
                "Time requests waited in a pool's queue for a worker.",
                &[("pool", &pool.name)],
                &buckets,
                wait.count,
                wait.sum.as_secs_f64(),
            );
        }
        let g = s.gave_up;
        let cancelled = "Requests whose handler was told to stop (Request::cancelled), by reason.";
        for (reason, n) in [
            ("deadline", g.handler_timeouts),
            ("client_gone", g.client_gone_in_flight),
        ] {
            self.counter(
                "switchyard_requests_cancelled_total",
                cancelled,
                &[("reason", reason)],
                n,
            );
        }
        let dropped = "Requests never run, by reason (queue_wait: answered 503).";
        for (reason, n) in [
            ("client_gone", g.client_gone_before_start),
            ("queue_wait", g.shed_for_queue_wait),
        ] {
            self.counter(
                "switchyard_requests_dropped_total",
                dropped,
                &[("reason", reason)],
                n,
            );
        }
        self.counter(
            "switchyard_late_responses_dropped_total",
            "Responses handlers returned after their deadline (the client had its 503).",
            &[],
            g.late_responses_dropped,
        );
        for route in &s.routes {
            self.histogram(
                "switchyard_request_duration_seconds",
                "Time to a response head, per route template and method.",
                &[("route", &route.route), ("method", &route.method)],
                &route.buckets,
                route.count,
                route.sum.as_secs_f64(),
            );
        }
        debug_assert!(
            s.routes
                .iter()
                .all(|r| r.buckets.len() == LATENCY_BUCKETS.len())
        );
    }
}

/// A float as Prometheus reads it (Go's `strconv.ParseFloat`): integers without a fraction.
fn format_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{value}")
    }
}

fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("line\nbreak"), r"line\nbreak");
        assert_eq!(escape_help("back\\slash\nnew"), r"back\\slash\nnew");
    }

    #[test]
    fn a_histogram_has_cumulative_buckets_inf_sum_and_count() {
        let mut page = MetricsPage::default();
        let buckets = [(0.005, 1), (0.01, 3)];
        page.histogram("d", "Durations.", &[("route", "/x")], &buckets, 4, 0.5);
        assert_eq!(
            page.as_str(),
            "# HELP d Durations.\n# TYPE d histogram\n\
             d_bucket{route=\"/x\",le=\"0.005\"} 1\n\
             d_bucket{route=\"/x\",le=\"0.01\"} 3\n\
             d_bucket{route=\"/x\",le=\"+Inf\"} 4\n\
             d_sum{route=\"/x\"} 0.5\n\
             d_count{route=\"/x\"} 4\n"
        );
    }

    #[test]
    fn floats_read_as_prometheus_expects() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.25), "0.25");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
    }
}

//! [`RateLimit`]: requests per client (or per any key) over time, answered 429 past it.
//!
//! The generic cell rate algorithm (GCRA, as the `governor` crate and nginx's
//! `limit_req` use): each key keeps one instant, its "theoretical arrival time" (TAT). A
//! request at `now` is allowed when `TAT - now <= burst tolerance`, and then moves the TAT
//! one emission interval later; a key whose TAT has passed is as good as absent, so stale
//! keys are swept away and memory follows the keys active within one burst window.
//!
//! Hand-written rather than `governor`: the algorithm is the few lines of `Gcra::check`,
//! while `governor` with its keyed store (features `std`, `dashmap`) adds 24 crates to the
//! build (futures-util, futures-timer, dashmap, parking_lot...) for a sync server that uses
//! none of its async parts.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::StatusCode;
use http::header::RETRY_AFTER;

use crate::middleware::{Middleware, Next};
use crate::request::Request;
use crate::response::Response;

/// Shards of the key table: requests of different clients rarely meet on one lock.
const SHARDS: usize = 16;

/// How requests are grouped (see [`RateLimit::key_by`]).
type KeyFn = dyn Fn(&Request) -> Option<String> + Send + Sync;

/// A middleware that allows each client `rate` requests per second on average, with bursts
/// of up to `burst` at once, and answers the rest `429 Too Many Requests` with a
/// `Retry-After` of the seconds until one would be allowed. Clients are told apart by their
/// IP address, or by a key of the application's ([`key_by`](Self::key_by): an API key, a
/// user id); a request without a key is not limited.
///
/// Memory: one entry (a key and an instant) per key seen within the last burst window;
/// older ones are swept as the table grows.
///
/// # Examples
///
/// ```
/// use switchyard::plugin::RateLimit;
/// use switchyard::{Request, Router};
///
/// let api = Router::new()
///     .get("/search", |_: &Request| "results")
///     // Per API key: 5 a second, bursts of 10.
///     .middleware(RateLimit::per_second(5).burst(10).key_by(|req: &Request| {
///         req.headers().get("x-api-key")?.to_str().ok().map(str::to_owned)
///     }));
/// let request = || http::Request::get("/search").header("x-api-key", "k1").body(());
/// for _ in 0..10 {
///     assert_eq!(api.handle(request()?).status(), 200);
/// }
/// let limited = api.handle(request()?);
/// assert_eq!(limited.status(), 429);
/// assert_eq!(limited.headers()["retry-after"], "1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RateLimit {
    gcra: Gcra,
    key: Option<Arc<KeyFn>>,
    table: Arc<Table>,
}

impl RateLimit {
    /// `rate` requests a second per client on average (at least 1), in bursts of up to
    /// `rate` (see [`burst`](Self::burst)).
    pub fn per_second(rate: u32) -> Self {
        Self::per(rate, Duration::from_secs(1))
    }

    /// `count` requests per `period` per client on average (`per(100, 60 s)`: 100 a
    /// minute), in bursts of up to `count`.
    pub fn per(count: u32, period: Duration) -> Self {
        let count = count.max(1);
        let interval = (period / count).max(Duration::from_nanos(1));
        Self {
            gcra: Gcra {
                interval,
                tolerance: interval * (count - 1),
            },
            key: None,
            table: Arc::default(),
        }
    }

    /// Allows bursts of up to `burst` requests at once (at least 1).
    #[must_use]
    pub fn burst(mut self, burst: u32) -> Self {
        self.gcra.tolerance = self.gcra.interval * (burst.max(1) - 1);
        self
    }

    /// Groups requests by `key` instead of by client IP address; requests it gives no key
    /// are not limited.
    #[must_use]
    pub fn key_by<F>(mut self, key: F) -> Self
    where
        F: Fn(&Request) -> Option<String> + Send + Sync + 'static,
    {
        self.key = Some(Arc::new(key));
        self
    }

    /// Requests refused so far (for a [`Metrics`](crate::Metrics) family of the
    /// application's).
    pub fn limited(&self) -> u64 {
        self.table.limited.load(Ordering::Relaxed)
    }

    fn key_of(&self, request: &Request) -> Option<Key> {
        match &self.key {
            Some(key) => key(request).map(Key::Custom),
            None => request.remote_addr().map(|addr| Key::Ip(addr.ip())),
        }
    }
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("interval", &self.gcra.interval)
            .field("tolerance", &self.gcra.tolerance)
            .field("keyed_by_the_application", &self.key.is_some())
            .finish()
    }
}

impl Middleware for RateLimit {
    fn handle(&self, request: &mut Request, next: Next<'_>) -> Response {
        let Some(key) = self.key_of(request) else {
            return next.run(request);
        };
        match self.table.check(key, &self.gcra, Instant::now()) {
            Ok(()) => next.run(request),
            Err(wait) => {
                self.table.limited.fetch_add(1, Ordering::Relaxed);
                // Whole seconds, rounded up (RFC 9110 §10.2.3), never 0.
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Response::text("Too many requests: slow down.\n")
                    .with_status(StatusCode::TOO_MANY_REQUESTS)
                    .with_header(RETRY_AFTER, seconds.max(1).to_string())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Ip(IpAddr),
    Custom(String),
}

/// The generic cell rate algorithm's parameters.
#[derive(Debug, Clone, Copy)]
struct Gcra {
    /// The time one request "costs": the period over the rate.
    interval: Duration,
    /// How far ahead of now a key's TAT may run: `(burst - 1)` intervals.
    tolerance: Duration,
}

impl Gcra {
    /// Checks a request at `now` against the key's `tat`: the new TAT if allowed, or how
    /// long until it would be.
    fn check(&self, tat: Option<Instant>, now: Instant) -> Result<Instant, Duration> {
        let tat = tat.map_or(now, |tat| tat.max(now));
        let ahead = tat - now;
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        Ok(tat + self.interval)
    }
}

#[derive(Default)]
struct Table {
    shards: [Mutex<Shard>; SHARDS],
    hasher: RandomState,
    limited: AtomicU64,
}

#[derive(Default)]
struct Shard {
    tats: HashMap<Key, Instant>,
    /// The table's size after its last sweep: it is swept again when it doubles.
    swept_at: usize,
}

impl Table {
    fn check(&self, key: Key, gcra: &Gcra, now: Instant) -> Result<(), Duration> {
        let shard = (self.hasher.hash_one(&key) % SHARDS as u64) as usize;
        let mut shard = self.shards[shard]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let tat = shard.tats.get(&key).copied();
        let next = gcra.check(tat, now)?;
        shard.tats.insert(key, next);
        if shard.tats.len() > 2 * shard.swept_at.max(64) {
            // A key whose TAT has passed allows a full burst, as an absent one does.
            shard.tats.retain(|_, tat| *tat > now);
            shard.swept_at = shard.tats.len();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_one_request_per_interval() {
        let gcra = RateLimit::per_second(10).burst(3).gcra;
        let table = Table::default();
        let key = || Key::Ip(IpAddr::from([127, 0, 0, 1]));
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(table.check(key(), &gcra, start), Ok(()));
        }
        let wait = table.check(key(), &gcra, start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100));
        // Another client has its own budget.
        assert_eq!(
            table.check(Key::Custom("other".into()), &gcra, start),
            Ok(())
        );
        let later = start + Duration::from_millis(100);
        assert_eq!(table.check(key(), &gcra, later), Ok(()));
        assert!(table.check(key(), &gcra, later).is_err());
    }

    #[test]
    fn stale_keys_are_swept_as_the_table_grows() {
        let gcra = RateLimit::per_second(1000).gcra;
        let table = Table::default();
        let start = Instant::now();
        for i in 0..10_000 {
            let key = Key::Custom(i.to_string());
            table.check(key, &gcra, start).unwrap();
        }
        let later = start + Duration::from_secs(1);
        for i in 0..10_000 {
            let key = Key::Custom(format!("new {i}"));
            table.check(key, &gcra, later).unwrap();
        }
        let kept: usize = table
            .shards
            .iter()
            .map(|shard| shard.lock().unwrap().tats.len())
            .sum();
        assert!(kept < 15_000, "{kept} keys kept of 20,000");
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_keyless_requests_pass() {
        let limit = RateLimit::per(1, Duration::from_millis(90_500))
            .key_by(|req: &Request| req.headers().get("x-key")?.to_str().ok().map(String::from));
        let app = crate::Router::new()
            .get("/", |_: &Request| "ok")
            .middleware(limit.clone());
        let keyed = || {
            http::Request::get("/")
                .header("x-key", "k")
                .body(())
                .unwrap()
        };
        assert_eq!(app.handle(keyed()).status(), StatusCode::OK);
        let limited = app.handle(keyed());
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = limited.headers()[RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((90..=91).contains(&retry), "{retry}");
        assert_eq!(limit.limited(), 1);
        for _ in 0..3 {
            let keyless = http::Request::get("/").body(()).unwrap();
            assert_eq!(app.handle(keyless).status(), StatusCode::OK);
        }
    }
}

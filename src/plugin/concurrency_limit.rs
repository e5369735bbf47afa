//! [`ConcurrencyLimit`]: at most N requests of the routes it wraps run at once.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use http::StatusCode;
use http::header::RETRY_AFTER;

use crate::middleware::{Middleware, Next};
use crate::request::Request;
use crate::response::Response;

/// A middleware that lets at most `max` requests of the routes it wraps run at once, and
/// answers the others `503 Service Unavailable` with `Retry-After: 1` at once (it never
/// queues them: waiting is what the pools' queues and
/// [`Limits::max_queue_wait`](crate::Limits::max_queue_wait) are for).
///
/// A bulkhead ([`Router::on_pool`](crate::Router::on_pool)) bounds the *workers* a group of
/// routes may take and queues the rest; this bounds the *requests in flight* of the routes
/// it wraps (of one router: nest the route in a router of its own for a per-route limit),
/// whatever pool they run on, and refuses the rest: for a resource that tolerates N users
/// (a database connection pool of N, a licence), where a queue would only add latency.
///
/// # Examples
///
/// ```
/// use switchyard::plugin::ConcurrencyLimit;
/// use switchyard::{Request, Router};
///
/// let exports = Router::new()
///     .get("/export", |_: &Request| "a large export")
///     .middleware(ConcurrencyLimit::new(2));
/// let app = Router::new().get("/", |_: &Request| "home").merge(exports);
/// let res = app.handle(http::Request::get("/export").body(())?);
/// assert_eq!(res.status(), 200);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ConcurrencyLimit {
    max: usize,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    in_flight: AtomicUsize,
    refused: AtomicU64,
}

impl ConcurrencyLimit {
    /// At most `max` requests at once (`0` refuses every request).
    pub fn new(max: usize) -> Self {
        Self {
            max,
            state: Arc::default(),
        }
    }

    /// Requests running through it now.
    pub fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::Acquire)
    }

    /// Requests refused so far (for a [`Metrics`](crate::Metrics) family of the
    /// application's).
    pub fn refused(&self) -> u64 {
        self.state.refused.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for ConcurrencyLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimit")
            .field("max", &self.max)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// Releases a place when the request is done, also when its handler panics.
struct Place<'a>(&'a AtomicUsize);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Middleware for ConcurrencyLimit {
    fn handle(&self, request: &mut Request, next: Next<'_>) -> Response {
        let in_flight = &self.state.in_flight;
        let taken = in_flight.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < self.max).then_some(n + 1)
        });
        if taken.is_err() {
            self.state.refused.fetch_add(1, Ordering::Relaxed);
            return Response::text("Too many requests of this kind at once.\n")
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
                .with_header(RETRY_AFTER, "1");
        }
        let _place = Place(in_flight);
        next.run(request)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::router::Router;

    #[test]
    fn requests_over_the_limit_are_refused_until_a_place_frees() {
        let limit = ConcurrencyLimit::new(1);
        let (entered_tx, entered) = mpsc::channel::<()>();
        let (release, released) = mpsc::channel::<()>();
        let released = std::sync::Mutex::new(released);
        let entered_tx = std::sync::Mutex::new(entered_tx);
        let app = Arc::new(
            Router::new()
                .get("/slow", move |_: &Request| {
                    entered_tx.lock().unwrap().send(()).unwrap();
                    released
                        .lock()
                        .unwrap()
                        .recv_timeout(Duration::from_secs(5))
                        .unwrap();
                    "slow"
                })
                .get("/panics", |_: &Request| -> &'static str { panic!("boom") })
                .middleware(limit.clone()),
        );
        let inside = Arc::clone(&app);
        let first = std::thread::spawn(move || {
            inside
                .handle(http::Request::get("/slow").body(()).unwrap())
                .status()
        });
        entered.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(limit.in_flight(), 1);
        let refused = app.handle(http::Request::get("/slow").body(()).unwrap());
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers()[RETRY_AFTER], "1");
        assert_eq!(limit.refused(), 1);
        release.send(()).unwrap();
        assert_eq!(first.join().unwrap(), StatusCode::OK);
        assert_eq!(limit.in_flight(), 0);
        // A panicking handler gives its place back too.
        let panicked = app.handle(http::Request::get("/panics").body(()).unwrap());
        assert_eq!(panicked.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(limit.in_flight(), 0);
    }
}

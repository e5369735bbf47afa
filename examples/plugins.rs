//! Writing a plugin with routes, middleware and state, next to the two that ship.
//!
//! `cargo run --example plugins`, then `curl -i http://127.0.0.1:3000/hits` a few times, and
//! `curl -i http://127.0.0.1:3000/healthz`. Ctrl-C stops it.

#![allow(clippy::print_stdout)] // printing the URL is part of what this example does

#[path = "support/signals.rs"]
mod signals;

use std::sync::atomic::{AtomicU64, Ordering};

use switchyard::http::HeaderValue;
use switchyard::{AccessLog, Health, Next, Plugin, Request, Response, Router, Server};

/// Counts requests, serves the count at `/hits`, and stamps every response with it.
struct HitCounter;

/// The plugin's state, shared by its route and its middleware.
#[derive(Default)]
struct Hits(AtomicU64);

impl Plugin for HitCounter {
    fn name(&self) -> &str {
        "hit-counter"
    }

    fn install(self, router: Router) -> Router {
        router
            .state(Hits::default())
            .get("/hits", |req: &Request| {
                let hits = req.state::<Hits>().expect("installed with the plugin");
                format!("{} requests so far\n", hits.0.load(Ordering::Relaxed))
            })
            .middleware(|req: &mut Request, next: Next<'_>| {
                let count = req
                    .state::<Hits>()
                    .map_or(0, |hits| hits.0.fetch_add(1, Ordering::Relaxed) + 1);
                let mut response: Response = next.run(req);
                response
                    .headers_mut()
                    .insert("x-request-number", HeaderValue::from(count));
                response
            })
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::builder()
        .route(
            switchyard::http::Method::GET,
            "/",
            |_: &Request| "see /hits and /healthz\n",
        )
        .plugin(HitCounter)
        .plugin(Health::new())
        .plugin(AccessLog::stdout())
        .bind("127.0.0.1:3000")?;
    println!(
        "serving on http://{}/ (Ctrl-C to stop)",
        server.local_addr()
    );
    signals::shutdown_on_signals(server.shutdown_handle())?;
    server.run()?;
    Ok(())
}

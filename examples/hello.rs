//! Drives the thread pool: runs a batch of jobs on named workers and prints the pool's counters.
//!
//! `cargo run --release --example hello [JOBS]`

#![allow(clippy::print_stdout)] // printing is what this example is for

use std::sync::mpsc;
use std::time::Instant;

use switchyard::ThreadPool;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let jobs: u64 = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 100_000,
    };
    let pool = ThreadPool::builder().size(4).queue_capacity(1024).build()?;
    let (results, received) = mpsc::channel();
    let started = Instant::now();
    for i in 0..jobs {
        let results = results.clone();
        pool.execute(move || {
            let worker = std::thread::current().name().map(str::to_owned);
            // The receiver lives until every result is in.
            let _ = results.send((i, worker));
        })?;
    }
    drop(results);
    let stats = pool.stats();
    pool.shutdown();
    let mut per_worker = std::collections::BTreeMap::new();
    let mut sum = 0;
    for (i, worker) in received {
        sum += i;
        *per_worker.entry(worker.unwrap_or_default()).or_insert(0u64) += 1;
    }
    println!(
        "ran {jobs} jobs in {:?} (sum of ids {sum})",
        started.elapsed()
    );
    for (worker, count) in per_worker {
        println!("  {worker}: {count} jobs");
    }
    println!("stats when the last job was queued: {stats:?}");
    Ok(())
}

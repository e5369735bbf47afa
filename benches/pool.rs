//! Dispatch throughput of `switchyard::ThreadPool` against the Rust Book's design
//! (std `mpsc` channel + `Arc<Mutex<Receiver>>`, chapter 20), on the same jobs.
//!
//! Each iteration builds a pool, submits every job from the bench thread, and shuts the pool
//! down (which waits for every job), so the figure is end-to-end: submit, dispatch, run, join.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchyard::ThreadPool;

const EMPTY_JOBS: u64 = 1_000_000;
const SMALL_JOBS: u64 = 200_000;
const WORKERS: [usize; 3] = [2, 4, 8];

/// The pool of the Rust Book, chapter 20.3, verbatim but for names.
mod book {
    use std::sync::{Arc, Mutex, mpsc};
    use std::thread;

    type Job = Box<dyn FnOnce() + Send + 'static>;

    pub(crate) struct ThreadPool {
        workers: Vec<Worker>,
        sender: Option<mpsc::Sender<Job>>,
    }

    struct Worker {
        thread: Option<thread::JoinHandle<()>>,
    }

    impl ThreadPool {
        pub(crate) fn new(size: usize) -> ThreadPool {
            assert!(size > 0);
            let (sender, receiver) = mpsc::channel::<Job>();
            let receiver = Arc::new(Mutex::new(receiver));
            let workers = (0..size)
                .map(|_| {
                    let receiver = Arc::clone(&receiver);
                    let thread = thread::spawn(move || {
                        loop {
                            let message = receiver.lock().unwrap().recv();
                            match message {
                                Ok(job) => job(),
                                Err(_) => break,
                            }
                        }
                    });
                    Worker {
                        thread: Some(thread),
                    }
                })
                .collect();
            ThreadPool {
                workers,
                sender: Some(sender),
            }
        }

        pub(crate) fn execute<F: FnOnce() + Send + 'static>(&self, f: F) {
            self.sender.as_ref().unwrap().send(Box::new(f)).unwrap();
        }
    }

    impl Drop for ThreadPool {
        fn drop(&mut self) {
            drop(self.sender.take());
            for worker in &mut self.workers {
                if let Some(thread) = worker.thread.take() {
                    thread.join().unwrap();
                }
            }
        }
    }
}

/// A job with a little real work: sums 64 numbers into a shared counter.
fn small_job(total: &Arc<AtomicU64>) -> impl FnOnce() + Send + 'static {
    let total = Arc::clone(total);
    move || {
        let sum: u64 = (0..64u64).map(black_box).sum();
        total.fetch_add(sum, Ordering::Relaxed);
    }
}

fn empty_jobs(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool/empty_jobs");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EMPTY_JOBS));
    for workers in WORKERS {
        group.bench_with_input(BenchmarkId::new("book", workers), &workers, |b, &n| {
            b.iter(|| {
                let pool = book::ThreadPool::new(n);
                for _ in 0..EMPTY_JOBS {
                    pool.execute(|| {});
                }
            });
        });
        group.bench_with_input(
            BenchmarkId::new("switchyard", workers),
            &workers,
            |b, &n| {
                b.iter(|| {
                    let pool = ThreadPool::new(n);
                    for _ in 0..EMPTY_JOBS {
                        pool.execute(|| {}).expect("pool is open");
                    }
                    pool.shutdown();
                });
            },
        );
    }
    group.finish();
}

fn small_jobs(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool/small_jobs");
    group.sample_size(10);
    group.throughput(Throughput::Elements(SMALL_JOBS));
    let expected = SMALL_JOBS * (0..64u64).sum::<u64>();
    for workers in WORKERS {
        group.bench_with_input(BenchmarkId::new("book", workers), &workers, |b, &n| {
            b.iter(|| {
                let total = Arc::new(AtomicU64::new(0));
                let pool = book::ThreadPool::new(n);
                for _ in 0..SMALL_JOBS {
                    pool.execute(small_job(&total));
                }
                drop(pool);
                assert_eq!(total.load(Ordering::Relaxed), expected);
            });
        });
        group.bench_with_input(
            BenchmarkId::new("switchyard", workers),
            &workers,
            |b, &n| {
                b.iter(|| {
                    let total = Arc::new(AtomicU64::new(0));
                    let pool = ThreadPool::new(n);
                    for _ in 0..SMALL_JOBS {
                        pool.execute(small_job(&total)).expect("pool is open");
                    }
                    pool.shutdown();
                    assert_eq!(total.load(Ordering::Relaxed), expected);
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, empty_jobs, small_jobs);
criterion_main!(benches);

//! What per-request metrics cost a served request: two clock reads, a series look-up and a
//! handful of relaxed atomic increments (compare with the few microseconds a request costs
//! in the load harness's `srv CPU us/req`).

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard::__private::MetricsRecorder;

fn record(c: &mut Criterion) {
    let recorder = MetricsRecorder::new();
    c.bench_function("metrics/record_one_request", |b| {
        b.iter(|| recorder.record())
    });
}

criterion_group!(benches, record);
criterion_main!(benches);

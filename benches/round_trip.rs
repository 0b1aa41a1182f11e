//! One closure to a 2-worker pool and back, one at a time: the submitting
//! thread waits for each result before it sends the next job. This measures
//! waking an idle worker and waking the waiter back.
//!
//! Ours through blocking `submit` + `wait`, and through `AsyncExecutor::run`
//! under `futures::executor::block_on`; the anchors through their plain APIs.
//! Every case makes its own pool and shuts it down.
//!
//! Run with `cargo bench --bench round_trip`.

#[allow(dead_code)]
mod common;

use concurrent_futures::CancelFutures;
use std::time::Duration;

use common::trip;
use concurrent_futures::{AsyncExecutor, Executor};
use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
}

fn round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("round_trip");
    configure(&mut group);

    {
        let pool = common::ours();
        group.bench_function("ours_submit_wait", |b| {
            b.iter(|| trip::ours_submit_wait(&pool, 1))
        });
        pool.shutdown(CancelFutures::No);
    }
    {
        let executor = AsyncExecutor::new(common::ours());
        group.bench_function("ours_async_run", |b| {
            b.iter(|| trip::ours_async_run(&executor, 1))
        });
        executor.wrapped().shutdown(CancelFutures::No);
    }
    {
        let pool = common::rayon();
        group.bench_function("rayon_oneshot", |b| {
            b.iter(|| trip::rayon_oneshot(&pool, 1))
        });
        drop(pool);
    }
    group.bench_function("blocking_unblock", |b| b.iter(|| trip::blocking_unblock(1)));
    {
        let pool = common::CrossbeamPool::new();
        group.bench_function("crossbeam_pool_oneshot", |b| {
            b.iter(|| trip::crossbeam_oneshot(&pool, 1))
        });
        pool.shutdown();
    }
    {
        let runtime = common::tokio();
        group.bench_function("tokio_spawn_blocking", |b| {
            b.iter(|| trip::tokio_spawn_blocking(&runtime, 1))
        });
        drop(runtime);
    }
    group.finish();
}

fn main() {
    common::cap_blocking_threads();
    let mut c = Criterion::default().configure_from_args();
    round_trip(&mut c);
    c.final_summary();
}

//! 200,000 `u64` jobs submitted to a 2-worker pool, then every result awaited
//! in order: throughput when the queue is never empty.
//!
//! - `throughput`: one submitting thread. Ours through `submit` + `wait`,
//!   `Executor::map`, and `AsyncExecutor::map` under `futures::executor`.
//! - `contention`: two threads submit 100,000 jobs each into the same pool at
//!   once, each then awaits its own.
//!
//! Criterion reports the time for all 200,000 jobs; per job is that ÷ 200,000.
//! Every case makes its own pool and shuts it down.
//!
//! Run with `cargo bench --bench throughput`.

#[allow(dead_code)]
mod common;

use concurrent_futures::CancelFutures;
use std::time::Duration;

use common::bulk::{self, JOBS};
use concurrent_futures::{AsyncExecutor, Executor};
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sampling_mode(SamplingMode::Flat)
        // 20 samples of about 5 s in all: a single 2-core VM moves by 10-20 %
        // from one second to the next, so fewer samples made medians that
        // swapped places between runs.
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(20)
        .throughput(Throughput::Elements(JOBS));
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("throughput");
    configure(&mut group);

    {
        let pool = common::ours();
        group.bench_function("ours_submit", |b| {
            b.iter(|| bulk::ours_submit(&pool, 0, JOBS))
        });
        pool.shutdown(CancelFutures::No);
    }
    {
        let pool = common::ours();
        group.bench_function("ours_map", |b| b.iter(|| bulk::ours_map(&pool, JOBS)));
        pool.shutdown(CancelFutures::No);
    }
    {
        let executor = AsyncExecutor::new(common::ours());
        group.bench_function("ours_async_map", |b| {
            b.iter(|| bulk::ours_async_map(&executor, JOBS))
        });
        executor.wrapped().shutdown(CancelFutures::No);
    }
    {
        let pool = common::rayon();
        group.bench_function("rayon_oneshot", |b| {
            b.iter(|| bulk::rayon_oneshot(&pool, 0, JOBS))
        });
        drop(pool);
    }
    group.bench_function("blocking_unblock", |b| {
        b.iter(|| bulk::blocking_unblock(0, JOBS))
    });
    {
        let pool = common::CrossbeamPool::new();
        group.bench_function("crossbeam_pool_oneshot", |b| {
            b.iter(|| bulk::crossbeam_oneshot(&pool, 0, JOBS))
        });
        pool.shutdown();
    }
    {
        let runtime = common::tokio();
        group.bench_function("tokio_spawn_blocking", |b| {
            b.iter(|| bulk::tokio_spawn_blocking(&runtime, 0, JOBS))
        });
        drop(runtime);
    }
    group.finish();
}

fn contention(c: &mut Criterion) {
    let mut group = c.benchmark_group("contention");
    configure(&mut group);

    {
        let pool = common::ours();
        group.bench_function("ours_submit", |b| {
            b.iter(|| bulk::two_submitters(|from, jobs| bulk::ours_submit(&pool, from, jobs)))
        });
        pool.shutdown(CancelFutures::No);
    }
    {
        let pool = common::rayon();
        group.bench_function("rayon_oneshot", |b| {
            b.iter(|| bulk::two_submitters(|from, jobs| bulk::rayon_oneshot(&pool, from, jobs)))
        });
        drop(pool);
    }
    group.bench_function("blocking_unblock", |b| {
        b.iter(|| bulk::two_submitters(bulk::blocking_unblock))
    });
    {
        let pool = common::CrossbeamPool::new();
        group.bench_function("crossbeam_pool_oneshot", |b| {
            b.iter(|| bulk::two_submitters(|from, jobs| bulk::crossbeam_oneshot(&pool, from, jobs)))
        });
        pool.shutdown();
    }
    {
        let runtime = common::tokio();
        group.bench_function("tokio_spawn_blocking", |b| {
            b.iter(|| {
                bulk::two_submitters(|from, jobs| bulk::tokio_spawn_blocking(&runtime, from, jobs))
            })
        });
        drop(runtime);
    }
    group.finish();
}

fn main() {
    common::cap_blocking_threads();
    let mut c = Criterion::default().configure_from_args();
    throughput(&mut c);
    contention(&mut c);
    c.final_summary();
}

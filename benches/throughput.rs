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

use std::hint::black_box;
use std::time::Duration;

use concurrent_futures::{AsyncExecutor, Executor};
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};
use futures::StreamExt;
use futures::executor::block_on;

/// Jobs per iteration, across all submitting threads.
const JOBS: u64 = 200_000;

fn job(i: u64) -> u64 {
    black_box(i).wrapping_mul(3)
}

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

// One submitting thread, `jobs` jobs starting at `from`: each anchor's plain
// way to submit them all and then await them all, returning the sum.

fn ours_submit(pool: &impl Executor, from: u64, jobs: u64) -> u64 {
    let futures: Vec<_> = (from..from + jobs)
        .map(|i| pool.submit(move || job(i)).unwrap())
        .collect();
    futures
        .into_iter()
        .map(|mut future| future.wait().unwrap())
        .fold(0, u64::wrapping_add)
}

fn rayon_oneshot(pool: &rayon::ThreadPool, from: u64, jobs: u64) -> u64 {
    let receivers: Vec<_> = (from..from + jobs)
        .map(|i| common::rayon_submit(pool, move || job(i)))
        .collect();
    receivers
        .into_iter()
        .map(|receiver| receiver.recv().unwrap())
        .fold(0, u64::wrapping_add)
}

fn crossbeam_oneshot(pool: &common::CrossbeamPool, from: u64, jobs: u64) -> u64 {
    let receivers: Vec<_> = (from..from + jobs)
        .map(|i| pool.submit(move || job(i)))
        .collect();
    receivers
        .into_iter()
        .map(|receiver| receiver.recv().unwrap())
        .fold(0, u64::wrapping_add)
}

fn blocking_unblock(from: u64, jobs: u64) -> u64 {
    let tasks: Vec<_> = (from..from + jobs)
        .map(|i| blocking::unblock(move || job(i)))
        .collect();
    block_on(async {
        let mut sum = 0_u64;
        for task in tasks {
            sum = sum.wrapping_add(task.await);
        }
        sum
    })
}

fn tokio_spawn_blocking(runtime: &tokio::runtime::Runtime, from: u64, jobs: u64) -> u64 {
    let handles: Vec<_> = (from..from + jobs)
        .map(|i| runtime.spawn_blocking(move || job(i)))
        .collect();
    block_on(async {
        let mut sum = 0_u64;
        for handle in handles {
            sum = sum.wrapping_add(handle.await.unwrap());
        }
        sum
    })
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("throughput");
    configure(&mut group);

    {
        let pool = common::ours();
        group.bench_function("ours_submit", |b| b.iter(|| ours_submit(&pool, 0, JOBS)));
        pool.shutdown_and_wait(false);
    }
    {
        let pool = common::ours();
        group.bench_function("ours_map", |b| {
            b.iter(|| {
                pool.map(0..JOBS, job)
                    .unwrap()
                    .map(Result::unwrap)
                    .fold(0, u64::wrapping_add)
            })
        });
        pool.shutdown_and_wait(false);
    }
    {
        let executor = AsyncExecutor::new(common::ours());
        group.bench_function("ours_async_map", |b| {
            b.iter(|| {
                block_on(
                    executor
                        .map(0..JOBS, job)
                        .unwrap()
                        .fold(
                            0,
                            |sum, x| async move { u64::wrapping_add(sum, x.unwrap()) },
                        ),
                )
            })
        });
        executor.wrapped().shutdown_and_wait(false);
    }
    {
        let pool = common::rayon();
        group.bench_function("rayon_oneshot", |b| {
            b.iter(|| rayon_oneshot(&pool, 0, JOBS))
        });
        drop(pool);
    }
    group.bench_function("blocking_unblock", |b| b.iter(|| blocking_unblock(0, JOBS)));
    {
        let pool = common::CrossbeamPool::new();
        group.bench_function("crossbeam_pool_oneshot", |b| {
            b.iter(|| crossbeam_oneshot(&pool, 0, JOBS))
        });
        pool.shutdown();
    }
    {
        let runtime = common::tokio();
        group.bench_function("tokio_spawn_blocking", |b| {
            b.iter(|| tokio_spawn_blocking(&runtime, 0, JOBS))
        });
        drop(runtime);
    }
    group.finish();
}

/// Runs `submit(from, jobs)` on two threads at once, half the jobs each.
fn two_submitters(submit: impl Fn(u64, u64) -> u64 + Sync) -> u64 {
    let half = JOBS / 2;
    std::thread::scope(|scope| {
        let other = scope.spawn(|| submit(half, half));
        let mine = submit(0, half);
        mine.wrapping_add(other.join().unwrap())
    })
}

fn contention(c: &mut Criterion) {
    let mut group = c.benchmark_group("contention");
    configure(&mut group);

    {
        let pool = common::ours();
        group.bench_function("ours_submit", |b| {
            b.iter(|| two_submitters(|from, jobs| ours_submit(&pool, from, jobs)))
        });
        pool.shutdown_and_wait(false);
    }
    {
        let pool = common::rayon();
        group.bench_function("rayon_oneshot", |b| {
            b.iter(|| two_submitters(|from, jobs| rayon_oneshot(&pool, from, jobs)))
        });
        drop(pool);
    }
    group.bench_function("blocking_unblock", |b| {
        b.iter(|| two_submitters(blocking_unblock))
    });
    {
        let pool = common::CrossbeamPool::new();
        group.bench_function("crossbeam_pool_oneshot", |b| {
            b.iter(|| two_submitters(|from, jobs| crossbeam_oneshot(&pool, from, jobs)))
        });
        pool.shutdown();
    }
    {
        let runtime = common::tokio();
        group.bench_function("tokio_spawn_blocking", |b| {
            b.iter(|| two_submitters(|from, jobs| tokio_spawn_blocking(&runtime, from, jobs)))
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

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

use std::hint::black_box;
use std::time::Duration;

use concurrent_futures::{AsyncExecutor, Executor};
use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use futures::executor::block_on;

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
            b.iter(|| {
                let x = black_box(7_u64);
                pool.submit(move || x + 1).unwrap().wait().unwrap()
            })
        });
        pool.shutdown_and_wait(false);
    }
    {
        let executor = AsyncExecutor::new(common::ours());
        group.bench_function("ours_async_run", |b| {
            b.iter(|| {
                let x = black_box(7_u64);
                block_on(executor.run(move || x + 1)).unwrap()
            })
        });
        executor.wrapped().shutdown_and_wait(false);
    }
    {
        let pool = common::rayon();
        group.bench_function("rayon_oneshot", |b| {
            b.iter(|| {
                let x = black_box(7_u64);
                common::rayon_submit(&pool, move || x + 1).recv().unwrap()
            })
        });
        drop(pool);
    }
    group.bench_function("blocking_unblock", |b| {
        b.iter(|| {
            let x = black_box(7_u64);
            block_on(blocking::unblock(move || x + 1))
        })
    });
    {
        let pool = common::CrossbeamPool::new();
        group.bench_function("crossbeam_pool_oneshot", |b| {
            b.iter(|| {
                let x = black_box(7_u64);
                pool.submit(move || x + 1).recv().unwrap()
            })
        });
        pool.shutdown();
    }
    {
        let runtime = common::tokio();
        group.bench_function("tokio_spawn_blocking", |b| {
            b.iter(|| {
                let x = black_box(7_u64);
                block_on(runtime.spawn_blocking(move || x + 1)).unwrap()
            })
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

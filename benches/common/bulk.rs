//! The bulk cases (throughput and contention), each anchor's plain way to
//! submit many jobs and then await them all: shared by `throughput.rs`
//! (criterion) and `paired.rs` (interleaved rounds).

use std::hint::black_box;

use concurrent_futures::{AsyncExecutor, Executor, ThreadPoolExecutor};
use futures::StreamExt;
use futures::executor::block_on;

/// Jobs per iteration, across all submitting threads.
pub const JOBS: u64 = 200_000;

pub fn job(i: u64) -> u64 {
    black_box(i).wrapping_mul(3)
}

// One submitting thread, `jobs` jobs starting at `from`: each anchor's plain
// way to submit them all and then await them all, returning the sum.

pub fn ours_submit(pool: &impl Executor, from: u64, jobs: u64) -> u64 {
    let futures: Vec<_> = (from..from + jobs)
        .map(|i| pool.submit(move || job(i)).unwrap())
        .collect();
    futures
        .into_iter()
        .map(|mut future| future.wait().unwrap())
        .fold(0, u64::wrapping_add)
}

pub fn rayon_oneshot(pool: &rayon::ThreadPool, from: u64, jobs: u64) -> u64 {
    let receivers: Vec<_> = (from..from + jobs)
        .map(|i| super::rayon_submit(pool, move || job(i)))
        .collect();
    receivers
        .into_iter()
        .map(|receiver| receiver.recv().unwrap())
        .fold(0, u64::wrapping_add)
}

pub fn crossbeam_oneshot(pool: &super::CrossbeamPool, from: u64, jobs: u64) -> u64 {
    let receivers: Vec<_> = (from..from + jobs)
        .map(|i| pool.submit(move || job(i)))
        .collect();
    receivers
        .into_iter()
        .map(|receiver| receiver.recv().unwrap())
        .fold(0, u64::wrapping_add)
}

pub fn blocking_unblock(from: u64, jobs: u64) -> u64 {
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

pub fn tokio_spawn_blocking(runtime: &tokio::runtime::Runtime, from: u64, jobs: u64) -> u64 {
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

/// `Executor::map` over `jobs` items, summed.
pub fn ours_map(pool: &ThreadPoolExecutor, jobs: u64) -> u64 {
    pool.map(job, 0..jobs)
        .unwrap()
        .map(Result::unwrap)
        .fold(0, u64::wrapping_add)
}

/// `AsyncExecutor::map` over `jobs` items under `futures::executor`, summed.
pub fn ours_async_map(executor: &AsyncExecutor<ThreadPoolExecutor>, jobs: u64) -> u64 {
    block_on(
        executor
            .map(job, 0..jobs)
            .unwrap()
            .fold(
                0,
                |sum, x| async move { u64::wrapping_add(sum, x.unwrap()) },
            ),
    )
}

/// Runs `submit(from, jobs)` on two threads at once, half the jobs each.
pub fn two_submitters(submit: impl Fn(u64, u64) -> u64 + Sync) -> u64 {
    let half = JOBS / 2;
    std::thread::scope(|scope| {
        let other = scope.spawn(|| submit(half, half));
        let mine = submit(0, half);
        mine.wrapping_add(other.join().unwrap())
    })
}

//! The round-trip cases: `n` closures sent one at a time to a pool, each
//! awaited before the next is sent. Shared by `round_trip.rs` (criterion) and
//! `paired.rs` (interleaved rounds).

use std::hint::black_box;

use concurrent_futures::{AsyncExecutor, Executor, ThreadPoolExecutor};
use futures::executor::block_on;

/// Ours: blocking `submit` + `wait`.
pub fn ours_submit_wait(pool: &ThreadPoolExecutor, n: u64) {
    for i in 0..n {
        let x = black_box(i);
        black_box(pool.submit(move || x + 1).unwrap().wait().unwrap());
    }
}

/// Ours: `AsyncExecutor::run` under `futures::executor::block_on`.
pub fn ours_async_run(executor: &AsyncExecutor<ThreadPoolExecutor>, n: u64) {
    for i in 0..n {
        let x = black_box(i);
        black_box(block_on(executor.run(move || x + 1)).unwrap());
    }
}

/// rayon `spawn`, the value back through a `oneshot`, blocking `recv`.
pub fn rayon_oneshot(pool: &rayon::ThreadPool, n: u64) {
    for i in 0..n {
        let x = black_box(i);
        black_box(super::rayon_submit(pool, move || x + 1).recv().unwrap());
    }
}

/// rayon `spawn`, the value back through a `oneshot` awaited under
/// `futures::executor::block_on`: the async anchor of `ours_async_run`.
pub fn rayon_oneshot_async(pool: &rayon::ThreadPool, n: u64) {
    for i in 0..n {
        let x = black_box(i);
        let (tx, rx) = oneshot::async_channel();
        pool.spawn(move || {
            let _ = tx.send(x + 1);
        });
        black_box(block_on(rx).unwrap());
    }
}

/// `blocking::unblock` under `futures::executor::block_on`.
pub fn blocking_unblock(n: u64) {
    for i in 0..n {
        let x = black_box(i);
        black_box(block_on(blocking::unblock(move || x + 1)));
    }
}

/// The crossbeam-channel pool, the value back through a `oneshot`.
pub fn crossbeam_oneshot(pool: &super::CrossbeamPool, n: u64) {
    for i in 0..n {
        let x = black_box(i);
        black_box(pool.submit(move || x + 1).recv().unwrap());
    }
}

/// tokio `spawn_blocking` under `futures::executor::block_on`.
pub fn tokio_spawn_blocking(runtime: &tokio::runtime::Runtime, n: u64) {
    for i in 0..n {
        let x = black_box(i);
        black_box(block_on(runtime.spawn_blocking(move || x + 1)).unwrap());
    }
}

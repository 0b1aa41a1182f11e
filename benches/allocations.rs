//! Heap allocations and bytes per job, ours and each anchor's, counted by a
//! global allocator that sees every thread of this process.
//!
//! Every figure is taken in steady state: the pool's threads started by a
//! warm-up round of the same shape, the result `Vec`s allocated before
//! counting, and of five counted rounds the one with the fewest bytes (see
//! `report`). Bytes are the sizes requested (not freed ones).
//!
//! - `primitive`: make a pair, send a `u64`, receive it.
//! - `round_trip`: one job at a time, submitted and awaited.
//! - `bulk`: 10,000 jobs submitted, then all awaited.
//!
//! Prints a table, and one `alloc <mode> <case> <allocs/job> <bytes/job>`
//! line per case for `benches/report.sh`. Run with
//! `cargo bench --bench allocations`.

#[allow(dead_code)]
mod common;

use concurrent_futures::CancelFutures;
use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use concurrent_futures::{AsyncExecutor, Executor};
use futures::StreamExt;
use futures::executor::block_on;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; the counters do not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ROUND_TRIPS: usize = 10_000;
const BULK: usize = 10_000;
const PAIRS: usize = 100_000;

/// Counted rounds per case; the one with the fewest bytes is reported.
const COUNTED_ROUNDS: usize = 5;

/// Runs `round` once to warm up, then `COUNTED_ROUNDS` counted times, and
/// prints the allocations and bytes per job of the counted round that
/// allocated the fewest bytes: the steady state, in which no queue or buffer
/// grew. (A pool's queue can still grow after the warm-up, when a later round
/// happens to queue deeper than the warm-up did: its workers drain the queue
/// while it fills, at whatever pace the machine gives them. That growth is
/// not a per-job cost, and it comes and goes with timing, for every pool.)
fn report(mode: &str, case: &str, jobs: usize, mut round: impl FnMut()) {
    round();
    let (allocations, bytes) = (0..COUNTED_ROUNDS)
        .map(|_| {
            let before = (
                ALLOCATIONS.load(Ordering::SeqCst),
                BYTES.load(Ordering::SeqCst),
            );
            round();
            (
                ALLOCATIONS.load(Ordering::SeqCst) - before.0,
                BYTES.load(Ordering::SeqCst) - before.1,
            )
        })
        .min_by_key(|&(_, bytes)| bytes)
        .expect("at least one counted round");
    let per_job = allocations as f64 / jobs as f64;
    let bytes_per_job = bytes as f64 / jobs as f64;
    println!("{mode:<11} {case:<24} {per_job:>8.3} allocs/job {bytes_per_job:>8.1} bytes/job");
    println!("alloc {mode} {case} {per_job:.3} {bytes_per_job:.1}");
}

fn poll_once<F: Future + Unpin>(mut future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(&mut future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("the value was sent before the poll"),
    }
}

fn primitive() {
    report("primitive", "ours", PAIRS, || {
        for i in 0..PAIRS as u64 {
            let (producer, mut future) = concurrent_futures::promise::<u64>();
            producer.set_result(i).unwrap();
            black_box(future.wait().unwrap());
        }
    });
    report("primitive", "oneshot", PAIRS, || {
        for i in 0..PAIRS as u64 {
            let (sender, receiver) = oneshot::channel::<u64>();
            sender.send(i).unwrap();
            black_box(receiver.recv().unwrap());
        }
    });
    report("primitive", "tokio_oneshot", PAIRS, || {
        for i in 0..PAIRS as u64 {
            let (sender, receiver) = tokio::sync::oneshot::channel::<u64>();
            sender.send(i).unwrap();
            black_box(poll_once(receiver).unwrap());
        }
    });
    report("primitive", "futures_oneshot", PAIRS, || {
        for i in 0..PAIRS as u64 {
            let (sender, receiver) = futures::channel::oneshot::channel::<u64>();
            sender.send(i).unwrap();
            black_box(poll_once(receiver).unwrap());
        }
    });
}

fn round_trip() {
    let n = ROUND_TRIPS as u64;
    {
        let pool = common::ours();
        report("round_trip", "ours_submit_wait", ROUND_TRIPS, || {
            for i in 0..n {
                black_box(pool.submit(move || i + 1).unwrap().wait().unwrap());
            }
        });
        pool.shutdown(CancelFutures::No);
    }
    {
        let executor = AsyncExecutor::new(common::ours());
        report("round_trip", "ours_async_run", ROUND_TRIPS, || {
            for i in 0..n {
                black_box(block_on(executor.run(move || i + 1)).unwrap());
            }
        });
        executor.wrapped().shutdown(CancelFutures::No);
    }
    {
        let pool = common::rayon();
        report("round_trip", "rayon_oneshot", ROUND_TRIPS, || {
            for i in 0..n {
                black_box(common::rayon_submit(&pool, move || i + 1).recv().unwrap());
            }
        });
    }
    report("round_trip", "blocking_unblock", ROUND_TRIPS, || {
        for i in 0..n {
            black_box(block_on(blocking::unblock(move || i + 1)));
        }
    });
    {
        let pool = common::CrossbeamPool::new();
        report("round_trip", "crossbeam_pool_oneshot", ROUND_TRIPS, || {
            for i in 0..n {
                black_box(pool.submit(move || i + 1).recv().unwrap());
            }
        });
        pool.shutdown();
    }
    {
        let runtime = common::tokio();
        report("round_trip", "tokio_spawn_blocking", ROUND_TRIPS, || {
            for i in 0..n {
                black_box(block_on(runtime.spawn_blocking(move || i + 1)).unwrap());
            }
        });
    }
}

fn bulk() {
    let n = BULK as u64;
    {
        let pool = common::ours();
        let mut futures = Vec::with_capacity(BULK);
        report("bulk", "ours_submit", BULK, || {
            futures.extend((0..n).map(|i| pool.submit(move || i + 1).unwrap()));
            for mut future in futures.drain(..) {
                black_box(future.wait().unwrap());
            }
        });
        pool.shutdown(CancelFutures::No);
    }
    {
        let pool = common::ours();
        report("bulk", "ours_map", BULK, || {
            for result in pool.map(|i| i + 1, 0..n).unwrap() {
                black_box(result.unwrap());
            }
        });
        pool.shutdown(CancelFutures::No);
    }
    {
        let executor = AsyncExecutor::new(common::ours());
        report("bulk", "ours_async_map", BULK, || {
            block_on(executor.map(|i| i + 1, 0..n).unwrap().for_each(|result| {
                black_box(result.unwrap());
                async {}
            }));
        });
        executor.wrapped().shutdown(CancelFutures::No);
    }
    {
        let pool = common::rayon();
        let mut receivers = Vec::with_capacity(BULK);
        report("bulk", "rayon_oneshot", BULK, || {
            receivers.extend((0..n).map(|i| common::rayon_submit(&pool, move || i + 1)));
            for receiver in receivers.drain(..) {
                black_box(receiver.recv().unwrap());
            }
        });
    }
    {
        let mut tasks = Vec::with_capacity(BULK);
        report("bulk", "blocking_unblock", BULK, || {
            tasks.extend((0..n).map(|i| blocking::unblock(move || i + 1)));
            block_on(async {
                for task in tasks.drain(..) {
                    black_box(task.await);
                }
            });
        });
    }
    {
        let pool = common::CrossbeamPool::new();
        let mut receivers = Vec::with_capacity(BULK);
        report("bulk", "crossbeam_pool_oneshot", BULK, || {
            receivers.extend((0..n).map(|i| pool.submit(move || i + 1)));
            for receiver in receivers.drain(..) {
                black_box(receiver.recv().unwrap());
            }
        });
        pool.shutdown();
    }
    {
        let runtime = common::tokio();
        let mut handles = Vec::with_capacity(BULK);
        report("bulk", "tokio_spawn_blocking", BULK, || {
            handles.extend((0..n).map(|i| runtime.spawn_blocking(move || i + 1)));
            block_on(async {
                for handle in handles.drain(..) {
                    black_box(handle.await.unwrap());
                }
            });
        });
    }
}

fn main() {
    common::cap_blocking_threads();
    primitive();
    round_trip();
    bulk();
}

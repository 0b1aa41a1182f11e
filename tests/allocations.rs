//! Exactly one allocation per job on the pool the benchmarks use (2 workers),
//! counted by a global allocator: through `submit` (one at a time and in bulk),
//! through `AsyncExecutor::run`, and one per `promise()` pair. Complements
//! `one_allocation.rs` (1 worker); see BENCHMARKS.md for the anchors' counts.
//!
//! Only the test's own thread and the pool's workers are counted (each marks
//! itself in a thread-local): the test harness's main thread allocates now and
//! then while a test runs, which would make a process-wide count flaky. The
//! pool is warmed up first: both workers started and the queue grown past the
//! burst size, so what is counted is the steady-state cost of a job.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use concurrent_futures::{AsyncExecutor, Executor, ThreadPoolExecutor, promise};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's allocations are counted: the test's thread and the pool's
    /// workers. Const-initialized and without `Drop`, so the allocator can read
    /// it at any time without allocating.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

/// Counts the current thread's allocations from now on.
fn count_this_thread() {
    COUNTED.with(|counted| counted.set(true));
}

fn tally() {
    if COUNTED.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator; the counting does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        tally();
        // SAFETY: the caller's contract is forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        tally();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        tally();
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

/// Allocations made while `f` runs.
fn count(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    f();
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

const JOBS: u64 = 1000;
const BURST: usize = 512;

/// A 2-worker pool with both workers started and counted, and its queue grown
/// past the burst size.
fn warm_pool() -> ThreadPoolExecutor {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    // Two jobs that wait for each other, and then for the queue to be filled:
    // the second submit finds the first worker busy and starts the second, and
    // each worker marks itself as counted.
    let both = Arc::new(Barrier::new(2));
    let filled = Arc::new(Barrier::new(3));
    let started: Vec<_> = (0..2)
        .map(|_| {
            let (both, filled) = (Arc::clone(&both), Arc::clone(&filled));
            pool.submit(move || {
                count_this_thread();
                both.wait();
                filled.wait();
            })
            .unwrap()
        })
        .collect();
    // Both workers are blocked: the queue grows to hold the whole burst.
    let queued: Vec<_> = (0..BURST)
        .map(|i| pool.submit(move || i).unwrap())
        .collect();
    filled.wait();
    for mut future in started {
        future.wait().unwrap();
    }
    for (i, mut future) in queued.into_iter().enumerate() {
        assert_eq!(future.wait().unwrap(), i);
    }
    assert_eq!(pool.worker_count(), 2);
    pool
}

#[test]
fn exactly_one_allocation_per_job_in_steady_state() {
    count_this_thread();
    // promise(): one allocation per pair.
    let allocations = count(|| {
        for i in 0..JOBS {
            let (producer, mut future) = promise::<u64>();
            producer.set_result(i).unwrap();
            assert_eq!(future.wait().unwrap(), i);
        }
    });
    assert_eq!(
        allocations, JOBS as usize,
        "promise(): one allocation per pair"
    );

    // submit + wait, one job at a time.
    let pool = warm_pool();
    let allocations = count(|| {
        for i in 0..JOBS {
            assert_eq!(pool.submit(move || i + 1).unwrap().wait().unwrap(), i + 1);
        }
    });
    assert_eq!(allocations, JOBS as usize, "submit: one allocation per job");

    // submit in bulk, then wait for all (the Vec of futures is made beforehand).
    let mut futures = Vec::with_capacity(BURST);
    let allocations = count(|| {
        futures.extend((0..BURST).map(|i| pool.submit(move || i).unwrap()));
        for (i, mut future) in futures.drain(..).enumerate() {
            assert_eq!(future.wait().unwrap(), i);
        }
    });
    assert_eq!(allocations, BURST, "submit in bulk: one allocation per job");

    // AsyncExecutor::run under futures::executor::block_on (its thread-local
    // parker is made by the first call, outside the count).
    let executor = AsyncExecutor::new(pool);
    futures::executor::block_on(executor.run(|| ())).unwrap();
    let allocations = count(|| {
        for i in 0..JOBS {
            let value = futures::executor::block_on(executor.run(move || i * 2)).unwrap();
            assert_eq!(value, i * 2);
        }
    });
    assert_eq!(
        allocations, JOBS as usize,
        "AsyncExecutor::run: one allocation per job"
    );
    executor.wrapped().shutdown_and_wait(false);
}

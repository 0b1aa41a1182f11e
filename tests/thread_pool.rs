//! `ThreadPoolExecutor`, `InlineExecutor` and `Executor::map`, ported from
//! CPython's `Lib/test/test_concurrent_futures/` where the behaviour applies to
//! Rust.
//!
//! Ported (CPython test → Rust test):
//! - `executor.py` `test_submit`, `test_submit_keyword` → `submit_runs_the_closure`
//! - `test_map` → `map_yields_in_input_order`; `test_map_exception` →
//!   `map_reports_a_panic_at_its_position`; `test_map_timeout` →
//!   `map_timeout_yields_timeout_then_ends_and_cancels`
//! - `test_map_buffersize_on_infinite_iterable`, `..._when_buffer_is_full` →
//!   `map_buffer_size_bounds_jobs_in_flight`, `map_buffer_size_works_on_endless_input`
//! - `test_map_submits_without_iteration` → `map_submits_without_iteration`
//! - `test_max_workers_negative` → `zero_max_workers_is_an_error` (negative is
//!   unrepresentable in `usize`)
//! - `test_thread_pool.py` `test_default_workers` → `default_max_workers_is_pythons`;
//!   `test_saturation` → `saturation_starts_at_most_max_workers`;
//!   `test_idle_thread_reuse` → `idle_worker_is_reused`
//! - `test_shutdown.py` `test_run_after_shutdown` → `submit_after_shutdown_is_refused`;
//!   `test_cancel_futures`, `test_cancel_futures_wait_false` →
//!   `shutdown_cancel_futures_cancels_queued_jobs`; `test_hang_issue12364`,
//!   `test_threads_terminate`, `test_shutdown_no_wait`, `test_del_shutdown` →
//!   `shutdown_finishes_queued_jobs`, `shutdown_without_wait_returns_at_once`,
//!   `drop_begins_shutdown_without_cancelling`;
//!   `test_thread_names_assigned`, `test_thread_names_default` → `thread_names`
//! - `test_thread_pool.py` initializer tests (`InitializerMixin`,
//!   `FailingInitializerMixin`) → `initializer_runs_in_each_worker`,
//!   `failing_initializer_breaks_the_pool`, `panicking_initializer_breaks_the_pool`
//!
//! Python-only (not ported): garbage-collection and reference tests
//! (`test_no_stale_references`, `test_free_reference`), interpreter-exit and
//! `fork` tests, `repr` strings, `chunksize` (meaningful for process pools only),
//! `test_swallows_falsey_exceptions` (no falsy exceptions in Rust).

use concurrent_futures::CancelFutures;
use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use concurrent_futures::{
    BuildError, Error, Executor, InlineExecutor, MapOptions, State, SubmitError, ThreadPoolExecutor,
};

fn pool(workers: usize) -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(workers)
        .build()
        .unwrap()
}

/// A job that blocks until released: returns the closure's gate and the
/// release handle (dropping the sender releases every waiter).
fn gate() -> (mpsc::Sender<()>, Arc<Mutex<mpsc::Receiver<()>>>) {
    let (tx, rx) = mpsc::channel();
    (tx, Arc::new(Mutex::new(rx)))
}

#[test]
fn submit_runs_the_closure() {
    let pool = pool(2);
    let mut future = pool.submit(|| 2_u64.pow(8)).unwrap();
    assert_eq!(future.wait().unwrap(), 256);
    let base = 3_u64;
    let mut future = pool.submit(move || base.pow(2)).unwrap();
    assert_eq!(future.wait().unwrap(), 9);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn inline_executor_runs_at_submit() {
    let executor = InlineExecutor::new();
    let mut future = executor.submit(|| 7).unwrap();
    assert_eq!(future.state(), State::Finished);
    assert_eq!(future.try_take().unwrap().unwrap(), 7);
    let mut terminated = executor.terminated();
    assert!(!terminated.is_done());
    executor.shutdown_nowait(CancelFutures::No);
    assert!(terminated.try_take().unwrap().is_ok());
    assert!(matches!(executor.submit(|| 1), Err(SubmitError::Shutdown)));
}

#[test]
fn panicking_job_is_reported_and_the_worker_keeps_serving() {
    let pool = pool(1);
    let mut failed = pool.submit(|| -> u8 { panic!("job failed") }).unwrap();
    match failed.wait() {
        Err(Error::Panicked(panic)) => assert_eq!(panic.message(), Some("job failed")),
        other => panic!("unexpected {other:?}"),
    }
    let mut next = pool.submit(|| 5).unwrap();
    assert_eq!(next.wait().unwrap(), 5);
    assert_eq!(pool.worker_count(), 1);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn cancelled_before_start_skips_the_closure() {
    let pool = pool(1);
    let (release, blocked) = gate();
    let blocker = pool
        .submit(move || blocked.lock().unwrap().recv().ok())
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    let mut queued = pool
        .submit(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    assert!(queued.cancel());
    drop(release);
    pool.shutdown(CancelFutures::No);
    assert!(blocker.is_done());
    assert!(matches!(queued.wait(), Err(Error::Cancelled)));
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn map_yields_in_input_order() {
    let pool = pool(4);
    let results: Vec<u64> = pool
        .map(|x| x.pow(2), 0..10_u64)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(results, (0..10_u64).map(|x| x.pow(2)).collect::<Vec<_>>());
    // Zipped inputs, as Python's map(fn, *iterables).
    let sums: Vec<u32> = pool
        .map(|(a, b): (u32, u32)| a + b, (1..4).zip(10..13))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(sums, [11, 13, 15]);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn map_reports_a_panic_at_its_position() {
    let pool = pool(2);
    let mut results = pool
        .map(
            |d| {
                assert_ne!(d, 0, "division by zero");
                1 / d
            },
            [2_u32, 3, 0, 5],
        )
        .unwrap();
    assert_eq!(results.next().unwrap().unwrap(), 0);
    assert_eq!(results.next().unwrap().unwrap(), 0);
    assert!(matches!(results.next(), Some(Err(Error::Panicked(_)))));
    assert_eq!(results.next().unwrap().unwrap(), 0);
    assert!(results.next().is_none());
    pool.shutdown(CancelFutures::No);
}

#[test]
fn map_submits_without_iteration() {
    let pool = pool(2);
    let finished = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&finished);
    // Dropped at once, never advanced: as in Python, nothing is cancelled.
    let _ = pool
        .map(
            move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
            },
            0..10,
        )
        .unwrap();
    pool.shutdown(CancelFutures::No);
    assert_eq!(finished.load(Ordering::SeqCst), 10);
}

#[test]
fn map_timeout_yields_timeout_then_ends_and_cancels() {
    let pool = pool(1);
    let (release, blocked) = gate();
    let ran_after = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran_after);
    let mut results = pool
        .map_with(
            move |i| {
                if i == 1 {
                    // Blocks until the test releases it, after the timeout.
                    let _ = blocked.lock().unwrap().recv();
                }
                if i == 2 {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                i
            },
            0..3,
            // Under Miri one round trip takes 10-50 ms of its clock (which
            // advances with the instructions it interprets), so item 0 needs a
            // longer budget there; the blocked item times out either way.
            MapOptions::new().timeout(Duration::from_millis(if cfg!(miri) { 2000 } else { 50 })),
        )
        .unwrap();
    assert_eq!(results.next().unwrap().unwrap(), 0);
    assert!(matches!(results.next(), Some(Err(Error::Timeout))));
    assert!(
        results.next().is_none(),
        "the iterator ends after a timeout"
    );
    drop(release);
    pool.shutdown(CancelFutures::No);
    assert_eq!(
        ran_after.load(Ordering::SeqCst),
        0,
        "the job after the timeout was cancelled"
    );
}

#[test]
fn map_buffer_size_bounds_jobs_in_flight() {
    let pool = pool(2);
    let submitted = Arc::new(AtomicUsize::new(0));
    let counting_items = {
        let submitted = Arc::clone(&submitted);
        (0..100_u32).inspect(move |_| {
            submitted.fetch_add(1, Ordering::SeqCst);
        })
    };
    let options = MapOptions::new().buffer_size(NonZeroUsize::new(3).unwrap());
    let mut results = pool.map_with(|x| x, counting_items, options).unwrap();
    assert_eq!(
        submitted.load(Ordering::SeqCst),
        3,
        "the buffer is filled at once"
    );
    assert_eq!(results.next().unwrap().unwrap(), 0);
    // One result yielded: its replacement is submitted by the next call, not
    // before the result was yielded (at most 3 submitted and not yielded;
    // CPython gh-131466).
    assert_eq!(submitted.load(Ordering::SeqCst), 3);
    assert_eq!(results.next().unwrap().unwrap(), 1);
    assert_eq!(submitted.load(Ordering::SeqCst), 4);
    let rest: Vec<u32> = results.map(Result::unwrap).collect();
    assert_eq!(rest, (2..100).collect::<Vec<_>>());
    pool.shutdown(CancelFutures::No);
}

#[test]
fn map_buffer_size_works_on_endless_input() {
    let pool = pool(2);
    let options = MapOptions::new().buffer_size(NonZeroUsize::new(2).unwrap());
    let first: Vec<u64> = pool
        .map_with(|x| x * 3, 0_u64.., options)
        .unwrap()
        .take(6)
        .map(Result::unwrap)
        .collect();
    assert_eq!(first, [0, 3, 6, 9, 12, 15]);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn dropping_map_cancels_jobs_not_started() {
    let pool = pool(1);
    let (release, blocked) = gate();
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    let mut results = pool
        .map(
            move |i| {
                if i == 1 {
                    let _ = blocked.lock().unwrap().recv();
                }
                counter.fetch_add(1, Ordering::SeqCst);
            },
            0..10,
        )
        .unwrap();
    results.next().unwrap().unwrap(); // iteration has begun
    drop(results);
    drop(release);
    pool.shutdown(CancelFutures::No);
    // Jobs 0 and 1 ran (1 was running or first in the queue while the only
    // worker was blocked... at most these two); every later one was cancelled.
    assert!(ran.load(Ordering::SeqCst) <= 2);
}

#[test]
fn map_after_shutdown_is_refused() {
    let pool = pool(1);
    pool.shutdown_nowait(CancelFutures::No);
    assert!(matches!(pool.map(|x| x, 0..3), Err(SubmitError::Shutdown)));
}

#[test]
fn zero_max_workers_is_an_error() {
    let error = ThreadPoolExecutor::builder()
        .max_workers(0)
        .build()
        .unwrap_err();
    assert_eq!(error, BuildError::ZeroWorkers);
    assert_eq!(error.to_string(), "max_workers must be greater than 0");
}

#[test]
fn default_max_workers_is_pythons() {
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(ThreadPoolExecutor::new().max_workers(), (cores + 4).min(32));
}

#[test]
fn saturation_starts_at_most_max_workers() {
    let workers = 4;
    let pool = pool(workers);
    let (release, blocked) = gate();
    let futures: Vec<_> = (0..15 * workers)
        .map(|_| {
            let blocked = Arc::clone(&blocked);
            pool.submit(move || {
                let _ = blocked.lock().unwrap().recv();
            })
            .unwrap()
        })
        .collect();
    assert_eq!(pool.worker_count(), workers);
    drop(release);
    pool.shutdown(CancelFutures::No);
    assert!(futures.iter().all(|f| f.is_done()));
}

#[test]
fn idle_worker_is_reused() {
    let pool = pool(4);
    for _ in 0..3 {
        pool.submit(|| ()).unwrap().wait().unwrap();
    }
    assert_eq!(pool.worker_count(), 1);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn submit_after_shutdown_is_refused() {
    let pool = pool(2);
    pool.shutdown_nowait(CancelFutures::No);
    assert!(pool.is_shutdown());
    let error = pool.submit(|| 1).unwrap_err();
    assert!(matches!(error, SubmitError::Shutdown));
    assert_eq!(error.to_string(), "cannot schedule new work after shutdown");
}

#[test]
fn shutdown_cancel_futures_cancels_queued_jobs() {
    let pool = pool(1);
    let (release, blocked) = gate();
    let started = Arc::new(Barrier::new(2));
    let running = {
        let started = Arc::clone(&started);
        pool.submit(move || {
            started.wait();
            let _ = blocked.lock().unwrap().recv();
            "finished"
        })
        .unwrap()
    };
    started.wait(); // the only worker is now busy
    let queued: Vec<_> = (0..50).map(|i| pool.submit(move || i).unwrap()).collect();
    pool.shutdown_nowait(CancelFutures::Yes);
    for future in &queued {
        assert_eq!(future.state(), State::Cancelled);
    }
    drop(release);
    let mut running = running;
    assert_eq!(running.wait().unwrap(), "finished", "running jobs finish");
    pool.terminated().wait().unwrap();
    for mut future in queued {
        assert!(matches!(future.wait(), Err(Error::Cancelled)));
    }
}

#[test]
fn shutdown_finishes_queued_jobs() {
    let pool = pool(2);
    let futures: Vec<_> = (0..20_u32)
        .map(|i| pool.submit(move || i * 2).unwrap())
        .collect();
    pool.shutdown(CancelFutures::No);
    assert_eq!(pool.worker_count(), 0, "every worker exited");
    for (i, mut future) in futures.into_iter().enumerate() {
        assert_eq!(future.try_take().unwrap().unwrap(), i as u32 * 2);
    }
}

#[test]
fn shutdown_without_wait_returns_at_once() {
    let pool = pool(1);
    let (release, blocked) = gate();
    let mut job = pool
        .submit(move || blocked.lock().unwrap().recv().is_ok())
        .unwrap();
    pool.shutdown_nowait(CancelFutures::No); // returns although the job is blocked
    let mut terminated = pool.terminated();
    assert!(matches!(
        terminated.wait_timeout(Duration::ZERO),
        Err(Error::Timeout)
    ));
    release.send(()).unwrap();
    assert!(job.wait().unwrap());
    terminated.wait().unwrap();
}

#[test]
fn drop_begins_shutdown_without_cancelling() {
    let pool = pool(2);
    let mut terminated = pool.terminated();
    let futures: Vec<_> = (0..10).map(|i| pool.submit(move || i).unwrap()).collect();
    drop(pool);
    terminated.wait().unwrap();
    for (i, mut future) in futures.into_iter().enumerate() {
        assert_eq!(future.wait().unwrap(), i);
    }
}

#[test]
fn shutdown_from_own_worker_does_not_deadlock() {
    let pool = Arc::new(pool(1));
    let inner = Arc::clone(&pool);
    let mut future = pool
        .submit(move || {
            inner.shutdown(CancelFutures::No);
            inner.is_shutdown()
        })
        .unwrap();
    assert!(future.wait().unwrap());
    pool.terminated().wait().unwrap();
}

#[test]
fn thread_names() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(3)
        .thread_name_prefix("SpecialPool")
        .build()
        .unwrap();
    let (release, blocked) = gate();
    let barrier = Arc::new(Barrier::new(4));
    let futures: Vec<_> = (0..3)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            let blocked = Arc::clone(&blocked);
            pool.submit(move || {
                barrier.wait();
                let _ = blocked.lock().unwrap().recv();
                std::thread::current().name().unwrap().to_owned()
            })
            .unwrap()
        })
        .collect();
    barrier.wait(); // three workers are running at once
    drop(release);
    let names: HashSet<String> = futures.into_iter().map(|mut f| f.wait().unwrap()).collect();
    assert_eq!(names.len(), 3);
    for name in &names {
        assert!(name.starts_with("SpecialPool_"), "{name}");
    }
    let default = ThreadPoolExecutor::new();
    let name = default
        .submit(|| std::thread::current().name().unwrap().to_owned())
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(name, "ThreadPoolExecutor_0");
}

#[test]
fn initializer_runs_in_each_worker() {
    thread_local!(static INITIALIZED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            INITIALIZED.set(true);
            Ok::<(), std::io::Error>(())
        })
        .build()
        .unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let futures: Vec<_> = (0..2)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            pool.submit(move || {
                barrier.wait(); // both workers at once
                INITIALIZED.get()
            })
            .unwrap()
        })
        .collect();
    for mut future in futures {
        assert!(future.wait().unwrap());
    }
    pool.shutdown(CancelFutures::No);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn failing_initializer_breaks_the_pool() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .initializer(|| Err::<(), _>(std::io::Error::other("cannot connect")))
        .build()
        .unwrap();
    // The first submit starts the worker whose initializer fails. Jobs queued
    // before the failure fail with `Broken`; submits after it are refused with
    // `Broken` (Python raises `BrokenThreadPool` from `submit` too).
    let mut queued_and_failed = 0;
    for i in 0..5 {
        let broken = match pool.submit(move || i) {
            Ok(mut future) => match future.wait() {
                Err(Error::Broken(broken)) => {
                    queued_and_failed += 1;
                    broken
                }
                other => panic!("unexpected {other:?}"),
            },
            Err(SubmitError::Broken(broken)) => broken,
            Err(other) => panic!("unexpected {other:?}"),
        };
        assert_eq!(broken.cause().to_string(), "cannot connect");
        assert!(broken.to_string().contains("not usable anymore"));
        assert!(std::error::Error::source(&broken).is_some());
    }
    assert!(
        queued_and_failed >= 1,
        "the job that started the worker was queued, then failed"
    );
    assert!(pool.is_broken());
    assert!(matches!(pool.submit(|| 1), Err(SubmitError::Broken(_))));
    pool.terminated().wait().unwrap();
}

#[test]
fn panicking_initializer_breaks_the_pool() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .initializer(|| -> Result<(), std::io::Error> { panic!("init exploded") })
        .build()
        .unwrap();
    let mut future = pool.submit(|| 1).unwrap();
    match future.wait() {
        Err(Error::Broken(broken)) => assert!(broken.to_string().contains("init exploded")),
        other => panic!("unexpected {other:?}"),
    }
    pool.terminated().wait().unwrap();
}

//! The pool's bookkeeping against foreign code and races (issue #13, 4-6):
//! bad configuration, failing spawns, panicking `Drop`s and callbacks inside
//! the loops that finish a batch of jobs, done callbacks that submit or shut
//! down, and "terminated" meaning every worker thread has exited.
//!
//! On the code before this: `nul_in_thread_name_is_a_build_error` built a pool
//! whose first submit panicked; `shutdown_cancel_with_a_panicking_drop_*`
//! panicked in `shutdown` and left queued jobs `Abandoned`;
//! `callback_submitting_and_waiting_*` deadlocked;
//! `callback_shutdown_cancels_the_job_queued_behind` let the queued job run;
//! `terminated_waits_for_worker_thread_locals` saw 0 of 2 destructors run.

mod common;

use concurrent_futures::CancelFutures;
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};

use common::{Tracked, count, gated, no_hang};
use concurrent_futures::{
    AsyncExecutor, BuildError, Error, Executor, SharedFuture, SubmitError, ThreadPoolExecutor,
};

fn workers(n: usize) -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(n)
        .build()
        .unwrap()
}

// ---------------------------------------------------------------- 4: config

#[test]
fn nul_in_thread_name_is_a_build_error() {
    let error = ThreadPoolExecutor::builder()
        .thread_name_prefix("a\0")
        .build()
        .unwrap_err();
    assert_eq!(error, BuildError::InvalidThreadName);
    assert!(error.to_string().contains("NUL"));
}

/// A spawn that fails is `SubmitError::Spawn`, the job is dropped (its future
/// would report `Abandoned`), no worker is counted, and shutdown returns.
#[test]
fn failing_spawn_is_an_error_and_counts_stay_true() {
    no_hang("failing spawn", || {
        let pool = ThreadPoolExecutor::builder()
            .max_workers(1)
            .stack_size(1 << 46) // 64 TiB: the OS refuses the thread
            .build()
            .unwrap();
        let (value, drops) = Tracked::new();
        let refused = pool.submit(move || drop(value));
        assert!(matches!(refused, Err(SubmitError::Spawn(_))), "{refused:?}");
        assert_eq!(count(&drops), 1, "the refused job's closure was dropped");
        assert_eq!(pool.worker_count(), 0);
        assert!(matches!(pool.submit(|| ()), Err(SubmitError::Spawn(_))));
        assert_eq!(pool.worker_count(), 0);
        pool.shutdown(CancelFutures::No);
        pool.terminated().wait().unwrap();
    });
}

// ------------------------------------------------- 4: loops that finish jobs

/// Three jobs queued behind a busy worker; one closure panics in `Drop`.
fn three_queued(pool: &ThreadPoolExecutor, drops: &Arc<AtomicUsize>) -> Vec<SharedFuture<()>> {
    (0..3)
        .map(|index| {
            let value = if index == 1 {
                Tracked::panicking(drops)
            } else {
                Tracked::counting(drops)
            };
            pool.submit(move || drop(value)).unwrap()
        })
        .collect()
}

#[test]
fn shutdown_cancel_with_a_panicking_drop_cancels_every_queued_job() {
    no_hang("shutdown with a panicking drop", || {
        let pool = workers(1);
        let (release, busy) = gated(&pool, || ());
        let drops = Arc::new(AtomicUsize::new(0));
        let queued = three_queued(&pool, &drops);
        pool.shutdown_nowait(CancelFutures::Yes); // must not panic
        assert_eq!(count(&drops), 3, "each closure dropped once");
        for mut future in queued {
            assert!(matches!(future.wait(), Err(Error::Cancelled)));
        }
        release.send(()).unwrap();
        drop(busy);
        pool.shutdown(CancelFutures::No);
    });
}

#[test]
fn shutdown_cancel_with_a_panicking_callback_cancels_every_queued_job() {
    no_hang("shutdown with a panicking callback", || {
        let pool = workers(1);
        let (release, busy) = gated(&pool, || ());
        let queued: Vec<_> = (0..3).map(|_| pool.submit(|| ()).unwrap()).collect();
        let (report, reported) = mpsc::channel();
        let mut queued = queued.into_iter();
        let first = queued.next().unwrap();
        let second_report = report.clone();
        first.on_done(move |outcome| {
            second_report
                .send(outcome.is_err_and(|e| e.is_cancelled()))
                .unwrap();
            panic!("deliberate panic in a done callback");
        });
        queued.next().unwrap().on_done(move |outcome| {
            report
                .send(outcome.is_err_and(|e| e.is_cancelled()))
                .unwrap();
        });
        let mut third = queued.next().unwrap();
        pool.shutdown_nowait(CancelFutures::Yes); // must not panic
        assert!(reported.recv().unwrap());
        assert!(reported.recv().unwrap());
        assert!(matches!(third.wait(), Err(Error::Cancelled)));
        release.send(()).unwrap();
        drop(busy);
        pool.shutdown(CancelFutures::No);
    });
}

/// An initializer that fails once jobs are queued: every queued job reports
/// `Broken`, even the one whose closure panics in `Drop`.
#[test]
fn broken_pool_fails_every_queued_job_despite_a_panicking_drop() {
    no_hang("broken pool", || {
        let (queued_tx, queued_rx) = mpsc::channel::<()>();
        let queued_rx = std::sync::Mutex::new(queued_rx);
        let pool = ThreadPoolExecutor::builder()
            .max_workers(1)
            .initializer(move || {
                queued_rx.lock().unwrap().recv().unwrap();
                Err::<(), _>("no database")
            })
            .build()
            .unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let queued = three_queued(&pool, &drops);
        queued_tx.send(()).unwrap();
        for mut future in queued {
            assert!(matches!(future.wait(), Err(Error::Broken(_))));
        }
        assert_eq!(count(&drops), 3);
        pool.shutdown(CancelFutures::No);
        assert_eq!(pool.worker_count(), 0);
    });
}

/// A panic payload whose own `Drop` panics, from a job nobody waits for and
/// from an initializer: the worker survives (or exits cleanly), counts stay
/// true, and shutdown returns.
#[test]
fn panic_payloads_that_panic_when_dropped() {
    no_hang("panicking payloads", || {
        let pool = workers(1);
        let drops = Arc::new(AtomicUsize::new(0));
        let payload = Tracked::panicking(&drops);
        drop(pool.submit(move || std::panic::panic_any(payload)).unwrap());
        assert_eq!(pool.submit(|| 5).unwrap().wait().unwrap(), 5);
        assert_eq!(pool.worker_count(), 1);
        pool.shutdown(CancelFutures::No);
        assert_eq!(pool.worker_count(), 0);

        let init_drops = Arc::new(AtomicUsize::new(0));
        let for_init = Arc::clone(&init_drops);
        let broken = ThreadPoolExecutor::builder()
            .max_workers(1)
            .initializer(move || -> Result<(), std::io::Error> {
                std::panic::panic_any(Tracked::panicking(&for_init))
            })
            .build()
            .unwrap();
        let mut future = broken.submit(|| ()).unwrap();
        assert!(matches!(future.wait(), Err(Error::Broken(_))));
        broken.shutdown(CancelFutures::No);
        assert_eq!(broken.worker_count(), 0);
        assert_eq!(count(&init_drops), 1);
    });
}

// --------------------------------------------------------- 5: done callbacks

/// Job A's done callback submits B and waits for it, on a 4-worker pool:
/// the worker running the callback is not counted as available, so B gets a
/// worker of its own.
#[test]
fn callback_submitting_and_waiting_gets_another_worker() {
    no_hang("callback submits and waits", || {
        let pool = Arc::new(workers(4));
        let (release, a) = gated(&*pool, || 1);
        let (report, reported) = mpsc::channel();
        let inside = Arc::clone(&pool);
        a.on_done(move |outcome| {
            let b = inside.submit(|| 2).unwrap().wait().unwrap();
            report.send(outcome.unwrap() + b).unwrap();
        });
        release.send(()).unwrap();
        assert_eq!(reported.recv().unwrap(), 3);
        pool.shutdown(CancelFutures::No);
    });
}

/// The worker had already taken the next job C (queued behind A) when it
/// found A's done callback, which waits for C: the worker hands C back to the
/// queue before running the callback, so the other worker, once free, runs
/// it (a worker holding C through the callback would deadlock).
#[test]
fn callback_does_not_hold_the_job_queued_behind() {
    no_hang("callback waits for the queued job", || {
        let pool = workers(2);
        let (release, a) = gated(&pool, || 1);
        let (release_other, other) = gated(&pool, || ());
        let c = pool.submit(|| 3).unwrap();
        let (report, reported) = mpsc::channel();
        a.on_done(move |_| {
            let mut c = c;
            report.send(c.wait().unwrap()).unwrap();
        });
        release.send(()).unwrap();
        release_other.send(()).unwrap();
        assert_eq!(reported.recv().unwrap(), 3);
        drop(other);
        pool.shutdown(CancelFutures::No);
    });
}

/// 1 worker, B queued behind A: A's done callback calls `shutdown(true)` while
/// B is pending; B is cancelled and never runs.
#[test]
fn callback_shutdown_cancels_the_job_queued_behind() {
    no_hang("callback shutdown", || {
        let pool = Arc::new(workers(1));
        let (release, a) = gated(&*pool, || ());
        let ran = Arc::new(AtomicUsize::new(0));
        let ran_b = Arc::clone(&ran);
        let mut b = pool
            .submit(move || ran_b.fetch_add(1, Ordering::SeqCst))
            .unwrap();
        let (report, reported) = mpsc::channel();
        let inside = Arc::clone(&pool);
        a.on_done(move |_| {
            // Nobody else can take B: it is queued, and the only worker is
            // here.
            inside.shutdown_nowait(CancelFutures::Yes);
            report.send(()).unwrap();
        });
        release.send(()).unwrap();
        reported.recv().unwrap();
        assert!(matches!(b.wait(), Err(Error::Cancelled)));
        pool.shutdown(CancelFutures::No);
        assert_eq!(count(&ran), 0);
    });
}

// ------------------------------------------------------------ 6: terminated

thread_local! {
    static WORKER_LOCAL: RefCell<Option<Tracked>> = const { RefCell::new(None) };
}

/// Two workers each set a thread-local with a destructor; "terminated" is
/// reached only after both destructors ran, on the blocking path, through
/// `terminated()`, and through `AsyncExecutor::shutdown().await`.
fn two_workers_with_locals(pool: &ThreadPoolExecutor) -> Arc<AtomicUsize> {
    let drops = Arc::new(AtomicUsize::new(0));
    let both = Arc::new(Barrier::new(2));
    let jobs: Vec<_> = (0..2)
        .map(|_| {
            let drops = Arc::clone(&drops);
            let both = Arc::clone(&both);
            pool.submit(move || {
                WORKER_LOCAL.with(|local| *local.borrow_mut() = Some(Tracked::counting(&drops)));
                both.wait(); // two distinct workers
            })
            .unwrap()
        })
        .collect();
    for mut job in jobs {
        job.wait().unwrap();
    }
    drops
}

#[test]
fn terminated_waits_for_worker_thread_locals() {
    no_hang("terminated", || {
        let pool = workers(2);
        let drops = two_workers_with_locals(&pool);
        let mut terminated = pool.terminated();
        pool.shutdown_nowait(CancelFutures::No);
        terminated.wait().unwrap();
        assert_eq!(count(&drops), 2);
        assert_eq!(pool.worker_count(), 0);
    });
}

#[test]
fn shutdown_waits_for_worker_thread_locals() {
    no_hang("shutdown", || {
        let pool = workers(2);
        let drops = two_workers_with_locals(&pool);
        pool.shutdown(CancelFutures::No);
        assert_eq!(count(&drops), 2);
    });
}

#[test]
fn async_shutdown_waits_for_worker_thread_locals() {
    no_hang("AsyncExecutor::shutdown", || {
        let executor = AsyncExecutor::new(workers(2));
        let drops = two_workers_with_locals(executor.wrapped());
        futures::executor::block_on(executor.shutdown(CancelFutures::No));
        assert_eq!(count(&drops), 2);
    });
}

/// Submits racing `shutdown`: when it returns, every worker that any
/// accepted submit started has exited (none is counted), and every accepted
/// job ran.
#[test]
fn shutdown_racing_submits_leaves_no_worker() {
    no_hang("submits racing shutdown", || {
        for _ in 0..200 {
            let pool = Arc::new(workers(4));
            let start = Arc::new(Barrier::new(3));
            let submitters: Vec<_> = (0..2)
                .map(|_| {
                    let pool = Arc::clone(&pool);
                    let start = Arc::clone(&start);
                    std::thread::spawn(move || {
                        start.wait();
                        (0..4)
                            .filter_map(|_| pool.submit(|| ()).ok())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            start.wait();
            pool.shutdown(CancelFutures::No);
            assert_eq!(pool.worker_count(), 0);
            for submitter in submitters {
                for future in submitter.join().unwrap() {
                    assert!(future.is_done(), "an accepted job ran before termination");
                }
            }
        }
    });
}

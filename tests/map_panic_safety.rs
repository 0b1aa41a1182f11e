//! Regression tests from an adversarial review (issue #13, 4): a panicking
//! `Drop` (of a result, a closure, or a panic payload) inside every path that
//! finishes a batch of jobs: cancelling or dropping a `Map` or `MapStream`, a
//! scope with `shutdown(cancel_futures)`, the pool's shutdown and callbacks.
//! Before the fix, the map tests panicked out of `cancel_remaining` and the
//! queued items still ran.

mod common;

use concurrent_futures::CancelFutures;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use common::{Tracked, no_hang};
use concurrent_futures::{Executor, MapOptions, ThreadPoolExecutor, scope};

/// The function of the map cases, staged on a 1-worker pool: items before
/// `block` return `early(i)`; item `block` tells the test it runs and then
/// blocks until released; items after it count themselves as having run late
/// (they should have been cancelled) and return the default.
struct Staged {
    ran_late: Arc<AtomicUsize>,
    started: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

impl Staged {
    fn new<T: Default>(
        block: usize,
        early: impl Fn(usize) -> T + Send + Sync + 'static,
    ) -> (Staged, impl Fn(usize) -> T + Send + Sync + 'static) {
        let ran_late = Arc::new(AtomicUsize::new(0));
        let (started_tx, started) = mpsc::channel::<()>();
        let (release, release_rx) = mpsc::channel::<()>();
        let started_tx = std::sync::Mutex::new(started_tx);
        let release_rx = std::sync::Mutex::new(release_rx);
        let late = Arc::clone(&ran_late);
        let f = move |i: usize| {
            if i < block {
                early(i)
            } else if i == block {
                started_tx.lock().unwrap().send(()).unwrap();
                let _ = release_rx.lock().unwrap().recv();
                T::default()
            } else {
                late.fetch_add(1, Ordering::SeqCst);
                T::default()
            }
        };
        let staged = Staged {
            ran_late,
            started,
            release,
        };
        (staged, f)
    }

    /// Waits until the blocking item runs (every item before it is done).
    fn wait_blocked(&self) {
        self.started.recv_timeout(Duration::from_secs(60)).unwrap();
    }

    /// Releases the blocking item, shuts the pool down, and counts the items
    /// that ran after it.
    fn finish(self, pool: &ThreadPoolExecutor) -> usize {
        self.release.send(()).unwrap();
        pool.shutdown(CancelFutures::No);
        self.ran_late.load(Ordering::SeqCst)
    }
}

/// Map over [0, 1, 2, 3] on a 1-worker pool. Item 0 returns a value whose
/// Drop panics and finishes; item 1 blocks; items 2, 3 are queued. Then
/// `cancel_remaining`. Expected: items 2 and 3 never run, and no panic
/// escapes `cancel_remaining` (or, at the least, 2 and 3 are still cancelled).
fn map_cancel_remaining_case(bounded: bool) -> (usize, bool) {
    let pool = common::pool(1);
    let drops = Arc::new(AtomicUsize::new(0));
    let (staged, f) = Staged::new(1, move |_| Some(Tracked::panicking(&drops)));
    let options = if bounded {
        MapOptions::new().buffer_size(NonZeroUsize::new(4).unwrap())
    } else {
        MapOptions::new()
    };
    let mut map = pool.map_with(f, 0..4_usize, options).unwrap();
    staged.wait_blocked(); // item 0 done, item 1 running
    let escaped = catch_unwind(AssertUnwindSafe(|| map.cancel_remaining())).is_err();
    drop(map);
    (staged.finish(&pool), escaped)
}

#[test]
fn map_cancel_remaining_with_a_panicking_result_drop() {
    let (ran, escaped) = no_hang("map cancel_remaining", || map_cancel_remaining_case(false));
    assert_eq!(
        ran, 0,
        "items queued behind the panicking result still ran (escaped panic: {escaped})"
    );
    assert!(
        !escaped,
        "a result's panicking Drop escaped Map::cancel_remaining"
    );
}

#[test]
fn bounded_map_cancel_remaining_with_a_panicking_result_drop() {
    let (ran, escaped) = no_hang("bounded map cancel_remaining", || {
        map_cancel_remaining_case(true)
    });
    assert_eq!(
        ran, 0,
        "items queued behind the panicking result still ran (escaped panic: {escaped})"
    );
    assert!(
        !escaped,
        "a result's panicking Drop escaped Map::cancel_remaining"
    );
}

/// Dropping a started Map (after one `next`) whose next finished result has a
/// panicking Drop: the jobs behind it must still be cancelled.
#[test]
fn dropping_a_started_map_with_a_panicking_result_drop() {
    let (ran, escaped) = no_hang("map drop", || {
        let pool = common::pool(1);
        let drops = Arc::new(AtomicUsize::new(0));
        let (staged, f) = Staged::new(2, move |i| (i == 1).then(|| Tracked::panicking(&drops)));
        let mut map = pool.map(f, 0..6_usize).unwrap();
        assert!(map.next().unwrap().unwrap().is_none()); // iteration began
        staged.wait_blocked(); // 1 done, 2 running
        let escaped = catch_unwind(AssertUnwindSafe(|| drop(map))).is_err();
        (staged.finish(&pool), escaped)
    });
    assert_eq!(
        ran, 0,
        "items 3.. still ran after the Map was dropped (escaped panic: {escaped})"
    );
    assert!(!escaped, "a result's panicking Drop escaped Map's drop");
}

/// AsyncExecutor::map stream: same with cancel_remaining.
#[test]
fn map_stream_cancel_remaining_with_a_panicking_result_drop() {
    let (ran, escaped) = no_hang("stream cancel_remaining", || {
        let pool = common::pool(1);
        let executor = concurrent_futures::AsyncExecutor::new(pool.clone());
        let drops = Arc::new(AtomicUsize::new(0));
        let (staged, f) = Staged::new(1, move |_| Some(Tracked::panicking(&drops)));
        let mut stream = executor.map(f, 0..4_usize).unwrap();
        staged.wait_blocked();
        let escaped = catch_unwind(AssertUnwindSafe(|| stream.cancel_remaining())).is_err();
        drop(stream);
        (staged.finish(&pool), escaped)
    });
    assert_eq!(
        ran, 0,
        "items queued behind the panicking result still ran (escaped panic: {escaped})"
    );
    assert!(
        !escaped,
        "a result's panicking Drop escaped MapStream::cancel_remaining"
    );
}

/// A scope whose queued jobs are cancelled by shutdown(CancelFutures::Yes) while one queued
/// closure panics in Drop: every other job reports Cancelled, the scope
/// returns, shutdown does not panic.
#[test]
fn scope_with_shutdown_cancel_and_a_panicking_closure_drop() {
    no_hang("scope cancel", || {
        let pool = ThreadPoolExecutor::builder()
            .max_workers(1)
            .build()
            .unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let borrowed = vec![1, 2, 3];
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let result = scope(&pool, |s| {
            let _busy = s
                .submit(move || {
                    started_tx.send(()).unwrap();
                    let _ = release_rx.recv();
                })
                .unwrap();
            started_rx.recv().unwrap();
            let mut queued = Vec::new();
            for i in 0..3 {
                let t = if i == 1 {
                    Tracked::panicking(&drops)
                } else {
                    Tracked::counting(&drops)
                };
                let b = &borrowed;
                queued.push(
                    s.submit(move || {
                        let _t = &t;
                        b.len()
                    })
                    .unwrap(),
                );
            }
            let escaped = catch_unwind(AssertUnwindSafe(|| {
                pool.shutdown_nowait(CancelFutures::Yes)
            }))
            .is_err();
            release_tx.send(()).unwrap();
            (
                escaped,
                queued.iter().map(|f| f.is_cancelled()).collect::<Vec<_>>(),
            )
        });
        let (escaped, cancelled) = result.unwrap();
        assert!(!escaped, "shutdown_nowait(CancelFutures::Yes) panicked");
        assert_eq!(cancelled, [true, true, true]);
        assert_eq!(common::count(&drops), 3);
    });
}

/// A done callback that panics, on a queued job cancelled by shutdown(CancelFutures::Yes).
#[test]
fn shutdown_cancel_with_a_panicking_callback() {
    no_hang("callback cancel", || {
        let pool = ThreadPoolExecutor::builder()
            .max_workers(1)
            .build()
            .unwrap();
        let (release, _busy) = common::gated(&pool, || ());
        let (tx, rx) = mpsc::channel();
        for i in 0..3 {
            let f = pool.submit(|| ()).unwrap();
            let tx = tx.clone();
            f.on_done(move |outcome| {
                tx.send((i, outcome.map_err(|e| e.is_cancelled()))).unwrap();
                if i == 1 {
                    panic!("callback panics");
                }
            });
        }
        drop(tx);
        let escaped = catch_unwind(AssertUnwindSafe(|| {
            pool.shutdown_nowait(CancelFutures::Yes)
        }))
        .is_err();
        drop(release);
        pool.shutdown(CancelFutures::No);
        let mut seen: Vec<_> = rx.iter().collect();
        seen.sort_by_key(|x| x.0);
        assert!(!escaped);
        assert_eq!(seen, [(0, Err(true)), (1, Err(true)), (2, Err(true))]);
    });
}

/// Thread pool parity with the process pool: a callback that panics with a
/// payload whose Drop panics, on the worker and in shutdown's cancel loop.
#[test]
fn thread_pool_callbacks_with_panicking_payloads() {
    no_hang("pool payload", || {
        let pool = ThreadPoolExecutor::builder()
            .max_workers(1)
            .build()
            .unwrap();
        let (release, busy) = common::gated(&pool, || ());
        busy.on_done(|_| std::panic::panic_any(common::PanickingPayload));
        let (tx, rx) = mpsc::channel();
        for i in 0..3 {
            let f = pool.submit(|| ()).unwrap();
            let tx = tx.clone();
            f.on_done(move |outcome| {
                tx.send((i, outcome.map_err(|e| e.is_cancelled()))).unwrap();
                if i == 0 {
                    std::panic::panic_any(common::PanickingPayload);
                }
            });
        }
        drop(tx);
        let escaped = catch_unwind(AssertUnwindSafe(|| {
            pool.shutdown_nowait(CancelFutures::Yes)
        }))
        .is_err();
        drop(release);
        pool.shutdown(CancelFutures::No);
        let mut seen: Vec<_> = rx.iter().collect();
        seen.sort_by_key(|x| x.0);
        assert!(!escaped);
        assert_eq!(seen, [(0, Err(true)), (1, Err(true)), (2, Err(true))]);
    });
}

/// A job that panics with a payload whose Drop panics, in a map that is then
/// cancelled: the Panicked outcome's payload is dropped inside Feed::cancel.
#[test]
fn map_cancel_remaining_with_a_panicked_job_whose_payload_panics() {
    let (ran, escaped) = no_hang("map payload", || {
        let pool = common::pool(1);
        let (staged, f) = Staged::new(1, |_| -> () {
            std::panic::panic_any(common::PanickingPayload)
        });
        let mut map = pool.map(f, 0..4_usize).unwrap();
        staged.wait_blocked();
        let escaped = catch_unwind(AssertUnwindSafe(|| map.cancel_remaining())).is_err();
        drop(map);
        (staged.finish(&pool), escaped)
    });
    assert_eq!(ran, 0, "escaped: {escaped}");
    assert!(!escaped);
}

//! Panics in foreign code that runs on a pool worker: each leaves the pool
//! usable, loses no value, and leaks no worker thread. (Panicking closures,
//! initializers and done callbacks are covered in `thread_pool.rs` and
//! `callbacks_and_tokens.rs`.)

mod common;

use concurrent_futures::CancelFutures;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Wake, Waker};

use common::{Tracked, gated};
use concurrent_futures::Executor;

#[test]
fn a_panicking_wake_on_the_worker() {
    struct PanickyWake;
    impl Wake for PanickyWake {
        fn wake(self: Arc<Self>) {
            panic!("wake exploded on the worker");
        }
    }
    let pool = common::pool(1);
    let (release, mut future) = gated(&pool, || 21 * 2);
    let waker = Waker::from(Arc::new(PanickyWake));
    assert!(
        Pin::new(&mut future)
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    release.send(()).unwrap();
    // The worker published the value, then the wake panicked on the worker.
    assert_eq!(future.wait().unwrap(), 42, "the value was delivered");
    assert_eq!(
        pool.submit(|| 7).unwrap().wait().unwrap(),
        7,
        "the worker kept serving"
    );
    assert_eq!(pool.worker_count(), 1);
    pool.shutdown(CancelFutures::No);
    assert_eq!(pool.worker_count(), 0, "no worker thread left");
}

#[test]
fn a_panicking_drop_of_an_undelivered_value_on_the_worker() {
    let drops = Arc::new(AtomicUsize::new(0));
    let pool = common::pool(1);
    let value_drops = Arc::clone(&drops);
    let (release, future) = gated(&pool, move || Tracked::panicking(&value_drops));
    drop(future); // nobody will take the value: the worker drops it
    release.send(()).unwrap();
    assert_eq!(
        pool.submit(|| 7).unwrap().wait().unwrap(),
        7,
        "the worker kept serving"
    );
    assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped exactly once");
    pool.shutdown(CancelFutures::No);
    assert_eq!(pool.worker_count(), 0, "no worker thread left");
}

#[test]
fn a_panicking_drop_of_a_cancelled_closure_on_the_worker() {
    let drops = Arc::new(AtomicUsize::new(0));
    let pool = common::pool(1);
    let (release, blocker) = gated(&pool, || ());
    let capture = Tracked::panicking(&drops);
    let queued = pool.submit(move || drop(capture)).unwrap();
    assert!(queued.cancel()); // the worker will find it cancelled and drop it unrun
    release.send(()).unwrap();
    assert_eq!(
        pool.submit(|| 7).unwrap().wait().unwrap(),
        7,
        "the worker kept serving"
    );
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert!(blocker.is_done());
    pool.shutdown(CancelFutures::No);
    assert_eq!(pool.worker_count(), 0);
}

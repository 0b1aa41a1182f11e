//! A waiter left in a future's slot (a task's waker, a blocked thread, a done
//! callback, a fan-in) is dropped exactly once, whatever the order of
//! registration, completion, cancellation and drops: the cell's `free` reads
//! it out and drops it after the memory is freed (`src/cell/raw.rs`). Public
//! API only.

mod common;

use concurrent_futures::CancelFutures;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};

use concurrent_futures::{
    AsyncExecutor, Error, Executor, InlineExecutor, Job, Map, MapOptions, SharedFuture,
    ThreadPoolExecutor, promise,
};

/// Futures in the fan-in and map cases: thousands natively, a dozen under
/// Miri.
const BIG: usize = if cfg!(miri) { 12 } else { 3000 };

/// A waker whose clones are counted by its `Arc`'s strong count.
struct CountingWaker {
    wakes: AtomicUsize,
    drops: Arc<AtomicUsize>,
    panic_on_drop: bool,
}
impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }
}
impl Drop for CountingWaker {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
        if self.panic_on_drop && !std::thread::panicking() {
            panic!("deliberate panic in the waker's drop");
        }
    }
}
fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let w = Arc::new(CountingWaker {
        wakes: AtomicUsize::new(0),
        drops: Arc::new(AtomicUsize::new(0)),
        panic_on_drop: false,
    });
    (Arc::clone(&w), Waker::from(Arc::clone(&w)))
}
fn poll_once<T>(future: &mut SharedFuture<T>, waker: &Waker) -> Poll<Result<T, Error>> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

#[test]
fn waker_registered_then_consumer_dropped_then_completed() {
    let (w, waker) = counting_waker();
    let (producer, mut future) = promise::<u32>();
    assert!(poll_once(&mut future, &waker).is_pending());
    drop(waker);
    assert_eq!(Arc::strong_count(&w), 2, "one clone in the slot");
    drop(future);
    let _ = producer.set_result(1);
    assert_eq!(Arc::strong_count(&w), 1);
    assert_eq!(w.wakes.load(SeqCst), 0);
}

#[test]
fn waker_registered_then_completed_then_consumer_dropped() {
    let (w, waker) = counting_waker();
    let (producer, mut future) = promise::<u32>();
    assert!(poll_once(&mut future, &waker).is_pending());
    producer.set_result(1).unwrap();
    assert_eq!(w.wakes.load(SeqCst), 1);
    assert_eq!(Arc::strong_count(&w), 2, "only ours and the test's waker");
    drop(future); // outcome untaken: dropped in free
    drop(waker);
    assert_eq!(Arc::strong_count(&w), 1);
}

#[test]
fn waker_registered_then_completed_then_taken() {
    let (w, waker) = counting_waker();
    let (producer, mut future) = promise::<Vec<u8>>();
    assert!(poll_once(&mut future, &waker).is_pending());
    producer.set_result(vec![1, 2, 3]).unwrap();
    assert!(matches!(poll_once(&mut future, &waker), Poll::Ready(Ok(v)) if v == [1, 2, 3]));
    drop(future);
    drop(waker);
    assert_eq!(Arc::strong_count(&w), 1);
    assert_eq!(w.wakes.load(SeqCst), 1);
}

#[test]
fn waker_replaced_then_producer_dropped() {
    let (w1, waker1) = counting_waker();
    let (w2, waker2) = counting_waker();
    let (producer, mut future) = promise::<String>();
    assert!(poll_once(&mut future, &waker1).is_pending());
    assert!(poll_once(&mut future, &waker2).is_pending());
    assert!(poll_once(&mut future, &waker2).is_pending());
    drop(producer); // abandoned: wakes the registered waker
    assert!(matches!(
        poll_once(&mut future, &waker1),
        Poll::Ready(Err(Error::Abandoned))
    ));
    drop(future);
    drop((waker1, waker2));
    assert_eq!(Arc::strong_count(&w1), 1);
    assert_eq!(Arc::strong_count(&w2), 1);
    assert_eq!(w1.wakes.load(SeqCst) + w2.wakes.load(SeqCst), 1);
}

#[test]
fn waker_registered_then_cancelled() {
    let (w, waker) = counting_waker();
    let (mut producer, mut future) = promise::<u32>();
    assert!(poll_once(&mut future, &waker).is_pending());
    assert!(future.cancel());
    assert!(matches!(
        poll_once(&mut future, &waker),
        Poll::Ready(Err(Error::Cancelled))
    ));
    assert!(!producer.set_running_or_notify_cancel());
    drop(producer);
    drop(future);
    drop(waker);
    assert_eq!(Arc::strong_count(&w), 1);
}

#[test]
fn waker_whose_drop_panics_left_in_the_slot() {
    // The consumer registers, drops the future (its waker may stay in the
    // slot), and the last clone of the waker is the slot's: dropping it in
    // `free` panics. The cell must be freed anyway (Miri's leak check).
    let drops = Arc::new(AtomicUsize::new(0));
    let waker = Waker::from(Arc::new(CountingWaker {
        wakes: AtomicUsize::new(0),
        drops: Arc::clone(&drops),
        panic_on_drop: true,
    }));
    let (producer, mut future) = promise::<Vec<u8>>();
    assert!(poll_once(&mut future, &waker).is_pending());
    let unwound = catch_unwind(AssertUnwindSafe(move || {
        drop(waker);
        drop(future);
        let _ = producer.set_result(vec![7]);
    }));
    assert!(unwound.is_err());
    assert_eq!(drops.load(SeqCst), 1);
}

#[test]
fn thread_waiter_timed_out_then_consumer_dropped_then_completed() {
    let (producer, mut future) = promise::<Vec<u8>>();
    assert!(matches!(
        future.wait_timeout(std::time::Duration::from_millis(1)),
        Err(Error::Timeout)
    ));
    drop(future);
    assert!(producer.set_result(vec![1]).is_err());
}

#[test]
fn thread_waiter_timed_out_then_completed_then_taken() {
    let (producer, mut future) = promise::<Vec<u8>>();
    assert!(matches!(
        future.wait_timeout(std::time::Duration::from_millis(1)),
        Err(Error::Timeout)
    ));
    producer.set_result(vec![1]).unwrap();
    assert_eq!(future.wait().unwrap(), vec![1]);
}

#[test]
fn thread_waiter_woken_by_another_thread() {
    for _ in 0..if cfg!(miri) { 3 } else { 200 } {
        let (producer, mut future) = promise::<Vec<u8>>();
        let t = std::thread::spawn(move || producer.set_result(vec![2]).unwrap());
        assert_eq!(future.wait().unwrap(), vec![2]);
        t.join().unwrap();
    }
}

#[test]
fn on_done_callback_dropped_once_on_every_path() {
    struct Guard(Arc<AtomicUsize>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let callback = |expect_ok: bool| {
        let guard = Guard(Arc::clone(&drops));
        let ran = Arc::clone(&ran);
        move |outcome: Result<Vec<u8>, Error>| {
            let _g = &guard;
            assert_eq!(outcome.is_ok(), expect_ok, "{outcome:?}");
            ran.fetch_add(1, SeqCst);
        }
    };
    // registered before completion
    let (producer, future) = promise::<Vec<u8>>();
    future.on_done(callback(true));
    producer.set_result(vec![1]).unwrap();
    // registered after completion
    let (producer, future) = promise::<Vec<u8>>();
    producer.set_result(vec![1]).unwrap();
    future.on_done(callback(true));
    // producer abandoned
    let (producer, future) = promise::<Vec<u8>>();
    future.on_done(callback(false));
    drop(producer);
    // cancelled job
    let (job, future) = Job::new(|| vec![1_u8]);
    future.cancel();
    future.on_done(callback(false));
    job.run();
    // job dropped unrun
    let (job, future) = Job::new(|| vec![1_u8]);
    future.on_done(callback(false));
    drop(job);
    // pool shutdown with cancel_futures cancels a queued job with a callback
    let pool = common::pool(1);
    let (release, _gated) = common::gated(&pool, || ());
    pool.submit(|| vec![1_u8]).unwrap().on_done(callback(false));
    pool.submit(|| vec![1_u8]).unwrap().on_done(callback(false));
    pool.shutdown_nowait(CancelFutures::Yes);
    release.send(()).unwrap();
    pool.shutdown(CancelFutures::No);
    // callback runs on a worker
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    for _ in 0..if cfg!(miri) { 2 } else { 100 } {
        pool.submit(|| vec![1_u8]).unwrap().on_done(callback(true));
    }
    pool.shutdown(CancelFutures::No);
    let expected = 7 + if cfg!(miri) { 2 } else { 100 };
    assert_eq!(ran.load(SeqCst), expected);
    assert_eq!(drops.load(SeqCst), expected);
}

#[test]
fn fan_in_wait_and_as_completed_then_drop() {
    use concurrent_futures::{ReturnWhen, as_completed, wait};
    let pool = common::pool(2);
    let (release, _gated) = common::gated(&pool, || ());
    // wait: first completed, some still pending (registered) when dropped
    let (p1, f1) = promise::<Vec<u8>>();
    let (p2, f2) = promise::<Vec<u8>>();
    let mut futures = vec![f1, f2];
    p1.set_result(vec![1]).unwrap();
    let _ = wait(&mut futures, None, ReturnWhen::FirstCompleted);
    drop(futures);
    let _ = p2.set_result(vec![2]);
    // as_completed with a timeout that expires, then everything dropped
    let (p3, f3) = promise::<Vec<u8>>();
    let (p4, f4) = promise::<Vec<u8>>();
    let mut it = as_completed([f3, f4], Some(std::time::Duration::from_millis(1)));
    let _ = it.next();
    drop(it);
    let _ = p3.set_result(vec![3]);
    drop(p4);
    // as_completed over pool jobs, dropped midway
    let futures: Vec<_> = (0..4)
        .map(|i| pool.submit(move || vec![i as u8]).unwrap())
        .collect();
    let mut it = as_completed(futures, None);
    release.send(()).unwrap();
    let _ = it.next();
    drop(it);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn race_register_drop_complete() {
    // A consumer polls with a counting waker and drops (or takes) while the
    // producer completes on another thread: the waker must end up dropped
    // exactly once whichever side got there first.
    let rounds = if cfg!(miri) { 4 } else { 2000 };
    let (w, waker) = counting_waker();
    for round in 0..rounds {
        let (producer, mut future) = promise::<Vec<u8>>();
        let barrier = Arc::new(Barrier::new(2));
        let b = Arc::clone(&barrier);
        let t = std::thread::spawn(move || {
            b.wait();
            let _ = producer.set_result(vec![1]);
        });
        barrier.wait();
        let _ = poll_once(&mut future, &waker);
        if round % 2 == 0 {
            drop(future);
        } else {
            let _ = poll_once(&mut future, &waker);
            let _ = future.try_take();
            drop(future);
        }
        t.join().unwrap();
    }
    drop(waker);
    assert_eq!(Arc::strong_count(&w), 1);
}

// ------------------------------------------------ odd layouts, auto traits

#[test]
fn over_aligned_and_zero_sized_functions() {
    #[repr(align(4096))]
    struct Big([u8; 4096]);
    let big = Big([7; 4096]);
    let inline = InlineExecutor::new();
    let got: Vec<usize> = Map::new(
        &inline,
        move |x: usize| {
            assert_eq!((&big as *const Big as usize) % 4096, 0);
            x + usize::from(big.0[x % 4096])
        },
        0..if cfg!(miri) { 3 } else { 1100 },
        MapOptions::new(),
    )
    .unwrap()
    .map(Result::unwrap)
    .collect();
    assert_eq!(got[2], 9);

    fn double(x: usize) -> usize {
        x * 2
    }
    let pool = common::pool(2);
    let got: Vec<usize> = pool
        .map(double, 0..BIG)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got.len(), BIG);
    let got: Vec<usize> = pool
        .map(|x: usize| x, 0..BIG)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got.len(), BIG);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn map_and_stream_stay_send_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let pool = common::pool(1);
    let map = pool.map(|x| x, 0..3_usize).unwrap();
    send_sync(&map);
    drop(map);
    let executor = AsyncExecutor::new(pool.clone());
    let stream = executor.map(|x| x, 0..3_usize).unwrap();
    send_sync(&stream);
    drop(stream);
    pool.shutdown(CancelFutures::No);
}

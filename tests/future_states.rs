//! The `SharedFuture`/`Promise` state machine, ported from CPython's
//! `Lib/test/test_concurrent_futures/test_future.py` (`FutureTests`) where it
//! applies, plus the waker protocol of the `Future` impl.
//!
//! Ported: `test_cancel`, `test_cancelled`, `test_done`, `test_running`,
//! `test_result_with_timeout`, `test_result_with_success`,
//! `test_result_with_cancel`, `test_exception_with_timeout`,
//! `test_exception_with_success`. Python-only: `test_repr`, `test_get_snapshot`,
//! the done-callback tests (no callbacks yet), and
//! `test_multiple_set_result`/`_exception` (`set_result` consumes the
//! producer: a second call does not compile).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};
use std::time::{Duration, Instant};

use concurrent_futures::{Error, Promise, SharedFuture, State, UndeliveredReason, promise};

/// CPython's fixtures: futures in each state, with live producers where needed.
fn pending() -> (Promise<u32>, SharedFuture<u32>) {
    promise()
}
fn running() -> (Promise<u32>, SharedFuture<u32>) {
    let (mut producer, future) = promise();
    assert!(producer.set_running_or_notify_cancel());
    (producer, future)
}
fn cancelled() -> (Promise<u32>, SharedFuture<u32>) {
    let (producer, future) = promise();
    assert!(future.cancel());
    (producer, future)
}
fn exception() -> SharedFuture<u32> {
    let (producer, future) = promise();
    producer.set_panic(Box::new("OSError")).unwrap();
    future
}
fn successful() -> SharedFuture<u32> {
    let (producer, future) = promise();
    producer.set_result(42).unwrap();
    future
}

#[test]
fn cancel_follows_pythons_rule() {
    let (_p, f) = pending();
    assert!(f.cancel());
    assert_eq!(f.state(), State::Cancelled);
    let (_p, f) = running();
    assert!(!f.cancel());
    assert_eq!(f.state(), State::Running);
    let (_p, f) = cancelled();
    assert!(f.cancel(), "cancelling a cancelled future returns true");
    assert!(!exception().cancel());
    assert!(!successful().cancel());
    let (producer, f) = pending();
    drop(producer);
    assert!(!f.cancel(), "an abandoned future is done");
}

#[test]
fn queries_in_every_state() {
    let (_p1, p) = pending();
    let (_p2, r) = running();
    let (_p3, c) = cancelled();
    let (e, s) = (exception(), successful());
    // (future, running, cancelled, done, pending)
    let table: [(&SharedFuture<u32>, bool, bool, bool, bool); 5] = [
        (&p, false, false, false, true),
        (&r, true, false, false, false),
        (&c, false, true, true, false),
        (&e, false, false, true, false),
        (&s, false, false, true, false),
    ];
    for (future, running, cancelled, done, pending) in table {
        assert_eq!(future.is_running(), running, "{future:?}");
        assert_eq!(future.is_cancelled(), cancelled, "{future:?}");
        assert_eq!(future.is_done(), done, "{future:?}");
        assert_eq!(future.is_pending(), pending, "{future:?}");
    }
    assert_eq!(format!("{s:?}"), "SharedFuture { state: Finished }");
}

#[test]
fn set_running_or_notify_cancel() {
    let (mut producer, future) = pending();
    assert!(producer.set_running_or_notify_cancel());
    assert!(
        producer.set_running_or_notify_cancel(),
        "idempotent while running"
    );
    assert_eq!(future.state(), State::Running);
    let (mut producer, future) = cancelled();
    assert!(!producer.set_running_or_notify_cancel());
    assert!(producer.is_cancelled());
    assert_eq!(future.state(), State::Cancelled);
}

#[test]
fn result_with_timeout() {
    let (_p, mut f) = pending();
    assert!(matches!(
        f.wait_timeout(Duration::ZERO),
        Err(Error::Timeout)
    ));
    let (_p, mut f) = running();
    assert!(matches!(
        f.wait_timeout(Duration::from_millis(1)),
        Err(Error::Timeout)
    ));
    assert!(f.is_running(), "a timeout leaves the future usable");
    let (_p, mut f) = cancelled();
    assert!(matches!(
        f.wait_timeout(Duration::ZERO),
        Err(Error::Cancelled)
    ));
    match exception().wait_timeout(Duration::ZERO) {
        Err(Error::Panicked(panic)) => assert_eq!(panic.message(), Some("OSError")),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(successful().wait_timeout(Duration::ZERO).unwrap(), 42);
    let (_p, mut f) = pending();
    assert!(matches!(
        f.wait_deadline(Instant::now() - Duration::from_secs(1)),
        Err(Error::Timeout)
    ));
    // A timeout too long to represent means no timeout.
    assert_eq!(successful().wait_timeout(Duration::MAX).unwrap(), 42);
}

#[test]
fn result_with_success_from_another_thread() {
    let (producer, mut future) = pending();
    let (go, gate) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        gate.recv().unwrap();
        producer.set_result(42).unwrap();
    });
    go.send(()).unwrap();
    assert_eq!(future.wait_timeout(Duration::from_secs(60)).unwrap(), 42);
    thread.join().unwrap();
}

#[test]
fn result_with_cancel_from_another_thread() {
    // Python cancels the future from a second thread while `result()` waits. Here
    // the waiter holds the consumer exclusively, so "someone else" cancelling is
    // the producer side (what an executor shutdown does).
    let (producer, mut future) = pending();
    let (go, gate) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        gate.recv().unwrap();
        producer.set_cancelled();
    });
    go.send(()).unwrap();
    assert!(matches!(future.wait(), Err(Error::Cancelled)));
    thread.join().unwrap();
}

#[test]
fn exception_with_success_from_another_thread() {
    let (producer, mut future) = pending();
    let thread = std::thread::spawn(move || {
        producer
            .set_panic(Box::new(String::from("failure")))
            .unwrap()
    });
    match future.wait() {
        Err(error @ Error::Panicked(_)) => {
            assert_eq!(error.to_string(), "the job panicked: failure");
            assert!(error.is_panicked());
        }
        other => panic!("unexpected {other:?}"),
    }
    thread.join().unwrap();
}

#[test]
fn abandoned_when_the_producer_is_dropped() {
    let (producer, mut future) = running();
    let thread = std::thread::spawn(move || drop(producer));
    assert!(matches!(future.wait(), Err(Error::Abandoned)));
    thread.join().unwrap();
    assert_eq!(future.state(), State::Finished);
}

#[test]
fn outcome_is_yielded_once() {
    let mut future = successful();
    assert_eq!(future.try_take().unwrap().unwrap(), 42);
    assert!(matches!(future.try_take(), Some(Err(Error::AlreadyTaken))));
    assert!(matches!(future.wait(), Err(Error::AlreadyTaken)));
    // Cancelled keeps reporting Cancelled.
    let (_p, mut f) = cancelled();
    assert!(matches!(f.try_take(), Some(Err(Error::Cancelled))));
    assert!(matches!(f.try_take(), Some(Err(Error::Cancelled))));
}

#[test]
fn undelivered_answers_are_handed_back() {
    let (producer, future) = cancelled();
    drop(future);
    let undelivered = producer.set_result(5).unwrap_err();
    assert_eq!(undelivered.reason(), UndeliveredReason::Cancelled);
    assert_eq!(
        undelivered.to_string(),
        "answer not delivered: the future was cancelled"
    );
    assert_eq!(undelivered.into_inner(), 5);

    let (producer, future) = pending();
    drop(future);
    assert!(producer.is_consumer_dropped() && producer.is_stop_requested());
    let undelivered = producer.set_panic(Box::new(1_u8)).unwrap_err();
    assert_eq!(undelivered.reason(), UndeliveredReason::ConsumerDropped);
    assert_eq!(*undelivered.into_inner().downcast::<u8>().unwrap(), 1);
}

#[test]
fn error_messages() {
    assert_eq!(Error::Cancelled.to_string(), "the future was cancelled");
    assert_eq!(
        Error::Abandoned.to_string(),
        "the producer was dropped without an answer"
    );
    assert_eq!(
        Error::AlreadyTaken.to_string(),
        "the future's outcome was already taken"
    );
    assert_eq!(
        Error::Timeout.to_string(),
        "timed out waiting for the future"
    );
    // Errors can be boxed into the usual error trait objects.
    let boxed: Box<dyn std::error::Error + Send + Sync> =
        Box::new(exception().try_take().unwrap().unwrap_err());
    assert!(boxed.to_string().contains("OSError"));
}

#[test]
fn handles_are_one_pointer_and_thread_safe() {
    assert_eq!(size_of::<SharedFuture<u64>>(), size_of::<usize>());
    assert_eq!(size_of::<Promise<u64>>(), size_of::<usize>());
    assert_eq!(
        size_of::<Option<SharedFuture<[u8; 1024]>>>(),
        size_of::<usize>()
    );
    fn send_sync<T: Send + Sync>() {}
    send_sync::<SharedFuture<String>>();
    send_sync::<Promise<String>>();
    send_sync::<Error>();
    fn unpin<T: Unpin>() {}
    unpin::<SharedFuture<std::marker::PhantomPinned>>();
}

// ------------------------------------------------------------------- wakers

/// Counts what is done to a waker: clones, wakes, and drops of every handle.
#[derive(Default)]
struct Counts {
    wakes: AtomicUsize,
    clones: AtomicUsize,
    drops: AtomicUsize,
}

/// A waker whose every clone, wake and drop is counted; each handle owns one
/// strong count of the `Arc<Counts>`.
fn counting_waker() -> (Waker, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let data = Arc::into_raw(Arc::clone(&counts)).cast::<()>();
    // SAFETY: `data` is an `Arc<Counts>` strong count, owned by this waker,
    // and the vtable's functions keep that contract.
    let waker = unsafe { Waker::from_raw(RawWaker::new(data, &COUNTING)) };
    (waker, counts)
}

static COUNTING: RawWakerVTable = RawWakerVTable::new(
    counting_clone,
    counting_wake,
    counting_wake_by_ref,
    counting_drop,
);

/// # Safety
///
/// `data` is an `Arc<Counts>` strong count owned by a waker handle.
unsafe fn counting_clone(data: *const ()) -> RawWaker {
    // SAFETY: the caller's contract; the new handle owns a new strong count.
    unsafe { Arc::increment_strong_count(data.cast::<Counts>()) };
    // SAFETY: as above; the count is alive while this handle is.
    unsafe { &*data.cast::<Counts>() }
        .clones
        .fetch_add(1, Ordering::SeqCst);
    RawWaker::new(data, &COUNTING)
}

/// # Safety
///
/// As for `counting_clone`; consumes the handle.
unsafe fn counting_wake(data: *const ()) {
    // SAFETY: forwarded.
    unsafe {
        counting_wake_by_ref(data);
        counting_drop(data);
    }
}

/// # Safety
///
/// As for `counting_clone`.
unsafe fn counting_wake_by_ref(data: *const ()) {
    // SAFETY: the caller's contract.
    unsafe { &*data.cast::<Counts>() }
        .wakes
        .fetch_add(1, Ordering::SeqCst);
}

/// # Safety
///
/// As for `counting_clone`; consumes the handle.
unsafe fn counting_drop(data: *const ()) {
    // SAFETY: the caller's contract: this handle's strong count, released once.
    let counts = unsafe { Arc::from_raw(data.cast::<Counts>()) };
    counts.drops.fetch_add(1, Ordering::SeqCst);
}

fn poll<T>(future: &mut SharedFuture<T>, waker: &Waker) -> Poll<Result<T, Error>> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

fn ready_value<T: std::fmt::Debug>(polled: Poll<Result<T, Error>>) -> T {
    match polled {
        Poll::Ready(Ok(value)) => value,
        other => panic!("expected a value, got {other:?}"),
    }
}

#[test]
fn completion_wakes_the_registered_waker_once() {
    let (producer, mut future) = pending();
    let (waker, counts) = counting_waker();
    assert!(poll(&mut future, &waker).is_pending());
    assert_eq!(
        counts.clones.load(Ordering::SeqCst),
        1,
        "the slot holds a clone"
    );
    assert!(
        poll(&mut future, &waker).is_pending(),
        "a re-poll with the same waker"
    );
    assert_eq!(
        counts.clones.load(Ordering::SeqCst),
        1,
        "the same waker is not cloned again"
    );
    producer.set_result(7).unwrap();
    assert_eq!(counts.wakes.load(Ordering::SeqCst), 1, "woken exactly once");
    assert_eq!(ready_value(poll(&mut future, &waker)), 7);
    drop(waker);
    drop(future);
    assert_eq!(
        Arc::strong_count(&counts),
        1,
        "every clone of the waker was dropped"
    );
}

#[test]
fn a_repoll_with_a_new_waker_is_honoured() {
    let (producer, mut future) = pending();
    let (first, first_counts) = counting_waker();
    let (second, second_counts) = counting_waker();
    assert!(poll(&mut future, &first).is_pending());
    assert!(poll(&mut future, &second).is_pending());
    drop(first);
    assert_eq!(
        Arc::strong_count(&first_counts),
        1,
        "the replaced waker was dropped"
    );
    producer.set_result(1).unwrap();
    assert_eq!(first_counts.wakes.load(Ordering::SeqCst), 0);
    assert_eq!(second_counts.wakes.load(Ordering::SeqCst), 1);
    assert_eq!(ready_value(poll(&mut future, &second)), 1);
}

#[test]
fn an_already_done_future_is_ready_on_the_first_poll() {
    let (waker, counts) = counting_waker();
    assert_eq!(ready_value(poll(&mut successful(), &waker)), 42);
    assert_eq!(
        counts.clones.load(Ordering::SeqCst) + counts.wakes.load(Ordering::SeqCst),
        0
    );
}

#[test]
fn dropping_a_waiting_consumer_releases_its_waker() {
    let (producer, mut future) = pending();
    let (waker, counts) = counting_waker();
    assert!(poll(&mut future, &waker).is_pending());
    drop(future);
    drop(waker);
    assert_eq!(
        Arc::strong_count(&counts),
        1,
        "the registered waker was dropped with the consumer"
    );
    assert!(producer.is_consumer_dropped());
    assert!(producer.set_result(3).is_err());
    assert_eq!(counts.wakes.load(Ordering::SeqCst), 0);
}

#[test]
fn cancel_drops_the_registered_waker() {
    let (producer, mut future) = pending();
    let (waker, counts) = counting_waker();
    assert!(poll(&mut future, &waker).is_pending());
    drop(waker);
    assert!(future.cancel());
    assert_eq!(Arc::strong_count(&counts), 1);
    drop(producer);
    assert!(matches!(
        poll(&mut future, &counting_waker().0),
        Poll::Ready(Err(Error::Cancelled))
    ));
}

/// A waker whose `wake` panics: the producer's `set_result` unwinds, but only
/// after the value was delivered and the state machine was done with.
#[test]
fn a_panicking_wake_loses_nothing() {
    struct PanickyWake;
    impl Wake for PanickyWake {
        fn wake(self: Arc<Self>) {
            panic!("wake exploded");
        }
    }
    let (producer, mut future) = pending();
    let waker = Waker::from(Arc::new(PanickyWake));
    assert!(poll(&mut future, &waker).is_pending());
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| producer.set_result(9)));
    assert!(unwound.is_err(), "the waker's panic reaches the producer");
    assert_eq!(
        future.try_take().unwrap().unwrap(),
        9,
        "the value was delivered anyway"
    );
}

/// A waker whose `clone` panics: the poll unwinds before registering, and the
/// future stays usable.
#[test]
fn a_panicking_waker_clone_leaves_the_future_usable() {
    fn clone(_: *const ()) -> RawWaker {
        panic!("clone exploded")
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: the vtable's functions ignore the data pointer.
    let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
    let (producer, mut future) = pending();
    let unwound =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll(&mut future, &waker)));
    assert!(unwound.is_err());
    let (good, counts) = counting_waker();
    assert!(poll(&mut future, &good).is_pending());
    producer.set_result(4).unwrap();
    assert_eq!(counts.wakes.load(Ordering::SeqCst), 1);
    assert_eq!(ready_value(poll(&mut future, &good)), 4);
}

#[test]
fn blocking_wait_and_poll_share_one_protocol() {
    // A thread blocks in `wait` while the producer completes from another
    // thread, many times over: no lost wake-up ever leaves it parked.
    for round in 0..200_u32 {
        let (producer, mut future) = pending();
        let thread = std::thread::spawn(move || producer.set_result(round).unwrap());
        assert_eq!(future.wait().unwrap(), round);
        thread.join().unwrap();
    }
}

/// Each block is freed with the layout it was allocated with, whichever side
/// frees it: over-aligned and large values and closures, freed by the consumer
/// and by the producer (Miri checks the layout of every deallocation).
#[test]
fn blocks_free_with_their_own_layout() {
    use concurrent_futures::Job;

    #[derive(Clone, Copy, PartialEq, Debug)]
    #[repr(align(64))]
    struct Wide([u8; 100]);
    let wide = Wide([7; 100]);

    // promise(): an over-aligned value, the consumer frees after the producer.
    let (producer, mut future) = promise::<Wide>();
    producer.set_result(wide).unwrap();
    assert_eq!(future.wait().unwrap(), wide);
    drop(future);

    // The producer frees after the consumer.
    let (producer, future) = promise::<Wide>();
    drop(future);
    assert!(producer.set_result(wide).is_err());

    // A job whose closure is larger and more aligned than its value, freed by
    // the consumer, then by the job.
    let big = [wide; 4];
    let (job, mut future) = Job::new(move || big[3].0[99]);
    job.run();
    assert_eq!(future.wait().unwrap(), 7);
    drop(future);
    let (job, future) = Job::new(move || big.len());
    drop(future);
    job.run();
    // A cancelled job, and a dropped one.
    let (job, future) = Job::new(move || big.len());
    assert!(future.cancel());
    job.run();
    drop(future);
    let (job, future) = Job::new(move || big.len());
    drop(job);
    assert!(future.is_done());
}

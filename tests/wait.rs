//! `wait` and `as_completed`, ported from CPython's
//! `Lib/test/test_concurrent_futures/test_wait.py` and `test_as_completed.py`.
//!
//! CPython builds fixtures in each state (`PENDING_FUTURE`, `RUNNING_FUTURE`,
//! `CANCELLED_FUTURE`, `CANCELLED_AND_NOTIFIED_FUTURE`, `EXCEPTION_FUTURE`,
//! `SUCCESSFUL_FUTURE`); `Fixtures` below makes the same from `promise()`.
//!
//! One deliberate difference: CPython counts a future cancelled by `cancel()` as
//! not done until its executor "notifies" the cancellation, so
//! `test_first_completed` expects a plain cancelled future in `not_done` (an open
//! CPython bug, gh-92001 / gh-109934: `wait(ALL_COMPLETED)` can hang on such a
//! future). Here a cancelled future is done at once, so those cases expect it in
//! `done` (`cancelled_future_counts_as_done`).
//!
//! Ported: `test_first_completed`, `test_first_completed_some_already_completed`,
//! `test_first_exception`, `test_first_exception_some_already_complete`,
//! `test_first_exception_one_already_failed`, `test_all_completed`,
//! `test_timeout`, `test_pending_calls_race`; `test_no_timeout`,
//! `test_future_times_out`, the portable part of
//! `test_free_reference_yielded_future` (futures completed while iterating are
//! yielded). Python-only: `test_20369` and `test_duplicate_futures` (a future
//! cannot be passed twice: ownership), `test_correct_timeout_exception_msg`
//! (message text; `AsCompleted::into_remaining` gives the count).

use concurrent_futures::CancelFutures;
use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

use concurrent_futures::{
    Error, Executor, Promise, ReturnWhen, SharedFuture, ThreadPoolExecutor, as_completed, promise,
    wait,
};

/// Futures in each of CPython's fixture states; the producers of the pending
/// and running ones are kept alive.
struct Fixtures {
    pending: Vec<Promise<u32>>,
}

impl Fixtures {
    fn new() -> Self {
        Fixtures {
            pending: Vec::new(),
        }
    }
    fn pending(&mut self) -> SharedFuture<u32> {
        let (producer, future) = promise();
        self.pending.push(producer);
        future
    }
    fn running(&mut self) -> SharedFuture<u32> {
        let (mut producer, future) = promise();
        assert!(producer.set_running_or_notify_cancel());
        self.pending.push(producer);
        future
    }
    fn cancelled(&mut self) -> SharedFuture<u32> {
        let future = self.pending();
        assert!(future.cancel());
        future
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
}

fn pool() -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(5)
        .build()
        .unwrap()
}

/// A job that blocks until `release` is dropped or sent to.
fn blocked_job(pool: &ThreadPoolExecutor) -> (mpsc::Sender<()>, SharedFuture<u32>) {
    let (release, blocked) = mpsc::channel::<()>();
    let future = pool
        .submit(move || {
            let _ = blocked.recv();
            7
        })
        .unwrap();
    (release, future)
}

#[test]
fn first_completed() {
    let pool = pool();
    let (release, slow) = blocked_job(&pool);
    let fast = pool.submit(|| 21 * 2).unwrap();
    let mut futures = [fast, slow];
    let waited = wait(&mut futures, None, ReturnWhen::FirstCompleted);
    assert_eq!(waited.done, [0]);
    assert_eq!(waited.not_done, [1]);
    drop(release);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn cancelled_future_counts_as_done() {
    let mut fixtures = Fixtures::new();
    let mut futures = [fixtures.cancelled(), fixtures.pending()];
    let waited = wait(&mut futures, None, ReturnWhen::FirstCompleted);
    assert_eq!(waited.done, [0]);
    assert_eq!(waited.not_done, [1]);
    // ALL_COMPLETED cannot hang on a cancelled future (CPython gh-92001).
    drop(fixtures);
    let waited = wait(&mut futures, None, ReturnWhen::AllCompleted);
    assert_eq!(waited.done, [0, 1]);
}

#[test]
fn first_completed_some_already_completed() {
    let mut fixtures = Fixtures::new();
    let mut futures = [
        fixtures.cancelled(),
        Fixtures::successful(),
        fixtures.pending(),
    ];
    let waited = wait(&mut futures, None, ReturnWhen::FirstCompleted);
    assert_eq!(
        waited.done,
        [0, 1],
        "every future already done is in `done`"
    );
    assert_eq!(waited.not_done, [2]);
}

#[test]
fn first_exception() {
    let pool = pool();
    let (release, slow) = blocked_job(&pool);
    let ok = pool.submit(|| 2 * 21).unwrap();
    let (fail_now, fail_gate) = mpsc::channel::<()>();
    let failing = pool
        .submit(move || -> u32 {
            fail_gate.recv().unwrap();
            panic!("sleep_and_raise")
        })
        .unwrap();
    let mut futures = [ok, failing, slow];
    // The successful one finishes first: a success does not end FIRST_EXCEPTION.
    assert_eq!(
        wait(&mut futures[..1], None, ReturnWhen::AllCompleted).done,
        [0]
    );
    fail_now.send(()).unwrap();
    let waited = wait(&mut futures, None, ReturnWhen::FirstException);
    assert_eq!(waited.done, [0, 1]);
    assert_eq!(waited.not_done, [2]);
    assert!(matches!(
        futures[1].try_take(),
        Some(Err(Error::Panicked(_)))
    ));
    drop(release);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn first_exception_some_already_complete() {
    let mut fixtures = Fixtures::new();
    let pool = pool();
    let (release, slow) = blocked_job(&pool);
    let zero = 0_u32;
    let divide = pool.submit(move || 21 / zero).unwrap(); // panics: division by zero
    let mut futures = [Fixtures::successful(), fixtures.cancelled(), divide, slow];
    let waited = wait(&mut futures, None, ReturnWhen::FirstException);
    // Cancelled futures are done but never count as exceptions.
    assert_eq!(waited.done, [0, 1, 2]);
    assert_eq!(waited.not_done, [3]);
    drop(release);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn first_exception_one_already_failed() {
    let mut fixtures = Fixtures::new();
    let mut futures = [Fixtures::exception(), fixtures.pending()];
    let waited = wait(&mut futures, None, ReturnWhen::FirstException);
    assert_eq!(waited.done, [0]);
    assert_eq!(waited.not_done, [1]);
}

#[test]
fn first_exception_counts_an_abandoned_future() {
    let (producer, abandoned) = promise::<u32>();
    drop(producer);
    let mut fixtures = Fixtures::new();
    let mut futures = [fixtures.pending(), abandoned];
    let waited = wait(&mut futures, None, ReturnWhen::FirstException);
    assert_eq!(waited.done, [1]);
}

#[test]
fn all_completed() {
    let mut fixtures = Fixtures::new();
    let pool = pool();
    let zero = 0_u32;
    let divide = pool.submit(move || 2 / zero).unwrap();
    let multiply = pool.submit(|| 2 * 21).unwrap();
    let mut futures = [
        Fixtures::successful(),
        fixtures.cancelled(),
        Fixtures::exception(),
        divide,
        multiply,
    ];
    let waited = wait(&mut futures, None, ReturnWhen::AllCompleted);
    assert_eq!(waited.done, [0, 1, 2, 3, 4]);
    assert!(waited.not_done.is_empty());
    pool.shutdown(CancelFutures::No);
}

#[test]
fn timeout() {
    let mut fixtures = Fixtures::new();
    let mut futures = [
        fixtures.cancelled(),
        Fixtures::exception(),
        Fixtures::successful(),
        fixtures.running(),
    ];
    let waited = wait(
        &mut futures,
        Some(Duration::from_millis(50)),
        ReturnWhen::AllCompleted,
    );
    assert_eq!(waited.done, [0, 1, 2]);
    assert_eq!(
        waited.not_done,
        [3],
        "a timeout is not an error: wait returns the split"
    );
    // The running future is still usable after the wait deregistered from it.
    drop(fixtures);
    assert!(matches!(futures[3].try_take(), Some(Err(Error::Abandoned))));
}

#[test]
fn zero_timeout_only_checks() {
    let mut fixtures = Fixtures::new();
    let mut futures = [fixtures.pending(), Fixtures::successful()];
    let waited = wait(&mut futures, Some(Duration::ZERO), ReturnWhen::AllCompleted);
    assert_eq!(waited.done, [1]);
    assert_eq!(waited.not_done, [0]);
}

#[test]
fn empty_wait_returns_at_once() {
    let mut none: [SharedFuture<u8>; 0] = [];
    for return_when in [
        ReturnWhen::FirstCompleted,
        ReturnWhen::FirstException,
        ReturnWhen::AllCompleted,
    ] {
        let waited = wait(&mut none, None, return_when);
        assert!(waited.done.is_empty() && waited.not_done.is_empty());
    }
}

/// Python's `threading.Event`.
#[derive(Default)]
struct Event {
    set: Mutex<bool>,
    changed: Condvar,
}

impl Event {
    fn set(&self) {
        *self.set.lock().unwrap() = true;
        self.changed.notify_all();
    }
    fn wait(&self) {
        let mut set = self.set.lock().unwrap();
        while !*set {
            set = self.changed.wait(set).unwrap();
        }
    }
}

#[test]
fn pending_calls_race() {
    // 100 jobs blocked on one event complete at about the moment the waiter
    // registers: no completion may be lost or miscounted.
    let pool = ThreadPoolExecutor::builder()
        .max_workers(10)
        .build()
        .unwrap();
    let event = Arc::new(Event::default());
    let mut futures: Vec<_> = (0..100)
        .map(|i| {
            let event = Arc::clone(&event);
            pool.submit(move || {
                event.wait();
                i
            })
            .unwrap()
        })
        .collect();
    event.set();
    let waited = wait(&mut futures, None, ReturnWhen::AllCompleted);
    assert_eq!(waited.done.len(), 100);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn as_completed_no_timeout() {
    let mut fixtures = Fixtures::new();
    let pool = pool();
    let futures = vec![
        fixtures.cancelled(),
        Fixtures::exception(),
        Fixtures::successful(),
        pool.submit(|| 2 * 21).unwrap(),
        pool.submit(|| 7 * 6).unwrap(),
    ];
    let yielded: HashSet<usize> = as_completed(futures, None)
        .map(|(index, _outcome)| index)
        .collect();
    assert_eq!(yielded, (0..5).collect());
    pool.shutdown(CancelFutures::No);
}

#[test]
fn as_completed_future_times_out() {
    for timeout in [Duration::ZERO, Duration::from_millis(1)] {
        let mut fixtures = Fixtures::new();
        let futures = vec![
            fixtures.cancelled(),
            Fixtures::exception(),
            Fixtures::successful(),
            fixtures.pending(),
        ];
        let mut iter = as_completed(futures, Some(timeout));
        let mut yielded = HashSet::new();
        let mut timed_out = Vec::new();
        for (index, outcome) in iter.by_ref() {
            match outcome {
                Err(Error::Timeout) => timed_out.push(index),
                _ => {
                    assert!(
                        timed_out.is_empty(),
                        "done ones come out before the timeout"
                    );
                    yielded.insert(index);
                }
            }
        }
        assert_eq!(timed_out, [3], "the pending one times out, once");
        assert_eq!(yielded, HashSet::from([0, 1, 2]));
        assert!(iter.into_remaining().is_empty(), "every index was yielded");
    }
}

#[test]
fn as_completed_yields_futures_completed_while_iterating() {
    let mut producers = Vec::new();
    let mut futures = Vec::new();
    for _ in 0..8 {
        let (producer, future) = promise::<usize>();
        producers.push(producer);
        futures.push(future);
    }
    let (first, rest) = {
        let mut producers = producers.into_iter();
        (producers.next().unwrap(), producers.collect::<Vec<_>>())
    };
    first.set_result(0).unwrap();
    let mut rest = rest.into_iter();
    let mut seen = Vec::new();
    for (index, outcome) in as_completed(futures, None) {
        seen.push(outcome.unwrap());
        assert_eq!(index, seen[seen.len() - 1]);
        // Each yield completes the next future, from another thread.
        if let Some(next) = rest.next() {
            let value = seen.len();
            std::thread::spawn(move || next.set_result(value).unwrap());
        }
    }
    assert_eq!(seen, (0..8).collect::<Vec<_>>());
}

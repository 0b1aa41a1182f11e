//! The fan-in behind `wait` and `as_completed`: linear in the number of
//! futures, and woken on the thread that actually waits.
//!
//! Regression tests for issue #13 (1, 2): on the code before the fan-in,
//! `as_completed_yields_a_hundred_thousand_in_completion_order` took minutes
//! in a debug build (every wake-up rescanned every pending future and removed
//! the yielded one from the middle of a `Vec`), and
//! `as_completed_moved_to_another_thread_is_woken_there` parked forever (the
//! completion unparked the thread that built the iterator).

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use concurrent_futures::{Error, Promise, ReturnWhen, SharedFuture, as_completed, promise, wait};

const MANY: usize = 100_000;

fn pairs(n: usize) -> (Vec<Promise<usize>>, Vec<SharedFuture<usize>>) {
    (0..n).map(|_| promise::<usize>()).unzip()
}

/// Futures completed one by one, in reverse input order, by another thread
/// while the iterator waits: each is yielded once, in completion order as far
/// as the iterator could see it (every index exactly once, values matching).
#[test]
fn as_completed_yields_a_hundred_thousand_in_completion_order() {
    let (producers, futures) = pairs(MANY);
    let iter = as_completed(futures, None);
    let completer = thread::spawn(move || {
        for (index, producer) in producers.into_iter().enumerate().rev() {
            producer.set_result(index).unwrap();
        }
    });
    let mut seen = vec![false; MANY];
    let mut count = 0;
    for (index, outcome) in iter {
        assert_eq!(outcome.unwrap(), index);
        assert!(
            !std::mem::replace(&mut seen[index], true),
            "{index} yielded twice"
        );
        count += 1;
    }
    completer.join().unwrap();
    assert_eq!(count, MANY);
}

/// Futures already done are yielded first, in input order, without waiting.
#[test]
fn as_completed_yields_done_futures_in_input_order() {
    let (producers, futures) = pairs(MANY);
    for (index, producer) in producers.into_iter().enumerate() {
        producer.set_result(index).unwrap();
    }
    let order: Vec<usize> = as_completed(futures, None)
        .map(|(index, outcome)| {
            assert_eq!(outcome.unwrap(), index);
            index
        })
        .collect();
    assert!(order.iter().copied().eq(0..MANY));
}

/// `wait(ALL_COMPLETED)` over many futures completed while it waits.
#[test]
fn wait_all_completed_over_a_hundred_thousand() {
    let (producers, mut futures) = pairs(MANY);
    let completer = thread::spawn(move || {
        for (index, producer) in producers.into_iter().enumerate().rev() {
            producer.set_result(index).unwrap();
        }
    });
    let waited = wait(&mut futures, None, ReturnWhen::AllCompleted);
    completer.join().unwrap();
    assert_eq!(waited.done.len(), MANY);
    assert!(waited.not_done.is_empty());
    for (index, future) in futures.iter_mut().enumerate() {
        assert_eq!(future.try_take().unwrap().unwrap(), index);
    }
}

/// `wait(FIRST_COMPLETED)` over many pending futures, one of which completes:
/// only it is done, and every other future is deregistered and still usable.
#[test]
fn wait_first_completed_reports_the_one_that_finished() {
    let (mut producers, mut futures) = pairs(MANY);
    let last = producers.pop().unwrap();
    let completer = thread::spawn(move || last.set_result(7).unwrap());
    let waited = wait(&mut futures, None, ReturnWhen::FirstCompleted);
    completer.join().unwrap();
    assert_eq!(waited.done, [MANY - 1]);
    assert_eq!(waited.not_done.len(), MANY - 1);
    // Deregistered: a later blocking wait on one of them registers its own
    // thread and is woken.
    let first = producers.swap_remove(0);
    let completer = thread::spawn(move || first.set_result(1).unwrap());
    assert_eq!(futures[0].wait().unwrap(), 1);
    completer.join().unwrap();
}

/// An `AsCompleted` built on this thread and iterated on another, with the
/// completion sent only once the other thread is about to wait: the iterating
/// thread is woken (it used to park forever).
#[test]
fn as_completed_moved_to_another_thread_is_woken_there() {
    let (producer, future) = promise::<u32>();
    let iter = as_completed([future], None);
    let (about_to_wait, ready) = mpsc::channel();
    let consumer = thread::spawn(move || {
        let mut iter = iter;
        about_to_wait.send(()).unwrap();
        let (index, outcome) = iter.next().unwrap();
        (index, outcome.unwrap())
    });
    ready.recv().unwrap();
    producer.set_result(5).unwrap();
    assert_eq!(consumer.join().unwrap(), (0, 5));
}

/// The same with a timeout: the other thread gets the future, not `Timeout`
/// (it used to sleep until the deadline and then report a timeout).
#[test]
fn as_completed_with_timeout_moved_to_another_thread_yields_the_future() {
    let (producer, future) = promise::<u32>();
    let iter = as_completed([future], Some(Duration::from_secs(3600)));
    let (about_to_wait, ready) = mpsc::channel();
    let consumer = thread::spawn(move || {
        let mut iter = iter;
        about_to_wait.send(()).unwrap();
        let (index, outcome) = iter.next().unwrap();
        outcome.map(|value| (index, value))
    });
    ready.recv().unwrap();
    producer.set_result(9).unwrap();
    assert!(matches!(consumer.join().unwrap(), Ok((0, 9))));
}

/// A timeout yields every future not done in time with `Timeout`, once, in
/// input order, and ends.
#[test]
fn timeout_yields_each_remaining_index_once() {
    let (mut producers, futures) = pairs(4);
    producers.remove(2).set_result(2).unwrap();
    let yielded: Vec<(usize, Result<usize, Error>)> =
        as_completed(futures, Some(Duration::ZERO)).collect();
    assert_eq!(yielded.len(), 4);
    assert!(matches!(yielded[0], (2, Ok(2))));
    for (position, index) in [(1, 0), (2, 1), (3, 3)] {
        assert_eq!(yielded[position].0, index);
        assert!(yielded[position].1.as_ref().unwrap_err().is_timeout());
    }
    drop(producers);
}

/// `into_remaining` after a timeout: the futures not yielded come back in
/// input order, deregistered, and a later completion reaches a fresh wait.
#[test]
fn into_remaining_after_timeout_deregisters() {
    let (mut producers, futures) = pairs(4);
    producers.remove(1).set_result(1).unwrap();
    let mut iter = as_completed(futures, Some(Duration::ZERO));
    assert!(matches!(iter.next(), Some((1, Ok(1)))));
    let (index, outcome) = iter.next().unwrap();
    assert_eq!(index, 0);
    assert!(outcome.unwrap_err().is_timeout());
    let remaining = iter.into_remaining();
    let indices: Vec<usize> = remaining.iter().map(|(index, _)| *index).collect();
    assert_eq!(indices, [2, 3]);
    let mut futures: Vec<_> = remaining.into_iter().map(|(_, future)| future).collect();
    let completer = thread::spawn(move || {
        for (value, producer) in producers.into_iter().enumerate() {
            // Input 0 was yielded (timed out) and its future dropped.
            let _ = producer.set_result(value * 10);
        }
    });
    // producers now holds the ones for inputs 0, 2 and 3 (values 0, 10, 20).
    assert_eq!(futures[0].wait().unwrap(), 10);
    assert_eq!(futures[1].wait().unwrap(), 20);
    completer.join().unwrap();
}

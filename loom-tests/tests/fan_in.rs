//! Loom models of the fan-in behind `wait` and `as_completed` (`src/cell/fan_in.rs`):
//! one blocked thread waiting on many futures, told which one finished.
//!
//! Each model runs through the labelled two-pass harness (`helpers::model`): it
//! fails if an expected interleaving was never reached.
#![cfg(loom)]

// Each model file uses a part of the shared helpers.
#[allow(dead_code)]
mod helpers;

use std::time::Duration;

use concurrent_futures::{Error, ReturnWhen, as_completed, promise, wait};
use helpers::model;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

/// An `AsCompleted` made on one thread and iterated on another, while the
/// future completes on the first: the iterating thread is the one that parks
/// and is woken (a waiter bound at construction would park forever, which loom
/// reports as a deadlock).
#[test]
fn as_completed_moved_to_another_thread_vs_completion() {
    model(
        "as_completed_moved_to_another_thread_vs_completion",
        &["completed before next", "completed during next"],
        |seen| {
            let (producer, future) = promise::<u32>();
            let completed = Arc::new(AtomicBool::new(false));
            let iter = as_completed([future], None);
            let consumer = {
                let completed = Arc::clone(&completed);
                thread::spawn(move || {
                    let mut iter = iter;
                    let before = completed.load(Ordering::SeqCst);
                    let (index, outcome) = iter.next().unwrap();
                    assert_eq!(index, 0);
                    assert!(iter.next().is_none());
                    (before, outcome.unwrap())
                })
            };
            seen.after_spawn();
            producer.set_result(7).unwrap();
            completed.store(true, Ordering::SeqCst);
            let (before, value) = consumer.join().unwrap();
            assert_eq!(value, 7);
            seen.saw(if before {
                "completed before next"
            } else {
                "completed during next"
            });
        },
    );
}

/// Two producers finish concurrently while the iterator waits: each future is
/// yielded exactly once, and nothing is left over.
#[test]
fn as_completed_two_completions() {
    model(
        "as_completed_two_completions",
        &["first yielded first", "second yielded first"],
        |seen| {
            let (first, first_future) = promise::<u32>();
            let (second, second_future) = promise::<u32>();
            let mut iter = as_completed([first_future, second_future], None);
            thread::spawn(move || first.set_result(1).unwrap());
            seen.after_spawn();
            thread::spawn(move || second.set_result(2).unwrap());
            let (a, outcome_a) = iter.next().unwrap();
            let (b, outcome_b) = iter.next().unwrap();
            assert!(iter.next().is_none());
            assert_ne!(a, b);
            assert_eq!(outcome_a.unwrap() as usize, a + 1);
            assert_eq!(outcome_b.unwrap() as usize, b + 1);
            seen.saw(if a == 0 {
                "first yielded first"
            } else {
                "second yielded first"
            });
        },
    );
}

/// A timeout races a completion (loom models a timed park as "the timeout
/// may fire at any point"), beside a future that never completes: every index
/// is yielded once; the pending one with `Timeout`; the racing one with its
/// value if it finished before the iterator gave up on it (deregistration
/// loses to a finished state), else with `Timeout`.
#[test]
fn as_completed_timeout_vs_completion() {
    model(
        "as_completed_timeout_vs_completion",
        &["done in time", "timed out"],
        |seen| {
            let (_never, pending) = promise::<u32>();
            let (producer, racing) = promise::<u32>();
            let iter = as_completed([pending, racing], Some(Duration::from_secs(1)));
            // The consumer may be gone (the future timed out and was dropped).
            let completer = thread::spawn(move || drop(producer.set_result(3)));
            seen.after_spawn();
            let mut yielded: Vec<_> = iter.collect();
            completer.join().unwrap();
            yielded.sort_by_key(|(index, _)| *index);
            assert_eq!(yielded.len(), 2);
            assert!(matches!(yielded[0], (0, Err(Error::Timeout))));
            match &yielded[1] {
                (1, Ok(3)) => seen.saw("done in time"),
                (1, Err(Error::Timeout)) => seen.saw("timed out"),
                other => panic!("unexpected {other:?}"),
            }
        },
    );
}

/// `wait(FIRST_EXCEPTION)` on a future that fails on another thread while
/// the wait registers, beside one that stays pending: the failure ends the wait
/// whether it landed before the wait, during registration or while parked; the
/// pending future is reported not done and deregistered (its producer can still
/// answer it afterwards).
///
/// Two concurrent completions of a fan-in are `as_completed_two_completions`;
/// with both here too, the model takes a million interleavings (80 s).
#[test]
fn wait_first_exception_vs_failure() {
    model(
        "wait_first_exception_vs_failure",
        &["failed before wait", "failed during wait"],
        |seen| {
            let (ok, ok_future) = promise::<u32>();
            let (failing, failing_future) = promise::<u32>();
            let mut futures = [ok_future, failing_future];
            let failed = Arc::new(AtomicBool::new(false));
            let failer = {
                let failed = Arc::clone(&failed);
                thread::spawn(move || {
                    drop(failing); // abandoned: a failure
                    failed.store(true, Ordering::SeqCst);
                })
            };
            seen.after_spawn();
            let before = failed.load(Ordering::SeqCst);
            let waited = wait(&mut futures, None, ReturnWhen::FirstException);
            assert_eq!(waited.done, [1]);
            assert_eq!(waited.not_done, [0]);
            assert!(matches!(futures[1].try_take(), Some(Err(Error::Abandoned))));
            failer.join().unwrap();
            ok.set_result(1).unwrap();
            assert_eq!(futures[0].try_take().unwrap().unwrap(), 1);
            seen.saw(if before {
                "failed before wait"
            } else {
                "failed during wait"
            });
        },
    );
}

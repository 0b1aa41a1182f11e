//! Loom models of the `SharedFuture`/`Promise` cell (`src/cell/state.rs`,
//! `src/cell/raw.rs`): one race per test, named after the interleaving, every one
//! explored exhaustively (no preemption bound).
//!
//! Under `--cfg loom` the cell's state word, waiter slot, outcome slot,
//! allocation and thread parking are loom's, so loom checks every interleaving
//! and every memory ordering of the shipped code: a slot read without the
//! acquire that makes its write visible is a causality violation, and the
//! allocation tracking reports a leaked or doubly freed cell. The helpers'
//! wakers and values are counted with loom atomics in loom `Arc`s, so a leaked
//! waker clone or value is reported too.
//!
//! Each model runs in two passes (the second with the consumer yielding right
//! after the spawn, to work around loom's DPOR missing interleavings:
//! tokio-rs/loom#392), labels the outcome of each interleaving, and fails if an
//! expected outcome was never reached, so a race that never happens cannot
//! pass vacuously. Each prints its iterations and outcomes with `--nocapture`.
#![cfg(loom)]

mod helpers;

use std::task::Poll;
use std::time::Duration;

use concurrent_futures::{Error, Job, State, UndeliveredReason, promise};
use helpers::{
    Panics, Tracked, block_on_counting, count, counting_waker, drop_counter, model,
    panicking_waker, poll,
};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

/// `SharedFuture::cancel` (consumer) races `set_running_or_notify_cancel`
/// (producer): both are CASes from PENDING. Asserts that exactly one wins and
/// that every view agrees with the winner: right after its own step, a winning
/// `cancel` reads `Cancelled` and a losing one reads `Running`/`Done`; a refused
/// start sees `Promise::is_cancelled` and gets its value back from `set_result`
/// (reason `Cancelled`); after the join, `try_take` gives `Cancelled` iff the
/// cancel won, the value otherwise.
#[test]
fn cancel_vs_set_running() {
    model(
        "cancel_vs_set_running",
        &["cancel won", "start won"],
        |seen| {
            let (mut producer, mut future) = promise::<u32>();
            let worker = thread::spawn(move || {
                let started = producer.set_running_or_notify_cancel();
                assert_eq!(producer.is_cancelled(), !started);
                if started {
                    producer.set_result(1).unwrap();
                } else {
                    let undelivered = producer.set_result(1).unwrap_err();
                    assert_eq!(undelivered.reason(), UndeliveredReason::Cancelled);
                    assert_eq!(undelivered.into_inner(), 1);
                }
                started
            });
            seen.after_spawn();
            let cancelled = future.cancel();
            if cancelled {
                assert_eq!(future.state(), State::Cancelled);
            } else {
                assert!(matches!(future.state(), State::Running | State::Finished));
            }
            let started = worker.join().unwrap();
            assert_ne!(cancelled, started, "exactly one of cancel and start wins");
            seen.saw(if cancelled { "cancel won" } else { "start won" });
            match future.try_take().expect("finished after the join") {
                Ok(1) => assert!(started),
                Err(Error::Cancelled) => assert!(cancelled),
                other => panic!("unexpected {other:?}"),
            }
        },
    );
}

/// The producer completes while the consumer polls for the first time
/// (registration's CAS vs publish's CAS). Asserts: the value is received
/// exactly once (one `Ready(Ok)`, then `AlreadyTaken`; dropped once); a `Ready`
/// first poll means no wake ever, a `Pending` one means exactly one wake by the
/// time the producer returns; at most one clone of the waker was stored, and
/// every clone is let go of once the cell is freed.
#[test]
fn completion_vs_first_poll() {
    model(
        "completion_vs_first_poll",
        &[
            "ready before registering",
            "ready, registration lost the race",
            "pending then woken",
        ],
        |seen| {
            let drops = drop_counter();
            let (producer, mut future) = promise::<Tracked>();
            let value = Tracked::new(&drops);
            let (waker, wakes) = counting_waker();
            let worker = thread::spawn(move || producer.set_result(value).is_ok());
            seen.after_spawn();
            let first = poll(&mut future, &waker);
            assert!(worker.join().unwrap(), "the consumer was alive: delivered");
            let value = match first {
                Poll::Ready(outcome) => {
                    assert_eq!(wakes.wakes(), 0, "ready at once: no wake");
                    seen.saw(match wakes.clones() {
                        0 => "ready before registering",
                        _ => "ready, registration lost the race",
                    });
                    outcome.unwrap()
                }
                Poll::Pending => {
                    assert_eq!(wakes.wakes(), 1, "pending: exactly one wake");
                    seen.saw("pending then woken");
                    match poll(&mut future, &waker) {
                        Poll::Ready(Ok(value)) => value,
                        _ => panic!("not ready after the wake"),
                    }
                }
            };
            assert!(matches!(
                poll(&mut future, &waker),
                Poll::Ready(Err(Error::AlreadyTaken))
            ));
            assert_eq!(count(&drops), 0);
            drop(value);
            assert_eq!(count(&drops), 1);
            assert!(wakes.clones() <= 1, "one clone stored at most");
            drop(future);
            assert_eq!(count(&drops), 1);
            assert_eq!(wakes.live(), 1, "every clone let go of; only ours left");
        },
    );
}

/// `set_running_or_notify_cancel` races the first poll: registration's CAS
/// fails when PENDING became RUNNING under it and must retry without finishing.
/// Asserts: the poll is `Pending` (nothing finished), the slot holds exactly one
/// clone (the retry reuses it, `will_wake`), and the later completion wakes it
/// exactly once.
#[test]
fn set_running_vs_registration() {
    // Whether the registration had to retry is not observable through the API:
    // no outcome labels.
    model("set_running_vs_registration", &[], |seen| {
        let (mut producer, mut future) = promise::<u32>();
        let (waker, wakes) = counting_waker();
        let worker = thread::spawn(move || {
            assert!(producer.set_running_or_notify_cancel());
            producer
        });
        seen.after_spawn();
        assert!(poll(&mut future, &waker).is_pending());
        assert_eq!(wakes.clones(), 1);
        assert_eq!(wakes.live(), 2);
        let producer = worker.join().unwrap();
        assert_eq!(future.state(), State::Running);
        producer.set_result(7).unwrap();
        assert_eq!(wakes.wakes(), 1);
        assert_eq!(wakes.live(), 1, "the wake consumed the stored clone");
        assert!(matches!(poll(&mut future, &waker), Poll::Ready(Ok(7))));
    });
}

/// The consumer, registered with waker A, polls again with waker B (reclaim,
/// replace, re-register) while the producer completes.
///
/// What the protocol guarantees: one completion wakes at most one waker, the
/// one registered when the producer published. So: at most one wake in total;
/// if the re-poll returned `Pending`, B was registered at publish time and is
/// woken exactly once, A never; if it returned the value, B is never woken, and
/// A was woken iff the producer published before the re-registration reclaimed
/// A (both are possible). Every clone of A and B is let go of in the end.
#[test]
fn completion_vs_reregistration_with_new_waker() {
    model(
        "completion_vs_reregistration_with_new_waker",
        &["ready, A woken", "ready, no wake", "pending, B woken"],
        |seen| {
            let (producer, mut future) = promise::<u32>();
            let (waker_a, a) = counting_waker();
            let (waker_b, b) = counting_waker();
            assert!(poll(&mut future, &waker_a).is_pending());
            let worker = thread::spawn(move || producer.set_result(7).unwrap());
            seen.after_spawn();
            let repoll = poll(&mut future, &waker_b);
            worker.join().unwrap();
            let (wakes_a, wakes_b) = (a.wakes(), b.wakes());
            assert!(wakes_a + wakes_b <= 1, "a={wakes_a} b={wakes_b}");
            match repoll {
                Poll::Ready(outcome) => {
                    assert_eq!(outcome.unwrap(), 7);
                    assert_eq!(wakes_b, 0, "B was never registered at publish time");
                    seen.saw(if wakes_a == 1 {
                        "ready, A woken"
                    } else {
                        "ready, no wake"
                    });
                }
                Poll::Pending => {
                    assert_eq!((wakes_a, wakes_b), (0, 1), "the replacement is woken");
                    seen.saw("pending, B woken");
                    assert!(matches!(poll(&mut future, &waker_b), Poll::Ready(Ok(7))));
                }
            }
            drop(future);
            assert_eq!(a.live(), 1);
            assert_eq!(b.live(), 1);
        },
    );
}

/// The consumer drops its `SharedFuture` while the producer completes with a
/// drop-counted value. Asserts: `set_result` returns `Ok` (published; the value
/// is dropped with the cell, by whichever side is last) or
/// `Err(Undelivered { reason: ConsumerDropped })` with the value, not yet
/// dropped, handed back; either way the value is dropped exactly once, and the
/// cell is freed once (loom's allocation tracking).
#[test]
fn consumer_drop_vs_completion() {
    model(
        "consumer_drop_vs_completion",
        &["delivered", "handed back"],
        |seen| {
            let drops = drop_counter();
            let (producer, future) = promise::<Tracked>();
            let value = Tracked::new(&drops);
            let worker = {
                let drops = Arc::clone(&drops);
                thread::spawn(move || match producer.set_result(value) {
                    Ok(()) => true,
                    Err(undelivered) => {
                        assert_eq!(undelivered.reason(), UndeliveredReason::ConsumerDropped);
                        assert_eq!(count(&drops), 0, "handed back, not dropped");
                        drop(undelivered.into_inner());
                        assert_eq!(count(&drops), 1);
                        false
                    }
                })
            };
            seen.after_spawn();
            drop(future);
            seen.saw(if worker.join().unwrap() {
                "delivered"
            } else {
                "handed back"
            });
            assert_eq!(count(&drops), 1);
        },
    );
}

/// As `consumer_drop_vs_completion`, with waker A registered first, so the
/// drop's reclaim of the waiter slot races the publish that hands the slot to
/// the producer. Asserts: the value is dropped once; at most one wake, none if
/// the value was handed back; every clone of A let go of (none leaked in the
/// freed cell, none dropped twice).
#[test]
fn registered_consumer_drop_vs_completion() {
    model(
        "registered_consumer_drop_vs_completion",
        &["handed back", "delivered, woken", "delivered, no wake"],
        |seen| {
            let drops = drop_counter();
            let (producer, mut future) = promise::<Tracked>();
            let (waker, wakes) = counting_waker();
            assert!(poll(&mut future, &waker).is_pending());
            let value = Tracked::new(&drops);
            let worker = thread::spawn(move || producer.set_result(value).is_ok());
            seen.after_spawn();
            drop(future);
            let delivered = worker.join().unwrap();
            assert_eq!(count(&drops), 1);
            assert!(wakes.wakes() <= 1);
            seen.saw(match (delivered, wakes.wakes()) {
                (false, 0) => "handed back",
                (false, _) => panic!("woken although the value was handed back"),
                (true, 0) => "delivered, no wake",
                (true, _) => "delivered, woken",
            });
            assert_eq!(wakes.live(), 1);
        },
    );
}

/// Both handles are dropped at once (the producer abandons, the consumer goes
/// away): whichever clears its bit second frees the cell, exactly once (loom
/// reports a leak or a double free otherwise).
#[test]
fn consumer_drop_vs_producer_drop() {
    // Which side frees is not observable through the API: no outcome labels.
    model("consumer_drop_vs_producer_drop", &[], |seen| {
        let (producer, future) = promise::<u32>();
        let worker = thread::spawn(move || drop(producer));
        seen.after_spawn();
        drop(future);
        worker.join().unwrap();
    });
}

/// The producer is dropped without an answer while the consumer awaits it
/// (`loom::future::block_on`). Asserts: the consumer gets `Abandoned` and keeps
/// reporting it; it never hangs (loom reports a deadlock if the abandon's wake
/// were lost).
#[test]
fn producer_drop_vs_poll() {
    model(
        "producer_drop_vs_poll",
        &["ready on first poll", "pending, then woken"],
        |seen| {
            let (producer, mut future) = promise::<u32>();
            let worker = thread::spawn(move || drop(producer));
            seen.after_spawn();
            let (outcome, polls) = block_on_counting(&mut future);
            assert!(matches!(outcome, Err(Error::Abandoned)));
            seen.saw(if polls == 1 {
                "ready on first poll"
            } else {
                "pending, then woken"
            });
            assert!(matches!(future.try_take(), Some(Err(Error::Abandoned))));
            worker.join().unwrap();
        },
    );
}

/// A thread blocks in `wait` (registers its `Thread`, parks) while the producer
/// completes. Asserts: it is unparked when needed and never hangs (a lost
/// unpark is a loom deadlock), and the value is received and dropped exactly
/// once.
#[test]
fn blocking_wait_vs_completion() {
    // Whether `wait` parked is not observable through the API: no outcome labels.
    model("blocking_wait_vs_completion", &[], |seen| {
        let drops = drop_counter();
        let (producer, mut future) = promise::<Tracked>();
        let value = Tracked::new(&drops);
        let worker = thread::spawn(move || producer.set_result(value).is_ok());
        seen.after_spawn();
        let value = future.wait().expect("the value");
        assert!(matches!(future.try_take(), Some(Err(Error::AlreadyTaken))));
        assert_eq!(count(&drops), 0);
        drop(value);
        assert_eq!(count(&drops), 1);
        assert!(worker.join().unwrap());
        drop(future);
        assert_eq!(count(&drops), 1);
    });
}

/// Cancellation vs a blocking `wait`, producer side: a thread blocks in `wait`
/// while the producer cancels (`Promise::set_cancelled`, what an executor's
/// `shutdown(cancel_futures)` does to a queued job). Asserts: the waiter is
/// woken with `Cancelled`, never hangs.
///
/// The consumer's own `cancel` cannot race its `wait`: `wait` holds `&mut
/// SharedFuture` for its whole duration, so no other thread can hold the `&`
/// that `cancel` needs. Its meaningful interleavings are cancel-then-wait on
/// one thread against the producer (`consumer_cancel_then_wait_vs_start`).
#[test]
fn producer_cancel_vs_blocking_wait() {
    // As above, no outcome labels.
    model("producer_cancel_vs_blocking_wait", &[], |seen| {
        let (producer, mut future) = promise::<u32>();
        let worker = thread::spawn(move || producer.set_cancelled());
        seen.after_spawn();
        assert!(matches!(future.wait(), Err(Error::Cancelled)));
        worker.join().unwrap();
    });
}

/// Cancellation vs a blocking `wait`, consumer side: the consumer cancels, then
/// waits, while the producer starts and completes. Asserts: exactly one of the
/// cancel and the start wins; a won cancel makes `wait` return `Cancelled` at
/// once and the producer gets its value back; a refused cancel leaves a real
/// blocking wait racing the completion, which returns the value.
#[test]
fn consumer_cancel_then_wait_vs_start() {
    model(
        "consumer_cancel_then_wait_vs_start",
        &["cancel won", "start won"],
        |seen| {
            let (mut producer, mut future) = promise::<u32>();
            let worker = thread::spawn(move || {
                if producer.set_running_or_notify_cancel() {
                    producer.set_result(3).unwrap();
                    true
                } else {
                    let undelivered = producer.set_result(3).unwrap_err();
                    assert_eq!(undelivered.reason(), UndeliveredReason::Cancelled);
                    false
                }
            });
            seen.after_spawn();
            let cancelled = future.cancel();
            let outcome = future.wait();
            let started = worker.join().unwrap();
            assert_ne!(cancelled, started);
            seen.saw(if cancelled { "cancel won" } else { "start won" });
            match outcome {
                Ok(3) => assert!(started),
                Err(Error::Cancelled) => assert!(cancelled),
                other => panic!("unexpected {other:?}"),
            }
        },
    );
}

/// The consumer cancels on one thread (through `&SharedFuture`: it is `Sync`;
/// the mutex is uncontended, only there to get `&mut` back for the `wait`)
/// while the producer starts and completes on another; the consumer then
/// waits. Moved from the first suite (`cell.rs`): unlike
/// `consumer_cancel_then_wait_vs_start`, the cancel runs on a thread that is
/// neither the producer nor the waiter. Asserts: exactly one of the cancel and
/// the start wins; a refused start gets its value back (reason `Cancelled`);
/// the wait returns the value iff the start won, `Cancelled` otherwise.
#[test]
fn consumer_cancel_vs_producer_start_then_wait() {
    model(
        "consumer_cancel_vs_producer_start_then_wait",
        &["cancel won", "start won"],
        |seen| {
            let (mut producer, future) = promise::<u32>();
            let future = Arc::new(std::sync::Mutex::new(future));
            let canceller = {
                let future = Arc::clone(&future);
                thread::spawn(move || future.lock().unwrap().cancel())
            };
            seen.after_spawn();
            let started = producer.set_running_or_notify_cancel();
            if started {
                producer.set_result(3).unwrap();
            } else {
                let undelivered = producer.set_result(3).unwrap_err();
                assert_eq!(undelivered.reason(), UndeliveredReason::Cancelled);
            }
            let cancelled = canceller.join().unwrap();
            assert_ne!(started, cancelled, "exactly one of cancel and start wins");
            seen.saw(if cancelled { "cancel won" } else { "start won" });
            match future.lock().unwrap().wait() {
                Ok(3) => assert!(started),
                Err(Error::Cancelled) => assert!(cancelled),
                other => panic!("unexpected {other:?}"),
            }
        },
    );
}

/// The consumer, registered with waker A, cancels while the producer starts and
/// completes: `cancel`'s CAS clears `WAITER` and takes the slot back, racing the
/// publish that would hand the slot to the producer. Asserts: a won cancel has
/// dropped A's clone by the time it returns and A is never woken; a refused one
/// leaves A registered, woken exactly once; every clone let go of.
#[test]
fn registered_cancel_vs_completion() {
    model(
        "registered_cancel_vs_completion",
        &["cancel won", "start won"],
        |seen| {
            let (mut producer, mut future) = promise::<u32>();
            let (waker, wakes) = counting_waker();
            assert!(poll(&mut future, &waker).is_pending());
            let worker = thread::spawn(move || {
                if producer.set_running_or_notify_cancel() {
                    producer.set_result(7).unwrap();
                }
            });
            seen.after_spawn();
            let cancelled = future.cancel();
            if cancelled {
                assert_eq!(wakes.live(), 1, "cancel dropped the stored clone");
            }
            worker.join().unwrap();
            seen.saw(if cancelled { "cancel won" } else { "start won" });
            if cancelled {
                assert_eq!(wakes.wakes(), 0);
                assert!(matches!(
                    poll(&mut future, &waker),
                    Poll::Ready(Err(Error::Cancelled))
                ));
            } else {
                assert_eq!(wakes.wakes(), 1);
                assert!(matches!(poll(&mut future, &waker), Poll::Ready(Ok(7))));
            }
            drop(future);
            assert_eq!(wakes.live(), 1);
        },
    );
}

/// `wait_timeout` races the completion. Loom models a timed park as "the
/// timeout may fire at any point" (one yield, then timed out; the hour-long
/// timeout only keeps the deadline from passing before the park), so both
/// outcomes are explored, including a completion racing the deregistration
/// that follows the timeout. Asserts: the outcome is the value or `Timeout`;
/// after a `Timeout` the future is still usable and a later `wait` gets the
/// value; either way the value is received and dropped exactly once.
///
/// The producer is not joined: once the consumer saw the future finished, the
/// producer's unpark can still be on its way. std allows such a late unpark
/// (it leaves a token for a later `park`); loom 0.7 aborts with `assertion
/// failed: state.notified` if it lands while the thread is blocked in `join`
/// (tokio-rs/loom#249). Loom still runs the producer to its end in every
/// interleaving, and checks leaks after it.
#[test]
fn wait_timeout_vs_completion() {
    model(
        "wait_timeout_vs_completion",
        &["value", "timeout, then value"],
        |seen| {
            let drops = drop_counter();
            let (producer, mut future) = promise::<Tracked>();
            let value = Tracked::new(&drops);
            thread::spawn(move || {
                let _ = producer.set_result(value);
            });
            seen.after_spawn();
            let value = match future.wait_timeout(Duration::from_secs(3600)) {
                Ok(value) => {
                    seen.saw("value");
                    value
                }
                Err(Error::Timeout) => {
                    seen.saw("timeout, then value");
                    future.wait().expect("the value after a timeout")
                }
                Err(other) => panic!("unexpected {other:?}"),
            };
            assert!(matches!(future.try_take(), Some(Err(Error::AlreadyTaken))));
            assert_eq!(count(&drops), 0);
            drop(value);
            assert_eq!(count(&drops), 1);
        },
    );
}

/// The awaiting task's waker panics in `wake` while the producer completes.
/// The producer wakes only after publishing and releasing, so the panic
/// unwinds out of `set_result` (caught in the producer thread) with the state
/// machine already done with. Asserts: `set_result` panicked iff the poll was
/// `Pending` iff one wake happened; the value is still delivered, exactly once;
/// the consumed waker handle is released despite the panic; the cell is freed
/// once.
#[test]
fn panicking_waker_vs_completion() {
    model(
        "panicking_waker_vs_completion",
        &["ready, no wake", "pending, wake panicked"],
        |seen| {
            let (producer, mut future) = promise::<u32>();
            let (waker, wakes) = panicking_waker(Panics::OnWake);
            let worker = thread::spawn(move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| producer.set_result(5)))
                    .is_err()
            });
            seen.after_spawn();
            let polled = poll(&mut future, &waker);
            let wake_panicked = worker.join().unwrap();
            assert_eq!(wake_panicked, polled.is_pending());
            assert_eq!(wakes.wakes(), usize::from(wake_panicked));
            match polled {
                Poll::Ready(outcome) => {
                    seen.saw("ready, no wake");
                    assert_eq!(outcome.unwrap(), 5);
                }
                Poll::Pending => {
                    seen.saw("pending, wake panicked");
                    assert_eq!(future.try_take().unwrap().unwrap(), 5);
                }
            }
            assert!(matches!(future.try_take(), Some(Err(Error::AlreadyTaken))));
            drop(future);
            assert_eq!(wakes.live(), 1);
        },
    );
}

/// The awaiting task's `Waker::clone` panics during registration while the
/// producer completes. Asserts: the panic leaves the state consistent (the
/// slot untouched, `WAITER` clear, nothing to wake); a later poll with a sound
/// waker gets the value, exactly once, with at most one wake of that waker.
#[test]
fn panicking_waker_clone_vs_completion() {
    model(
        "panicking_waker_clone_vs_completion",
        &[
            "ready before cloning",
            "clone panicked, then ready",
            "clone panicked, then pending and woken",
        ],
        |seen| {
            let (producer, mut future) = promise::<u32>();
            let (bad, bad_counts) = panicking_waker(Panics::OnClone);
            let (good, good_counts) = counting_waker();
            let worker = thread::spawn(move || producer.set_result(9).unwrap());
            seen.after_spawn();
            let first =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll(&mut future, &bad)));
            let value = match first {
                Ok(Poll::Ready(outcome)) => {
                    seen.saw("ready before cloning");
                    outcome.unwrap()
                }
                Ok(Poll::Pending) => panic!("registered a waker whose clone panicked"),
                // Poll again with a sound waker, still racing the producer.
                Err(_) => match poll(&mut future, &good) {
                    Poll::Ready(outcome) => {
                        seen.saw("clone panicked, then ready");
                        outcome.unwrap()
                    }
                    Poll::Pending => {
                        seen.saw("clone panicked, then pending and woken");
                        while good_counts.wakes() == 0 {
                            thread::yield_now();
                        }
                        match poll(&mut future, &good) {
                            Poll::Ready(outcome) => outcome.unwrap(),
                            Poll::Pending => panic!("not ready after the wake"),
                        }
                    }
                },
            };
            assert_eq!(value, 9);
            worker.join().unwrap();
            assert_eq!(bad_counts.wakes(), 0);
            assert_eq!(bad_counts.clones(), 0);
            assert!(good_counts.wakes() <= 1);
            assert!(matches!(
                poll(&mut future, &good),
                Poll::Ready(Err(Error::AlreadyTaken))
            ));
            drop(future);
            assert_eq!(good_counts.live(), 1);
        },
    );
}

/// A waker whose `Drop` panics, racing the completion. When the registration
/// loses the race (its CAS fails because the state is finished), the clone
/// stays in the waiter slot with `WAITER` clear, and it is dropped only when the
/// cell is freed. Asserts: the value arrives once, every waker handle is let go
/// of, and the cell is freed exactly once even though that drop panics.
///
/// Regression test for a leak it found: `RawCell::free` used to drop the waiter
/// slot before deallocating, so a panic from the stored waker's `Drop` skipped
/// the deallocation (loom: `Allocation leaked`). `free` now takes the waiter out
/// first and drops it after the memory is freed.
#[test]
fn panicking_waker_drop_vs_completion() {
    model(
        "panicking_waker_drop_vs_completion",
        &[
            "ready before registering",
            "ready, registration lost the race",
            "pending then woken",
        ],
        |seen| {
            let (producer, mut future) = promise::<u32>();
            let (waker, counts) = panicking_waker(Panics::OnDrop);
            let worker = thread::spawn(move || producer.set_result(1).unwrap());
            seen.after_spawn();
            let first = poll(&mut future, &waker);
            worker.join().unwrap();
            let value = match first {
                Poll::Ready(outcome) => {
                    seen.saw(match counts.clones() {
                        0 => "ready before registering",
                        _ => "ready, registration lost the race",
                    });
                    outcome.unwrap()
                }
                Poll::Pending => {
                    seen.saw("pending then woken");
                    match poll(&mut future, &waker) {
                        Poll::Ready(outcome) => outcome.unwrap(),
                        Poll::Pending => panic!("not ready after the wake"),
                    }
                }
            };
            assert_eq!(value, 1);
            // Whichever side frees may run the stored clone's panicking `Drop`.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(future)));
            counts.disarm();
            drop(waker);
            assert_eq!(counts.live(), 0, "every handle let go of");
        },
    );
}

/// The value's `Drop` panics, in whichever thread frees the cell, while the
/// consumer drops its future and the producer completes (each side catches the
/// panic). Asserts: the value is dropped exactly once and the cell is still
/// freed exactly once (the free's guard releases the memory while the panic
/// unwinds), by exactly one side, which sees the panic.
#[test]
fn panicking_value_drop_vs_consumer_drop() {
    model(
        "panicking_value_drop_vs_consumer_drop",
        &["consumer freed", "producer got it back"],
        |seen| {
            let drops = drop_counter();
            let (producer, future) = promise::<Tracked>();
            let value = Tracked::panicking(&drops);
            let worker = thread::spawn(move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let _ = producer.set_result(value);
                }))
                .is_err()
            });
            seen.after_spawn();
            let consumer_panicked =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(future))).is_err();
            let producer_panicked = worker.join().unwrap();
            assert_eq!(count(&drops), 1);
            assert!(
                consumer_panicked != producer_panicked,
                "dropped by one side"
            );
            seen.saw(if consumer_panicked {
                "consumer freed"
            } else {
                "producer got it back"
            });
        },
    );
}

/// The producer cancels (`Promise::set_cancelled`) while the consumer cancels. Asserts:
/// both report success (the consumer's `cancel` is `true` when it was already
/// cancelled), and the future is cancelled, once.
#[test]
fn producer_cancel_vs_consumer_cancel() {
    // Whose cancel won is not observable through the API: no outcome labels.
    model("producer_cancel_vs_consumer_cancel", &[], |seen| {
        let (producer, mut future) = promise::<u32>();
        let worker = thread::spawn(move || producer.set_cancelled());
        seen.after_spawn();
        assert!(future.cancel());
        assert!(future.is_cancelled());
        worker.join().unwrap();
        assert!(matches!(future.try_take(), Some(Err(Error::Cancelled))));
        assert!(matches!(future.try_take(), Some(Err(Error::Cancelled))));
    });
}

/// `set_panic` races the consumer awaiting the future. Asserts: the consumer
/// gets `Panicked` with the payload, exactly once; the payload (a drop-counted
/// value) is dropped exactly once, when the consumer drops the error.
#[test]
fn set_panic_vs_poll() {
    model(
        "set_panic_vs_poll",
        &["ready on first poll", "pending, then woken"],
        |seen| {
            let drops = drop_counter();
            let (producer, mut future) = promise::<u32>();
            let payload = Box::new(Tracked::new(&drops));
            let worker = thread::spawn(move || producer.set_panic(payload).is_ok());
            seen.after_spawn();
            let (outcome, polls) = block_on_counting(&mut future);
            seen.saw(if polls == 1 {
                "ready on first poll"
            } else {
                "pending, then woken"
            });
            let panic = match outcome {
                Err(Error::Panicked(panic)) => panic,
                other => panic!("unexpected {other:?}"),
            };
            assert!(worker.join().unwrap());
            assert!(matches!(future.try_take(), Some(Err(Error::AlreadyTaken))));
            assert_eq!(count(&drops), 0);
            assert!(panic.into_payload().downcast::<Tracked>().is_ok());
            assert_eq!(count(&drops), 1);
        },
    );
}

/// A done callback (`on_done`, an owned waiter holding the consumer handle) is
/// registered while the producer completes. Asserts: it runs exactly once, with
/// the value, on whichever thread came second; the cell is freed once.
#[test]
fn done_callback_vs_completion() {
    model(
        "done_callback_vs_completion",
        &["ran here", "ran on the producer"],
        |seen| {
            let calls = Arc::new(AtomicUsize::new(0));
            let (producer, future) = promise::<u32>();
            let worker = thread::spawn(move || producer.set_result(7).unwrap());
            seen.after_spawn();
            let counter = Arc::clone(&calls);
            let here = thread::current().id();
            let ran_on = Arc::new(std::sync::Mutex::new(None));
            let ran_on_write = Arc::clone(&ran_on);
            future.on_done(move |outcome| {
                *ran_on_write.lock().unwrap() = Some(thread::current().id());
                assert_eq!(outcome.unwrap(), 7);
                counter.fetch_add(1, Ordering::SeqCst);
            });
            worker.join().unwrap();
            assert_eq!(calls.load(Ordering::SeqCst), 1);
            let ran_on = ran_on.lock().unwrap().expect("ran");
            seen.saw(if ran_on == here {
                "ran here"
            } else {
                "ran on the producer"
            });
        },
    );
}

/// A done callback is registered while the producer is dropped without an
/// answer. Asserts: it runs exactly once, with `Abandoned`.
#[test]
fn done_callback_vs_producer_drop() {
    model(
        "done_callback_vs_producer_drop",
        &["ran here", "ran on the producer"],
        |seen| {
            let calls = Arc::new(AtomicUsize::new(0));
            let (producer, future) = promise::<u32>();
            let worker = thread::spawn(move || drop(producer));
            seen.after_spawn();
            let counter = Arc::clone(&calls);
            let here = thread::current().id();
            let ran_on = Arc::new(std::sync::Mutex::new(None));
            let ran_on_write = Arc::clone(&ran_on);
            future.on_done(move |outcome| {
                *ran_on_write.lock().unwrap() = Some(thread::current().id());
                assert!(matches!(outcome, Err(Error::Abandoned)));
                counter.fetch_add(1, Ordering::SeqCst);
            });
            worker.join().unwrap();
            assert_eq!(calls.load(Ordering::SeqCst), 1);
            let ran_on = ran_on.lock().unwrap().expect("ran");
            seen.saw(if ran_on == here {
                "ran here"
            } else {
                "ran on the producer"
            });
        },
    );
}

/// `request_stop` races `set_running_or_notify_cancel`. Asserts: a request
/// made while PENDING cancels (the start is refused); one made while RUNNING is
/// refused but sets the flag, which the producer sees once both are done
/// (`is_stop_requested`, `token().is_stop_requested()`); the outcome agrees.
#[test]
fn request_stop_vs_set_running() {
    model(
        "request_stop_vs_set_running",
        &["cancel won", "start won"],
        |seen| {
            let (mut producer, mut future) = promise::<u32>();
            let worker = thread::spawn(move || {
                let started = producer.set_running_or_notify_cancel();
                (started, producer)
            });
            seen.after_spawn();
            let accepted = future.request_stop();
            let (started, producer) = worker.join().unwrap();
            assert_ne!(accepted, started);
            seen.saw(if accepted { "cancel won" } else { "start won" });
            if started {
                assert!(producer.is_stop_requested());
                assert!(producer.token().is_stop_requested());
                producer.set_result(1).unwrap();
                assert!(matches!(future.try_take(), Some(Ok(1))));
            } else {
                assert!(producer.is_cancelled());
                drop(producer);
                assert!(matches!(future.try_take(), Some(Err(Error::Cancelled))));
            }
        },
    );
}

/// `request_stop` races a job (`Job::with_token`) being run by a worker: the
/// job's closure returns what its `StopToken` says when it runs. Moved from the
/// first suite (`cell.rs`): unlike `request_stop_vs_set_running`, it goes
/// through `Job::run` and the token the closure sees. Asserts: an accepted
/// request means the closure never ran (`Cancelled`); a refused one means it
/// ran, and its token saw the request iff the request landed while it ran.
#[test]
fn request_stop_vs_job_start() {
    model(
        "request_stop_vs_job_start",
        &[
            "cancelled before the start",
            "ran, saw the request",
            "ran, request came after",
        ],
        |seen| {
            let (job, mut future) = Job::stoppable(|token| token.is_stop_requested());
            let worker = thread::spawn(move || job.run());
            seen.after_spawn();
            let accepted = future.request_stop();
            worker.join().unwrap();
            match future.try_take().expect("finished after the join") {
                Err(Error::Cancelled) => {
                    assert!(accepted);
                    seen.saw("cancelled before the start");
                }
                Ok(saw_request) => {
                    assert!(!accepted, "the job ran: the request was refused");
                    seen.saw(if saw_request {
                        "ran, saw the request"
                    } else {
                        "ran, request came after"
                    });
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        },
    );
}

// ------------------------------------------------------------------------
// The outcome's tag in the state word (issue #24, 3): COMPLETE, PANICKED and
// FAILED published by the same RMW, and the consumer's TAKEN mark, a relaxed
// store once the producer has released and a `fetch_or` while it may still.

/// The body of the two `take_*_vs_producer_release` models: the consumer is
/// registered, so the producer publishes with `WAITER` set and must still
/// take the waiter out and release (`RawCell::take_published_waiter`) while
/// the consumer, spinning on `try_take`, may already take the outcome and
/// mark it TAKEN: the mark's `fetch_or` races the producer's
/// `release_producer` (`fetch_and`). Then the consumer drops its future, and
/// whichever side is last frees. Asserts: the outcome arrives once; it is
/// dropped once (a lost TAKEN mark would make the free drop it again; a lost
/// release would leak the cell, which loom reports); exactly one wake; every
/// waker clone let go of.
fn take_vs_producer_release(
    name: &'static str,
    complete: fn(concurrent_futures::Promise<Tracked>, Tracked) -> bool,
    check: fn(Result<Tracked, Error>) -> Tracked,
) {
    model(
        name,
        &["taken before the wake", "taken after the wake"],
        move |seen| {
            let drops = drop_counter();
            let (producer, mut future) = promise::<Tracked>();
            let (waker, wakes) = counting_waker();
            assert!(poll(&mut future, &waker).is_pending());
            let value = Tracked::new(&drops);
            let worker = thread::spawn(move || complete(producer, value));
            seen.after_spawn();
            let outcome = loop {
                if let Some(outcome) = future.try_take() {
                    break outcome;
                }
                thread::yield_now();
            };
            seen.saw(match wakes.wakes() {
                0 => "taken before the wake",
                _ => "taken after the wake",
            });
            let value = check(outcome);
            assert!(matches!(future.try_take(), Some(Err(Error::AlreadyTaken))));
            drop(future);
            assert_eq!(count(&drops), 0, "taken: not dropped by the free");
            drop(value);
            assert!(worker.join().unwrap(), "the consumer was alive: delivered");
            assert_eq!(count(&drops), 1);
            assert_eq!(wakes.wakes(), 1, "registered: exactly one wake");
            assert_eq!(wakes.live(), 1, "every clone let go of");
        },
    );
}

/// A value (COMPLETE) taken while the producer that published it still holds
/// its reference; see [`take_vs_producer_release`].
#[test]
fn take_of_a_value_vs_producer_release() {
    take_vs_producer_release(
        "take_of_a_value_vs_producer_release",
        |producer, value| producer.set_result(value).is_ok(),
        |outcome| match outcome {
            Ok(value) => value,
            Err(error) => panic!("unexpected {error:?}"),
        },
    );
}

/// A panic (PANICKED) taken while the producer that published it still holds
/// its reference; see [`take_vs_producer_release`]. The payload is the
/// counted value.
#[test]
fn take_of_a_panic_vs_producer_release() {
    take_vs_producer_release(
        "take_of_a_panic_vs_producer_release",
        |producer, value| producer.set_panic(Box::new(value)).is_ok(),
        |outcome| match outcome {
            Err(Error::Panicked(panic)) => *panic
                .into_payload()
                .downcast::<Tracked>()
                .expect("the payload"),
            Ok(_) => panic!("a value, not the panic"),
            Err(other) => panic!("unexpected {other:?}"),
        },
    );
}

/// The consumer drops its future while the producer completes with a panic
/// whose payload is drop-counted: the PANICKED outcome is either published
/// (and dropped with the cell, by whichever side is last: the free's failure
/// path) or handed back (`Undelivered`, reason `ConsumerDropped`, the slot
/// read back by the producer). Asserts: the payload is dropped exactly once,
/// the cell freed once.
#[test]
fn set_panic_vs_consumer_drop() {
    model(
        "set_panic_vs_consumer_drop",
        &["delivered", "handed back"],
        |seen| {
            let drops = drop_counter();
            let (producer, future) = promise::<u32>();
            let payload = Box::new(Tracked::new(&drops));
            let worker = {
                let drops = Arc::clone(&drops);
                thread::spawn(move || match producer.set_panic(payload) {
                    Ok(()) => true,
                    Err(undelivered) => {
                        assert_eq!(undelivered.reason(), UndeliveredReason::ConsumerDropped);
                        assert_eq!(count(&drops), 0, "handed back, not dropped");
                        drop(undelivered.into_inner());
                        false
                    }
                })
            };
            seen.after_spawn();
            drop(future);
            seen.saw(if worker.join().unwrap() {
                "delivered"
            } else {
                "handed back"
            });
            assert_eq!(count(&drops), 1);
        },
    );
}

/// The consumer cancels while the producer, which never started, completes
/// with a panic: both are CASes from PENDING. Asserts: exactly one wins; a
/// won cancel hands the payload back (reason `Cancelled`) and the future
/// reports `Cancelled`; a lost one leaves PANICKED, which `try_take` reports
/// once (then `AlreadyTaken`); the payload is dropped exactly once.
#[test]
fn cancel_vs_set_panic() {
    model(
        "cancel_vs_set_panic",
        &["cancel won", "panic published"],
        |seen| {
            let drops = drop_counter();
            let (producer, mut future) = promise::<u32>();
            let payload = Box::new(Tracked::new(&drops));
            let worker = thread::spawn(move || match producer.set_panic(payload) {
                Ok(()) => true,
                Err(undelivered) => {
                    assert_eq!(undelivered.reason(), UndeliveredReason::Cancelled);
                    drop(undelivered.into_inner());
                    false
                }
            });
            seen.after_spawn();
            let cancelled = future.cancel();
            let published = worker.join().unwrap();
            assert_ne!(
                cancelled, published,
                "exactly one of cancel and publish wins"
            );
            seen.saw(if cancelled {
                "cancel won"
            } else {
                "panic published"
            });
            match future.try_take().expect("finished after the join") {
                Err(Error::Cancelled) => assert!(cancelled),
                Err(Error::Panicked(panic)) => {
                    assert!(published);
                    drop(panic);
                    assert!(matches!(future.try_take(), Some(Err(Error::AlreadyTaken))));
                }
                other => panic!("unexpected {other:?}"),
            }
            assert_eq!(count(&drops), 1);
        },
    );
}

/// A job whose deadline has passed (`JobOptions::timeout(ZERO)`: skipped
/// whenever it runs, deterministically) finishes FAILED with a boxed
/// `Timeout`, through `Job::run`'s unpublished write and its `Completion`,
/// while the consumer blocks in `wait`. Asserts: `wait` returns `Timeout`
/// once, then `AlreadyTaken`; it never hangs; the skipped closure's capture
/// is dropped once.
#[test]
fn job_error_vs_blocking_wait() {
    // Whether `wait` parked is not observable through the API: no outcome labels.
    model("job_error_vs_blocking_wait", &[], |seen| {
        let drops = drop_counter();
        let capture = Tracked::new(&drops);
        let (job, mut future) = Job::with_options(
            move |_token| drop(capture),
            concurrent_futures::JobOptions::new().timeout(Duration::ZERO),
        );
        let worker = thread::spawn(move || job.run());
        seen.after_spawn();
        assert!(matches!(future.wait(), Err(Error::Timeout)));
        assert!(matches!(future.try_take(), Some(Err(Error::AlreadyTaken))));
        worker.join().unwrap();
        assert_eq!(count(&drops), 1);
    });
}

/// As `job_error_vs_blocking_wait`, with the consumer dropping its future
/// instead of waiting: the FAILED outcome (a boxed error) is published and
/// dropped with the cell by whichever side is last (the free's failure
/// path), or, with the consumer gone first, read back and dropped by the
/// producer. Asserts: the cell is freed once (loom), the closure's capture
/// dropped once; Miri's leak check in `tests/drop_counts.rs` covers the box.
#[test]
fn job_error_vs_consumer_drop() {
    // Which side drops the error is not observable through the API.
    model("job_error_vs_consumer_drop", &[], |seen| {
        let drops = drop_counter();
        let capture = Tracked::new(&drops);
        let (job, future) = Job::with_options(
            move |_token| drop(capture),
            concurrent_futures::JobOptions::new().timeout(Duration::ZERO),
        );
        let worker = thread::spawn(move || job.run());
        seen.after_spawn();
        drop(future);
        worker.join().unwrap();
        assert_eq!(count(&drops), 1);
    });
}

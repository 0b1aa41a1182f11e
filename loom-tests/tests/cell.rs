//! Loom models of the `SharedFuture`/`Promise` cell: one race per test, named
//! after the interleaving, all explored exhaustively (no preemption bound).
//!
//! Under `--cfg loom` the cell's state word, waiter slot, outcome slot,
//! allocation and thread parking are all loom's, so loom checks every
//! interleaving and every memory ordering of the shipped code, and its
//! allocation tracking reports a leaked or doubly freed cell.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use concurrent_futures::{Error, SharedFuture, promise};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

/// Counts wakes; the counter is loom's, so its updates are part of the model.
struct CountingWaker(Arc<AtomicUsize>);

impl Wake for CountingWaker {
    fn wake(self: StdArc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Waker, Arc<AtomicUsize>) {
    let wakes = Arc::new(AtomicUsize::new(0));
    (
        Waker::from(StdArc::new(CountingWaker(Arc::clone(&wakes)))),
        wakes,
    )
}

fn poll<T>(future: &mut SharedFuture<T>, waker: &Waker) -> Poll<Result<T, Error>> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

/// A value that counts its drops.
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// `cancel` (consumer) races `set_running_or_notify_cancel` (producer): exactly
/// one wins, and both sides and the outcome agree on which.
#[test]
fn cancel_vs_set_running() {
    loom::model(|| {
        let (mut producer, mut future) = promise::<u32>();
        let worker = thread::spawn(move || {
            if producer.set_running_or_notify_cancel() {
                producer.set_result(1).unwrap();
                true
            } else {
                false
            }
        });
        let cancelled = future.cancel();
        let started = worker.join().unwrap();
        assert_ne!(cancelled, started, "exactly one of cancel and start wins");
        match future.try_take().expect("finished after join") {
            Ok(1) => assert!(started),
            Err(Error::Cancelled) => assert!(cancelled),
            other => panic!("unexpected {other:?}"),
        }
    });
}

/// The producer completes while the consumer polls for the first time: the
/// value arrives exactly once, and if the poll was `Pending`, exactly one wake
/// follows (none otherwise).
#[test]
fn completion_vs_first_poll() {
    loom::model(|| {
        let (producer, mut future) = promise::<u32>();
        let (waker, wakes) = counting_waker();
        let worker = thread::spawn(move || producer.set_result(7).unwrap());
        match poll(&mut future, &waker) {
            Poll::Ready(outcome) => {
                assert_eq!(outcome.unwrap(), 7);
                worker.join().unwrap();
                assert_eq!(wakes.load(Ordering::SeqCst), 0);
            }
            Poll::Pending => {
                worker.join().unwrap();
                assert_eq!(wakes.load(Ordering::SeqCst), 1);
                assert_eq!(
                    poll(&mut future, &waker).map(Result::unwrap),
                    Poll::Ready(7)
                );
            }
        }
    });
}

/// The consumer re-polls with a new waker B (replacing A) while the producer
/// completes. At most one wake in total; if the re-poll returned `Pending`, B is
/// the one woken; if it returned the value, B is never woken (A may have been,
/// when the producer published before the re-registration).
#[test]
fn completion_vs_reregistration_with_new_waker() {
    loom::model(|| {
        let (producer, mut future) = promise::<u32>();
        let (waker_a, wakes_a) = counting_waker();
        let (waker_b, wakes_b) = counting_waker();
        assert!(poll(&mut future, &waker_a).is_pending());
        let worker = thread::spawn(move || producer.set_result(7).unwrap());
        let repoll = poll(&mut future, &waker_b);
        worker.join().unwrap();
        let (a, b) = (
            wakes_a.load(Ordering::SeqCst),
            wakes_b.load(Ordering::SeqCst),
        );
        assert!(a + b <= 1, "one completion, at most one wake: a={a} b={b}");
        match repoll {
            Poll::Ready(outcome) => {
                assert_eq!(outcome.unwrap(), 7);
                assert_eq!(b, 0);
            }
            Poll::Pending => {
                assert_eq!((a, b), (0, 1), "the replacement waker is the one woken");
                assert_eq!(
                    poll(&mut future, &waker_b).map(Result::unwrap),
                    Poll::Ready(7)
                );
            }
        }
    });
}

/// The consumer is dropped while the producer completes: the value is dropped
/// exactly once (by the consumer's release, or handed back to the producer),
/// and the cell is freed once (loom's allocation tracking).
#[test]
fn consumer_drop_vs_completion() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (producer, future) = promise::<Tracked>();
        let value = Tracked(Arc::clone(&drops));
        let worker = thread::spawn(move || producer.set_result(value).is_ok());
        drop(future);
        let _delivered = worker.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

/// As `consumer_drop_vs_completion`, with a waker registered first, so the drop
/// reclaims the waiter slot while the producer may be publishing to it.
#[test]
fn registered_consumer_drop_vs_completion() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (producer, mut future) = promise::<Tracked>();
        let (waker, wakes) = counting_waker();
        assert!(poll(&mut future, &waker).is_pending());
        let value = Tracked(Arc::clone(&drops));
        let worker = thread::spawn(move || producer.set_result(value).is_ok());
        drop(future);
        worker.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert!(wakes.load(Ordering::SeqCst) <= 1);
    });
}

/// The producer is dropped without an answer while the consumer awaits: the
/// consumer gets `Abandoned`, never hangs.
#[test]
fn producer_drop_vs_poll() {
    loom::model(|| {
        let (producer, future) = promise::<u32>();
        let worker = thread::spawn(move || drop(producer));
        assert!(matches!(
            loom::future::block_on(future),
            Err(Error::Abandoned)
        ));
        worker.join().unwrap();
    });
}

/// A thread blocks in `wait` while the producer completes: it is unparked
/// exactly when needed and gets the value.
#[test]
fn blocking_wait_vs_completion() {
    loom::model(|| {
        let (producer, mut future) = promise::<u32>();
        let worker = thread::spawn(move || producer.set_result(7).unwrap());
        assert_eq!(future.wait().unwrap(), 7);
        worker.join().unwrap();
    });
}

/// A thread blocks in `wait` while the producer cancels (what an executor's
/// `shutdown(cancel_futures)` does): the waiter gets `Cancelled`. (The
/// consumer's own `cancel` cannot race its `wait`: `wait` holds `&mut`.)
#[test]
fn producer_cancel_vs_blocking_wait() {
    loom::model(|| {
        let (producer, mut future) = promise::<u32>();
        let worker = thread::spawn(move || producer.set_cancelled());
        assert!(matches!(future.wait(), Err(Error::Cancelled)));
        worker.join().unwrap();
    });
}

/// The consumer cancels on one thread (through `&SharedFuture`, which is
/// `Sync`) while another thread, later, waits; the producer races both.
#[test]
fn consumer_cancel_vs_producer_start_then_wait() {
    loom::model(|| {
        let (mut producer, future) = promise::<u32>();
        let future = Arc::new(std::sync::Mutex::new(future));
        let canceller = {
            let future = Arc::clone(&future);
            thread::spawn(move || future.lock().unwrap().cancel())
        };
        let started = producer.set_running_or_notify_cancel();
        if started {
            producer.set_result(3).unwrap();
        } else {
            drop(producer);
        }
        let cancelled = canceller.join().unwrap();
        assert_ne!(started, cancelled);
        let outcome = future.lock().unwrap().wait();
        assert_eq!(outcome.is_ok(), started);
    });
}

/// `wait_timeout` races the completion. Loom models a timed park as "may time
/// out at any point", so both outcomes are explored: the value, or `Timeout`
/// with the future still usable and the value taken later, exactly once.
///
/// The producer is not joined: after the consumer saw the future finished, the
/// producer's unpark can still be on its way; std allows such a late unpark,
/// loom 0.7 aborts if it lands in `join` (tokio-rs/loom#249).
#[test]
fn wait_timeout_vs_completion() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (producer, mut future) = promise::<Tracked>();
        let value = Tracked(Arc::clone(&drops));
        thread::spawn(move || {
            let _ = producer.set_result(value);
        });
        let value = match future.wait_timeout(Duration::from_secs(3600)) {
            Ok(value) => value,
            Err(Error::Timeout) => future.wait().expect("the value after a timeout"),
            Err(other) => panic!("unexpected {other:?}"),
        };
        assert!(matches!(future.try_take(), Some(Err(Error::AlreadyTaken))));
        drop(value);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

/// The awaiting task's waker panics in `wake` while the producer completes: the
/// producer sees the panic only after publishing and releasing, so the value is
/// still delivered, exactly once, and the cell is freed once.
#[test]
fn panicking_waker_vs_completion() {
    struct PanickyWake;
    impl Wake for PanickyWake {
        fn wake(self: StdArc<Self>) {
            panic!("wake exploded");
        }
    }
    loom::model(|| {
        let (producer, mut future) = promise::<u32>();
        let waker = Waker::from(StdArc::new(PanickyWake));
        let worker = thread::spawn(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| producer.set_result(5)))
                .is_err()
        });
        let polled = poll(&mut future, &waker);
        let wake_panicked = worker.join().unwrap();
        // The producer woke (and so panicked) exactly when the poll registered.
        assert_eq!(wake_panicked, polled.is_pending());
        match polled {
            Poll::Ready(outcome) => assert_eq!(outcome.unwrap(), 5),
            Poll::Pending => assert_eq!(future.try_take().unwrap().unwrap(), 5),
        }
    });
}

/// The producer cancels while the consumer cancels: both succeed, and the
/// future is cancelled once.
#[test]
fn producer_cancel_vs_consumer_cancel() {
    loom::model(|| {
        let (producer, mut future) = promise::<u32>();
        let worker = thread::spawn(move || producer.set_cancelled());
        assert!(future.cancel());
        worker.join().unwrap();
        assert!(matches!(future.try_take(), Some(Err(Error::Cancelled))));
    });
}

/// `set_panic` races a poll: the panic payload arrives exactly once.
#[test]
fn set_panic_vs_poll() {
    loom::model(|| {
        let (producer, future) = promise::<u32>();
        let worker = thread::spawn(move || producer.set_panic(Box::new("boom")).unwrap());
        match loom::future::block_on(future) {
            Err(Error::Panicked(panic)) => assert_eq!(panic.message(), Some("boom")),
            other => panic!("unexpected {other:?}"),
        }
        worker.join().unwrap();
    });
}

/// A done callback is registered while the producer completes: it runs exactly
/// once, with the value, on whichever thread came second.
#[test]
fn done_callback_vs_completion() {
    loom::model(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let (producer, future) = promise::<u32>();
        let worker = thread::spawn(move || producer.set_result(7).unwrap());
        let counter = Arc::clone(&calls);
        future.on_done(move |outcome| {
            assert_eq!(outcome.unwrap(), 7);
            counter.fetch_add(1, Ordering::SeqCst);
        });
        worker.join().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    });
}

/// A done callback is registered while the producer is dropped without an
/// answer: it runs exactly once, with `Abandoned`.
#[test]
fn done_callback_vs_producer_drop() {
    loom::model(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let (producer, future) = promise::<u32>();
        let worker = thread::spawn(move || drop(producer));
        let counter = Arc::clone(&calls);
        future.on_done(move |outcome| {
            assert!(matches!(outcome, Err(Error::Abandoned)));
            counter.fetch_add(1, Ordering::SeqCst);
        });
        worker.join().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    });
}

/// `request_stop` races the job starting: either the job never starts (the
/// request cancelled it), or it starts and its token eventually reports the
/// request; the outcome agrees.
#[test]
fn request_stop_vs_job_start() {
    loom::model(|| {
        let (job, mut future) =
            concurrent_futures::Job::with_token(|token| token.is_stop_requested());
        let worker = thread::spawn(move || job.run());
        let accepted = future.request_stop();
        worker.join().unwrap();
        match future.try_take().expect("finished after join") {
            Err(Error::Cancelled) => assert!(accepted),
            // The job ran: refused; what it saw depends on the interleaving.
            Ok(_saw_request) => assert!(!accepted),
            Err(other) => panic!("unexpected {other:?}"),
        }
    });
}

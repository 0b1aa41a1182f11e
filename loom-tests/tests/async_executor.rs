//! Loom models of the async layer: `UnwrapFuture`'s cancellation rules and the
//! map stream's cancel-on-drop, racing the worker. One race per test.
//!
//! Every model runs through the labelled two-pass harness (`helpers::model`):
//! it labels the outcome of each interleaving and fails if an expected outcome
//! was never reached, so a race that never happens cannot pass vacuously; its
//! iterations and outcomes are printed with `--nocapture`. The single-job
//! models are exhaustive; the two map-stream models (three threads) are
//! bounded, and say why.
#![cfg(loom)]

// Each model file uses a part of the shared helpers.
#[allow(dead_code)]
mod helpers;

use concurrent_futures::{
    AsyncExecutor, CancelFutures, Error, Executor, Job, promise, unwrap_future,
};
use futures_core::Stream;
use helpers::{block_on_counting, counting_waker, model, model_bounded};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

/// A value that counts its drops (loom-visible).
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Dropping the `run` future (an `UnwrapFuture`) races the worker starting the
/// job. Either the job was cancelled before it started (the closure never ran,
/// and its capture was dropped unrun), or it ran and its result was dropped on
/// the worker. Each value is dropped exactly once.
#[test]
fn drop_run_future_vs_worker_start() {
    model(
        "drop_run_future_vs_worker_start",
        &["cancelled before the start", "ran"],
        |seen| {
            let ran = Arc::new(AtomicUsize::new(0));
            let captures_dropped = Arc::new(AtomicUsize::new(0));
            let results_dropped = Arc::new(AtomicUsize::new(0));
            let capture = Counted(Arc::clone(&captures_dropped));
            let (job, future) = {
                let ran = Arc::clone(&ran);
                let results_dropped = Arc::clone(&results_dropped);
                Job::new(move || {
                    let _capture = capture;
                    ran.fetch_add(1, Ordering::Relaxed);
                    Counted(results_dropped)
                })
            };
            let waiting = unwrap_future(future);
            let worker = thread::spawn(move || job.run());
            seen.after_spawn();
            drop(waiting);
            worker.join().unwrap();
            assert_eq!(captures_dropped.load(Ordering::Relaxed), 1);
            let ran = ran.load(Ordering::Relaxed);
            assert!(ran <= 1);
            assert_eq!(results_dropped.load(Ordering::Relaxed), ran);
            seen.saw(if ran == 1 {
                "ran"
            } else {
                "cancelled before the start"
            });
        },
    );
}

/// An explicit cancellation request (`UnwrapFuture::cancel`) races the producer's
/// `set_running_or_notify_cancel`. Accepted ⇔ the work never starts and the
/// awaiter gets `Cancelled`; refused ⇔ the awaiter gets the value.
#[test]
fn unwrap_cancel_request_vs_set_running() {
    model(
        "unwrap_cancel_request_vs_set_running",
        &["cancel won", "start won"],
        |seen| {
            let (mut producer, future) = promise::<u32>();
            let mut waiting = unwrap_future(future);
            let worker = thread::spawn(move || {
                if producer.set_running_or_notify_cancel() {
                    producer.set_result(5).unwrap();
                    true
                } else {
                    false
                }
            });
            seen.after_spawn();
            let accepted = waiting.request_stop();
            let outcome = loom::future::block_on(waiting);
            let started = worker.join().unwrap();
            assert_eq!(accepted, !started);
            seen.saw(if accepted { "cancel won" } else { "start won" });
            match outcome {
                Err(Error::Cancelled) => assert!(accepted),
                Ok(value) => {
                    assert!(!accepted);
                    assert_eq!(value, 5);
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        },
    );
}

/// An executor that runs each job on a thread of its own, so that a model
/// explores the stream and the jobs, not a pool's queue (the pool has models of
/// its own in `thread_pool.rs`).
#[derive(Default)]
struct ThreadPerJob {
    threads: std::cell::RefCell<Vec<thread::JoinHandle<()>>>,
}

impl Executor for ThreadPerJob {
    fn execute(&self, job: Job) -> Result<(), concurrent_futures::SubmitError> {
        self.threads
            .borrow_mut()
            .push(thread::spawn(move || job.run()));
        Ok(())
    }
    fn shutdown_nowait(&self, _cancel: CancelFutures) {}
    fn is_shutdown(&self) -> bool {
        false
    }
    fn terminated(&self) -> concurrent_futures::SharedFuture<()> {
        for handle in self.threads.borrow_mut().drain(..) {
            handle.join().unwrap();
        }
        let (producer, future) = promise();
        producer.set_result(()).unwrap();
        future
    }
}

/// Dropping a map stream races two workers completing its jobs. The stream is
/// polled once first: a stream never polled cancels nothing on drop (every job
/// runs, as Python's generator that never started), which is how this model
/// used to pass without its race. Asserts: every result is dropped exactly
/// once (by the consumer side or on the worker); a first poll that returned
/// the first value means job 0 ran; a job whose future was cancelled never ran.
/// The labels count the jobs that ran: fewer than two means the drop cancelled
/// a job before it started.
///
/// Bounded to 3 preemptions (see [`PREEMPTIONS`]).
#[test]
fn map_stream_drop_vs_completions() {
    model_bounded(
        "map_stream_drop_vs_completions",
        &["no job ran", "one job ran", "both jobs ran"],
        PREEMPTIONS,
        |seen| {
            let threads = ThreadPerJob::default();
            let executor = AsyncExecutor::new(&threads);
            let ran = Arc::new(AtomicUsize::new(0));
            let dropped = Arc::new(AtomicUsize::new(0));
            let mut stream = {
                let ran = Arc::clone(&ran);
                let dropped = Arc::clone(&dropped);
                executor
                    .map(
                        move |_| {
                            ran.fetch_add(1, Ordering::Relaxed);
                            Counted(Arc::clone(&dropped))
                        },
                        0..2,
                    )
                    .unwrap()
            };
            seen.after_spawn();
            let (waker, _wakes) = counting_waker();
            let first = std::pin::Pin::new(&mut stream)
                .poll_next(&mut std::task::Context::from_waker(&waker));
            let first_ready = first.is_ready();
            drop(first);
            drop(stream);
            // Joins every job's thread.
            threads.terminated().try_take().unwrap().unwrap();
            let ran = ran.load(Ordering::Relaxed);
            assert_eq!(dropped.load(Ordering::Relaxed), ran);
            assert!(
                ran >= usize::from(first_ready),
                "a yielded value was computed"
            );
            seen.saw(["no job ran", "one job ran", "both jobs ran"][ran]);
        },
    );
}

/// The first result of a map stream is awaited while the worker completes it and
/// the second job: the stream yields in input order, each value once. The
/// labels say whether the first poll found the first result there.
///
/// Bounded to 3 preemptions (see [`PREEMPTIONS`]).
#[test]
fn map_stream_poll_vs_completion() {
    model_bounded(
        "map_stream_poll_vs_completion",
        &["ready on first poll", "pending, then woken"],
        PREEMPTIONS,
        |seen| {
            let threads = ThreadPerJob::default();
            let executor = AsyncExecutor::new(&threads);
            let mut stream = executor.map(|x| x * 10, 0..2_u32).unwrap();
            seen.after_spawn();
            let (first, polls) = block_on_counting(futures_next(&mut stream));
            assert_eq!(first.unwrap().unwrap(), 0);
            seen.saw(if polls == 1 {
                "ready on first poll"
            } else {
                "pending, then woken"
            });
            drop(stream);
            threads.terminated().try_take().unwrap().unwrap();
        },
    );
}

/// The preemption bound of the two models with three threads (the stream's
/// and one per job). Unbounded, on the 2-core CI machine,
/// `map_stream_drop_vs_completions` took 104 s and `map_stream_poll_vs_completion`
/// did not finish in 300 s; with a bound of 3 they take well under 10 s. The
/// single-job versions of these races are explored without a bound by
/// `drop_run_future_vs_worker_start` here and by `shared_future.rs`.
const PREEMPTIONS: Option<usize> = Some(3);

/// `StreamExt::next` without a `futures` dependency.
fn futures_next<S: futures_core::Stream + Unpin>(
    stream: &mut S,
) -> impl std::future::Future<Output = Option<S::Item>> + '_ {
    std::future::poll_fn(move |cx| std::pin::Pin::new(&mut *stream).poll_next(cx))
}

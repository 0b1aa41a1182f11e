//! `AsyncExecutor` and `unwrap_future`, mirroring easynetwork's own tests of
//! `easynetwork.lowlevel.futures` (`tests/functional_test/test_async/test_futures.py`
//! and `tests/unit_test/test_async/test_lowlevel_api/test_futures.py`). Every
//! scenario runs under four runtimes: tokio current-thread, tokio
//! multi-thread, smol, and `futures::executor::block_on`, which shows the layer is
//! driven by wakers alone.
//!
//! Python's task cancellation maps to two Rust operations: dropping the future
//! (Python's "task destroyed"), and `UnwrapFuture::request_stop` (the cancellation
//! request that can be refused while the job runs).
//!
//! Ported (easynetwork test → scenario):
//! - `test____run____submit_and_wait` → `run_submit_and_wait`
//! - `RuntimeError` after shutdown (docstring) → `run_after_shutdown_is_refused`
//! - "whatever `func` raised" → `run_reports_a_panic`
//! - `test____map____schedule_many_calls` → `map_schedule_many_calls`
//! - `test____map____early_schedule` → `map_early_schedule_then_no_suspension`
//! - unit `test____map____submit_to_executor_and_wait[Exception]` →
//!   `map_error_then_drop_cancels_the_rest`
//! - `test____shutdown____idempotent` → `shutdown_is_idempotent`
//! - `test____shutdown____cancel_futures` → `shutdown_cancel_futures`
//! - `test____wrapped_property____returned_wrapped_executor_instance` → `wrapped_is_the_executor`
//! - `test____shutdown_nowait____shutdown_executor[cancel_futures]` → `shutdown_nowait_does_not_wait`
//! - `TestUnwrapFuture::test____unwrap_future____wait_until_done` → `unwrap_wait_until_done`
//! - `..._cancel_future_if_task_is_cancelled____result[None|before|after]` and
//!   `____exception[...]` → `unwrap_cancel_request_pending_is_accepted`,
//!   `unwrap_cancel_request_running_is_refused`, `unwrap_cancel_request_running_then_panic`
//! - `test____unwrap_future____future_is_cancelled` → `unwrap_cancelled_by_someone_else`
//! - `test____unwrap_future____already_done`, `____already_cancelled` →
//!   `unwrap_already_done_resolves_on_first_poll`, `unwrap_already_cancelled`
//! - task destroyed while pending / running → `dropping_run_cancels_a_pending_job`,
//!   `dropping_run_lets_a_running_job_finish`
//!
//! Python-only (not ported): `TypeError` for a non-executor or a bad backend (the
//! type system rules them out), `backend()`, sniffio/contextvars resets (the
//! `tracing` span propagation is tested in `tests/tracing_context.rs`), the
//! mock-based `run_in_thread` checks (ours awaits termination instead of
//! blocking a thread), and the exact asyncio ordering of "task cancellation
//! prevails" (in Rust the awaiter that requests cancellation gets
//! `Err(Cancelled)` either way).

use concurrent_futures::{CancelFutures, MapOptions};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use concurrent_futures::{
    AsyncExecutor, Error, Executor, ThreadPoolExecutor, promise, unwrap_future,
};
use futures::{FutureExt, StreamExt};

fn executor(workers: usize) -> AsyncExecutor<ThreadPoolExecutor> {
    AsyncExecutor::new(
        ThreadPoolExecutor::builder()
            .max_workers(workers)
            .build()
            .unwrap(),
    )
}

/// Counts drops of a job's result.
struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

macro_rules! on_every_runtime {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn tokio_current_thread() {
                tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(super::$scenario());
            }
            #[test]
            fn tokio_multi_thread() {
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap().block_on(super::$scenario());
            }
            #[test]
            fn smol() {
                smol::block_on(super::$scenario());
            }
            #[test]
            fn futures_executor() {
                futures::executor::block_on(super::$scenario());
            }
        }
    )*};
}

on_every_runtime!(
    run_submit_and_wait,
    run_after_shutdown_is_refused,
    run_reports_a_panic,
    map_schedule_many_calls,
    map_early_schedule_then_no_suspension,
    map_error_then_drop_cancels_the_rest,
    map_buffered_on_endless_input,
    shutdown_is_idempotent,
    shutdown_cancel_futures,
    shutdown_nowait_does_not_wait,
    wrapped_is_the_executor,
    unwrap_wait_until_done,
    unwrap_cancel_request_pending_is_accepted,
    unwrap_cancel_request_running_is_refused,
    unwrap_cancel_request_running_then_panic,
    unwrap_cancelled_by_someone_else,
    unwrap_already_done_resolves_on_first_poll,
    unwrap_already_cancelled,
    dropping_run_cancels_a_pending_job,
    dropping_run_lets_a_running_job_finish,
);

async fn run_submit_and_wait() {
    let executor = executor(2);
    assert_eq!(executor.run(|| 42).await.unwrap(), 42);
    let worker = executor
        .run(|| std::thread::current().name().map(str::to_owned))
        .await
        .unwrap();
    assert!(
        worker.unwrap().starts_with("ThreadPoolExecutor_"),
        "ran on a pool thread"
    );
    executor.shutdown(CancelFutures::No).await;
}

async fn run_after_shutdown_is_refused() {
    let executor = executor(1);
    executor.shutdown(CancelFutures::No).await;
    let error = executor.run(|| 1).await.unwrap_err();
    assert!(matches!(error, Error::Shutdown));
    assert_eq!(error.to_string(), "cannot schedule new work after shutdown");
}

async fn run_reports_a_panic() {
    let executor = executor(1);
    match executor.run(|| -> u8 { panic!("boom in a worker") }).await {
        Err(Error::Panicked(panic)) => assert_eq!(panic.message(), Some("boom in a worker")),
        other => panic!("unexpected {other:?}"),
    }
    // The worker survived.
    assert_eq!(executor.run(|| 1).await.unwrap(), 1);
    executor.shutdown(CancelFutures::No).await;
}

async fn map_schedule_many_calls() {
    let executor = executor(3);
    let zipped = [1, 2, 3]
        .into_iter()
        .zip([4, 5, 6])
        .zip([7, 8, 9])
        .map(|((a, b), c)| (a, b, c));
    let results: Vec<(i32, i32, i32)> = executor
        .map(|t| t, zipped)
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(results, [(1, 4, 7), (2, 5, 8), (3, 6, 9)]);
    executor.shutdown(CancelFutures::No).await;
}

async fn map_early_schedule_then_no_suspension() {
    let executor = executor(2);
    let mut results = executor.map(|_| 42, [1_u32, 2, 3]).unwrap();
    // Every call was submitted by `map` itself: a shutdown without cancelling
    // does not stop them.
    executor.shutdown_nowait(CancelFutures::No);
    executor.wrapped().terminated().await.unwrap();
    // Results that are ready resolve on the first poll, without suspending.
    for _ in 0..3 {
        assert_eq!(results.next().now_or_never().unwrap().unwrap().unwrap(), 42);
    }
    assert!(results.next().now_or_never().unwrap().is_none());
}

async fn map_error_then_drop_cancels_the_rest() {
    let executor = executor(1);
    let (release, blocked) = mpsc::channel::<()>();
    let blocked = Arc::new(std::sync::Mutex::new(blocked));
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    let mut results = executor
        .map(
            move |i| {
                counter.fetch_add(1, Ordering::SeqCst);
                if i == 0 {
                    panic!("first call fails");
                }
                if i == 1 {
                    let _ = blocked.lock().unwrap().recv();
                }
                i
            },
            0..5,
        )
        .unwrap();
    assert!(matches!(
        results.next().await,
        Some(Err(Error::Panicked(_)))
    ));
    // The caller stops at the first error, as easynetwork's generator does:
    // dropping the stream cancels what has not started.
    drop(results);
    drop(release);
    executor.shutdown(CancelFutures::No).await;
    assert!(ran.load(Ordering::SeqCst) <= 2, "jobs 2..5 were cancelled");
}

async fn map_buffered_on_endless_input() {
    let executor = executor(2);
    let first: Vec<u64> = executor
        .map_with(
            |x| x + 1,
            0_u64..,
            MapOptions::new().buffer_size(std::num::NonZeroUsize::new(3).unwrap()),
        )
        .unwrap()
        .take(5)
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(first, [1, 2, 3, 4, 5]);
    executor.shutdown(CancelFutures::No).await;
}

async fn shutdown_is_idempotent() {
    let executor = executor(2);
    executor.run(|| ()).await.unwrap();
    executor.shutdown(CancelFutures::No).await;
    executor.shutdown(CancelFutures::No).await;
    executor.shutdown(CancelFutures::Yes).await;
    assert!(executor.wrapped().is_shutdown());
}

async fn shutdown_cancel_futures() {
    let executor = executor(1);
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release, blocked) = mpsc::channel::<()>();
    let busy = executor.run(move || {
        started_tx.send(()).unwrap();
        let _ = blocked.recv();
    });
    started_rx.recv().unwrap(); // the only worker is busy
    let queued: Vec<_> = (0..10).map(|_| executor.run(|| ())).collect();
    executor.shutdown_nowait(CancelFutures::Yes);
    release.send(()).unwrap();
    executor.shutdown(CancelFutures::Yes).await;
    assert!(busy.await.is_ok(), "a running job is not cancelled");
    for job in queued {
        assert!(matches!(job.await, Err(Error::Cancelled)));
    }
}

async fn shutdown_nowait_does_not_wait() {
    let executor = executor(1);
    let (release, blocked) = mpsc::channel::<()>();
    let job = executor.run(move || blocked.recv().is_ok());
    executor.shutdown_nowait(CancelFutures::No);
    assert!(executor.wrapped().is_shutdown());
    release.send(()).unwrap();
    assert!(job.await.unwrap());
    executor.shutdown(CancelFutures::No).await;
}

async fn wrapped_is_the_executor() {
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(3)
            .build()
            .unwrap(),
    );
    let executor = AsyncExecutor::new(Arc::clone(&pool));
    assert!(
        Arc::ptr_eq(executor.wrapped(), &pool),
        "the same executor, not a copy"
    );
    assert_eq!(executor.wrapped().max_workers(), 3);
    executor.shutdown(CancelFutures::No).await;
    assert!(pool.is_shutdown());
}

async fn unwrap_wait_until_done() {
    let (producer, future) = promise::<u32>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        go_rx.recv().unwrap();
        producer.set_result(42).unwrap();
    });
    let waiting = unwrap_future(future);
    go_tx.send(()).unwrap();
    assert_eq!(waiting.await.unwrap(), 42);
    thread.join().unwrap();
}

async fn unwrap_cancel_request_pending_is_accepted() {
    let (mut producer, future) = promise::<u32>();
    let mut waiting = unwrap_future(future);
    assert!(waiting.request_stop(), "pending: the request is accepted");
    assert!(matches!(waiting.await, Err(Error::Cancelled)));
    assert!(
        !producer.set_running_or_notify_cancel(),
        "and the job never starts"
    );
}

async fn unwrap_cancel_request_running_is_refused() {
    for started_before in [true, false] {
        let (mut producer, future) = promise::<u32>();
        if started_before {
            assert!(producer.set_running_or_notify_cancel());
        }
        let mut waiting = unwrap_future(future);
        if !started_before {
            assert!(producer.set_running_or_notify_cancel());
        }
        // Three requests, as easynetwork's test sends: all refused.
        for _ in 0..3 {
            assert!(!waiting.request_stop());
        }
        assert!(waiting.is_stop_refused());
        assert!(!waiting.get_ref().is_cancelled());
        let thread = std::thread::spawn(move || producer.set_result(42).unwrap());
        assert_eq!(waiting.await.unwrap(), 42);
        thread.join().unwrap();
    }
}

async fn unwrap_cancel_request_running_then_panic() {
    let (mut producer, future) = promise::<u32>();
    let mut waiting = unwrap_future(future);
    assert!(producer.set_running_or_notify_cancel());
    assert!(!waiting.request_stop());
    producer.set_panic(Box::new("expected error")).unwrap();
    match waiting.await {
        Err(Error::Panicked(panic)) => assert_eq!(panic.message(), Some("expected error")),
        other => panic!("unexpected {other:?}"),
    }
}

async fn unwrap_cancelled_by_someone_else() {
    let (producer, future) = promise::<u32>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        go_rx.recv().unwrap();
        producer.set_cancelled(); // what shutdown(cancel_futures=True) does to a queued job
    });
    let waiting = unwrap_future(future);
    go_tx.send(()).unwrap();
    assert!(matches!(waiting.await, Err(Error::Cancelled)));
    thread.join().unwrap();
}

async fn unwrap_already_done_resolves_on_first_poll() {
    let (producer, future) = promise::<u32>();
    producer.set_result(42).unwrap();
    assert_eq!(unwrap_future(future).now_or_never().unwrap().unwrap(), 42);
}

async fn unwrap_already_cancelled() {
    let (_producer, future) = promise::<u32>();
    assert!(future.cancel());
    assert!(matches!(unwrap_future(future).await, Err(Error::Cancelled)));
}

async fn dropping_run_cancels_a_pending_job() {
    let executor = executor(1);
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release, blocked) = mpsc::channel::<()>();
    let busy = executor.run(move || {
        started_tx.send(()).unwrap();
        let _ = blocked.recv();
    });
    started_rx.recv().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    let pending = executor.run(move || counter.fetch_add(1, Ordering::SeqCst));
    drop(pending); // the awaiting task is gone while the job is queued
    release.send(()).unwrap();
    busy.await.unwrap();
    executor.shutdown(CancelFutures::No).await;
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "the queued job was cancelled"
    );
}

async fn dropping_run_lets_a_running_job_finish() {
    let executor = executor(1);
    let dropped = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release, blocked) = mpsc::channel::<()>();
    let result_drops = Arc::clone(&dropped);
    let running = executor.run(move || {
        started_tx.send(()).unwrap();
        let _ = blocked.recv();
        Counted(result_drops)
    });
    started_rx.recv().unwrap();
    drop(running); // cannot cancel a running job: it finishes...
    release.send(()).unwrap();
    executor.shutdown(CancelFutures::No).await;
    // ...and its value is dropped on the worker, exactly once.
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

/// Never polled, a map stream cancels nothing when dropped (easynetwork's async
/// generator that was never started); polled once, it cancels what remains.
#[test]
fn map_stream_drop_cancels_only_after_first_poll() {
    futures::executor::block_on(async {
        let executor = executor(1);
        let ran = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&ran);
        drop(
            executor
                .map(move |_| counter.fetch_add(1, Ordering::SeqCst), 0..5)
                .unwrap(),
        );
        executor.shutdown(CancelFutures::No).await;
        assert_eq!(ran.load(Ordering::SeqCst), 5);
    });
}

/// `AsyncExecutor` futures are `Send`: they can be spawned on a multi-thread
/// runtime.
#[test]
fn futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let executor = executor(1);
    let run = executor.run(|| 1);
    assert_send(&run);
    let shutdown = executor.shutdown(CancelFutures::No);
    assert_send(&shutdown);
    drop(run);
    futures::executor::block_on(shutdown);
}

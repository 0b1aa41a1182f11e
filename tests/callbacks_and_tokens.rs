//! Done callbacks (Python's `add_done_callback`) and cooperative cancellation
//! of running jobs (`StopToken`).
//!
//! CPython's `test_done_callback_*` cases, ported: with a result, with an
//! exception, with cancel, already successful, already failed, already
//! cancelled, and a raising callback (`test_done_callback_raises`: here the
//! panic reaches the completing thread after the future was published).

use concurrent_futures::CancelFutures;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use concurrent_futures::{
    AsyncExecutor, Error, Executor, Job, ThreadPoolExecutor, promise, unwrap_future,
};

#[test]
fn done_callback_with_result() {
    let (producer, future) = promise::<u32>();
    let (tx, rx) = mpsc::channel();
    future.on_done(move |outcome| tx.send(outcome.unwrap()).unwrap());
    assert!(rx.try_recv().is_err(), "not done yet: not called");
    producer.set_result(5).unwrap();
    assert_eq!(
        rx.try_recv().unwrap(),
        5,
        "called on the completing thread, at completion"
    );
    assert!(rx.try_recv().is_err(), "exactly once");
}

#[test]
fn done_callback_with_exception() {
    let (producer, future) = promise::<u32>();
    let (tx, rx) = mpsc::channel();
    future.on_done(move |outcome| tx.send(outcome.unwrap_err().is_panicked()).unwrap());
    producer.set_panic(Box::new("failure")).unwrap();
    assert!(rx.try_recv().unwrap());
}

#[test]
fn done_callback_with_cancel() {
    let (producer, future) = promise::<u32>();
    let (tx, rx) = mpsc::channel();
    future.on_done(move |outcome| tx.send(outcome.unwrap_err().is_cancelled()).unwrap());
    producer.set_cancelled(); // the executor cancelled the queued job
    assert!(rx.try_recv().unwrap());
}

#[test]
fn done_callback_when_abandoned() {
    let (producer, future) = promise::<u32>();
    let (tx, rx) = mpsc::channel();
    future.on_done(move |outcome| tx.send(matches!(outcome, Err(Error::Abandoned))).unwrap());
    drop(producer);
    assert!(
        rx.try_recv().unwrap(),
        "a lost producer still runs the callback"
    );
}

#[test]
fn done_callback_already_done() {
    for state in ["successful", "failed", "cancelled"] {
        let (producer, future) = promise::<u32>();
        match state {
            "successful" => producer.set_result(1).unwrap(),
            "failed" => producer.set_panic(Box::new("x")).unwrap(),
            _ => {
                assert!(future.cancel());
                drop(producer);
            }
        }
        let (tx, rx) = mpsc::channel();
        future.on_done(move |outcome| tx.send(outcome.is_ok()).unwrap());
        assert_eq!(
            rx.try_recv().unwrap(),
            state == "successful",
            "{state}: called at once"
        );
    }
}

#[test]
fn done_callback_replaces_an_earlier_poll_registration() {
    let (producer, mut future) = promise::<u32>();
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut future).poll(&mut cx).is_pending());
    let (tx, rx) = mpsc::channel();
    future.on_done(move |outcome| tx.send(outcome.unwrap()).unwrap());
    producer.set_result(8).unwrap();
    assert_eq!(rx.try_recv().unwrap(), 8);
}

#[test]
fn a_panicking_callback_loses_nothing() {
    struct Tracked(Arc<AtomicUsize>);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let (producer, future) = promise::<Tracked>();
    future.on_done(|_outcome| panic!("callback raised"));
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        producer.set_result(Tracked(Arc::clone(&drops)))
    }));
    assert!(
        unwound.is_err(),
        "the callback's panic reaches the completing thread"
    );
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the value was dropped once, during unwinding"
    );
}

#[test]
fn a_panicking_callback_does_not_stop_a_pool_worker() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let (started, is_started) = mpsc::channel::<()>();
    let (release, blocked) = mpsc::channel::<()>();
    let future = pool
        .submit(move || {
            started.send(()).unwrap();
            blocked.recv().unwrap();
        })
        .unwrap();
    is_started.recv().unwrap();
    future.on_done(|_| panic!("callback raised on the worker"));
    release.send(()).unwrap();
    assert_eq!(
        pool.submit(|| 3).unwrap().wait().unwrap(),
        3,
        "the worker survived"
    );
    assert_eq!(pool.worker_count(), 1);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn done_callback_on_a_pool_runs_on_the_worker() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix("cb")
        .build()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    pool.submit(|| 1).unwrap().on_done(move |_| {
        tx.send(std::thread::current().name().map(str::to_owned))
            .unwrap()
    });
    let name = rx.recv().unwrap();
    // Either the worker completed it (the usual case) or it was already done
    // when the callback was registered (then it ran here).
    let here = std::thread::current().name().map(str::to_owned);
    assert!(name.as_deref() == Some("cb_0") || name == here, "{name:?}");
    pool.shutdown(CancelFutures::No);
}

// ------------------------------------------------------ cooperative cancel

/// A job that waits for its token, reporting how it ended.
fn until_cancelled(
    started: mpsc::Sender<()>,
) -> impl FnOnce(&concurrent_futures::StopToken<'_>) -> &'static str {
    move |token| {
        started.send(()).unwrap();
        while !token.is_stop_requested() {
            std::thread::yield_now();
        }
        "stopped early"
    }
}

#[test]
fn a_refused_cancel_request_reaches_the_running_job() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let (started, is_started) = mpsc::channel();
    let mut future = pool.submit_stoppable(until_cancelled(started)).unwrap();
    is_started.recv().unwrap();
    assert!(
        !future.cancel(),
        "plain cancel: refused, and the job is not told"
    );
    assert!(
        !future.request_stop(),
        "request: refused too, but the job is told"
    );
    assert_eq!(future.wait().unwrap(), "stopped early");
    pool.shutdown(CancelFutures::No);
}

#[test]
fn dropping_the_consumer_reaches_the_running_job() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let (started, is_started) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let future = pool
        .submit_stoppable(move |token| {
            let outcome = until_cancelled(started)(token);
            done_tx.send(outcome).unwrap();
        })
        .unwrap();
    is_started.recv().unwrap();
    drop(future);
    assert_eq!(done_rx.recv().unwrap(), "stopped early");
    pool.shutdown(CancelFutures::No);
}

#[test]
fn unwrap_future_cancel_request_reaches_the_running_job() {
    futures::executor::block_on(async {
        let executor = AsyncExecutor::new(
            ThreadPoolExecutor::builder()
                .max_workers(1)
                .build()
                .unwrap(),
        );
        let (started, is_started) = mpsc::channel();
        let mut waiting = executor.run_stoppable(until_cancelled(started));
        is_started.recv().unwrap();
        assert!(
            !waiting.request_stop(),
            "running: refused (easynetwork's rule)..."
        );
        assert_eq!(
            waiting.await.unwrap(),
            "stopped early",
            "...and the job chose to stop"
        );
        executor.shutdown(CancelFutures::No).await;
    });
}

#[test]
fn dropping_the_run_future_reaches_the_running_job() {
    futures::executor::block_on(async {
        let executor = AsyncExecutor::new(
            ThreadPoolExecutor::builder()
                .max_workers(1)
                .build()
                .unwrap(),
        );
        let (started, is_started) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let running = executor.run_stoppable(move |token| {
            let outcome = until_cancelled(started)(token);
            done_tx.send(outcome).unwrap();
        });
        is_started.recv().unwrap();
        drop(running); // the awaiting task was cancelled
        assert_eq!(done_rx.recv().unwrap(), "stopped early");
        executor.shutdown(CancelFutures::No).await;
    });
}

#[test]
fn a_token_is_quiet_while_the_answer_is_wanted() {
    let (job, mut future) = Job::stoppable(|token| token.is_stop_requested());
    job.run();
    assert!(!future.try_take().unwrap().unwrap());
    let (producer, future) = promise::<()>();
    let waiting = unwrap_future(future);
    assert!(!producer.token().is_stop_requested());
    drop(waiting); // pending: cancelled outright
    assert!(producer.is_cancelled() && producer.token().is_stop_requested());
}

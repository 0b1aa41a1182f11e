//! Every value is dropped exactly once, on every path: completion, cancellation,
//! producer drop, consumer drop (before and after completion, with and without
//! taking the value), a job cancelled or dropped unrun, and a panicking `Drop`.
//! A `Tracked` value counts its drops; each test asserts the exact count after
//! each step.

mod common;

use concurrent_futures::CancelFutures;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Tracked, count};
use concurrent_futures::{Error, Executor, InlineExecutor, Job, promise};

#[test]
fn taken_value_is_dropped_by_its_taker() {
    let (value, drops) = Tracked::new();
    let (producer, mut future) = promise();
    producer.set_result(value).unwrap();
    let taken = future.try_take().unwrap().unwrap();
    drop(future);
    assert_eq!(count(&drops), 0);
    drop(taken);
    assert_eq!(count(&drops), 1);
}

#[test]
fn untaken_value_is_dropped_with_the_consumer() {
    let (value, drops) = Tracked::new();
    let (producer, future) = promise();
    producer.set_result(value).unwrap();
    assert_eq!(count(&drops), 0);
    drop(future);
    assert_eq!(count(&drops), 1);
}

#[test]
fn consumer_dropped_before_completion() {
    let (value, drops) = Tracked::new();
    let (producer, future) = promise();
    drop(future);
    let undelivered = producer.set_result(value).unwrap_err();
    assert_eq!(count(&drops), 0, "handed back, not dropped");
    drop(undelivered);
    assert_eq!(count(&drops), 1);
}

#[test]
fn cancelled_then_completed() {
    let (value, drops) = Tracked::new();
    let (producer, mut future) = promise();
    assert!(future.cancel());
    let value = producer.set_result(value).unwrap_err().into_inner();
    assert!(matches!(future.try_take(), Some(Err(Error::Cancelled))));
    drop(future);
    assert_eq!(count(&drops), 0);
    drop(value);
    assert_eq!(count(&drops), 1);
}

#[test]
fn producer_dropped_without_an_answer() {
    let (producer, mut future) = promise::<Tracked>();
    drop(producer);
    assert!(matches!(future.try_take(), Some(Err(Error::Abandoned))));
}

#[test]
fn consumer_dropped_after_the_producer() {
    let (value, drops) = Tracked::new();
    let (producer, future) = promise();
    producer.set_result(value).unwrap(); // the producer is gone now
    assert_eq!(count(&drops), 0);
    drop(future); // the consumer frees the cell and the value
    assert_eq!(count(&drops), 1);
}

#[test]
fn a_panicking_drop_of_the_value_is_dropped_once_and_frees_the_cell() {
    let drops = Arc::new(AtomicUsize::new(0));
    let value = Tracked::panicking(&drops);
    let (producer, future) = promise();
    producer.set_result(value).unwrap();
    let unwound = catch_unwind(AssertUnwindSafe(|| drop(future)));
    assert!(unwound.is_err(), "the value's panic propagates");
    assert_eq!(count(&drops), 1, "dropped exactly once");
    // The cell was freed on the way out: the allocation tests and Miri check the
    // memory itself (see tests/thread_pool.rs under Miri in .ci/run).
}

#[test]
fn job_closure_and_result_each_dropped_once() {
    let (capture, capture_drops) = Tracked::new();
    let (result, result_drops) = Tracked::new();
    let (job, future) = Job::new(move || {
        let _capture = capture;
        result
    });
    job.run();
    assert_eq!(
        count(&capture_drops),
        1,
        "the closure's captures are dropped when it runs"
    );
    assert_eq!(count(&result_drops), 0);
    drop(future);
    assert_eq!(count(&result_drops), 1);
}

#[test]
fn job_cancelled_before_it_runs_drops_its_closure_unrun() {
    let (capture, capture_drops) = Tracked::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    let (job, mut future) = Job::new(move || {
        let _capture = capture;
        counter.fetch_add(1, Ordering::SeqCst);
    });
    assert!(future.cancel());
    job.run();
    assert_eq!(count(&ran), 0);
    assert_eq!(count(&capture_drops), 1);
    assert!(matches!(future.try_take(), Some(Err(Error::Cancelled))));
}

#[test]
fn job_dropped_or_cancelled_by_its_executor() {
    let (capture, capture_drops) = Tracked::new();
    let (job, mut future) = Job::new(move || drop(capture));
    drop(job); // an executor lost it: the future is abandoned, never hangs
    assert_eq!(count(&capture_drops), 1);
    assert!(matches!(future.try_take(), Some(Err(Error::Abandoned))));

    let (capture, capture_drops) = Tracked::new();
    let (job, mut future) = Job::new(move || drop(capture));
    job.cancel(); // shutdown(cancel_futures)
    assert_eq!(count(&capture_drops), 1);
    assert!(matches!(future.try_take(), Some(Err(Error::Cancelled))));
}

#[test]
fn job_result_with_nobody_waiting_is_dropped_on_the_runner() {
    let (result, result_drops) = Tracked::new();
    let (job, future) = Job::new(move || result);
    drop(future);
    job.run();
    assert_eq!(count(&result_drops), 1);
}

#[test]
fn a_panicking_job_drops_its_captures_once() {
    let (capture, capture_drops) = Tracked::new();
    let (job, mut future) = Job::new(move || -> u8 {
        let _capture = capture;
        panic!("job failed");
    });
    job.run();
    assert_eq!(count(&capture_drops), 1);
    assert!(matches!(future.try_take(), Some(Err(Error::Panicked(_)))));
}

#[test]
fn inline_executor_after_shutdown_drops_the_refused_closure() {
    let executor = InlineExecutor::new();
    executor.shutdown_nowait(CancelFutures::No);
    let (capture, capture_drops) = Tracked::new();
    assert!(executor.submit(move || drop(capture)).is_err());
    assert_eq!(count(&capture_drops), 1);
}

// A failure is stored untagged, its tag in the state word (PANICKED, FAILED):
// each of its paths drops it once (Miri's leak check covers the boxed errors,
// which carry no counter).

#[test]
fn taken_panic_payload_is_dropped_by_its_taker() {
    let (payload, drops) = Tracked::new();
    let (producer, mut future) = promise::<u8>();
    producer.set_panic(Box::new(payload)).unwrap();
    let error = future.try_take().unwrap().unwrap_err();
    assert!(matches!(future.try_take(), Some(Err(Error::AlreadyTaken))));
    drop(future);
    assert_eq!(count(&drops), 0);
    drop(error);
    assert_eq!(count(&drops), 1);
}

#[test]
fn untaken_panic_payload_is_dropped_with_the_consumer() {
    let (payload, drops) = Tracked::new();
    let (producer, future) = promise::<u8>();
    producer.set_panic(Box::new(payload)).unwrap();
    assert_eq!(count(&drops), 0);
    drop(future);
    assert_eq!(count(&drops), 1);
}

#[test]
fn panic_payload_is_handed_back_when_the_consumer_is_gone() {
    let (payload, drops) = Tracked::new();
    let (producer, future) = promise::<u8>();
    drop(future);
    let undelivered = producer.set_panic(Box::new(payload)).unwrap_err();
    assert_eq!(count(&drops), 0, "handed back, not dropped");
    drop(undelivered);
    assert_eq!(count(&drops), 1);
}

#[test]
fn untaken_job_panic_payload_is_dropped_with_the_consumer() {
    let (payload, drops) = Tracked::new();
    let (job, future) = Job::new(move || -> u8 { std::panic::panic_any(payload) });
    job.run();
    assert_eq!(count(&drops), 0);
    drop(future);
    assert_eq!(count(&drops), 1);
}

#[test]
fn a_job_error_is_dropped_once_taken_untaken_or_undelivered() {
    use concurrent_futures::JobOptions;
    use std::time::Duration;
    let late = || JobOptions::new().timeout(Duration::ZERO);
    // Taken.
    let (job, mut future) = Job::with_options(|_| 1_u8, late());
    job.run();
    assert!(matches!(future.try_take(), Some(Err(Error::Timeout))));
    assert!(matches!(future.try_take(), Some(Err(Error::AlreadyTaken))));
    drop(future);
    // Never taken: dropped with the cell, by the consumer.
    let (job, future) = Job::with_options(|_| 1_u8, late());
    job.run();
    drop(future);
    // Undelivered (the consumer went first): read back and dropped by the
    // runner.
    let (job, future) = Job::with_options(|_| 1_u8, late());
    let (value, drops) = Tracked::new();
    let (job2, future2) = Job::with_options(move |_| value, late());
    drop(future);
    drop(future2);
    job.run();
    job2.run();
    assert_eq!(count(&drops), 1, "the skipped closure's capture");
}

//! Per-job deadlines (`JobOptions`, `Executor::submit_with`,
//! `AsyncExecutor::run_with`, `Job::with_options`): a job not started by its
//! deadline is skipped (its closure dropped unrun), its token reports a stop
//! from the deadline on, and a value it returns after the deadline is
//! dropped; each way its future reports `Err(Timeout)`. Before the deadline
//! nothing changes; without one, `submit_with` is `submit_stoppable`.
//!
//! No test depends on timing to pass. A deadline is either already past
//! (`Duration::ZERO`, `Instant::now()`), far away (600 s), or short and
//! followed by a path for each side of it: a job that would have been skipped
//! had its start come after the deadline gives the same outcome, and the test
//! checks what must hold on the path taken. The test thread waits for a
//! deadline to pass (`wait_past`) before it opens a gate, never to let another
//! thread run.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use common::{Tracked, count, gated, no_hang, pool};
use concurrent_futures::{
    AsyncExecutor, CancelFutures, Error, Executor, InlineExecutor, Job, JobOptions, StopToken,
    ThreadPoolExecutor,
};

/// Far enough never to be reached by a test.
const FAR: Duration = Duration::from_secs(600);
/// Short: a job looping on its token ends soon after.
const SHORT: Duration = Duration::from_millis(20);

/// Returns once `Instant::now() >= deadline`.
fn wait_past(deadline: Instant) {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        std::thread::sleep(deadline - now);
    }
}

/// A closure that holds a `Tracked` and counts its runs.
fn counted_job(
    drops: &Arc<AtomicUsize>,
    ran: &Arc<AtomicUsize>,
) -> impl FnOnce(&StopToken<'_>) -> u32 + Send + use<> {
    let tracked = Tracked::counting(drops);
    let ran = Arc::clone(ran);
    move |_token| {
        let _tracked = tracked;
        ran.fetch_add(1, Ordering::SeqCst);
        7
    }
}

fn counters() -> (Arc<AtomicUsize>, Arc<AtomicUsize>) {
    (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)))
}

// ------------------------------------------------------------ Job itself

#[test]
fn job_options_equality() {
    assert_eq!(JobOptions::new(), JobOptions::default());
    assert_ne!(JobOptions::new().timeout(FAR), JobOptions::new());
    let at = Instant::now() + FAR;
    assert_eq!(
        JobOptions::new().deadline(at),
        JobOptions::new().deadline(at)
    );
    // A timeout too large for the clock means no deadline.
    assert_eq!(JobOptions::new().timeout(Duration::MAX), JobOptions::new());
}

#[test]
fn job_with_a_past_deadline_is_skipped() {
    for options in [
        JobOptions::new().timeout(Duration::ZERO),
        JobOptions::new().deadline(Instant::now()),
    ] {
        let (drops, ran) = counters();
        let (job, mut future) = Job::with_options(counted_job(&drops, &ran), options);
        job.run();
        assert!(matches!(future.try_take(), Some(Err(Error::Timeout))));
        assert_eq!(count(&ran), 0, "a job past its deadline never runs");
        assert_eq!(count(&drops), 1, "its closure is dropped once");
    }
}

#[test]
fn job_without_a_deadline_is_stoppable() {
    let (job, mut future) = Job::with_options(|token| token.is_stop_requested(), JobOptions::new());
    job.run();
    assert!(!future.try_take().unwrap().unwrap());

    let (job, future) = Job::with_options(|token| token.is_stop_requested(), JobOptions::new());
    let (done, outcome) = mpsc::channel();
    future.on_done(move |outcome| done.send(outcome).unwrap());
    job.run();
    // A callback is the consumer: still wanted.
    assert!(!outcome.recv().unwrap().unwrap());
}

#[test]
fn job_with_a_far_deadline_runs() {
    let (job, mut future) = Job::with_options(
        |token| (token.is_stop_requested(), 42),
        JobOptions::new().timeout(FAR),
    );
    job.run();
    assert_eq!(future.try_take().unwrap().unwrap(), (false, 42));
}

/// The job itself waits past its deadline: its token turns, and its value
/// is dropped.
#[test]
fn job_returning_after_its_deadline_times_out() {
    let deadline = Instant::now() + SHORT;
    let (tracked, drops) = Tracked::new();
    let ran = Arc::new(AtomicBool::new(false));
    let saw = Arc::new(AtomicBool::new(false));
    let (job, mut future) = {
        let (ran, saw) = (Arc::clone(&ran), Arc::clone(&saw));
        Job::with_options(
            move |token| {
                ran.store(true, Ordering::SeqCst);
                wait_past(deadline);
                saw.store(token.is_stop_requested(), Ordering::SeqCst);
                tracked
            },
            JobOptions::new().deadline(deadline),
        )
    };
    job.run();
    assert!(matches!(future.try_take(), Some(Err(Error::Timeout))));
    // Ran (the usual case) or skipped (this thread descheduled past the
    // deadline): the value or the closure holding it dropped once.
    assert_eq!(count(&drops), 1, "the late value is dropped once");
    if ran.load(Ordering::SeqCst) {
        assert!(saw.load(Ordering::SeqCst), "past the deadline: a stop");
    }
}

#[test]
fn job_with_a_deadline_that_panics_reports_the_panic() {
    let (job, mut future) =
        Job::with_options(|_| -> u8 { panic!("boom") }, JobOptions::new().timeout(FAR));
    job.run();
    match future.try_take() {
        Some(Err(Error::Panicked(panic))) => assert_eq!(panic.message(), Some("boom")),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn job_with_a_deadline_cancelled_first_is_cancelled() {
    // Cancelled wins over a deadline, past or not.
    for options in [
        JobOptions::new().timeout(FAR),
        JobOptions::new().timeout(Duration::ZERO),
    ] {
        let (drops, ran) = counters();
        let (job, mut future) = Job::with_options(counted_job(&drops, &ran), options);
        assert!(future.cancel());
        job.run();
        assert!(matches!(future.try_take(), Some(Err(Error::Cancelled))));
        assert_eq!(count(&ran), 0);
        assert_eq!(count(&drops), 1);

        let (drops, ran) = counters();
        let (job, mut future) = Job::with_options(counted_job(&drops, &ran), options);
        job.cancel();
        assert!(matches!(future.try_take(), Some(Err(Error::Cancelled))));
        assert_eq!(count(&ran), 0);
        assert_eq!(count(&drops), 1);
    }
}

// ---------------------------------------------- the scenarios, per executor

/// A deadline already past: `Err(Timeout)`, the closure dropped once, unrun.
fn past_deadline<E: Executor>(executor: &E) {
    for options in [
        JobOptions::new().timeout(Duration::ZERO),
        JobOptions::new().deadline(Instant::now()),
    ] {
        let (drops, ran) = counters();
        let mut future = executor
            .submit_with(counted_job(&drops, &ran), options)
            .unwrap();
        assert!(matches!(future.wait(), Err(Error::Timeout)));
        assert_eq!(count(&ran), 0, "never ran");
        assert_eq!(count(&drops), 1, "dropped once");
    }
}

/// A job looping on its token with a short deadline ends with
/// `Err(Timeout)`; if it ran (it is skipped if it starts after the deadline),
/// it saw the stop.
fn looping_job_times_out<E: Executor>(executor: &E) {
    let ran = Arc::new(AtomicBool::new(false));
    let saw = Arc::new(AtomicBool::new(false));
    let mut future = {
        let (ran, saw) = (Arc::clone(&ran), Arc::clone(&saw));
        executor
            .submit_with(
                move |token| {
                    ran.store(true, Ordering::SeqCst);
                    let mut rounds = 0_u64;
                    while !token.is_stop_requested() {
                        rounds += 1;
                        std::hint::spin_loop();
                    }
                    saw.store(token.is_stop_requested(), Ordering::SeqCst);
                    rounds
                },
                JobOptions::new().timeout(SHORT),
            )
            .unwrap()
    };
    assert!(matches!(future.wait(), Err(Error::Timeout)));
    if ran.load(Ordering::SeqCst) {
        assert!(saw.load(Ordering::SeqCst), "the token reported the stop");
    } else {
        eprintln!("the looping job started after its deadline and was skipped");
    }
}

/// A job held at a gate that the test opens only once its deadline has
/// passed: its value (a `Tracked`) is dropped once, and the future reports
/// `Err(Timeout)`. Had it started after the deadline, its closure (which
/// holds the value) would have been dropped unrun: once as well.
fn late_value_is_dropped<E: Executor>(executor: &E) {
    let deadline = Instant::now() + SHORT;
    let (tracked, drops) = Tracked::new();
    let (started, is_started) = mpsc::channel();
    let (open, gate) = mpsc::channel::<()>();
    let saw = Arc::new(AtomicBool::new(false));
    let mut future = {
        let saw = Arc::clone(&saw);
        executor
            .submit_with(
                move |token| {
                    started.send(()).unwrap();
                    let _ = gate.recv();
                    saw.store(token.is_stop_requested(), Ordering::SeqCst);
                    tracked
                },
                JobOptions::new().deadline(deadline),
            )
            .unwrap()
    };
    match is_started.recv() {
        Ok(()) => {
            wait_past(deadline);
            assert_eq!(count(&drops), 0, "still held by the job");
            drop(open);
            assert!(matches!(future.wait(), Err(Error::Timeout)));
            assert!(saw.load(Ordering::SeqCst), "past the deadline: a stop");
        }
        // The closure was dropped unrun (its sender with it): skipped.
        Err(_) => assert!(matches!(future.wait(), Err(Error::Timeout))),
    }
    assert_eq!(count(&drops), 1, "the value (or closure) dropped once");
}

/// A job that finishes before its deadline: `Ok`, its token quiet.
fn before_deadline_is_ok<E: Executor>(executor: &E) {
    let (tracked, drops) = Tracked::new();
    let mut future = executor
        .submit_with(
            move |token| (token.is_stop_requested(), tracked),
            JobOptions::new().timeout(FAR),
        )
        .unwrap();
    let (stopped, value) = future.wait().unwrap();
    assert!(!stopped);
    assert_eq!(count(&drops), 0, "the value is delivered, not dropped");
    drop(value);
    assert_eq!(count(&drops), 1);
}

/// `JobOptions::new()`: as `submit_stoppable`.
fn no_deadline_is_stoppable<E: Executor>(executor: &E) {
    let mut with = executor
        .submit_with(|token| token.is_stop_requested(), JobOptions::new())
        .unwrap();
    let mut stoppable = executor
        .submit_stoppable(|token| token.is_stop_requested())
        .unwrap();
    assert_eq!(with.wait().unwrap(), stoppable.wait().unwrap());
    let mut with = executor.submit_with(|_| 5, JobOptions::new()).unwrap();
    assert_eq!(with.wait().unwrap(), 5);
}

/// A job with a deadline that panics before it: `Err(Panicked)`.
fn panicking_job<E: Executor>(executor: &E) {
    let mut future = executor
        .submit_with(
            |_| -> u8 { panic!("deadline job panicked") },
            JobOptions::new().timeout(FAR),
        )
        .unwrap();
    match future.wait() {
        Err(Error::Panicked(panic)) => assert_eq!(panic.message(), Some("deadline job panicked")),
        other => panic!("unexpected {other:?}"),
    }
}

/// A job that panics after its deadline (held at a gate opened past it) still
/// reports the panic; one skipped reports `Timeout`.
fn panicking_after_deadline<E: Executor>(executor: &E) {
    let deadline = Instant::now() + SHORT;
    let (started, is_started) = mpsc::channel();
    let (open, gate) = mpsc::channel::<()>();
    let mut future = executor
        .submit_with(
            move |_| -> u8 {
                started.send(()).unwrap();
                let _ = gate.recv();
                panic!("late panic")
            },
            JobOptions::new().deadline(deadline),
        )
        .unwrap();
    match is_started.recv() {
        Ok(()) => {
            wait_past(deadline);
            drop(open);
            assert!(matches!(future.wait(), Err(Error::Panicked(_))));
        }
        Err(_) => assert!(matches!(future.wait(), Err(Error::Timeout))),
    }
}

// ------------------------------------------------------------ thread pool

#[test]
fn pool_past_deadline() {
    no_hang("pool past deadline", || {
        let pool = pool(2);
        past_deadline(&pool);
        pool.shutdown(CancelFutures::No);
    });
}

#[test]
fn pool_looping_job_times_out() {
    no_hang("pool loop", || {
        let pool = pool(2);
        looping_job_times_out(&pool);
        pool.shutdown(CancelFutures::No);
    });
}

#[test]
fn pool_late_value_is_dropped() {
    no_hang("pool late value", || {
        let pool = pool(2);
        late_value_is_dropped(&pool);
        pool.shutdown(CancelFutures::No);
    });
}

#[test]
fn pool_before_deadline_is_ok() {
    no_hang("pool before deadline", || {
        let pool = pool(2);
        before_deadline_is_ok(&pool);
        pool.shutdown(CancelFutures::No);
    });
}

#[test]
fn pool_no_deadline_is_stoppable() {
    no_hang("pool no deadline", || {
        let pool = pool(2);
        no_deadline_is_stoppable(&pool);
        // And a request to stop from the consumer reaches it.
        let (started, is_started) = mpsc::channel();
        let mut future = pool
            .submit_with(
                move |token| {
                    started.send(()).unwrap();
                    while !token.is_stop_requested() {
                        std::hint::spin_loop();
                    }
                    "asked to stop"
                },
                JobOptions::new(),
            )
            .unwrap();
        is_started.recv().unwrap();
        assert!(!future.request_stop());
        assert_eq!(future.wait().unwrap(), "asked to stop");
        pool.shutdown(CancelFutures::No);
    });
}

#[test]
fn pool_panicking_job() {
    no_hang("pool panic", || {
        let pool = pool(2);
        panicking_job(&pool);
        panicking_after_deadline(&pool);
        // The worker survived both.
        assert_eq!(pool.submit(|| 1).unwrap().wait().unwrap(), 1);
        pool.shutdown(CancelFutures::No);
    });
}

/// A deadline job queued behind a busy worker, cancelled while queued:
/// `Err(Cancelled)`, its closure dropped once, unrun; by the future's
/// `cancel`, and by `shutdown(Yes)`.
#[test]
fn pool_deadline_job_cancelled_while_queued() {
    no_hang("pool cancelled while queued", || {
        let pool = pool(1);
        let (release, mut busy) = gated(&pool, || 1);
        let (drops, ran) = counters();
        let mut by_cancel = pool
            .submit_with(counted_job(&drops, &ran), JobOptions::new().timeout(FAR))
            .unwrap();
        let mut by_shutdown = pool
            .submit_with(counted_job(&drops, &ran), JobOptions::new().timeout(FAR))
            .unwrap();
        assert!(by_cancel.cancel());
        assert!(matches!(by_cancel.wait(), Err(Error::Cancelled)));
        pool.shutdown_nowait(CancelFutures::Yes);
        assert!(matches!(by_shutdown.wait(), Err(Error::Cancelled)));
        drop(release);
        pool.shutdown(CancelFutures::No);
        assert_eq!(busy.wait().unwrap(), 1);
        assert_eq!(count(&ran), 0);
        assert_eq!(count(&drops), 2, "each closure dropped once");
    });
}

/// A deadline job queued behind a busy worker until past its deadline: the
/// worker skips it.
#[test]
fn pool_deadline_passing_in_the_queue_skips_the_job() {
    no_hang("pool deadline in the queue", || {
        let pool = pool(1);
        let (release, mut busy) = gated(&pool, || 1);
        let (drops, ran) = counters();
        let deadline = Instant::now() + SHORT;
        let mut queued = pool
            .submit_with(
                counted_job(&drops, &ran),
                JobOptions::new().deadline(deadline),
            )
            .unwrap();
        wait_past(deadline);
        drop(release);
        assert_eq!(busy.wait().unwrap(), 1);
        assert!(matches!(queued.wait(), Err(Error::Timeout)));
        assert_eq!(count(&ran), 0, "skipped");
        assert_eq!(count(&drops), 1);
        pool.shutdown(CancelFutures::No);
    });
}

/// The deadline counts from `JobOptions::timeout`'s call, not from the
/// submit: options made, then held past their deadline, skip the job.
#[test]
fn timeout_counts_from_the_options() {
    no_hang("timeout from the options", || {
        let pool = pool(1);
        let options = JobOptions::new().timeout(SHORT);
        wait_past(Instant::now() + SHORT);
        let (drops, ran) = counters();
        let mut future = pool
            .submit_with(counted_job(&drops, &ran), options)
            .unwrap();
        assert!(matches!(future.wait(), Err(Error::Timeout)));
        assert_eq!(count(&ran), 0);
        assert_eq!(count(&drops), 1);
        pool.shutdown(CancelFutures::No);
    });
}

/// A deadline job running when the pool is shut down with `AndStopRunning`:
/// its token reports the stop before the deadline; the value it returns
/// then is delivered.
#[test]
fn pool_deadline_job_and_stop_running() {
    no_hang("deadline and stop running", || {
        let pool = pool(1);
        let (started, is_started) = mpsc::channel();
        let mut future = pool
            .submit_with(
                move |token| {
                    started.send(()).unwrap();
                    while !token.is_stop_requested() {
                        std::hint::spin_loop();
                    }
                    "stopped before the deadline"
                },
                JobOptions::new().timeout(FAR),
            )
            .unwrap();
        is_started.recv().unwrap();
        pool.shutdown(CancelFutures::AndStopRunning);
        assert_eq!(future.wait().unwrap(), "stopped before the deadline");
    });
}

/// `wait_deadline` at the job's deadline, as the docs suggest, bounds the wait
/// whatever the job does; the job's own outcome is still `Timeout`.
#[test]
fn wait_deadline_at_the_jobs_deadline() {
    no_hang("wait_deadline", || {
        let pool = pool(1);
        let deadline = Instant::now() + SHORT;
        let (open, gate) = mpsc::channel::<()>();
        let mut future = pool
            .submit_with(
                move |_| {
                    let _ = gate.recv(); // ignores its token
                    3
                },
                JobOptions::new().deadline(deadline),
            )
            .unwrap();
        assert!(matches!(
            future.wait_deadline(deadline),
            Err(Error::Timeout)
        ));
        drop(open);
        assert!(matches!(future.wait(), Err(Error::Timeout)));
        pool.shutdown(CancelFutures::No);
    });
}

// ---------------------------------------------------------- InlineExecutor

#[test]
fn inline_past_deadline() {
    let executor = InlineExecutor::new();
    past_deadline(&executor);
}

#[test]
fn inline_looping_job_times_out() {
    no_hang("inline loop", || {
        looping_job_times_out(&InlineExecutor::new());
    });
}

/// Inline, the job runs inside `submit_with`: it waits past its own deadline
/// and returns a value, which is dropped.
#[test]
fn inline_late_value_is_dropped() {
    let executor = InlineExecutor::new();
    let deadline = Instant::now() + SHORT;
    let (tracked, drops) = Tracked::new();
    let saw = Arc::new(AtomicBool::new(false));
    let ran = Arc::new(AtomicBool::new(false));
    let mut future = {
        let (saw, ran) = (Arc::clone(&saw), Arc::clone(&ran));
        executor
            .submit_with(
                move |token| {
                    ran.store(true, Ordering::SeqCst);
                    wait_past(deadline);
                    saw.store(token.is_stop_requested(), Ordering::SeqCst);
                    tracked
                },
                JobOptions::new().deadline(deadline),
            )
            .unwrap()
    };
    assert!(matches!(future.try_take(), Some(Err(Error::Timeout))));
    assert_eq!(count(&drops), 1);
    if ran.load(Ordering::SeqCst) {
        assert!(saw.load(Ordering::SeqCst));
    }
}

#[test]
fn inline_before_deadline_is_ok() {
    before_deadline_is_ok(&InlineExecutor::new());
}

#[test]
fn inline_no_deadline_is_stoppable() {
    no_deadline_is_stoppable(&InlineExecutor::new());
}

#[test]
fn inline_panicking_job() {
    let executor = InlineExecutor::new();
    panicking_job(&executor);
    assert_eq!(
        executor.submit(|| 2).unwrap().try_take().unwrap().unwrap(),
        2
    );
}

// ----------------------------------------------------------- AsyncExecutor

fn async_pool(workers: usize) -> AsyncExecutor<ThreadPoolExecutor> {
    AsyncExecutor::new(pool(workers))
}

async fn async_past_deadline() {
    let executor = async_pool(2);
    for options in [
        JobOptions::new().timeout(Duration::ZERO),
        JobOptions::new().deadline(Instant::now()),
    ] {
        let (drops, ran) = counters();
        let outcome = executor.run_with(counted_job(&drops, &ran), options).await;
        assert!(matches!(outcome, Err(Error::Timeout)));
        assert_eq!(count(&ran), 0);
        assert_eq!(count(&drops), 1);
    }
    executor.shutdown(CancelFutures::No).await;
}

async fn async_looping_job_times_out() {
    let executor = async_pool(2);
    let ran = Arc::new(AtomicBool::new(false));
    let saw = Arc::new(AtomicBool::new(false));
    let outcome = {
        let (ran, saw) = (Arc::clone(&ran), Arc::clone(&saw));
        executor
            .run_with(
                move |token| {
                    ran.store(true, Ordering::SeqCst);
                    while !token.is_stop_requested() {
                        std::hint::spin_loop();
                    }
                    saw.store(true, Ordering::SeqCst);
                },
                JobOptions::new().timeout(SHORT),
            )
            .await
    };
    assert!(matches!(outcome, Err(Error::Timeout)));
    if ran.load(Ordering::SeqCst) {
        assert!(saw.load(Ordering::SeqCst));
    }
    executor.shutdown(CancelFutures::No).await;
}

/// The gate is opened by a helper thread once the deadline has passed (the
/// awaiting task must not block its runtime's thread).
async fn async_late_value_is_dropped() {
    let executor = async_pool(2);
    let deadline = Instant::now() + SHORT;
    let (tracked, drops) = Tracked::new();
    let (started, is_started) = mpsc::channel();
    let (open, gate) = mpsc::channel::<()>();
    let job = executor.run_with(
        move |_| {
            started.send(()).unwrap();
            let _ = gate.recv();
            tracked
        },
        JobOptions::new().deadline(deadline),
    );
    let opener = std::thread::spawn(move || {
        let started = is_started.recv().is_ok();
        if started {
            wait_past(deadline);
        }
        drop(open);
        started
    });
    assert!(matches!(job.await, Err(Error::Timeout)));
    let _started = opener.join().unwrap();
    assert_eq!(count(&drops), 1);
    executor.shutdown(CancelFutures::No).await;
}

async fn async_before_deadline_and_no_deadline() {
    let executor = async_pool(2);
    let (tracked, drops) = Tracked::new();
    let (stopped, value) = executor
        .run_with(
            move |token| (token.is_stop_requested(), tracked),
            JobOptions::new().timeout(FAR),
        )
        .await
        .unwrap();
    assert!(!stopped);
    drop(value);
    assert_eq!(count(&drops), 1);
    let with = executor
        .run_with(|token| token.is_stop_requested(), JobOptions::new())
        .await
        .unwrap();
    let stoppable = executor
        .run_stoppable(|token| token.is_stop_requested())
        .await
        .unwrap();
    assert!(!with);
    assert_eq!(with, stoppable);
    executor.shutdown(CancelFutures::No).await;
}

async fn async_panicking_job() {
    let executor = async_pool(1);
    let outcome = executor
        .run_with(
            |_| -> u8 { panic!("async deadline panic") },
            JobOptions::new().timeout(FAR),
        )
        .await;
    match outcome {
        Err(Error::Panicked(panic)) => assert_eq!(panic.message(), Some("async deadline panic")),
        other => panic!("unexpected {other:?}"),
    }
    executor.shutdown(CancelFutures::No).await;
}

/// Queued behind a busy worker: dropping the `run_with` future cancels it
/// (its closure dropped once, unrun); so does `shutdown(Yes)`.
async fn async_cancelled_while_queued() {
    let executor = async_pool(1);
    let (started, is_started) = mpsc::channel();
    let (open, gate) = mpsc::channel::<()>();
    let busy = executor.run(move || {
        started.send(()).unwrap();
        let _ = gate.recv();
        1
    });
    is_started.recv().unwrap();
    let (drops, ran) = counters();
    let dropped = executor.run_with(counted_job(&drops, &ran), JobOptions::new().timeout(FAR));
    let by_shutdown = executor.run_with(counted_job(&drops, &ran), JobOptions::new().timeout(FAR));
    drop(dropped);
    executor.shutdown_nowait(CancelFutures::Yes);
    assert!(matches!(by_shutdown.await, Err(Error::Cancelled)));
    drop(open);
    executor.shutdown(CancelFutures::No).await;
    assert_eq!(busy.await.unwrap(), 1);
    assert_eq!(count(&ran), 0);
    assert_eq!(count(&drops), 2);
    assert!(matches!(
        executor.run_with(|_| 1, JobOptions::new()).await,
        Err(Error::Shutdown)
    ));
}

/// Every async scenario under `futures::executor::block_on` and tokio's
/// current-thread and multi-thread runtimes.
macro_rules! async_scenarios {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                use super::no_hang;

                #[test]
                fn block_on() {
                    no_hang(stringify!($scenario), || {
                        futures::executor::block_on(super::$scenario())
                    });
                }

                #[test]
                fn tokio_current_thread() {
                    no_hang(stringify!($scenario), || {
                        tokio::runtime::Builder::new_current_thread()
                            .build()
                            .unwrap()
                            .block_on(super::$scenario())
                    });
                }

                #[test]
                fn tokio_multi_thread() {
                    no_hang(stringify!($scenario), || {
                        tokio::runtime::Builder::new_multi_thread()
                            .worker_threads(2)
                            .build()
                            .unwrap()
                            .block_on(super::$scenario())
                    });
                }
            }
        )*
    };
}

async_scenarios!(
    async_past_deadline,
    async_looping_job_times_out,
    async_late_value_is_dropped,
    async_before_deadline_and_no_deadline,
    async_panicking_job,
    async_cancelled_while_queued,
);

// ------------------------------------------- a `Drop` that panics, past it

/// For comparison: a cancelled job whose closure's `Drop` panics is still
/// `Err(Cancelled)` (the panic may unwind out of `run`; the outcome stands).
#[test]
fn a_cancelled_closure_whose_drop_panics_is_still_cancelled() {
    let drops = Arc::new(AtomicUsize::new(0));
    let tracked = Tracked::panicking(&drops);
    let (job, mut future) = Job::with_options(
        move |_| {
            let _tracked = tracked;
            1
        },
        JobOptions::new().timeout(FAR),
    );
    assert!(future.cancel());
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run()));
    assert!(matches!(future.try_take(), Some(Err(Error::Cancelled))));
    assert_eq!(count(&drops), 1);
}

/// A job skipped at its deadline whose closure's `Drop` panics should report
/// `Err(Timeout)` as documented ("either way the outcome is `Err(Timeout)`"),
/// as a cancelled one stays `Err(Cancelled)`.
#[test]
fn a_skipped_closure_whose_drop_panics_still_times_out() {
    let drops = Arc::new(AtomicUsize::new(0));
    let tracked = Tracked::panicking(&drops);
    let (job, mut future) = Job::with_options(
        move |_| {
            let _tracked = tracked;
            1
        },
        JobOptions::new().timeout(Duration::ZERO),
    );
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run()));
    assert_eq!(count(&drops), 1);
    match future.try_take() {
        Some(Err(Error::Timeout)) => {}
        other => panic!("expected Err(Timeout), got {other:?}"),
    }
}

/// A value returned after the deadline whose `Drop` panics should still make
/// the outcome `Err(Timeout)` (the job returned; it did not panic).
#[test]
fn a_late_value_whose_drop_panics_still_times_out() {
    let drops = Arc::new(AtomicUsize::new(0));
    let late = Tracked::panicking(&drops);
    let deadline = Instant::now() + SHORT;
    let (job, mut future) = Job::with_options(
        move |_| {
            wait_past(deadline);
            late
        },
        JobOptions::new().deadline(deadline),
    );
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run()));
    assert_eq!(count(&drops), 1);
    match future.try_take() {
        Some(Err(Error::Timeout)) => {}
        other => panic!(
            "expected Err(Timeout), got {:?}",
            other.map(|outcome| outcome.map(|_| "a value"))
        ),
    }
}

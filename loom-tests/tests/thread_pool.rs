//! Loom models of `ThreadPoolExecutor`'s lifecycle and of `wait`: one race per
//! test. The pool's mutex, condition variable, worker threads and the futures'
//! cells are all loom's under `--cfg loom`.
//!
//! Every model uses `max_workers(1)`: with the main thread, at most one helper
//! thread and one worker, the state space stays small enough to explore
//! exhaustively (no preemption bound).
#![cfg(loom)]

// Each model file uses a part of the shared helpers.
#[allow(dead_code)]
mod helpers;

use std::sync::Arc;

use concurrent_futures::{
    Error, Executor, Job, ReturnWhen, SubmitError, ThreadPoolExecutor, promise, wait,
};
use helpers::{model, model_bounded};
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

fn one_worker() -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap()
}

/// `submit` on one thread races `shutdown_nowait(false)` on another. Either the submit
/// is refused with `Shutdown`, or its job runs to completion; termination always
/// arrives, after the job.
#[test]
fn submit_vs_shutdown_nowait() {
    loom::model(|| {
        let pool = Arc::new(one_worker());
        let submitter = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || pool.submit(|| 7_u32))
        };
        pool.shutdown_nowait(false);
        let submitted = submitter.join().unwrap();
        pool.terminated().wait().unwrap();
        match submitted {
            // Terminated means every accepted job finished: the outcome is there.
            Ok(mut future) => assert_eq!(
                future.try_take().expect("done before termination").unwrap(),
                7
            ),
            Err(SubmitError::Shutdown) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    });
}

/// `shutdown(cancel_futures = true)` races the worker dequeuing the job. The job
/// either ran (its future has the value) or was cancelled before it started (the
/// closure never ran): never both, never neither.
#[test]
fn shutdown_cancel_futures_vs_worker_dequeue() {
    loom::model(|| {
        let pool = one_worker();
        let ran = loom::sync::Arc::new(AtomicBool::new(false));
        let mut future = {
            let ran = loom::sync::Arc::clone(&ran);
            pool.submit(move || {
                ran.store(true, Ordering::Relaxed);
                7_u32
            })
            .unwrap()
        };
        pool.shutdown_nowait(true);
        match future.wait() {
            Ok(value) => {
                assert_eq!(value, 7);
                assert!(ran.load(Ordering::Relaxed));
            }
            Err(Error::Cancelled) => assert!(!ran.load(Ordering::Relaxed)),
            Err(other) => panic!("unexpected {other:?}"),
        }
        pool.terminated().wait().unwrap();
    });
}

/// A second submit races the only worker going back to sleep after its first
/// job: the wake-up must not be lost (the idle worker is reused, not a new one).
#[test]
fn submit_vs_worker_going_idle() {
    loom::model(|| {
        let pool = one_worker();
        let mut first = pool.submit(|| 1_u32).unwrap();
        assert_eq!(first.wait().unwrap(), 1);
        // The worker is now between finishing job 1 and sleeping on the condvar.
        let mut second = pool.submit(|| 2_u32).unwrap();
        assert_eq!(second.wait().unwrap(), 2);
        assert_eq!(pool.worker_count(), 1);
        pool.shutdown(false);
    });
}

/// `terminated()` is asked for while the last worker exits: the future completes
/// whichever comes first.
#[test]
fn terminated_vs_last_worker_exit() {
    loom::model(|| {
        let pool = one_worker();
        let mut job = pool.submit(|| ()).unwrap();
        pool.shutdown_nowait(false);
        let mut terminated = pool.terminated();
        terminated.wait().unwrap();
        assert!(job.try_take().unwrap().is_ok());
    });
}

/// `wait(FIRST_COMPLETED)` registers on two futures while one of them completes
/// on another thread: the completion is never missed (no hang), and `done`
/// holds exactly the completed one.
#[test]
fn wait_first_completed_vs_completion() {
    loom::model(|| {
        let (fast, fast_future) = promise::<u32>();
        let (slow, slow_future) = promise::<u32>();
        let mut futures = [fast_future, slow_future];
        let completer = thread::spawn(move || fast.set_result(1).unwrap());
        let waited = wait(&mut futures, None, ReturnWhen::FirstCompleted);
        assert_eq!(waited.done, [0]);
        assert_eq!(waited.not_done, [1]);
        assert_eq!(futures[0].try_take().unwrap().unwrap(), 1);
        completer.join().unwrap();
        drop(slow);
        assert!(matches!(futures[1].try_take(), Some(Err(Error::Abandoned))));
    });
}

/// `wait(ALL_COMPLETED)` while two producers finish concurrently (one with a
/// value, one abandoned): both completions are seen.
///
/// The producers are deliberately not joined. A producer unparks its waiter
/// after publishing, so the waiter may see both futures done and return before
/// the second unpark arrives; std allows such a late unpark (it only leaves a
/// token for a later `park`), but loom 0.7 aborts with `assertion failed:
/// state.notified` if it lands while the thread is blocked in `join`
/// (tokio-rs/loom#249, fix pending in tokio-rs/loom#418). Nothing here needs
/// the join: the futures themselves carry the synchronization.
#[test]
fn wait_all_completed_vs_two_completions() {
    loom::model(|| {
        let (first, first_future) = promise::<u32>();
        let (second, second_future) = promise::<u32>();
        let mut futures = [first_future, second_future];
        thread::spawn(move || first.set_result(1).unwrap());
        thread::spawn(move || drop(second));
        let waited = wait(&mut futures, None, ReturnWhen::AllCompleted);
        assert_eq!(waited.done, [0, 1]);
        assert!(waited.not_done.is_empty());
        assert_eq!(futures[0].try_take().unwrap().unwrap(), 1);
        assert!(matches!(futures[1].try_take(), Some(Err(Error::Abandoned))));
    });
}

/// Job A's done callback (registered before A can run, so the worker runs it)
/// shuts the pool down with `cancel_futures`, while job B is submitted behind
/// A. If the worker took B before it found the callback, it hands B back to
/// the queue first; if it was looking for work, it withdraws its mark. So B
/// never runs: it is cancelled (queued when the callback ran) or refused
/// (submitted after). The pool terminates with no worker left.
#[test]
fn done_callback_shutdown_vs_job_queued_behind() {
    model(
        "done_callback_shutdown_vs_job_queued_behind",
        &["B cancelled", "B refused"],
        |seen| {
            let pool = Arc::new(one_worker());
            let (job_a, a) = Job::new(|| 1_u32);
            {
                let pool = Arc::clone(&pool);
                a.on_done(move |outcome| {
                    assert_eq!(outcome.unwrap(), 1);
                    assert!(pool.is_worker_thread());
                    pool.shutdown_nowait(true);
                });
            }
            pool.execute(job_a).unwrap();
            seen.after_spawn();
            match pool.submit(|| 2_u32) {
                Ok(mut b) => {
                    assert!(matches!(b.wait(), Err(Error::Cancelled)));
                    seen.saw("B cancelled");
                }
                Err(SubmitError::Shutdown) => seen.saw("B refused"),
                Err(other) => panic!("unexpected {other:?}"),
            }
            pool.shutdown(false);
            assert_eq!(pool.worker_count(), 0);
        },
    );
}

/// A submit that starts the worker races `shutdown`: the worker is
/// counted and its handle stored in the step that spawns it, so when
/// `shutdown` returns, no worker is counted (every exit guard ran)
/// and an accepted job is done.
#[test]
fn submit_vs_shutdown() {
    model("submit_vs_shutdown", &["accepted", "refused"], |seen| {
        let pool = Arc::new(one_worker());
        let submitter = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || pool.submit(|| 7_u32))
        };
        seen.after_spawn();
        pool.shutdown(false);
        assert_eq!(pool.worker_count(), 0);
        // The submit may land after the shutdown returned: then it is refused.
        match submitter.join().unwrap() {
            Ok(mut future) => {
                assert_eq!(
                    future.try_take().expect("done before termination").unwrap(),
                    7
                );
                seen.saw("accepted");
            }
            Err(SubmitError::Shutdown) => seen.saw("refused"),
            Err(other) => panic!("unexpected {other:?}"),
        }
    });
}

/// With a keep-alive, the only worker times out idle and retires while a
/// submit arrives: the retiring worker leaves `workers` in the step that
/// decides it, so the submit either wakes it (before the decision) or starts
/// a new worker (after): the job never strands. The shim models a timed wait
/// as "the timeout may fire at any point".
///
/// Bounded to 3 preemptions: every sleep of the worker is then a point where
/// the lock is dropped and taken back, and the exhaustive model did not finish
/// in 13 minutes; the races here (a submit against the retirement decision,
/// the exit guard against the next spawn) each need at most two.
#[test]
fn submit_vs_worker_retiring_after_keep_alive() {
    model_bounded(
        "submit_vs_worker_retiring_after_keep_alive",
        &["ran on the first worker", "ran on a new worker"],
        Some(3),
        |seen| {
            let pool = ThreadPoolExecutor::builder()
                .max_workers(1)
                .keep_alive(std::time::Duration::from_millis(1))
                .build()
                .unwrap();
            let mut first = pool.submit(|| ()).unwrap();
            first.wait().unwrap();
            seen.after_spawn();
            let mut second = pool
                .submit(|| thread::current().name().map(str::to_owned))
                .unwrap();
            let name = second.wait().unwrap().unwrap();
            pool.shutdown(false);
            assert_eq!(pool.worker_count(), 0);
            seen.saw(if name.ends_with("_0") {
                "ran on the first worker"
            } else {
                "ran on a new worker"
            });
        },
    );
}

//! Loom models of `ThreadPoolExecutor`'s lifecycle and of `wait`: one race per
//! test. The pool's mutex, condition variable, worker threads and the futures'
//! cells are all loom's under `--cfg loom`.
//!
//! Every model runs through the labelled two-pass harness (`helpers::model`):
//! it labels the outcome of each interleaving and fails if an expected outcome
//! was never reached, so a race that never happens cannot pass vacuously; its
//! iterations and outcomes are printed with `--nocapture`.
//!
//! Every model uses `max_workers(1)`: with the main thread, at most one helper
//! thread and one worker, the state space stays small enough to explore
//! exhaustively (no preemption bound), except
//! `submit_vs_worker_retiring_after_keep_alive`, which says why it is bounded.
#![cfg(loom)]

// Each model file uses a part of the shared helpers.
#[allow(dead_code)]
mod helpers;

use std::sync::Arc;

use concurrent_futures::{
    CancelFutures, Error, Executor, Job, ReturnWhen, SubmitError, ThreadPoolExecutor, promise, wait,
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

/// `submit` on one thread races `shutdown_nowait(CancelFutures::No)` on another. Asserts:
/// either the submit is refused with `Shutdown`, or its job runs to
/// completion; termination always arrives, and after an accepted job finished.
#[test]
fn submit_vs_shutdown_nowait() {
    model(
        "submit_vs_shutdown_nowait",
        &["accepted", "refused"],
        |seen| {
            let pool = Arc::new(one_worker());
            let submitter = {
                let pool = Arc::clone(&pool);
                thread::spawn(move || pool.submit(|| 7_u32))
            };
            seen.after_spawn();
            pool.shutdown_nowait(CancelFutures::No);
            let submitted = submitter.join().unwrap();
            pool.terminated().wait().unwrap();
            match submitted {
                // Terminated means every accepted job finished: the outcome is there.
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
        },
    );
}

/// `shutdown_nowait(CancelFutures::AndStopRunning)` races the worker taking
/// and running a job that looks at its token. Asserts: the job is either
/// cancelled while queued or runs; a job that looks at its token after the
/// shutdown call returned (a release/acquire flag orders the two) sees the
/// stop request, so no running job misses it.
#[test]
fn shutdown_stop_running_vs_running_job() {
    model(
        "shutdown_stop_running_vs_running_job",
        &["cancelled", "ran, saw the stop", "ran before the stop"],
        |seen| {
            let pool = one_worker();
            let shut = loom::sync::Arc::new(AtomicBool::new(false));
            let mut future = {
                let shut = loom::sync::Arc::clone(&shut);
                pool.submit_stoppable(move |token| {
                    let after_shutdown = shut.load(Ordering::Acquire);
                    let stop = token.is_stop_requested();
                    assert!(stop || !after_shutdown, "a stop raised before was missed");
                    stop
                })
                .unwrap()
            };
            seen.after_spawn();
            pool.shutdown_nowait(CancelFutures::AndStopRunning);
            shut.store(true, Ordering::Release);
            match future.wait() {
                Ok(true) => seen.saw("ran, saw the stop"),
                Ok(false) => seen.saw("ran before the stop"),
                Err(Error::Cancelled) => seen.saw("cancelled"),
                Err(other) => panic!("unexpected {other:?}"),
            }
        },
    );
}

/// `shutdown(cancel_futures = true)` races the worker dequeuing the job.
/// Asserts: the job either ran (its future has the value) or was cancelled
/// before it started (the closure never ran): never both, never neither.
#[test]
fn shutdown_cancel_futures_vs_worker_dequeue() {
    model(
        "shutdown_cancel_futures_vs_worker_dequeue",
        &["ran", "cancelled"],
        |seen| {
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
            seen.after_spawn();
            pool.shutdown_nowait(CancelFutures::Yes);
            match future.wait() {
                Ok(value) => {
                    assert_eq!(value, 7);
                    assert!(ran.load(Ordering::Relaxed));
                    seen.saw("ran");
                }
                Err(Error::Cancelled) => {
                    assert!(!ran.load(Ordering::Relaxed));
                    seen.saw("cancelled");
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
            pool.terminated().wait().unwrap();
        },
    );
}

/// A second submit races the only worker finishing its first job and going
/// back to sleep: the wake-up must not be lost (a lost one is a loom
/// deadlock). Asserts: both jobs run, on the same worker thread (the idle
/// worker is reused; with no keep-alive it never exits before shutdown, so a
/// second thread would mean it was lost), and shutdown leaves no worker. The
/// labels say whether the second submit came while the first job was still
/// unfinished or once it was done (the worker then on its way to sleep, or
/// asleep).
#[test]
fn submit_vs_worker_going_idle() {
    model(
        "submit_vs_worker_going_idle",
        &[
            "submitted while job 1 ran",
            "submitted after job 1 was done",
        ],
        |seen| {
            let pool = one_worker();
            let mut first = pool.submit(|| thread::current().id()).unwrap();
            seen.after_spawn();
            let first_done = first.is_done();
            let mut second = pool.submit(|| thread::current().id()).unwrap();
            seen.saw(if first_done {
                "submitted after job 1 was done"
            } else {
                "submitted while job 1 ran"
            });
            assert_eq!(second.wait().unwrap(), first.wait().unwrap(), "one worker");
            pool.shutdown(CancelFutures::No);
            assert_eq!(pool.worker_count(), 0);
        },
    );
}

/// `terminated()` is asked for while the last worker exits. Asserts: the
/// future completes whichever comes first, and the job is done by then. The
/// labels say whether the pool had already terminated when asked.
#[test]
fn terminated_vs_last_worker_exit() {
    model(
        "terminated_vs_last_worker_exit",
        &["terminated when asked", "terminated later"],
        |seen| {
            let pool = one_worker();
            let mut job = pool.submit(|| ()).unwrap();
            seen.after_spawn();
            pool.shutdown_nowait(CancelFutures::No);
            let mut terminated = pool.terminated();
            seen.saw(if terminated.is_done() {
                "terminated when asked"
            } else {
                "terminated later"
            });
            terminated.wait().unwrap();
            assert!(job.try_take().unwrap().is_ok());
        },
    );
}

/// `wait(FIRST_COMPLETED)` registers on two futures while one of them completes
/// on another thread. Asserts: the completion is never missed (no hang), and
/// `done` holds exactly the completed one. The labels say whether it had
/// completed before the wait began.
#[test]
fn wait_first_completed_vs_completion() {
    model(
        "wait_first_completed_vs_completion",
        &["completed before the wait", "completed during the wait"],
        |seen| {
            let (fast, fast_future) = promise::<u32>();
            let (slow, slow_future) = promise::<u32>();
            let mut futures = [fast_future, slow_future];
            let completer = thread::spawn(move || fast.set_result(1).unwrap());
            seen.after_spawn();
            let before = futures[0].is_done();
            let waited = wait(&mut futures, None, ReturnWhen::FirstCompleted);
            seen.saw(if before {
                "completed before the wait"
            } else {
                "completed during the wait"
            });
            assert_eq!(waited.done, [0]);
            assert_eq!(waited.not_done, [1]);
            assert_eq!(futures[0].try_take().unwrap().unwrap(), 1);
            completer.join().unwrap();
            drop(slow);
            assert!(matches!(futures[1].try_take(), Some(Err(Error::Abandoned))));
        },
    );
}

/// `wait(ALL_COMPLETED)` while two producers finish concurrently (one with a
/// value, one abandoned). Asserts: both completions are seen. The labels count
/// the futures already done when the wait began.
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
    model(
        "wait_all_completed_vs_two_completions",
        &["none done before", "one done before", "both done before"],
        |seen| {
            let (first, first_future) = promise::<u32>();
            let (second, second_future) = promise::<u32>();
            let mut futures = [first_future, second_future];
            thread::spawn(move || first.set_result(1).unwrap());
            thread::spawn(move || drop(second));
            seen.after_spawn();
            let before = futures.iter().filter(|future| future.is_done()).count();
            let waited = wait(&mut futures, None, ReturnWhen::AllCompleted);
            seen.saw(["none done before", "one done before", "both done before"][before]);
            assert_eq!(waited.done, [0, 1]);
            assert!(waited.not_done.is_empty());
            assert_eq!(futures[0].try_take().unwrap().unwrap(), 1);
            assert!(matches!(futures[1].try_take(), Some(Err(Error::Abandoned))));
        },
    );
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
                    pool.shutdown_nowait(CancelFutures::Yes);
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
            pool.shutdown(CancelFutures::No);
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
        pool.shutdown(CancelFutures::No);
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
            pool.shutdown(CancelFutures::No);
            assert_eq!(pool.worker_count(), 0);
            seen.saw(if name.ends_with("_0") {
                "ran on the first worker"
            } else {
                "ran on a new worker"
            });
        },
    );
}

/// Whether the current thread is a pool worker (named after the default
/// prefix; the model's main thread has no such name).
fn on_a_worker() -> bool {
    thread::current()
        .name()
        .is_some_and(|name| name.starts_with("ThreadPoolExecutor"))
}

/// `Executor::map`'s function is lent to each job (`crate::lease`, no atomic
/// per submit): dropping the `Map` (the lender) races the worker calling `f`
/// and then releasing its lease. The function's state is a loom cell, read by
/// each call and written by its `Drop`: loom fails the model if the drop is
/// not ordered after every call (a lease released with `Relaxed`, or no
/// acquire fence before the drop). Asserts: `f` is dropped exactly once, by
/// whichever side lets go last, after the job ran or was cancelled.
#[test]
fn map_drop_vs_job_using_f() {
    model(
        "map_drop_vs_job_using_f",
        &[
            "ran, f dropped by the worker",
            "ran, f dropped by the map",
            "cancelled, f dropped by the worker",
            "cancelled, f dropped by the map",
        ],
        |seen| {
            /// The function's captured state: read by every call, written by
            /// the drop, which also records where it ran.
            struct Captured {
                value: loom::cell::UnsafeCell<u32>,
                dropped_on_worker: loom::sync::Arc<AtomicBool>,
                drops: loom::sync::Arc<loom::sync::atomic::AtomicUsize>,
            }
            // SAFETY: calls only read the cell, and the one write (the drop)
            // comes after every call if the lease protocol is right, which is
            // what loom checks here (it reports a concurrent access).
            unsafe impl Sync for Captured {}
            impl Drop for Captured {
                fn drop(&mut self) {
                    self.value.with_mut(|value| unsafe { *value = 0 });
                    self.dropped_on_worker
                        .store(on_a_worker(), Ordering::Relaxed);
                    self.drops.fetch_add(1, Ordering::Relaxed);
                }
            }
            let pool = one_worker();
            let ran = loom::sync::Arc::new(AtomicBool::new(false));
            let dropped_on_worker = loom::sync::Arc::new(AtomicBool::new(false));
            let drops = loom::sync::Arc::new(loom::sync::atomic::AtomicUsize::new(0));
            let captured = Captured {
                value: loom::cell::UnsafeCell::new(7),
                dropped_on_worker: loom::sync::Arc::clone(&dropped_on_worker),
                drops: loom::sync::Arc::clone(&drops),
            };
            let ran_in_job = loom::sync::Arc::clone(&ran);
            let map = pool
                .map(
                    move |i| {
                        ran_in_job.store(true, Ordering::Relaxed);
                        // SAFETY: only `Drop` writes the cell, once every lease
                        // is released; loom checks that ordering.
                        i + captured.value.with(|value| unsafe { *value })
                    },
                    0..1_u32,
                )
                .unwrap();
            // The lender goes now, while the job may be queued (then it is
            // cancelled), running, or done: whoever lets go of `f` last drops
            // it.
            let mut map = map;
            map.cancel_remaining();
            drop(map);
            pool.shutdown(CancelFutures::No);
            assert_eq!(drops.load(Ordering::Relaxed), 1, "f dropped exactly once");
            let ran = if ran.load(Ordering::Relaxed) {
                "ran"
            } else {
                "cancelled"
            };
            let by = if dropped_on_worker.load(Ordering::Relaxed) {
                "the worker"
            } else {
                "the map"
            };
            seen.saw(match (ran, by) {
                ("ran", "the worker") => "ran, f dropped by the worker",
                ("ran", _) => "ran, f dropped by the map",
                (_, "the worker") => "cancelled, f dropped by the worker",
                _ => "cancelled, f dropped by the map",
            });
        },
    );
}

/// Helping: the only worker runs a job that submits another job to its own
/// pool and waits for it (Python's documented deadlock). The waiting worker
/// takes the inner job from the queue and runs it. Asserts: the outer job
/// gets the inner value and the inner job ran exactly once, whether the
/// main thread's wait or the worker's help comes first. Exhaustive: one
/// worker and the main thread.
#[test]
fn a_waiting_worker_runs_the_job_it_waits_for() {
    model(
        "a_waiting_worker_runs_the_job_it_waits_for",
        &["helped"],
        |seen| {
            let pool = one_worker();
            let runs = loom::sync::Arc::new(loom::sync::atomic::AtomicUsize::new(0));
            let (inner_pool, counted) = (pool.clone(), loom::sync::Arc::clone(&runs));
            let mut outer = pool
                .submit(move || {
                    let mut inner = inner_pool
                        .submit(move || counted.fetch_add(1, Ordering::Relaxed) + 41)
                        .unwrap();
                    inner.wait().unwrap()
                })
                .unwrap();
            seen.after_spawn();
            assert_eq!(outer.wait().unwrap(), 41);
            assert_eq!(runs.load(Ordering::Relaxed), 1);
            seen.saw("helped");
            pool.shutdown(CancelFutures::No);
        },
    );
}

/// Helping: a cancel races the helper about to run the job. The main thread
/// makes job B and keeps its future; the only worker runs job A, which
/// queues B on its own pool, submits C and waits for C with `wait(..)` (a
/// fan-in wait helps from the front of the queue, so the helper takes B
/// first). The main thread cancels B meanwhile. Asserts: B's closure runs at
/// most once and is dropped exactly once; the cancel succeeds exactly when B
/// never ran, and B's future then reports `Cancelled`, else B's value; A and
/// C complete. Exhaustive: one worker and the main thread; 373,170
/// iterations, 32 s in release (the job is made by the main thread rather
/// than sent to it through a channel, which doubled that).
#[test]
fn cancel_vs_helper_about_to_run_the_job() {
    model(
        "cancel_vs_helper_about_to_run_the_job",
        &["cancelled", "cancel refused, B ran"],
        |seen| {
            let pool = one_worker();
            let runs = loom::sync::Arc::new(loom::sync::atomic::AtomicUsize::new(0));
            let drops = helpers::drop_counter();
            let (job_b, mut b) = {
                let runs = loom::sync::Arc::clone(&runs);
                let tracked = helpers::Tracked::new(&drops);
                Job::new(move || {
                    let _tracked = tracked;
                    runs.fetch_add(1, Ordering::Relaxed);
                    2_u32
                })
            };
            let mut outer = {
                let inner_pool = pool.clone();
                pool.submit(move || {
                    inner_pool.execute(job_b).unwrap();
                    let mut c = [inner_pool.submit(|| 3_u32).unwrap()];
                    let waited = wait(&mut c, None, ReturnWhen::AllCompleted);
                    assert_eq!(waited.done, [0]);
                    c[0].try_take().unwrap().unwrap()
                })
                .unwrap()
            };
            seen.after_spawn();
            let cancelled = b.cancel();
            match b.wait() {
                Err(Error::Cancelled) => {
                    assert!(cancelled);
                    seen.saw("cancelled");
                }
                Ok(value) => {
                    assert!(!cancelled);
                    assert_eq!(value, 2);
                    seen.saw("cancel refused, B ran");
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
            assert_eq!(outer.wait().unwrap(), 3);
            pool.shutdown(CancelFutures::No);
            assert_eq!(runs.load(Ordering::Relaxed), usize::from(!cancelled));
            assert_eq!(
                helpers::count(&drops),
                1,
                "B's closure dropped exactly once"
            );
        },
    );
}

/// Helping: `shutdown(cancel)` from the main thread races the only worker,
/// which runs job A that submits B to its own pool and waits for it (so it
/// helps: it runs B itself). B records whether the pool was shut down while
/// it ran. Asserts, for both `CancelFutures::Yes` and `No`: B runs at most
/// once and its closure is dropped exactly once; A's submit of B is refused
/// only once shutdown began; with `No`, an accepted B always runs; with
/// `Yes`, a B still queued when the queue is taken is `Cancelled` (and A,
/// which waits for it, sees that), and A itself may be cancelled before it
/// starts; `shutdown` returns with no worker left. Exhaustive: 7,986
/// iterations with `Yes`, 3,342 with `No`, about a second each in release.
fn shutdown_vs_helper_running_a_job(cancel: CancelFutures, expected: &'static [&'static str]) {
    model(
        &format!("shutdown({cancel:?})_vs_helper_running_a_job"),
        expected,
        move |seen| {
            let pool = one_worker();
            let runs = loom::sync::Arc::new(loom::sync::atomic::AtomicUsize::new(0));
            let drops = helpers::drop_counter();
            let mut outer = {
                let (inner_pool, runs) = (pool.clone(), loom::sync::Arc::clone(&runs));
                let tracked = helpers::Tracked::new(&drops);
                pool.submit(move || {
                    let during = inner_pool.clone();
                    let submitted = inner_pool.submit(move || {
                        let _tracked = tracked;
                        runs.fetch_add(1, Ordering::Relaxed);
                        during.is_shutdown()
                    });
                    match submitted {
                        Ok(mut b) => Some(b.wait()),
                        Err(SubmitError::Shutdown) => None,
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                })
                .unwrap()
            };
            seen.after_spawn();
            pool.shutdown(cancel);
            assert_eq!(pool.worker_count(), 0);
            let ran = runs.load(Ordering::Relaxed);
            assert!(ran <= 1);
            match outer.try_take().expect("done before termination") {
                Err(Error::Cancelled) => {
                    assert_eq!(cancel, CancelFutures::Yes);
                    assert_eq!(ran, 0);
                    seen.saw("A cancelled");
                }
                Ok(None) => {
                    assert_eq!(ran, 0);
                    seen.saw("B refused");
                }
                Ok(Some(Err(Error::Cancelled))) => {
                    assert_eq!(cancel, CancelFutures::Yes);
                    assert_eq!(ran, 0);
                    seen.saw("B cancelled");
                }
                Ok(Some(Ok(shut_down_meanwhile))) => {
                    assert_eq!(ran, 1);
                    seen.saw(if shut_down_meanwhile {
                        "B ran, shut down meanwhile"
                    } else {
                        "B ran before the shutdown"
                    });
                }
                Ok(Some(Err(other))) | Err(other) => panic!("unexpected {other:?}"),
            }
            assert_eq!(
                helpers::count(&drops),
                1,
                "B's closure dropped exactly once"
            );
        },
    );
}

#[test]
fn shutdown_cancel_futures_vs_helper_running_a_job() {
    shutdown_vs_helper_running_a_job(
        CancelFutures::Yes,
        &[
            "A cancelled",
            "B refused",
            "B cancelled",
            "B ran, shut down meanwhile",
            "B ran before the shutdown",
        ],
    );
}

#[test]
fn shutdown_vs_helper_running_a_job_without_cancel() {
    shutdown_vs_helper_running_a_job(
        CancelFutures::No,
        &[
            "B refused",
            "B ran, shut down meanwhile",
            "B ran before the shutdown",
        ],
    );
}

/// Helping's gap, closed: the only worker runs job A, which waits for the
/// future of job B; the main thread queues B at any point: before A looks at
/// the queue (A helps at once), or after A found it empty and counts as a
/// parked helper (the submit finds no free worker and no room for a thread,
/// claims the helper and unparks it). A lost wake-up is a loom deadlock.
/// Asserts: A gets B's value, B ran once, no helper is left counted.
/// Exhaustive: one worker and the main thread.
#[test]
fn a_parked_helper_is_woken_for_a_job_queued_later() {
    model(
        "a_parked_helper_is_woken_for_a_job_queued_later",
        &["B ran"],
        |seen| {
            let pool = one_worker();
            let runs = loom::sync::Arc::new(loom::sync::atomic::AtomicUsize::new(0));
            let (job_b, mut b) = {
                let runs = loom::sync::Arc::clone(&runs);
                Job::new(move || runs.fetch_add(1, Ordering::Relaxed) + 42)
            };
            let mut a = pool.submit(move || b.wait().unwrap()).unwrap();
            seen.after_spawn();
            pool.execute(job_b).unwrap();
            assert_eq!(a.wait().unwrap(), 42);
            assert_eq!(runs.load(Ordering::Relaxed), 1);
            seen.saw("B ran");
            pool.shutdown(CancelFutures::No);
        },
    );
}

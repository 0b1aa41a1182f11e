//! `CancelFutures` on every executor of closures: `No` lets queued jobs run,
//! `Yes` cancels them (and leaves running jobs alone: their tokens stay
//! quiet), `AndStopRunning` also raises the executor's `StopSignal`, so every
//! running job's `StopToken` reports a stop. A later shutdown call may go
//! further than an earlier one. Then `StopSignal` and `Job::run_under` on
//! their own, and `CancelFutures`' predicates.
//!
//! Synchronisation is by channel, never by sleeping: a running job is known
//! to run because it said so, and it looks at its token only when the test
//! asks it to (a *probe*), after the shutdown call under test has returned.
//! Running jobs are held after they saw the stop until the test has checked
//! the queued jobs, so a worker freed by the stop cannot take a queued job
//! first (that race has its own test,
//! `a_job_queued_behind_a_stopped_job_is_cancelled_or_sees_the_stop`).

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use common::{Tracked, count, no_hang, pool};
use concurrent_futures::{
    AsyncExecutor, CancelFutures, Error, Executor, InlineExecutor, Job, JobOptions, SharedFuture,
    StopSignal, StopToken, SubmitError,
};

/// The test side of a running job: asks it what its token says, now.
struct Probe {
    ask: mpsc::Sender<()>,
    answer: mpsc::Receiver<bool>,
}

impl Probe {
    /// What the job's token reports at this point of the test.
    fn stop_seen(&self) -> bool {
        self.ask.send(()).unwrap();
        self.answer.recv().unwrap()
    }

    /// Lets the job go on: it loops until its token reports a stop.
    fn finish(self) {}
}

/// A gate the jobs wait at once they saw the stop: closed until the sender
/// is dropped.
fn hold() -> (mpsc::Sender<()>, Arc<Mutex<mpsc::Receiver<()>>>) {
    let (open, gate) = mpsc::channel();
    (open, Arc::new(Mutex::new(gate)))
}

/// A running job: reports that it started, answers probes until the probe is
/// finished, then loops until its token reports a stop, then waits at
/// `after_stop` (if given) and returns `true` (it saw the stop).
fn probed_job(
    started: mpsc::Sender<()>,
    after_stop: Option<Arc<Mutex<mpsc::Receiver<()>>>>,
) -> (Probe, impl FnOnce(&StopToken<'_>) -> bool + Send + 'static) {
    let (ask, asked) = mpsc::channel::<()>();
    let (reply, answer) = mpsc::channel::<bool>();
    let job = move |token: &StopToken<'_>| {
        started.send(()).unwrap();
        while asked.recv().is_ok() {
            reply.send(token.is_stop_requested()).unwrap();
        }
        while !token.is_stop_requested() {
            std::hint::spin_loop();
        }
        if let Some(gate) = after_stop {
            let _ = gate.lock().unwrap().recv();
        }
        token.is_stop_requested()
    };
    (Probe { ask, answer }, job)
}

/// Submits `n` probed jobs and waits until every one of them runs.
fn start_running<E: Executor>(
    executor: &E,
    n: usize,
    after_stop: Option<&Arc<Mutex<mpsc::Receiver<()>>>>,
) -> Vec<(Probe, SharedFuture<bool>)> {
    let (started, is_started) = mpsc::channel();
    let running: Vec<_> = (0..n)
        .map(|_| {
            let (probe, job) = probed_job(started.clone(), after_stop.cloned());
            (probe, executor.submit_stoppable(job).unwrap())
        })
        .collect();
    for _ in 0..n {
        is_started.recv().unwrap();
    }
    running
}

/// A queued job's closure: holds a `Tracked` (so its drop is counted) and
/// counts its runs.
fn queued_job(
    drops: &Arc<AtomicUsize>,
    ran: &Arc<AtomicUsize>,
) -> impl FnOnce() -> u32 + Send + use<> {
    let tracked = Tracked::counting(drops);
    let ran = Arc::clone(ran);
    move || {
        let _tracked = tracked;
        ran.fetch_add(1, Ordering::SeqCst);
        7
    }
}

/// Every way to submit is refused after a shutdown, and each refused closure
/// is dropped exactly once, unrun.
fn assert_refuses_submits<E: Executor>(executor: &E) {
    let (drops, ran) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    assert!(matches!(
        executor.submit(queued_job(&drops, &ran)),
        Err(SubmitError::Shutdown)
    ));
    let job = queued_job(&drops, &ran);
    assert!(matches!(
        executor.submit_stoppable(move |_| job()),
        Err(SubmitError::Shutdown)
    ));
    let job = queued_job(&drops, &ran);
    assert!(matches!(
        executor.submit_with(
            move |_| job(),
            JobOptions::new().timeout(Duration::from_secs(600))
        ),
        Err(SubmitError::Shutdown)
    ));
    assert_eq!(count(&drops), 3);
    assert_eq!(count(&ran), 0);
    assert!(executor.is_shutdown());
}

/// `AndStopRunning`: the queued jobs are cancelled (closures dropped once,
/// unrun), the running ones see the stop and end.
fn and_stop_running<E: Executor>(executor: E, running: usize) {
    let (open, gate) = hold();
    let jobs = start_running(&executor, running, Some(&gate));
    let (drops, ran) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut queued: Vec<_> = (0..3)
        .map(|_| executor.submit(queued_job(&drops, &ran)).unwrap())
        .collect();
    for (probe, _) in &jobs {
        assert!(!probe.stop_seen(), "no stop before the shutdown");
    }
    let (probes, mut futures): (Vec<_>, Vec<_>) = jobs.into_iter().unzip();
    probes.into_iter().for_each(Probe::finish);

    executor.shutdown_nowait(CancelFutures::AndStopRunning);
    // The queue was cancelled inside the call.
    for future in &mut queued {
        assert!(matches!(future.try_take(), Some(Err(Error::Cancelled))));
    }
    assert_eq!(count(&drops), 3, "each queued closure dropped once");
    assert_eq!(count(&ran), 0, "no queued closure ran");
    assert_refuses_submits(&executor);

    drop(open); // the running jobs, past their loops, may return
    executor.shutdown(CancelFutures::AndStopRunning);
    for future in &mut futures {
        assert!(future.wait().unwrap(), "the running job saw the stop");
    }
    assert_eq!(count(&drops), 3);
    assert_eq!(count(&ran), 0);
}

/// The blocking `shutdown(AndStopRunning)` returns: the jobs looping on
/// their tokens end.
fn blocking_shutdown_ends_the_loops<E: Executor>(executor: E, running: usize) {
    let jobs = start_running(&executor, running, None);
    let (probes, mut futures): (Vec<_>, Vec<_>) = jobs.into_iter().unzip();
    probes.into_iter().for_each(Probe::finish);
    executor.shutdown(CancelFutures::AndStopRunning);
    for future in &mut futures {
        assert!(future.is_done(), "shutdown waits for the running jobs");
        assert!(future.wait().unwrap());
    }
    assert_refuses_submits(&executor);
}

/// `Yes` cancels the queue, and the running jobs' tokens stay quiet.
fn yes_does_not_stop<E: Executor>(executor: E, running: usize) {
    let jobs = start_running(&executor, running, None);
    let (drops, ran) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut queued: Vec<_> = (0..3)
        .map(|_| executor.submit(queued_job(&drops, &ran)).unwrap())
        .collect();
    executor.shutdown_nowait(CancelFutures::Yes);
    for (probe, _) in &jobs {
        assert!(
            !probe.stop_seen(),
            "CancelFutures::Yes must not ask running jobs to stop"
        );
    }
    for future in &mut queued {
        assert!(matches!(future.try_take(), Some(Err(Error::Cancelled))));
    }
    assert_eq!(count(&drops), 3);
    assert_eq!(count(&ran), 0);
    assert_refuses_submits(&executor);
    // Still quiet after more refused submits; then let them end.
    let (probes, mut futures): (Vec<_>, Vec<_>) = jobs.into_iter().unzip();
    for probe in &probes {
        assert!(!probe.stop_seen());
    }
    probes.into_iter().for_each(Probe::finish);
    executor.shutdown_nowait(CancelFutures::AndStopRunning);
    for future in &mut futures {
        assert!(future.wait().unwrap());
    }
    executor.shutdown(CancelFutures::No);
}

/// `No` lets the queued jobs run after the shutdown call.
fn no_lets_queued_jobs_run<E: Executor>(executor: E, running: usize) {
    let jobs = start_running(&executor, running, None);
    let (drops, ran) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut queued: Vec<_> = (0..3)
        .map(|_| executor.submit(queued_job(&drops, &ran)).unwrap())
        .collect();
    executor.shutdown_nowait(CancelFutures::No);
    for (probe, _) in &jobs {
        assert!(!probe.stop_seen(), "CancelFutures::No asks nothing to stop");
    }
    for future in &queued {
        assert!(!future.is_done(), "every worker is busy: still queued");
    }
    assert_refuses_submits(&executor);
    // The running jobs end by a request of their own consumer.
    let (probes, mut futures): (Vec<_>, Vec<_>) = jobs.into_iter().unzip();
    probes.into_iter().for_each(Probe::finish);
    for future in &futures {
        assert!(!future.request_stop());
    }
    executor.shutdown(CancelFutures::No);
    for future in &mut futures {
        assert!(future.wait().unwrap());
    }
    for future in &mut queued {
        assert_eq!(future.wait().unwrap(), 7);
    }
    assert_eq!(count(&ran), 3);
    assert_eq!(count(&drops), 3);
}

/// `No`, then `Yes`, then `AndStopRunning`: each call goes further.
fn later_shutdown_goes_further<E: Executor>(executor: E, running: usize) {
    let jobs = start_running(&executor, running, None);
    let (drops, ran) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut queued: Vec<_> = (0..2)
        .map(|_| executor.submit(queued_job(&drops, &ran)).unwrap())
        .collect();

    executor.shutdown_nowait(CancelFutures::No);
    assert!(queued.iter().all(|future| !future.is_done()));
    for (probe, _) in &jobs {
        assert!(!probe.stop_seen());
    }
    assert_refuses_submits(&executor);

    executor.shutdown_nowait(CancelFutures::Yes);
    for future in &mut queued {
        assert!(matches!(future.try_take(), Some(Err(Error::Cancelled))));
    }
    assert_eq!(count(&drops), 2);
    for (probe, _) in &jobs {
        assert!(!probe.stop_seen());
    }

    let (probes, mut futures): (Vec<_>, Vec<_>) = jobs.into_iter().unzip();
    // The probes still answer: the stop is seen as soon as it is raised.
    executor.shutdown_nowait(CancelFutures::AndStopRunning);
    for probe in &probes {
        assert!(probe.stop_seen());
    }
    probes.into_iter().for_each(Probe::finish);
    executor.shutdown(CancelFutures::No);
    for future in &mut futures {
        assert!(future.wait().unwrap());
    }
    assert_eq!(count(&drops), 2);
    assert_eq!(count(&ran), 0);
}

/// A `No` shutdown followed by `AndStopRunning` stops the running jobs and
/// cancels what the first call left queued.
fn no_then_and_stop_running<E: Executor>(executor: E, running: usize) {
    let (open, gate) = hold();
    let jobs = start_running(&executor, running, Some(&gate));
    let (drops, ran) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut queued = executor.submit(queued_job(&drops, &ran)).unwrap();
    executor.shutdown_nowait(CancelFutures::No);
    assert!(!queued.is_done());
    let (probes, mut futures): (Vec<_>, Vec<_>) = jobs.into_iter().unzip();
    for probe in &probes {
        assert!(!probe.stop_seen());
    }
    probes.into_iter().for_each(Probe::finish);
    executor.shutdown_nowait(CancelFutures::AndStopRunning);
    assert!(matches!(queued.try_take(), Some(Err(Error::Cancelled))));
    assert_eq!(count(&drops), 1);
    drop(open);
    executor.shutdown(CancelFutures::AndStopRunning);
    for future in &mut futures {
        assert!(future.wait().unwrap());
    }
    assert_eq!(count(&ran), 0);
    assert_eq!(count(&drops), 1);
}

/// A job that shuts its own executor down with `AndStopRunning` (the
/// blocking `shutdown`, which from inside only begins it): its own token
/// and every other running job's report the stop.
fn stop_from_inside<E: Executor + Send + Sync + 'static>(executor: E, running: usize) {
    let executor = Arc::new(executor);
    let others = start_running(&*executor, running - 1, None);
    let inner = Arc::clone(&executor);
    let mut stopper = executor
        .submit_stoppable(move |token| {
            let before = token.is_stop_requested();
            inner.shutdown(CancelFutures::AndStopRunning);
            (before, token.is_stop_requested(), inner.is_shutdown())
        })
        .unwrap();
    assert_eq!(stopper.wait().unwrap(), (false, true, true));
    for (probe, mut future) in others {
        assert!(probe.stop_seen());
        probe.finish();
        assert!(future.wait().unwrap());
    }
    assert_refuses_submits(&*executor);
    executor.shutdown(CancelFutures::No);
}

/// Every scenario on one kind of executor: `$make` gives `(executor, what
/// must outlive it)`, `$running` the jobs it runs at once.
macro_rules! every_scenario {
    ($running:expr, $make:expr) => {
        #[test]
        fn and_stop_running_cancels_queued_and_stops_running() {
            no_hang(concat!(module_path!(), " and_stop_running"), || {
                let (executor, _keep) = $make;
                super::and_stop_running(executor, $running);
            });
        }

        #[test]
        fn blocking_shutdown_ends_the_loops() {
            no_hang(concat!(module_path!(), " blocking"), || {
                let (executor, _keep) = $make;
                super::blocking_shutdown_ends_the_loops(executor, $running);
            });
        }

        #[test]
        fn yes_cancels_queued_but_does_not_stop_running() {
            no_hang(concat!(module_path!(), " yes"), || {
                let (executor, _keep) = $make;
                super::yes_does_not_stop(executor, $running);
            });
        }

        #[test]
        fn no_lets_queued_jobs_run() {
            no_hang(concat!(module_path!(), " no"), || {
                let (executor, _keep) = $make;
                super::no_lets_queued_jobs_run(executor, $running);
            });
        }

        #[test]
        fn a_later_shutdown_goes_further() {
            no_hang(concat!(module_path!(), " further"), || {
                let (executor, _keep) = $make;
                super::later_shutdown_goes_further(executor, $running);
            });
        }

        #[test]
        fn no_then_and_stop_running() {
            no_hang(concat!(module_path!(), " no then stop"), || {
                let (executor, _keep) = $make;
                super::no_then_and_stop_running(executor, $running);
            });
        }

        #[test]
        fn a_job_stopping_its_own_executor() {
            no_hang(concat!(module_path!(), " stop from inside"), || {
                let (executor, _keep) = $make;
                super::stop_from_inside(executor, $running);
            });
        }
    };
}

mod thread_pool_1 {
    use super::*;
    every_scenario!(1, (pool(1), ()));
}

mod thread_pool_2 {
    use super::*;
    every_scenario!(2, (pool(2), ()));
}

mod thread_pool_arc {
    use super::*;
    every_scenario!(2, (Arc::new(pool(2)), ()));
}

#[cfg(feature = "rayon")]
mod rayon_1 {
    use super::*;
    every_scenario!(
        1,
        (
            concurrent_futures::RayonExecutor::new(Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .build()
                    .unwrap()
            )),
            ()
        )
    );
}

#[cfg(feature = "rayon")]
mod rayon_2 {
    use super::*;
    every_scenario!(
        2,
        (
            concurrent_futures::RayonExecutor::new(Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(2)
                    .build()
                    .unwrap()
            )),
            ()
        )
    );
}

#[cfg(feature = "tokio")]
fn tokio_blocking(
    blocking_threads: usize,
) -> (
    concurrent_futures::TokioBlockingExecutor,
    tokio::runtime::Runtime,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(blocking_threads)
        .build()
        .unwrap();
    (
        concurrent_futures::TokioBlockingExecutor::new(runtime.handle().clone()),
        runtime,
    )
}

#[cfg(feature = "tokio")]
mod tokio_blocking_1 {
    use super::*;
    every_scenario!(1, tokio_blocking(1));
}

#[cfg(feature = "tokio")]
mod tokio_blocking_2 {
    use super::*;
    every_scenario!(2, tokio_blocking(2));
}

/// The race the other scenarios hold off: a running job that ends because
/// of the stop frees its worker while `shutdown_nowait(AndStopRunning)` is
/// still between raising the stop and taking the queue (the thread pool
/// raises the stop first, on purpose), so the worker may take the job queued
/// behind it. The contract that holds either way (the loom model
/// `shutdown_stop_running_vs_running_job`, for a queue of one): the queued job
/// is cancelled (its closure dropped once, unrun), or it runs and its token
/// already reports the stop; never neither, never a missed stop. Repeated, as
/// it is a race; how often each side won goes to stderr.
#[test]
fn a_job_queued_behind_a_stopped_job_is_cancelled_or_sees_the_stop() {
    no_hang("queued behind a stopped job", || {
        let (mut cancelled, mut ran_stopped) = (0, 0);
        for _ in 0..300 {
            let executor = pool(1);
            let jobs = start_running(&executor, 1, None);
            let (drops, ran) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
            let job = queued_job(&drops, &ran);
            let mut queued = executor
                .submit_stoppable(move |token| (job(), token.is_stop_requested()))
                .unwrap();
            let (probes, mut futures): (Vec<_>, Vec<_>) = jobs.into_iter().unzip();
            probes.into_iter().for_each(Probe::finish);
            executor.shutdown(CancelFutures::AndStopRunning);
            assert!(futures[0].wait().unwrap());
            match queued.wait() {
                Err(Error::Cancelled) => {
                    assert_eq!(count(&ran), 0);
                    cancelled += 1;
                }
                Ok((7, stop_seen)) => {
                    assert!(stop_seen, "a job taken after the stop was raised missed it");
                    assert_eq!(count(&ran), 1);
                    ran_stopped += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
            assert_eq!(count(&drops), 1);
        }
        eprintln!(
            "queued behind a stopped job: {cancelled} cancelled, {ran_stopped} ran (and saw the stop)"
        );
    });
}

// ------------------------------------------------------------ InlineExecutor

thread_local! {
    static INLINE: InlineExecutor = InlineExecutor::new();
}

/// A job that shuts its own inline executor down with `AndStopRunning` sees
/// the stop on its token from then on; so does the job it runs in (nested);
/// a submit from inside after it is refused.
#[test]
fn inline_job_stopping_its_own_executor_sees_its_token() {
    no_hang("inline stop", || {
        INLINE.with(|executor| {
            let mut outer = executor
                .submit_stoppable(|outer_token| {
                    let before = outer_token.is_stop_requested();
                    let inner = INLINE.with(|inside| {
                        inside
                            .submit_stoppable(|token| {
                                let before = token.is_stop_requested();
                                INLINE.with(|inside| {
                                    inside.shutdown_nowait(CancelFutures::AndStopRunning)
                                });
                                let after = token.is_stop_requested();
                                let refused = INLINE.with(|inside| {
                                    matches!(inside.submit(|| ()), Err(SubmitError::Shutdown))
                                });
                                (before, after, refused)
                            })
                            .unwrap()
                            .try_take()
                            .unwrap()
                            .unwrap()
                    });
                    (before, inner, outer_token.is_stop_requested())
                })
                .unwrap();
            let (outer_before, inner, outer_after) = outer.try_take().unwrap().unwrap();
            assert!(!outer_before);
            assert_eq!(inner, (false, true, true));
            assert!(
                outer_after,
                "the outer job, still running, sees the stop too"
            );
            assert!(executor.is_shutdown());
            executor.terminated().wait().unwrap();
            assert!(matches!(executor.submit(|| ()), Err(SubmitError::Shutdown)));
        });
    });
}

/// `Yes` and `No` from inside an inline job do not raise the stop.
#[test]
fn inline_job_shutdown_yes_or_no_does_not_stop() {
    thread_local! {
        static LOCAL: InlineExecutor = InlineExecutor::new();
    }
    for cancel in [CancelFutures::No, CancelFutures::Yes] {
        // A fresh executor per case: each case runs on a fresh thread.
        let seen = std::thread::spawn(move || {
            LOCAL.with(|executor| {
                let mut job = executor
                    .submit_stoppable(move |token| {
                        LOCAL.with(|inside| inside.shutdown_nowait(cancel));
                        token.is_stop_requested()
                    })
                    .unwrap();
                let seen = job.try_take().unwrap().unwrap();
                assert!(executor.is_shutdown());
                assert!(matches!(executor.submit(|| ()), Err(SubmitError::Shutdown)));
                seen
            })
        })
        .join()
        .unwrap();
        assert!(!seen, "{cancel:?} from inside a job raised the stop");
    }
}

/// An inline executor shut down with `AndStopRunning` from outside any job:
/// nothing runs, nothing can be submitted, and it is terminated.
#[test]
fn inline_and_stop_running_from_outside() {
    let executor = InlineExecutor::new();
    let mut ran = executor
        .submit_stoppable(|token| token.is_stop_requested())
        .unwrap();
    assert!(!ran.try_take().unwrap().unwrap());
    executor.shutdown(CancelFutures::AndStopRunning);
    assert!(executor.is_shutdown());
    executor.terminated().wait().unwrap();
    assert_refuses_submits(&executor);
}

// ------------------------------------------------------------ AsyncExecutor

fn async_pool(workers: usize) -> AsyncExecutor<concurrent_futures::ThreadPoolExecutor> {
    AsyncExecutor::new(pool(workers))
}

/// `AsyncExecutor::shutdown(AndStopRunning).await` over a thread pool: the
/// queued `run`s resolve to `Err(Cancelled)` with their closures dropped
/// once, the running `run_stoppable`s see the stop and end.
async fn async_and_stop_running(workers: usize) {
    let executor = async_pool(workers);
    let (open, gate) = hold();
    let (started, is_started) = mpsc::channel();
    let mut probes = Vec::new();
    let mut running = Vec::new();
    for _ in 0..workers {
        let (probe, job) = probed_job(started.clone(), Some(Arc::clone(&gate)));
        probes.push(probe);
        running.push(executor.run_stoppable(job));
    }
    for _ in 0..workers {
        is_started.recv().unwrap();
    }
    let (drops, ran) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let queued: Vec<_> = (0..3)
        .map(|_| executor.run(queued_job(&drops, &ran)))
        .collect();
    for probe in &probes {
        assert!(!probe.stop_seen());
    }
    probes.into_iter().for_each(Probe::finish);

    executor.shutdown_nowait(CancelFutures::AndStopRunning);
    for future in queued {
        assert!(matches!(future.await, Err(Error::Cancelled)));
    }
    assert_eq!(count(&drops), 3);
    assert_eq!(count(&ran), 0);
    assert!(matches!(executor.run(|| 1).await, Err(Error::Shutdown)));
    assert!(matches!(
        executor.run_stoppable(|_| 1).await,
        Err(Error::Shutdown)
    ));
    assert!(matches!(
        executor.run_with(|_| 1, JobOptions::new()).await,
        Err(Error::Shutdown)
    ));

    drop(open);
    executor.shutdown(CancelFutures::AndStopRunning).await;
    for future in running {
        assert!(future.await.unwrap());
    }
    assert!(executor.wrapped().is_shutdown());
}

/// `shutdown(AndStopRunning).await` ends jobs that loop on their tokens;
/// `shutdown(Yes).await` before it had not.
async fn async_yes_then_stop(workers: usize) {
    let executor = async_pool(workers);
    let (started, is_started) = mpsc::channel();
    let mut probes = Vec::new();
    let mut running = Vec::new();
    for _ in 0..workers {
        let (probe, job) = probed_job(started.clone(), None);
        probes.push(probe);
        running.push(executor.run_stoppable(job));
    }
    for _ in 0..workers {
        is_started.recv().unwrap();
    }
    let (drops, ran) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let queued = executor.run(queued_job(&drops, &ran));
    executor.shutdown_nowait(CancelFutures::Yes);
    for probe in &probes {
        assert!(!probe.stop_seen(), "Yes does not stop running jobs");
    }
    assert!(matches!(queued.await, Err(Error::Cancelled)));
    assert_eq!(count(&drops), 1);
    probes.into_iter().for_each(Probe::finish);
    executor.shutdown(CancelFutures::AndStopRunning).await;
    for future in running {
        assert!(future.await.unwrap());
    }
    assert_eq!(count(&ran), 0);
}

/// `shutdown(No).await` lets the queued `run`s run.
async fn async_no_runs_queued(workers: usize) {
    let executor = async_pool(workers);
    let (started, is_started) = mpsc::channel();
    let mut probes = Vec::new();
    let mut running = Vec::new();
    for _ in 0..workers {
        let (probe, job) = probed_job(started.clone(), None);
        probes.push(probe);
        running.push(executor.run_stoppable(job));
    }
    for _ in 0..workers {
        is_started.recv().unwrap();
    }
    let (drops, ran) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let queued: Vec<_> = (0..2)
        .map(|_| executor.run(queued_job(&drops, &ran)))
        .collect();
    executor.shutdown_nowait(CancelFutures::No);
    for probe in &probes {
        assert!(!probe.stop_seen());
    }
    assert!(matches!(executor.run(|| 1).await, Err(Error::Shutdown)));
    probes.into_iter().for_each(Probe::finish);
    for future in &mut running {
        assert!(!future.request_stop());
    }
    executor.shutdown(CancelFutures::No).await;
    for future in running {
        assert!(future.await.unwrap());
    }
    for future in queued {
        assert_eq!(future.await.unwrap(), 7);
    }
    assert_eq!(count(&ran), 2);
    assert_eq!(count(&drops), 2);
}

#[test]
fn async_and_stop_running_block_on() {
    no_hang("async stop block_on", || {
        futures::executor::block_on(async_and_stop_running(1));
        futures::executor::block_on(async_and_stop_running(2));
    });
}

#[test]
fn async_and_stop_running_tokio() {
    no_hang("async stop tokio", || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async_and_stop_running(1));
        runtime.block_on(async_and_stop_running(2));
    });
}

#[test]
fn async_yes_then_and_stop_running() {
    no_hang("async yes then stop", || {
        futures::executor::block_on(async_yes_then_stop(1));
        futures::executor::block_on(async_yes_then_stop(2));
    });
}

#[test]
fn async_no_runs_the_queued_jobs() {
    no_hang("async no", || {
        futures::executor::block_on(async_no_runs_queued(1));
        futures::executor::block_on(async_no_runs_queued(2));
    });
}

/// `AsyncExecutor` over an inline executor: a job shutting it down with
/// `AndStopRunning` sees its token.
#[test]
fn async_over_inline_stop_from_inside() {
    thread_local! {
        static ASYNC_INLINE: AsyncExecutor<InlineExecutor> = AsyncExecutor::new(InlineExecutor::new());
    }
    ASYNC_INLINE.with(|executor| {
        let job = executor.run_stoppable(|token| {
            ASYNC_INLINE.with(|inside| inside.shutdown_nowait(CancelFutures::AndStopRunning));
            token.is_stop_requested()
        });
        assert!(futures::executor::block_on(job).unwrap());
        assert!(executor.wrapped().is_shutdown());
        futures::executor::block_on(executor.shutdown(CancelFutures::No));
    });
}

// ------------------------------------------- StopSignal and Job::run_under

#[test]
fn stop_signal_is_one_way_and_idempotent() {
    let signal = StopSignal::new();
    assert!(!signal.is_stop_requested());
    assert!(!StopSignal::default().is_stop_requested());
    assert!(format!("{signal:?}").contains("false"));
    signal.request_stop();
    assert!(signal.is_stop_requested());
    signal.request_stop();
    assert!(signal.is_stop_requested());
    assert!(format!("{signal:?}").contains("true"));
}

#[test]
fn run_under_a_quiet_signal_is_run() {
    let signal = StopSignal::new();
    let (job, mut future) = Job::stoppable(|token| token.is_stop_requested());
    job.run_under(&signal);
    assert!(!future.try_take().unwrap().unwrap());
    assert!(!signal.is_stop_requested());
}

#[test]
fn run_under_a_raised_signal_sees_the_stop() {
    let signal = StopSignal::new();
    signal.request_stop();
    let (job, mut future) = Job::stoppable(|token| token.is_stop_requested());
    job.run_under(&signal);
    assert!(
        future.try_take().unwrap().unwrap(),
        "the closure still runs and sees it"
    );

    // A plain job under a raised signal runs to its value: the signal is
    // advisory.
    let (job, mut future) = Job::new(|| 5);
    job.run_under(&signal);
    assert_eq!(future.try_take().unwrap().unwrap(), 5);

    // `run` watches no signal.
    let (job, mut future) = Job::stoppable(|token| token.is_stop_requested());
    job.run();
    assert!(!future.try_take().unwrap().unwrap());
}

/// The signal raised while the job runs (by the job itself here, so the
/// order is certain): the token turns from quiet to stopped.
#[test]
fn a_signal_raised_while_the_job_runs_reaches_its_token() {
    let signal = Arc::new(StopSignal::new());
    let inside = Arc::clone(&signal);
    let (job, mut future) = Job::stoppable(move |token| {
        let before = token.is_stop_requested();
        inside.request_stop();
        (before, token.is_stop_requested())
    });
    job.run_under(&signal);
    assert_eq!(future.try_take().unwrap().unwrap(), (false, true));
}

/// From another thread, ordered by channels: the job loops until the signal
/// is raised.
#[test]
fn a_signal_raised_from_another_thread_ends_a_loop() {
    no_hang("signal from another thread", || {
        let signal = Arc::new(StopSignal::new());
        let (started, is_started) = mpsc::channel();
        let (job, mut future) = Job::stoppable(move |token| {
            started.send(()).unwrap();
            let mut rounds = 0_u64;
            while !token.is_stop_requested() {
                rounds += 1;
                std::hint::spin_loop();
            }
            rounds
        });
        let runner = {
            let signal = Arc::clone(&signal);
            std::thread::spawn(move || job.run_under(&signal))
        };
        is_started.recv().unwrap();
        signal.request_stop();
        runner.join().unwrap();
        assert!(future.wait().is_ok());
    });
}

/// One signal, many jobs: all see it.
#[test]
fn one_signal_is_shared_by_every_job() {
    let signal = StopSignal::new();
    let (jobs, futures): (Vec<_>, Vec<_>) = (0..4)
        .map(|_| Job::stoppable(|token| token.is_stop_requested()))
        .unzip();
    signal.request_stop();
    for job in jobs {
        job.run_under(&signal);
    }
    for mut future in futures {
        assert!(future.try_take().unwrap().unwrap());
    }
}

/// A cancelled job under a signal skips its closure (dropped once); a
/// panicking one reports the panic.
#[test]
fn run_under_keeps_cancel_and_panic() {
    let signal = StopSignal::new();
    let (tracked, drops) = Tracked::new();
    let ran = Arc::new(AtomicBool::new(false));
    let (job, mut future) = {
        let ran = Arc::clone(&ran);
        Job::stoppable(move |_| {
            let _tracked = tracked;
            ran.store(true, Ordering::SeqCst);
        })
    };
    assert!(future.cancel());
    job.run_under(&signal);
    assert!(matches!(future.try_take(), Some(Err(Error::Cancelled))));
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(count(&drops), 1);

    signal.request_stop();
    let (job, mut future) = Job::stoppable(|token| -> u8 {
        assert!(token.is_stop_requested());
        panic!("stopped and panicked")
    });
    job.run_under(&signal);
    assert!(matches!(future.try_take(), Some(Err(Error::Panicked(_)))));
}

/// A deadline job under a raised signal: the token reports the stop before
/// the deadline.
#[test]
fn run_under_with_a_deadline() {
    let signal = StopSignal::new();
    signal.request_stop();
    let (job, mut future) = Job::with_options(
        |token| token.is_stop_requested(),
        JobOptions::new().timeout(Duration::from_secs(600)),
    );
    job.run_under(&signal);
    assert!(future.try_take().unwrap().unwrap());
}

/// A job of an executor of one's own (`run_under` its signal): what
/// `AndStopRunning` is for.
#[test]
fn stop_signal_in_an_executor_of_ones_own() {
    no_hang("own executor", || {
        let signal = Arc::new(StopSignal::new());
        let (tx, rx) = mpsc::channel::<Job>();
        let worker = {
            let signal = Arc::clone(&signal);
            std::thread::spawn(move || {
                for job in rx {
                    job.run_under(&signal);
                }
            })
        };
        let (started, is_started) = mpsc::channel();
        let (job, mut future) = Job::stoppable(move |token| {
            started.send(()).unwrap();
            while !token.is_stop_requested() {
                std::hint::spin_loop();
            }
            "stopped"
        });
        tx.send(job).unwrap();
        is_started.recv().unwrap();
        signal.request_stop();
        assert_eq!(future.wait().unwrap(), "stopped");
        drop(tx);
        worker.join().unwrap();
    });
}

// ------------------------------------------------------- CancelFutures

#[test]
fn cancel_futures_predicates() {
    assert!(!CancelFutures::No.cancels_queued());
    assert!(!CancelFutures::No.stops_running());
    assert!(CancelFutures::Yes.cancels_queued());
    assert!(!CancelFutures::Yes.stops_running());
    assert!(CancelFutures::AndStopRunning.cancels_queued());
    assert!(CancelFutures::AndStopRunning.stops_running());
    assert_ne!(CancelFutures::Yes, CancelFutures::AndStopRunning);
    let copy = CancelFutures::No;
    assert_eq!(copy, CancelFutures::No);
    assert_eq!(
        format!("{:?}", CancelFutures::AndStopRunning),
        "AndStopRunning"
    );
}

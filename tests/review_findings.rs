//! An adversarial review of issues 21 (the process pool shaped like Python's)
//! and 23 (helping, the last executor edges). Each test is one attempt to
//! break a claim; the three that failed (a worker that dies while a forked
//! child holds its pipes, `kill_workers` then, and a large job written to a
//! stopped worker) are fixed and pass. Synchronisation is by channels and
//! handshakes; timeouts are bounds that fail the test instead of hanging.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::PanickingPayload;
use concurrent_futures::{Error, Executor, ThreadPoolExecutor};

fn one_worker() -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap()
}

/// The documented nesting bound, exactly: "helped jobs nest at most 16 deep
/// per worker; deeper, the wait is a plain wait". A chain of 16 waits on one
/// worker completes; a chain of 17 reaches a plain wait, reported by its
/// timed wait.
#[test]
fn the_help_bound_is_sixteen_exactly() {
    fn chain(pool: ThreadPoolExecutor, depth: u32) -> Result<u32, Error> {
        if depth == 0 {
            return Ok(0);
        }
        let next = pool.clone();
        let mut inner = pool.submit(move || chain(next, depth - 1)).unwrap();
        Ok(inner.wait_timeout(Duration::from_millis(300))?? + 1)
    }
    let pool = one_worker();
    let inner = pool.clone();
    let sixteen = pool
        .submit(move || chain(inner, 16))
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(sixteen.unwrap(), 16);
    let inner = pool.clone();
    let seventeen = pool
        .submit(move || chain(inner, 17))
        .unwrap()
        .wait()
        .unwrap();
    assert!(matches!(seventeen, Err(Error::Timeout)), "{seventeen:?}");
    // The pool is still usable afterwards.
    assert_eq!(pool.submit(|| 3).unwrap().wait().unwrap(), 3);
}

/// A helped job that panics with a payload whose own `Drop` panics: the
/// payload stays in the helped job's future, nothing unwinds through the
/// waiter's frame, and the only worker survives.
#[test]
fn a_helped_job_panicking_with_a_panicking_payload() {
    let pool = one_worker();
    let inner_pool = pool.clone();
    let mut outer = pool
        .submit(move || {
            let mut failing = inner_pool
                .submit(|| -> u8 { std::panic::panic_any(PanickingPayload) })
                .unwrap();
            let outcome = failing.wait();
            let panicked = matches!(outcome, Err(Error::Panicked(_)));
            // The payload's `Drop` panics: forget it, as the waiter's own
            // business, not the pool's.
            std::mem::forget(outcome);
            panicked
        })
        .unwrap();
    assert!(outer.wait().unwrap());
    assert_eq!(pool.submit(|| 5).unwrap().wait().unwrap(), 5);
}

/// Python's documented deadlock through every blocking wait at once, in a
/// helped job (depth 2): `as_completed` inside a job that a `Map` helped.
#[test]
fn python_deadlock_through_map_then_as_completed_nested() {
    let pool = one_worker();
    let inner_pool = pool.clone();
    let mut outer = pool
        .submit(move || {
            let p = inner_pool.clone();
            let sums: Vec<usize> = inner_pool
                .map(
                    move |n: usize| {
                        let futures: Vec<_> =
                            (0..n).map(|i| p.submit(move || i).unwrap()).collect();
                        concurrent_futures::as_completed(futures, None)
                            .map(|(_, outcome)| outcome.unwrap())
                            .sum::<usize>()
                    },
                    [1_usize, 2, 3, 4],
                )
                .unwrap()
                .map(Result::unwrap)
                .collect();
            sums
        })
        .unwrap();
    assert_eq!(outer.wait().unwrap(), vec![0, 1, 3, 6]);
}

/// A cycle cannot be helped (documented): with one worker, job a waits for b
/// (queued: helped), b waits for a promise that a keeps until b is done: a
/// timed wait reports `Timeout`, and the pool goes on.
#[test]
fn a_cycle_is_reported_by_a_timed_wait() {
    let pool = one_worker();
    let inner_pool = pool.clone();
    let mut a = pool
        .submit(move || {
            let (promise, mut of_a) = concurrent_futures::promise::<u8>();
            let mut b = inner_pool
                .submit(move || of_a.wait_timeout(Duration::from_millis(200)))
                .unwrap();
            let outcome = b.wait().unwrap();
            drop(promise);
            outcome
        })
        .unwrap();
    assert!(matches!(a.wait().unwrap(), Err(Error::Timeout)));
    assert_eq!(pool.submit(|| 1).unwrap().wait().unwrap(), 1);
}

/// Helping does not run a job of the pool twice, and every queued job runs
/// exactly once though many helpers on two workers race for them.
#[test]
fn helpers_on_two_workers_run_each_job_once() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let outers: Vec<_> = (0..2)
        .map(|_| {
            let p = pool.clone();
            let runs = Arc::clone(&runs);
            pool.submit(move || {
                let futures: Vec<_> = (0..200)
                    .map(|i| {
                        let runs = Arc::clone(&runs);
                        p.submit(move || {
                            runs.fetch_add(1, Ordering::SeqCst);
                            i
                        })
                        .unwrap()
                    })
                    .collect();
                futures
                    .into_iter()
                    .map(|mut f| f.wait().unwrap())
                    .sum::<usize>()
            })
            .unwrap()
        })
        .collect();
    for mut outer in outers {
        assert_eq!(outer.wait().unwrap(), (0..200).sum::<usize>());
    }
    assert_eq!(runs.load(Ordering::SeqCst), 400);
}

/// A scope inside a helped job inside the only worker completes.
#[test]
fn a_scope_inside_a_helped_job_on_the_only_worker() {
    let pool = one_worker();
    let inner_pool = pool.clone();
    let mut outer = pool
        .submit(move || {
            let p = inner_pool.clone();
            let mut helped = inner_pool
                .submit(move || {
                    let data = [1_usize, 2, 3];
                    let sum = AtomicUsize::new(0);
                    concurrent_futures::scope(&p, |s| {
                        for x in &data {
                            let sum = &sum;
                            s.spawn(move || {
                                sum.fetch_add(*x, Ordering::Relaxed);
                            })
                            .unwrap();
                        }
                    })
                    .unwrap();
                    sum.into_inner()
                })
                .unwrap();
            helped.wait().unwrap()
        })
        .unwrap();
    assert_eq!(outer.wait().unwrap(), 6);
}

#[cfg(all(feature = "process", unix))]
mod process {
    use super::*;

    use std::collections::HashMap;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::path::PathBuf;

    use common::no_hang;
    use common::process::{Handshake, hold, release};
    use concurrent_futures::process::{Exit, ProcessError, ProcessPoolExecutor, process_fn};
    use concurrent_futures::{AsyncExecutor, CancelFutures};
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use std::sync::mpsc;

    static INITIALIZED: AtomicUsize = AtomicUsize::new(0);

    process_fn! {
        fn pid_a() -> u32 { std::process::id() }
        fn pid_b() -> u32 { std::process::id() }
        fn pid_c() -> u32 { std::process::id() }

        fn count_init() -> () {
            INITIALIZED.fetch_add(1, Ordering::SeqCst);
        }

        fn pid_and_inits() -> (u32, usize) {
            (std::process::id(), INITIALIZED.load(Ordering::SeqCst))
        }

        /// An initializer that blocks until released (the handshake).
        fn init_hold(socket: PathBuf) -> () {
            let mut stream = UnixStream::connect(&socket).unwrap();
            stream.write_all(&std::process::id().to_le_bytes()).unwrap();
            let mut byte = [0_u8];
            let _ = stream.read(&mut byte);
        }

        fn big(len: usize) -> Vec<u8> {
            vec![7_u8; len]
        }

        fn len_of(bytes: Vec<u8>) -> usize {
            bytes.len()
        }

        fn non_string_panic() -> u8 {
            std::panic::panic_any(42_u32)
        }

        fn exit_zero() -> u8 {
            std::process::exit(0)
        }

        fn close_every_fd() -> u8 {
            for fd in 0..1024_i32 {
                let _ = nix::unistd::close(fd);
            }
            1
        }

        /// Connects to the handshake, then forks: the child inherits every
        /// pipe of the worker and holds them until the test releases it;
        /// the worker itself exits with `code`, or with `code < 0` blocks
        /// too.
        fn fork_and_hold(socket: PathBuf, code: i32) -> u8 {
            let mut stream = UnixStream::connect(&socket).unwrap();
            stream.write_all(&std::process::id().to_le_bytes()).unwrap();
            // SAFETY: the child only reads a socket and signals itself, both
            // plain system calls, before it ends.
            match unsafe { nix::unistd::fork() }.unwrap() {
                nix::unistd::ForkResult::Child => {
                    // Tells the test the child exists (holding the pipes).
                    let _ = stream.write_all(&[7]);
                    let mut byte = [0_u8];
                    let _ = stream.read(&mut byte);
                    let _ = kill(nix::unistd::getpid(), Signal::SIGKILL);
                    unreachable!()
                }
                nix::unistd::ForkResult::Parent { .. } => {
                    if code >= 0 {
                        std::process::exit(code)
                    }
                    let mut byte = [0_u8];
                    let _ = stream.read(&mut byte);
                    0
                }
            }
        }
    }

    procspawn::enable_test_support!();

    fn pool(workers: usize) -> ProcessPoolExecutor {
        ProcessPoolExecutor::builder()
            .max_workers(workers)
            .build()
            .unwrap()
    }

    fn worker_died(error: &Error) -> Option<Exit> {
        match error {
            Error::Process(ProcessError::WorkerDied { exit, .. }) => Some(*exit),
            _ => None,
        }
    }

    const TEN_S: Duration = Duration::from_secs(10);

    /// `max_workers` counts processes whatever the number of job functions:
    /// three functions interleaved on `max_workers(2)` see at most 2 pids.
    #[test]
    fn three_functions_share_two_workers() {
        let pool = pool(2);
        let mut futures = Vec::new();
        for _ in 0..20 {
            futures.push(pool.submit(pid_a, ()).unwrap());
            futures.push(pool.submit(pid_b, ()).unwrap());
            futures.push(pool.submit(pid_c, ()).unwrap());
        }
        let pids: std::collections::HashSet<u32> =
            futures.iter_mut().map(|f| f.wait().unwrap()).collect();
        assert!(pids.len() <= 2, "{} worker processes", pids.len());
        pool.shutdown(CancelFutures::No);
    }

    /// The initializer runs once per process, with `max_tasks_per_child`: each
    /// worker saw one initialisation and served at most its tasks.
    #[test]
    fn initializer_once_per_process_with_max_tasks_per_child() {
        let pool = ProcessPoolExecutor::builder()
            .max_workers(2)
            .max_tasks_per_child(2)
            .initializer(count_init, ())
            .build()
            .unwrap();
        let mut futures: Vec<_> = (0..12)
            .map(|_| pool.submit(pid_and_inits, ()).unwrap())
            .collect();
        let mut per_pid: HashMap<u32, usize> = HashMap::new();
        for future in &mut futures {
            let (pid, inits) = future.wait().unwrap();
            assert_eq!(inits, 1, "worker {pid} initialised {inits} times");
            *per_pid.entry(pid).or_default() += 1;
        }
        assert!(per_pid.values().all(|&n| n <= 2), "{per_pid:?}");
        assert!(per_pid.len() >= 6, "{per_pid:?}");
        pool.shutdown(CancelFutures::No);
    }

    /// CPython gh-115634's shape: one worker, `max_tasks_per_child(1)`, many
    /// jobs queued at once: every job completes, each in a fresh process.
    #[test]
    fn max_tasks_per_child_one_on_one_worker_does_not_hang() {
        no_hang("max_tasks_per_child(1)", || {
            let pool = ProcessPoolExecutor::builder()
                .max_workers(1)
                .max_tasks_per_child(1)
                .build()
                .unwrap();
            let mut futures: Vec<_> = (0..15).map(|_| pool.submit(pid_a, ()).unwrap()).collect();
            let pids: std::collections::HashSet<u32> =
                futures.iter_mut().map(|f| f.wait().unwrap()).collect();
            assert_eq!(pids.len(), 15);
            pool.shutdown(CancelFutures::No);
        });
    }

    /// A result and an argument larger than 16 MiB cross the pipes.
    #[test]
    fn a_result_and_an_argument_over_16_mib() {
        no_hang("20 MiB", || {
            let pool = pool(1);
            let len = 20 << 20;
            let bytes = pool.submit(big, len).unwrap().wait().unwrap();
            assert_eq!(bytes.len(), len);
            assert!(bytes.iter().all(|&b| b == 7));
            assert_eq!(pool.submit(len_of, bytes).unwrap().wait().unwrap(), len);
            pool.shutdown(CancelFutures::No);
        });
    }

    /// A panic with a non-string payload is `Panicked`, and the worker goes
    /// on (same pid).
    #[test]
    fn a_non_string_panic_payload() {
        let pool = pool(1);
        let before = pool.submit(pid_a, ()).unwrap().wait().unwrap();
        let outcome = pool.submit(non_string_panic, ()).unwrap().wait();
        assert!(matches!(outcome, Err(Error::Panicked(_))), "{outcome:?}");
        assert_eq!(pool.submit(pid_a, ()).unwrap().wait().unwrap(), before);
        pool.shutdown(CancelFutures::No);
    }

    /// `std::process::exit(0)` in a job: `WorkerDied { exit: Code(0) }` for
    /// that job only, and the pool replaces the worker.
    #[test]
    fn a_job_that_exits_zero() {
        let pool = pool(1);
        let error = pool.submit(exit_zero, ()).unwrap().wait().unwrap_err();
        assert_eq!(worker_died(&error), Some(Exit::Code(0)), "{error:?}");
        assert!(pool.submit(pid_a, ()).unwrap().wait().is_ok());
        pool.shutdown(CancelFutures::No);
    }

    /// A job that closes fds 0..1024 (its pipes among them): its future fails
    /// (the worker is gone), within a bound, and the pool goes on.
    #[test]
    fn a_job_that_closes_every_fd() {
        let pool = pool(1);
        let mut f = pool.submit(close_every_fd, ()).unwrap();
        let outcome = f.wait_timeout(TEN_S);
        match outcome {
            Err(error) => assert!(worker_died(&error).is_some(), "{error:?}"),
            Ok(value) => panic!("a value through closed pipes: {value}"),
        }
        let mut next = pool.submit(pid_a, ()).unwrap();
        assert!(next.wait_timeout(TEN_S).is_ok());
        pool.shutdown(CancelFutures::No);
    }

    /// Issue 21 §4, "a death the pool does not see", another member: a job
    /// forks a child (which inherits the worker's pipes and holds them), then
    /// the worker exits with code 3. Python sees the death through the
    /// process's sentinel. Expected: `WorkerDied { exit: Code(3) }` within
    /// 10 s. Observed: the future stays pending while the grandchild lives,
    /// since the pool learns of a death only from its reply channel closing.
    #[test]
    fn a_worker_that_dies_while_its_forked_child_holds_the_pipes() {
        let pool = pool(1);
        let handshake = Handshake::new("review-fork-exit");
        let mut f = pool
            .submit(fork_and_hold, (handshake.path.clone(), 3))
            .unwrap();
        let (_, grandchild) = handshake.accept();
        let outcome = f.wait_timeout(TEN_S);
        // Let the grandchild go, whatever happened, so the pool can end.
        release(grandchild);
        let error = outcome.expect_err("the job cannot have a value");
        assert_eq!(worker_died(&error), Some(Exit::Code(3)), "{error:?}");
        pool.shutdown(CancelFutures::No);
    }

    /// The same, through `kill_workers`: the worker is killed, but the forked
    /// child still holds the pipes. Expected: `kill_workers` ends the pool
    /// (`terminated` within 10 s), the job `WorkerDied` by `SIGKILL`.
    #[test]
    fn kill_workers_while_a_forked_child_holds_the_pipes() {
        let pool = pool(1);
        let handshake = Handshake::new("review-fork-kill");
        let mut f = pool
            .submit(fork_and_hold, (handshake.path.clone(), -1))
            .unwrap();
        let (_, mut stream) = handshake.accept();
        // The forked child exists (else the kill could come before the fork).
        let mut forked = [0_u8];
        stream.read_exact(&mut forked).unwrap();
        pool.kill_workers();
        let terminated = pool.terminated().wait_timeout(TEN_S);
        let outcome = f.wait_timeout(Duration::from_millis(1));
        // Let the grandchild go (the killed worker no longer reads).
        release(stream);
        assert!(terminated.is_ok(), "{terminated:?}");
        let error = outcome.expect_err("the job cannot have a value");
        assert_eq!(
            worker_died(&error),
            Some(Exit::Signal(Signal::SIGKILL as i32)),
            "{error:?}"
        );
    }

    /// A job sent ahead (AHEAD = 1) is marked running, so `cancel` is refused
    /// as documented; a job still queued is cancelled; `kill_workers` then
    /// fails the running job with `WorkerDied` and cancels the one sent
    /// ahead (never started), never "died while running".
    #[test]
    fn a_job_sent_ahead_then_kill_workers() {
        let init = Handshake::new("review-ahead-init");
        let pool = ProcessPoolExecutor::builder()
            .max_workers(1)
            .initializer(init_hold, init.path.clone())
            .build()
            .unwrap();
        let handshake = Handshake::new("review-ahead-job");
        let mut running = pool.submit(hold, handshake.path.clone()).unwrap();
        let (_, init_stream) = init.accept();
        // Queued while the initializer runs: the dispatcher takes its window
        // (the running job and one ahead) once the worker is ready.
        let mut ahead = pool.submit(pid_a, ()).unwrap();
        let mut queued = pool.submit(pid_a, ()).unwrap();
        release(init_stream);
        let (_, job_stream) = handshake.accept();
        assert!(ahead.is_running(), "the job sent ahead is marked running");
        assert!(!ahead.cancel(), "documented: refused");
        assert!(queued.cancel(), "a queued job is cancelled");
        pool.kill_workers();
        let died = running.wait_timeout(TEN_S).unwrap_err();
        assert_eq!(
            worker_died(&died),
            Some(Exit::Signal(Signal::SIGKILL as i32)),
            "{died:?}"
        );
        let never_started = ahead.wait_timeout(TEN_S).unwrap_err();
        assert!(never_started.is_cancelled(), "{never_started:?}");
        assert!(queued.wait_timeout(TEN_S).unwrap_err().is_cancelled());
        drop(job_stream);
        assert!(pool.terminated().wait_timeout(TEN_S).is_ok());
    }

    /// `shutdown(CancelFutures::Yes)` with 40 jobs queued before two workers
    /// started: at most `workers * (1 + AHEAD)` = 4 run, the rest are
    /// cancelled (Python's bound is of the same kind).
    #[test]
    fn shutdown_cancel_runs_at_most_the_window() {
        let init = Handshake::new("review-window-init");
        let pool = ProcessPoolExecutor::builder()
            .max_workers(2)
            .initializer(init_hold, init.path.clone())
            .build()
            .unwrap();
        let handshake = Handshake::new("review-window-job");
        let mut futures = vec![pool.submit(hold, handshake.path.clone()).unwrap()];
        let (_, first_init) = init.accept();
        futures.push(pool.submit(hold, handshake.path.clone()).unwrap());
        let (_, second_init) = init.accept();
        for _ in 2..40 {
            futures.push(pool.submit(hold, handshake.path.clone()).unwrap());
        }
        release(first_init);
        release(second_init);
        let (_, a) = handshake.accept();
        let (_, b) = handshake.accept();
        pool.shutdown_nowait(CancelFutures::Yes);
        let left = futures.iter().filter(|f| !f.is_cancelled()).count();
        assert!((2..=4).contains(&left), "{left} not cancelled");
        release(a);
        release(b);
        for _ in 2..left {
            let (_, stream) = handshake.accept();
            release(stream);
        }
        let ran = futures
            .iter_mut()
            .filter_map(|f| f.wait_timeout(TEN_S).ok())
            .count();
        assert_eq!(ran, left);
        assert!(pool.terminated().wait_timeout(TEN_S).is_ok());
    }

    /// `kill_workers` while the only worker runs its initializer: the job that
    /// started it never ran: `Cancelled`, and the pool terminates.
    #[test]
    fn kill_workers_during_startup() {
        let init = Handshake::new("review-kill-init");
        let pool = ProcessPoolExecutor::builder()
            .max_workers(1)
            .initializer(init_hold, init.path.clone())
            .build()
            .unwrap();
        let mut f = pool.submit(pid_a, ()).unwrap();
        let (_, stream) = init.accept();
        pool.kill_workers();
        let error = f.wait_timeout(TEN_S).unwrap_err();
        assert!(error.is_cancelled(), "{error:?}");
        drop(stream);
        assert!(pool.terminated().wait_timeout(TEN_S).is_ok());
    }

    /// A stopped (`SIGSTOP`) idle worker: a 64 MiB submit and a small one both
    /// return (that part holds); `kill_workers` must then end the pool and
    /// both jobs, never started, be cancelled. Observed: `terminated` does not
    /// resolve within 10 s; the dispatcher thread stays in `sendto`
    /// (`sock_alloc_send_pskb`) writing the 64 MiB job after its worker was
    /// killed.
    #[test]
    fn a_stopped_worker_blocks_no_submit_and_kill_ends_it() {
        no_hang("stopped worker", || {
            let pool = pool(1);
            let pid = pool.submit(pid_a, ()).unwrap().wait().unwrap();
            let pid = Pid::from_raw(i32::try_from(pid).unwrap());
            kill(pid, Signal::SIGSTOP).unwrap();
            let mut large = pool.submit(len_of, vec![1_u8; 64 << 20]).unwrap();
            let mut small = pool.submit(pid_a, ()).unwrap();
            pool.kill_workers();
            assert!(pool.terminated().wait_timeout(TEN_S).is_ok());
            let large = large.wait_timeout(TEN_S).map(|_| ());
            let small = small.wait_timeout(TEN_S).map(|_| ());
            for outcome in [large, small] {
                let error = outcome.unwrap_err();
                assert!(
                    error.is_cancelled() || worker_died(&error).is_some(),
                    "{error:?}"
                );
            }
        });
    }

    /// Every handle dropped while a job runs: the job still completes with
    /// its value (the last drop begins a shutdown that waits for it).
    #[test]
    fn dropping_every_handle_while_a_job_runs() {
        let pool = pool(1);
        let handshake = Handshake::new("review-drop-all");
        let mut f = pool.submit(hold, handshake.path.clone()).unwrap();
        let mut queued = pool.submit(pid_a, ()).unwrap();
        let (pid, stream) = handshake.accept();
        drop(pool);
        release(stream);
        assert_eq!(f.wait_timeout(TEN_S).unwrap(), pid);
        assert!(
            queued.wait_timeout(TEN_S).is_ok(),
            "shutdown(No) runs the queue"
        );
    }

    /// `AsyncExecutor::shutdown(..)` over a process pool, driven to completion
    /// from inside a done callback (on a dispatcher thread): it returns
    /// instead of waiting for its own thread, and a later shutdown from
    /// outside completes.
    #[test]
    fn async_shutdown_from_a_done_callback() {
        no_hang("async shutdown in a callback", || {
            let executor = AsyncExecutor::new(pool(1));
            let handshake = Handshake::new("review-async-cb");
            let f = executor
                .wrapped()
                .submit(hold, handshake.path.clone())
                .unwrap();
            let (_, stream) = handshake.accept();
            let (tx, rx) = mpsc::channel();
            let inner = executor.clone();
            f.on_done(move |_| {
                futures::executor::block_on(inner.shutdown(CancelFutures::No));
                tx.send(()).unwrap();
            });
            release(stream);
            rx.recv_timeout(Duration::from_secs(30))
                .expect("the callback's shutdown returned");
            futures::executor::block_on(executor.shutdown(CancelFutures::No));
            assert!(executor.wrapped().is_shutdown());
        });
    }
}

//! Regression tests for issue 21's §2 (`max_workers` counts processes), §3
//! (cancel means "not started") and §4 (faults), one test per input and the
//! other members of each kind.
//!
//! Synchronisation is by handshake (`common::process`), by a gate thread that
//! holds the jobs' connections, by channels and by files, never by sleeping.
//! Bounded polling appears only where the test waits for another program's
//! process to change state (stopped, gone), and every wait is bounded: a hang
//! fails the test instead.
#![cfg(all(feature = "process", target_os = "linux"))]

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::no_hang;
use common::process::Handshake;
use concurrent_futures::process::{Exit, ProcessError, ProcessPoolExecutor, process_fn};
use concurrent_futures::{CancelFutures, Error, MapOptions, SharedFuture};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

procspawn::enable_test_support!();

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// The bound on every wait for a future: far above the expected time.
const LONG: Duration = Duration::from_secs(30);

const SIGABRT: i32 = Signal::SIGABRT as i32;
const SIGKILL: i32 = Signal::SIGKILL as i32;

fn pool(workers: usize) -> ProcessPoolExecutor {
    ProcessPoolExecutor::builder()
        .max_workers(workers)
        .build()
        .unwrap()
}

/// Waits for `future` at most [`LONG`]; a future still pending fails the test.
fn resolve<T>(future: &mut SharedFuture<T>, what: &str) -> Result<T, Error> {
    match future.wait_timeout(LONG) {
        Err(Error::Timeout) => panic!("{what}: not resolved after {LONG:?}"),
        outcome => outcome,
    }
}

fn worker_died(error: Error) -> (u32, Exit) {
    match error {
        Error::Process(ProcessError::WorkerDied { pid, exit }) => (pid, exit),
        other => panic!("expected a dead worker, got {other:?}"),
    }
}

fn signal(pid: u32, signal: Signal) {
    let _ = kill(Pid::from_raw(pid as i32), signal);
}

/// The state letter of `/proc/PID/stat` (`R`, `S`, `T`, `Z`, ...), `None`
/// once the process is gone (reaped).
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) S ...`: the state follows the last `)` (comm may hold one).
    let (_, rest) = stat.rsplit_once(')')?;
    rest.trim_start().chars().next()
}

/// Polls (bounded) until `done(pid)`: only for another process's state, which
/// this test has no way to be told of.
fn poll_process(pid: u32, within: Duration, done: impl Fn(u32) -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if done(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Stops `pid` with `SIGSTOP` and waits (bounded) until the kernel says so.
fn stop_process(pid: u32) {
    signal(pid, Signal::SIGSTOP);
    assert!(
        poll_process(pid, LONG, |pid| matches!(proc_state(pid), Some('T' | 't'))),
        "worker {pid} did not stop: {:?}",
        proc_state(pid)
    );
}

/// A fresh directory for one test's marker files, removed on drop.
struct MarkDir {
    path: PathBuf,
}

impl MarkDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("cf-faults-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        MarkDir { path }
    }

    /// How many markers the jobs left.
    fn count(&self) -> usize {
        std::fs::read_dir(&self.path).unwrap().count()
    }

    /// The markers' names.
    fn names(&self) -> BTreeSet<String> {
        std::fs::read_dir(&self.path)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect()
    }
}

impl Drop for MarkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Lets a held job return; a job that is gone needs no release.
fn let_go(mut stream: UnixStream) {
    let _ = stream.write_all(&[1]);
}

/// A gate for many jobs at once: a thread accepts every connection of
/// `gated` jobs, reports each job's pid on a channel, and holds it until the
/// gate is opened; from then on it lets every job through at once. Commands
/// come through the socket itself, so they are ordered with the jobs'
/// connections.
struct Gate {
    path: PathBuf,
    arrivals: mpsc::Receiver<u32>,
    thread: thread::JoinHandle<usize>,
}

/// The pid a command connection sends: open the gate.
const OPEN: u32 = u32::MAX;
/// The pid a command connection sends: stop the gate's thread.
const CLOSE: u32 = 0;

impl Gate {
    fn new(name: &str) -> Self {
        let handshake = Handshake::new(name);
        let path = handshake.path.clone();
        let (report, arrivals) = mpsc::channel();
        let thread = thread::spawn(move || {
            let mut held = Vec::new();
            let mut open = false;
            let mut jobs = 0;
            loop {
                let (pid, stream) = handshake.accept();
                match pid {
                    CLOSE => break,
                    OPEN => {
                        open = true;
                        held.drain(..).for_each(let_go);
                    }
                    pid => {
                        jobs += 1;
                        let _ = report.send(pid);
                        if open {
                            let_go(stream);
                        } else {
                            held.push(stream);
                        }
                    }
                }
            }
            held.into_iter().for_each(let_go);
            jobs
        });
        Gate {
            path,
            arrivals,
            thread,
        }
    }

    /// Waits (bounded) for the next job to reach the gate; its pid.
    fn arrival(&self) -> u32 {
        self.arrivals
            .recv_timeout(LONG)
            .expect("no job reached the gate")
    }

    fn command(&self, pid: u32) {
        let mut stream = UnixStream::connect(&self.path).unwrap();
        stream.write_all(&pid.to_le_bytes()).unwrap();
    }

    /// Lets every held job and every later one through.
    fn open(&self) {
        self.command(OPEN);
    }

    /// Stops the gate's thread: how many jobs reached the gate in all.
    fn close(self) -> usize {
        self.command(CLOSE);
        self.thread.join().unwrap()
    }
}

/// The worker side of a gate: connect, send the pid, wait for one byte (or
/// the close of the socket).
fn pass_gate(socket: &Path) {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream.write_all(&std::process::id().to_le_bytes()).unwrap();
    let mut byte = [0_u8];
    let _ = stream.read(&mut byte);
}

static INIT_RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

process_fn! {
    fn pid_a() -> u32 {
        std::process::id()
    }

    fn pid_b(unused: u8) -> u32 {
        let _ = unused;
        std::process::id()
    }

    fn pid_c(left: u16, right: String) -> u32 {
        let _ = (left, right);
        std::process::id()
    }

    fn count_init() -> () {
        INIT_RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn init_runs_a() -> usize {
        INIT_RUNS.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn init_runs_b(unused: String) -> usize {
        let _ = unused;
        INIT_RUNS.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Leaves a marker named `index` in `marks`, then waits at `socket`'s
    /// gate. The marker counts the jobs that ran.
    fn gated(socket: PathBuf, marks: PathBuf, index: u32) -> u32 {
        std::fs::write(marks.join(index.to_string()), b"ran").unwrap();
        pass_gate(&socket);
        index
    }

    fn abort() -> u32 {
        std::process::abort()
    }

    fn exit_with(code: i32) -> u32 {
        std::process::exit(code)
    }

    fn kill_self() -> u32 {
        let _ = nix::sys::signal::raise(Signal::SIGKILL);
        unreachable!("SIGKILL returned")
    }
}

// ---------------------------------------------------------------------------
// §2: max_workers means processes
// ---------------------------------------------------------------------------

/// Issue 21 §2's input: `max_workers(2)` with three job functions ran six
/// processes. Now every worker runs every function: at most two pids among
/// sixty jobs of three functions, and never more than two processes alive.
#[test]
fn max_workers_counts_processes_across_three_functions() {
    no_hang("three functions on two workers", || {
        let pool = pool(2);
        let mut futures = Vec::new();
        let mut most_alive = 0;
        for round in 0..20_u16 {
            futures.push(pool.submit(pid_a, ()).unwrap());
            futures.push(pool.submit(pid_b, round as u8).unwrap());
            futures.push(pool.submit(pid_c, (round, format!("r{round}"))).unwrap());
            most_alive = most_alive.max(pool.worker_count());
        }
        let mut pids = BTreeSet::new();
        for future in &mut futures {
            pids.insert(resolve(future, "a pid job").unwrap());
            most_alive = most_alive.max(pool.worker_count());
        }
        pool.shutdown(CancelFutures::No);
        assert!(pids.len() <= 2, "{} worker processes: {pids:?}", pids.len());
        assert!(most_alive <= 2, "{most_alive} workers alive at once");
        assert_eq!(pool.worker_count(), 0);
    });
}

/// §2: the initializer runs once per process, whatever function the jobs
/// are of: every job of either function sees one run.
#[test]
fn the_initializer_runs_once_per_process_for_every_function() {
    no_hang("initializer per process", || {
        let pool = ProcessPoolExecutor::builder()
            .max_workers(2)
            .initializer(count_init, ())
            .build()
            .unwrap();
        let mut futures = Vec::new();
        for round in 0..15 {
            futures.push(pool.submit(init_runs_a, ()).unwrap());
            futures.push(pool.submit(init_runs_b, format!("{round}")).unwrap());
        }
        let runs: Vec<usize> = futures
            .iter_mut()
            .map(|future| resolve(future, "init_runs").unwrap())
            .collect();
        pool.shutdown(CancelFutures::No);
        assert!(runs.iter().all(|&runs| runs == 1), "{runs:?}");
    });
}

/// §2: a worker replaced by `max_tasks_per_child` is a fresh process whose
/// initializer also runs once.
#[test]
fn a_replaced_worker_runs_the_initializer_once_too() {
    no_hang("initializer per replaced process", || {
        let pool = ProcessPoolExecutor::builder()
            .max_workers(1)
            .max_tasks_per_child(3)
            .initializer(count_init, ())
            .build()
            .unwrap();
        let mut runs = Vec::new();
        let mut pids = BTreeSet::new();
        for round in 0..4 {
            let mut runs_a = pool.submit(init_runs_a, ()).unwrap();
            let mut runs_b = pool.submit(init_runs_b, format!("{round}")).unwrap();
            let mut pid = pool.submit(pid_a, ()).unwrap();
            runs.push(resolve(&mut runs_a, "init_runs_a").unwrap());
            runs.push(resolve(&mut runs_b, "init_runs_b").unwrap());
            pids.insert(resolve(&mut pid, "pid_a").unwrap());
        }
        pool.shutdown(CancelFutures::No);
        assert!(runs.iter().all(|&runs| runs == 1), "{runs:?}");
        assert_eq!(pids.len(), 4, "one process per three jobs: {pids:?}");
    });
}

/// §2: `max_tasks_per_child` counts the jobs of every function a process ran:
/// with one worker and two tasks per child, six jobs of three functions come
/// back in pairs of pids.
#[test]
fn max_tasks_per_child_counts_jobs_of_every_function() {
    no_hang("max_tasks_per_child across functions", || {
        let pool = ProcessPoolExecutor::builder()
            .max_workers(1)
            .max_tasks_per_child(2)
            .build()
            .unwrap();
        let mut futures = vec![
            pool.submit(pid_a, ()).unwrap(),
            pool.submit(pid_b, 1).unwrap(),
            pool.submit(pid_c, (2, String::from("c"))).unwrap(),
            pool.submit(pid_a, ()).unwrap(),
            pool.submit(pid_b, 4).unwrap(),
            pool.submit(pid_c, (5, String::from("c"))).unwrap(),
        ];
        let pids: Vec<u32> = futures
            .iter_mut()
            .map(|future| resolve(future, "a pid job").unwrap())
            .collect();
        pool.shutdown(CancelFutures::No);
        for pair in pids.chunks(2) {
            assert_eq!(pair[0], pair[1], "a pair of jobs on one process: {pids:?}");
        }
        let distinct: BTreeSet<u32> = pids.iter().copied().collect();
        assert_eq!(distinct.len(), 3, "three processes: {pids:?}");
    });
}

// ---------------------------------------------------------------------------
// §3: cancel means "not started"
// ---------------------------------------------------------------------------

/// Jobs in a worker's pipe at most: the one it runs and the pool's
/// documented `AHEAD` of one (src/process/dispatch.rs).
const WINDOW: usize = 2;

/// Issue 21 §3's first input: 40 slow jobs on two workers,
/// `shutdown(cancel_futures)` while the first two run: 31 still ran. Now at
/// most the two running and one sent ahead to each worker run (the first
/// four, in order); every other job reports `Cancelled`, and none of those
/// left its marker.
#[test]
fn shutdown_cancel_futures_cancels_every_job_no_worker_started() {
    no_hang("shutdown cancel over 40 gated jobs", || {
        let pool = pool(2);
        let gate = Gate::new("faults-cancel40");
        let marks = MarkDir::new("cancel40");
        let mut futures: Vec<_> = (0..40)
            .map(|index| {
                pool.submit(gated, (gate.path.clone(), marks.path.clone(), index))
                    .unwrap()
            })
            .collect();
        // The first two run, held at the gate.
        gate.arrival();
        gate.arrival();
        pool.shutdown_nowait(CancelFutures::Yes);
        gate.open();
        let outcomes: Vec<Result<u32, Error>> = futures
            .iter_mut()
            .map(|future| resolve(future, "a gated job"))
            .collect();
        pool.terminated().wait_timeout(LONG).unwrap();
        let ran: Vec<u32> = outcomes
            .iter()
            .filter_map(|o| o.as_ref().ok().copied())
            .collect();
        let cancelled = outcomes
            .iter()
            .filter(|o| matches!(o, Err(Error::Cancelled)))
            .count();
        assert_eq!(ran.len() + cancelled, 40, "{outcomes:?}");
        assert!(
            (2..=2 * WINDOW).contains(&ran.len()),
            "{} ran after the cancel: {ran:?}",
            ran.len()
        );
        assert!(
            ran.iter().all(|&index| (index as usize) < 2 * WINDOW),
            "a job behind the pipes ran: {ran:?}"
        );
        let expected: BTreeSet<String> = ran.iter().map(u32::to_string).collect();
        assert_eq!(marks.names(), expected, "a cancelled job ran");
        assert_eq!(gate.close(), ran.len());
        assert_eq!(pool.worker_count(), 0);
    });
}

/// §3, the same with one worker: one running and one ahead at most.
#[test]
fn shutdown_cancel_futures_on_one_worker_runs_at_most_its_window() {
    no_hang("shutdown cancel on one worker", || {
        let pool = pool(1);
        let gate = Gate::new("faults-cancel-one");
        let marks = MarkDir::new("cancel-one");
        let mut futures: Vec<_> = (0..10)
            .map(|index| {
                pool.submit(gated, (gate.path.clone(), marks.path.clone(), index))
                    .unwrap()
            })
            .collect();
        gate.arrival();
        pool.shutdown_nowait(CancelFutures::Yes);
        gate.open();
        let outcomes: Vec<Result<u32, Error>> = futures
            .iter_mut()
            .map(|future| resolve(future, "a gated job"))
            .collect();
        pool.terminated().wait_timeout(LONG).unwrap();
        let ran: Vec<u32> = outcomes
            .iter()
            .filter_map(|o| o.as_ref().ok().copied())
            .collect();
        assert!(
            ran == [0] || ran == [0, 1],
            "one running and one ahead at most: {outcomes:?}"
        );
        assert!(
            outcomes[ran.len()..]
                .iter()
                .all(|o| matches!(o, Err(Error::Cancelled))),
            "{outcomes:?}"
        );
        assert_eq!(marks.count(), ran.len());
        assert_eq!(gate.close(), ran.len());
    });
}

/// Issue 21 §3's second input: `map` with a timeout that expires over 40
/// slow items: 32 ran after it. Now the map yields `Timeout`, ends, and at
/// most the two workers' windows of items ever ran (counted by their
/// markers, after the pool has terminated).
#[test]
fn map_timeout_over_40_gated_items_runs_at_most_the_windows() {
    no_hang("map timeout over 40 gated items", || {
        let pool = pool(2);
        // Both workers started first (two held jobs on another gate), so the
        // map's first items start at once.
        let warm = Gate::new("faults-map-warm");
        let warm_marks = MarkDir::new("map-warm");
        let mut warming: Vec<_> = (0..2)
            .map(|index| {
                pool.submit(gated, (warm.path.clone(), warm_marks.path.clone(), index))
                    .unwrap()
            })
            .collect();
        warm.arrival();
        warm.arrival();
        warm.open();
        for future in &mut warming {
            resolve(future, "a warm-up job").unwrap();
        }
        assert_eq!(warm.close(), 2);

        let gate = Gate::new("faults-map40");
        let marks = MarkDir::new("map40");
        let items: Vec<_> = (0..40)
            .map(|index| (gate.path.clone(), marks.path.clone(), index))
            .collect();
        let options = MapOptions::new().timeout(Duration::from_millis(300));
        let mut results = pool.map_with(gated, items, options).unwrap();
        // Every item is held: the first result cannot come before the deadline.
        assert!(matches!(results.next(), Some(Err(Error::Timeout))));
        assert!(results.next().is_none(), "the map ends at its timeout");
        drop(results);
        gate.open();
        pool.shutdown(CancelFutures::No);
        let ran = marks.count();
        assert!(ran <= 2 * WINDOW, "{ran} items ran: {:?}", marks.names());
        assert_eq!(gate.close(), ran);
    });
}

/// §3, the unordered map: the same bound.
#[test]
fn map_unordered_timeout_over_40_gated_items_runs_at_most_the_windows() {
    no_hang("map_unordered timeout over 40 gated items", || {
        let pool = pool(2);
        let gate = Gate::new("faults-unordered40");
        let marks = MarkDir::new("unordered40");
        let items: Vec<_> = (0..40)
            .map(|index| (gate.path.clone(), marks.path.clone(), index))
            .collect();
        let options = MapOptions::new().timeout(Duration::from_millis(300));
        let mut results = pool.map_unordered_with(gated, items, options).unwrap();
        assert!(matches!(results.next(), Some((_, Err(Error::Timeout)))));
        assert!(results.next().is_none(), "the map ends at its timeout");
        drop(results);
        gate.open();
        pool.shutdown(CancelFutures::No);
        let ran = marks.count();
        assert!(ran <= 2 * WINDOW, "{ran} items ran: {:?}", marks.names());
        assert_eq!(gate.close(), ran);
    });
}

/// §3: a job sent behind one that kills its worker never started: it runs
/// on the replacement, and only the killer fails with `WorkerDied`. One
/// test per way a worker dies.
fn queued_behind_a_dying_job_runs_on_the_replacement(
    kill: impl FnOnce(&ProcessPoolExecutor) -> SharedFuture<u32>,
    expected: Exit,
) {
    let pool = pool(1);
    let mut killer = kill(&pool);
    let mut behind: Vec<_> = (0..3).map(|_| pool.submit(pid_a, ()).unwrap()).collect();
    let (died, exit) = worker_died(resolve(&mut killer, "the dying job").unwrap_err());
    assert_eq!(exit, expected);
    for future in &mut behind {
        let pid = resolve(future, "a job behind").expect("never started: it runs again");
        assert_ne!(pid, died);
    }
    pool.shutdown(CancelFutures::No);
}

#[test]
fn a_job_queued_behind_an_abort_runs_on_the_replacement() {
    no_hang("behind abort", || {
        queued_behind_a_dying_job_runs_on_the_replacement(
            |pool| pool.submit(abort, ()).unwrap(),
            Exit::Signal(SIGABRT),
        );
    });
}

#[test]
fn a_job_queued_behind_an_exit_runs_on_the_replacement() {
    no_hang("behind exit", || {
        queued_behind_a_dying_job_runs_on_the_replacement(
            |pool| pool.submit(exit_with, 3).unwrap(),
            Exit::Code(3),
        );
    });
}

#[test]
fn a_job_queued_behind_a_self_kill_runs_on_the_replacement() {
    no_hang("behind SIGKILL", || {
        queued_behind_a_dying_job_runs_on_the_replacement(
            |pool| pool.submit(kill_self, ()).unwrap(),
            Exit::Signal(SIGKILL),
        );
    });
}

/// §3: a job sent to an idle worker that was stopped (`SIGSTOP`), then
/// killed, sat in the dead worker's pipe and never started: it runs on the
/// replacement and returns its value, not `WorkerDied`.
#[test]
fn a_job_in_a_stopped_then_killed_workers_pipe_runs_on_the_replacement() {
    no_hang("job in a killed worker's pipe", || {
        let pool = pool(1);
        let idle = resolve(&mut pool.submit(pid_a, ()).unwrap(), "first job").unwrap();
        stop_process(idle);
        let mut job = pool.submit(pid_a, ()).unwrap();
        // Marked running when its dispatcher takes it to send. The outcome
        // must be the same whether or not the send has happened when the
        // worker is killed (the job never started either way); waiting for
        // the mark makes the pipe the likely case.
        let deadline = Instant::now() + LONG;
        while job.is_pending() && Instant::now() < deadline {
            thread::yield_now();
        }
        assert!(job.is_running(), "the dispatcher never took the job");
        signal(idle, Signal::SIGKILL);
        let pid = resolve(&mut job, "the job in the pipe").expect("never started: runs again");
        assert_ne!(pid, idle);
        pool.shutdown(CancelFutures::No);
    });
}

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
use concurrent_futures::{CancelFutures, Error, MapOptions, SharedFuture, SubmitError};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

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

/// `true` once `pid` is reaped: no `/proc/PID` (for a child of this test).
fn reaped(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// `true` once `pid` has ended: gone, or a zombie (an orphan whose new
/// parent has not reaped it yet).
fn ended(pid: u32) -> bool {
    matches!(proc_state(pid), None | Some('Z' | 'X'))
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
        let mut futures = [
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

// ---------------------------------------------------------------------------
// §4 (a): no worker outlives its program
// ---------------------------------------------------------------------------

/// Names the pid file of a scenario run as a child program (set only there).
const SCENARIO_PIDFILE: &str = "CF_PROCESS_FAULTS_PIDFILE";

process_fn! {
    /// Reports its pid at `socket`, then never returns.
    fn endless(socket: PathBuf) -> u8 {
        let mut stream = UnixStream::connect(&socket).unwrap();
        stream.write_all(&std::process::id().to_le_bytes()).unwrap();
        loop {
            thread::park();
        }
    }
}

/// The child program's side: a pool runs an endless job; once the job has
/// reported its worker's pid (written to the pid file, atomically), the
/// program ends by `end`. Does nothing unless run as a child program.
fn orphan_scenario(end: impl FnOnce()) {
    let Some(pidfile) = std::env::var_os(SCENARIO_PIDFILE) else {
        return;
    };
    let pidfile = PathBuf::from(pidfile);
    let pool = pool(1);
    let handshake = Handshake::new("faults-orphan");
    let _endless = pool.submit(endless, handshake.path.clone()).unwrap();
    let (worker, stream) = handshake.accept();
    let partial = pidfile.with_extension("partial");
    std::fs::write(&partial, worker.to_string()).unwrap();
    std::fs::rename(&partial, &pidfile).unwrap();
    // The job keeps its connection: it must not end for want of a peer.
    std::mem::forget(stream);
    end();
}

/// The test's side: runs `scenario` (one of the ignored tests below) as a
/// child program, waits for it to end, and checks that its worker is gone
/// within 10 s.
fn no_worker_outlives(scenario: &str, expected: impl Fn(&std::process::ExitStatus) -> bool) {
    use std::os::unix::process::ExitStatusExt;
    let dir = MarkDir::new(scenario);
    let pidfile = dir.path.join("worker.pid");
    let log = dir.path.join("log");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", scenario, "--ignored", "--nocapture"])
        .env(SCENARIO_PIDFILE, &pidfile)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path.join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let program = child.id();
    let (done, status) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let status = match status.recv_timeout(Duration::from_secs(60)) {
        Ok(status) => status.unwrap(),
        Err(_) => {
            signal(program, Signal::SIGKILL);
            panic!("the child program {scenario} did not end");
        }
    };
    let output = || {
        let out = std::fs::read_to_string(&log).unwrap_or_default();
        let err = std::fs::read_to_string(dir.path.join("stderr")).unwrap_or_default();
        format!("stdout:\n{out}\nstderr:\n{err}")
    };
    let worker: u32 = std::fs::read_to_string(&pidfile)
        .unwrap_or_else(|_| panic!("{scenario} wrote no worker pid ({status:?})\n{}", output()))
        .parse()
        .unwrap();
    let gone = poll_process(worker, Duration::from_secs(10), ended);
    if !gone {
        signal(worker, Signal::SIGKILL);
    }
    assert!(
        gone,
        "worker {worker} outlived its program {scenario} ({status:?}): state {:?}",
        proc_state(worker)
    );
    assert!(
        expected(&status),
        "{scenario} ended otherwise than planned: {status:?} (signal {:?})\n{}",
        status.signal(),
        output()
    );
}

#[test]
#[ignore = "a child program of no_worker_outlives_a_program_that_panics"]
fn orphan_scenario_panic() {
    orphan_scenario(|| panic!("the program panics while its worker runs an endless job"));
}

#[test]
#[ignore = "a child program of no_worker_outlives_a_program_that_exits"]
fn orphan_scenario_exit() {
    orphan_scenario(|| std::process::exit(3));
}

#[test]
#[ignore = "a child program of no_worker_outlives_a_program_that_aborts"]
fn orphan_scenario_abort() {
    orphan_scenario(|| std::process::abort());
}

#[test]
#[ignore = "a child program of no_worker_outlives_a_program_killed_by_a_signal"]
fn orphan_scenario_sigkill() {
    orphan_scenario(|| {
        let _ = nix::sys::signal::raise(Signal::SIGKILL);
    });
}

#[test]
#[ignore = "a child program of no_worker_outlives_a_program_whose_pool_thread_ended"]
fn orphan_scenario_pool_made_on_an_ended_thread() {
    // The pool is made and the job submitted on a thread that ends before
    // the program does: the worker must still end with the program, not with
    // that thread, and not outlive the program either.
    let Some(pidfile) = std::env::var_os(SCENARIO_PIDFILE) else {
        return;
    };
    let pool = thread::spawn(move || {
        let pidfile = PathBuf::from(pidfile);
        let pool = pool(1);
        let handshake = Handshake::new("faults-orphan-thread");
        let _endless = pool.submit(endless, handshake.path.clone()).unwrap();
        let (worker, stream) = handshake.accept();
        let partial = pidfile.with_extension("partial");
        std::fs::write(&partial, worker.to_string()).unwrap();
        std::fs::rename(&partial, &pidfile).unwrap();
        std::mem::forget(stream);
        pool
    })
    .join()
    .unwrap();
    // The submitting thread is gone; the worker still runs its job.
    std::mem::forget(pool);
    std::process::exit(4);
}

/// Issue 21 §4's first input: the program panics (in the thread that owns
/// the pool; the test harness then exits with status 101) while a worker
/// runs an endless job.
#[test]
fn no_worker_outlives_a_program_that_panics() {
    no_worker_outlives("orphan_scenario_panic", |status| status.code() == Some(101));
}

#[test]
fn no_worker_outlives_a_program_that_exits() {
    no_worker_outlives("orphan_scenario_exit", |status| status.code() == Some(3));
}

#[test]
fn no_worker_outlives_a_program_that_aborts() {
    use std::os::unix::process::ExitStatusExt;
    no_worker_outlives("orphan_scenario_abort", |status| {
        status.signal() == Some(SIGABRT)
    });
}

#[test]
fn no_worker_outlives_a_program_killed_by_a_signal() {
    use std::os::unix::process::ExitStatusExt;
    no_worker_outlives("orphan_scenario_sigkill", |status| {
        status.signal() == Some(SIGKILL)
    });
}

#[test]
fn no_worker_outlives_a_program_whose_pool_thread_ended() {
    no_worker_outlives("orphan_scenario_pool_made_on_an_ended_thread", |status| {
        status.code() == Some(4)
    });
}

// ---------------------------------------------------------------------------
// §4 (b): a death the pool does not see (a job that execs another program)
// ---------------------------------------------------------------------------

process_fn! {
    /// Reports its pid at `socket`, then replaces the worker by `sleep 30`.
    fn exec_sleep(socket: PathBuf) -> u8 {
        use std::os::unix::process::CommandExt;
        let mut stream = UnixStream::connect(&socket).unwrap();
        stream.write_all(&std::process::id().to_le_bytes()).unwrap();
        drop(stream);
        let error = std::process::Command::new("sleep").arg("30").exec();
        panic!("exec failed: {error}")
    }
}

/// Issue 21 §4's second input: a job that execs `sleep 30` is reported as
/// `WorkerDied` within 10 s (its channels closed at the exec), the process is
/// killed and reaped, and the pool goes on.
#[test]
fn a_job_that_execs_another_program_is_reported_within_10_s() {
    no_hang("exec'd job", || {
        let pool = pool(1);
        let handshake = Handshake::new("faults-exec");
        let mut job = pool.submit(exec_sleep, handshake.path.clone()).unwrap();
        let (worker, _) = handshake.accept();
        let outcome = job.wait_timeout(Duration::from_secs(10));
        if matches!(outcome, Err(Error::Timeout)) {
            signal(worker, Signal::SIGKILL);
            panic!("the exec'd job was not reported within 10 s");
        }
        let (pid, _) = worker_died(outcome.unwrap_err());
        assert_eq!(pid, worker);
        assert!(reaped(worker), "the exec'd worker {worker} was not reaped");
        let next = resolve(&mut pool.submit(pid_a, ()).unwrap(), "next job").unwrap();
        assert_ne!(next, worker);
        pool.shutdown(CancelFutures::No);
    });
}

/// §4 (b): `kill_workers` right after the exec'd job started (its pid
/// reported just before the exec) ends that process: the future resolves,
/// the process is reaped, and the pool terminates.
#[test]
fn kill_workers_right_after_an_exec_job_started_ends_it() {
    no_hang("kill_workers on an exec'd job", || {
        let pool = pool(1);
        let handshake = Handshake::new("faults-exec-kill");
        let mut job = pool.submit(exec_sleep, handshake.path.clone()).unwrap();
        let (worker, _) = handshake.accept();
        pool.kill_workers();
        let outcome = job.wait_timeout(Duration::from_secs(10));
        if matches!(outcome, Err(Error::Timeout)) {
            signal(worker, Signal::SIGKILL);
            panic!("kill_workers did not end the exec'd job within 10 s");
        }
        let (pid, _) = worker_died(outcome.unwrap_err());
        assert_eq!(pid, worker);
        assert!(reaped(worker), "the exec'd worker {worker} was not reaped");
        pool.terminated()
            .wait_timeout(Duration::from_secs(10))
            .expect("terminated after kill_workers");
        assert_eq!(pool.worker_count(), 0);
    });
}

/// §4 (b): `kill_workers` once the job has become `sleep` (the pool then
/// sees the worker's channels closed and is waiting for it to end): the pid
/// is still in the pool's list, so the signal reaches it.
#[test]
fn kill_workers_after_the_exec_reaches_the_other_program() {
    no_hang("kill_workers after the exec", || {
        let pool = pool(1);
        let handshake = Handshake::new("faults-exec-kill-late");
        let mut job = pool.submit(exec_sleep, handshake.path.clone()).unwrap();
        let (worker, _) = handshake.accept();
        let became_sleep = poll_process(worker, Duration::from_secs(10), |pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "sleep")
        });
        assert!(became_sleep, "the job did not exec `sleep`");
        pool.kill_workers();
        let outcome = job.wait_timeout(Duration::from_secs(10));
        if matches!(outcome, Err(Error::Timeout)) {
            signal(worker, Signal::SIGKILL);
            panic!("kill_workers did not end the exec'd job within 10 s");
        }
        assert_eq!(
            worker_died(outcome.unwrap_err()),
            (worker, Exit::Signal(SIGKILL))
        );
        assert!(reaped(worker), "the exec'd worker {worker} was not reaped");
        pool.terminated()
            .wait_timeout(Duration::from_secs(10))
            .expect("terminated after kill_workers");
        assert_eq!(pool.worker_count(), 0);
    });
}

// ---------------------------------------------------------------------------
// §4 (c): a submit never blocks on a process
// ---------------------------------------------------------------------------

process_fn! {
    fn byte_len(bytes: Vec<u8>) -> usize {
        bytes.len()
    }
}

/// Issue 21 §4's third input: a 64 MiB submit to an idle worker that has
/// been stopped (`SIGSTOP`) returns at once, and so does every other submit
/// and the pool's other calls; `kill_workers` then resolves both futures
/// (neither job started: both `Cancelled`) and the pool terminates.
#[test]
fn a_64_mib_submit_to_a_stopped_worker_does_not_block() {
    no_hang("64 MiB submit to a stopped worker", || {
        let pool = pool(1);
        let idle = resolve(&mut pool.submit(pid_a, ()).unwrap(), "first job").unwrap();
        stop_process(idle);
        let (step, steps) = mpsc::channel();
        let submitter = {
            let pool = pool.clone();
            thread::spawn(move || {
                let big = pool.submit(byte_len, vec![7_u8; 64 << 20]).unwrap();
                step.send("the 64 MiB submit").unwrap();
                let other = pool.submit(pid_a, ()).unwrap();
                step.send("the submit after it").unwrap();
                let _ = pool.worker_count();
                let _ = pool.is_shutdown();
                step.send("worker_count and is_shutdown").unwrap();
                let third = pool.submit(byte_len, vec![1_u8; 1 << 20]).unwrap();
                step.send("a third submit").unwrap();
                (big, other, third)
            })
        };
        for _ in 0..4 {
            if let Err(error) = steps.recv_timeout(LONG) {
                signal(idle, Signal::SIGKILL);
                panic!(
                    "a call blocked on the stopped worker ({error}); done: {:?}",
                    steps.try_iter().collect::<Vec<_>>()
                );
            }
        }
        let (mut big, mut other, mut third) = submitter.join().unwrap();
        pool.kill_workers();
        for (future, what) in [(&mut big, "the 64 MiB job"), (&mut third, "the third job")] {
            let outcome = resolve(future, what);
            assert!(
                matches!(outcome, Err(Error::Cancelled)),
                "{what}: {outcome:?}"
            );
        }
        let outcome = resolve(&mut other, "the small job");
        assert!(matches!(outcome, Err(Error::Cancelled)), "{outcome:?}");
        pool.terminated()
            .wait_timeout(LONG)
            .expect("terminated after kill_workers");
        assert!(reaped(idle));
        assert_eq!(pool.worker_count(), 0);
    });
}

process_fn! {
    fn echo(bytes: Vec<u8>) -> Vec<u8> {
        bytes
    }
}

/// §4 (c), found while writing the test above: two 8 MiB jobs queued behind
/// a held one. Once it returns, the dispatcher sends the first to the idle
/// worker and the second ahead; the second's send blocked until the worker
/// read it, that is after its 8 MiB reply to the first, which the dispatcher
/// reads only after that send: both hung for ever.
#[test]
fn a_large_job_sent_ahead_of_a_large_reply_does_not_deadlock() {
    no_hang("large job ahead of a large reply", || {
        let pool = pool(1);
        let handshake = Handshake::new("faults-large-ahead");
        let mut held = pool
            .submit(common::process::hold, handshake.path.clone())
            .unwrap();
        let (_, stream) = handshake.accept();
        let mut first = pool.submit(echo, vec![1_u8; 8 << 20]).unwrap();
        let mut second = pool.submit(echo, vec![2_u8; 8 << 20]).unwrap();
        let_go(stream);
        resolve(&mut held, "the held job").unwrap();
        let first = resolve(&mut first, "the first 8 MiB echo").unwrap();
        let second = resolve(&mut second, "the second 8 MiB echo").unwrap();
        pool.kill_workers();
        assert!(first.len() == 8 << 20 && first.iter().all(|&byte| byte == 1));
        assert!(second.len() == 8 << 20 && second.iter().all(|&byte| byte == 2));
    });
}

/// §4 (c): a stopped worker *busy* with a job: submits queue behind it
/// without blocking, and `kill_workers` fails the running job with
/// `WorkerDied` and cancels the rest.
#[test]
fn submits_to_a_stopped_busy_worker_do_not_block() {
    no_hang("submits to a stopped busy worker", || {
        let pool = pool(1);
        let handshake = Handshake::new("faults-stopped-busy");
        let mut held = pool
            .submit(common::process::hold, handshake.path.clone())
            .unwrap();
        let (worker, _stream) = handshake.accept();
        stop_process(worker);
        let (step, steps) = mpsc::channel();
        let submitter = {
            let pool = pool.clone();
            thread::spawn(move || {
                let futures: Vec<_> = (0..4)
                    .map(|_| pool.submit(byte_len, vec![3_u8; 16 << 20]).unwrap())
                    .collect();
                step.send(()).unwrap();
                futures
            })
        };
        if steps.recv_timeout(LONG).is_err() {
            signal(worker, Signal::SIGKILL);
            panic!("a submit blocked on the stopped worker");
        }
        let mut futures = submitter.join().unwrap();
        pool.kill_workers();
        assert_eq!(
            worker_died(resolve(&mut held, "the held job").unwrap_err()),
            (worker, Exit::Signal(SIGKILL))
        );
        for future in &mut futures {
            let outcome = resolve(future, "a queued job");
            assert!(matches!(outcome, Err(Error::Cancelled)), "{outcome:?}");
        }
        pool.terminated().wait_timeout(LONG).unwrap();
        assert_eq!(pool.worker_count(), 0);
    });
}

// ---------------------------------------------------------------------------
// §4 (d): foreign Drop and serde impls on the worker side
// ---------------------------------------------------------------------------

/// A value whose `Drop` panics in every process but its `home` (so that it
/// panics in the worker, not in the test after deserialising), with a plain
/// message or with a payload whose own `Drop` panics.
#[derive(Debug, Serialize, Deserialize)]
struct DropBomb {
    home: u32,
    value: u64,
    bomb_payload: bool,
}

impl Drop for DropBomb {
    fn drop(&mut self) {
        if std::process::id() != self.home && !thread::panicking() {
            if self.bomb_payload {
                std::panic::panic_any(common::PanickingPayload);
            }
            panic!("DropBomb's Drop panics in process {}", std::process::id());
        }
    }
}

/// A result whose `Serialize` panics (only the worker serialises results).
#[derive(Debug, Deserialize)]
struct SerializeBomb {
    bomb_payload: bool,
}

impl Serialize for SerializeBomb {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        if self.bomb_payload {
            std::panic::panic_any(common::PanickingPayload);
        }
        panic!("SerializeBomb's Serialize panics")
    }
}

/// A value whose `Deserialize` panics in process `panics_in` (an argument
/// in the worker, or a result in the test).
#[derive(Debug, Serialize)]
struct DeserializeBomb {
    panics_in: u32,
}

impl<'de> Deserialize<'de> for DeserializeBomb {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let panics_in = u32::deserialize(deserializer)?;
        if panics_in == std::process::id() {
            panic!("DeserializeBomb's Deserialize panics");
        }
        Ok(DeserializeBomb { panics_in })
    }
}

process_fn! {
    /// Panics with a payload whose `Drop` panics.
    fn panic_with_bomb() -> u32 {
        std::panic::panic_any(common::PanickingPayload)
    }

    /// Returns a value whose `Drop` panics in the worker.
    fn drop_bomb_result(home: u32, value: u64, bomb_payload: bool) -> DropBomb {
        DropBomb { home, value, bomb_payload }
    }

    /// Takes (and so drops, in the worker) an argument whose `Drop` panics.
    fn drop_bomb_argument(bomb: DropBomb) -> u64 {
        bomb.value
    }

    fn serialize_bomb_result(bomb_payload: bool) -> SerializeBomb {
        SerializeBomb { bomb_payload }
    }

    fn deserialize_bomb_argument(bomb: DeserializeBomb) -> u32 {
        bomb.panics_in
    }

    fn deserialize_bomb_result(panics_in: u32) -> DeserializeBomb {
        DeserializeBomb { panics_in }
    }

    /// Leaves a marker per process in `marks`, then panics with a payload
    /// whose `Drop` panics.
    fn bomb_initializer(marks: PathBuf) -> () {
        std::fs::write(marks.join(std::process::id().to_string()), b"init").unwrap();
        std::panic::panic_any(common::PanickingPayload)
    }
}

/// Runs `job` on a one-worker pool between two pid jobs: returns its
/// outcome, and checks that the same worker process ran all three (the
/// foreign code's panic did not kill it).
fn on_one_surviving_worker<T>(
    job: impl FnOnce(&ProcessPoolExecutor, u32) -> SharedFuture<T>,
) -> Result<T, Error> {
    let pool = pool(1);
    let before = resolve(&mut pool.submit(pid_a, ()).unwrap(), "pid before").unwrap();
    let outcome = resolve(&mut job(&pool, before), "the job");
    let after = resolve(&mut pool.submit(pid_a, ()).unwrap(), "pid after").unwrap();
    pool.shutdown(CancelFutures::No);
    assert_eq!(before, after, "the worker died of a contained panic");
    outcome
}

/// Issue 21 §4's fourth input: a job that panics with a payload whose `Drop`
/// panics reports `Panicked` (it killed the worker, reported as
/// `WorkerDied { exit: Code(0) }`), and the worker survives.
#[test]
fn a_panic_payload_whose_drop_panics_is_contained_in_the_worker() {
    let outcome = no_hang("bomb payload", || {
        on_one_surviving_worker(|pool, _| pool.submit(panic_with_bomb, ()).unwrap())
    });
    assert!(matches!(outcome, Err(Error::Panicked(_))), "{outcome:?}");
}

/// §4 (d): a result whose `Drop` panics in the worker: the value was
/// computed and serialised, so it is delivered.
#[test]
fn a_result_whose_drop_panics_in_the_worker_is_delivered() {
    for bomb_payload in [false, true] {
        let outcome = no_hang("result drop bomb", move || {
            on_one_surviving_worker(move |pool, _| {
                pool.submit(drop_bomb_result, (std::process::id(), 42, bomb_payload))
                    .unwrap()
            })
        });
        assert_eq!(outcome.unwrap().value, 42, "bomb payload: {bomb_payload}");
    }
}

/// §4 (d): an argument whose `Drop` panics in the worker (the function owns
/// and drops it): the job panicked, as the same call would in-process, and
/// the worker survives.
#[test]
fn an_argument_whose_drop_panics_in_the_worker_is_a_panic_of_the_job() {
    for bomb_payload in [false, true] {
        let outcome = no_hang("argument drop bomb", move || {
            on_one_surviving_worker(move |pool, _| {
                let bomb = DropBomb {
                    home: std::process::id(),
                    value: 7,
                    bomb_payload,
                };
                pool.submit(drop_bomb_argument, bomb).unwrap()
            })
        });
        assert!(
            matches!(outcome, Err(Error::Panicked(_))),
            "bomb payload {bomb_payload}: {outcome:?}"
        );
    }
}

/// §4 (d): a result whose `Serialize` panics in the worker:
/// `ProcessError::Result`, and the worker survives.
#[test]
fn a_result_whose_serialize_panics_is_a_result_error() {
    for bomb_payload in [false, true] {
        let outcome = no_hang("serialize bomb", move || {
            on_one_surviving_worker(move |pool, _| {
                pool.submit(serialize_bomb_result, bomb_payload).unwrap()
            })
        });
        match outcome {
            Err(Error::Process(ProcessError::Result(message))) => {
                assert!(message.contains("Serialize panicked"), "{message}");
            }
            other => panic!("bomb payload {bomb_payload}: {other:?}"),
        }
    }
}

/// §4 (d): an argument whose `Deserialize` panics in the worker:
/// `ProcessError::Arguments`, and the worker survives.
#[test]
fn an_argument_whose_deserialize_panics_in_the_worker_is_an_arguments_error() {
    let outcome = no_hang("deserialize bomb argument", || {
        on_one_surviving_worker(|pool, worker| {
            pool.submit(
                deserialize_bomb_argument,
                DeserializeBomb { panics_in: worker },
            )
            .unwrap()
        })
    });
    match outcome {
        Err(Error::Process(ProcessError::Arguments(message))) => {
            assert!(message.contains("Deserialize panicked"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// §4 (d), the parent's side: a result whose `Deserialize` panics here is
/// `ProcessError::Result`, and the pool goes on.
#[test]
fn a_result_whose_deserialize_panics_in_the_caller_is_a_result_error() {
    let outcome = no_hang("deserialize bomb result", || {
        on_one_surviving_worker(|pool, _| {
            pool.submit(deserialize_bomb_result, std::process::id())
                .unwrap()
        })
    });
    match outcome {
        Err(Error::Process(ProcessError::Result(message))) => {
            assert!(message.contains("Deserialize panicked"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// §4 (d), the initializer: one that panics with a payload whose `Drop`
/// panics marks the pool broken (it used to kill the worker before it
/// reported, and every later submit started and lost another worker): the
/// queued jobs fail with `Broken`, later submits are refused with
/// `SubmitError::Broken`, no worker is started for them, and the pool
/// terminates.
#[test]
fn an_initializer_panicking_with_a_bomb_payload_breaks_the_pool_once() {
    for workers in [1, 2] {
        no_hang("bomb initializer", move || {
            let marks = MarkDir::new(&format!("bomb-init-{workers}"));
            let pool = ProcessPoolExecutor::builder()
                .max_workers(workers)
                .initializer(bomb_initializer, marks.path.clone())
                .build()
                .unwrap();
            let mut queued: Vec<_> = (0..workers)
                .map(|_| pool.submit(pid_a, ()).unwrap())
                .collect();
            for future in &mut queued {
                let outcome = resolve(future, "a job of a broken pool");
                assert!(matches!(outcome, Err(Error::Broken(_))), "{outcome:?}");
            }
            assert!(pool.is_broken());
            for _ in 0..10 {
                assert!(matches!(
                    pool.submit(pid_a, ()),
                    Err(SubmitError::Broken(_))
                ));
            }
            pool.terminated()
                .wait_timeout(LONG)
                .expect("a broken pool terminates");
            assert_eq!(pool.worker_count(), 0);
            let started = marks.count();
            assert!(
                (1..=workers).contains(&started),
                "{started} workers started for a pool of {workers}"
            );
        });
    }
}

//! `ProcessPoolExecutor`: every state and outcome, with real worker processes.
//!
//! Synchronisation is by handshake, never by sleeping: a job that must be
//! caught mid-run connects to a Unix socket the test listens on, sends its pid,
//! and blocks reading until the test writes a byte (or never, when the test
//! kills it). Timeouts appear only as generous upper bounds.
#![cfg(all(feature = "process", unix))]

mod common;

use concurrent_futures::{CancelFutures, MapOptions};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use common::process::{Handshake, hold, release};
use concurrent_futures::process::{
    Exit, ProcessBuildError, ProcessError, ProcessPoolExecutor, process_fn,
};
use concurrent_futures::{Error, SubmitError, unwrap_future};
use serde::{Deserialize, Serialize};

procspawn::enable_test_support!();

process_fn! {
    fn pow(base: u64, exp: u32) -> u64 {
        base.pow(exp)
    }

    fn worker_pid() -> u32 {
        std::process::id()
    }

    fn boom(message: String) -> u8 {
        panic!("{message}")
    }

    fn abort() -> u8 {
        std::process::abort()
    }

    fn exit_with(code: i32) -> u8 {
        std::process::exit(code)
    }

    fn overflow(depth: u64) -> u64 {
        // Each frame keeps a buffer alive, so the stack runs out quickly.
        let frame = std::hint::black_box([depth; 512]);
        <overflow as concurrent_futures::process::ProcessFn>::call(depth + 1) + frame[0]
    }

    /// Connects to the test's socket, sends this process's pid, then blocks
    /// until the test writes a byte; returns the pid.
    fn parse_or_panic(x: i64) -> i64 {
        assert!(x != 13, "unlucky {x}");
        x * 10
    }

    fn make_unserialisable() -> Unserialisable {
        Unserialisable
    }

    fn take_unserialisable(value: Unserialisable) -> u8 {
        let _ = value;
        0
    }

    fn set_tag(tag: String) -> () {
        TAG.set(tag).unwrap();
    }

    fn read_tag() -> String {
        TAG.get().cloned().unwrap_or_default()
    }

    fn touch(path: PathBuf) -> () {
        std::fs::write(path, b"ran").unwrap();
    }

    fn failing_initializer() -> () {
        panic!("no database")
    }
}

static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// A value whose `Serialize` always fails.
#[derive(Debug, Deserialize)]
struct Unserialisable;

impl Serialize for Unserialisable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("Unserialisable refuses"))
    }
}

fn pool(workers: usize) -> ProcessPoolExecutor {
    ProcessPoolExecutor::builder()
        .max_workers(workers)
        .build()
        .unwrap()
}

fn worker_died(error: Error) -> (u32, Exit) {
    match error {
        Error::Process(ProcessError::WorkerDied { pid, exit }) => (pid, exit),
        other => panic!("expected a dead worker, got {other:?}"),
    }
}

const SIGABRT: i32 = nix::sys::signal::Signal::SIGABRT as i32;
const SIGKILL: i32 = nix::sys::signal::Signal::SIGKILL as i32;
const SIGTERM: i32 = nix::sys::signal::Signal::SIGTERM as i32;
const SIGSEGV: i32 = nix::sys::signal::Signal::SIGSEGV as i32;

#[test]
fn seed_example_values() {
    let pool = ProcessPoolExecutor::new();
    let mut futures: Vec<_> = [(3, 4), (12, 2), (6, 8)]
        .into_iter()
        .map(|args| pool.submit(pow, args).unwrap())
        .collect();
    let results: Vec<u64> = futures.iter_mut().map(|f| f.wait().unwrap()).collect();
    assert_eq!(results, [81, 144, 1_679_616]);
    pool.shutdown(CancelFutures::No);
    assert_eq!(pool.worker_count(), 0);
}

#[test]
fn states_pending_running_done() {
    let pool = pool(1);
    let handshake = Handshake::new("states");
    let mut held = pool.submit(hold, handshake.path.clone()).unwrap();
    let (held_pid, stream) = handshake.accept();
    // The worker runs it: running, and no longer cancellable.
    assert!(held.is_running());
    assert!(!held.cancel());
    // Queued behind it (the dispatcher waits for the held job's reply).
    let queued = pool.submit(pow, (2, 10)).unwrap();
    assert!(queued.is_pending());
    release(stream);
    assert_eq!(held.wait().unwrap(), held_pid);
    assert!(held.is_done());
    let mut queued = queued;
    assert_eq!(queued.wait().unwrap(), 1024);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn cancel_before_start_only() {
    let pool = pool(1);
    let handshake = Handshake::new("cancel");
    let mut held = pool.submit(hold, handshake.path.clone()).unwrap();
    let (_, stream) = handshake.accept();
    let mut cancelled = pool.submit(pow, (3, 4)).unwrap();
    assert!(cancelled.cancel());
    assert!(cancelled.is_cancelled());
    let mut after = pool.submit(pow, (3, 3)).unwrap();
    release(stream);
    held.wait().unwrap();
    assert!(matches!(cancelled.wait(), Err(Error::Cancelled)));
    assert_eq!(after.wait().unwrap(), 27);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn panic_message_comes_back() {
    let pool = pool(1);
    let mut future = pool.submit(boom, "the job's own words".to_owned()).unwrap();
    match future.wait() {
        Err(Error::Panicked(panic)) => assert_eq!(panic.message(), Some("the job's own words")),
        other => panic!("{other:?}"),
    }
    // The worker survived its job's panic.
    assert_eq!(pool.submit(pow, (2, 3)).unwrap().wait().unwrap(), 8);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn abort_fails_only_its_own_job() {
    let pool = pool(2);
    let others: Vec<_> = (0..20).map(|n| pool.submit(pow, (n, 2)).unwrap()).collect();
    let mut aborted = pool.submit(abort, ()).unwrap();
    let more: Vec<_> = (20..40)
        .map(|n| pool.submit(pow, (n, 2)).unwrap())
        .collect();
    let (_, exit) = worker_died(aborted.wait().unwrap_err());
    assert_eq!(exit, Exit::Signal(SIGABRT));
    assert_eq!(exit.signal_name(), Some("SIGABRT"));
    for (n, mut future) in (0..).zip(others.into_iter().chain(more)) {
        assert_eq!(future.wait().unwrap(), n * n, "job {n}");
    }
    assert!(!pool.is_broken());
    pool.shutdown(CancelFutures::No);
}

#[test]
fn exit_status_is_named() {
    let pool = pool(1);
    let mut exited = pool.submit(exit_with, 3).unwrap();
    let error = exited.wait().unwrap_err();
    assert!(
        error.to_string().contains("exited with status 3"),
        "{error}"
    );
    assert_eq!(worker_died(error).1, Exit::Code(3));
    assert_eq!(pool.submit(pow, (5, 2)).unwrap().wait().unwrap(), 25);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn stack_overflow_is_a_dead_worker() {
    let pool = pool(1);
    let (_, exit) = worker_died(pool.submit(overflow, 0).unwrap().wait().unwrap_err());
    // Rust's overflow handler aborts; a platform may report the fault itself.
    assert!(matches!(exit, Exit::Signal(SIGABRT | SIGSEGV)), "{exit:?}");
    assert_eq!(pool.submit(pow, (7, 2)).unwrap().wait().unwrap(), 49);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn sigkill_mid_job_fails_that_job_and_the_pool_goes_on() {
    let pool = pool(1);
    let handshake = Handshake::new("sigkill");
    let mut held = pool.submit(hold, handshake.path.clone()).unwrap();
    let (victim, _stream) = handshake.accept();
    // Queued behind the held job; runs on the replacement worker.
    let mut queued = pool.submit(worker_pid, ()).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim as i32),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
    let error = held.wait().unwrap_err();
    assert!(error.to_string().contains("SIGKILL"), "{error}");
    assert_eq!(worker_died(error), (victim, Exit::Signal(SIGKILL)));
    let replacement = queued.wait().unwrap();
    assert_ne!(replacement, victim);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn max_tasks_per_child_replaces_the_worker() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .max_tasks_per_child(2)
        .build()
        .unwrap();
    let pids: Vec<u32> = (0..4)
        .map(|_| pool.submit(worker_pid, ()).unwrap().wait().unwrap())
        .collect();
    assert_eq!(pids[0], pids[1]);
    assert_eq!(pids[2], pids[3]);
    assert_ne!(pids[1], pids[2]);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn zero_is_an_error_not_a_panic() {
    assert_eq!(
        ProcessPoolExecutor::builder()
            .max_workers(0)
            .build()
            .unwrap_err(),
        ProcessBuildError::ZeroWorkers
    );
    assert_eq!(
        ProcessPoolExecutor::builder()
            .max_tasks_per_child(0)
            .build()
            .unwrap_err(),
        ProcessBuildError::ZeroTasksPerChild
    );
}

#[test]
fn shutdown_without_cancel_runs_what_was_queued() {
    let pool = pool(1);
    let handshake = Handshake::new("shutdown");
    let mut held = pool.submit(hold, handshake.path.clone()).unwrap();
    let (_, stream) = handshake.accept();
    let mut queued = pool.submit(pow, (2, 5)).unwrap();
    let mut terminated = pool.terminated();
    pool.shutdown_nowait(CancelFutures::No);
    assert!(pool.is_shutdown());
    assert!(matches!(
        pool.submit(pow, (1, 1)),
        Err(SubmitError::Shutdown)
    ));
    assert!(!terminated.is_done());
    release(stream);
    held.wait().unwrap();
    assert_eq!(queued.wait().unwrap(), 32);
    terminated.wait().unwrap();
    pool.shutdown(CancelFutures::No);
    assert_eq!(pool.worker_count(), 0);
}

#[test]
fn shutdown_with_cancel_cancels_what_was_queued() {
    let pool = pool(1);
    let handshake = Handshake::new("shutdown-cancel");
    let mut held = pool.submit(hold, handshake.path.clone()).unwrap();
    let (pid, stream) = handshake.accept();
    let mut queued = pool.submit(pow, (2, 5)).unwrap();
    pool.shutdown_nowait(CancelFutures::Yes);
    assert!(queued.is_cancelled());
    assert!(matches!(queued.wait(), Err(Error::Cancelled)));
    release(stream);
    // The running job finishes.
    assert_eq!(held.wait().unwrap(), pid);
    pool.shutdown(CancelFutures::Yes);
}

#[test]
fn kill_workers_fails_running_jobs_and_terminates() {
    let pool = pool(1);
    let handshake = Handshake::new("kill-workers");
    let mut held = pool.submit(hold, handshake.path.clone()).unwrap();
    let (victim, _stream) = handshake.accept();
    let mut queued = pool.submit(pow, (2, 2)).unwrap();
    pool.kill_workers();
    assert_eq!(
        worker_died(held.wait().unwrap_err()),
        (victim, Exit::Signal(SIGKILL))
    );
    assert!(matches!(queued.wait(), Err(Error::Cancelled)));
    pool.terminated()
        .wait_timeout(Duration::from_secs(60))
        .unwrap();
    assert_eq!(pool.worker_count(), 0);
}

#[test]
fn terminate_workers_sends_sigterm() {
    let pool = pool(1);
    let handshake = Handshake::new("terminate-workers");
    let mut held = pool.submit(hold, handshake.path.clone()).unwrap();
    let (victim, _stream) = handshake.accept();
    pool.terminate_workers();
    assert_eq!(
        worker_died(held.wait().unwrap_err()),
        (victim, Exit::Signal(SIGTERM))
    );
    pool.shutdown(CancelFutures::No);
}

#[test]
fn unserialisable_argument_and_result_fail_their_own_future() {
    let pool = pool(1);
    // The message is the serializer's (postcard: "Serde Serialization Error").
    match pool
        .submit(take_unserialisable, Unserialisable)
        .unwrap()
        .wait()
    {
        Err(Error::Process(ProcessError::Arguments(message))) => assert!(!message.is_empty()),
        other => panic!("{other:?}"),
    }
    match pool.submit(make_unserialisable, ()).unwrap().wait() {
        Err(Error::Process(ProcessError::Result(message))) => assert!(!message.is_empty()),
        other => panic!("{other:?}"),
    }
    assert_eq!(pool.submit(pow, (10, 3)).unwrap().wait().unwrap(), 1000);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn map_in_input_order_with_chunks_and_a_panicking_item() {
    let pool = pool(2);
    let options = MapOptions::new()
        .chunk_size(NonZeroUsize::new(7).unwrap())
        .buffer_size(NonZeroUsize::new(3).unwrap());
    let results: Vec<Result<i64, Error>> = pool
        .map_with(parse_or_panic, 0..50, options)
        .unwrap()
        .collect();
    assert_eq!(results.len(), 50);
    for (x, result) in (0..).zip(results) {
        match result {
            Ok(value) => assert_eq!(value, x * 10),
            Err(Error::Panicked(panic)) => {
                assert_eq!(x, 13);
                assert_eq!(panic.message(), Some("unlucky 13"));
            }
            Err(other) => panic!("item {x}: {other:?}"),
        }
    }
    let plain: Vec<u64> = pool
        .map(pow, (0..10).map(|n| (n, 3)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(plain, (0..10).map(|n: u64| n.pow(3)).collect::<Vec<_>>());
    pool.shutdown(CancelFutures::No);
}

#[test]
fn map_chunk_of_a_dead_worker_fails_each_item() {
    let pool = pool(1);
    let options = MapOptions::new().chunk_size(NonZeroUsize::new(4).unwrap());
    // One chunk of four: the worker exits during the second item.
    let results: Vec<Result<u8, Error>> = pool
        .map_with(exit_with, [0, 5, 0, 0], options)
        .unwrap()
        .collect();
    assert_eq!(results.len(), 4);
    for result in results {
        assert_eq!(worker_died(result.unwrap_err()).1, Exit::Code(0));
    }
    pool.shutdown(CancelFutures::No);
}

#[test]
fn map_timeout_yields_timeout_and_cancels_the_rest() {
    let pool = pool(1);
    let handshake = Handshake::new("map-timeout");
    // The only worker of `hold` is held: the map's jobs (of the same function,
    // so for the same worker) stay queued past the deadline.
    let mut held = pool.submit(hold, handshake.path.clone()).unwrap();
    let (_, stream) = handshake.accept();
    let options = MapOptions::new().timeout(Duration::from_millis(100));
    let items = vec![handshake.path.clone(); 3];
    let mut results = pool.map_with(hold, items, options).unwrap();
    assert!(matches!(results.next(), Some(Err(Error::Timeout))));
    // The rest was cancelled: the iteration is over.
    assert!(results.next().is_none());
    drop(results);
    release(stream);
    held.wait().unwrap();
    // Had a cancelled item run, it would connect and block here forever.
    pool.shutdown(CancelFutures::No);
}

#[test]
fn map_unordered_yields_each_index_once_by_chunks_with_a_panicking_item() {
    let pool = pool(2);
    let options = MapOptions::new()
        .chunk_size(NonZeroUsize::new(7).unwrap())
        .buffer_size(NonZeroUsize::new(3).unwrap());
    let mut seen = vec![false; 50];
    for (index, result) in pool
        .map_unordered_with(parse_or_panic, 0..50, options)
        .unwrap()
    {
        assert!(!std::mem::replace(&mut seen[index], true), "{index} twice");
        let x = index as i64;
        match result {
            Ok(value) => assert_eq!(value, x * 10),
            Err(Error::Panicked(panic)) => {
                assert_eq!(x, 13);
                assert_eq!(panic.message(), Some("unlucky 13"));
            }
            Err(other) => panic!("item {x}: {other:?}"),
        }
    }
    assert!(seen.into_iter().all(|seen| seen));
    pool.shutdown(CancelFutures::No);
}

#[test]
fn map_unordered_yields_the_job_that_finished_first() {
    let pool = pool(2);
    let handshake = Handshake::new("unordered-order");
    let items = vec![handshake.path.clone(); 2];
    let mut results = pool.map_unordered(hold, items).unwrap();
    // Both jobs run, one per worker; the one accepted second is released first.
    let (_, first) = handshake.accept();
    let (second_pid, second) = handshake.accept();
    release(second);
    let (_, outcome) = results.next().unwrap();
    assert_eq!(outcome.unwrap(), second_pid);
    release(first);
    assert!(results.next().unwrap().1.is_ok());
    assert!(results.next().is_none());
    pool.shutdown(CancelFutures::No);
}

#[test]
fn map_unordered_timeout_yields_one_timeout_and_cancels_the_rest() {
    let pool = pool(1);
    let handshake = Handshake::new("unordered-timeout");
    let mut held = pool.submit(hold, handshake.path.clone()).unwrap();
    let (_, stream) = handshake.accept();
    let options = MapOptions::new().timeout(Duration::from_millis(100));
    let items = vec![handshake.path.clone(); 3];
    let mut results = pool.map_unordered_with(hold, items, options).unwrap();
    let (index, outcome) = results.next().unwrap();
    assert_eq!(index, 0);
    assert!(matches!(outcome, Err(Error::Timeout)));
    assert!(results.next().is_none());
    drop(results);
    release(stream);
    held.wait().unwrap();
    // Had a cancelled item run, it would connect and block here forever.
    pool.shutdown(CancelFutures::No);
}

#[test]
fn map_unordered_into_stream_yields_every_chunk() {
    use futures::StreamExt;
    let pool = pool(2);
    let options = MapOptions::new()
        .chunk_size(NonZeroUsize::new(3).unwrap())
        .buffer_size(NonZeroUsize::new(2).unwrap());
    let mut results: Vec<(usize, u64)> = futures::executor::block_on(
        pool.map_unordered_with(pow, (0..20).map(|n| (n, 2)), options)
            .unwrap()
            .into_stream()
            .map(|(index, value)| (index, value.unwrap()))
            .collect(),
    );
    results.sort();
    let expected: Vec<(usize, u64)> = (0..20).map(|n: u64| (n as usize, n * n)).collect();
    assert_eq!(results, expected);
    pool.shutdown(CancelFutures::No);
}

#[test]
fn initializer_runs_in_each_worker() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(set_tag, "initialised".to_owned())
        .build()
        .unwrap();
    for mut future in (0..4)
        .map(|_| pool.submit(read_tag, ()).unwrap())
        .collect::<Vec<_>>()
    {
        assert_eq!(future.wait().unwrap(), "initialised");
    }
    // Not in the parent.
    assert!(TAG.get().is_none());
    pool.shutdown(CancelFutures::No);
}

#[test]
fn failing_initializer_breaks_the_pool() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .initializer(failing_initializer, ())
        .build()
        .unwrap();
    match pool.submit(pow, (2, 2)).unwrap().wait() {
        Err(Error::Broken(broken)) => {
            assert!(broken.to_string().contains("no database"), "{broken}")
        }
        other => panic!("{other:?}"),
    }
    assert!(pool.is_broken());
    assert!(matches!(
        pool.submit(pow, (2, 2)),
        Err(SubmitError::Broken(_))
    ));
    pool.shutdown(CancelFutures::No);
}

#[test]
fn async_task_group_unwrap_future_and_stream() {
    use futures::StreamExt;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let pool = std::sync::Arc::new(pool(2));
    runtime.block_on(async {
        let mut group = tokio::task::JoinSet::new();
        for (base, exp) in [(3, 4), (12, 2), (6, 8)] {
            let future = pool.submit(pow, (base, exp)).unwrap();
            group.spawn(async move { (base, exp, unwrap_future(future).await) });
        }
        let mut results = Vec::new();
        while let Some(joined) = group.join_next().await {
            let (base, exp, result) = joined.unwrap();
            results.push((base, exp, result.unwrap()));
        }
        results.sort();
        assert_eq!(results, [(3, 4, 81), (6, 8, 1_679_616), (12, 2, 144)]);

        let streamed: Vec<u64> = pool
            .map(pow, [(1, 50), (2, 10), (3, 3)])
            .unwrap()
            .into_stream()
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(streamed, [1, 1024, 27]);
    });

    // Dropping the wait cancels a job that has not started.
    let handshake = Handshake::new("async-drop");
    let single = std::sync::Arc::new(self::pool(1));
    let mut held = single.submit(hold, handshake.path.clone()).unwrap();
    let (_, stream) = handshake.accept();
    let marker = std::env::temp_dir().join(format!("cf-process-{}-dropped", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let queued = single.submit(touch, marker.clone()).unwrap();
    drop(unwrap_future(queued));
    release(stream);
    held.wait().unwrap();
    // One worker, in order: once this ran, the dropped job was skipped.
    single.submit(worker_pid, ()).unwrap().wait().unwrap();
    assert!(
        !marker.exists(),
        "a job whose wait was dropped before it started ran"
    );
    single.shutdown(CancelFutures::No);
    pool.shutdown(CancelFutures::No);
}

//! `AsyncExecutor` over a `ProcessPoolExecutor`: the seed's second example
//! (`run(pow, 3, 4)`, three `pow` calls from a task group, `map(pow_50, ..)`
//! as an async stream), `map_with` and its chunks, the lifecycle
//! (`shutdown(CancelFutures::..).await`, `shutdown_nowait`, `wrapped`), and
//! easynetwork's cancellation rule: dropping a `run` future whose job no
//! worker has taken cancels the job.
//!
//! Synchronisation is by handshake, never by sleeping: a job that must be
//! caught mid-run connects to a Unix socket the test listens on, sends its
//! pid, and blocks until the test writes a byte or closes the stream.
#![cfg(all(feature = "process", unix))]

mod common;

use std::io::{Read, Write};
use std::num::NonZeroUsize;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use common::no_hang;
use common::process::{Handshake, release};
use concurrent_futures::process::{Exit, ProcessError, ProcessPoolExecutor, process_fn};
use concurrent_futures::{AsyncExecutor, CancelFutures, Error, MapOptions, SubmitError};
use futures::{StreamExt, TryStreamExt};
use num_bigint::BigUint;
use tokio::task::JoinSet;

procspawn::enable_test_support!();

process_fn! {
    /// Python's `pow(base, exp)`.
    fn pow(base: u64, exp: u32) -> u64 {
        base.pow(exp)
    }

    /// `x ** 50`, exactly (12^50 does not fit a `u128`).
    fn pow_50(x: u32) -> BigUint {
        BigUint::from(x).pow(50)
    }

    /// Panics with `message` in the worker.
    fn boom(message: String) -> u8 {
        panic!("{message}")
    }

    /// With a socket: connects to it, sends its pid, and waits for one byte
    /// (or the socket's close). With a marker: writes that file. Returns its
    /// pid. One function for both, so that a marker job queues behind a held
    /// one (the pool keeps one queue and `max_workers` workers per function).
    fn hold_or_touch(socket: Option<PathBuf>, marker: Option<PathBuf>) -> u32 {
        if let Some(socket) = socket {
            let mut stream = UnixStream::connect(&socket).unwrap();
            stream.write_all(&std::process::id().to_le_bytes()).unwrap();
            let mut byte = [0_u8];
            let _ = stream.read(&mut byte);
        }
        if let Some(marker) = marker {
            std::fs::write(marker, b"ran").unwrap();
        }
        std::process::id()
    }
}

const SIGTERM: i32 = nix::sys::signal::Signal::SIGTERM as i32;

/// The seed's pool: `AsyncExecutor(ProcessPoolExecutor(max_workers=2))`.
fn executor(workers: usize) -> AsyncExecutor<ProcessPoolExecutor> {
    AsyncExecutor::new(
        ProcessPoolExecutor::builder()
            .max_workers(workers)
            .build()
            .unwrap(),
    )
}

/// A file the marker job writes; removed first, and on drop.
struct Marker(PathBuf);

impl Marker {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "cf-process-async-{}-{name}.marker",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        Marker(path)
    }

    fn exists(&self) -> bool {
        self.0.exists()
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn powers_of_50() -> Vec<BigUint> {
    [
        "1",
        "1267650600228229401496703205376",
        "910043815000214977332758527534256632492715260325658624",
    ]
    .iter()
    .map(|digits| digits.parse().unwrap())
    .collect()
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

#[test]
fn run_pow_3_4_is_81() {
    no_hang("run pow", || {
        futures::executor::block_on(async {
            let executor = executor(2);
            assert_eq!(executor.run(pow, (3, 4)).await.unwrap(), 81);
            executor.shutdown(CancelFutures::No).await;
            assert!(executor.wrapped().is_shutdown());
        });
        tokio_runtime().block_on(async {
            let executor = executor(2);
            assert_eq!(executor.run(pow, (3, 4)).await.unwrap(), 81);
            executor.shutdown(CancelFutures::No).await;
        });
    });
}

/// The seed's task group: three `run(pow, a, b)` tasks in a `JoinSet`, the
/// results read back in the tasks' order.
#[test]
fn seed_pow_calls_through_a_join_set() {
    no_hang("join set", || {
        tokio_runtime().block_on(async {
            let executor = executor(2);
            let arguments = [(3, 4), (12, 2), (6, 8)];
            let mut task_group = JoinSet::new();
            let tasks: Vec<_> = arguments
                .into_iter()
                .map(|(a, b)| task_group.spawn(executor.run(pow, (a, b))).id())
                .collect();
            let mut joined = std::collections::HashMap::new();
            while let Some(task) = task_group.join_next_with_id().await {
                let (id, result) = task.unwrap();
                joined.insert(id, result.unwrap());
            }
            let results: Vec<u64> = tasks.iter().map(|id| joined[id]).collect();
            assert_eq!(results, [81, 144, 1_679_616]);
            executor.shutdown(CancelFutures::No).await;
        });
    });
}

/// The seed's `[result async for result in executor.map(pow_50, (1, 4, 12))]`.
#[test]
fn seed_map_pow_50_as_a_stream() {
    no_hang("map pow_50", || {
        let check = |executor: AsyncExecutor<ProcessPoolExecutor>| async move {
            let powers: Vec<BigUint> = executor
                .map(pow_50, [1, 4, 12])
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            assert_eq!(powers, powers_of_50());
            // One at a time, as `async for` reads it.
            let mut stream = executor.map(pow_50, [12, 4, 1]).unwrap();
            let mut expected = powers_of_50();
            while let Some(power) = stream.next().await {
                assert_eq!(power.unwrap(), expected.pop().unwrap());
            }
            assert!(expected.is_empty());
            executor.shutdown(CancelFutures::No).await;
        };
        futures::executor::block_on(check(executor(2)));
        tokio_runtime().block_on(check(executor(2)));
    });
}

/// `map_with` with a chunk size (and a buffer): in input order, whatever
/// the chunking.
#[test]
fn map_with_chunks_in_input_order() {
    no_hang("map_with chunks", || {
        futures::executor::block_on(async {
            let executor = executor(2);
            for chunk in [1, 2, 3, 7, 50] {
                let options = MapOptions::new().chunk_size(NonZeroUsize::new(chunk).unwrap());
                let powers: Vec<BigUint> = executor
                    .map_with(pow_50, 1..=20_u32, options)
                    .unwrap()
                    .try_collect()
                    .await
                    .unwrap();
                let expected: Vec<BigUint> =
                    (1..=20_u32).map(|x| BigUint::from(x).pow(50)).collect();
                assert_eq!(powers, expected, "chunk size {chunk}");
            }
            let options = MapOptions::new()
                .chunk_size(NonZeroUsize::new(3).unwrap())
                .buffer_size(NonZeroUsize::new(2).unwrap());
            let squares: Vec<u64> = executor
                .map_with(pow, (0..30_u64).map(|x| (x, 2)), options)
                .unwrap()
                .map(Result::unwrap)
                .collect()
                .await;
            assert_eq!(squares, (0..30_u64).map(|x| x * x).collect::<Vec<_>>());
            executor.shutdown(CancelFutures::No).await;
        });
    });
}

/// `shutdown(No).await`: accepted jobs still run; afterwards `run` resolves
/// to `Err(Shutdown)` and `map` is refused.
#[test]
fn shutdown_no_then_run_is_shutdown() {
    no_hang("shutdown then run", || {
        futures::executor::block_on(async {
            let executor = executor(2);
            assert!(!executor.wrapped().is_shutdown());
            let accepted = executor.run(pow, (2, 10));
            executor.shutdown(CancelFutures::No).await;
            assert!(executor.wrapped().is_shutdown());
            assert_eq!(accepted.await.unwrap(), 1024);
            assert!(matches!(
                executor.run(pow, (3, 4)).await,
                Err(Error::Shutdown)
            ));
            assert!(matches!(
                executor.map(pow_50, [1]),
                Err(SubmitError::Shutdown)
            ));
            assert!(matches!(
                executor.map_with(pow_50, [1], MapOptions::new()),
                Err(SubmitError::Shutdown)
            ));
            // Idempotent.
            executor.shutdown(CancelFutures::No).await;
            executor.shutdown_nowait(CancelFutures::Yes);
        });
    });
}

#[test]
fn shutdown_nowait_and_wrapped() {
    no_hang("shutdown_nowait", || {
        let executor = executor(2);
        assert!(!executor.wrapped().is_shutdown());
        assert_eq!(
            futures::executor::block_on(executor.run(pow, (5, 2))).unwrap(),
            25
        );
        executor.shutdown_nowait(CancelFutures::No);
        assert!(executor.wrapped().is_shutdown());
        assert!(matches!(
            futures::executor::block_on(executor.run(pow, (5, 2))),
            Err(Error::Shutdown)
        ));
        futures::executor::block_on(executor.shutdown(CancelFutures::No));
        // The pool itself, unwrapped.
        let pool = executor.into_inner();
        assert!(pool.is_shutdown());
    });
}

/// One worker, held; a `run` of the same function queued behind it is
/// dropped: it is cancelled and never runs. The next one queued, kept, runs
/// once the worker is free.
#[test]
fn dropping_a_queued_run_cancels_it() {
    no_hang("drop queued run", || {
        futures::executor::block_on(async {
            let executor = executor(1);
            let handshake = Handshake::new("async-drop-queued");
            let held = executor.run(hold_or_touch, (Some(handshake.path.clone()), None));
            let (pid, stream) = handshake.accept();
            let dropped_marker = Marker::new("dropped");
            let kept_marker = Marker::new("kept");
            let dropped = executor.run(hold_or_touch, (None, Some(dropped_marker.0.clone())));
            let kept = executor.run(hold_or_touch, (None, Some(kept_marker.0.clone())));
            drop(dropped);
            release(stream);
            assert_eq!(held.await.unwrap(), pid);
            assert_eq!(kept.await.unwrap(), pid, "the same worker ran it");
            assert!(kept_marker.exists());
            executor.shutdown(CancelFutures::No).await;
            // Every accepted job has finished: the dropped one never ran.
            assert!(!dropped_marker.exists(), "a dropped queued run ran");
        });
    });
}

/// `shutdown(Yes)`: the queued `run` resolves to `Err(Cancelled)` and never
/// runs; the held one finishes.
#[test]
fn shutdown_yes_cancels_the_queued_run() {
    no_hang("shutdown yes", || {
        futures::executor::block_on(async {
            let executor = executor(1);
            let handshake = Handshake::new("async-shutdown-yes");
            let held = executor.run(hold_or_touch, (Some(handshake.path.clone()), None));
            let (pid, stream) = handshake.accept();
            let marker = Marker::new("yes");
            let queued = executor.run(hold_or_touch, (None, Some(marker.0.clone())));
            executor.shutdown_nowait(CancelFutures::Yes);
            assert!(matches!(queued.await, Err(Error::Cancelled)));
            release(stream);
            assert_eq!(held.await.unwrap(), pid);
            executor.shutdown(CancelFutures::Yes).await;
            assert!(!marker.exists());
        });
    });
}

/// `shutdown(AndStopRunning).await`: queued jobs cancelled, the running
/// job's worker gets `SIGTERM` (as `terminate_workers`), and the await ends.
#[test]
fn shutdown_and_stop_running_terminates_the_workers() {
    no_hang("shutdown and stop running", || {
        futures::executor::block_on(async {
            let executor = executor(1);
            let handshake = Handshake::new("async-stop-running");
            let held = executor.run(hold_or_touch, (Some(handshake.path.clone()), None));
            let (pid, _stream) = handshake.accept();
            let marker = Marker::new("stop-running");
            let queued = executor.run(hold_or_touch, (None, Some(marker.0.clone())));
            executor.shutdown(CancelFutures::AndStopRunning).await;
            assert!(executor.wrapped().is_shutdown());
            match held.await {
                Err(Error::Process(ProcessError::WorkerDied { pid: died, exit })) => {
                    assert_eq!(died, pid);
                    assert_eq!(exit, Exit::Signal(SIGTERM));
                }
                other => panic!("expected the worker to die of SIGTERM, got {other:?}"),
            }
            assert!(matches!(queued.await, Err(Error::Cancelled)));
            assert!(!marker.exists());
            assert!(matches!(
                executor.run(pow, (1, 1)).await,
                Err(Error::Shutdown)
            ));
        });
    });
}

/// A job that panics in its worker: `Err(Panicked)` with its message through
/// the async layer; the pool goes on.
#[test]
fn a_panicking_process_job_through_run() {
    no_hang("panicking process job", || {
        futures::executor::block_on(async {
            let executor = executor(1);
            match executor.run(boom, "process boom".to_string()).await {
                Err(Error::Panicked(panic)) => assert_eq!(panic.message(), Some("process boom")),
                other => panic!("unexpected {other:?}"),
            }
            assert_eq!(executor.run(pow, (2, 3)).await.unwrap(), 8);
            executor.shutdown(CancelFutures::No).await;
        });
    });
}

/// One worker, held; a `map` of the same function queued behind it, polled
/// once (so it is live) and dropped: its jobs are cancelled and never run.
#[test]
fn dropping_a_polled_map_stream_cancels_its_queued_jobs() {
    no_hang("drop map stream", || {
        futures::executor::block_on(async {
            let executor = executor(1);
            let handshake = Handshake::new("async-drop-map");
            let held = executor.run(hold_or_touch, (Some(handshake.path.clone()), None));
            let (pid, stream) = handshake.accept();
            let markers: Vec<Marker> = (0..3).map(|i| Marker::new(&format!("map-{i}"))).collect();
            let mut results = executor
                .map(
                    hold_or_touch,
                    markers.iter().map(|marker| (None, Some(marker.0.clone()))),
                )
                .unwrap();
            assert!(futures::poll!(results.next()).is_pending());
            drop(results);
            release(stream);
            assert_eq!(held.await.unwrap(), pid);
            executor.shutdown(CancelFutures::No).await;
            for marker in &markers {
                assert!(!marker.exists(), "a job of a dropped map ran");
            }
        });
    });
}

/// The map's overall `timeout` on the async stream: with the only worker
/// held past it, the stream yields `Err(Timeout)` (woken by its timer) and
/// ends; the jobs not started are cancelled and never run.
#[test]
fn map_stream_timeout_yields_timeout_and_ends() {
    no_hang("map stream timeout", || {
        futures::executor::block_on(async {
            let executor = executor(1);
            let handshake = Handshake::new("async-map-timeout");
            let held = executor.run(hold_or_touch, (Some(handshake.path.clone()), None));
            let (pid, stream) = handshake.accept();
            let markers: Vec<Marker> = (0..2)
                .map(|i| Marker::new(&format!("timeout-{i}")))
                .collect();
            let options = MapOptions::new().timeout(std::time::Duration::from_millis(20));
            let outcomes: Vec<Result<u32, Error>> = executor
                .map_with(
                    hold_or_touch,
                    markers.iter().map(|marker| (None, Some(marker.0.clone()))),
                    options,
                )
                .unwrap()
                .collect()
                .await;
            assert!(
                matches!(outcomes.as_slice(), [Err(Error::Timeout)]),
                "{outcomes:?}"
            );
            release(stream);
            assert_eq!(held.await.unwrap(), pid);
            executor.shutdown(CancelFutures::No).await;
            for marker in &markers {
                assert!(!marker.exists(), "a job of a timed-out map ran");
            }
        });
    });
}

/// `shutdown_nowait(No)` leaves the queued job queued and the held one
/// running; a later `shutdown(AndStopRunning).await` goes further: the queued
/// job is cancelled, the held one's worker gets `SIGTERM`.
#[test]
fn a_later_shutdown_goes_further() {
    no_hang("process later shutdown", || {
        futures::executor::block_on(async {
            let executor = executor(1);
            let handshake = Handshake::new("async-further");
            let held = executor.run(hold_or_touch, (Some(handshake.path.clone()), None));
            let (pid, _stream) = handshake.accept();
            let marker = Marker::new("further");
            let mut queued = executor.run(hold_or_touch, (None, Some(marker.0.clone())));
            executor.shutdown_nowait(CancelFutures::No);
            assert!(executor.wrapped().is_shutdown());
            assert!(futures::poll!(&mut queued).is_pending(), "still queued");
            assert!(matches!(
                executor.run(pow, (2, 2)).await,
                Err(Error::Shutdown)
            ));
            executor.shutdown(CancelFutures::AndStopRunning).await;
            match held.await {
                Err(Error::Process(ProcessError::WorkerDied { pid: died, exit })) => {
                    assert_eq!((died, exit), (pid, Exit::Signal(SIGTERM)));
                }
                other => panic!("expected the worker to die of SIGTERM, got {other:?}"),
            }
            assert!(matches!(queued.await, Err(Error::Cancelled)));
            assert!(!marker.exists());
        });
    });
}

/// Two jobs submitted together before the only worker started, so that both
/// may be sent to it in one batch; the first holds the worker. Stopping the
/// running jobs kills the worker: the second job never ran, so it is
/// `Cancelled` (whether it was still queued or in the killed worker's batch),
/// never "died while running the job".
#[test]
fn stopping_the_workers_cancels_a_job_sent_but_not_started() {
    no_hang("stop with a batched job", || {
        futures::executor::block_on(async {
            let executor = executor(1);
            let handshake = Handshake::new("async-stop-batched");
            let marker = Marker::new("stop-batched");
            let held = executor.run(hold_or_touch, (Some(handshake.path.clone()), None));
            let batched = executor.run(hold_or_touch, (None, Some(marker.0.clone())));
            let (_pid, _stream) = handshake.accept();
            executor.shutdown(CancelFutures::AndStopRunning).await;
            assert!(
                matches!(
                    held.await,
                    Err(Error::Process(ProcessError::WorkerDied { .. }))
                ),
                "the running job's worker was stopped"
            );
            match batched.await {
                Err(Error::Cancelled) => {}
                other => panic!("a job that never ran reported {other:?}"),
            }
            assert!(!marker.exists(), "the cancelled job ran");
        });
    });
}

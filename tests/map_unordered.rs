//! `Executor::map_unordered` and `map_unordered_with` (issue 22 §4, item 1):
//! results in completion order with their input indices, each index once,
//! the bound respected, cancellation on drop and by `cancel_remaining`, and
//! the overall timeout. Deterministic: jobs are held by gates and channels,
//! never by sleeps; the timeout test uses a gate that never opens in time.

mod common;

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use common::{Tracked, count, gated, no_hang, pool};
use concurrent_futures::{CancelFutures, Error, Executor, MapOptions};

fn bound(jobs: usize) -> MapOptions {
    MapOptions::new().buffer_size(NonZeroUsize::new(jobs).unwrap())
}

#[test]
fn map_unordered_yields_in_completion_order_with_input_indices() {
    no_hang("completion order", || {
        let pool = pool(3);
        let (gates, items): (Vec<_>, Vec<_>) = (0..3).map(|_| mpsc::channel::<()>()).unzip();
        let (started, starts) = mpsc::channel::<()>();
        let mut results = pool
            .map_unordered(
                move |gate: mpsc::Receiver<()>| {
                    started.send(()).unwrap();
                    gate.recv().unwrap();
                },
                items,
            )
            .unwrap();
        for _ in 0..3 {
            starts.recv().unwrap();
        }
        for index in [2, 0, 1] {
            gates[index].send(()).unwrap();
            let (yielded, outcome) = results.next().unwrap();
            assert_eq!(yielded, index);
            outcome.unwrap();
        }
        assert!(results.next().is_none());
    });
}

#[test]
fn map_unordered_yields_each_index_once() {
    let pool = pool(4);
    let mut seen = HashSet::new();
    for (index, outcome) in pool
        .map_unordered_with(|x: usize| x * 3, 0..1000, bound(8))
        .unwrap()
    {
        assert_eq!(outcome.unwrap(), index * 3);
        assert!(seen.insert(index), "{index} twice");
    }
    assert_eq!(seen.len(), 1000);
}

#[test]
fn map_unordered_keeps_at_most_buffer_size_jobs_submitted_and_not_yielded() {
    let pool = pool(4);
    let started = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&started);
    let results = pool
        .map_unordered_with(
            move |x: usize| {
                counter.fetch_add(1, Ordering::SeqCst);
                x
            },
            0..10,
            bound(2),
        )
        .unwrap();
    let mut yielded = 0;
    for (_, outcome) in results {
        outcome.unwrap();
        yielded += 1;
        // Every job that started was submitted; at most 2 are not yielded.
        assert!(
            count(&started) <= yielded + 2,
            "{} started, {yielded} yielded",
            count(&started)
        );
    }
    assert_eq!(yielded, 10);
}

#[test]
fn map_unordered_with_gated_jobs_never_has_more_than_buffer_size_submitted() {
    no_hang("gated bound", || {
        let pool = pool(4);
        let (gates, items): (Vec<_>, Vec<_>) = (0..10).map(|_| mpsc::channel::<()>()).unzip();
        let (started_tx, starts) = mpsc::channel::<()>();
        let started = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&started);
        let started_tx = std::sync::Mutex::new(started_tx);
        let mut results = pool
            .map_unordered_with(
                move |gate: mpsc::Receiver<()>| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    started_tx.lock().unwrap().send(()).unwrap();
                    gate.recv().unwrap();
                },
                items,
                bound(2),
            )
            .unwrap();
        // Two jobs run and block; nothing else is submitted until a result
        // is yielded, so the count stays at two (workers are free for more).
        starts.recv().unwrap();
        starts.recv().unwrap();
        assert_eq!(count(&started), 2);
        for (yielded, gate) in gates.iter().enumerate() {
            gate.send(()).unwrap();
            let (index, outcome) = results.next().unwrap();
            assert_eq!(index, yielded);
            outcome.unwrap();
            // `yielded + 1` yielded; at most 2 more submitted.
            assert!(count(&started) <= yielded + 1 + 2);
        }
        assert!(results.next().is_none());
        assert_eq!(count(&started), 10);
    });
}

#[test]
fn map_unordered_stopped_after_n_submits_at_most_n_plus_buffer_size() {
    let pool = pool(4);
    let started = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&started);
    let taken = pool
        .map_unordered_with(
            move |x: u64| {
                counter.fetch_add(1, Ordering::SeqCst);
                x
            },
            0_u64..,
            bound(2),
        )
        .unwrap()
        .take(3)
        .count();
    assert_eq!(taken, 3);
    pool.shutdown(CancelFutures::No);
    assert!(count(&started) <= 3 + 2, "{} started", count(&started));
}

/// An item of the drop test: a job that returns at once, one that holds the
/// only worker until released, and jobs that count their runs.
enum Step {
    Quick(Tracked),
    Hold(Tracked, mpsc::Sender<()>, mpsc::Receiver<()>),
    Counted(Tracked),
}

#[test]
fn dropping_map_unordered_after_iteration_began_cancels_jobs_not_started() {
    no_hang("drop cancels", || {
        let pool = pool(1);
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let (holding, held) = mpsc::channel();
        let (release, gate) = mpsc::channel();
        let items = vec![
            Step::Quick(Tracked::counting(&drops)),
            Step::Hold(Tracked::counting(&drops), holding, gate),
            Step::Counted(Tracked::counting(&drops)),
            Step::Counted(Tracked::counting(&drops)),
        ];
        let counter = Arc::clone(&ran);
        let mut results = pool
            .map_unordered(
                move |step: Step| match step {
                    Step::Quick(_tracked) => {}
                    Step::Hold(_tracked, holding, gate) => {
                        holding.send(()).unwrap();
                        let _ = gate.recv();
                    }
                    Step::Counted(_tracked) => {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                },
                items,
            )
            .unwrap();
        assert_eq!(results.next().unwrap().0, 0);
        held.recv().unwrap(); // the only worker runs item 1: 2 and 3 are queued
        drop(results);
        release.send(()).unwrap();
        pool.shutdown(CancelFutures::No);
        assert_eq!(count(&ran), 0);
        assert_eq!(count(&drops), 4); // every item, run or cancelled, dropped once
    });
}

#[test]
fn map_unordered_cancel_remaining_cancels_jobs_not_started() {
    let pool = pool(1);
    let (release, _held) = gated(&pool, || ());
    let drops = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    let mut results = pool
        .map_unordered(
            move |_tracked: Tracked| {
                counter.fetch_add(1, Ordering::SeqCst);
            },
            (0..3)
                .map(|_| Tracked::counting(&drops))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    results.cancel_remaining();
    assert!(results.next().is_none());
    release.send(()).unwrap();
    pool.shutdown(CancelFutures::No);
    assert_eq!(count(&ran), 0);
    assert_eq!(count(&drops), 3);
}

#[test]
fn map_unordered_timeout_yields_one_timeout_cancels_and_ends() {
    no_hang("timeout", || {
        let pool = pool(1);
        let (release, gate) = mpsc::channel::<()>();
        let gate = std::sync::Mutex::new(gate);
        let ran = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&ran);
        let options = MapOptions::new().timeout(std::time::Duration::from_millis(20));
        let mut results = pool
            .map_unordered_with(
                move |x: usize| {
                    if x == 0 {
                        // Never opens before the timeout: released after it.
                        let _ = gate.lock().unwrap().recv();
                    } else {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                },
                0..3,
                options,
            )
            .unwrap();
        let (index, outcome) = results.next().unwrap();
        assert_eq!(index, 0);
        assert!(matches!(outcome, Err(Error::Timeout)));
        assert!(results.next().is_none());
        drop(release);
        pool.shutdown(CancelFutures::No);
        assert_eq!(count(&ran), 0); // 1 and 2 were queued behind 0: cancelled
    });
}

// The async stream: `AsyncExecutor::map_unordered(_with)`.

use concurrent_futures::AsyncExecutor;
use futures::StreamExt;

/// The completion-order test as an async body, for each runtime.
async fn stream_completion_order_body() {
    let executor = AsyncExecutor::new(pool(3));
    let (gates, items): (Vec<_>, Vec<_>) = (0..3).map(|_| mpsc::channel::<()>()).unzip();
    let (started, starts) = mpsc::channel::<()>();
    let mut results = executor
        .map_unordered(
            move |gate: mpsc::Receiver<()>| {
                started.send(()).unwrap();
                gate.recv().unwrap();
            },
            items,
        )
        .unwrap();
    for _ in 0..3 {
        starts.recv().unwrap();
    }
    for index in [1, 2, 0] {
        gates[index].send(()).unwrap();
        let (yielded, outcome) = results.next().await.unwrap();
        assert_eq!(yielded, index);
        outcome.unwrap();
    }
    assert!(results.next().await.is_none());
}

#[test]
fn map_unordered_stream_yields_in_completion_order_under_three_runtimes() {
    no_hang("futures::executor", || {
        futures::executor::block_on(stream_completion_order_body())
    });
    no_hang("smol", || smol::block_on(stream_completion_order_body()));
    no_hang("tokio", || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap()
            .block_on(async { tokio::spawn(stream_completion_order_body()).await.unwrap() })
    });
}

#[test]
fn map_unordered_stream_keeps_the_bound_and_yields_each_index_once() {
    let executor = AsyncExecutor::new(pool(4));
    let started = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&started);
    let mut results = executor
        .map_unordered_with(
            move |x: usize| {
                counter.fetch_add(1, Ordering::SeqCst);
                x
            },
            0..100,
            bound(2),
        )
        .unwrap();
    let mut seen = HashSet::new();
    futures::executor::block_on(async {
        while let Some((index, outcome)) = results.next().await {
            assert_eq!(outcome.unwrap(), index);
            assert!(seen.insert(index), "{index} twice");
            assert!(count(&started) <= seen.len() + 2);
        }
    });
    assert_eq!(seen.len(), 100);
}

#[test]
fn map_unordered_stream_stopped_after_n_submits_at_most_n_plus_buffer_size() {
    let pool = pool(4);
    let executor = AsyncExecutor::new(pool.clone());
    let started = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&started);
    let taken = futures::executor::block_on(
        executor
            .map_unordered_with(
                move |x: u64| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    x
                },
                0_u64..,
                bound(2),
            )
            .unwrap()
            .take(3)
            .count(),
    );
    assert_eq!(taken, 3);
    pool.shutdown(CancelFutures::No);
    assert!(count(&started) <= 3 + 2, "{} started", count(&started));
}

#[test]
fn dropping_map_unordered_stream_after_polling_cancels_jobs_not_started() {
    no_hang("stream drop cancels", || {
        let pool = pool(1);
        let executor = AsyncExecutor::new(pool.clone());
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let (holding, held) = mpsc::channel();
        let (release, gate) = mpsc::channel();
        let items = vec![
            Step::Quick(Tracked::counting(&drops)),
            Step::Hold(Tracked::counting(&drops), holding, gate),
            Step::Counted(Tracked::counting(&drops)),
            Step::Counted(Tracked::counting(&drops)),
        ];
        let counter = Arc::clone(&ran);
        let mut results = executor
            .map_unordered(
                move |step: Step| match step {
                    Step::Quick(_tracked) => {}
                    Step::Hold(_tracked, holding, gate) => {
                        holding.send(()).unwrap();
                        let _ = gate.recv();
                    }
                    Step::Counted(_tracked) => {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                },
                items,
            )
            .unwrap();
        assert_eq!(futures::executor::block_on(results.next()).unwrap().0, 0);
        held.recv().unwrap();
        drop(results);
        release.send(()).unwrap();
        pool.shutdown(CancelFutures::No);
        assert_eq!(count(&ran), 0);
        assert_eq!(count(&drops), 4);
    });
}

#[test]
fn map_unordered_stream_cancel_remaining_cancels_jobs_not_started() {
    let pool = pool(1);
    let executor = AsyncExecutor::new(pool.clone());
    let (release, _held) = gated(&pool, || ());
    let drops = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&ran);
    let mut results = executor
        .map_unordered(
            move |_tracked: Tracked| {
                counter.fetch_add(1, Ordering::SeqCst);
            },
            (0..3)
                .map(|_| Tracked::counting(&drops))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    results.cancel_remaining();
    assert!(futures::executor::block_on(results.next()).is_none());
    release.send(()).unwrap();
    pool.shutdown(CancelFutures::No);
    assert_eq!(count(&ran), 0);
    assert_eq!(count(&drops), 3);
}

#[test]
fn map_unordered_stream_timeout_yields_one_timeout_cancels_and_ends() {
    no_hang("stream timeout", || {
        let pool = pool(1);
        let executor = AsyncExecutor::new(pool.clone());
        let (release, gate) = mpsc::channel::<()>();
        let gate = std::sync::Mutex::new(gate);
        let ran = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&ran);
        let options = MapOptions::new().timeout(std::time::Duration::from_millis(20));
        let mut results = executor
            .map_unordered_with(
                move |x: usize| {
                    if x == 0 {
                        let _ = gate.lock().unwrap().recv();
                    } else {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                },
                0..3,
                options,
            )
            .unwrap();
        futures::executor::block_on(async {
            let (index, outcome) = results.next().await.unwrap();
            assert_eq!(index, 0);
            assert!(matches!(outcome, Err(Error::Timeout)));
            assert!(results.next().await.is_none());
        });
        drop(release);
        pool.shutdown(CancelFutures::No);
        assert_eq!(count(&ran), 0);
    });
}

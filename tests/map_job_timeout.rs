//! `MapOptions::job_timeout`: a deadline per job of a map, on the blocking
//! map and the async stream; the map goes on past a job that timed out.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use concurrent_futures::{AsyncExecutor, Error, Executor, MapOptions, ThreadPoolExecutor};
use futures::StreamExt;

/// A deadline that has passed before any worker can take a job: every job is
/// skipped, each yields `Timeout` in its place, and the closure never runs.
#[test]
fn a_zero_job_timeout_skips_every_job_and_the_map_goes_on() {
    let pool = ThreadPoolExecutor::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let options = MapOptions::new().job_timeout(Duration::ZERO);
    let results: Vec<_> = pool
        .map_with(
            move |x: u32| {
                counted.fetch_add(1, Ordering::Relaxed);
                x
            },
            0..8,
            options,
        )
        .unwrap()
        .collect();
    assert_eq!(
        results.len(),
        8,
        "one outcome per item: the map does not end"
    );
    assert!(results.iter().all(|r| matches!(r, Err(Error::Timeout))));
    assert_eq!(calls.load(Ordering::Relaxed), 0);
}

/// A generous deadline changes nothing: every value arrives, in order.
#[test]
fn a_generous_job_timeout_keeps_every_value() {
    let pool = ThreadPoolExecutor::new();
    let options = MapOptions::new().job_timeout(Duration::from_secs(3600));
    let results: Vec<u32> = pool
        .map_with(|x: u32| x * 2, 0..100, options)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(results, (0..100).map(|x| x * 2).collect::<Vec<_>>());
}

/// The async stream applies it the same way.
#[test]
fn the_async_stream_applies_the_job_timeout() {
    let executor = AsyncExecutor::new(ThreadPoolExecutor::new());
    let skipped: Vec<_> = futures::executor::block_on(
        executor
            .map_with(
                |x: u32| x,
                0..4,
                MapOptions::new().job_timeout(Duration::ZERO),
            )
            .unwrap()
            .collect(),
    );
    assert_eq!(skipped.len(), 4);
    assert!(skipped.iter().all(|r| matches!(r, Err(Error::Timeout))));
    let kept: Vec<u32> = futures::executor::block_on(
        executor
            .map_with(
                |x: u32| x + 1,
                0..4,
                MapOptions::new().job_timeout(Duration::from_secs(3600)),
            )
            .unwrap()
            .map(Result::unwrap)
            .collect(),
    );
    assert_eq!(kept, [1, 2, 3, 4]);
}

/// `MapOptions::timeout` on the async stream: a map whose job never finishes
/// before the deadline yields one `Timeout` and ends, woken by the timer.
#[test]
fn the_async_stream_ends_at_its_timeout() {
    let executor = AsyncExecutor::new(
        ThreadPoolExecutor::builder()
            .max_workers(1)
            .build()
            .unwrap(),
    );
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    let results: Vec<_> = futures::executor::block_on(
        executor
            .map_with(
                move |x: u32| {
                    if x == 0 {
                        // Held until the stream has timed out.
                        let _ = gate.lock().unwrap().recv();
                    }
                    x
                },
                0..4,
                MapOptions::new().timeout(Duration::from_millis(20)),
            )
            .unwrap()
            .collect(),
    );
    release.send(()).unwrap();
    assert_eq!(results.len(), 1);
    assert!(matches!(results[0], Err(Error::Timeout)));
}

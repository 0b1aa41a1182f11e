//! `MapOptions::chunk_size` for executors of closures: one job runs `n`
//! consecutive items, and every map still reports per item. Order, per-item
//! panics, drop counts of items, results and the function on every ending
//! (consumed, dropped midway, timed out, cancelled, shut down with
//! `CancelFutures::Yes`), the bound in items, `job_timeout`, on every
//! executor (thread pool, inline, the rayon and tokio adapters, the async
//! layer) and both map kinds. Deterministic: gates are channels, and the only
//! clock is a deadline the test itself outlasts.

mod common;

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::{Tracked, count, pool};
use concurrent_futures::executor::MapUnordered;
use concurrent_futures::{
    AsyncExecutor, CancelFutures, Error, Executor, InlineExecutor, Map, MapOptions,
};
use futures::StreamExt;
use futures::executor::block_on;

fn chunked(n: usize) -> MapOptions {
    MapOptions::new().chunk_size(NonZeroUsize::new(n).unwrap())
}

fn nz(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

/// Ordered and unordered maps over `0..n` with chunk size `chunk`, checked
/// against the sequential result.
fn check_both<E: Executor>(executor: &E, n: u64, chunk: usize) {
    let expected: Vec<u64> = (0..n).map(|x| x * 3 + 1).collect();
    let ordered: Vec<u64> = Map::new(executor, |x: u64| x * 3 + 1, 0..n, chunked(chunk))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ordered, expected, "ordered, chunk {chunk}");
    let mut unordered: Vec<(usize, u64)> =
        MapUnordered::new(executor, |x: u64| x * 3 + 1, 0..n, chunked(chunk))
            .unwrap()
            .map(|(index, value)| (index, value.unwrap()))
            .collect();
    unordered.sort_unstable();
    let expected_pairs: Vec<(usize, u64)> = expected.into_iter().enumerate().collect();
    assert_eq!(unordered, expected_pairs, "unordered, chunk {chunk}");
}

const SHAPES: &[(u64, usize)] = &[
    (0, 4),
    (1, 4),
    (7, 7),
    (100, 7),
    (100, 1),
    (1000, 64),
    (5, 100),
];

#[test]
fn order_on_the_thread_pool() {
    let pool = pool(2);
    for &(n, chunk) in SHAPES {
        check_both(&pool, n, chunk);
    }
    // Through the trait's methods too.
    let doubled: Vec<u64> = pool
        .map_with(|x: u64| x * 2, 0..10, chunked(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(doubled, (0..10).map(|x| x * 2).collect::<Vec<_>>());
    assert_eq!(
        pool.map_unordered_with(|x: u64| x, 0..10, chunked(3))
            .unwrap()
            .count(),
        10
    );
    pool.shutdown(CancelFutures::No);
}

#[test]
fn order_inline() {
    let inline = InlineExecutor::new();
    for &(n, chunk) in SHAPES {
        check_both(&inline, n, chunk);
    }
}

#[cfg(feature = "rayon")]
#[test]
fn order_on_rayon() {
    let rayon_pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap(),
    );
    let executor = concurrent_futures::RayonExecutor::new(rayon_pool);
    for &(n, chunk) in SHAPES {
        check_both(&executor, n, chunk);
    }
    executor.shutdown(CancelFutures::No);
}

#[cfg(feature = "tokio")]
#[test]
fn order_on_tokio() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(2)
        .build()
        .unwrap();
    let executor = concurrent_futures::TokioBlockingExecutor::new(runtime.handle().clone());
    for &(n, chunk) in SHAPES {
        check_both(&executor, n, chunk);
    }
    executor.shutdown(CancelFutures::No);
}

#[test]
fn order_async_over_the_thread_pool() {
    let executor = AsyncExecutor::new(pool(2));
    for &(n, chunk) in SHAPES {
        let expected: Vec<u64> = (0..n).map(|x| x + 5).collect();
        let ordered: Vec<u64> = block_on(
            executor
                .map_with(|x: u64| x + 5, 0..n, chunked(chunk))
                .unwrap()
                .map(Result::unwrap)
                .collect(),
        );
        assert_eq!(ordered, expected);
        let mut unordered: Vec<(usize, u64)> = block_on(
            executor
                .map_unordered_with(|x: u64| x + 5, 0..n, chunked(chunk))
                .unwrap()
                .map(|(index, value)| (index, value.unwrap()))
                .collect(),
        );
        unordered.sort_unstable();
        assert_eq!(
            unordered,
            expected.into_iter().enumerate().collect::<Vec<_>>()
        );
    }
    block_on(executor.shutdown(CancelFutures::No));
}

/// Items 1, 5, 9, ... panic; the others (in the same chunk too) succeed.
fn panics_on_some(x: u64) -> u64 {
    if x % 4 == 1 {
        panic!("item {x} fails");
    }
    x
}

fn check_panics(outcomes: impl IntoIterator<Item = (usize, Result<u64, Error>)>) {
    let mut seen = 0;
    for (index, outcome) in outcomes {
        seen += 1;
        if index % 4 == 1 {
            match outcome {
                Err(Error::Panicked(panic)) => {
                    assert_eq!(
                        panic.message(),
                        Some(format!("item {index} fails").as_str())
                    )
                }
                other => panic!("item {index}: {other:?}"),
            }
        } else {
            assert_eq!(outcome.unwrap(), index as u64);
        }
    }
    assert_eq!(seen, 20);
}

#[test]
fn a_panic_fails_only_its_own_item() {
    let pool = pool(2);
    let inline = InlineExecutor::new();
    for chunk in [1, 3, 5, 20] {
        check_panics(
            Map::new(&pool, panics_on_some, 0..20, chunked(chunk))
                .unwrap()
                .enumerate(),
        );
        check_panics(MapUnordered::new(&pool, panics_on_some, 0..20, chunked(chunk)).unwrap());
        check_panics(
            Map::new(&inline, panics_on_some, 0..20, chunked(chunk))
                .unwrap()
                .enumerate(),
        );
        let executor = AsyncExecutor::new(&pool);
        check_panics(block_on(
            executor
                .map_with(panics_on_some, 0..20, chunked(chunk))
                .unwrap()
                .enumerate()
                .collect::<Vec<_>>(),
        ));
        check_panics(block_on(
            executor
                .map_unordered_with(panics_on_some, 0..20, chunked(chunk))
                .unwrap()
                .collect::<Vec<_>>(),
        ));
    }
    pool.shutdown(CancelFutures::No);
}

// ------------------------------------------------------------ drop counts

/// Counters of one map: items dropped, results made and dropped, calls, and
/// the function's own drop.
struct Counts {
    items: Arc<AtomicUsize>,
    results: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
    function: Arc<AtomicUsize>,
}

const N: usize = 40;

impl Counts {
    fn new() -> Self {
        Counts {
            items: Arc::default(),
            results: Arc::default(),
            calls: Arc::default(),
            function: Arc::default(),
        }
    }

    fn items(&self) -> impl Iterator<Item = (usize, Tracked)> + use<> {
        let drops = Arc::clone(&self.items);
        (0..N).map(move |index| (index, Tracked::counting(&drops)))
    }

    /// A function that counts its calls and makes a counted result; item 0
    /// waits for `gate` (if any) after saying so on `started`.
    fn function(
        &self,
        gate: Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>,
    ) -> impl Fn((usize, Tracked)) -> Tracked + Send + Sync + 'static + use<> {
        let (results, calls) = (Arc::clone(&self.results), Arc::clone(&self.calls));
        let own = Tracked::counting(&self.function);
        let gate = gate.map(Mutex::new);
        move |(index, item)| {
            let _ = &own;
            calls.fetch_add(1, SeqCst);
            if index == 0 {
                if let Some(gate) = &gate {
                    let gate = gate.lock().unwrap();
                    gate.0.send(()).unwrap();
                    let _ = gate.1.recv();
                }
            }
            drop(item);
            Tracked::counting(&results)
        }
    }

    /// Every item and result dropped once, the function once; `calls` made.
    fn check(&self, calls: usize) {
        assert_eq!(count(&self.items), N, "items dropped");
        assert_eq!(count(&self.calls), calls, "calls");
        assert_eq!(count(&self.results), calls, "results dropped");
        assert_eq!(count(&self.function), 1, "function dropped");
    }
}

/// A gate for item 0: (the function's side, the test's side).
type Gate = (
    (mpsc::Sender<()>, mpsc::Receiver<()>),
    (mpsc::Receiver<()>, mpsc::Sender<()>),
);

fn gate() -> Gate {
    let (started, is_started) = mpsc::channel();
    let (release, released) = mpsc::channel();
    ((started, released), (is_started, release))
}

#[test]
fn every_value_dropped_once_when_consumed_or_dropped_midway() {
    for chunk in [1, 4, 7] {
        // Consumed.
        let counts = Counts::new();
        let executor = pool(2);
        let results: Vec<_> = Map::new(
            &executor,
            counts.function(None),
            counts.items(),
            chunked(chunk),
        )
        .unwrap()
        .collect();
        drop(results);
        executor.shutdown(CancelFutures::No);
        counts.check(N);

        // Dropped after three results: what ran is dropped, what did not run
        // is dropped unrun.
        for unordered in [false, true] {
            let counts = Counts::new();
            let pool = pool(2);
            let f = counts.function(None);
            if unordered {
                let mut map = MapUnordered::new(&pool, f, counts.items(), chunked(chunk)).unwrap();
                for _ in 0..3 {
                    map.next().unwrap().1.unwrap();
                }
            } else {
                let mut map = Map::new(&pool, f, counts.items(), chunked(chunk)).unwrap();
                for _ in 0..3 {
                    map.next().unwrap().unwrap();
                }
            }
            pool.shutdown(CancelFutures::No);
            let calls = count(&counts.calls);
            assert!((3..=N).contains(&calls));
            counts.check(calls);
        }

        // The async stream, dropped after three results.
        let counts = Counts::new();
        let executor = AsyncExecutor::new(pool(2));
        let mut stream = executor
            .map_with(counts.function(None), counts.items(), chunked(chunk))
            .unwrap();
        for _ in 0..3 {
            block_on(stream.next()).unwrap().unwrap();
        }
        drop(stream);
        block_on(executor.shutdown(CancelFutures::No));
        counts.check(count(&counts.calls));
    }
}

#[test]
fn a_map_timeout_cancels_the_chunks_not_started_and_stops_the_running_one() {
    for unordered in [false, true] {
        let counts = Counts::new();
        let pool = pool(1);
        let (function_side, (is_started, release)) = gate();
        let f = counts.function(Some(function_side));
        let options = chunked(4).timeout(Duration::from_millis(20));
        if unordered {
            let mut map = MapUnordered::new(&pool, f, counts.items(), options).unwrap();
            is_started.recv().unwrap();
            let (index, outcome) = map.next().unwrap();
            assert_eq!(index, 0);
            assert!(matches!(outcome, Err(Error::Timeout)));
            assert!(map.next().is_none());
        } else {
            let mut map = Map::new(&pool, f, counts.items(), options).unwrap();
            is_started.recv().unwrap();
            assert!(matches!(map.next(), Some(Err(Error::Timeout))));
            assert!(map.next().is_none());
        }
        release.send(()).unwrap();
        pool.shutdown(CancelFutures::No);
        // Only item 0 ran: its chunk's later items saw the cancel, and the
        // other chunks never started.
        counts.check(1);
    }
}

#[test]
fn an_async_map_timeout_ends_the_stream() {
    let counts = Counts::new();
    let executor = AsyncExecutor::new(pool(1));
    let (function_side, (is_started, release)) = gate();
    let options = chunked(4).timeout(Duration::from_millis(20));
    let mut stream = executor
        .map_with(
            counts.function(Some(function_side)),
            counts.items(),
            options,
        )
        .unwrap();
    is_started.recv().unwrap();
    assert!(matches!(block_on(stream.next()), Some(Err(Error::Timeout))));
    assert!(block_on(stream.next()).is_none());
    drop(stream);
    release.send(()).unwrap();
    block_on(executor.shutdown(CancelFutures::No));
    counts.check(1);
}

#[test]
fn cancel_remaining_skips_the_rest_of_a_running_chunk() {
    for unordered in [false, true] {
        let counts = Counts::new();
        let pool = pool(1);
        let (function_side, (is_started, release)) = gate();
        let f = counts.function(Some(function_side));
        if unordered {
            let mut map = MapUnordered::new(&pool, f, counts.items(), chunked(4)).unwrap();
            is_started.recv().unwrap();
            map.cancel_remaining();
            assert!(map.next().is_none());
        } else {
            let mut map = Map::new(&pool, f, counts.items(), chunked(4)).unwrap();
            is_started.recv().unwrap();
            map.cancel_remaining();
            assert!(map.next().is_none());
        }
        release.send(()).unwrap();
        pool.shutdown(CancelFutures::No);
        counts.check(1);
    }
}

#[test]
fn a_shutdown_with_cancel_futures_cancels_each_item_of_the_queued_chunks() {
    for unordered in [false, true] {
        let counts = Counts::new();
        let pool = pool(1);
        let (function_side, (is_started, release)) = gate();
        let f = counts.function(Some(function_side));
        let outcomes: Vec<(usize, Result<Tracked, Error>)> = if unordered {
            let map = MapUnordered::new(&pool, f, counts.items(), chunked(4)).unwrap();
            is_started.recv().unwrap();
            pool.shutdown_nowait(CancelFutures::Yes);
            release.send(()).unwrap();
            let mut outcomes: Vec<_> = map.collect();
            outcomes.sort_unstable_by_key(|(index, _)| *index);
            outcomes
        } else {
            let map = Map::new(&pool, f, counts.items(), chunked(4)).unwrap();
            is_started.recv().unwrap();
            pool.shutdown_nowait(CancelFutures::Yes);
            release.send(()).unwrap();
            map.enumerate().collect()
        };
        assert_eq!(outcomes.len(), N);
        for (index, outcome) in &outcomes {
            if *index < 4 {
                assert!(outcome.is_ok(), "item {index} ran");
            } else {
                assert!(matches!(outcome, Err(Error::Cancelled)), "item {index}");
            }
        }
        drop(outcomes);
        pool.shutdown(CancelFutures::No);
        counts.check(4);
    }
}

#[test]
fn buffer_size_counts_items() {
    let pool = pool(2);
    for (chunk, buffer) in [(4, 8), (4, 10), (16, 4), (3, 3)] {
        for unordered in [false, true] {
            let pulled = Arc::new(AtomicUsize::new(0));
            let counter = Arc::clone(&pulled);
            let items = (0_u64..).inspect(move |_| {
                counter.fetch_add(1, SeqCst);
            });
            let options = chunked(chunk).buffer_size(nz(buffer));
            let mut yielded = 0;
            let mut check = || {
                yielded += 1;
                let in_flight = count(&pulled) - yielded;
                assert!(
                    in_flight <= buffer,
                    "chunk {chunk}, buffer {buffer}: {in_flight} items in flight"
                );
            };
            if unordered {
                let mut map = MapUnordered::new(&pool, |x: u64| x, items, options).unwrap();
                for _ in 0..50 {
                    map.next().unwrap().1.unwrap();
                    check();
                }
            } else {
                let mut map = Map::new(&pool, |x: u64| x, items, options).unwrap();
                for expected in 0..50 {
                    assert_eq!(map.next().unwrap().unwrap(), expected);
                    check();
                }
            }
        }
    }
    pool.shutdown(CancelFutures::No);
}

#[test]
fn job_timeout_applies_to_each_item_of_a_chunk() {
    // Inline: the first chunk (0, 1, 2) runs at its submit and item 0
    // outlasts the deadline; the second chunk is submitted after it, with a
    // deadline of its own.
    let timeout = Duration::from_millis(20);
    let slow_first = move |x: u64| {
        if x == 0 {
            let start = Instant::now();
            while start.elapsed() < timeout * 3 {
                std::hint::spin_loop();
            }
        }
        x
    };
    let options = chunked(3).job_timeout(timeout);
    let inline = InlineExecutor::new();
    let outcomes: Vec<Result<u64, Error>> = Map::new(&inline, slow_first, 0..6, options)
        .unwrap()
        .collect();
    for (index, outcome) in outcomes.iter().enumerate() {
        if index < 3 {
            assert!(
                matches!(outcome, Err(Error::Timeout)),
                "item {index}: {outcome:?}"
            );
        } else {
            assert_eq!(*outcome.as_ref().unwrap(), index as u64);
        }
    }
    let mut unordered: Vec<(usize, Result<u64, Error>)> =
        MapUnordered::new(&inline, slow_first, 0..6, options)
            .unwrap()
            .collect();
    unordered.sort_unstable_by_key(|(index, _)| *index);
    assert_eq!(unordered.len(), 6);
    for (index, outcome) in &unordered {
        assert_eq!(outcome.is_ok(), *index >= 3, "item {index}: {outcome:?}");
    }
}

#[test]
fn a_refused_chunk_reports_each_of_its_items() {
    let pool = pool(1);
    pool.shutdown(CancelFutures::No);
    assert!(Map::new(&pool, |x: u64| x, 0..10, chunked(4)).is_err());
    assert!(MapUnordered::new(&pool, |x: u64| x, 0..10, chunked(4)).is_err());
}

#[test]
fn size_hint_counts_items() {
    let inline = InlineExecutor::new();
    let map = Map::new(&inline, |x: u64| x, 0..10, chunked(4)).unwrap();
    assert_eq!(map.size_hint(), (10, Some(10)));
    let bounded = Map::new(&inline, |x: u64| x, 0..10, chunked(4).buffer_size(nz(4))).unwrap();
    assert_eq!(bounded.size_hint(), (10, Some(10)));
    let unordered = MapUnordered::new(&inline, |x: u64| x, 0..10, chunked(4)).unwrap();
    assert_eq!(unordered.size_hint(), (10, Some(10)));
}
